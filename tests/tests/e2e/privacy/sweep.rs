//! The retention sweep: exactly the expired data goes, resumably, as of
//! the clock, through throttling; long-unsubscribed leads are purged keeping
//! the proof.

use optcast_shared::ids::{PageId, Psid};
use optcast_shared::retention::DAY_MS;
use optcast_tests::*;
use serde_json::json;

use super::PAGE;

async fn sweep_until_complete(app: &TestApp, now_ms: i64) -> (usize, serde_json::Map<String, serde_json::Value>) {
    let mut totals = serde_json::Map::new();
    for run in 1..=50 {
        let report = app.invoke_at("sweeper", now_ms).await;
        assert!(report["errors"].as_array().is_some_and(|e| e.is_empty()), "{report}");
        for (k, v) in report["deleted"].as_object().unwrap() {
            let sum = totals.get(k).and_then(|t| t.as_u64()).unwrap_or(0) + v.as_u64().unwrap();
            totals.insert(k.clone(), sum.into());
        }
        if report["complete"] == true {
            return (run, totals);
        }
    }
    panic!("the sweep never completed");
}

#[tokio::test]
async fn the_sweep_deletes_exactly_the_expired_data_and_resumes_when_interrupted() {
    // A tiny budget per run: the backlog takes several runs.
    let app = spawn_app_with(|o| {
        o.overrides.insert("SWEEP_MAX_DELETES_PER_RUN".into(), "4".into());
    })
    .await;
    app.register_page(PAGE).await; // retention 30 days
    let t = optcast_shared::http::now_ms();
    for i in 0..5 {
        app.say_at(
            PAGE,
            &format!("20000000000006{:02}", i % 2),
            &format!("m_old{i}"),
            "old words",
            t - 100 * DAY_MS,
        )
        .await;
    }
    let attachment = json!({"object":"page","entry":[{"id":PAGE,"time":t,"messaging":[{
        "sender":{"id":"2000000000000600"},"recipient":{"id":PAGE},"timestamp":t - 100 * DAY_MS,
        "message":{"mid":"m_old_att","attachments":[{"type":"image","payload":{"url":"https://x.example/a.jpg"}}]}}]}]})
    .to_string();
    assert_eq!(app.post_signed(attachment.as_bytes()).await.status(), 200);
    for i in 0..3 {
        app.say_at(PAGE, "2000000000000701", &format!("m_new{i}"), "new words", t - DAY_MS)
            .await;
    }
    eventually("all ingested", || async { app.scan("MessagesTable").await.len() == 9 }).await;
    // A leftover raw payload with an old version and a delete marker.
    let bucket = app.physical("DataBucket");
    for body in ["raw v1", "raw v2"] {
        app.s3
            .put_object()
            .bucket(&bucket)
            .key("claims/19000/leftover")
            .body(body.as_bytes().to_vec().into())
            .send()
            .await
            .unwrap();
    }
    app.s3
        .delete_object()
        .bucket(&bucket)
        .key("claims/19000/leftover")
        .send()
        .await
        .unwrap();
    let id = app
        .create_broadcast(json!({"page_id": PAGE, "message": {"text": "Offer"}}))
        .await;
    app.wait_state(&id, "done").await;
    let deliveries = app.scan("DeliveriesTable").await.len();
    assert_eq!(deliveries, 3);
    let markers = app.scan("EventsTable").await.len();

    // 20 days on: only the 100-day-old messages have expired (6 of them).
    // The first run deletes its 4 and then "dies" before its checkpoint: the
    // next runs start that partition over and still miss or recount nothing.
    let first = app.invoke_at("sweeper", t + 20 * DAY_MS).await;
    assert_eq!(first["deleted"]["messages"], 4, "{first}");
    let privacy = app.physical("PrivacyTable");
    let checkpoints: Vec<Item> = app
        .scan("PrivacyTable")
        .await
        .into_iter()
        .filter(|i| s(i, "pk").starts_with("SWEEP#"))
        .collect();
    assert!(!checkpoints.is_empty());
    for c in checkpoints {
        app.ddb
            .delete_item()
            .table_name(&privacy)
            .set_key(Some(optcast_shared::store::base_key(&c)))
            .send()
            .await
            .unwrap();
    }
    let (runs, mut deleted) = sweep_until_complete(&app, t + 20 * DAY_MS).await;
    assert_eq!(first["complete"], false, "{first}");
    for (k, v) in first["deleted"].as_object().unwrap() {
        let sum = deleted.get(k).and_then(|t| t.as_u64()).unwrap_or(0) + v.as_u64().unwrap();
        deleted.insert(k.clone(), sum.into());
    }
    assert_eq!(deleted.get("messages").and_then(|v| v.as_u64()), Some(6), "{deleted:?}");
    assert_eq!(
        deleted.get("attachments").and_then(|v| v.as_u64()),
        Some(1),
        "{deleted:?}"
    );
    assert_eq!(deleted.get("deliveries").and_then(|v| v.as_u64()).unwrap_or(0), 0);
    let left = app.scan("MessagesTable").await;
    assert_eq!(left.len(), 3);
    assert!(left.iter().all(|m| s(m, "sk").contains("#m_new")));
    assert_eq!(app.scan("DeliveriesTable").await.len(), deliveries);
    assert_eq!(app.scan("EventsTable").await.len(), markers);
    // Re-running changes nothing and counts nothing.
    let (_, again) = sweep_until_complete(&app, t + 20 * DAY_MS).await;
    assert!(again.values().all(|v| v == 0), "{again:?}");

    // 40 days on: everything else has expired, raw payload versions too.
    let (_, deleted) = sweep_until_complete(&app, t + 40 * DAY_MS).await;
    assert_eq!(deleted.get("messages").and_then(|v| v.as_u64()), Some(3), "{deleted:?}");
    assert_eq!(
        deleted.get("deliveries").and_then(|v| v.as_u64()),
        Some(deliveries as u64)
    );
    assert_eq!(
        deleted.get("event_markers").and_then(|v| v.as_u64()),
        Some(markers as u64)
    );
    assert_eq!(
        deleted.get("raw_payloads").and_then(|v| v.as_u64()),
        Some(2),
        "{deleted:?}"
    );
    assert!(app.scan("MessagesTable").await.is_empty());
    assert!(app.scan("DeliveriesTable").await.is_empty());
    assert!(app.scan("EventsTable").await.is_empty());
    let claims = app
        .s3
        .list_object_versions()
        .bucket(&bucket)
        .prefix("claims/")
        .send()
        .await
        .unwrap();
    assert!(claims.versions().is_empty() && claims.delete_markers().is_empty());
    // Leads and their consent proof are not subject to message retention.
    assert_eq!(app.scan("SubscribersTable").await.len(), 3);
    // Each run left its report in the bucket.
    let reports = app
        .s3
        .list_objects_v2()
        .bucket(&bucket)
        .prefix("reports/sweeps/")
        .send()
        .await
        .unwrap();
    assert!(reports.contents().len() > runs + 2);
}

