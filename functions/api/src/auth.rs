//! Who is calling: bearer tokens locally, API Gateway's JWT in AWS, each
//! giving a [`Caller`] with pages and scopes; the scope every route needs.

use lambda_http::{Request, RequestExt};
use optcast_shared::access::{self, AccessError, Caller, Scope, TokenTable};
use optcast_shared::config::{ConfigError, Source};

use crate::{Api, ApiError};

impl From<AccessError> for ApiError {
    fn from(e: AccessError) -> Self {
        match e {
            AccessError::MissingScope(s) => ApiError::Forbidden(s),
            AccessError::PageNotVisible => ApiError::NotFound("page"),
            AccessError::Unauthenticated | AccessError::Config(_) => ApiError::Unauthorized,
        }
    }
}

/// Every route, with the scope it needs. `template.yaml` requires the same
/// scopes per route in API Gateway (a template test compares the two).
pub const ROUTES: &[(&str, &str, Scope)] = &[
    ("PUT", "/v1/pages/{page_id}", Scope::PagesWrite),
    ("POST", "/v1/broadcasts", Scope::BroadcastsWrite),
    ("GET", "/v1/broadcasts/{id}", Scope::BroadcastsRead),
    ("POST", "/v1/broadcasts/{id}/cancel", Scope::BroadcastsWrite),
    ("GET", "/v1/broadcasts/{id}/recipients/{psid}", Scope::BroadcastsRead),
    ("GET", "/v1/pages/{page_id}/subscribers/{psid}", Scope::SubscribersRead),
    ("POST", "/v1/erasure", Scope::DataErase),
    ("GET", "/v1/erasure/{id}", Scope::DataErase),
    ("GET", "/v1/export", Scope::DataExport),
    ("GET", "/v1/quarantine", Scope::SubscribersRead),
    ("POST", "/v1/quarantine/{id}/replay", Scope::BroadcastsWrite),
];

/// The scope `method` on `segments` (the path after `/v1`) needs.
pub(crate) fn route_scope(method: &str, segments: &[&str]) -> Option<Scope> {
    ROUTES.iter().find_map(|(m, pattern, scope)| {
        let parts: Vec<&str> = pattern.trim_start_matches("/v1/").split('/').collect();
        let matches = *m == method
            && parts.len() == segments.len()
            && parts.iter().zip(segments).all(|(p, s)| p.starts_with('{') || p == s);
        matches.then_some(*scope)
    })
}

/// How callers are authenticated.
pub enum AdminAuth {
    /// Bearer tokens (local runs): `OPTCAST_ADMIN_TOKEN` (every page and
    /// scope) and the table of `OPTCAST_API_TOKENS` / `OPTCAST_API_TOKENS_FILE`.
    Tokens(TokenTable),
    /// API Gateway's JWT authorizer already validated the token (AWS); the
    /// caller's pages are in the claim named here (`PAGES_CLAIM`).
    Gateway { pages_claim: String },
    /// Nothing configured: refuse everything.
    Closed,
}

impl Api {
    pub(crate) fn authenticate(&self, req: &Request) -> Result<Caller, ApiError> {
        match &self.auth {
            AdminAuth::Closed => Err(ApiError::Unauthorized),
            AdminAuth::Gateway { pages_claim } => {
                // API Gateway rejects unauthenticated calls before they get
                // here; still refuse a request that carries no JWT context.
                let jwt = match req.request_context_ref() {
                    Some(lambda_http::request::RequestContext::ApiGatewayV2(ctx)) => {
                        ctx.authorizer.as_ref().and_then(|a| a.jwt.as_ref())
                    }
                    _ => None,
                }
                .ok_or(ApiError::Unauthorized)?;
                Ok(access::from_jwt(&jwt.claims, jwt.scopes.as_deref(), pages_claim)?)
            }
            AdminAuth::Tokens(table) => {
                let given = req
                    .headers()
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    // The scheme is case-insensitive (RFC 9110 §11.1).
                    .and_then(|v| {
                        v.split_once(' ')
                            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                    })
                    .map(|(_, token)| token)
                    .ok_or(ApiError::Unauthorized)?;
                table.authenticate(given.trim()).ok_or(ApiError::Unauthorized)
            }
        }
    }
}

/// The authentication the environment configures: bearer tokens,
/// `OPTCAST_ADMIN_TOKEN` (every page and scope, named `admin`) plus the table
/// in `OPTCAST_API_TOKENS` (JSON) or the file `OPTCAST_API_TOKENS_FILE`; else
/// API Gateway's JWT (`ADMIN_AUTH=api-gateway-jwt`, pages from the claim
/// `PAGES_CLAIM`, default `optcast_pages`); else nothing is allowed.
///
/// # Errors
/// [`ConfigError`] when the token table cannot be read or parsed.
pub(crate) fn auth_from_source(src: &dyn Source) -> Result<AdminAuth, ConfigError> {
    let json = match (src.get("OPTCAST_API_TOKENS"), src.get("OPTCAST_API_TOKENS_FILE")) {
        (Some(json), _) => Some(json),
        (None, Some(path)) => Some(
            std::fs::read_to_string(&path)
                .map_err(|e| ConfigError::Invalid("OPTCAST_API_TOKENS_FILE", e.to_string()))?,
        ),
        (None, None) => None,
    };
    let mut table = match json {
        Some(json) => {
            TokenTable::parse(&json).map_err(|e| ConfigError::Invalid("OPTCAST_API_TOKENS", e.to_string()))?
        }
        None => TokenTable::default(),
    };
    if let Some(admin) = src.get("OPTCAST_ADMIN_TOKEN") {
        table = table.with_admin("admin", &admin);
    }
    // Tokens, when configured, win: the local stack runs the template's
    // environment (which names the JWT authorizer) with tokens added.
    Ok(if !table.is_empty() {
        AdminAuth::Tokens(table)
    } else if src.get("ADMIN_AUTH").as_deref() == Some("api-gateway-jwt") {
        AdminAuth::Gateway {
            pages_claim: src.get("PAGES_CLAIM").unwrap_or_else(|| "optcast_pages".into()),
        }
    } else {
        AdminAuth::Closed
    })
}

#[cfg(test)]
mod tests {
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
    fn every_route_the_router_serves_has_a_scope() {
        for (method, path, _) in ROUTES {
            let segments: Vec<&str> = path
                .trim_start_matches("/v1/")
                .split('/')
                .map(|s| if s.starts_with('{') { "1" } else { s })
                .collect();
            assert!(route_scope(method, &segments).is_some(), "{method} {path}");
        }
        assert_eq!(route_scope("DELETE", &["pages", "1"]), None);
    }
}
