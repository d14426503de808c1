//! The pages screen lists what the API holds (a page connected by another
//! client shows up) and changes one page's retention and region; a large
//! export, stored in S3, is offered as its link under the console's CSP.

use optcast_tests::*;
use reqwest::Method;
use serde_json::json;

use crate::driver::Browser;
use crate::sign_in;

const API_PAGE: &str = "1000000000000931";
const EXPORT_PAGE: &str = "1000000000000932";

#[tokio::test]
async fn the_pages_screen_lists_a_page_connected_through_the_api_and_changes_its_retention_and_region() {
    let app = spawn_app().await;
    // Connected by another client (the API, as the CLI does), with its own protection.
    let (status, out) = app
        .api(
            Method::PUT,
            &format!("/v1/pages/{API_PAGE}"),
            Some(json!({"access_token": PAGE_TOKEN, "retention_days": 30, "region": "EU",
                "protection": {"max_negative_rate": 0.05, "min_sends": 50}})),
        )
        .await;
    assert_eq!(status, 200, "{out}");

    let browser = Browser::start(&app.url("")).await;
    sign_in(&browser, ADMIN_TOKEN).await;
    browser.click("#nav a[href='#/pages']").await;
    let row = format!("#page-list tr[data-page='{API_PAGE}']");
    browser.wait(&row).await;
    let text = browser.text(&row).await;
    assert!(
        text.contains("connected") && text.contains("30 days") && text.contains("EU") && text.contains("5.0%"),
        "{text}"
    );
    assert!(!browser.text("body").await.contains(PAGE_TOKEN));

    // Selecting it shows its settings, and the form changes retention and region.
    browser.click(&format!("{row} a[data-select='{API_PAGE}']")).await;
    browser.wait_xpath("//dd[@data-fact='retention' and .='30 days']").await;
    browser.wait("#page-facts [data-fact='token']").await;
    browser.shot("11-page-settings").await;
    browser.fill("#edit-page input[name=retention_days]", "90").await;
    browser.fill("#edit-page input[name=region]", "uk").await;
    browser.click("#edit-page button[type=submit]").await;
    browser
        .wait_xpath("//div[@id='settings-saved']/p[contains(., '90 days, region UK')]")
        .await;
    browser.wait_xpath("//dd[@data-fact='retention' and .='90 days']").await;

    let (_, page) = app.api(Method::GET, &format!("/v1/pages/{API_PAGE}"), None).await;
    assert_eq!(
        (page["retention_days"].as_i64(), page["region"].as_str()),
        (Some(90), Some("UK")),
        "{page}"
    );
    // What the form does not hold stays as it was: the protection and the token.
    assert_eq!(
        page["protection"],
        json!({"max_negative_rate": 0.05, "min_sends": 50}),
        "{page}"
    );
    assert_eq!(page["token_set"], true, "{page}");
    browser
        .wait_xpath(&format!("//tr[@data-page='{API_PAGE}']/td[.='90 days']"))
        .await;
    browser.shot("12-pages-after-edit").await;
    browser.close().await;
}

#[tokio::test]
async fn a_large_export_stored_in_s3_is_offered_as_its_link_and_the_link_downloads_the_document() {
    // Every export goes through S3: the path the console's CSP used to block.
    let app = spawn_app_with(|o| {
        o.overrides.insert("EXPORT_INLINE_LIMIT_BYTES".into(), "0".into());
    })
    .await;
    let lead = "2000000000009321";
    app.register_page(EXPORT_PAGE).await;
    app.say(EXPORT_PAGE, lead, "m_hi_9321", "hello").await;

    let browser = Browser::start(&app.url("")).await;
    sign_in(&browser, ADMIN_TOKEN).await;
    browser.click("#nav a[href='#/leads']").await;
    browser.fill("#lookup input[name=page_id]", EXPORT_PAGE).await;
    browser.fill("#lookup input[name=psid]", lead).await;
    browser.enter("#lookup input[name=psid]").await;
    browser.wait("#lead-facts [data-status='subscribed']").await;
    browser.click("#export").await;
    let link = browser.wait("#export-link[data-export='link']").await;
    browser.shot("13-export-link").await;
    let href = link.attr("href").await.unwrap().unwrap_or_default();
    // Another origin than the console's (S3's): fetch could not follow it there.
    assert!(
        href.starts_with("http") && !href.starts_with(&app.url("")) && href.contains("X-Amz-Signature="),
        "{href}"
    );
    assert!(!href.contains(lead), "the object is named by digest: {href}");
    assert!(
        browser
            .text("#rights-status")
            .await
            .contains("the link works for 15 minutes"),
        "{}",
        browser.text("#rights-status").await
    );
    // The link the browser navigates to serves the document, as a download.
    let file = app.http.get(&href).send().await.unwrap();
    assert_eq!(file.status(), 200);
    assert!(file.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    let doc: serde_json::Value = file.json().await.unwrap();
    assert_eq!(doc["psid"], lead, "{doc}");
    browser.close().await;
}
