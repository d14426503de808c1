//! How the console signs people in: a pasted token (local runs), or the
//! OpenID Connect authorization-code flow with PKCE against the identity
//! provider whose JWTs API Gateway accepts (AWS). The choice is read once
//! from the environment; the console learns it from `GET /console/config.json`,
//! and the console's Content-Security-Policy allows exactly the provider's
//! origins it must call (discovery and token endpoint) and nothing else.

use optcast_shared::config::{ConfigError, Source};
use serde_json::json;

/// The console's Content-Security-Policy with a pasted token: only this
/// origin's scripts, styles and API; no inline script or style, no framing,
/// no `<base>`, no form submitted as a navigation (the forms are handled by
/// script, so a token typed into one can never end up in a URL), and DOM
/// sinks that take strings (`innerHTML`) refused by Trusted Types: the console
/// builds its DOM with `textContent`.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; \
     require-trusted-types-for 'script'; trusted-types 'none'";

/// The scopes the console asks for when `CONSOLE_OIDC_SCOPES` is unset:
/// `openid` and every scope a route of the management API needs.
pub const DEFAULT_SCOPES: &str = "openid pages:write broadcasts:read broadcasts:write subscribers:read \
     subscribers:write data:export data:erase";

/// How the console signs people in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignIn {
    /// Paste a bearer token (`OPTCAST_ADMIN_TOKEN` locally); also the
    /// fallback in AWS when no client id is configured.
    Token,
    /// The authorization-code flow with PKCE (S256), as a public client.
    Oidc(Oidc),
}

/// An OpenID Connect provider the console signs in with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Oidc {
    /// `CONSOLE_OIDC_ISSUER`: the issuer URL, without a trailing `/`
    /// (`<issuer>/.well-known/openid-configuration` is its discovery
    /// document, OpenID Connect Discovery 1.0 §4). The same issuer API
    /// Gateway's JWT authorizer trusts (`AdminJwtIssuer`).
    pub issuer: String,
    /// `CONSOLE_OIDC_CLIENT_ID`: the console's public client (no secret).
    pub client_id: String,
    /// `CONSOLE_OIDC_SCOPES`: the scopes requested, space separated.
    pub scopes: Vec<String>,
    /// Origins (`scheme://host[:port]`) the console may call: the issuer's
    /// and those in `CONSOLE_OIDC_CONNECT_ORIGINS` (a provider whose token
    /// endpoint is on another host, e.g. a Cognito domain).
    pub connect_origins: Vec<String>,
}

impl SignIn {
    /// The sign-in the environment configures: OIDC when
    /// `CONSOLE_OIDC_CLIENT_ID` is set (then `CONSOLE_OIDC_ISSUER` is
    /// required), else a pasted token.
    ///
    /// # Errors
    /// [`ConfigError::Missing`] for a client id without an issuer;
    /// [`ConfigError::Invalid`] for an issuer that is not an `https` URL
    /// (`http` only on loopback) or carries a query or fragment, a client id
    /// or scope with spaces or control characters, or a connect origin that
    /// is not an origin.
    pub fn from_source(src: &dyn Source) -> Result<Self, ConfigError> {
        let Some(client_id) = src.get("CONSOLE_OIDC_CLIENT_ID").map(|c| c.trim().to_string()) else {
            return Ok(SignIn::Token);
        };
        if client_id.is_empty() || !client_id.chars().all(|c| c.is_ascii_graphic()) {
            return Err(ConfigError::Invalid(
                "CONSOLE_OIDC_CLIENT_ID",
                "a client id is printable ASCII without spaces".into(),
            ));
        }
        let raw_issuer = src
            .get("CONSOLE_OIDC_ISSUER")
            .ok_or(ConfigError::Missing("CONSOLE_OIDC_ISSUER"))?;
        let issuer_url = web_url(&raw_issuer).map_err(|e| ConfigError::Invalid("CONSOLE_OIDC_ISSUER", e))?;
        if issuer_url.query().is_some() || issuer_url.fragment().is_some() {
            return Err(ConfigError::Invalid(
                "CONSOLE_OIDC_ISSUER",
                "an issuer has no query or fragment (OpenID Connect Discovery §2)".into(),
            ));
        }
        let scopes: Vec<String> = src
            .get("CONSOLE_OIDC_SCOPES")
            .unwrap_or_else(|| DEFAULT_SCOPES.into())
            .split_whitespace()
            .map(str::to_string)
            .collect();
        // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
        if scopes.is_empty()
            || scopes
                .iter()
                .any(|s| s.chars().any(|c| !c.is_ascii_graphic() || c == '"' || c == '\\'))
        {
            return Err(ConfigError::Invalid(
                "CONSOLE_OIDC_SCOPES",
                "scopes are space-separated tokens of printable ASCII (RFC 6749 §3.3)".into(),
            ));
        }
        let mut connect_origins = vec![origin(&issuer_url)];
        for raw in src
            .get("CONSOLE_OIDC_CONNECT_ORIGINS")
            .unwrap_or_default()
            .split_whitespace()
        {
            let url = web_url(raw).map_err(|e| ConfigError::Invalid("CONSOLE_OIDC_CONNECT_ORIGINS", e))?;
            let o = origin(&url);
            if o != raw.trim_end_matches('/') {
                return Err(ConfigError::Invalid(
                    "CONSOLE_OIDC_CONNECT_ORIGINS",
                    format!("{raw} is not an origin (scheme://host[:port], no path)"),
                ));
            }
            if !connect_origins.contains(&o) {
                connect_origins.push(o);
            }
        }
        Ok(SignIn::Oidc(Oidc {
            issuer: raw_issuer.trim().trim_end_matches('/').to_string(),
            client_id,
            scopes,
            connect_origins,
        }))
    }

