//! What each broadcast did: Meta's delivery and read watermarks and the
//! leads' unsubscribes, delivered as signed webhooks through the real ingest
//! path and attributed to the sends they cover; page protection; and why a
//! lead was or was not messaged.

use optcast_local::fake_graph::{FakeError, Rule};
use optcast_shared::ids::BroadcastId;
use optcast_tests::*;
use reqwest::Method;
use serde_json::{json, Value};

pub(crate) const PAGE: &str = "1000000000000003";

pub(crate) fn text(t: &str) -> Value {
    json!({"page_id": PAGE, "message": {"text": t}})
}

/// The fake Graph API's record of the send to `psid`: (message id, time).
pub(crate) fn sent_to(app: &TestApp, psid: &str) -> (String, i64) {
    let send = app
        .stack
        .graph
        .sends()
        .into_iter()
        .find(|s| s.recipient["id"] == psid)
        .expect("a send to the lead");
    (send.message_id, send.at_ms)
}

/// Meta's `message_deliveries` item for `psid`.
fn delivery(psid: &str, watermark: i64, mids: &[&str]) -> Value {
    json!({"sender":{"id":psid},"recipient":{"id":PAGE},"timestamp":watermark,
        "delivery":{"mids":mids,"watermark":watermark}})
}

/// Meta's `message_reads` item for `psid`.
fn read(psid: &str, watermark: i64) -> Value {
    json!({"sender":{"id":psid},"recipient":{"id":PAGE},"timestamp":watermark,"read":{"watermark":watermark}})
}

async fn outcomes(app: &TestApp, id: &str) -> Value {
    app.broadcast(id).await["outcomes"].clone()
}

pub(crate) async fn recipient(app: &TestApp, id: &str, psid: &str) -> (u16, Value) {
    app.api(Method::GET, &format!("/v1/broadcasts/{id}/recipients/{psid}"), None)
        .await
}

/// Sums one field over the broadcast's time series.
fn series_total(b: &Value, field: &str) -> i64 {
    b["timeseries"]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[field].as_i64().unwrap())
        .sum()
}

#[tokio::test]
async fn delivery_and_read_watermarks_count_each_send_they_cover_once() {
    let app = spawn_app().await;
    app.register_page(PAGE).await;
    let all = leads("2101", 3);
    app.seed_leads(PAGE, &all).await;
    let id = app.create_broadcast(text("Receipts")).await;
    app.wait_state(&id, "done").await;
    let (mid0, at0) = sent_to(&app, &all[0]);
    let (mid1, at1) = sent_to(&app, &all[1]);
    let (_, at2) = sent_to(&app, &all[2]);
    // Lead 0: a watermark after the send. Lead 1: a watermark from before
    // our clock's send time, but naming the message. Lead 2: read (which
    // implies delivered).
    app.post_items(
        "page",
        PAGE,
        vec![
            delivery(&all[0], at0 + 1_000, &[]),
            delivery(&all[1], at1 - 60_000, &[&mid1]),
            read(&all[2], at2 + 2_000),
        ],
    )
    .await;
    eventually("receipts attributed", || async {
        let o = outcomes(&app, &id).await;
        o["delivered"] == 3 && o["read"] == 1
    })
    .await;
    // Redelivered (Meta retries), a newer watermark covering the same
    // sends, and a read of lead 0: only the read is new.
    app.post_items(
        "page",
        PAGE,
        vec![
            delivery(&all[0], at0 + 1_000, &[]),
            delivery(&all[1], at1 - 60_000, &[&mid1]),
            read(&all[2], at2 + 2_000),
            delivery(&all[0], at0 + 5_000, &[&mid0]),
            read(&all[2], at2 + 9_000),
            read(&all[0], at0 + 3_000),
        ],
    )
    .await;
    app.drain_ingest().await;
    let b = app.broadcast(&id).await;
    let o = &b["outcomes"];
    assert_eq!((o["delivered"].as_i64(), o["read"].as_i64()), (Some(3), Some(2)), "{b}");
    assert_eq!(o["rates"]["delivered"], 1.0);
    assert_eq!((series_total(&b, "sent"), series_total(&b, "delivered")), (3, 3), "{b}");
    assert_eq!(series_total(&b, "read"), 2);

    let (status, r) = recipient(&app, &id, &all[2]).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["state"], "sent");
    assert!(r["mid"].as_str().is_some_and(|m| m.starts_with("m_fake_")));
    assert_eq!(r["delivered_at_ms"], at2 + 2_000, "the first watermark's time stays");
    assert_eq!(r["read_at_ms"], at2 + 2_000);
    let (_, r) = recipient(&app, &id, &all[0]).await;
    assert_eq!(r["mid"], mid0);
    assert_eq!(
        (r["delivered_at_ms"].as_i64(), r["read_at_ms"].as_i64()),
        (Some(at0 + 1_000), Some(at0 + 3_000))
    );
    assert!(r["sent_at_ms"].as_i64().is_some_and(|t| t <= at0));

    // A receipt naming no valid person is quarantined, never applied or a panic.
    app.post_items("page", PAGE, vec![delivery("not-a-psid", at0 + 1_000, &[])])
        .await;
    app.wait_quarantined(1).await;
    assert_eq!(outcomes(&app, &id).await["delivered"], 3);
    app.stack.stop().await;
}