#[tokio::test]
async fn a_sweep_dated_far_ahead_of_the_clock_deletes_only_what_has_expired_by_now() {
    let app = spawn_app().await;
    app.register_page(PAGE).await; // retention 30 days
    let t = optcast_shared::http::now_ms();
    app.say_at(PAGE, "2000000000009001", "m_f1", "old words", t - 100 * DAY_MS)
        .await;
    app.say_at(PAGE, "2000000000009001", "m_f2", "recent words", t - DAY_MS)
        .await;
    eventually("both ingested", || async { app.scan("MessagesTable").await.len() == 2 }).await;
    // An invocation dated 2100 (a forged or mistaken event) acts as of the
    // clock plus five minutes: the recent message is kept.
    let year_2100 = 4_102_444_800_000;
    let report = app.invoke("sweeper", &scheduled_event(year_2100)).await;
    assert_eq!(report["deleted"]["messages"], 1, "{report}");
    assert!(
        report["now_ms"].as_i64().unwrap()
            <= optcast_shared::http::now_ms() + optcast_shared::clock::MAX_INVOCATION_SKEW_MS,
        "{report}"
    );
    let left = app.scan("MessagesTable").await;
    assert_eq!(left.len(), 1);
    assert!(s(&left[0], "sk").contains("#m_f2"));
    app.stack.stop().await;
}