    /// The console's public configuration (`GET /console/config.json`):
    /// `{"sign_in":"token"}`, or `{"sign_in":"oidc","issuer","client_id","scopes":[…]}`.
    /// Nothing in it is a secret: a public client has none.
    pub fn config_json(&self) -> String {
        match self {
            SignIn::Token => json!({"sign_in": "token"}),
            SignIn::Oidc(o) => json!({
                "sign_in": "oidc",
                "issuer": o.issuer,
                "client_id": o.client_id,
                "scopes": o.scopes,
            }),
        }
        .to_string()
    }

    /// The console's Content-Security-Policy: [`CONTENT_SECURITY_POLICY`],
    /// with the provider's origins added to `connect-src` for OIDC (the
    /// console fetches the discovery document and exchanges the code there;
    /// the sign-in page itself is a navigation, which `connect-src` does not
    /// govern).
    pub fn content_security_policy(&self) -> String {
        match self {
            SignIn::Token => CONTENT_SECURITY_POLICY.to_string(),
            SignIn::Oidc(o) => CONTENT_SECURITY_POLICY.replacen(
                "connect-src 'self';",
                &format!("connect-src 'self' {};", o.connect_origins.join(" ")),
                1,
            ),
        }
    }
}

/// `raw` as an absolute `https` URL, or `http` on a loopback host (a local
/// provider); a URL with credentials is refused.
fn web_url(raw: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(raw.trim()).map_err(|e| format!("{raw} is not a URL: {e}"))?;
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err(format!("{raw} is not an https URL (http only on loopback)")),
    }
    if !url.username().is_empty() || url.password().is_some() || url.host_str().is_none() {
        return Err(format!("{raw} is not a plain web URL"));
    }
    Ok(url)
}