#[tokio::test]
async fn a_stop_after_a_send_and_the_unsubscribe_control_count_as_the_broadcasts_unsubscribes() {
    let app = spawn_app().await;
    app.register_page(PAGE).await;
    let all = leads("2102", 4);
    app.seed_leads(PAGE, &all).await;
    let id = app.create_broadcast(text("Weekend deals")).await;
    app.wait_state(&id, "done").await;
    // The control on the message names the broadcast.
    let sends = app.stack.graph.sends();
    let control = sends
        .iter()
        .find(|s| s.recipient["id"] == all[1].as_str())
        .unwrap()
        .body["message"]["quick_replies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["title"] == "Unsubscribe")
        .unwrap()["payload"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        control,
        optcast_shared::consent::unsubscribe_payload(&BroadcastId::parse(&id).unwrap())
    );
    // Lead 0 writes STOP (within 48 hours of the send); lead 1 taps the
    // control; lead 2 just writes.
    app.say(PAGE, &all[0], "m_o_stop", "STOP").await;
    let now = optcast_shared::http::now_ms();
    app.post_items(
        "page",
        PAGE,
        vec![json!({"sender":{"id":all[1]},"recipient":{"id":PAGE},"timestamp":now,
            "message":{"mid":"m_o_tap","text":"Unsubscribe","quick_reply":{"payload":control}}})],
    )
    .await;
    app.say(PAGE, &all[2], "m_o_hi", "thanks!").await;
    eventually("unsubscribes attributed", || async {
        outcomes(&app, &id).await["unsubscribed"] == 2
    })
    .await;
    // Saying STOP again (a new message) and the tap redelivered change nothing.
    app.say(PAGE, &all[0], "m_o_stop2", "stop").await;
    app.post_items(
        "page",
        PAGE,
        vec![json!({"sender":{"id":all[1]},"recipient":{"id":PAGE},"timestamp":now,
            "message":{"mid":"m_o_tap","text":"Unsubscribe","quick_reply":{"payload":control}}})],
    )
    .await;
    app.drain_ingest().await;
    let b = app.broadcast(&id).await;
    assert_eq!(b["outcomes"]["unsubscribed"], 2, "{b}");
    assert_eq!(b["outcomes"]["rates"]["unsubscribed"], 0.5);
    assert_eq!(series_total(&b, "unsubscribed"), 2);
    let (_, r) = recipient(&app, &id, &all[1]).await;
    assert_eq!(r["unsubscribed_at_ms"], now);
    let (_, r) = recipient(&app, &id, &all[2]).await;
    assert_eq!(r["unsubscribed_at_ms"], Value::Null);
    app.stack.stop().await;
}

#[tokio::test]
async fn a_broadcast_pauses_itself_when_blocks_cross_the_pages_threshold() {
    let mut app = spawn_app_with(|o| o.held_functions = vec!["sender".into()]).await;
    let (status, page) = app
        .api(
            Method::PUT,
            &format!("/v1/pages/{PAGE}"),
            Some(json!({"access_token": PAGE_TOKEN, "protection": {"max_negative_rate": 0.2, "min_sends": 2}})),
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["protection"], json!({"max_negative_rate": 0.2, "min_sends": 2}));
    let all = leads("2103", 30);
    app.seed_leads(PAGE, &all).await;
    for p in all.iter().step_by(2) {
        app.stack.graph.script(Rule {
            recipient: Some(p.clone()),
            error: FakeError::Blocked,
            times: 1,
        });
    }
    let id = app.create_broadcast(text("Too much")).await;
    eventually("planned", || async {
        app.broadcast(&id).await["counts"]["queued"] == 30
    })
    .await;
    app.stack.resume("sender");
    let b = app.wait_state(&id, "paused").await;
    assert!(
        b["paused_reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("page protection")),
        "{b}"
    );
    assert!(b["outcomes"]["blocked"].as_i64() >= Some(1), "{b}");
    assert_eq!(b["outcomes"]["meta_errors"]["551/1545041"], b["outcomes"]["blocked"]);
    app.stack.stop().await;
}

#[tokio::test]
async fn page_protection_thresholds_out_of_range_are_refused() {
    let app = spawn_app().await;
    for (protection, code) in [
        (json!({"max_negative_rate": 0, "min_sends": 200}), "invalid_protection"),
        (json!({"max_negative_rate": 2, "min_sends": 200}), "invalid_protection"),
        (json!({"max_negative_rate": 0.02, "min_sends": 0}), "invalid_protection"),
        (json!({"max_negative_rate": 0.02}), "invalid_json"),
        (
            json!({"max_negative_rate": 0.02, "min_sends": 5, "x": 1}),
            "invalid_json",
        ),
    ] {
        let (status, out) = app
            .api(
                Method::PUT,
                &format!("/v1/pages/{PAGE}"),
                Some(json!({"access_token": PAGE_TOKEN, "protection": protection})),
            )
            .await;
        assert_eq!((status, out["error"]["code"].as_str()), (400, Some(code)), "{out}");
    }
    let (status, out) = app
        .api(
            Method::PUT,
            &format!("/v1/pages/{PAGE}"),
            Some(json!({"access_token": PAGE_TOKEN})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(out["protection"], json!({"max_negative_rate": 0.02, "min_sends": 200}));
    app.stack.stop().await;
}

#[tokio::test]
async fn the_recipient_route_says_why_each_lead_was_or_was_not_messaged() {
    let mut app = spawn_app_with(|o| o.held_functions = vec!["sender".into()]).await;
    app.register_page(PAGE).await;
    let all = leads("2104", 5);
    let [sent, stopped, meta_refused, blocked, _] = [&all[0], &all[1], &all[2], &all[3], &all[4]];
    app.seed_leads(PAGE, &all[..4]).await;
    // Wrote three days ago: outside the 24-hour window, no token.
    let t = optcast_shared::http::now_ms();
    let quiet = &all[4];
    app.say_at(
        PAGE,
        quiet,
        "m_r_quiet",
        "hello",
        t - 3 * optcast_shared::retention::DAY_MS,
    )
    .await;
    // Granted a marketing token, but the page's region is not one where
    // Meta honours them.
    let token_lead = "2104000000000099";
    app.say_at(
        PAGE,
        token_lead,
        "m_r_tok",
        "hello",
        t - 3 * optcast_shared::retention::DAY_MS,
    )
    .await;
    app.post_items(
        "page",
        PAGE,
        vec![json!({"sender":{"id":token_lead},"recipient":{"id":PAGE},"timestamp":t - 3 * optcast_shared::retention::DAY_MS + 1,
            "optin":{"type":"notification_messages","notification_messages_token":"TOKEN-R"}})],
    )
    .await;
    eventually("token stored", || async {
        app.subscriber(PAGE, token_lead)
            .await
            .is_some_and(|i| i.contains_key("marketing_token"))
    })
    .await;
    app.stack.graph.script(Rule {
        recipient: Some(meta_refused.clone()),
        error: FakeError::OutsideWindow,
        times: 1,
    });
    app.stack.graph.script(Rule {
        recipient: Some(blocked.clone()),
        error: FakeError::Blocked,
        times: 1,
    });
    let id = app.create_broadcast(text("Why")).await;
    eventually("planned", || async {
        app.broadcast(&id).await["counts"]["queued"] == 6
    })
    .await;
    app.say(PAGE, stopped, "m_r_stop", "STOP").await;
    app.stack.resume("sender");
    app.wait_state(&id, "done").await;

    let (status, r) = recipient(&app, &id, sent).await;
    assert_eq!((status, r["state"].as_str()), (200, Some("sent")), "{r}");
    assert_eq!(r["mid"], sent_to(&app, sent).0);
    assert!(r["sent_at_ms"].is_i64() && r["reason"].is_null());
    for (psid, state, reason) in [
        (stopped.as_str(), "skipped_unsubscribed", "unsubscribed"),
        (quiet.as_str(), "skipped_policy", "outside_window"),
        (token_lead, "skipped_policy", "marketing_unavailable"),
        (meta_refused.as_str(), "skipped_policy", "meta_policy"),
        (blocked.as_str(), "failed", "blocked"),
    ] {
        let (status, r) = recipient(&app, &id, psid).await;
        assert_eq!(
            (status, r["state"].as_str(), r["reason"].as_str()),
            (200, Some(state), Some(reason)),
            "{psid}: {r}"
        );
        assert!(r["mid"].is_null(), "{r}");
    }
    let (status, r) = recipient(&app, &id, "2104000000000777").await;
    assert_eq!(
        (status, r["error"]["code"].as_str()),
        (404, Some("not_in_audience")),
        "{r}"
    );
    let (status, r) = recipient(&app, &id, "12ab").await;
    assert_eq!(
        (status, r["error"]["code"].as_str()),
        (400, Some("invalid_psid")),
        "{r}"
    );
    let (status, _) = recipient(&app, "ffff", sent).await;
    assert_eq!(status, 404);
    let (status, _) = app
        .api(Method::POST, &format!("/v1/broadcasts/{id}/recipients/{sent}"), None)
        .await;
    assert_eq!(status, 405);
    app.stack.stop().await;
}

#[tokio::test]
async fn the_recipient_route_needs_broadcasts_read_and_the_broadcasts_page() {
    use sha2::{Digest, Sha256};
    let other_page = "1000000000000004";
    let sha = |t: &str| hex::encode(Sha256::digest(t.as_bytes()));
    let tokens = json!({"tokens": [
        {"name": "reader", "token_sha256": sha("reader-a"), "pages": [PAGE], "scopes": ["broadcasts:read"]},
        {"name": "leads", "token_sha256": sha("leads-a"), "pages": [PAGE], "scopes": ["subscribers:read"]},
    ]});
    let app = spawn_app_with(|o| {
        o.overrides.insert("OPTCAST_API_TOKENS".into(), tokens.to_string());
    })
    .await;
    app.register_page(PAGE).await;
    app.register_page(other_page).await;
    let mine = app.create_broadcast(text("Mine")).await;
    let theirs = app
        .create_broadcast(json!({"page_id": other_page, "message": {"text": "Theirs"}}))
        .await;
    // Nothing to send (no leads): done at once, so "not in the audience" is final.
    app.wait_state(&mine, "done").await;
    let lead = "2105000000000001";
    let get = |token: &'static str, id: String| {
        let app = &app;
        async move {
            app.api_as(
                token,
                Method::GET,
                &format!("/v1/broadcasts/{id}/recipients/{lead}"),
                None,
            )
            .await
        }
    };
    let (status, out) = get("reader-a", mine.clone()).await;
    assert_eq!(
        (status, out["error"]["code"].as_str()),
        (404, Some("not_in_audience")),
        "{out}"
    );
    let (status, out) = get("reader-a", theirs).await;
    assert_eq!(
        (status, out["error"]["code"].as_str()),
        (404, Some("not_found")),
        "{out}"
    );
    let (status, out) = get("leads-a", mine).await;
    assert_eq!(
        (status, out["error"]["code"].as_str()),
        (403, Some("missing_scope")),
        "{out}"
    );
    app.stack.stop().await;
}
