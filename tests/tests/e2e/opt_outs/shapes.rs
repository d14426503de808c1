//! The shapes a stop takes in real deliveries: keywords, postbacks, edits,
//! Instagram's `changes`.

use super::{item, seed, text, PAGE};
use optcast_shared::http::now_ms;
use optcast_tests::*;
use serde_json::json;

#[tokio::test]
async fn a_stop_in_every_form_real_deliveries_take_unsubscribes() {
    let app = spawn_app().await;
    let leads = [
        "2000000000000001",
        "2000000000000002",
        "2000000000000003",
        "2000000000000004",
        "2000000000000005",
        "2000000000000006",
        "7000000000000001",
    ];
    seed(&app, &leads).await;
    let now = now_ms();
    app.post_items(
        "page",
        PAGE,
        vec![
            // Timestamps as a float, a quoted number, in seconds.
            text("2000000000000001", json!(now as f64), json!("m_float"), "STOP"),
            text("2000000000000002", json!(now.to_string()), json!("m_quoted"), "STOP"),
            text("2000000000000003", json!(now / 1000 + 1), json!("m_seconds"), "STOP"),
            // The older message-id format, and no mid at all.
            text("2000000000000004", json!(now), json!("mid.$cAAJs1xyzABC"), "STOP"),
            item("2000000000000005", json!(now), json!({"message": {"text": "STOP"}})),
            // A mid far longer than any key may be.
            text("2000000000000006", json!(now), json!("m".repeat(3000)), "STOP"),
            // The sender id as a JSON number.
            text("7000000000000001", json!(now), json!("m_numeric_sender"), "STOP"),
        ]
        .into_iter()
        .map(|mut i| {
            if i["sender"]["id"] == "7000000000000001" {
                i["sender"]["id"] = json!(7000000000000001u64);
            }
            i
        })
        .collect(),
    )
    .await;
    app.drain_ingest().await;
    for lead in leads {
        assert_eq!(app.status(PAGE, lead).await, "unsubscribed", "{lead}");
    }
    // The STOP stamped in seconds is dated now, not 1970.
    let log = app.scan("ConsentLogTable").await;
    let l3 = log
        .iter()
        .find(|i| s(i, "pk") == format!("PAGE#{PAGE}#SUB#2000000000000003") && s(i, "to") == "unsubscribed")
        .unwrap();
    let at: i64 = l3["at_ms"].as_n().unwrap().parse().unwrap();
    assert!((now - at).abs() < 5_000, "dated {at}, sent {now}");
    assert!(app.dead_letters().await.is_empty());
    app.stack.stop().await;
}

#[tokio::test]
async fn a_numeric_postback_payload_starts_a_conversation_instead_of_vanishing() {
    let app = spawn_app().await;
    app.post_items(
        "page",
        PAGE,
        vec![item(
            "2000000000000011",
            json!(now_ms()),
            json!({"postback": {"title": "Deals", "payload": 42}}),
        )],
    )
    .await;
    app.drain_ingest().await;
    assert_eq!(app.status(PAGE, "2000000000000011").await, "subscribed");
    app.stack.stop().await;
}

#[tokio::test]
async fn an_edit_to_stop_unsubscribes_and_replaces_the_stored_text_once() {
    let app = spawn_app().await;
    let t = now_ms() - 10_000;
    app.post_items(
        "page",
        PAGE,
        vec![text("2000000000000031", json!(t), json!("m_e1"), "hello")],
    )
    .await;
    app.drain_ingest().await;
    let edit = item(
        "2000000000000031",
        json!(t + 5_000),
        json!({"message_edit": {"mid": "m_e1", "text": "STOP", "num_edit": 1}}),
    );
    // Meta delivers it twice; the second changes nothing.
    app.post_items("page", PAGE, vec![edit.clone()]).await;
    app.post_items("page", PAGE, vec![edit]).await;
    app.drain_ingest().await;
    assert_eq!(app.status(PAGE, "2000000000000031").await, "unsubscribed");
    let messages = app.opened_messages(PAGE, "2000000000000031").await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0].1["text"], "STOP");
    assert_eq!(messages[0].1["edited"], 1);
    assert!(messages[0].0.ends_with("#m_e1"), "{}", messages[0].0);
    let changes = app
        .scan("ConsentLogTable")
        .await
        .into_iter()
        .filter(|i| s(i, "pk") == format!("PAGE#{PAGE}#SUB#2000000000000031"))
        .count();
    assert_eq!(changes, 2, "first contact, then the edit's stop");
    app.stack.stop().await;
}

#[tokio::test]
async fn an_unsubscribe_tapped_on_instagram_in_the_changes_format_unsubscribes() {
    let app = spawn_app().await;
    let ig = "17841400000001";
    let now = now_ms();
    let hello = json!({"object":"instagram","entry":[{"id": ig, "time": now, "messaging":[
        {"sender":{"id":"2000000000000041"},"recipient":{"id":ig},"timestamp":now - 60_000,"message":{"mid":"aWdfZAG1hello","text":"hi"}}]}]});
    assert_eq!(app.post_signed(hello.to_string().as_bytes()).await.status(), 200);
    app.drain_ingest().await;
    assert_eq!(app.status(ig, "2000000000000041").await, "subscribed");
    let tap = json!({"object":"instagram","entry":[{"id": ig, "time": now, "changes":[
        {"field":"messaging_postbacks","value":{"sender":{"id":"2000000000000041"},"recipient":{"id":ig},"timestamp":now,
            "postback":{"mid":"aWdfZAG1tap","title":"Unsubscribe","payload":"OPTCAST_UNSUBSCRIBE"}}},
        {"field":"comments","value":{"id":"c1","text":"STOP"}}]}]});
    assert_eq!(app.post_signed(tap.to_string().as_bytes()).await.status(), 200);
    app.drain_ingest().await;
    assert_eq!(app.status(ig, "2000000000000041").await, "unsubscribed");
    let kinds: Vec<String> = app.scan("EventsTable").await.iter().map(|e| s(e, "kind")).collect();
    assert!(kinds.contains(&"ignored:change:comments".to_string()), "{kinds:?}");
    app.stack.stop().await;
}

#[tokio::test]
async fn an_edit_to_stop_in_the_changes_format_under_metas_field_name_unsubscribes() {
    // Meta names the field `message_edits`; the parser listed only the
    // item's key, `message_edit`, and ignored the edit: the lead stayed
    // subscribed.
    let app = spawn_app().await;
    let t = now_ms() - 10_000;
    let lead = "2000000000000032";
    app.post_items("page", PAGE, vec![text(lead, json!(t), json!("m_e2"), "hello")])
        .await;
    app.drain_ingest().await;
    assert_eq!(app.status(PAGE, lead).await, "subscribed");
    let edit = json!({"object":"page","entry":[{"id": PAGE, "time": t + 5_000, "changes":[
        {"field":"message_edits","value":{"sender":{"id": lead},"recipient":{"id": PAGE},"timestamp": t + 5_000,
            "message_edit":{"mid":"m_e2","text":"STOP","num_edit":1}}}]}]});
    assert_eq!(app.post_signed(edit.to_string().as_bytes()).await.status(), 200);
    app.drain_ingest().await;
    assert_eq!(app.status(PAGE, lead).await, "unsubscribed");
    app.stack.stop().await;
}
