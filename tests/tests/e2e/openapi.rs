//! The OpenAPI document: served as compiled in, and the response checker
//! every API call of the suite goes through really refuses what the
//! document does not say.

use optcast_tests::openapi::{check_response, document};
use optcast_tests::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn the_open_api_document_is_served_to_any_authenticated_caller() {
    let app = spawn_app().await;
    let (status, doc) = app.api(Method::GET, "/v1/openapi.json", None).await;
    assert_eq!(status, 200);
    assert_eq!(&doc, document());
    assert_eq!(doc["openapi"], "3.1.0");
    let (status, err) = app.api_as("not-a-token", Method::GET, "/v1/openapi.json", None).await;
    assert_eq!((status, err["error"]["code"].as_str()), (401, Some("unauthorized")));
    app.stack.stop().await;
}

/// `check_response` panics on `(method, path, status, body)`.
fn refused(method: &str, path: &str, status: u16, body: serde_json::Value) -> bool {
    std::panic::catch_unwind(|| check_response(method, path, status, &body)).is_err()
}

#[test]
fn a_response_the_document_does_not_describe_fails_the_check() {
    let broadcast = json!({"id": "b1", "page_id": "1", "name": null, "state": "sending", "send_at_ms": 1,
        "created_at_ms": 1, "tags": [], "paused_reason": null,
        "counts": {"audience": 0, "queued": 0, "sent": 0, "skipped_unsubscribed": 0, "skipped_policy": 0, "failed": 0,
            "skipped_by_reason": {}, "failed_by_reason": {}},
        "outcomes": {"delivered": 0, "read": 0, "unsubscribed": 0, "blocked": 0, "meta_errors": {},
            "rates": {"delivered": null, "read": null, "unsubscribed": null, "blocked": null, "negative": null}},
        "timeseries": {"bucket_ms": 60000, "points": []}, "protection_baseline": null});
    // What the document says passes.
    assert!(!refused("GET", "/v1/broadcasts/b1", 200, broadcast.clone()));
    let not_paused = json!({"error": {"code": "not_paused", "message": "it is sending"}});
    assert!(!refused("POST", "/v1/broadcasts/b1/resume", 409, not_paused.clone()));
    // An undocumented status, a body off its schema, an undocumented error
    // code, an error in another shape, a wrong method's answer: refused.
    assert!(refused("GET", "/v1/broadcasts/b1", 418, broadcast.clone()));
    let mut bad_state = broadcast.clone();
    bad_state["state"] = json!("exploded");
    assert!(refused("GET", "/v1/broadcasts/b1", 200, bad_state));
    assert!(refused("GET", "/v1/broadcasts/b1", 200, json!({"id": "b1"})));
    let mut unknown_field = broadcast.clone();
    unknown_field["surprise"] = json!(1);
    assert!(refused("GET", "/v1/broadcasts/b1", 200, unknown_field));
    let odd_code = json!({"error": {"code": "nope", "message": "x"}});
    assert!(refused("POST", "/v1/broadcasts/b1/resume", 409, odd_code));
    assert!(refused(
        "POST",
        "/v1/broadcasts/b1/resume",
        409,
        json!({"code": "not_paused"})
    ));
    assert!(refused("GET", "/v1/broadcasts/b1/resume", 200, broadcast));
    let not_allowed = json!({"error": {"code": "method_not_allowed", "message": "x"}});
    assert!(!refused("GET", "/v1/broadcasts/b1/resume", 405, not_allowed));
}

/// Every route that reads a body answers a body over 64 KiB with 413
/// `payload_too_large`, as the webhook and API Gateway do (it was 400), and
/// the document says so for each (`api` checks every answer against it).
#[tokio::test]
async fn every_route_that_reads_a_body_answers_413_past_64_kib() {
    let app = spawn_app().await;
    let big = json!({"padding": "a".repeat(64 * 1024)});
    for (method, path) in [
        (Method::PUT, "/v1/pages/1000000000000001"),
        (Method::POST, "/v1/broadcasts"),
        (Method::POST, "/v1/broadcasts/preview"),
        (Method::POST, "/v1/broadcasts/0123456789abcdef0123456789abcdef/test"),
        (Method::POST, "/v1/pages/1000000000000001/tags/vip"),
        (Method::POST, "/v1/erasure"),
    ] {
        let (status, err) = app.api(method.clone(), path, Some(big.clone())).await;
        assert_eq!(
            (status, err["error"]["code"].as_str()),
            (413, Some("payload_too_large")),
            "{method} {path}"
        );
    }
    app.stack.stop().await;
}
