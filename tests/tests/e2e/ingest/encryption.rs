//! What ingestion stores and how it is sealed: the subscriber, the consent
//! log and the message under the subject's key (through S3 when large), and
//! what never reaches the logs.

use super::{consent_log, subscriber, PAGE};
use optcast_shared::crypto::{self, KeyRing};
use optcast_shared::ids::{PageId, Psid};
use optcast_tests::*;

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
