//! Erasure through the API: the subject's key is shredded and no trace is
//! left, late deliveries do not bring the lead back, and an erasure that
//! cannot be queued destroys nothing.

use optcast_shared::crypto::{self, KeyRing};
use optcast_shared::ids::{PageId, Psid};
use optcast_tests::*;
use reqwest::Method;
use serde_json::json;

use super::{erase, PAGE};

#[tokio::test]
async fn erasure_shreds_the_key_and_leaves_no_trace_of_the_subject() {
    // A PSID no other test uses: the logs of every test are captured together.
    const ERASEME: &str = "2999999999999007";
    const KEEPME: &str = "2000000000000008";
    let app = spawn_app().await;
    app.register_page(PAGE).await;
    let secret_text = "my very private words 7731";
    app.say(PAGE, ERASEME, "m_e1", secret_text).await;
    app.say(PAGE, ERASEME, "m_e2", "STOP").await;
    app.say(PAGE, ERASEME, "m_e3", "START").await;
    app.say(PAGE, KEEPME, "m_k1", "keep me").await;
    let id = app
        .create_broadcast(json!({"page_id": PAGE, "message": {"text": "Spring offer"}}))
        .await;
    app.wait_state(&id, "done").await;
    assert_eq!(app.sends_to(ERASEME), 1);

    // What a backup would hold: the sealed message and the wrapped key.
    let page = PageId::parse(PAGE).unwrap();
    let psid = Psid::parse(ERASEME).unwrap();
    let messages = app.scan("MessagesTable").await;
    let old = messages.iter().find(|m| s(m, "sk").ends_with("#m_e1")).unwrap().clone();
    let old_sealed = old["body"].as_b().unwrap().as_ref().to_vec();
    let keys = KeyRing::new(app.kms.clone(), app.physical("DataKey"));
    let before = app.dump_tables().await;
    assert!(before.contains(ERASEME));

    let request = erase(&app, ERASEME).await;
    let (_, status) = app.api(Method::GET, &format!("/v1/erasure/{request}"), None).await;
    assert_eq!(status["status"], "completed", "{status}");
    assert_eq!(status["report"]["messages"], 3, "{status}");
    assert_eq!(status["report"]["deliveries"], 1, "{status}");
    // The lead's record, destroyed by the API's shred, counts once (the
    // eraser found none to count: it read 0).
    assert_eq!(status["report"]["subscriber"], 1, "{status}");

    // No trace of the PSID or the text in any table or object version.
    let after = app.dump_tables().await;
    assert!(!after.contains(ERASEME), "{after}");
    assert!(!after.contains(secret_text));
    let (_, objects) = app.dump_bucket().await;
    assert!(!objects.contains(ERASEME) && !objects.contains(secret_text));
    // The other lead is untouched; the proof stays as a hashed tombstone.
    assert!(after.contains(KEEPME));
    let tombstones: Vec<_> = app
        .scan("ConsentLogTable")
        .await
        .into_iter()
        .filter(|i| s(i, "pk") == optcast_shared::store::tombstone_pk(&page, &psid))
        .collect();
    assert_eq!(tombstones.len(), 1);
    assert_eq!(tombstones[0]["history"].as_l().unwrap().len(), 3);
    assert_eq!(s(&tombstones[0], "reason"), "request");
    let (status, _) = app
        .api(Method::GET, &format!("/v1/pages/{PAGE}/subscribers/{ERASEME}"), None)
        .await;
    assert_eq!(status, 404);

    // A second request succeeds and changes nothing.
    let snapshot = || async {
        let mut all = Vec::new();
        for table in TABLES.iter().filter(|t| **t != "PrivacyTable") {
            all.extend(app.scan(table).await.into_iter().map(|i| (table.to_string(), i)));
        }
        all
    };
    let before_again = snapshot().await;
    let again = erase(&app, ERASEME).await;
    let (_, status) = app.api(Method::GET, &format!("/v1/erasure/{again}"), None).await;
    assert_eq!(status["status"], "no_data", "{status}");
    let after_again = snapshot().await;
    assert_eq!(after_again.len(), before_again.len());
    assert!(after_again.iter().all(|i| before_again.contains(i)));

    // Never in an audience again...
    let id = app
        .create_broadcast(json!({"page_id": PAGE, "message": {"text": "Summer offer"}}))
        .await;
    app.wait_state(&id, "done").await;
    assert_eq!(app.sends_to(ERASEME), 1);
    assert_eq!(app.sends_to(KEEPME), 2);
    // ...unless they start a new conversation: a fresh consent, a new key,
    // under which the old ciphertext does not open.
    app.say(PAGE, ERASEME, "m_e4", "hello again").await;
    let (status, lead) = app
        .api(Method::GET, &format!("/v1/pages/{PAGE}/subscribers/{ERASEME}"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(lead["history"].as_array().unwrap().len(), 1, "{lead}");
    assert_eq!(lead["opted_in"]["event_key"], "m_e4");
    let new_key = app
        .scan("SubjectKeysTable")
        .await
        .into_iter()
        .find(|k| s(k, "pk").ends_with(&format!("#SUB#{ERASEME}")))
        .unwrap();
    let new_key = keys
        .unwrap(
            new_key["data_key"].as_b().unwrap().as_ref(),
            &crypto::subject_key_context(&page, &psid),
        )
        .await
        .unwrap();
    assert!(matches!(
        crypto::open(
            &new_key,
            &crypto::field_aad("message", &page, &psid, "m_e1"),
            &old_sealed
        ),
        Err(crypto::CryptoError::Undecryptable)
    ));
    // Nothing of theirs reached the logs either.
    let logs = captured_logs();
    assert!(!logs.contains(ERASEME) && !logs.contains(secret_text));
}

#[tokio::test]
async fn a_message_sent_before_an_erasure_and_delivered_after_it_does_not_bring_the_lead_back() {
    let app = spawn_app().await;
    let t = optcast_shared::http::now_ms();
    app.say_at(PAGE, "2000000000000201", "m_late0", "first words", t - 60_000)
        .await;
    erase(&app, "2000000000000201").await;
    // Written before the erasure, delivered after it (a retry, a DLQ replay).
    app.say_at(PAGE, "2000000000000201", "m_late1", "late words", t - 30_000)
        .await;
    let tables = app.dump_tables().await;
    assert!(!tables.contains("2000000000000201"), "{tables}");
    // Writing again afterwards is a new conversation: a fresh lead.
    app.say_at(
        PAGE,
        "2000000000000201",
        "m_late2",
        "hello again",
        optcast_shared::http::now_ms() + 1_000,
    )
    .await;
    let (status, lead) = app
        .api(
            Method::GET,
            &format!("/v1/pages/{PAGE}/subscribers/2000000000000201"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{lead}");
    assert_eq!(lead["status"], "subscribed", "{lead}");
    app.stack.stop().await;
}

#[tokio::test]
async fn a_stop_sent_before_an_erasure_and_delivered_after_it_still_holds_when_they_write_again() {
    let app = spawn_app().await;
    app.register_page(PAGE).await;
    let psid = "2000000000000203";
    let t = optcast_shared::http::now_ms();
    app.say_at(PAGE, psid, "m_kept0", "first words", t - 60_000).await;
    erase(&app, psid).await;
    // Their STOP, sent before the erasure, reaches us after it (a retry).
    app.say_at(PAGE, psid, "m_kept1", "STOP", t - 30_000).await;
    let tables = app.dump_tables().await;
    assert!(!tables.contains(psid), "nothing of theirs comes back: {tables}");
    // Writing again is no opt-in: their STOP stands, as it would have had
    // it arrived before the erasure.
    app.say_at(
        PAGE,
        psid,
        "m_kept2",
        "hello again",
        optcast_shared::http::now_ms() + 1_000,
    )
    .await;
    assert_eq!(app.status(PAGE, psid).await, "none");
    let id = app
        .create_broadcast(json!({"page_id": PAGE, "message": {"text": "Summer offer"}}))
        .await;
    app.wait_state(&id, "done").await;
    assert_eq!(app.sends_to(psid), 0);
    app.say_at(PAGE, psid, "m_kept3", "START", optcast_shared::http::now_ms() + 2_000)
        .await;
    assert_eq!(app.status(PAGE, psid).await, "subscribed");
    app.stack.stop().await;
}

#[tokio::test]
async fn what_was_sent_before_an_erasure_does_not_come_back_on_the_lead_begun_after_it_but_its_stop_holds() {
    let app = spawn_app().await;
    let psid = "2000000000000202";
    let t = optcast_shared::http::now_ms();
    app.say_at(PAGE, psid, "m_past0", "first words", t - 60_000).await;
    erase(&app, psid).await;
    // They write again: a new conversation, a new lead.
    app.say_at(
        PAGE,
        psid,
        "m_past1",
        "hello again",
        optcast_shared::http::now_ms() + 1_000,
    )
    .await;
    // Then Meta's late retries of what they sent before the erasure.
    app.say_at(PAGE, psid, "m_past2", "late words", t - 30_000).await;
    let texts = |messages: Vec<(String, serde_json::Value)>| -> Vec<String> {
        messages.iter().map(|(_, body)| body["text"].to_string()).collect()
    };
    assert_eq!(texts(app.opened_messages(PAGE, psid).await), [r#""hello again""#]);
    assert_eq!(app.status(PAGE, psid).await, "subscribed");
    // Their STOP from before: honoured (never sending to someone who said
    // STOP is the safe side), with its proof, and its words not kept.
    app.say_at(PAGE, psid, "m_past3", "STOP", t - 20_000).await;
    assert_eq!(app.status(PAGE, psid).await, "unsubscribed");
    assert_eq!(texts(app.opened_messages(PAGE, psid).await), [r#""hello again""#]);
    let (status, lead) = app
        .api(Method::GET, &format!("/v1/pages/{PAGE}/subscribers/{psid}"), None)
        .await;
    assert_eq!(status, 200, "{lead}");
    // In the history from when it took effect on the new lead; its proof
    // keeps the time the person sent it.
    let history = lead["history"].as_array().cloned().unwrap_or_default();
    let stop = history.iter().find(|e| e["proof"]["event_key"] == "m_past3");
    assert_eq!(stop.map(|e| &e["to"]), Some(&json!("unsubscribed")), "{lead}");
    let began = history
        .iter()
        .find(|e| e["reason"] == "first_contact")
        .map(|e| e["at_ms"].as_i64());
    assert!(stop.map(|e| e["at_ms"].as_i64()) >= began, "{lead}");
    app.stack.stop().await;
}

#[tokio::test]
async fn a_write_prepared_from_a_lead_before_its_erasure_cannot_land_on_the_lead_begun_after_it() {
    use optcast_shared::store::{CommitOutcome, EventCommit, EventMarker};
    let app = spawn_app().await;
    let psid = "2000000000000203";
    let (page, person) = (PageId::parse(PAGE).unwrap(), Psid::parse(psid).unwrap());
    app.say(PAGE, psid, "m_gen0", "first words").await;
    let store = app.lead_store();
    // What ingest read for an event of theirs, before committing it.
    let stale = store.subscriber(&page, &person).await.unwrap().unwrap();
    erase(&app, psid).await;
    app.say_at(
        PAGE,
        psid,
        "m_gen1",
        "hello again",
        optcast_shared::http::now_ms() + 1_000,
    )
    .await;
    let begun_again = store.subscriber(&page, &person).await.unwrap().unwrap();
    assert_eq!(
        stale.version, begun_again.version,
        "each lifetime starts at the same version"
    );
    // That event's commit, from what it read: refused, nothing of it lands.
    let mut from_before = stale.clone();
    from_before.tags.insert("from-before-the-erasure".into());
    let now = optcast_shared::http::now_ms();
    let commit = EventCommit {
        marker: EventMarker {
            page_id: page.clone(),
            subject: Some(person.clone()),
            key: "m_gen_stale".into(),
            kind: "message".into(),
            received_at_ms: now,
            expires_at_s: now / 1000 + 86_400,
        },
        subscriber: Some(from_before),
        consent: None,
        message: None,
        attributions: Vec::new(),
        tombstone: None,
        tombstone_stop: None,
    };
    assert_eq!(store.commit(&commit).await.unwrap(), CommitOutcome::Conflict);
    let lead = store.subscriber(&page, &person).await.unwrap().unwrap();
    assert!(lead.tags.is_empty(), "{:?}", lead.tags);
    assert!(lead.prior_erasure_at_ms.is_some());
    assert_ne!(lead.generation, stale.generation);
    app.stack.stop().await;
}

#[tokio::test]
async fn a_lead_stored_before_generations_is_still_written_and_read() {
    let app = spawn_app().await;
    let psid = "2000000000000204";
    app.say(PAGE, psid, "m_old0", "first words").await;
    // As a lead stored before generations were kept.
    app.ddb
        .update_item()
        .table_name(app.physical("SubscribersTable"))
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(format!("PAGE#{PAGE}")))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(format!("SUB#{psid}")))
        .update_expression("REMOVE generation")
        .send()
        .await
        .unwrap();
    app.say(PAGE, psid, "m_old1", "STOP").await;
    assert_eq!(app.status(PAGE, psid).await, "unsubscribed");
    assert_eq!(app.opened_messages(PAGE, psid).await.len(), 2);
    // It got a generation with that event.
    let lead = app.subscriber(PAGE, psid).await.unwrap();
    assert_eq!(s(&lead, "generation").len(), 16, "{lead:?}");
    // And erased as any other.
    erase(&app, psid).await;
    assert_eq!(app.status(PAGE, psid).await, "none");
    app.stack.stop().await;
}

#[tokio::test]
async fn an_erasure_that_cannot_be_queued_is_a_503_that_destroys_nothing_and_a_retry_completes() {
    let (faults, adjust) = behind_faults("api").await;
    let app = spawn_app_with(adjust).await;
    app.say(PAGE, "2000000000000301", "m_q1", "keep me for now").await;
    faults.fail_next("sqs:SendMessage", 3);
    let body = json!({"page_id": PAGE, "psid": "2000000000000301"});
    let (status, out) = app.api(Method::POST, "/v1/erasure", Some(body.clone())).await;
    assert_eq!(status, 503, "{out}");
    // Nothing half done: the lead and their messages are still readable.
    let (status, export) = app
        .api(
            Method::GET,
            &format!("/v1/export?page_id={PAGE}&psid=2000000000000301"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{export}");
    assert!(export.to_string().contains("keep me for now"));
    // The caller's retry goes through and completes.
    let (status, out) = app.api(Method::POST, "/v1/erasure", Some(body)).await;
    assert_eq!(status, 202, "{out}");
    let id = out["request_id"].as_str().unwrap().to_string();
    eventually("erasure completed", || async {
        app.api(Method::GET, &format!("/v1/erasure/{id}"), None).await.1["status"] == "completed"
    })
    .await;
    assert!(!app.dump_tables().await.contains("2000000000000301"));
    app.stack.stop().await;
}

#[tokio::test]
async fn an_erasure_job_dead_lettered_on_every_try_is_sent_back_by_the_sweep_and_completes() {
    const SUBJECT: &str = "2999999999999311";
    let (faults, adjust) = behind_faults("eraser").await;
    let app = spawn_app_with(adjust).await;
    app.register_page(PAGE).await;
    app.say(PAGE, SUBJECT, "m_dl1", "erase me once you can").await;
    // DynamoDB fails the eraser on every try, until its job is dead-lettered.
    faults.fail_next("dynamodb:GetItem", 1_000_000);
    let body = json!({"page_id": PAGE, "psid": SUBJECT});
    let (status, out) = app.api(Method::POST, "/v1/erasure", Some(body)).await;
    assert_eq!(status, 202, "{out}");
    let id = out["request_id"].as_str().unwrap().to_string();
    let status_of = || async { app.api(Method::GET, &format!("/v1/erasure/{id}"), None).await.1["status"].clone() };
    eventually("the job dead-lettered", || async {
        app.queue_depth("ErasureDeadLetterQueue").await == 1
    })
    .await;
    assert_eq!(status_of().await, "pending");
    assert!(app.dump_tables().await.contains(SUBJECT));

    // DynamoDB is back: the next sweep sends the job back, and it completes.
    faults.fail_next("dynamodb:GetItem", 0);
    let report = app.invoke_at("sweeper", optcast_shared::http::now_ms()).await;
    assert_eq!(report["erasure_jobs_redriven"]["moved"], 1, "{report}");
    eventually("erasure completed", || async { status_of().await == "completed" }).await;
    assert!(!app.dump_tables().await.contains(SUBJECT));
    assert_eq!(app.queue_depth("ErasureDeadLetterQueue").await, 0);
    app.stack.stop().await;
}

#[tokio::test]
async fn the_sweep_leaves_a_message_that_is_no_job_and_a_job_sent_back_too_often_visible_in_the_dead_letter_queue() {
    use aws_sdk_sqs::types::{MessageAttributeValue, QueueAttributeName};
    use optcast_shared::queue::{self, ErasureJob, ErasureTarget, MAX_REDRIVES, REDRIVES_ATTRIBUTE};
    let app = spawn_app().await;
    let dlq = app.physical("ErasureDeadLetterQueue");
    let job = ErasureJob::ErasureV1 {
        request_id: "r-exhausted".into(),
        target: ErasureTarget::Subject {
            page_id: PageId::parse(PAGE).unwrap(),
            psid: Psid::parse("2999999999999312").unwrap(),
        },
        found_before: false,
        shredded_at_ms: None,
    };
    let count = MessageAttributeValue::builder()
        .data_type("Number")
        .string_value(MAX_REDRIVES.to_string())
        .build()
        .unwrap();
    app.sqs
        .send_message()
        .queue_url(&dlq)
        .message_body(queue::to_body(&job).unwrap())
        .message_attributes(REDRIVES_ATTRIBUTE, count)
        .send()
        .await
        .unwrap();
    app.sqs
        .send_message()
        .queue_url(&dlq)
        .message_body(r#"{"type":"erasure.v9","whatever":1}"#)
        .send()
        .await
        .unwrap();

    let report = app.invoke_at("sweeper", optcast_shared::http::now_ms()).await;
    let redriven = &report["erasure_jobs_redriven"];
    assert_eq!(
        (&redriven["moved"], &redriven["unreadable"], &redriven["exhausted"]),
        (&json!(0), &json!(1), &json!(1)),
        "{report}"
    );
    // Both wait there, visible at once (the alarm stays on); nothing went
    // to the eraser.
    let visible = app
        .sqs
        .get_queue_attributes()
        .queue_url(&dlq)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .unwrap();
    let visible = visible
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages))
        .cloned();
    assert_eq!(visible.as_deref(), Some("2"));
    assert_eq!(app.queue_depth("ErasureQueue").await, 0);
    app.stack.stop().await;
}

/// Erased while unsubscribed, they say STOP again after the erasure, and a
/// START they sent before that STOP reaches us after it (Meta's retry): the
/// STOP is their last word, kept on the tombstone, and no lead comes back.
/// The STOP was only recorded before, and the START, newer than the STOP
/// the tombstone kept, made them a subscribed lead.
#[tokio::test]
async fn a_stop_after_the_erasure_of_an_unsubscribed_lead_outranks_an_older_start_delivered_after_it() {
    let app = spawn_app().await;
    let psid = "2000000000000205";
    let t = optcast_shared::http::now_ms();
    app.say_at(PAGE, psid, "m_us0", "hi", t - 60_000).await;
    app.say_at(PAGE, psid, "m_us1", "STOP", t - 50_000).await;
    erase(&app, psid).await;
    let erased = optcast_shared::http::now_ms();
    // Both sent after the erasure and before they reach us (a time ahead of
    // the receipt would be capped to it).
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    app.say_at(PAGE, psid, "m_us2", "STOP", erased + 2_000).await;
    app.say_at(PAGE, psid, "m_us3", "START", erased + 1_000).await;
    assert_eq!(app.status(PAGE, psid).await, "none", "the later STOP stands");
    let tables = app.dump_tables().await;
    assert!(!tables.contains(psid), "nothing of theirs comes back: {tables}");
    app.stack.stop().await;
}

/// Two events of an erased person decided side by side on the same
/// tombstone: a STOP sent before the erasure (kept on the tombstone) and a
/// "hi" after it (a new lead). Whichever commits second is refused
/// (`Conflict`: ingest reads again and decides on what the first left),
/// so the STOP never ends on a tombstone beside a subscribed lead. Both
/// committed before.
#[tokio::test]
async fn a_stop_kept_on_a_tombstone_and_a_new_lead_begun_on_it_cannot_both_commit() {
    use optcast_shared::consent::SubscriberStatus;
    use optcast_shared::lead::Subscriber;
    use optcast_shared::meta::Platform;
    use optcast_shared::store::{CommitOutcome, EventCommit, EventMarker};
    let app = spawn_app().await;
    let store = app.lead_store();
    let now = optcast_shared::http::now_ms();
    let commit = |psid: &Psid, key: &str| EventCommit {
        marker: EventMarker {
            page_id: PageId::parse(PAGE).unwrap(),
            subject: Some(psid.clone()),
            key: key.into(),
            kind: "message".into(),
            received_at_ms: now,
            expires_at_s: now / 1000 + 86_400,
        },
        subscriber: None,
        consent: None,
        message: None,
        attributions: Vec::new(),
        tombstone: None,
        tombstone_stop: None,
    };
    let page = PageId::parse(PAGE).unwrap();
    let new_lead = |psid: &Psid| Subscriber::new(page.clone(), psid.clone(), Platform::Messenger, vec![7; 32], now);
    for (psid, stop_first) in [("2000000000000206", false), ("2000000000000207", true)] {
        let person = Psid::parse(psid).unwrap();
        app.say_at(PAGE, psid, &format!("m_race0_{psid}"), "hi", now - 60_000)
            .await;
        erase(&app, psid).await;
        let read = store.last_tombstone(&page, &person).await.unwrap().unwrap();
        let stop = EventCommit {
            tombstone: Some(read.clone()),
            tombstone_stop: Some(now - 30_000),
            ..commit(&person, &format!("m_race_stop_{psid}"))
        };
        let hi = EventCommit {
            subscriber: Some(new_lead(&person)),
            tombstone: Some(read),
            ..commit(&person, &format!("m_race_hi_{psid}"))
        };
        let (first, second) = if stop_first { (stop, hi) } else { (hi, stop) };
        assert_eq!(store.commit(&first).await.unwrap(), CommitOutcome::Applied, "{psid}");
        assert_eq!(store.commit(&second).await.unwrap(), CommitOutcome::Conflict, "{psid}");
        let lead = store.subscriber(&page, &person).await.unwrap();
        let tombstone = store.last_tombstone(&page, &person).await.unwrap().unwrap();
        if stop_first {
            assert!(lead.is_none(), "no lead begun on the tombstone the STOP changed");
            assert_eq!(tombstone.status_before, Some(SubscriberStatus::Unsubscribed));
        } else {
            assert!(lead.is_some());
            assert_eq!(
                tombstone.status_before,
                Some(SubscriberStatus::Subscribed),
                "the STOP goes to the lead when read again"
            );
        }
    }
    app.stack.stop().await;
}
