//! The webhook's front door: the subscribe handshake, signatures, size
//! limits, bodies that are not Meta deliveries, the emulator down, and the
//! Invoke API's API Gateway event.

use super::{subscriber, PAGE};
use optcast_tests::*;

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