/// The ASCII serialisation of `url`'s origin (`scheme://host[:port]`).
fn origin(url: &url::Url) -> String {
    url.origin().ascii_serialization()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(vars: &'static [(&'static str, &'static str)]) -> Result<SignIn, ConfigError> {
        SignIn::from_source(&move |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string()))
    }

    const COGNITO: &str = "https://cognito-idp.us-west-2.amazonaws.com/us-west-2_AbCdEf";

    #[test]
    fn without_a_client_id_the_console_asks_for_a_token_under_the_strict_policy() {
        let sign_in = from(&[("CONSOLE_OIDC_ISSUER", COGNITO)]).unwrap();
        assert_eq!(sign_in, SignIn::Token);
        assert_eq!(sign_in.config_json(), r#"{"sign_in":"token"}"#);
        assert_eq!(sign_in.content_security_policy(), CONTENT_SECURITY_POLICY);
    }

    #[test]
    fn with_a_client_id_the_console_signs_in_with_the_issuer_and_may_call_only_its_origins() {
        let sign_in = from(&[
            ("CONSOLE_OIDC_CLIENT_ID", "4abc123console"),
            (
                "CONSOLE_OIDC_ISSUER",
                "https://cognito-idp.us-west-2.amazonaws.com/us-west-2_AbCdEf/",
            ),
            ("CONSOLE_OIDC_SCOPES", "openid broadcasts:read"),
            (
                "CONSOLE_OIDC_CONNECT_ORIGINS",
                "https://optcast.auth.us-west-2.amazoncognito.com",
            ),
        ])
        .unwrap();
        let config: serde_json::Value = serde_json::from_str(&sign_in.config_json()).unwrap();
        assert_eq!(
            config,
            json!({"sign_in": "oidc", "issuer": COGNITO, "client_id": "4abc123console",
                   "scopes": ["openid", "broadcasts:read"]})
        );
        let csp = sign_in.content_security_policy();
        assert!(
            csp.contains(
                "connect-src 'self' https://cognito-idp.us-west-2.amazonaws.com \
                 https://optcast.auth.us-west-2.amazoncognito.com;"
            ),
            "{csp}"
        );
        // Everything else as strict as with a token.
        assert_eq!(
            csp.replace(
                " https://cognito-idp.us-west-2.amazonaws.com https://optcast.auth.us-west-2.amazoncognito.com",
                ""
            ),
            CONTENT_SECURITY_POLICY
        );
    }

    #[test]
    fn the_console_asks_for_every_scope_the_api_knows_unless_told_otherwise() {
        let SignIn::Oidc(o) = from(&[("CONSOLE_OIDC_CLIENT_ID", "c"), ("CONSOLE_OIDC_ISSUER", COGNITO)]).unwrap()
        else {
            panic!("oidc");
        };
        assert_eq!(o.scopes[0], "openid");
        for scope in optcast_shared::access::Scope::ALL {
            assert!(o.scopes.iter().any(|s| s == scope.as_str()), "{scope:?}");
        }
        assert_eq!(
            o.connect_origins,
            vec!["https://cognito-idp.us-west-2.amazonaws.com".to_string()]
        );
    }

    #[test]
    fn a_client_id_without_a_usable_issuer_stops_the_cold_start_naming_the_variable() {
        assert!(matches!(
            from(&[("CONSOLE_OIDC_CLIENT_ID", "c")]),
            Err(ConfigError::Missing("CONSOLE_OIDC_ISSUER"))
        ));
        for bad in [
            "cognito-idp.us-west-2.amazonaws.com/pool",
            "http://idp.example.com",
            "https://idp.example.com/?tenant=1",
            "https://user:pw@idp.example.com",
        ] {
            let vars: &'static [(&str, &str)] = Box::leak(Box::new([
                ("CONSOLE_OIDC_CLIENT_ID", "c"),
                (
                    "CONSOLE_OIDC_ISSUER",
                    Box::leak(bad.to_string().into_boxed_str()) as &str,
                ),
            ]));
            assert!(
                matches!(from(vars), Err(ConfigError::Invalid("CONSOLE_OIDC_ISSUER", _))),
                "{bad}"
            );
        }
        // A local provider on loopback may be plain http.
        assert!(from(&[
            ("CONSOLE_OIDC_CLIENT_ID", "c"),
            ("CONSOLE_OIDC_ISSUER", "http://127.0.0.1:9000")
        ])
        .is_ok());
        assert!(matches!(
            from(&[("CONSOLE_OIDC_CLIENT_ID", "a b"), ("CONSOLE_OIDC_ISSUER", COGNITO)]),
            Err(ConfigError::Invalid("CONSOLE_OIDC_CLIENT_ID", _))
        ));
        assert!(matches!(
            from(&[
                ("CONSOLE_OIDC_CLIENT_ID", "c"),
                ("CONSOLE_OIDC_ISSUER", COGNITO),
                ("CONSOLE_OIDC_SCOPES", "openid \"x\"")
            ]),
            Err(ConfigError::Invalid("CONSOLE_OIDC_SCOPES", _))
        ));
        assert!(matches!(
            from(&[
                ("CONSOLE_OIDC_CLIENT_ID", "c"),
                ("CONSOLE_OIDC_ISSUER", COGNITO),
                ("CONSOLE_OIDC_CONNECT_ORIGINS", "https://auth.example.com/oauth2/token")
            ]),
            Err(ConfigError::Invalid("CONSOLE_OIDC_CONNECT_ORIGINS", _))
        ));
    }
}
