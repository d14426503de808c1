//! API Gateway's HTTP API JWT authorizer, emulated so the local stack
//! authorizes management calls as AWS does once `AdminJwtIssuer` is set:
//! the bearer JWT's RSA signature against the issuer's JWKS (found through
//! `<issuer>/.well-known/openid-configuration`), then `iss`, `aud` (or
//! `client_id` when there is no `aud`), `exp`, `nbf`, `iat`, and, when the
//! route names scopes, at least one of them in `scope` or `scp`. A refusal is
//! API Gateway's: 401 `{"message":"Unauthorized"}` (403 `{"message":"Forbidden"}`
//! for a missing scope) with a `www-authenticate` header saying why. An
//! accepted call reaches the function with the claims in
//! `requestContext.authorizer.jwt`, flattened to strings as API Gateway
//! flattens them, so the API's JWT path runs unchanged.
//! Rules from AWS's "Control access to HTTP APIs with JWT authorizers" and
//! "Troubleshooting issues with HTTP API JWT authorizers".

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use tokio::sync::Mutex;

use crate::provision::{resolve, Provisioned};
use crate::template::Template;

/// API Gateway keeps an issuer's public keys for two hours.
const JWKS_TTL: Duration = Duration::from_secs(2 * 60 * 60);

/// One JWT authorizer of the template (`HttpApi` `Auth.Authorizers.<name>.JwtConfiguration`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtConfig {
    /// `issuer`: the `iss` a token must carry, exactly.
    pub issuer: String,
    /// `audience`: a token's `aud` (or `client_id`) must be one of these.
    pub audience: Vec<String>,
}

/// The template's JWT authorizers whose issuer resolves to a value (locally
/// `AdminJwtIssuer` has no default: without it, no route is authorized here
/// and the API checks its bearer tokens itself).
pub fn from_template(template: &Template, done: &Provisioned) -> BTreeMap<String, JwtConfig> {
    let mut out = BTreeMap::new();
    for (_, api) in template.of_type("AWS::Serverless::HttpApi") {
        let Some(authorizers) = api.properties["Auth"]["Authorizers"].as_object() else {
            continue;
        };
        for (name, a) in authorizers {
            let jwt = &a["JwtConfiguration"];
            let Some(issuer) = resolve(&jwt["issuer"], done, template).filter(|i| !i.is_empty()) else {
                continue;
            };
            let audience = jwt["audience"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| resolve(v, done, template))
                .filter(|a| !a.is_empty())
                .collect();
            out.insert(name.clone(), JwtConfig { issuer, audience });
        }
    }
    out
}

/// Why a call is refused, as API Gateway answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 401: no token, or one that is not valid (`error_description`).
    InvalidToken(&'static str),
    /// 403: a valid token without any of the route's scopes.
    InsufficientScope(Vec<String>),
}

impl Refusal {
    /// Status, `www-authenticate` value and body.
    pub fn response_parts(&self) -> (u16, String, &'static str) {
        match self {
            Refusal::InvalidToken(why) => (
                401,
                format!("Bearer scope=\"\" error=\"invalid_token\" error_description=\"{why}\""),
                r#"{"message":"Unauthorized"}"#,
            ),
            Refusal::InsufficientScope(scopes) => (
                403,
                format!(
                    "Bearer scope=\"{}\" error=\"insufficient_scope\" error_description=\"expected scopes: [{}]\"",
                    scopes.join(" "),
                    scopes.join(" ")
                ),
                r#"{"message":"Forbidden"}"#,
            ),
        }
    }
}

/// What an accepted token gives the function: its claims, flattened to
/// strings, and the scopes it carries (when the route names scopes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorized {
    pub claims: HashMap<String, String>,
    pub scopes: Option<Vec<String>>,
}

impl Authorized {
    /// The v2 event's `requestContext` for `method path` with this
    /// authorizer result in it, as API Gateway builds it.
    pub fn request_context(
        &self,
        method: &str,
        route_path: &str,
        path: &str,
        now_ms: i64,
    ) -> Option<lambda_http::request::RequestContext> {
        let ctx = serde_json::json!({
            "accountId": "123456789012", "apiId": "local", "domainName": "127.0.0.1", "domainPrefix": "local",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": ""},
            "requestId": format!("local-{now_ms}"), "routeKey": format!("{method} {route_path}"), "stage": "$default",
            "time": "", "timeEpoch": now_ms,
            "authorizer": {"jwt": {"claims": self.claims, "scopes": self.scopes}}
        });
        serde_json::from_value(ctx)
            .ok()
            .map(lambda_http::request::RequestContext::ApiGatewayV2)
    }
}

/// The token in `authorization` (the identity source
/// `$request.header.Authorization`): the value alone, or after `Bearer `.
fn token_of(authorization: Option<&str>) -> Option<&str> {
    let v = authorization?.trim();
    if v.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = match v.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ => v,
    };
    (!token.is_empty()).then_some(token)
}

