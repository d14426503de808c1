//! Every caller its pages and scopes: another page's data is 404, a missing
//! scope 403, and exports, erasures and page-token changes are audited.

use optcast_tests::*;
use reqwest::Method;
use serde_json::json;
use sha2::{Digest, Sha256};

const PAGE_A: &str = "1000000000000701";
const PAGE_B: &str = "1000000000000702";
const LEAD_A: &str = "2000000000000701";
const LEAD_B: &str = "2000000000000702";
const MARKETER: &str = "marketer-token-a";
const DPO: &str = "dpo-token-all-pages";

fn sha(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

async fn tenant_app() -> TestApp {
    let tokens = json!({"tokens": [
        {"name": "marketing-a", "token_sha256": sha(MARKETER), "pages": [PAGE_A],
         "scopes": ["broadcasts:write", "broadcasts:read", "subscribers:read"]},
        {"name": "dpo", "token_sha256": sha(DPO), "pages": "*", "scopes": ["data:export", "data:erase"]},
    ]});
    spawn_app_with(|o| {
        o.overrides.insert("OPTCAST_API_TOKENS".into(), tokens.to_string());
    })
    .await
}

#[tokio::test]
async fn a_caller_sees_only_its_pages_and_does_only_what_its_scopes_allow() {
    let app = tenant_app().await;
    app.register_page(PAGE_A).await;
    app.register_page(PAGE_B).await;
    app.say(PAGE_A, LEAD_A, "m_ta1", "hello A").await;
    app.say(PAGE_B, LEAD_B, "m_tb1", "hello B").await;
    let other = app
        .create_broadcast(json!({"page_id": PAGE_B, "message": {"text": "B only"}}))
        .await;

    let as_marketer = |m: Method, path: String, body: Option<serde_json::Value>| {
        let app = &app;
        async move { app.api_as(MARKETER, m, &path, body).await }
    };
    // Its own page: readable. Another page: as if it did not exist.
    let (status, lead) = as_marketer(Method::GET, format!("/v1/pages/{PAGE_A}/subscribers/{LEAD_A}"), None).await;
    assert_eq!(status, 200, "{lead}");
    let (status, err) = as_marketer(Method::GET, format!("/v1/pages/{PAGE_B}/subscribers/{LEAD_B}"), None).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (404, Some("not_found")),
        "{err}"
    );
    for (method, path) in [
        (Method::GET, format!("/v1/broadcasts/{other}")),
        (Method::POST, format!("/v1/broadcasts/{other}/cancel")),
    ] {
        let (status, err) = as_marketer(method, path.clone(), None).await;
        assert_eq!(status, 404, "{path}: {err}");
    }
    let (status, err) = as_marketer(
        Method::POST,
        "/v1/broadcasts".into(),
        Some(json!({"page_id": PAGE_B, "message": {"text": "not mine"}})),
    )
    .await;
    assert_eq!(status, 404, "{err}");
    assert_ne!(app.broadcast(&other).await["state"], "cancelled");
    let (status, created) = as_marketer(
        Method::POST,
        "/v1/broadcasts".into(),
        Some(json!({"page_id": PAGE_A, "message": {"text": "mine"}})),
    )
    .await;
    assert_eq!(status, 201, "{created}");

    // Scopes it lacks: 403 with the scope named, on its own page too.
    for (method, path, body, scope) in [
        (
            Method::GET,
            format!("/v1/export?page_id={PAGE_A}&psid={LEAD_A}"),
            None,
            "data:export",
        ),
        (
            Method::POST,
            "/v1/erasure".to_string(),
            Some(json!({"page_id": PAGE_A, "psid": LEAD_A})),
            "data:erase",
        ),
        (
            Method::PUT,
            format!("/v1/pages/{PAGE_A}"),
            Some(json!({"access_token": "EAAnew"})),
            "pages:write",
        ),
    ] {
        let (status, err) = as_marketer(method, path.clone(), body).await;
        assert_eq!(status, 403, "{path}: {err}");
        assert_eq!(err["error"]["code"], "missing_scope", "{err}");
        assert!(err["error"]["message"].as_str().unwrap().contains(scope), "{err}");
    }
    // The data-protection officer: every page, data scopes only.
    let (status, err) = app
        .api_as(
            DPO,
            Method::POST,
            "/v1/broadcasts",
            Some(json!({"page_id": PAGE_A, "message": {"text": "x"}})),
        )
        .await;
    assert_eq!(status, 403, "{err}");
    // Unknown tokens: 401.
    let (status, _) = app
        .api_as("nobody", Method::GET, &format!("/v1/broadcasts/{other}"), None)
        .await;
    assert_eq!(status, 401);
    app.stack.stop().await;
}

#[tokio::test]
async fn exports_erasures_and_page_token_changes_are_audited_without_personal_data() {
    let app = tenant_app().await;
    app.register_page(PAGE_A).await; // by the admin token
    app.say(PAGE_A, LEAD_A, "m_ta2", "audit me").await;
    let (status, export) = app
        .api_as(
            DPO,
            Method::GET,
            &format!("/v1/export?page_id={PAGE_A}&psid={LEAD_A}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{export}");
    let (status, erasure) = app
        .api_as(
            DPO,
            Method::POST,
            "/v1/erasure",
            Some(json!({"page_id": PAGE_A, "psid": LEAD_A})),
        )
        .await;
    assert_eq!(status, 202, "{erasure}");
    // The request is the DPO's to follow; a page-scoped caller without the
    // scope cannot.
    let request = erasure["request_id"].as_str().unwrap();
    let (status, _) = app
        .api_as(DPO, Method::GET, &format!("/v1/erasure/{request}"), None)
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .api_as(MARKETER, Method::GET, &format!("/v1/erasure/{request}"), None)
        .await;
    assert_eq!(status, 403);

    let audit: Vec<Item> = app
        .scan("PrivacyTable")
        .await
        .into_iter()
        .filter(|i| s(i, "pk").starts_with("AUDIT#"))
        .collect();
    let mut seen: Vec<(String, String)> = audit.iter().map(|i| (s(i, "actor"), s(i, "action"))).collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("admin".to_string(), "page_token".to_string()),
            ("dpo".to_string(), "erasure".to_string()),
            ("dpo".to_string(), "export".to_string()),
        ]
    );
    for item in &audit {
        assert_eq!(s(item, "page_id"), PAGE_A);
        let text = format!("{item:?}");
        assert!(
            !text.contains(LEAD_A) && !text.contains("audit me") && !text.contains(PAGE_TOKEN),
            "{text}"
        );
    }
    let subject = optcast_shared::crypto::subject_digest(
        &optcast_shared::ids::PageId::parse(PAGE_A).unwrap(),
        &optcast_shared::ids::Psid::parse(LEAD_A).unwrap(),
    );
    assert!(audit
        .iter()
        .filter(|i| s(i, "action") != "page_token")
        .all(|i| s(i, "subject_digest") == subject));
    app.stack.stop().await;
}
