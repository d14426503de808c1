//! A fake OpenID Connect provider for tests and local runs, on its own port
//! (its own origin, as a real provider is): discovery, JWKS, an authorize
//! endpoint that signs the user in at once and sends the browser back with
//! a code, and a token endpoint that checks PKCE (S256, RFC 7636) and returns
//! an RS256 access token shaped like a Cognito user pool's (`client_id`,
//! `scope`, `token_use`) with the `optcast_pages` claim. It refuses what a
//! real provider refuses (RFC 6749 §4.1.2.1, §5.2): an unknown client or
//! redirect URI (no redirect at all), a missing challenge, a wrong verifier,
//! a reused or expired code, a redirect URI that differs from the one the
//! code was issued for.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use optcast_shared::clock::Clock;
use serde_json::{json, Value};

/// How long an authorization code may be exchanged (s): RFC 6749 §4.1.2
/// recommends at most ten minutes.
const CODE_TTL_S: i64 = 600;

/// An RS256 signing key, generated per run (never stored), and its public JWK.
pub struct SigningKey {
    kid: String,
    pair: KeyPair,
}

impl SigningKey {
    /// A fresh 2048-bit RSA key named `kid`.
    ///
    /// # Panics
    /// When the system cannot generate a key (no randomness).
    pub fn generate(kid: &str) -> Self {
        Self {
            kid: kid.to_string(),
            pair: KeyPair::generate(KeySize::Rsa2048).expect("RSA key generation"),
        }
    }

    /// The public key as a JWK (RFC 7517, 7518 §6.3).
    pub fn jwk(&self) -> Value {
        let public = self.pair.public_key();
        json!({
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid,
            "n": B64.encode(public.modulus().big_endian_without_leading_zero()),
            "e": B64.encode(public.exponent().big_endian_without_leading_zero()),
        })
    }

    /// `claims` as a compact JWS signed with RS256, `kid` in its header.
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": self.kid});
        let input = format!("{}.{}", B64.encode(header.to_string()), B64.encode(claims.to_string()));
        let mut sig = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                input.as_bytes(),
                &mut sig,
            )
            .expect("RSA signing");
        format!("{input}.{}", B64.encode(sig))
    }
}

/// The user the provider signs in, and what their access token carries.
#[derive(Debug, Clone)]
pub struct User {
    pub sub: String,
    /// The `optcast_pages` claim: `"*"` or page ids.
    pub pages: Value,
    /// Scopes this user may be granted (of those the client asks for).
    pub scopes: Vec<String>,
}

struct Grant {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    scope: String,
    issued_s: i64,
    used: bool,
}

struct State {
    clients: HashMap<String, Vec<String>>,
    codes: HashMap<String, Grant>,
    user: User,
    token_lifetime_s: i64,
}

/// The provider. Clones share it.
#[derive(Clone)]
pub struct FakeOidc {
    issuer: String,
    key: Arc<SigningKey>,
    clock: Clock,
    state: Arc<Mutex<State>>,
}

fn random_token() -> String {
    let mut bytes = [0u8; 24];
    aws_lc_rs::rand::fill(&mut bytes).expect("randomness");
    B64.encode(bytes)
}