/// A claim value as API Gateway passes it: strings as they are, numbers
/// and booleans as text, arrays as `[a b]`, objects as `map[k:v]`.
fn flatten(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => format!("[{}]", items.iter().map(flatten).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => format!(
            "map[{}]",
            m.iter()
                .map(|(k, v)| format!("{k}:{}", flatten(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Decides on `authorization` for a route that needs one of `route_scopes`
/// (none: any valid token), with the issuer's keys `jwks`, at `now_s`
/// (seconds since the epoch). Pure: the keys are fetched elsewhere.
///
/// # Errors
/// [`Refusal`] as API Gateway would refuse the call.
pub fn authorize(
    authorization: Option<&str>,
    cfg: &JwtConfig,
    jwks: &JwkSet,
    route_scopes: &[String],
    now_s: i64,
) -> Result<Authorized, Refusal> {
    let token = token_of(authorization).ok_or(Refusal::InvalidToken("no token"))?;
    let header = jsonwebtoken::decode_header(token).map_err(|_| Refusal::InvalidToken("the token is malformed"))?;
    // Only RSA algorithms are supported (AWS: "API Gateway supports only RSA-based algorithms").
    if !matches!(header.alg, Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512) {
        return Err(Refusal::InvalidToken("the token's algorithm is not supported"));
    }
    let jwk = header
        .kid
        .as_deref()
        .and_then(|kid| jwks.find(kid))
        .ok_or(Refusal::InvalidToken("the token's kid is not in the issuer's key set"))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|_| Refusal::InvalidToken("the issuer's key is not usable"))?;
    // The signature only: the claims are checked below, on this clock.
    let mut validation = Validation::new(header.alg);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
        .map_err(|_| Refusal::InvalidToken("the token's signature is invalid"))?
        .claims;
    if claims.get("iss").and_then(Value::as_str) != Some(cfg.issuer.as_str()) {
        return Err(Refusal::InvalidToken("the token does not have a valid issuer"));
    }
    // `aud` when present (a string or a list), else `client_id` (Cognito's access tokens).
    let claim = |name: &str| claims.get(name).filter(|v| !v.is_null());
    let audiences: Vec<&str> = match claim("aud").or_else(|| claim("client_id")) {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !audiences.iter().any(|a| cfg.audience.iter().any(|c| c == a)) {
        return Err(Refusal::InvalidToken("the token does not have a valid audience"));
    }
    let time = |name: &str| {
        claims
            .get(name)
            .map(|v| {
                v.as_i64()
                    .ok_or(Refusal::InvalidToken("the token has a malformed time claim"))
            })
            .transpose()
    };
    match time("exp")? {
        Some(exp) if now_s < exp => {}
        Some(_) => return Err(Refusal::InvalidToken("the token has expired")),
        None => return Err(Refusal::InvalidToken("the token has no expiry")),
    }
    if time("nbf")?.is_some_and(|nbf| nbf > now_s) {
        return Err(Refusal::InvalidToken("the token is not valid yet"));
    }
    if time("iat")?.is_some_and(|iat| iat > now_s) {
        return Err(Refusal::InvalidToken("the token was issued in the future"));
    }
    let token_scopes: Vec<String> = match claim("scope").or_else(|| claim("scp")) {
        Some(Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        _ => Vec::new(),
    };
    if !route_scopes.is_empty() && !route_scopes.iter().any(|s| token_scopes.contains(s)) {
        return Err(Refusal::InsufficientScope(route_scopes.to_vec()));
    }
    Ok(Authorized {
        claims: claims.iter().map(|(k, v)| (k.clone(), flatten(v))).collect(),
        scopes: (!route_scopes.is_empty()).then_some(token_scopes),
    })
}

/// One authorizer at work: its configuration, and the issuer's keys,
/// fetched on first use and kept for [`JWKS_TTL`] (again sooner when a
/// token names a key the set lacks: the issuer rotated its keys).
pub struct JwtAuthorizer {
    pub config: JwtConfig,
    http: reqwest::Client,
    keys: Mutex<Option<(JwkSet, Instant)>>,
}

impl JwtAuthorizer {
    pub fn new(config: JwtConfig) -> Self {
        Self {
            config,
            http: reqwest::Client::new(),
            keys: Mutex::new(None),
        }
    }

    /// [`authorize`] with the issuer's current keys.
    ///
    /// # Errors
    /// [`Refusal`] as [`authorize`]; the issuer's keys not being readable is
    /// a 401 too (no key can vouch for the token).
    pub async fn check(
        &self,
        authorization: Option<&str>,
        route_scopes: &[String],
        now_s: i64,
    ) -> Result<Authorized, Refusal> {
        token_of(authorization).ok_or(Refusal::InvalidToken("no token"))?;
        let mut keys = self.keys.lock().await;
        let stale = keys.as_ref().is_none_or(|(_, at)| at.elapsed() > JWKS_TTL);
        if stale {
            *keys = self.fetch().await.map(|k| (k, Instant::now()));
        }
        let Some((set, fetched)) = keys.as_ref() else {
            return Err(Refusal::InvalidToken("the issuer's keys could not be read"));
        };
        let first = authorize(authorization, &self.config, set, route_scopes, now_s);
        let unknown_kid = first == Err(Refusal::InvalidToken("the token's kid is not in the issuer's key set"));
        if unknown_kid && fetched.elapsed() > Duration::from_secs(1) {
            if let Some(fresh) = self.fetch().await {
                *keys = Some((fresh, Instant::now()));
                let set = &keys.as_ref().expect("just set").0;
                return authorize(authorization, &self.config, set, route_scopes, now_s);
            }
        }
        first
    }

    /// The issuer's key set, through its discovery document.
    async fn fetch(&self) -> Option<JwkSet> {
        let discovery = format!(
            "{}/.well-known/openid-configuration",
            self.config.issuer.trim_end_matches('/')
        );
        let doc: Value = self.get_json(&discovery).await?;
        self.get_json(doc["jwks_uri"].as_str()?).await
    }

    /// `url`'s JSON body, or None when it cannot be fetched or read (the
    /// authorizer then refuses, as API Gateway does without the issuer's keys).
    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Option<T> {
        let response = self.http.get(url).send().await.ok()?.error_for_status().ok()?;
        response.json().await.ok()
    }
}

#[cfg(test)]
#[path = "jwt_authorizer_tests.rs"]
mod tests;
