//! Meta's data-deletion callback: the signed request, the app-scoped id
//! mapped to the page's leads, and an erasure job run twice.

use optcast_shared::signed_request;
use optcast_tests::*;
use reqwest::Method;
use serde_json::json;

use super::PAGE;

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

/// The public deletion-status page at `path`: its status and text.
async fn status_page(app: &TestApp, path: &str) -> (u16, String) {
    let resp = app.http.get(app.url(path)).send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// SQS delivers the erasure job of callback request `code` (for `asid`)
/// again (at least once): the eraser's answer to it.
async fn redeliver_callback_job(app: &TestApp, code: &str, asid: &str) -> serde_json::Value {
    let job = optcast_shared::queue::ErasureJob::ErasureV1 {
        request_id: code.to_string(),
        target: optcast_shared::queue::ErasureTarget::AppScopedUser { asid: asid.into() },
        found_before: false,
        shredded_at_ms: None,
    };
    app.redeliver_erasure(&job).await
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
    // A link that opens: on this server, over the scheme it speaks (it
    // said https, which the local stack does not).
    assert_eq!(url, app.url(&format!("/meta/data-deletion/{code}")));
    let page_text = || async { status_page(&app, &url[url.find("/meta/").unwrap()..]).await.1 };
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
        status_page(&app, &format!("/meta/data-deletion/{code}"))
            .await
            .1
            .contains("no data")
    })
    .await;
    let (unknown, _) = status_page(&app, "/meta/data-deletion/abc123").await;
    assert_eq!(unknown, 404);
    // A business's own erasure request (the API's) is not the public's to
    // see on this page, even by its id: the same 404 as an unknown code.
    let business = app.request_erasure(PAGE, "2000000000000199").await;
    let (status, text) = status_page(&app, &format!("/meta/data-deletion/{business}")).await;
    assert_eq!(status, 404);
    assert!(text.contains("no deletion request with this code"), "{text}");
    // The app-scoped id and the PSIDs it maps to are never logged.
    let logs = captured_logs();
    for id in ["5550001", "2999999999999101", "2999999999999102"] {
        assert!(!logs_hold_id(&logs, id), "logs name {id}");
    }
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
    let outcome = redeliver_callback_job(&app, &code, "5550077").await;
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

/// Meta's callback names a user that `ids_for_pages` then says does not
/// exist (code 100, subcode 33): the request ends `unresolved` with Meta's
/// codes, and the status page says why, instead of the job failing to the
/// dead-letter queue run after run and the request showing "pending" for
/// ever (Meta requires the page to show a justified refusal). A run of the
/// job again leaves it so.
#[tokio::test]
async fn an_app_scoped_id_meta_refuses_to_map_ends_the_request_unresolved() {
    let app = spawn_app().await;
    app.stack.graph.forget_user("5550099");
    let payload =
        json!({"algorithm": "HMAC-SHA256", "issued_at": optcast_shared::http::now_ms() / 1000, "user_id": "5550099"});
    let (status, answer) = post_deletion(&app, deletion_form(payload, APP_SECRET)).await;
    assert_eq!(status, 200, "{answer}");
    let code = answer["confirmation_code"].as_str().unwrap().to_string();
    let request = || async { app.api(Method::GET, &format!("/v1/erasure/{code}"), None).await.1 };
    eventually("erasure unresolved", || async {
        request().await["status"] == "unresolved"
    })
    .await;
    let first = request().await;
    assert_eq!(first["meta_error"], json!({"code": 100, "subcode": 33}), "{first}");
    assert_eq!(first["subjects"], 0, "{first}");
    assert!(first["completed_at_ms"].as_i64().is_some(), "{first}");
    let (page_status, page) = status_page(&app, &format!("/meta/data-deletion/{code}")).await;
    assert_eq!(page_status, 200);
    assert!(page.contains("unresolved") && page.contains("does not exist"), "{page}");

    let outcome = redeliver_callback_job(&app, &code, "5550099").await;
    assert_eq!(outcome["batchItemFailures"], json!([]), "{outcome}");
    assert_eq!(request().await, first, "run again, the same answer");
    app.stack.stop().await;
}
