//! Whole deliveries: events that never create or revive a lead, one bad
//! part quarantined, large messages and deliveries, idempotency per person.

use super::{item, seed, text, PAGE};
use optcast_shared::http::now_ms;
use optcast_tests::*;
use serde_json::{json, Value};

#[tokio::test]
async fn reactions_unsends_referrals_and_edits_never_create_or_revive_a_lead() {
    let app = spawn_app().await;
    seed(&app, &["2000000000000051", "2000000000000052"]).await;
    let (status, out) = app
        .api(
            reqwest::Method::POST,
            "/v1/erasure",
            Some(json!({"page_id": PAGE, "psid": "2000000000000052"})),
        )
        .await;
    assert_eq!(status, 202, "{out}");
    eventually("erased", || async {
        app.subscriber(PAGE, "2000000000000052").await.is_none()
    })
    .await;
    let now = now_ms() + 1_000;
    let activity = |psid: &str, n: i64| {
        vec![
            item(
                psid,
                json!(now + n),
                json!({"reaction": {"mid": "m_old", "action": "react", "reaction": "love"}}),
            ),
            item(
                psid,
                json!(now + n + 1),
                json!({"message": {"mid": format!("m_gone_{psid}"), "is_deleted": true}}),
            ),
            item(
                psid,
                json!(now + n + 2),
                json!({"referral": {"ref": "ad7", "source": "ADS", "type": "OPEN_THREAD"}}),
            ),
            item(
                psid,
                json!(now + n + 3),
                json!({"message_edit": {"mid": "m_old", "text": "typo fixed", "num_edit": 1}}),
            ),
        ]
    };
    let mut items = activity("2000000000000053", 0);
    items.extend(activity("2000000000000052", 10));
    app.post_items("page", PAGE, items).await;
    // A known lead unsends the message they sent: it is deleted.
    app.post_items(
        "page",
        PAGE,
        vec![text("2000000000000051", json!(now), json!("m_k1"), "my phone is 555")],
    )
    .await;
    app.drain_ingest().await;
    assert_eq!(app.opened_messages(PAGE, "2000000000000051").await.len(), 2);
    app.post_items(
        "page",
        PAGE,
        vec![item(
            "2000000000000051",
            json!(now + 5),
            json!({"message": {"mid": "m_k1", "is_deleted": true}}),
        )],
    )
    .await;
    app.drain_ingest().await;
    assert_eq!(app.status(PAGE, "2000000000000053").await, "none");
    assert_eq!(app.status(PAGE, "2000000000000052").await, "none");
    let kept: Vec<Value> = app
        .opened_messages(PAGE, "2000000000000051")
        .await
        .into_iter()
        .map(|m| m.1)
        .collect();
    assert_eq!(kept.len(), 1, "only the seed message is left: {kept:?}");
    assert_eq!(kept[0]["text"], "hello");
    assert_eq!(app.status(PAGE, "2000000000000051").await, "subscribed");
    app.stack.stop().await;
}

#[tokio::test]
async fn one_bad_part_is_quarantined_and_everyone_elses_stop_lands() {
    let app = spawn_app().await;
    seed(&app, &["2000000000000061", "2000000000000062"]).await;
    let now = now_ms();
    let deep = format!("{}1{}", "[".repeat(300), "]".repeat(300));
    let stop = |psid: &str, mid: &str| text(psid, json!(now), json!(mid), "STOP").to_string();
    // A byte-order mark, an entry time that is not a number, an item nested
    // too deep, an entry without a usable id, and two people's STOPs.
    let body = format!(
        "\u{feff}{{\"object\":\"page\",\"entry\":[{{\"id\":\"{PAGE}\",\"time\":\"soon\",\"messaging\":[{},{deep},{}]}},\
         {{\"id\":{{\"nested\":1}},\"messaging\":[{}]}}]}}",
        stop("2000000000000061", "m_b1"),
        stop("2000000000000062", "m_b2"),
        stop("2000000000000063", "m_b3")
    );
    assert_eq!(app.post_signed(body.as_bytes()).await.status(), 200);
    let records = app.wait_quarantined(2).await;
    app.drain_ingest().await;
    assert_eq!(app.status(PAGE, "2000000000000061").await, "unsubscribed");
    assert_eq!(app.status(PAGE, "2000000000000062").await, "unsubscribed");
    let mut reasons: Vec<_> = records.iter().map(|r| r.reason.as_str()).collect();
    reasons.sort();
    assert_eq!(reasons, ["entry_id", "malformed_item"]);
    assert!(app.dead_letters().await.is_empty());
    // The quarantined item is kept exactly, as a delivery of its own.
    let entry_id = records.iter().find(|r| r.reason == "entry_id").unwrap();
    let kept: Value = serde_json::from_slice(&app.quarantined_body(&entry_id.id).await).unwrap();
    assert_eq!(kept["entry"][0]["messaging"][0]["message"]["mid"], "m_b3");
    app.stack.stop().await;
}

