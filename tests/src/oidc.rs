//! A stack as deployed in AWS: the management routes behind API Gateway's
//! JWT authorizer (emulated by the local stack), the console signing in
//! through an OpenID Connect provider (the fake one, on its own origin).

use optcast_local::fake_oidc::FakeOidc;
use optcast_shared::clock::Clock;

use crate::{spawn_app_with, TestApp};

/// The console's client id; also the authorizer's audience (as with a
/// Cognito app client, whose access tokens carry it as `client_id`).
pub const CONSOLE_CLIENT: &str = "optcast-console";

/// Every scope of the management API, as the fake provider grants them.
pub const ALL_SCOPES: &str =
    "openid pages:write broadcasts:read broadcasts:write subscribers:read subscribers:write data:export data:erase";

pub struct OidcApp {
    pub app: TestApp,
    pub idp: FakeOidc,
}

/// Starts a fake OIDC provider and a stack whose `AdminJwtIssuer` is it,
/// `AdminJwtAudience` and `ConsoleOidcClientId` the console's client, the
/// console's callback registered with the provider. Provider and stack
/// share one clock, so a test can let tokens expire.
pub async fn spawn_oidc_app() -> OidcApp {
    let clock = Clock::default();
    let idp = FakeOidc::start(clock.clone()).await.expect("fake OIDC provider starts");
    let issuer = idp.issuer().to_string();
    let app = spawn_app_with(|o| {
        o.clock = clock;
        o.parameters.insert("AdminJwtIssuer".into(), issuer);
        o.parameters.insert("AdminJwtAudience".into(), CONSOLE_CLIENT.into());
        o.parameters.insert("ConsoleOidcClientId".into(), CONSOLE_CLIENT.into());
    })
    .await;
    idp.register_client(CONSOLE_CLIENT, &[&app.url("/console/callback")]);
    OidcApp { app, idp }
}

impl OidcApp {
    /// An access token as the provider issues the console, with `extra`
    /// claims added or replaced.
    pub fn token(&self, extra: serde_json::Value) -> String {
        self.idp.access_token(CONSOLE_CLIENT, ALL_SCOPES, extra)
    }

    /// Status, `www-authenticate` and JSON body of `GET path` with `authorization`.
    pub async fn get(&self, path: &str, authorization: Option<&str>) -> (u16, String, serde_json::Value) {
        let mut req = self.app.http.get(self.app.url(path));
        if let Some(a) = authorization {
            req = req.header("authorization", a);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let www = resp
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        (status, www, resp.json().await.unwrap_or(serde_json::Value::Null))
    }
}
