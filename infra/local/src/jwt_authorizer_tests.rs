//! The authorizer's decisions, without a network: tokens signed by a
//! generated key, checked against its JWKS at a fixed "now".

use super::*;
use crate::fake_oidc::SigningKey;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde_json::json;

const ISSUER: &str = "https://cognito-idp.us-west-2.amazonaws.com/us-west-2_Test";
const NOW: i64 = 1_764_547_200;

struct Fixture {
    key: SigningKey,
    jwks: JwkSet,
    cfg: JwtConfig,
}

fn fixture() -> Fixture {
    let key = SigningKey::generate("k1");
    let jwks = serde_json::from_value(json!({"keys": [key.jwk()]})).unwrap();
    Fixture {
        key,
        jwks,
        cfg: JwtConfig {
            issuer: ISSUER.into(),
            audience: vec!["console-client".into()],
        },
    }
}

fn claims(extra: Value) -> Value {
    let mut c = json!({
        "iss": ISSUER, "sub": "user-1", "client_id": "console-client", "token_use": "access",
        "scope": "openid broadcasts:read", "optcast_pages": ["101", "102"], "iat": NOW - 10, "exp": NOW + 3600,
    });
    c.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    c
}

impl Fixture {
    fn check(&self, token: &str, scopes: &[&str]) -> Result<Authorized, Refusal> {
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        authorize(Some(&format!("Bearer {token}")), &self.cfg, &self.jwks, &scopes, NOW)
    }
}

#[test]
fn a_valid_token_passes_with_its_claims_flattened_as_api_gateway_passes_them() {
    let f = fixture();
    let ok = f.check(&f.key.sign(&claims(json!({}))), &["broadcasts:read"]).unwrap();
    assert_eq!(ok.claims["sub"], "user-1");
    assert_eq!(ok.claims["optcast_pages"], "[101 102]");
    assert_eq!(ok.claims["exp"], (NOW + 3600).to_string());
    assert_eq!(
        ok.scopes,
        Some(vec!["openid".to_string(), "broadcasts:read".to_string()])
    );
    // The identity source may hold the token alone.
    let bare = authorize(Some(&f.key.sign(&claims(json!({})))), &f.cfg, &f.jwks, &[], NOW).unwrap();
    assert_eq!(bare.scopes, None);
    // The API's JWT path reads these claims unchanged.
    let caller = optcast_shared::access::from_jwt(&ok.claims, ok.scopes.as_deref(), "optcast_pages").unwrap();
    assert_eq!(caller.name, "user-1");
}

#[test]
fn an_aud_claim_is_checked_before_client_id_and_either_must_be_an_audience() {
    let f = fixture();
    let t = |extra| f.check(&f.key.sign(&claims(extra)), &[]);
    assert!(t(json!({"aud": "console-client", "client_id": "other"})).is_ok());
    assert!(t(json!({"aud": ["x", "console-client"]})).is_ok());
    let wrong = Err(Refusal::InvalidToken("the token does not have a valid audience"));
    assert_eq!(t(json!({"aud": "other", "client_id": "console-client"})), wrong);
    assert_eq!(t(json!({"client_id": "other"})), wrong);
    assert_eq!(t(json!({"client_id": null})), wrong);
}

#[test]
fn a_token_from_another_issuer_expired_not_yet_valid_or_issued_later_is_refused() {
    let f = fixture();
    let t = |extra| f.check(&f.key.sign(&claims(extra)), &[]);
    assert_eq!(
        t(json!({"iss": "https://evil.example.com"})),
        Err(Refusal::InvalidToken("the token does not have a valid issuer"))
    );
    assert_eq!(
        t(json!({"exp": NOW})),
        Err(Refusal::InvalidToken("the token has expired"))
    );
    assert_eq!(
        t(json!({"exp": "tomorrow"})),
        Err(Refusal::InvalidToken("the token has a malformed time claim"))
    );
    assert_eq!(
        t(json!({"nbf": NOW + 60})),
        Err(Refusal::InvalidToken("the token is not valid yet"))
    );
    assert_eq!(
        t(json!({"iat": NOW + 60})),
        Err(Refusal::InvalidToken("the token was issued in the future"))
    );
    let mut no_exp = claims(json!({}));
    no_exp.as_object_mut().unwrap().remove("exp");
    assert_eq!(
        f.check(&f.key.sign(&no_exp), &[]),
        Err(Refusal::InvalidToken("the token has no expiry"))
    );
}

