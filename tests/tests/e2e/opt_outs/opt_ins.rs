//! What may undo an opt-out, on real traffic: only the person's explicit
//! word to optcast. A "yes" in conversation, a START meant for another app
//! (standby) or another bot's button, an edit, a START at the very moment
//! of the STOP, or writing again after an erasure do not.

use super::{item, seed, text, PAGE};
use optcast_shared::http::now_ms;
use optcast_tests::*;
use serde_json::json;

/// POSTs one signed delivery of `item` under `entry[].standby` (the thread
/// is another app's or a human agent's), expecting 200.
async fn post_in_standby(app: &TestApp, item: serde_json::Value) {
    let body = json!({"object": "page", "entry": [{"id": PAGE, "time": now_ms(), "standby": [item]}]});
    assert_eq!(app.post_signed(body.to_string().as_bytes()).await.status(), 200);
}

#[tokio::test]
async fn only_a_start_typed_to_optcast_undoes_a_stop() {
    let app = spawn_app().await;
    let lead = "2000000000000111";
    seed(&app, &[lead]).await;
    app.say(PAGE, lead, "m_oi_stop", "STOP").await;
    assert_eq!(app.status(PAGE, lead).await, "unsubscribed");
    let now = now_ms();
    // "Yes" answers a question; a human agent's thread (standby); another
    // bot's quick reply titled "Start"; an edit of an older message.
    app.post_items(
        "page",
        PAGE,
        vec![
            text(lead, json!(now + 1), json!("m_oi_yes"), "Yes"),
            item(
                lead,
                json!(now + 2),
                json!({"message": {"mid": "m_oi_qr", "text": "Start",
                                   "quick_reply": {"payload": "ORDER_BOT_START"}}}),
            ),
            item(
                lead,
                json!(now + 3),
                json!({"message_edit": {"mid": "m_oi_stop", "text": "start", "num_edit": 1}}),
            ),
        ],
    )
    .await;
    post_in_standby(&app, text(lead, json!(now + 4), json!("m_oi_standby"), "START")).await;
    app.drain_ingest().await;
    assert_eq!(app.status(PAGE, lead).await, "unsubscribed");
    // Their own START, typed to the page: back in.
    app.post_items(
        "page",
        PAGE,
        vec![text(lead, json!(now_ms() + 10), json!("m_oi_start"), "START")],
    )
    .await;
    app.drain_ingest().await;
    assert_eq!(app.status(PAGE, lead).await, "subscribed");
    app.stack.stop().await;
}

#[tokio::test]
async fn a_stop_in_a_human_agents_thread_or_said_politely_unsubscribes() {
    let app = spawn_app().await;
    let (agent, polite) = ("2000000000000112", "2000000000000113");
    seed(&app, &[agent, polite]).await;
    let now = now_ms();
    post_in_standby(&app, text(agent, json!(now), json!("m_oi_agent"), "stop")).await;
    app.post_items(
        "page",
        PAGE,
        vec![text(
            polite,
            json!(now),
            json!("m_oi_polite"),
            "Please unsubscribe me, thanks",
        )],
    )
    .await;
    app.drain_ingest().await;
    assert_eq!(app.status(PAGE, agent).await, "unsubscribed");
    assert_eq!(app.status(PAGE, polite).await, "unsubscribed");
    app.stack.stop().await;
}

#[tokio::test]
async fn a_start_at_the_same_moment_as_the_stop_does_not_undo_it() {
    // Both stamped alike (two events capped to one time of receipt,
    // Instagram's whole seconds), delivered in either order.
    let app = spawn_app().await;
    let (a, b) = ("2000000000000114", "2000000000000115");
    seed(&app, &[a, b]).await;
    let at = now_ms();
    app.post_items(
        "page",
        PAGE,
        vec![
            text(a, json!(at), json!("m_oi_tie_stop_a"), "STOP"),
            text(a, json!(at), json!("m_oi_tie_start_a"), "START"),
            text(b, json!(at), json!("m_oi_tie_start_b"), "START"),
            text(b, json!(at), json!("m_oi_tie_stop_b"), "STOP"),
        ],
    )
    .await;
    app.drain_ingest().await;
    assert_eq!(app.status(PAGE, a).await, "unsubscribed");
    assert_eq!(app.status(PAGE, b).await, "unsubscribed");
    app.stack.stop().await;
}

#[tokio::test]
async fn someone_erased_while_unsubscribed_is_not_subscribed_again_by_writing() {
    let app = spawn_app().await;
    app.register_page(PAGE).await;
    let lead = "2000000000000116";
    seed(&app, &[lead]).await;
    app.say(PAGE, lead, "m_oi_e_stop", "STOP").await;
    app.erase(PAGE, lead).await;
    assert_eq!(app.status(PAGE, lead).await, "none");
    // "Did you delete my data?" is not an opt-in: their STOP stands.
    app.post_items(
        "page",
        PAGE,
        vec![text(
            lead,
            json!(now_ms() + 1_000),
            json!("m_oi_e_ask"),
            "did you delete my data?",
        )],
    )
    .await;
    app.drain_ingest().await;
    assert_eq!(app.status(PAGE, lead).await, "none", "no lead, no audience");
    let id = app
        .create_broadcast(json!({"page_id": PAGE, "message": {"text": "Summer offer"}}))
        .await;
    app.wait_state(&id, "done").await;
    assert_eq!(app.sends_to(lead), 0);
    // Their explicit START makes them a lead again.
    app.post_items(
        "page",
        PAGE,
        vec![text(lead, json!(now_ms() + 2_000), json!("m_oi_e_start"), "START")],
    )
    .await;
    app.drain_ingest().await;
    assert_eq!(app.status(PAGE, lead).await, "subscribed");
    app.stack.stop().await;
}
