//! Impossible and skewed timestamps, and leads purged while unsubscribed:
//! the person's last word still wins.

use super::{seed, text, PAGE};
use optcast_shared::http::now_ms;
use optcast_tests::*;
use serde_json::json;

#[tokio::test]
async fn a_message_stamped_in_the_far_future_neither_freezes_consent_nor_the_window() {
    let app = spawn_app().await;
    let now = now_ms();
    app.post_items(
        "page",
        PAGE,
        vec![text(
            "2000000000000021",
            json!(253_402_300_799_000i64),
            json!("m_future"),
            "hi",
        )],
    )
    .await;
    app.drain_ingest().await;
    // The STOP sent a second later, with a real timestamp, still counts.
    app.post_items(
        "page",
        PAGE,
        vec![text("2000000000000021", json!(now_ms()), json!("m_stop"), "STOP")],
    )
    .await;
    app.drain_ingest().await;
    let lead = app.subscriber(PAGE, "2000000000000021").await.unwrap();
    assert_eq!(s(&lead, "status"), "unsubscribed");
    let window: i64 = lead["last_inbound_at_ms"].as_n().unwrap().parse().unwrap();
    assert!(
        window < now + 600_000,
        "the window ends 24 h after receipt, not in 9999: {window}"
    );
    let created: i64 = lead["created_at_ms"].as_n().unwrap().parse().unwrap();
    assert!(created >= now - 60_000 && created < now + 600_000, "{created}");
    app.stack.stop().await;
}

#[tokio::test]
async fn a_lead_purged_while_unsubscribed_stays_unsubscribed_until_they_opt_in_again() {
    let app = spawn_app().await;
    app.register_page(PAGE).await;
    let day = optcast_shared::retention::DAY_MS;
    let now = now_ms();
    app.say_at(PAGE, "2000000000000091", "m_p1", "hi", now - 41 * day).await;
    app.say_at(PAGE, "2000000000000091", "m_p2", "STOP", now - 40 * day)
        .await;
    let report = app.invoke("sweeper", &scheduled_event(now)).await;
    assert_eq!(report["deleted"]["unsubscribed_leads"], 1, "{report}");
    assert_eq!(app.status(PAGE, "2000000000000091").await, "none");
    // Writing again is not an opt-in: their STOP still stands.
    app.post_items(
        "page",
        PAGE,
        vec![text(
            "2000000000000091",
            json!(now_ms()),
            json!("m_p3"),
            "what is the price?",
        )],
    )
    .await;
    app.drain_ingest().await;
    assert_eq!(
        app.status(PAGE, "2000000000000091").await,
        "none",
        "no lead, no audience"
    );
    app.post_items(
        "page",
        PAGE,
        vec![text("2000000000000091", json!(now_ms()), json!("m_p4"), "START")],
    )
    .await;
    app.drain_ingest().await;
    assert_eq!(app.status(PAGE, "2000000000000091").await, "subscribed");
    app.stack.stop().await;
}

#[tokio::test]
async fn an_opt_in_stamped_minutes_ahead_does_not_outrank_the_stop_sent_after_it() {
    let app = spawn_app().await;
    seed(&app, &["2000000000000101"]).await;
    let now = now_ms();
    app.post_items(
        "page",
        PAGE,
        vec![text(
            "2000000000000101",
            json!(now + 290_000),
            json!("m_c_start"),
            "START",
        )],
    )
    .await;
    app.drain_ingest().await;
    app.post_items(
        "page",
        PAGE,
        vec![text(
            "2000000000000101",
            json!(now_ms() + 1_000),
            json!("m_c_stop"),
            "STOP",
        )],
    )
    .await;
    app.drain_ingest().await;
    assert_eq!(app.status(PAGE, "2000000000000101").await, "unsubscribed");
    app.stack.stop().await;
}

/// A STOP and then a START, both of impossible timestamps: their order is
/// unknown (a retried older START may arrive after a newer STOP), so the
/// STOP stands. The old rule ordered two clamped words by receipt and
/// resubscribed the lead.
#[tokio::test]
async fn a_start_of_impossible_time_does_not_undo_a_stop_of_impossible_time() {
    let app = spawn_app().await;
    let psid = "2000000000000102";
    seed(&app, &[psid]).await;
    for (mid, word) in [("m_i_stop", "STOP"), ("m_i_start", "START")] {
        app.post_items(
            "page",
            PAGE,
            vec![text(psid, json!(253_402_300_799_000i64), json!(mid), word)],
        )
        .await;
        app.drain_ingest().await;
    }
    let lead = app.subscriber(PAGE, psid).await.unwrap();
    assert_eq!(s(&lead, "status"), "unsubscribed");
    assert_eq!(
        lead["consent_intent_clamped"].as_bool(),
        Ok(&true),
        "the last word is the clamped STOP"
    );
    app.stack.stop().await;
}
