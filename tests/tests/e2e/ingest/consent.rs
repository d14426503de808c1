//! Consent tracking from deliveries: stored once, changes in order, the
//! latest word wins, one person's failure does not hold back another's.

use std::collections::BTreeMap;

use super::{consent_log, subscriber, PAGE, PAGE2};
use optcast_tests::*;

#[tokio::test]
async fn the_same_delivery_twice_is_stored_once() {
    let app = spawn_app().await;
    let body = text_delivery(PAGE, "2000000000000002", "m_dup", "hello", 1_718_000_000_000);
    assert_eq!(app.post_signed(body.as_bytes()).await.status(), 200);
    assert_eq!(app.post_signed(body.as_bytes()).await.status(), 200);
    app.drain_ingest().await;
    eventually("subscriber stored", || async {
        subscriber(&app, PAGE, "2000000000000002").await.is_some()
    })
    .await;
    assert_eq!(app.scan("MessagesTable").await.len(), 1);
    assert_eq!(consent_log(&app, PAGE, "2000000000000002").await.len(), 1);
    assert_eq!(app.scan("EventsTable").await.len(), 1);
    assert_eq!(
        subscriber(&app, PAGE, "2000000000000002").await.unwrap()["version"]
            .as_n()
            .unwrap(),
        "1"
    );
    app.stack.stop().await;
}

#[tokio::test]
async fn stop_then_start_leaves_three_consent_changes_in_order() {
    let app = spawn_app().await;
    let steps = [
        ("m_1", "hi there", "subscribed"),
        ("m_2", "STOP", "unsubscribed"),
        ("m_3", "Start", "subscribed"),
    ];
    for (i, (mid, text, expected)) in steps.iter().enumerate() {
        let body = text_delivery(PAGE, "2000000000000003", mid, text, 1_718_000_000_000 + i as i64 * 1000);
        assert_eq!(app.post_signed(body.as_bytes()).await.status(), 200);
        eventually("consent applied", || async {
            subscriber(&app, PAGE, "2000000000000003")
                .await
                .is_some_and(|s| optcast_tests::s(&s, "status") == *expected)
        })
        .await;
        let sub = subscriber(&app, PAGE, "2000000000000003").await.unwrap();
        assert_eq!(sub.contains_key("audience_pk"), *expected == "subscribed");
    }
    app.drain_ingest().await;
    let log = consent_log(&app, PAGE, "2000000000000003").await;
    let changes: Vec<_> = log
        .iter()
        .map(|i| (s(i, "to"), s(i, "reason"), s(i, "event_key")))
        .collect();
    assert_eq!(
        changes,
        [
            ("subscribed".into(), "first_contact".into(), "m_1".into()),
            ("unsubscribed".into(), "stop_keyword".into(), "m_2".into()),
            ("subscribed".into(), "start_keyword".into(), "m_3".into()),
        ]
    );
    app.stack.stop().await;
}

#[tokio::test]
async fn an_older_start_delivered_after_a_newer_stop_does_not_resubscribe() {
    // The person unsubscribed, wrote START, then changed their mind and wrote
    // STOP; Meta delivered the START last (retries reorder deliveries). The
    // second STOP changed nothing, yet it is their last word.
    let app = spawn_app().await;
    let t = 1_718_000_000_000i64;
    for (mid, text, at) in [
        ("m_r1", "hello", t),
        ("m_r2", "STOP", t + 1_000),
        ("m_r4", "STOP", t + 20_000),
        ("m_r3", "START", t + 10_000),
    ] {
        app.say_at(PAGE, "2000000000000007", mid, text, at).await;
    }
    let sub = subscriber(&app, PAGE, "2000000000000007").await.unwrap();
    assert_eq!(s(&sub, "status"), "unsubscribed");
    assert!(!sub.contains_key("audience_pk"));
    let changes: Vec<_> = consent_log(&app, PAGE, "2000000000000007")
        .await
        .iter()
        .map(|i| s(i, "to"))
        .collect();
    assert_eq!(changes, ["subscribed", "unsubscribed"]);
    app.stack.stop().await;
}

