//! What a preview counts: each excluded lead by reason, the window judged
//! at a future `send_at`, a large page read in bounded calls.

use super::{
    code, counts, nonzero, page_with_every_kind_of_lead, pairs, preview, preview_app, spring, PAGE, US_PAGE, WINDOW,
};
use optcast_shared::broadcast::PREVIEW_BROADCAST_ID;
use optcast_shared::retention::DAY_MS;
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn a_preview_counts_each_excluded_lead_by_reason_and_stores_and_sends_nothing() {
    let app = preview_app().await;
    page_with_every_kind_of_lead(&app).await;
    let leads_before = app.scan("SubscribersTable").await;

    let (status, out) = preview(&app, "", spring(PAGE)).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        nonzero(&out),
        pairs(&[
            ("audience", 2),
            ("reach.marketing_token", 1),
            ("reach.window", 1),
            ("excluded.marketing_too_soon", 1),
            ("excluded.outside_window", 1),
            ("excluded.tags_not_matched", 1),
            ("excluded.total", 5),
            ("excluded.unreachable", 1),
            ("excluded.unsubscribed", 1),
        ])
    );
    assert_eq!(
        (out["leads_read"].as_u64(), out["complete"].as_bool()),
        (Some(7), Some(true))
    );
    assert_eq!(out["next_cursor"], Value::Null);
    assert_eq!(out["marketing_messages_available"], true);
    // The message as the sender renders it, with its Unsubscribe control.
    let message = &out["message"];
    assert_eq!(message["text"], "Spring sale!");
    let last = message["quick_replies"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["title"], "Unsubscribe");
    assert_eq!(message["metadata"], format!("bcast:{PREVIEW_BROADCAST_ID}"));

    // Where Meta does not honour marketing messages, the token reaches no one.
    let (status, us) = preview(&app, "", spring(US_PAGE)).await;
    assert_eq!(status, 200, "{us}");
    assert_eq!(
        nonzero(&us),
        pairs(&[("excluded.marketing_unavailable", 1), ("excluded.total", 1)])
    );
    assert_eq!(us["marketing_messages_available"], false);

    // Nothing stored, nothing queued, nothing sent, no lead touched.
    let (status, list) = app
        .api(Method::GET, &format!("/v1/broadcasts?page_id={PAGE}"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(list["broadcasts"], json!([]));
    assert!(app.scan("BroadcastsTable").await.is_empty());
    assert!(app.scan("DeliveriesTable").await.is_empty());
    assert_eq!(
        app.queue_depth("PlanQueue").await + app.queue_depth("SendQueue").await,
        0
    );
    assert_eq!(app.stack.graph.attempts(), 0, "the fake Graph API saw no send");
    assert_eq!(app.scan("SubscribersTable").await, leads_before);

    // The real broadcast then reaches exactly the previewed audience, with
    // exactly the previewed message (its own id in place of the zeros).
    let id = app.create_broadcast(spring(PAGE)).await;
    let done = app.wait_state(&id, "done").await;
    assert_eq!(done["counts"]["sent"], 2, "{done}");
    let sends = app.stack.graph.sends();
    assert_eq!(sends.len(), 2);
    assert_eq!(app.sends_to(WINDOW), 1);
    let shown: Value = serde_json::from_str(&message.to_string().replace(PREVIEW_BROADCAST_ID, &id)).unwrap();
    for send in &sends {
        assert_eq!(send.body["message"], shown);
    }
    app.stack.stop().await;
}

#[tokio::test]
async fn a_preview_judges_the_window_at_a_future_send_at_and_reads_a_large_page_in_bounded_calls() {
    let app = preview_app().await;
    page_with_every_kind_of_lead(&app).await;
    let (_, now) = preview(&app, "", spring(PAGE)).await;

    // Two days ahead the window lead has left the window; the lead sent a
    // marketing message an hour ago may have another by then.
    let at = optcast_shared::http::now_ms() + 2 * DAY_MS;
    let send_at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at) * 1_000_000)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let mut later = spring(PAGE);
    later["send_at"] = json!(send_at);
    let (status, out) = preview(&app, "", later).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["judged_at_ms"], out["send_at_ms"]);
    assert_eq!(
        nonzero(&out),
        pairs(&[
            ("audience", 2),
            ("reach.marketing_token", 2),
            ("excluded.outside_window", 2),
            ("excluded.tags_not_matched", 1),
            ("excluded.total", 5),
            ("excluded.unreachable", 1),
            ("excluded.unsubscribed", 1),
        ])
    );

    // Three leads a call: the calls' counts add up to the whole.
    let mut sum: std::collections::BTreeMap<String, u64> = Default::default();
    let (mut cursor, mut calls, mut read) = (String::new(), 0, 0);
    loop {
        let (status, part) = preview(&app, &format!("?limit=3&cursor={cursor}"), spring(PAGE)).await;
        assert_eq!(status, 200, "{part}");
        calls += 1;
        read += part["leads_read"].as_u64().unwrap();
        for (k, n) in counts(&part) {
            *sum.entry(k).or_default() += n;
        }
        match part["next_cursor"].as_str() {
            Some(next) => {
                assert_eq!(part["complete"], false);
                cursor = next.to_string();
            }
            None => break,
        }
    }
    assert_eq!((calls, read), (3, 7));
    assert_eq!(sum.into_iter().collect::<Vec<_>>(), counts(&now));

    // A cursor belongs to its page; a limit has bounds.
    let (_, first) = preview(&app, "?limit=3", spring(PAGE)).await;
    let other_page = format!("?cursor={}", first["next_cursor"].as_str().unwrap());
    let (status, err) = preview(&app, &other_page, spring(US_PAGE)).await;
    assert_eq!((status, code(&err)), (400, "invalid_cursor"));
    for bad in ["?limit=0", "?limit=10001", "?limit=x", "?cursor=!!"] {
        let (status, err) = preview(&app, bad, spring(PAGE)).await;
        let want = if bad.contains("cursor") {
            "invalid_cursor"
        } else {
            "invalid_limit"
        };
        assert_eq!((status, code(&err)), (400, want), "{bad}");
    }
    assert_eq!(app.stack.graph.attempts(), 0);
    app.stack.stop().await;
}