impl FakeOidc {
    /// Serves a provider on a free loopback port until the runtime ends,
    /// timing its tokens by `clock`; its user may use every page and scope.
    ///
    /// # Errors
    /// When no port can be bound.
    pub async fn start(clock: Clock) -> std::io::Result<FakeOidc> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let fake = FakeOidc {
            issuer: format!("http://{}", listener.local_addr()?),
            key: Arc::new(SigningKey::generate(&format!("fake-{}", &random_token()[..8]))),
            clock,
            state: Arc::new(Mutex::new(State {
                clients: HashMap::new(),
                codes: HashMap::new(),
                user: User {
                    sub: "marketer-1".into(),
                    pages: json!("*"),
                    scopes: optcast_shared::access::Scope::ALL
                        .iter()
                        .map(|s| s.as_str().to_string())
                        .chain(["openid".to_string()])
                        .collect(),
                },
                token_lifetime_s: 3600,
            })),
        };
        let served = fake.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let fake = served.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let fake = fake.clone();
                        async move { Ok::<_, Infallible>(fake.serve(req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(fake)
    }

    /// The issuer URL (`iss`; discovery under it).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The provider's signing key (tests mint tokens with it).
    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// Registers a public client and the redirect URIs it may use (exact match).
    pub fn register_client(&self, client_id: &str, redirect_uris: &[&str]) {
        let mut state = self.state.lock().expect("fake OIDC state");
        state.clients.insert(
            client_id.to_string(),
            redirect_uris.iter().map(|u| u.to_string()).collect(),
        );
    }

    /// Who signs in from now on.
    pub fn set_user(&self, user: User) {
        self.state.lock().expect("fake OIDC state").user = user;
    }

    /// An access token for `client_id` as the token endpoint issues it, with
    /// `extra` claims added or replaced (tests: wrong issuer, expired, …).
    pub fn access_token(&self, client_id: &str, scope: &str, extra: Value) -> String {
        let state = self.state.lock().expect("fake OIDC state");
        let now = self.clock.now_ms() / 1000;
        let mut claims = json!({
            "iss": self.issuer, "sub": state.user.sub, "client_id": client_id, "token_use": "access",
            "scope": scope, "optcast_pages": state.user.pages, "iat": now, "auth_time": now,
            "exp": now + state.token_lifetime_s, "jti": random_token(),
        });
        if let (Some(c), Some(e)) = (claims.as_object_mut(), extra.as_object()) {
            c.extend(e.clone());
        }
        self.key.sign(&claims)
    }

    async fn serve(&self, req: hyper::Request<hyper::body::Incoming>) -> hyper::Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        let query: HashMap<String, String> = form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
        match (parts.method.as_str(), parts.uri.path()) {
            ("GET", "/.well-known/openid-configuration") => json_response(200, &self.discovery()),
            ("GET", "/jwks") => json_response(200, &json!({"keys": [self.key.jwk()]})),
            ("GET", "/authorize") => self.authorize(&query),
            ("POST", "/token") => {
                let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
                match self.token(&form) {
                    Ok(tokens) => json_response(200, &tokens),
                    Err((status, error, why)) => {
                        json_response(status, &json!({"error": error, "error_description": why}))
                    }
                }
            }
            // A CORS preflight (a browser asks before a cross-origin POST it may not send plainly).
            ("OPTIONS", _) => {
                let mut resp = json_response(204, &Value::Null);
                resp.headers_mut()
                    .insert("access-control-allow-methods", "GET, POST".parse().unwrap());
                resp.headers_mut()
                    .insert("access-control-allow-headers", "content-type".parse().unwrap());
                resp
            }
            _ => json_response(404, &json!({"error": "not_found"})),
        }
    }

    fn discovery(&self) -> Value {
        let i = &self.issuer;
        json!({
            "issuer": i, "authorization_endpoint": format!("{i}/authorize"), "token_endpoint": format!("{i}/token"),
            "jwks_uri": format!("{i}/jwks"), "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"], "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none"], "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        })
    }

    /// The user is signed in at once; the browser goes back with a code.
    fn authorize(&self, q: &HashMap<String, String>) -> hyper::Response<Full<Bytes>> {
        let get = |k: &str| q.get(k).map(String::as_str).unwrap_or_default();
        let mut state = self.state.lock().expect("fake OIDC state");
        let (client_id, redirect_uri) = (get("client_id"), get("redirect_uri"));
        // §4.1.2.1: a bad client or redirect URI is never redirected to.
        let known = state
            .clients
            .get(client_id)
            .is_some_and(|uris| uris.iter().any(|u| u == redirect_uri));
        if !known {
            return json_response(
                400,
                &json!({"error": "invalid_request", "error_description": "unknown client or redirect_uri"}),
            );
        }
        let back = |params: &[(&str, &str)]| {
            let mut url = format!("{redirect_uri}?");
            url.push_str(
                &form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(params)
                    .finish(),
            );
            hyper::Response::builder()
                .status(302)
                .header("location", url)
                .body(Full::new(Bytes::new()))
                .expect("static response parts")
        };
        let st = get("state");
        if get("response_type") != "code" {
            return back(&[("error", "unsupported_response_type"), ("state", st)]);
        }
        if get("code_challenge_method") != "S256" || get("code_challenge").len() != 43 {
            return back(&[
                ("error", "invalid_request"),
                ("error_description", "PKCE with S256 is required"),
                ("state", st),
            ]);
        }
        let requested: Vec<&str> = get("scope").split_whitespace().collect();
        let scope = requested
            .iter()
            .filter(|s| state.user.scopes.iter().any(|u| u == *s))
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        let code = random_token();
        state.codes.insert(
            code.clone(),
            Grant {
                client_id: client_id.to_string(),
                redirect_uri: redirect_uri.to_string(),
                challenge: get("code_challenge").to_string(),
                scope,
                issued_s: self.clock.now_ms() / 1000,
                used: false,
            },
        );
        back(&[("code", &code), ("state", st)])
    }

    /// The code exchange (RFC 6749 §4.1.3, RFC 7636 §4.6); errors as §5.2.
    fn token(&self, f: &HashMap<String, String>) -> Result<Value, (u16, &'static str, &'static str)> {
        let get = |k: &str| f.get(k).map(String::as_str).unwrap_or_default();
        if get("grant_type") != "authorization_code" {
            return Err((400, "unsupported_grant_type", "only authorization_code"));
        }
        let (client_id, scope) = {
            let mut state = self.state.lock().expect("fake OIDC state");
            let now = self.clock.now_ms() / 1000;
            let grant = state
                .codes
                .get_mut(get("code"))
                .ok_or((400, "invalid_grant", "unknown code"))?;
            if grant.used {
                return Err((400, "invalid_grant", "the code was already used"));
            }
            grant.used = true;
            if now - grant.issued_s > CODE_TTL_S {
                return Err((400, "invalid_grant", "the code has expired"));
            }
            if grant.client_id != get("client_id") {
                return Err((400, "invalid_grant", "the code was issued to another client"));
            }
            if grant.redirect_uri != get("redirect_uri") {
                return Err((
                    400,
                    "invalid_grant",
                    "redirect_uri differs from the authorization request's",
                ));
            }
            let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, get("code_verifier").as_bytes());
            if B64.encode(digest.as_ref()) != grant.challenge {
                return Err((400, "invalid_grant", "code_verifier does not match the code_challenge"));
            }
            (grant.client_id.clone(), grant.scope.clone())
        };
        let access = self.access_token(&client_id, &scope, json!({}));
        let (sub, lifetime) = {
            let state = self.state.lock().expect("fake OIDC state");
            (state.user.sub.clone(), state.token_lifetime_s)
        };
        let now = self.clock.now_ms() / 1000;
        let id = self.key.sign(&json!({
            "iss": self.issuer, "sub": sub, "aud": client_id, "token_use": "id", "iat": now, "exp": now + lifetime,
        }));
        Ok(json!({"access_token": access, "id_token": id, "token_type": "Bearer", "expires_in": lifetime}))
    }
}

/// JSON with the headers every answer of a provider's public endpoints has:
/// any origin may read it (a browser app calls them), nothing is cached.
fn json_response(status: u16, body: &Value) -> hyper::Response<Full<Bytes>> {
    let text = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    hyper::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .header("access-control-allow-origin", "*")
        .body(Full::new(Bytes::from(text)))
        .expect("static response parts")
}

#[cfg(test)]
#[path = "fake_oidc_tests.rs"]
mod tests;
