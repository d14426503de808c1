//! The fake provider refuses what a real one refuses (RFC 6749, RFC 7636).

use super::*;

const CLIENT: &str = "console";
const BACK: &str = "http://127.0.0.1:3000/console/callback";

fn challenge(verifier: &str) -> String {
    B64.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()).as_ref())
}

struct Flow {
    idp: FakeOidc,
    http: reqwest::Client,
}

impl Flow {
    async fn new() -> Flow {
        let idp = FakeOidc::start(Clock::default()).await.unwrap();
        idp.register_client(CLIENT, &[BACK]);
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Flow { idp, http }
    }

    /// The authorize answer: status and `Location`.
    async fn authorize(&self, client: &str, redirect: &str, challenge: &str) -> (u16, String) {
        let q = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("response_type", "code"),
                ("client_id", client),
                ("redirect_uri", redirect),
                ("scope", "openid broadcasts:read"),
                ("state", "s1"),
                ("code_challenge", challenge),
                ("code_challenge_method", "S256"),
            ])
            .finish();
        let resp = self
            .http
            .get(format!("{}/authorize?{q}", self.idp.issuer()))
            .send()
            .await
            .unwrap();
        let location = resp
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_string())
            .unwrap_or_default();
        (resp.status().as_u16(), location)
    }

    async fn code(&self, verifier: &str) -> String {
        let (status, location) = self.authorize(CLIENT, BACK, &challenge(verifier)).await;
        assert_eq!(status, 302);
        let url = reqwest::Url::parse(&location).unwrap();
        assert!(location.starts_with(BACK), "{location}");
        let q: HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(q["state"], "s1");
        q["code"].clone()
    }

    async fn exchange(&self, code: &str, redirect: &str, verifier: &str) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}/token", self.idp.issuer()))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect),
                ("client_id", CLIENT),
                ("code_verifier", verifier),
            ])
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap())
    }
}

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

#[tokio::test]
async fn the_code_and_its_verifier_buy_a_signed_access_token_with_the_granted_scopes() {
    let flow = Flow::new().await;
    let code = flow.code(VERIFIER).await;
    let (status, tokens) = flow.exchange(&code, BACK, VERIFIER).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    let jwks: jsonwebtoken::jwk::JwkSet = flow
        .http
        .get(format!("{}/jwks", flow.idp.issuer()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cfg = crate::jwt_authorizer::JwtConfig {
        issuer: flow.idp.issuer().to_string(),
        audience: vec![CLIENT.into()],
    };
    let now = Clock::default().now_ms() / 1000;
    let bearer = format!("Bearer {}", tokens["access_token"].as_str().unwrap());
    let ok = crate::jwt_authorizer::authorize(Some(&bearer), &cfg, &jwks, &["broadcasts:read".into()], now).unwrap();
    assert_eq!(ok.claims["scope"], "openid broadcasts:read");
    assert_eq!(ok.claims["optcast_pages"], "*");
}

#[tokio::test]
async fn a_wrong_verifier_a_reused_code_or_another_redirect_uri_is_refused_as_invalid_grant() {
    let flow = Flow::new().await;
    let code = flow.code(VERIFIER).await;
    let (status, body) = flow
        .exchange(&code, BACK, "another-verifier-another-verifier-1234567890")
        .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    // A code is good for one exchange, even a failed one.
    let (status, body) = flow.exchange(&code, BACK, VERIFIER).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");

    let code = flow.code(VERIFIER).await;
    assert_eq!(flow.exchange(&code, BACK, VERIFIER).await.0, 200);
    let (status, body) = flow.exchange(&code, BACK, VERIFIER).await;
    assert_eq!(
        (status, body["error_description"].as_str()),
        (400, Some("the code was already used"))
    );

    let code = flow.code(VERIFIER).await;
    let (status, body) = flow.exchange(&code, "http://127.0.0.1:3000/elsewhere", VERIFIER).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
}

#[tokio::test]
async fn an_unknown_client_or_redirect_uri_is_never_redirected_to_and_pkce_is_required() {
    let flow = Flow::new().await;
    let c = challenge(VERIFIER);
    assert_eq!(flow.authorize("stranger", BACK, &c).await, (400, String::new()));
    assert_eq!(
        flow.authorize(CLIENT, "https://evil.example.com/cb", &c).await,
        (400, String::new())
    );
    let (status, location) = flow.authorize(CLIENT, BACK, "").await;
    assert_eq!(status, 302);
    assert!(
        location.contains("error=invalid_request") && !location.contains("code="),
        "{location}"
    );
}