#[tokio::test]
async fn a_sweep_against_a_table_that_stays_throttled_reports_the_error_and_the_next_run_finishes() {
    // DynamoDB leaves a throttled table's batch writes unprocessed; moto never
    // does, so the sweeper's requests pass a proxy that answers so.
    let (faults, adjust) = behind_faults("sweeper").await;
    let app = spawn_app_with(adjust).await;
    app.register_page(PAGE).await; // retention 30 days
    let t = optcast_shared::http::now_ms();
    for i in 0..3 {
        app.say_at(
            PAGE,
            "2000000000000801",
            &format!("m_thr{i}"),
            "old words",
            t - 100 * DAY_MS,
        )
        .await;
    }
    faults.leave_unprocessed_next(1_000);
    let failed = app.invoke_at("sweeper", t).await;
    assert!(
        failed["errorMessage"].as_str().is_some_and(|m| m.contains("error")),
        "the run fails visibly instead of spinning: {failed}"
    );
    assert!(faults.injected() >= 10, "{}", faults.injected());
    assert_eq!(app.scan("MessagesTable").await.len(), 3, "nothing was deleted");
    faults.leave_unprocessed_next(0);
    let (_, deleted) = sweep_until_complete(&app, t).await;
    assert_eq!(deleted.get("messages").and_then(|v| v.as_u64()), Some(3), "{deleted:?}");
    assert!(app.scan("MessagesTable").await.is_empty());
    app.stack.stop().await;
}

#[tokio::test]
async fn leads_unsubscribed_past_the_purge_period_are_erased_keeping_the_proof() {
    let app = spawn_app().await;
    app.register_page(PAGE).await;
    let t = optcast_shared::http::now_ms();
    app.say(PAGE, "2000000000000901", "m_g1", "hi").await;
    app.say(PAGE, "2000000000000901", "m_g2", "STOP").await;
    app.say(PAGE, "2000000000000902", "m_s1", "hi").await;
    app.say(PAGE, "2000000000000903", "m_b1", "hi").await;
    app.say(PAGE, "2000000000000903", "m_b2", "STOP").await;
    app.say(PAGE, "2000000000000903", "m_b3", "START").await;

    // 10 days on: within the 30-day purge period, nothing happens.
    let report = app.invoke_at("sweeper", t + 10 * DAY_MS).await;
    assert_eq!(
        report["deleted"]["unsubscribed_leads"].as_u64().unwrap_or(0),
        0,
        "{report}"
    );
    assert_eq!(app.scan("SubscribersTable").await.len(), 3);

    let report = app.invoke_at("sweeper", t + 31 * DAY_MS).await;
    assert_eq!(report["deleted"]["unsubscribed_leads"], 1, "{report}");
    let dump = app.dump_tables().await;
    let traces: Vec<&str> = dump.lines().filter(|l| l.contains("2000000000000901")).collect();
    assert!(traces.is_empty(), "{traces:#?}");
    assert!(dump.contains("2000000000000902") && dump.contains("2000000000000903"));
    let page = PageId::parse(PAGE).unwrap();
    let tombstone = app
        .scan("ConsentLogTable")
        .await
        .into_iter()
        .find(|i| s(i, "pk") == optcast_shared::store::tombstone_pk(&page, &Psid::parse("2000000000000901").unwrap()))
        .expect("hashed consent proof kept");
    assert_eq!(s(&tombstone, "reason"), "unsubscribed_purge");
    assert_eq!(tombstone["history"].as_l().unwrap().len(), 2);
}

