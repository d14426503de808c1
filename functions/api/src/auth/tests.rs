use super::*;
use lambda_http::Body;
use serde_json::json;

/// An HTTP API (v2) event as API Gateway sends it after its JWT
/// authorizer accepted the token: the claims arrive flattened to strings.
fn gateway_request(method: &str, path: &str, scope: &str, pages: &str) -> Request {
    let event = json!({
        "version": "2.0", "routeKey": format!("{method} {path}"), "rawPath": path, "rawQueryString": "",
        "headers": {"authorization": "Bearer x"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "domainName": "example.com", "domainPrefix": "example",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "t"},
            "requestId": "r1", "routeKey": format!("{method} {path}"), "stage": "$default",
            "time": "01/Dec/2026:00:00:00 +0000", "timeEpoch": 1_764_547_200_000_i64,
            "authorizer": {"jwt": {"claims": {"sub": "user-1", "scope": scope, "optcast_pages": pages}, "scopes": null}}
        },
        "isBase64Encoded": false
    });
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

async fn gateway_api() -> Api {
    let aws = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-west-2"))
        .build();
    let env = std::collections::HashMap::from([
        ("ADMIN_AUTH", "api-gateway-jwt"),
        ("SUBSCRIBERS_TABLE", "t"),
        ("CONSENT_LOG_TABLE", "t"),
        ("MESSAGES_TABLE", "t"),
        ("EVENTS_TABLE", "t"),
        ("SUBJECT_KEYS_TABLE", "t"),
        ("PAGES_TABLE", "t"),
        ("BROADCASTS_TABLE", "t"),
        ("DELIVERIES_TABLE", "t"),
        ("PRIVACY_TABLE", "t"),
        ("KMS_KEY_ID", "k"),
        ("PLAN_QUEUE_URL", "q"),
        ("ERASURE_QUEUE_URL", "q"),
        ("INGEST_CHUNK_QUEUE_URL", "q"),
        ("DATA_BUCKET", "b"),
    ]);
    let source = move |k: &str| env.get(k).map(|v| v.to_string());
    Api::from_source(&source, &aws).unwrap()
}

async fn status_and_code(api: &Api, req: Request) -> (u16, String) {
    let resp = api.handle(req).await;
    let body: serde_json::Value = match resp.body() {
        Body::Text(t) => serde_json::from_str(t).unwrap(),
        Body::Binary(b) => serde_json::from_slice(b).unwrap(),
        Body::Empty => serde_json::Value::Null,
        _ => serde_json::Value::Null,
    };
    (
        resp.status().as_u16(),
        body["error"]["code"].as_str().unwrap_or_default().to_string(),
    )
}

// Refused before any AWS call (the clients here point nowhere).
#[tokio::test]
async fn a_jwt_gives_the_caller_its_pages_and_scopes() {
    let api = gateway_api().await;
    let other_page = gateway_request("GET", "/v1/pages/102/subscribers/2001", "subscribers:read", "[101]");
    assert_eq!(status_and_code(&api, other_page).await, (404, "not_found".into()));
    let no_scope = gateway_request("GET", "/v1/export", "subscribers:read", "*");
    assert_eq!(status_and_code(&api, no_scope).await, (403, "missing_scope".into()));
    let no_pages_claim = gateway_request("PUT", "/v1/pages/101", "pages:write", "");
    assert_eq!(status_and_code(&api, no_pages_claim).await, (404, "not_found".into()));
}

#[test]
fn every_route_in_the_table_is_served_and_only_the_open_api_document_needs_no_scope() {
    for r in ROUTES {
        let segments: Vec<&str> = r
            .path
            .trim_start_matches("/v1/")
            .split('/')
            .map(|s| if s.starts_with('{') { "1" } else { s })
            .collect();
        assert!(
            matches!(find(r.method, &segments), Found::Route(found, _) if found == r),
            "{} {}",
            r.method,
            r.path
        );
        assert_eq!(r.scope.is_none(), r.op == Op::OpenApi, "{} {}", r.method, r.path);
    }
    assert_eq!(find("DELETE", &["pages", "1"]), Found::WrongMethod);
    assert_eq!(find("GET", &["pages", "1", "nothing"]), Found::Nothing);
    let put_tag = ROUTES.iter().find(|r| r.op == Op::PutTag).expect("PutTag route");
    assert_eq!(
        find("PUT", &["pages", "1", "subscribers", "2", "tags", "spring"]),
        Found::Route(put_tag, vec!["1", "2", "spring"])
    );
    // A literal segment wins over a parameter, whatever the method.
    assert!(matches!(
        find("POST", &["broadcasts", "preview"]),
        Found::Route(r, _) if r.op == Op::PreviewBroadcast
    ));
    assert_eq!(find("GET", &["broadcasts", "preview"]), Found::WrongMethod);
    assert!(matches!(find("GET", &["broadcasts", "1"]), Found::Route(r, _) if r.op == Op::GetBroadcast));
}
