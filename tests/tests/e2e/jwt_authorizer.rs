//! The management API behind API Gateway's JWT authorizer, as deployed:
//! the local stack validates the bearer JWT against the issuer's keys (the
//! fake OIDC provider's) and refuses as API Gateway does; the API reads the
//! claims it passes, so pages and scopes are enforced as with tokens.

use optcast_local::fake_oidc::SigningKey;
use optcast_tests::oidc::*;
use serde_json::json;

fn now_s() -> i64 {
    optcast_shared::http::now_ms() / 1000
}

#[tokio::test]
async fn behind_the_jwt_authorizer_a_providers_token_is_served_and_a_bad_one_gets_api_gateways_401() {
    let oidc = spawn_oidc_app().await;
    let good = oidc.token(json!({}));
    let (status, _, body) = oidc
        .get(
            "/v1/broadcasts?page_id=1000000000000701",
            Some(&format!("Bearer {good}")),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["broadcasts"], json!([]));

    let unauthorized = json!({"message": "Unauthorized"});
    let kid = oidc.idp.key().jwk()["kid"].as_str().unwrap().to_string();
    let forged = SigningKey::generate(&kid).sign(&json!({
        "iss": oidc.idp.issuer(), "sub": "intruder", "client_id": CONSOLE_CLIENT, "scope": ALL_SCOPES,
        "optcast_pages": "*", "exp": now_s() + 600,
    }));
    for (case, authorization, why) in [
        ("no token", None, "no token"),
        (
            "the local admin token",
            Some(format!("Bearer {}", optcast_tests::ADMIN_TOKEN)),
            "malformed",
        ),
        (
            "another issuer",
            Some(format!(
                "Bearer {}",
                oidc.token(json!({"iss": "https://idp.example.com"}))
            )),
            "issuer",
        ),
        (
            "another audience",
            Some(format!("Bearer {}", oidc.token(json!({"client_id": "another-app"})))),
            "audience",
        ),
        (
            "expired",
            Some(format!("Bearer {}", oidc.token(json!({"exp": now_s() - 1})))),
            "expired",
        ),
        ("a forged signature", Some(format!("Bearer {forged}")), "signature"),
    ] {
        let (status, www, body) = oidc
            .get("/v1/broadcasts?page_id=1000000000000701", authorization.as_deref())
            .await;
        assert_eq!((status, &body), (401, &unauthorized), "{case}");
        assert!(www.starts_with("Bearer ") && www.contains(why), "{case}: {www}");
    }

    // The console itself stays public, and says how to sign in.
    let (status, _, config) = oidc.get("/console/config.json", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        config,
        json!({"sign_in": "oidc", "issuer": oidc.idp.issuer(), "client_id": CONSOLE_CLIENT,
               "scopes": ALL_SCOPES.split(' ').collect::<Vec<_>>()})
    );
    let page = oidc.app.http.get(oidc.app.url("/console")).send().await.unwrap();
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(
        csp.contains(&format!("connect-src 'self' {};", oidc.idp.issuer())),
        "{csp}"
    );
}

#[tokio::test]
async fn a_jwt_for_one_page_cannot_read_another_a_missing_scope_is_403_and_time_ends_a_token() {
    let oidc = spawn_oidc_app().await;
    let (mine, theirs) = ("1000000000000711", "1000000000000712");
    let one_page = oidc.token(json!({"optcast_pages": [mine]}));
    let (status, _, body) = oidc
        .get(
            &format!("/v1/pages/{theirs}/subscribers/2000000000007111"),
            Some(&format!("Bearer {one_page}")),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found")),
        "{body}"
    );
    let (status, _, body) = oidc
        .get(
            &format!("/v1/broadcasts?page_id={mine}"),
            Some(&format!("Bearer {one_page}")),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // The route needs data:export: API Gateway refuses before the function runs.
    let reader = oidc
        .idp
        .access_token(CONSOLE_CLIENT, "openid broadcasts:read", json!({}));
    let (status, www, body) = oidc
        .get(
            &format!("/v1/export?page_id={mine}&psid=2000000000007111"),
            Some(&format!("Bearer {reader}")),
        )
        .await;
    assert_eq!((status, body), (403, json!({"message": "Forbidden"})));
    assert!(
        www.contains("insufficient_scope") && www.contains("data:export"),
        "{www}"
    );

    // Two hours later the same token has expired.
    oidc.app
        .stack
        .clock
        .set_now_ms(optcast_shared::http::now_ms() + 2 * 3_600_000);
    let (status, www, _) = oidc
        .get(
            &format!("/v1/broadcasts?page_id={mine}"),
            Some(&format!("Bearer {one_page}")),
        )
        .await;
    assert_eq!(status, 401);
    assert!(www.contains("the token has expired"), "{www}");
}
