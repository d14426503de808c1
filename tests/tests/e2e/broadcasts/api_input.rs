//! The management API's answers to bad input and bad tokens: a 400 or a
//! 401 that creates nothing.

use optcast_shared::consent::UNSUBSCRIBE_PAYLOAD;
use optcast_tests::*;
use reqwest::Method;
use serde_json::json;

use super::{text, PAGE};

#[tokio::test]
async fn bad_api_input_is_a_400_and_a_bad_token_is_a_401_that_touches_nothing() {
    let app = spawn_app().await;
    app.register_page(PAGE).await;
    let past = "2020-01-01T00:00:00Z";
    let cases = vec![
        (
            "empty text",
            json!({"page_id": PAGE, "message": {"text": "  "}}),
            "invalid_message",
        ),
        (
            "text over Meta's limit",
            json!({"page_id": PAGE, "message": {"text": "x".repeat(2001)}}),
            "invalid_message",
        ),
        (
            "unknown page",
            json!({"page_id": "1000000000000404", "message": {"text": "hi"}}),
            "unknown_page",
        ),
        (
            "send_at in the past",
            json!({"page_id": PAGE, "message": {"text": "hi"}, "send_at": past}),
            "invalid_send_at",
        ),
        (
            "send_at not RFC 3339",
            json!({"page_id": PAGE, "message": {"text": "hi"}, "send_at": "tomorrow"}),
            "invalid_send_at",
        ),
        (
            "unknown field",
            json!({"page_id": PAGE, "message": {"text": "hi"}, "evil": 1}),
            "invalid_json",
        ),
        (
            "bad page id",
            json!({"page_id": "a#b", "message": {"text": "hi"}}),
            "invalid_page_id",
        ),
        (
            "reserved payload",
            json!({"page_id": PAGE, "message": {"text": "hi", "quick_replies": [{"title": "x", "payload": UNSUBSCRIBE_PAYLOAD}]}}),
            "invalid_message",
        ),
    ];
    for (name, body, code) in cases {
        let (status, out) = app.api(Method::POST, "/v1/broadcasts", Some(body)).await;
        assert_eq!(status, 400, "{name}: {out}");
        assert_eq!(out["error"]["code"], code, "{name}");
    }
    let raw = app
        .http
        .post(app.url("/v1/broadcasts"))
        .bearer_auth(ADMIN_TOKEN)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    let (status, _) = app
        .api(
            Method::PUT,
            "/v1/pages/1000000000000002",
            Some(json!({"access_token": ""})),
        )
        .await;
    assert_eq!(status, 400);
    // A token Meta could never have issued is refused when given, not
    // stored to fail every send (and pause the page's broadcasts) later.
    for token in ["EAAG\nm0PX", "EAAG m0PX", "EAAG\u{0}", "EAAG\u{200b}m0PX"] {
        let (status, out) = app
            .api(
                Method::PUT,
                "/v1/pages/1000000000000002",
                Some(json!({"access_token": token})),
            )
            .await;
        assert_eq!(
            (status, out["error"]["code"].as_str()),
            (400, Some("invalid_access_token")),
            "{token:?}: {out}"
        );
    }
    let (status, out) = app
        .api(
            Method::PUT,
            "/v1/pages/1000000000000002",
            Some(json!({"access_token": "t", "region": "Europe"})),
        )
        .await;
    assert_eq!(
        (status, out["error"]["code"].as_str()),
        (400, Some("invalid_region")),
        "{out}"
    );
    let (status, _) = app.api(Method::GET, "/v1/broadcasts/doesnotexist", None).await;
    assert_eq!(status, 404);
    // The scheme is case-insensitive.
    let lower = app
        .http
        .get(app.url("/v1/broadcasts/doesnotexist"))
        .header("authorization", format!("bearer {ADMIN_TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(lower.status(), 404);

    for auth in [None, Some("Bearer wrong"), Some("Basic dGVzdA=="), Some(ADMIN_TOKEN)] {
        let mut req = app.http.post(app.url("/v1/broadcasts")).json(&text("should not exist"));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 401, "{auth:?}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    assert!(app.scan("BroadcastsTable").await.is_empty(), "nothing was created");
    let put = app
        .http
        .put(app.url("/v1/pages/1000000000000009"))
        .json(&json!({"access_token": "t"}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 401);
    assert_eq!(app.scan("PagesTable").await.len(), 1);
    // The page token is stored sealed, never in plaintext.
    assert!(!format!("{:?}", app.scan("PagesTable").await).contains(PAGE_TOKEN));
    // A tag given twice is the same audience as given once (not a 5xx).
    let (status, out) = app
        .api(
            Method::POST,
            "/v1/broadcasts",
            Some(
                json!({"page_id": PAGE, "message": {"text": "Hi"}, "tags": ["vip", "vip"],
                        "send_at": "2999-01-01T00:00:00Z"}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{out}");
    let id = out["id"].as_str().unwrap().to_string();
    assert_eq!(app.broadcast(&id).await["tags"], json!(["vip"]));
    app.stack.stop().await;
}