#[tokio::test]
async fn one_persons_failing_event_does_not_hold_back_anothers_stop_in_the_same_delivery() {
    const BROKEN: &str = "2000000000000021";
    const STOPPER: &str = "2000000000000022";
    let app = spawn_app().await;
    let t = 1_718_000_000_000i64;
    app.say_at(PAGE, BROKEN, "m_b0", "hello", t).await;
    app.say_at(PAGE, STOPPER, "m_s0", "hello", t).await;
    // BROKEN's data key cannot be unwrapped any more: their events fail.
    app.ddb
        .put_item()
        .table_name(app.physical("SubjectKeysTable"))
        .item(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(optcast_shared::store::subject_pk(
                &optcast_shared::ids::PageId::parse(PAGE).unwrap(),
                &optcast_shared::ids::Psid::parse(BROKEN).unwrap(),
            )),
        )
        .item(
            "data_key",
            aws_sdk_dynamodb::types::AttributeValue::B(vec![0u8; 40].into()),
        )
        .send()
        .await
        .unwrap();
    // One delivery: BROKEN writes first, STOPPER says STOP after.
    let body = serde_json::json!({"object":"page","entry":[{"id":PAGE,"time":t,"messaging":[
        {"sender":{"id":BROKEN},"recipient":{"id":PAGE},"timestamp":t + 1_000,"message":{"mid":"m_b1","text":"more"}},
        {"sender":{"id":STOPPER},"recipient":{"id":PAGE},"timestamp":t + 2_000,"message":{"mid":"m_s1","text":"STOP"}}]}]})
    .to_string();
    assert_eq!(app.post_signed(body.as_bytes()).await.status(), 200);
    eventually("the STOP applied", || async {
        subscriber(&app, PAGE, STOPPER)
            .await
            .is_some_and(|s| optcast_tests::s(&s, "status") == "unsubscribed")
    })
    .await;
    // The delivery itself is not lost: it is retried, then dead-lettered.
    eventually("dead-lettered for BROKEN", || async {
        !app.dead_letters().await.is_empty()
    })
    .await;
    app.stack.stop().await;
}

#[tokio::test]
async fn a_batched_delivery_applies_every_entry_and_echoes_never_change_consent() {
    let app = spawn_app().await;
    let body = serde_json::json!({"object":"page","entry":[
        {"id":PAGE,"time":1,"messaging":[
            {"sender":{"id":"2000000000000031"},"recipient":{"id":PAGE},"timestamp":1_718_000_000_000i64,"message":{"mid":"m_u1","text":"hi"}},
            {"sender":{"id":"2000000000000032"},"recipient":{"id":PAGE},"timestamp":1_718_000_000_001i64,"postback":{"mid":"m_u2","title":"Get Started","payload":"GET_STARTED","referral":{"ref":"camp7","source":"SHORTLINK","type":"OPEN_THREAD"}}}]},
        {"id":PAGE2,"time":2,"messaging":[
            {"sender":{"id":"2000000000000033"},"recipient":{"id":PAGE2},"timestamp":1_718_000_000_002i64,"optin":{"type":"notification_messages","notification_messages_token":"TOKEN-U3","token_expiry_timestamp":1_733_000_000_000i64}},
            {"sender":{"id":PAGE2},"recipient":{"id":"2000000000000033"},"timestamp":1_718_000_000_003i64,"message":{"is_echo":true,"mid":"m_echo","text":"STOP"}},
            {"sender":{"id":"2000000000000033"},"recipient":{"id":PAGE2},"timestamp":1_718_000_000_004i64,"read":{"watermark":1_718_000_000_003i64}},
            {"sender":{"id":"2000000000000039"},"recipient":{"id":PAGE2},"timestamp":1_718_000_000_005i64,"pass_thread_control":{"new_owner_app_id":"1"}}]}
    ]})
    .to_string();
    assert_eq!(app.post_signed(body.as_bytes()).await.status(), 200);
    app.drain_ingest().await;
    eventually("all six items recorded", || async {
        app.scan("EventsTable").await.len() == 6
    })
    .await;
    assert_eq!(app.scan("SubscribersTable").await.len(), 3);
    let u2 = subscriber(&app, PAGE, "2000000000000032").await.unwrap();
    assert_eq!(u2["tags"].as_ss().unwrap(), &vec!["camp7".to_string()]);
    let u3 = subscriber(&app, PAGE2, "2000000000000033").await.unwrap();
    assert_eq!(s(&u3, "status"), "subscribed", "the echo saying STOP changed nothing");
    assert_eq!(u3["read_watermark"].as_n().unwrap(), "1718000000003");
    assert!(
        !u3.contains_key("last_inbound_at_ms"),
        "a marketing opt-in does not open the window"
    );
    let token = u3["marketing_token"].as_b().unwrap().as_ref();
    assert!(!String::from_utf8_lossy(token).contains("TOKEN-U3"));
    assert_eq!(consent_log(&app, PAGE2, "2000000000000033").await.len(), 1);
    // 6 events: 5 applied or recorded, the handover recorded as ignored.
    let events: BTreeMap<String, String> = app
        .scan("EventsTable")
        .await
        .iter()
        .map(|e| (s(e, "pk"), s(e, "kind")))
        .collect();
    assert_eq!(events.len(), 6, "{events:?}");
    assert!(events.values().any(|k| k == "ignored:pass_thread_control"));
    app.stack.stop().await;
}