#[tokio::test]
async fn a_purge_shredded_but_not_finished_is_handed_to_the_eraser_and_nothing_of_the_lead_stays() {
    // The purge shreds the lead, then its deletes fail (DynamoDB leaves
    // them unprocessed): no later sweep comes back for a lead no longer in
    // the unsubscribed index, so the eraser must finish it.
    let (faults, adjust) = behind_faults("sweeper").await;
    let app = spawn_app_with(adjust).await;
    app.register_page_keeping(PAGE, 365).await;
    let t = optcast_shared::http::now_ms();
    let lead = "2000000000000911";
    app.say(PAGE, lead, "m_h1", "hi").await;
    app.say(PAGE, lead, "m_h2", "STOP").await;
    faults.leave_unprocessed_next(1_000);
    let report = app.invoke_at("sweeper", t + 31 * DAY_MS).await;
    assert_eq!(report["deleted"]["unsubscribed_leads"], 1, "{report}");
    assert!(faults.injected() >= 1, "the purge's deletes were refused");
    faults.leave_unprocessed_next(0);
    // Before, their consent records (no TTL), messages and deliveries stayed
    // for good.
    eventually("the eraser finished the purge", || async {
        !app.dump_tables().await.lines().any(|l| l.contains(lead))
    })
    .await;
    let request = app
        .scan("PrivacyTable")
        .await
        .into_iter()
        .find(|i| i.get("reason").and_then(|v| v.as_s().ok()).map(String::as_str) == Some("unsubscribed_purge"))
        .expect("the hand-over is an erasure request");
    eventually("the request completed", || async {
        app.scan("PrivacyTable")
            .await
            .iter()
            .any(|i| i.get("pk") == request.get("pk") && s(i, "status") == "completed")
    })
    .await;
    app.stack.stop().await;
}

#[tokio::test]
async fn a_lead_who_writes_again_before_the_eraser_finishes_their_purge_keeps_the_new_lead() {
    // The purge shreds the lead, its deletes fail and it hands the rest to
    // the eraser; before the eraser runs, the person opts in again: a new
    // lead, subscribed by that START. The eraser erases only what is dated
    // up to the purge's shred. Before, it shredded the new lead as well and
    // deleted their new message and the opt-in that began it.
    purge_handed_over_while_the_person_comes_back("2000000000000912", HandOver::Queued).await;
}

#[tokio::test]
async fn a_hand_over_queued_before_jobs_carried_the_shred_time_keeps_the_new_lead_too() {
    // A job of the previous version says only `found_before`: the request's
    // reason (a purge) and time stand in for the shred's.
    purge_handed_over_while_the_person_comes_back("2000000000000913", HandOver::EarlierVersion).await;
}

/// How the eraser gets a purge's hand-over.
enum HandOver {
    /// The job the sweeper queued.
    Queued,
    /// The same request as the previous version queued it (no
    /// `shredded_at_ms`), delivered to the eraser directly.
    EarlierVersion,
}

