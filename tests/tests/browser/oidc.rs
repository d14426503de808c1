//! The console as deployed in AWS: it signs in through the organisation's
//! identity provider (OpenID Connect, authorization code with PKCE; here the
//! fake provider on its own origin), calls the API behind the JWT authorizer
//! with the access token it obtained, and says in words when the session
//! has ended.

use crate::driver::Browser;
use optcast_tests::oidc::*;
use serde_json::json;

const PAGE: &str = "1000000000000941";

/// A page with one scheduled broadcast, created with a provider's token.
async fn page_with_a_broadcast(oidc: &OidcApp) -> String {
    let admin = oidc.token(json!({}));
    let (status, body) = oidc
        .app
        .api_as(
            &admin,
            reqwest::Method::PUT,
            &format!("/v1/pages/{PAGE}"),
            Some(json!({"access_token": optcast_tests::PAGE_TOKEN, "retention_days": 30})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let in_an_hour = time::OffsetDateTime::from_unix_timestamp(optcast_shared::http::now_ms() / 1000 + 3600)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (status, out) = oidc
        .app
        .api_as(
            &admin,
            reqwest::Method::POST,
            "/v1/broadcasts",
            Some(json!({"page_id": PAGE, "message": {"text": "Evening offer"}, "send_at": in_an_hour, "name": "evening"})),
        )
        .await;
    assert_eq!(status, 201, "{out}");
    out["id"].as_str().unwrap().to_string()
}

/// Signs in through the provider (it signs the user in at once) and waits
/// until the console is back, signed in.
async fn sign_in_with_the_provider(browser: &Browser) {
    browser.click("#oidc-sign-in").await;
    // Signed in once the navigation shows: its links exist, hidden, on the
    // sign-in screen too, so waiting for a link returned before the round
    // trip to the provider even began, and a clock the test moved next
    // could date the token the provider issued after it (a CI run saw the
    // "expired" session accepted).
    browser.wait("#nav:not([hidden]) a[href='#/broadcasts']").await;
}

async fn stored_token(browser: &Browser) -> serde_json::Value {
    browser.script("return sessionStorage.getItem('optcast.token')").await
}

#[tokio::test]
async fn a_marketer_signs_in_through_the_identity_provider_lists_broadcasts_and_signs_out() {
    let oidc = spawn_oidc_app().await;
    let id = page_with_a_broadcast(&oidc).await;

    let browser = Browser::start(&oidc.app.url("")).await;
    browser.goto("/console").await;
    browser.wait("#oidc-sign-in").await;
    // Nobody pastes a JWT: the screen offers the provider, no token field.
    assert_eq!(
        browser
            .script("return document.querySelectorAll('input[name=token]').length")
            .await,
        json!(0)
    );
    browser.shot("11-oidc-sign-in").await;
    sign_in_with_the_provider(&browser).await;
    // Back from the provider, the code is gone from the address bar.
    let url = browser.client.current_url().await.unwrap();
    assert_eq!((url.path(), url.query()), ("/console", None), "{url}");
    let token = stored_token(&browser).await;
    let token = token.as_str().expect("an access token in sessionStorage");
    assert_eq!(token.split('.').count(), 3, "a JWT");

    // A real call, authorised by the JWT: the page's broadcasts.
    browser.fill("#filter input[name=page_id]", PAGE).await;
    browser.click("#filter button[type=submit]").await;
    browser
        .wait(&format!("#broadcast-list tr[data-broadcast='{id}']"))
        .await;
    browser.shot("12-oidc-broadcasts").await;

    browser.click("#sign-out").await;
    browser.wait("#oidc-sign-in").await;
    assert_eq!(stored_token(&browser).await, json!(null));
    assert_eq!(
        browser
            .script("return sessionStorage.getItem('optcast.token_expires_at')")
            .await,
        json!(null)
    );
    browser.close().await;
}

#[tokio::test]
async fn an_expired_session_is_reported_in_words_and_signing_in_again_continues() {
    let oidc = spawn_oidc_app().await;
    let id = page_with_a_broadcast(&oidc).await;
    let browser = Browser::start(&oidc.app.url("")).await;

    // An answer this tab did not ask for is refused, in words.
    browser.goto("/console/callback?code=stolen&state=forged").await;
    let notice = browser.wait("#sign-in-notice").await.text().await.unwrap();
    assert!(
        notice.starts_with("This sign-in answer is not for the sign-in this tab started."),
        "{notice}"
    );
    assert_eq!(stored_token(&browser).await, json!(null));

    sign_in_with_the_provider(&browser).await;
    // Two hours pass (for the API and the provider): the token has expired.
    oidc.app
        .stack
        .clock
        .set_now_ms(optcast_shared::http::now_ms() + 2 * 3_600_000);
    browser.fill("#filter input[name=page_id]", PAGE).await;
    browser.click("#filter button[type=submit]").await;
    let notice = browser.wait("#sign-in-notice").await.text().await.unwrap();
    assert_eq!(notice, "Your session has expired. Sign in again to continue.");
    assert_eq!(browser.text("#oidc-sign-in").await, "Sign in again");
    assert_eq!(stored_token(&browser).await, json!(null));
    browser.shot("13-oidc-session-expired").await;

    sign_in_with_the_provider(&browser).await;
    browser.fill("#filter input[name=page_id]", PAGE).await;
    browser.click("#filter button[type=submit]").await;
    browser
        .wait(&format!("#broadcast-list tr[data-broadcast='{id}']"))
        .await;
    browser.close().await;
}
