//! Webhook verification, ingestion, consent tracking and encryption.

use std::collections::BTreeMap;

use optcast_shared::crypto::{self, KeyRing};
use optcast_shared::ids::{PageId, Psid};
use optcast_tests::*;

const PAGE: &str = "1000000000000001";
const PAGE2: &str = "1000000000000002";

fn by_pk<'a>(items: &'a [Item], pk: &str) -> Vec<&'a Item> {
    items.iter().filter(|i| s(i, "pk") == pk).collect()
}

async fn subscriber(app: &TestApp, page: &str, psid: &str) -> Option<Item> {
    app.subscriber(page, psid).await
}

async fn consent_log(app: &TestApp, page: &str, psid: &str) -> Vec<Item> {
    let mut items = by_pk(&app.scan("ConsentLogTable").await, &format!("PAGE#{page}#SUB#{psid}"))
        .into_iter()
        .cloned()
        .collect::<Vec<_>>();
    items.sort_by_key(|i| s(i, "sk"));
    items
}

#[tokio::test]
async fn the_subscribe_handshake_echoes_the_challenge_only_for_the_right_token() {
    let app = spawn_app().await;
    let ok = app
        .http
        .get(app.url(&format!(
            "/webhook?hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1158201444"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    let bad = app
        .http
        .get(app.url("/webhook?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 403);
    let body: serde_json::Value = bad.json().await.unwrap();
    assert_eq!(body["error"]["code"], "verification_failed");
    app.stack.stop().await;
}

#[tokio::test]
async fn a_signed_delivery_stores_a_subscriber_a_consent_log_entry_and_an_encrypted_message() {
    let app = spawn_app().await;
    let text = "Bonjour, je voudrais réserver 🙂 a/b";
    let body = meta_escape(&text_delivery(
        PAGE,
        "2000000000000001",
        "m_first",
        text,
        1_718_000_000_000,
    ));
    assert!(
        body.contains("\\u00e9") && body.contains("\\/"),
        "sent in Meta's escaped wire form"
    );
    let resp = app.post_signed(body.as_bytes()).await;
    assert_eq!(resp.status(), 200);

    eventually("subscriber stored", || async {
        subscriber(&app, PAGE, "2000000000000001").await.is_some()
    })
    .await;
    let sub = subscriber(&app, PAGE, "2000000000000001").await.unwrap();
    assert_eq!(s(&sub, "status"), "subscribed");
    assert_eq!(s(&sub, "opt_in_event_key"), "m_first");
    assert_eq!(
        s(&sub, "opt_in_delivery_sha256"),
        optcast_shared::queue::sha256_hex(body.as_bytes())
    );
    assert!(
        sub.contains_key("audience_pk"),
        "a subscribed lead is in the audience index"
    );
    assert_eq!(sub["last_inbound_at_ms"].as_n().unwrap(), "1718000000000");

    let log = consent_log(&app, PAGE, "2000000000000001").await;
    assert_eq!(log.len(), 1);
    assert_eq!(s(&log[0], "to"), "subscribed");
    assert_eq!(s(&log[0], "reason"), "first_contact");
    assert_eq!(s(&log[0], "event_sha256").len(), 64);

    let messages = app.scan("MessagesTable").await;
    assert_eq!(messages.len(), 1);
    let sealed = messages[0]["body"].as_b().unwrap().as_ref().to_vec();
    assert!(!String::from_utf8_lossy(&sealed).contains("Bonjour"));
    assert!(!messages[0].contains_key("text"));

    // The message decrypts with the subject's key, and says what was sent.
    let keys = KeyRing::new(app.kms.clone(), app.physical("DataKey"));
    let (page, psid) = (PageId::parse(PAGE).unwrap(), Psid::parse("2000000000000001").unwrap());
    let wrapped = app
        .scan("SubjectKeysTable")
        .await
        .into_iter()
        .find(|k| s(k, "pk") == format!("PAGE#{PAGE}#SUB#2000000000000001"))
        .expect("the subject's key, kept apart from the subscriber");
    let key = keys
        .unwrap(
            wrapped["data_key"].as_b().unwrap().as_ref(),
            &crypto::subject_key_context(&page, &psid),
        )
        .await
        .unwrap();
    let aad = ingest::field_aad("message", &page, &psid, "m_first");
    let plain: serde_json::Value = serde_json::from_slice(&crypto::open(&key, &aad, &sealed).unwrap()).unwrap();
    assert_eq!(plain["text"], text);
    app.stack.stop().await;
}

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
async fn unsigned_or_forged_deliveries_get_403_and_nothing_is_stored() {
    let app = spawn_app().await;
    let body = text_delivery(PAGE, "2000000000000004", "m_forged", "hello", 1);
    let cases: Vec<Option<String>> = vec![
        None,
        Some("sha256=".to_string() + &"0".repeat(64)),
        Some(sign(b"not-the-secret", body.as_bytes())),
        Some("sha1=0123456789abcdef0123456789abcdef01234567".into()),
        Some("garbage".into()),
    ];
    for header in cases {
        let mut req = app.http.post(app.url("/webhook")).body(body.clone());
        if let Some(h) = &header {
            req = req.header("x-hub-signature-256", h);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 403, "{header:?}");
        let err: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(err["error"]["code"], "invalid_signature");
    }
    // A body signed for other bytes (tampered in transit).
    let resp = app
        .http
        .post(app.url("/webhook"))
        .header("x-hub-signature-256", sign(APP_SECRET.as_bytes(), body.as_bytes()))
        .body(body.replace("hello", "hellO"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(app.queue_depth("IngestQueue").await, 0, "nothing enqueued");
    assert!(app.scan("SubscribersTable").await.is_empty());
    assert!(app.scan("EventsTable").await.is_empty());
    app.stack.stop().await;
}

#[tokio::test]
async fn a_signed_body_that_is_not_a_meta_delivery_is_quarantined_intact_at_once() {
    let app = spawn_app().await;
    let body = br#"{"hello":"this is signed but not a Meta delivery"}"#;
    assert_eq!(app.post_signed(body).await.status(), 200);
    let records = app.wait_quarantined(1).await;
    assert_eq!(records[0].reason, "not_a_delivery");
    assert_eq!(
        app.quarantined_body(&records[0].id).await,
        body,
        "kept exact, replayable"
    );
    app.drain_ingest().await;
    assert!(
        app.dead_letters().await.is_empty(),
        "a permanent fault is not retried five times"
    );
    assert!(app.scan("EventsTable").await.is_empty());
    app.stack.stop().await;
}

#[tokio::test]
async fn a_ciphertext_does_not_contain_the_text_and_fails_under_another_subjects_context() {
    let app = spawn_app().await;
    for (psid, mid, text) in [
        ("2000000000000011", "m_a", "secret plans for alice"),
        ("2000000000000012", "m_b", "bob's words"),
    ] {
        let body = text_delivery(PAGE, psid, mid, text, 1_718_000_000_000);
        assert_eq!(app.post_signed(body.as_bytes()).await.status(), 200);
    }
    eventually("both stored", || async { app.scan("MessagesTable").await.len() == 2 }).await;
    for table in ["SubscribersTable", "MessagesTable", "ConsentLogTable", "EventsTable"] {
        let dump = format!("{:?}", app.scan(table).await);
        assert!(
            !dump.contains("secret plans") && !dump.contains("bob's words"),
            "{table} holds plaintext"
        );
    }
    let page = PageId::parse(PAGE).unwrap();
    let (alice, bob) = (
        Psid::parse("2000000000000011").unwrap(),
        Psid::parse("2000000000000012").unwrap(),
    );
    let messages = app.scan("MessagesTable").await;
    let alice_msg = messages
        .iter()
        .find(|m| s(m, "pk").ends_with("#SUB#2000000000000011"))
        .unwrap();
    let sealed = alice_msg["body"].as_b().unwrap().as_ref();
    let wrapped = |psid: &'static str| {
        let app = &app;
        async move {
            let keys = app.scan("SubjectKeysTable").await;
            let item = keys
                .iter()
                .find(|k| s(k, "pk") == format!("PAGE#{PAGE}#SUB#{psid}"))
                .unwrap();
            item["data_key"].as_b().unwrap().as_ref().to_vec()
        }
    };
    let (alice_wrapped, bob_wrapped) = (wrapped("2000000000000011").await, wrapped("2000000000000012").await);
    // The key lives apart from the subscriber record (which is backed up).
    assert!(!subscriber(&app, PAGE, "2000000000000011")
        .await
        .unwrap()
        .contains_key("data_key"));
    let keys = KeyRing::new(app.kms.clone(), app.physical("DataKey"));
    let alice_key = keys
        .unwrap(&alice_wrapped, &crypto::subject_key_context(&page, &alice))
        .await
        .unwrap();
    let bob_key = keys
        .unwrap(&bob_wrapped, &crypto::subject_key_context(&page, &bob))
        .await
        .unwrap();
    // Bob's key, Bob's context: fails.
    assert!(crypto::open(&bob_key, &ingest::field_aad("message", &page, &bob, "m_a"), sealed).is_err());
    // Alice's key but the record moved to Bob's context: fails.
    assert!(crypto::open(&alice_key, &ingest::field_aad("message", &page, &bob, "m_a"), sealed).is_err());
    // Alice's wrapped key presented under Bob's KMS context: KMS refuses.
    let fresh = KeyRing::new(app.kms.clone(), app.physical("DataKey"));
    assert!(fresh
        .unwrap(&alice_wrapped, &crypto::subject_key_context(&page, &bob))
        .await
        .is_err());
    // And the right key and context open it.
    assert!(crypto::open(&alice_key, &ingest::field_aad("message", &page, &alice, "m_a"), sealed).is_ok());
    app.stack.stop().await;
}

#[tokio::test]
async fn when_the_emulator_is_down_a_signed_post_gets_a_5xx_so_meta_retries() {
    let live = aws_at(&endpoint()).await;
    let opts = options(&unique_prefix());
    let template = optcast_local::Template::load(std::path::Path::new(&opts.template)).unwrap();
    let provisioned = optcast_local::Provisioner::new(&template, &opts.prefix, &live)
        .run()
        .await
        .unwrap();
    // Same resources, but every AWS call goes to a port nobody listens on.
    let dead = aws_at("http://127.0.0.1:9").await;
    let stack = optcast_local::serve(provisioned, &opts, &dead, false).await.unwrap();
    let body = text_delivery(PAGE, "2000000000000005", "m_down", "hello", 1);
    let resp = reqwest::Client::new()
        .post(stack.url("/webhook"))
        .header("x-hub-signature-256", sign(APP_SECRET.as_bytes(), body.as_bytes()))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    let err: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(err["error"]["code"], "enqueue_failed");
    stack.stop().await;
}

#[tokio::test]
async fn a_delivery_too_large_for_sqs_travels_through_s3_encrypted_and_is_ingested() {
    let mut app = spawn_app_with(|o| o.held_functions = vec!["ingest".into()]).await;
    let big_text = "x".repeat(1900);
    let items: Vec<_> = (0..150)
        .map(|i| {
            serde_json::json!({"sender":{"id":format!("2100000000{i:06}")},"recipient":{"id":PAGE},"timestamp":1_718_000_000_000i64 + i,
                "message":{"mid":format!("m_big{i}"),"text":big_text}})
        })
        .collect();
    let body = serde_json::json!({"object":"page","entry":[{"id":PAGE,"time":1,"messaging":items}]}).to_string();
    assert!(body.len() > optcast_shared::queue::INLINE_LIMIT);
    // Meta retries the same body before the first is ingested: each delivery
    // has its own claim object, so ingesting one never deletes the other's.
    assert_eq!(app.post_signed(body.as_bytes()).await.status(), 200);
    assert_eq!(app.post_signed(body.as_bytes()).await.status(), 200);
    app.stack.resume("ingest");
    eventually("all 150 ingested", || async {
        app.scan("SubscribersTable").await.len() == 150
    })
    .await;
    app.drain_ingest().await;
    assert!(app.dead_letters().await.is_empty(), "the retry's claim went missing");
    // The claim object is deleted once ingested; old versions hold only ciphertext.
    let versions = app
        .s3
        .list_object_versions()
        .bucket(app.physical("DataBucket"))
        .send()
        .await
        .unwrap();
    for v in versions.versions() {
        let obj = app
            .s3
            .get_object()
            .bucket(app.physical("DataBucket"))
            .key(v.key().unwrap())
            .version_id(v.version_id().unwrap())
            .send()
            .await
            .unwrap();
        let bytes = obj.body.collect().await.unwrap().into_bytes();
        assert!(
            !String::from_utf8_lossy(&bytes).contains("xxxxxxxxxx"),
            "claim stored in plaintext"
        );
    }
    let current = app
        .s3
        .list_objects_v2()
        .bucket(app.physical("DataBucket"))
        .send()
        .await
        .unwrap();
    assert_eq!(current.key_count().unwrap_or(0), 0, "claim deleted after ingest");
    app.stack.stop().await;
}

#[tokio::test]
async fn a_body_over_the_size_limit_is_refused_with_413() {
    let app = spawn_app().await;
    let body = vec![b'a'; webhook::MAX_BODY_BYTES + 1];
    let resp = app.post_signed(&body).await;
    assert_eq!(resp.status(), 413);
    assert_eq!(app.queue_depth("IngestQueue").await, 0);
    app.stack.stop().await;
}

#[tokio::test]
async fn the_invoke_api_runs_the_webhook_with_a_base64_encoded_api_gateway_event() {
    use base64::Engine;
    let app = spawn_app().await;
    let body = meta_escape(&text_delivery(
        PAGE,
        "2000000000000006",
        "m_b64",
        "olá",
        1_718_000_000_000,
    ));
    let event = serde_json::json!({
        "version": "2.0", "routeKey": "POST /webhook", "rawPath": "/webhook", "rawQueryString": "",
        "headers": { "x-hub-signature-256": sign(APP_SECRET.as_bytes(), body.as_bytes()), "content-type": "application/json" },
        "requestContext": { "accountId": "123456789012", "apiId": "api", "domainName": "localhost", "domainPrefix": "localhost",
            "http": { "method": "POST", "path": "/webhook", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "test" },
            "requestId": "r1", "routeKey": "POST /webhook", "stage": "$default", "time": "23/Nov/2026:00:00:00 +0000", "timeEpoch": 0 },
        "body": base64::engine::general_purpose::STANDARD.encode(body.as_bytes()),
        "isBase64Encoded": true
    });
    let resp = app
        .http
        .post(app.url("/2015-03-31/functions/webhook/invocations"))
        .json(&event)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let out: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(out["statusCode"], 200, "{out}");
    eventually("ingested", || async {
        subscriber(&app, PAGE, "2000000000000006").await.is_some()
    })
    .await;

    // The same through the ingest function's Invoke API with an SQS event.
    let resp = app
        .http
        .post(app.url("/2015-03-31/functions/ingest/invocations"))
        .json(&serde_json::json!({"Records":[{"messageId":"x1","body":"not a job"}]}))
        .send()
        .await
        .unwrap();
    let out: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(out["batchItemFailures"][0]["itemIdentifier"], "x1");
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

#[tokio::test]
async fn logs_never_contain_message_text_tokens_or_raw_psids() {
    let app = spawn_app().await;
    let psid = "2000000000987654";
    let text = "my phone is 555-0199, call me";
    let body = text_delivery(PAGE, psid, "m_logs", text, 1_718_000_000_000);
    assert_eq!(app.post_signed(body.as_bytes()).await.status(), 200);
    let optin = serde_json::json!({"object":"page","entry":[{"id":PAGE,"time":1,"messaging":[
        {"sender":{"id":psid},"recipient":{"id":PAGE},"timestamp":1_718_000_000_100i64,
         "optin":{"type":"notification_messages","notification_messages_token":"SECRET-MM-TOKEN-42"}}]}]})
    .to_string();
    assert_eq!(app.post_signed(optin.as_bytes()).await.status(), 200);
    // And a forged one, which is logged as refused.
    let forged = app
        .http
        .post(app.url("/webhook"))
        .header("x-hub-signature-256", "sha256=00")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    app.drain_ingest().await;
    eventually("both events applied", || async {
        app.scan("EventsTable").await.len() == 2
    })
    .await;
    let logs = captured_logs();
    let hash = optcast_shared::telemetry::subject_hash(psid);
    assert!(logs.contains(&hash), "ingest logs name the subject by hash");
    for secret in [
        psid,
        "555-0199",
        "call me",
        "SECRET-MM-TOKEN-42",
        APP_SECRET,
        VERIFY_TOKEN,
    ] {
        assert!(!logs.contains(secret), "logs contain {secret:?}");
    }
    app.stack.stop().await;
}
