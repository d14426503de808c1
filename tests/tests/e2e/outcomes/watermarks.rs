//! Delivery and read watermarks, stops and the unsubscribe control,
//! attributed to the broadcast's sends they cover.

use super::{delivery, outcomes, read, recipient, sent_to, series_total, text, PAGE};
use optcast_shared::ids::BroadcastId;
use optcast_tests::*;
use serde_json::{json, Value};

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