#[tokio::test]
async fn a_message_too_large_for_one_item_is_applied_with_its_body_bounded() {
    let app = spawn_app().await;
    let huge = "x".repeat(1_000_000);
    app.post_items(
        "page",
        PAGE,
        vec![text("2000000000000071", json!(now_ms()), json!("m_huge"), &huge)],
    )
    .await;
    app.drain_ingest().await;
    assert_eq!(app.status(PAGE, "2000000000000071").await, "subscribed");
    let messages = app.opened_messages(PAGE, "2000000000000071").await;
    assert_eq!(messages[0].1["truncated"][0]["bytes"], 1_000_000);
    assert!(app.dead_letters().await.is_empty());
    app.stack.stop().await;
}

#[tokio::test]
async fn the_same_mid_from_two_people_is_two_events() {
    let app = spawn_app().await;
    seed(&app, &["2000000000000081", "2000000000000082"]).await;
    let now = now_ms();
    app.post_items(
        "page",
        PAGE,
        vec![text("2000000000000081", json!(now), json!("m_shared"), "thanks")],
    )
    .await;
    app.post_items(
        "page",
        PAGE,
        vec![text("2000000000000082", json!(now), json!("m_shared"), "STOP")],
    )
    .await;
    app.drain_ingest().await;
    assert_eq!(app.status(PAGE, "2000000000000081").await, "subscribed");
    assert_eq!(
        app.status(PAGE, "2000000000000082").await,
        "unsubscribed",
        "not taken for the first lead's duplicate"
    );
    app.stack.stop().await;
}

#[tokio::test]
async fn a_large_delivery_is_split_and_every_persons_events_land_in_order() {
    // A small work budget makes invocations stop early and queue the rest.
    let app = spawn_app_with(|o| {
        o.overrides.insert("INGEST_WORK_BUDGET_MS".into(), "300".into());
    })
    .await;
    let now = now_ms() - 600_000;
    let mut items = Vec::new();
    for p in 0..42 {
        let psid = format!("21000000000000{p:02}");
        // Given out of order: hello, STOP, then START for the even ones.
        if p % 2 == 0 {
            items.push(text(&psid, json!(now + 3), json!(format!("m_{p}_c")), "START"));
        }
        items.push(text(&psid, json!(now + 2), json!(format!("m_{p}_b")), "STOP"));
        items.push(text(&psid, json!(now + 1), json!(format!("m_{p}_a")), "hello"));
    }
    assert!(items.len() > ingest::CHUNK_ITEMS);
    let sent = items.len();
    app.post_items("page", PAGE, items).await;
    eventually("every item recorded", || async {
        app.scan("EventsTable").await.len() == sent
    })
    .await;
    app.drain_ingest().await;
    for p in 0..42 {
        let want = if p % 2 == 0 { "subscribed" } else { "unsubscribed" };
        assert_eq!(
            app.status(PAGE, &format!("21000000000000{p:02}")).await,
            want,
            "lead {p}"
        );
    }
    assert!(app.dead_letters().await.is_empty());
    let (count, _) = app.dump_bucket().await;
    assert_eq!(count, 0, "no claim or chunk object is left behind");
    app.stack.stop().await;
}