#[test]
fn a_forged_altered_unsigned_or_unknown_key_token_is_refused() {
    let f = fixture();
    // Another key under the same kid: a forgery.
    let forged = SigningKey::generate("k1").sign(&claims(json!({})));
    assert_eq!(
        f.check(&forged, &[]),
        Err(Refusal::InvalidToken("the token's signature is invalid"))
    );
    // A valid token whose claims were changed after signing.
    let good = f.key.sign(&claims(json!({})));
    let parts: Vec<&str> = good.split('.').collect();
    let widened = B64.encode(claims(json!({"optcast_pages": "*"})).to_string());
    assert_eq!(
        f.check(&format!("{}.{widened}.{}", parts[0], parts[2]), &[]),
        Err(Refusal::InvalidToken("the token's signature is invalid"))
    );
    // alg none, and a key the issuer does not publish.
    let none = format!("{}.{}.", B64.encode(r#"{"alg":"none","kid":"k1"}"#), parts[1]);
    assert!(matches!(f.check(&none, &[]), Err(Refusal::InvalidToken(_))));
    let other_kid = SigningKey::generate("k2").sign(&claims(json!({})));
    assert_eq!(
        f.check(&other_kid, &[]),
        Err(Refusal::InvalidToken("the token's kid is not in the issuer's key set"))
    );
    assert_eq!(
        authorize(None, &f.cfg, &f.jwks, &[], NOW),
        Err(Refusal::InvalidToken("no token"))
    );
    assert_eq!(
        authorize(Some("Bearer "), &f.cfg, &f.jwks, &[], NOW),
        Err(Refusal::InvalidToken("no token"))
    );
    assert!(matches!(f.check("not.a.jwt", &[]), Err(Refusal::InvalidToken(_))));
}

#[test]
fn a_route_with_scopes_needs_one_of_them_in_scope_or_scp_else_403() {
    let f = fixture();
    let t = |extra, scopes: &[&str]| f.check(&f.key.sign(&claims(extra)), scopes);
    assert!(t(json!({}), &["broadcasts:read", "broadcasts:write"]).is_ok());
    assert!(t(json!({"scope": null, "scp": ["data:erase"]}), &["data:erase"]).is_ok());
    let refused = t(json!({}), &["data:erase"]);
    assert_eq!(refused, Err(Refusal::InsufficientScope(vec!["data:erase".into()])));
    let (status, header, body) = refused.unwrap_err().response_parts();
    assert_eq!((status, body), (403, r#"{"message":"Forbidden"}"#));
    assert!(header.contains("error=\"insufficient_scope\""), "{header}");
    let (status, header, body) = Refusal::InvalidToken("the token has expired").response_parts();
    assert_eq!((status, body), (401, r#"{"message":"Unauthorized"}"#));
    assert_eq!(
        header,
        r#"Bearer scope="" error="invalid_token" error_description="the token has expired""#
    );
}

#[test]
fn the_request_context_is_an_api_gateway_v2_one_with_the_jwt_claims() {
    let f = fixture();
    let ok = f.check(&f.key.sign(&claims(json!({}))), &["broadcasts:read"]).unwrap();
    let ctx = ok
        .request_context("GET", "/v1/broadcasts", "/v1/broadcasts", NOW * 1000)
        .unwrap();
    let lambda_http::request::RequestContext::ApiGatewayV2(v2) = ctx else {
        panic!("not a v2 context");
    };
    assert_eq!(v2.route_key.as_deref(), Some("GET /v1/broadcasts"));
    let jwt = v2.authorizer.unwrap().jwt.unwrap();
    assert_eq!(jwt.claims, ok.claims);
    assert_eq!(jwt.scopes, ok.scopes);
}

#[test]
fn the_templates_admin_authorizer_is_read_only_once_its_issuer_is_set() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml");
    let mut template = Template::load(std::path::Path::new(path)).unwrap();
    let done = Provisioned::default();
    assert!(from_template(&template, &done).is_empty());
    for (name, value) in [("AdminJwtIssuer", ISSUER), ("AdminJwtAudience", "console-client")] {
        template.parameters[name]
            .as_object_mut()
            .unwrap()
            .insert("Default".into(), value.into());
    }
    assert_eq!(
        from_template(&template, &done).get("AdminJwt"),
        Some(&JwtConfig {
            issuer: ISSUER.into(),
            audience: vec!["console-client".into()]
        })
    );
}
