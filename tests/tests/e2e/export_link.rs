//! `GET /v1/export?redirect=false`: a stored export's link as JSON (what
//! the console asks for: its fetch may not follow a redirect to S3), an
//! inline export unchanged; the default stays the 303.

use optcast_tests::*;
use reqwest::Method;

const PAGE: &str = "1000000000001101";
const LEAD: &str = "2000000000001101";

#[tokio::test]
async fn a_stored_export_asked_without_redirect_answers_its_link_as_json_and_the_link_downloads_it() {
    let app = spawn_app_with(|o| {
        o.overrides.insert("EXPORT_INLINE_LIMIT_BYTES".into(), "0".into());
    })
    .await;
    app.register_page(PAGE).await;
    app.say(PAGE, LEAD, "m_link_1", "hello").await;

    let path = format!("/v1/export?page_id={PAGE}&psid={LEAD}&redirect=false");
    let resp = app
        .http
        .get(app.url(&path))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "no redirect to follow");
    assert!(resp.headers().get("location").is_none());
    // Through the suite's checker too (openapi.json's 200 allows the link).
    let (status, link) = app.api(Method::GET, &path, None).await;
    assert_eq!(status, 200, "{link}");
    assert_eq!(link["expires_in_s"], 900, "{link}");
    let url = link["url"].as_str().expect("a link");

    let file = app.http.get(url).send().await.unwrap();
    assert_eq!(file.status(), 200);
    assert_eq!(
        file.headers()["content-disposition"].to_str().unwrap(),
        "attachment; filename=\"optcast-export.json\"",
        "followed in a browser, it downloads"
    );
    let doc: serde_json::Value = file.json().await.unwrap();
    assert_eq!(
        (doc["page_id"].as_str(), doc["psid"].as_str()),
        (Some(PAGE), Some(LEAD))
    );
    assert_eq!(
        link["bytes"].as_u64(),
        Some(serde_json::to_vec(&doc).unwrap().len() as u64)
    );

    let (status, err) = app
        .api(
            Method::GET,
            &format!("/v1/export?page_id={PAGE}&psid={LEAD}&redirect=no"),
            None,
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (400, Some("invalid_redirect")),
        "{err}"
    );
    app.stack.stop().await;
}

#[tokio::test]
async fn a_small_export_asked_without_redirect_is_still_the_document_inline() {
    let app = spawn_app().await;
    app.register_page(PAGE).await;
    app.say(PAGE, LEAD, "m_link_2", "hello").await;
    let (status, doc) = app
        .api(
            Method::GET,
            &format!("/v1/export?page_id={PAGE}&psid={LEAD}&redirect=false"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["psid"], LEAD, "{doc}");
    assert!(doc.get("url").is_none(), "{doc}");
    app.stack.stop().await;
}
