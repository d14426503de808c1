//! A preview's refusals: the same errors as create, the write scope and
//! the page required.

use super::{code, preview, preview_app, register, spring, OTHER, PAGE, READER};
use optcast_tests::*;
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn a_bad_body_gets_the_same_error_from_preview_as_from_create_and_needs_the_write_scope_and_the_page() {
    let app = preview_app().await;
    register(&app, PAGE, "EU").await;
    let cases = [
        json!({"page_id": PAGE, "message": {"text": "  "}}),
        json!({"page_id": PAGE, "message": {"text": "x".repeat(2001)}}),
        json!({"page_id": "1000000000000404", "message": {"text": "hi"}}),
        json!({"page_id": PAGE, "message": {"text": "hi"}, "send_at": "2020-01-01T00:00:00Z"}),
        json!({"page_id": PAGE, "message": {"text": "hi"}, "send_at": "tomorrow"}),
        json!({"page_id": PAGE, "message": {"text": "hi"}, "evil": 1}),
        json!({"page_id": "a#b", "message": {"text": "hi"}}),
        json!({"page_id": PAGE, "message": {"text": "hi"}, "tags": [""]}),
        json!({"page_id": PAGE, "message": {"text": "hi"}, "name": "x".repeat(201)}),
        json!({"page_id": PAGE, "message": {"text": "hi", "quick_replies": [{"title": "Unsubscribe", "payload": "x"}]}}),
        json!({"message": {"text": "hi"}}),
    ];
    for body in cases {
        let (status, created) = app.api(Method::POST, "/v1/broadcasts", Some(body.clone())).await;
        let (preview_status, previewed) = preview(&app, "", body.clone()).await;
        assert_eq!(status, 400, "{body}: {created}");
        assert_eq!((preview_status, code(&previewed)), (status, code(&created)), "{body}");
    }
    let raw = |path: &'static str| {
        let app = &app;
        async move {
            let resp = app
                .http
                .post(app.url(path))
                .bearer_auth(ADMIN_TOKEN)
                .body("{not json")
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap()["error"]["code"].clone())
        }
    };
    assert_eq!(raw("/v1/broadcasts/preview").await, raw("/v1/broadcasts").await);

    let body = Some(spring(PAGE));
    let (status, err) = app
        .api_as(READER, Method::POST, "/v1/broadcasts/preview", body.clone())
        .await;
    assert_eq!((status, code(&err)), (403, "missing_scope"));
    let (status, err) = app
        .api_as(OTHER, Method::POST, "/v1/broadcasts/preview", body.clone())
        .await;
    assert_eq!((status, code(&err)), (404, "not_found"));
    let (status, _) = app.api_as(OTHER, Method::POST, "/v1/broadcasts", body).await;
    assert_eq!(status, 404, "create answers the same");
    let (status, err) = app.api(Method::GET, "/v1/broadcasts/preview", None).await;
    assert_eq!((status, code(&err)), (405, "method_not_allowed"));
    assert!(app.scan("BroadcastsTable").await.is_empty(), "nothing was created");
    app.stack.stop().await;
}