/// A purge of `lead` shreds them, its deletes fail and it hands the rest to
/// the eraser; the person opts in again before the eraser runs, which must
/// leave the new lead, its opt-in, message and export, and nothing older.
async fn purge_handed_over_while_the_person_comes_back(lead: &str, hand_over: HandOver) {
    let (faults, adjust) = behind_faults("sweeper").await;
    let mut app = spawn_app_with(|o| {
        adjust(o);
        o.held_functions = vec!["eraser".into()];
        // Exports go to S3 as documents.
        o.overrides.insert("EXPORT_INLINE_LIMIT_BYTES".into(), "200".into());
    })
    .await;
    app.register_page_keeping(PAGE, 365).await;
    // Unsubscribed 31 days ago: the purge is due now (the webhook dates
    // what arrives by the real clock, so the purge runs now too).
    let t = optcast_shared::http::now_ms() - 31 * DAY_MS;
    app.say_at(PAGE, lead, "m_w1", "hi", t - 1).await;
    app.say_at(PAGE, lead, "m_w2", "STOP", t).await;
    let (_, before) = export(&app, lead).await;
    assert_eq!(before["messages"].as_array().map(Vec::len), Some(2), "{before}");
    faults.leave_unprocessed_next(1_000);
    let report = app.invoke_at("sweeper", optcast_shared::http::now_ms()).await;
    assert_eq!(report["deleted"]["unsubscribed_leads"], 1, "{report}");
    assert!(faults.injected() >= 1, "the purge's deletes were refused");
    faults.leave_unprocessed_next(0);
    assert_eq!(app.status(PAGE, lead).await, "none", "shredded by the purge");

    // They opt in again.
    let again = optcast_shared::http::now_ms();
    app.say_at(PAGE, lead, "m_w3", "START", again).await;
    assert_eq!(app.status(PAGE, lead).await, "subscribed");
    // Their export, while the old lead's sealed records are still there
    // (they do not open under the new key; before, the export failed with
    // 503): only the new lead's. S3 dates objects to the second.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let (kept, doc) = export(&app, lead).await;
    let texts: Vec<&str> = doc["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["body"]["text"].as_str())
        .collect();
    assert_eq!(texts, ["START"], "{doc}");
    let history = doc["consent_history"].as_array().unwrap();
    assert!(
        !history.is_empty() && history.iter().all(|e| e["at_ms"].as_i64() >= Some(again)),
        "{doc}"
    );
    let request = app
        .scan("PrivacyTable")
        .await
        .into_iter()
        .find(|i| i.get("reason").and_then(|v| v.as_s().ok()).map(String::as_str) == Some("unsubscribed_purge"))
        .expect("the hand-over is an erasure request");
    match hand_over {
        HandOver::Queued => app.stack.resume("eraser"),
        HandOver::EarlierVersion => {
            let id = s(&request, "pk").trim_start_matches("ERASURE#").to_string();
            let job = json!({"type": "erasure.v1", "request_id": id, "found_before": true,
                "target": {"subject": {"page_id": PAGE, "psid": lead}}});
            let event = json!({"Records": [{
                "messageId": "earlier-1", "receiptHandle": "r", "body": job.to_string(),
                "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}, "md5OfBody": "",
                "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-west-2:000000000000:erasure",
                "awsRegion": "us-west-2"}]});
            let outcome = app.invoke("eraser", &event).await;
            assert_eq!(outcome["batchItemFailures"], json!([]), "{outcome}");
        }
    }
    eventually("the hand-over completed", || async {
        app.scan("PrivacyTable")
            .await
            .iter()
            .any(|i| i.get("pk") == request.get("pk") && s(i, "status") == "completed")
    })
    .await;

    // The new lead stands, readable under its own key, with only what it
    // began with: the old lifetime's message and consent records are gone.
    assert_eq!(app.status(PAGE, lead).await, "subscribed");
    let messages = app.opened_messages(PAGE, lead).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0].1["text"], "START", "{messages:?}");
    let page = PageId::parse(PAGE).unwrap();
    let pk = optcast_shared::store::subject_pk(&page, &Psid::parse(lead).unwrap());
    let consent: Vec<_> = app
        .scan("ConsentLogTable")
        .await
        .into_iter()
        .filter(|i| s(i, "pk") == pk)
        .collect();
    assert!(!consent.is_empty(), "the new lead's opt-in is kept");
    assert!(
        consent.iter().all(|i| s(i, "sk") >= format!("{again:013}")),
        "only records dated since the purge: {consent:#?}"
    );
    // The old lifetime's export is gone, the new lead's is kept.
    let exports = app.export_versions().await;
    let left: Vec<&str> = exports.versions().iter().filter_map(|v| v.key()).collect();
    assert_eq!(left, [kept.as_str()], "{exports:?}");
    assert!(exports.delete_markers().is_empty(), "{exports:?}");
    app.stack.stop().await;
}

/// Exports the lead's data as a document in S3: its object key and the
/// document.
async fn export(app: &TestApp, psid: &str) -> (String, serde_json::Value) {
    let resp = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url(&format!("/v1/export?page_id={PAGE}&psid={psid}")))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303, "exported as a document");
    let link = resp.headers()["location"].to_str().unwrap().to_string();
    let path = reqwest::Url::parse(&link).unwrap().path().to_string();
    let key = path
        .split_once("/exports/")
        .map(|(_, k)| format!("exports/{k}"))
        .expect("an export key");
    let doc = app.http.get(&link).send().await.unwrap().json().await.unwrap();
    (key, doc)
}
