//! Data-subject rights end to end: erasure (API and Meta's callback) with
//! crypto-shredding, export, and the retention sweep.

use optcast_shared::crypto::{self, KeyRing};
use optcast_shared::ids::{PageId, Psid};
use optcast_shared::retention::DAY_MS;
use optcast_shared::signed_request;
use optcast_tests::*;
use reqwest::Method;
use serde_json::json;

const PAGE: &str = "1000000000000001";

async fn erase(app: &TestApp, psid: &str) -> String {
    app.erase(PAGE, psid).await
}

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

fn deletion_form(payload: serde_json::Value, secret: &str) -> String {
    let signed = signed_request::sign(payload.to_string().as_bytes(), secret.as_bytes());
    format!("signed_request={signed}")
}

async fn post_deletion(app: &TestApp, form: String) -> (u16, serde_json::Value) {
    let resp = app
        .http
        .post(app.url("/meta/data-deletion"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or_default())
}

#[tokio::test]
async fn the_data_deletion_callback_maps_the_app_scoped_id_and_completes() {
    let app = spawn_app().await;
    app.say(PAGE, "2999999999999101", "m_c1", "hello from callback land")
        .await;
    app.say("1000000000000002", "2999999999999102", "m_c2", "hello too")
        .await;
    app.stack.graph.map_asid("5550001", PAGE, "2999999999999101");
    app.stack
        .graph
        .map_asid("5550001", "1000000000000002", "2999999999999102");
    let requests_before = app.scan("PrivacyTable").await.len();

    // Refused: nothing recorded, nothing erased.
    let now_s = optcast_shared::http::now_ms() / 1000;
    let valid = json!({"algorithm": "HMAC-SHA256", "issued_at": now_s - 60, "user_id": "5550001"});
    for (form, code) in [
        // Signed by Meta but outside the window: a captured request replayed
        // a day later, one dated ahead, one with no issued_at.
        (
            deletion_form(
                json!({"algorithm": "HMAC-SHA256", "issued_at": now_s - 25 * 3600, "user_id": "5550001"}),
                APP_SECRET,
            ),
            "issued_at_outside_window",
        ),
        (
            deletion_form(
                json!({"algorithm": "HMAC-SHA256", "issued_at": now_s + 3600, "user_id": "5550001"}),
                APP_SECRET,
            ),
            "issued_at_outside_window",
        ),
        (
            deletion_form(json!({"algorithm": "HMAC-SHA256", "user_id": "5550001"}), APP_SECRET),
            "issued_at_outside_window",
        ),
        (deletion_form(valid.clone(), "not-the-app-secret"), "bad_signature"),
        (
            deletion_form(
                json!({"algorithm": "HMAC-SHA1", "issued_at": 1, "user_id": "5550001"}),
                APP_SECRET,
            ),
            "unsupported_algorithm",
        ),
        (
            "signed_request=%%%not-base64.@@@".to_string(),
            "malformed_signed_request",
        ),
        ("other=1".to_string(), "missing_signed_request"),
    ] {
        let (status, body) = post_deletion(&app, form).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["code"], code, "{body}");
    }
    assert_eq!(app.scan("PrivacyTable").await.len(), requests_before);
    assert!(app.dump_tables().await.contains("2999999999999101"));

    let (status, answer) = post_deletion(&app, deletion_form(valid.clone(), APP_SECRET)).await;
    assert_eq!(status, 200, "{answer}");
    let code = answer["confirmation_code"].as_str().unwrap().to_string();
    // The same request again (Meta's retry, or a replay): the first answer,
    // one request on record.
    let (status, again) = post_deletion(&app, deletion_form(valid.clone(), APP_SECRET)).await;
    assert_eq!((status, &again), (200, &answer));
    assert_eq!(app.scan("PrivacyTable").await.len(), requests_before + 1);
    let url = answer["url"].as_str().unwrap().to_string();
    assert!(url.ends_with(&format!("/meta/data-deletion/{code}")), "{url}");
    let page_text = || async {
        let path = &url[url.find("/meta/").unwrap()..];
        app.http.get(app.url(path)).send().await.unwrap().text().await.unwrap()
    };
    eventually("deletion completed", || async {
        page_text().await.contains("completed")
    })
    .await;
    assert!(page_text().await.contains("<html"));
    let after = app.dump_tables().await;
    assert!(
        !after.contains("2999999999999101") && !after.contains("2999999999999102"),
        "{after}"
    );
    // The ASID itself is never stored.
    assert!(!after.contains("5550001"));
    // Replayed once done: the same code, still completed, no new request.
    let (status, late) = post_deletion(&app, deletion_form(valid, APP_SECRET)).await;
    assert_eq!((status, &late), (200, &answer));
    assert!(page_text().await.contains("completed"));
    assert_eq!(app.scan("PrivacyTable").await.len(), requests_before + 1);

    // An id that maps to nothing: the status says no data is held.
    let (_, answer) = post_deletion(
        &app,
        deletion_form(
            json!({"algorithm": "HMAC-SHA256", "issued_at": now_s, "user_id": "5550999"}),
            APP_SECRET,
        ),
    )
    .await;
    let code = answer["confirmation_code"].as_str().unwrap();
    eventually("no-data status", || async {
        let text = app
            .http
            .get(app.url(&format!("/meta/data-deletion/{code}")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.contains("no data")
    })
    .await;
    let unknown = app
        .http
        .get(app.url("/meta/data-deletion/abc123"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    // The app-scoped id and the PSIDs it maps to are never logged.
    let logs = captured_logs();
    assert!(!logs.contains("5550001") && !logs.contains("2999999999999101") && !logs.contains("2999999999999102"));
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
async fn an_erasure_job_run_again_keeps_its_completed_status_and_counts() {
    let app = spawn_app().await;
    app.say(PAGE, "2000000000000401", "m_rr1", "hello again").await;
    app.stack.graph.map_asid("5550077", PAGE, "2000000000000401");
    let payload =
        json!({"algorithm": "HMAC-SHA256", "issued_at": optcast_shared::http::now_ms() / 1000, "user_id": "5550077"});
    let (status, answer) = post_deletion(&app, deletion_form(payload, APP_SECRET)).await;
    assert_eq!(status, 200, "{answer}");
    let code = answer["confirmation_code"].as_str().unwrap().to_string();
    let request = || async { app.api(Method::GET, &format!("/v1/erasure/{code}"), None).await.1 };
    eventually("erasure completed", || async {
        request().await["status"] == "completed"
    })
    .await;
    let first = request().await;
    assert_eq!(first["report"]["messages"], 1, "{first}");
    // SQS delivers the same job again (at least once): it finds nothing left,
    // and the request still says what was erased.
    let job = optcast_shared::queue::ErasureJob::ErasureV1 {
        request_id: code.clone(),
        target: optcast_shared::queue::ErasureTarget::AppScopedUser { asid: "5550077".into() },
        found_before: false,
    };
    let event = json!({"Records": [{
        "messageId": "redelivered-1", "receiptHandle": "r", "body": serde_json::to_string(&job).unwrap(),
        "attributes": {"ApproximateReceiveCount": "2"}, "messageAttributes": {}, "md5OfBody": "",
        "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-west-2:000000000000:erasure",
        "awsRegion": "us-west-2"}]});
    let outcome = app.invoke("eraser", &event).await;
    assert!(
        outcome["batchItemFailures"].as_array().is_some_and(|f| f.is_empty()),
        "{outcome}"
    );
    let again = request().await;
    assert_eq!(again["status"], "completed", "{again}");
    assert_eq!(again["report"], first["report"]);
    assert_eq!(again["completed_at_ms"], first["completed_at_ms"]);
    app.stack.stop().await;
}

#[tokio::test]
async fn export_round_trips_what_was_ingested_decrypted() {
    let app = spawn_app().await;
    let texts = ["Bonjour, ça va ? 🙂", "second message", "STOP"];
    for (i, text) in texts.iter().enumerate() {
        app.say(PAGE, "2000000000000501", &format!("m_x{i}"), text).await;
    }
    let resp = app
        .http
        .get(app.url(&format!("/v1/export?page_id={PAGE}&psid=2000000000000501")))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let doc: serde_json::Value = resp.json().await.unwrap();
    let got: Vec<&str> = doc["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(got, texts);
    assert_eq!(doc["subscriber"]["status"], "unsubscribed");
    let history = doc["consent_history"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1]["to"], "unsubscribed");
    assert_eq!(history[1]["proof"]["event_key"], "m_x2");
    assert_eq!(doc["psid"], "2000000000000501");

    let (status, _) = app
        .api(
            Method::GET,
            &format!("/v1/export?page_id={PAGE}&psid=2000000000000599"),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = app.api(Method::GET, "/v1/export?page_id=bad%20id&psid=x", None).await;
    assert_eq!(status, 400);
    let anonymous = app
        .http
        .get(app.url(&format!("/v1/export?page_id={PAGE}&psid=2000000000000501")))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}

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
async fn a_large_export_goes_to_s3_as_a_link_and_erasure_deletes_it() {
    let app = spawn_app_with(|o| {
        o.overrides.insert("EXPORT_INLINE_LIMIT_BYTES".into(), "200".into());
    })
    .await;
    app.register_page(PAGE).await;
    for i in 0..3 {
        app.say(
            PAGE,
            "2000000000001001",
            &format!("m_b{i}"),
            &format!("message number {i}"),
        )
        .await;
    }
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = no_redirects
        .get(app.url(&format!("/v1/export?page_id={PAGE}&psid=2000000000001001")))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let link = resp.headers()["location"].to_str().unwrap().to_string();
    let answer: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(answer["url"], link);
    assert_eq!(answer["expires_in_s"], 900);
    // The link serves the whole document.
    let doc: serde_json::Value = app.http.get(&link).send().await.unwrap().json().await.unwrap();
    let texts: Vec<&str> = doc["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["message number 0", "message number 1", "message number 2"]);
    assert_eq!(
        answer["bytes"].as_u64().unwrap() as usize,
        serde_json::to_vec(&doc).unwrap().len()
    );
    // The object is named by digest, never by PSID.
    assert!(!link.contains("2000000000001001"));

    let id = erase(&app, "2000000000001001").await;
    let (_, status) = app.api(Method::GET, &format!("/v1/erasure/{id}"), None).await;
    assert_eq!(status["report"]["exports"], 1, "{status}");
    let exports = app
        .s3
        .list_object_versions()
        .bucket(app.physical("DataBucket"))
        .prefix("exports/")
        .send()
        .await
        .unwrap();
    assert!(exports.versions().is_empty() && exports.delete_markers().is_empty());
}

#[tokio::test]
async fn the_export_sink_streams_a_long_document_to_s3_in_parts() {
    use optcast_shared::export::{ExportSink, Finished, MIN_PART_BYTES};
    use std::io::Write;
    let app = spawn_app().await;
    let bucket = app.physical("DataBucket");
    let mut sink = ExportSink::new(app.s3.clone(), &bucket, "exports/test/sink.json", MIN_PART_BYTES);
    let chunk = vec![b'x'; 1024 * 1024];
    let mut peak = 0;
    for _ in 0..11 {
        sink.writer().write_all(&chunk).unwrap();
        peak = peak.max(sink.writer().len());
        sink.spill().await.unwrap();
    }
    // Memory stays bounded by one part (plus what one page adds).
    assert!(peak <= MIN_PART_BYTES + chunk.len(), "{peak}");
    let Finished::Stored { key, bytes } = sink.finish(4 * 1024 * 1024).await.unwrap() else {
        panic!("an 11 MiB document is stored, not inline");
    };
    assert_eq!(bytes, 11 * 1024 * 1024);
    let stored = app.s3.get_object().bucket(&bucket).key(&key).send().await.unwrap();
    let body = stored.body.collect().await.unwrap().into_bytes();
    assert_eq!(body.len(), 11 * 1024 * 1024);
    assert!(body.iter().all(|b| *b == b'x'));
}
