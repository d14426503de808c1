//! Audience management: tags added and removed on a lead, one at a time and
//! in bulk, and a page's leads listed by status and tag (ids only); tags
//! then choose who a broadcast reaches.

use aws_sdk_dynamodb::types::AttributeValue;
use optcast_tests::*;
use reqwest::Method;
use serde_json::json;
use sha2::{Digest, Sha256};

const PAGE: &str = "1000000000000901";
const OTHER_PAGE: &str = "1000000000000902";
const READER: &str = "audience-reader-token";
const OTHER: &str = "audience-other-page-token";

fn code(body: &serde_json::Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

async fn audience_app() -> TestApp {
    let sha = |t: &str| hex::encode(Sha256::digest(t.as_bytes()));
    let tokens = json!({"tokens": [
        {"name": "reader", "token_sha256": sha(READER), "pages": [PAGE], "scopes": ["subscribers:read"]},
        {"name": "other", "token_sha256": sha(OTHER), "pages": [OTHER_PAGE],
         "scopes": ["subscribers:read", "subscribers:write"]},
    ]});
    spawn_app_with(|o| {
        o.overrides.insert("OPTCAST_API_TOKENS".into(), tokens.to_string());
    })
    .await
}

fn tag_path(psid: &str, tag: &str) -> String {
    format!("/v1/pages/{PAGE}/subscribers/{psid}/tags/{tag}")
}

#[tokio::test]
async fn a_tag_is_added_and_removed_idempotently_and_only_on_a_known_lead() {
    let app = audience_app().await;
    let lead = "2091000000000001";
    app.say(PAGE, lead, "m_aud_1", "hello").await;

    let (status, out) = app.api(Method::PUT, &tag_path(lead, "vip"), None).await;
    assert_eq!((status, out["result"].as_str()), (200, Some("added")), "{out}");
    let (status, out) = app.api(Method::PUT, &tag_path(lead, "vip"), None).await;
    assert_eq!((status, out["result"].as_str()), (200, Some("unchanged")));
    // A tag with spaces and emoji, percent-encoded in the path.
    let (status, out) = app
        .api(Method::PUT, &tag_path(lead, "%F0%9F%8C%B7%20spring"), None)
        .await;
    assert_eq!((status, out["tag"].as_str()), (200, Some("🌷 spring")), "{out}");
    let (_, sub) = app
        .api(Method::GET, &format!("/v1/pages/{PAGE}/subscribers/{lead}"), None)
        .await;
    assert_eq!(sub["tags"], json!(["vip", "🌷 spring"]));

    let (status, out) = app.api(Method::DELETE, &tag_path(lead, "vip"), None).await;
    assert_eq!((status, out["result"].as_str()), (200, Some("removed")));
    let (status, out) = app.api(Method::DELETE, &tag_path(lead, "vip"), None).await;
    assert_eq!((status, out["result"].as_str()), (200, Some("unchanged")));
    let (_, sub) = app
        .api(Method::GET, &format!("/v1/pages/{PAGE}/subscribers/{lead}"), None)
        .await;
    assert_eq!(sub["tags"], json!(["🌷 spring"]));

    // Unknown lead: 404, and nothing is created.
    let (status, err) = app.api(Method::PUT, &tag_path("2091000000000009", "vip"), None).await;
    assert_eq!((status, code(&err)), (404, "not_found"));
    assert!(app.subscriber(PAGE, "2091000000000009").await.is_none());
    // Bad input.
    let long = "x".repeat(101);
    for (path, want) in [
        (tag_path(lead, &long), "invalid_tag"),
        (tag_path(lead, "%FF"), "invalid_tag"),
        // A terminal escape, a NUL, only a space: printed back by the CLI.
        (tag_path(lead, "%1B%5B2J"), "invalid_tag"),
        (tag_path(lead, "vip%00"), "invalid_tag"),
        (tag_path(lead, "%20"), "invalid_tag"),
        (tag_path("12x", "vip"), "invalid_psid"),
        (format!("/v1/pages/0123/subscribers/{lead}/tags/vip"), "invalid_page_id"),
    ] {
        let (status, err) = app.api(Method::PUT, &path, None).await;
        assert_eq!((status, code(&err)), (400, want), "{path}");
    }
    // `.` and `..`, plain or percent-encoded: a URL path cannot name such a
    // tag again (an HTTP client resolves them), so it is not one. Sent raw,
    // for that reason.
    for dots in [".", "..", "%2E", "%2E%2E", ".%2e"] {
        let (status, err) = app.raw_api("PUT", &tag_path(lead, dots), None).await;
        assert_eq!((status, code(&err)), (400, "invalid_tag"), "{dots}");
    }
    // A `%` that begins no escape: the decoder kept it as it was and stored
    // "%ZZ". A literal `%` is `%25`.
    for malformed in ["%ZZ", "100%", "vip%4", "%%41"] {
        let (status, err) = app.raw_api("PUT", &tag_path(lead, malformed), None).await;
        assert_eq!((status, code(&err)), (400, "invalid_tag"), "{malformed}");
    }
    let (status, out) = app.raw_api("PUT", &tag_path(lead, "100%25"), None).await;
    assert_eq!((status, out["tag"].as_str()), (200, Some("100%")), "{out}");
    // Scope and page.
    let (status, err) = app.api_as(READER, Method::PUT, &tag_path(lead, "vip"), None).await;
    assert_eq!((status, code(&err)), (403, "missing_scope"));
    let (status, err) = app
        .api_as(OTHER, Method::DELETE, &tag_path(lead, "🌷 spring"), None)
        .await;
    assert_eq!((status, code(&err)), (404, "not_found"));
    app.stack.stop().await;
}

#[tokio::test]
async fn a_lead_carries_at_most_fifty_tags() {
    let app = audience_app().await;
    let lead = "2091000000000002";
    app.say(PAGE, lead, "m_aud_2", "hello").await;
    let tags: Vec<String> = (0..50).map(|i| format!("t{i}")).collect();
    for t in &tags {
        let (status, _) = app.api(Method::PUT, &tag_path(lead, t), None).await;
        assert_eq!(status, 200);
    }
    let (status, err) = app.api(Method::PUT, &tag_path(lead, "one-more"), None).await;
    assert_eq!((status, code(&err)), (409, "too_many_tags"));
    // One it has already is still fine.
    let (status, out) = app.api(Method::PUT, &tag_path(lead, "t7"), None).await;
    assert_eq!((status, out["result"].as_str()), (200, Some("unchanged")));
    app.stack.stop().await;
}

#[tokio::test]
async fn bulk_tagging_reports_each_lead_and_the_tag_then_chooses_the_audience() {
    let app = audience_app().await;
    app.register_page(PAGE).await;
    let leads: Vec<String> = (1..=4).map(|i| format!("20920000000000{i:02}")).collect();
    app.seed_leads(PAGE, &leads).await;
    app.api(Method::PUT, &tag_path(&leads[3], "vip"), None).await;
    let unknown = "2092000000000099";

    let bulk = format!("/v1/pages/{PAGE}/tags/vip");
    let (status, out) = app
        .api(
            Method::POST,
            &bulk,
            Some(json!({"add": [leads[0], leads[1], unknown, leads[0]], "remove": [leads[3]]})),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    let results: Vec<(&str, &str, &str)> = out["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["psid"].as_str().unwrap(),
                r["action"].as_str().unwrap(),
                r["result"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        results,
        [
            (leads[0].as_str(), "add", "added"),
            (leads[1].as_str(), "add", "added"),
            (unknown, "add", "not_found"),
            (leads[3].as_str(), "remove", "removed"),
        ]
    );
    // Sent again: the same request changes nothing.
    let (_, again) = app
        .api(
            Method::POST,
            &bulk,
            Some(json!({"add": [leads[0], leads[1]], "remove": [leads[3]]})),
        )
        .await;
    assert!(
        again["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["result"] == "unchanged"),
        "{again}"
    );

    for (body, want) in [
        (json!({}), "no_psids"),
        (json!({"add": [leads[0]], "remove": [leads[0]]}), "conflicting_psids"),
        (
            json!({"add": (0..101).map(|i| format!("2093{i:012}")).collect::<Vec<_>>()}),
            "too_many_psids",
        ),
        (json!({"add": ["nope"]}), "invalid_psid"),
        (json!({"add": [leads[0]], "other": 1}), "invalid_json"),
    ] {
        let (status, err) = app.api(Method::POST, &bulk, Some(body.clone())).await;
        assert_eq!((status, code(&err)), (400, want), "{body}");
    }
    let (status, _) = app
        .api_as(READER, Method::POST, &bulk, Some(json!({"add": [leads[0]]})))
        .await;
    assert_eq!(status, 403);

    // The tag now chooses who a broadcast reaches.
    let id = app
        .create_broadcast(json!({"page_id": PAGE, "message": {"text": "VIPs only"}, "tags": ["vip"]}))
        .await;
    let done = app.wait_state(&id, "done").await;
    assert_eq!(done["counts"]["sent"], 2, "{done}");
    let reached: Vec<usize> = leads.iter().map(|p| app.sends_to(p)).collect();
    assert_eq!(reached, [1, 1, 0, 0]);
    app.stack.stop().await;
}

#[tokio::test]
async fn a_pages_leads_are_listed_by_status_and_tag_page_by_page_without_personal_data() {
    let app = audience_app().await;
    let leads: Vec<String> = (1..=5).map(|i| format!("20940000000000{i:02}")).collect();
    app.seed_leads(PAGE, &leads).await;
    app.say(PAGE, &leads[4], "m_aud_stop", "STOP").await;
    for p in &leads[..2] {
        app.api(Method::PUT, &tag_path(p, "spring"), None).await;
    }
    app.say(OTHER_PAGE, "2094000000000099", "m_aud_other", "hi").await;

    let list = |q: &str| {
        let app = &app;
        let path = format!("/v1/pages/{PAGE}/subscribers{q}");
        async move { app.api(Method::GET, &path, None).await }
    };
    // Page by page, every lead once, in PSID order.
    let mut seen = Vec::new();
    let mut query = "?limit=2".to_string();
    loop {
        let (status, page) = list(&query).await;
        assert_eq!(status, 200, "{page}");
        for s in page["subscribers"].as_array().unwrap() {
            let keys: Vec<&str> = s.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(
                keys,
                ["consent_changed_at_ms", "psid", "status", "tags"],
                "ids, status and tags only"
            );
            seen.push(s["psid"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(c) => query = format!("?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, leads);

    let psids = |v: &serde_json::Value| -> Vec<String> {
        v["subscribers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["psid"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, tagged) = list("?tag=spring").await;
    assert_eq!(psids(&tagged), leads[..2]);
    let (_, stopped) = list("?status=unsubscribed").await;
    assert_eq!(psids(&stopped), [leads[4].clone()]);
    let (_, both) = list("?status=subscribed&tag=spring&limit=1").await;
    assert_eq!(psids(&both), [leads[0].clone()]);
    let (_, as_reader) = app
        .api_as(
            READER,
            Method::GET,
            &format!("/v1/pages/{PAGE}/subscribers?status=subscribed"),
            None,
        )
        .await;
    assert_eq!(psids(&as_reader), leads[..4]);

    for (q, want) in [
        ("?status=happy", "invalid_status"),
        ("?limit=x", "invalid_limit"),
        ("?cursor=%%%", "invalid_cursor"),
    ] {
        let (status, err) = list(q).await;
        assert_eq!((status, code(&err)), (400, want), "{q}");
    }
    // Another page's cursor is refused, and another caller's page is not there.
    let (_, other) = app
        .api(
            Method::GET,
            &format!("/v1/pages/{OTHER_PAGE}/subscribers?limit=1"),
            None,
        )
        .await;
    assert!(other["next_cursor"].is_null());
    let (_, first) = list("?limit=1").await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let (status, err) = app
        .api(
            Method::GET,
            &format!("/v1/pages/{OTHER_PAGE}/subscribers?cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!((status, code(&err)), (400, "invalid_cursor"));
    let (status, err) = app
        .api_as(OTHER, Method::GET, &format!("/v1/pages/{PAGE}/subscribers"), None)
        .await;
    assert_eq!((status, code(&err)), (404, "not_found"));
    app.stack.stop().await;
}

#[tokio::test]
async fn a_tag_stored_before_the_label_rule_can_still_be_found_and_removed() {
    let app = audience_app().await;
    let lead = "2091000000000031";
    app.say(PAGE, lead, "m_aud_31", "hello").await;
    // A referral `ref` of a newline, taken as a tag before tags had to be
    // labels: no longer addable, but still on the lead.
    app.ddb
        .update_item()
        .table_name(app.physical("SubscribersTable"))
        .key("pk", AttributeValue::S(format!("PAGE#{PAGE}")))
        .key("sk", AttributeValue::S(format!("SUB#{lead}")))
        .update_expression("ADD tags :t")
        .expression_attribute_values(":t", AttributeValue::Ss(vec!["vip\n".into()]))
        .send()
        .await
        .unwrap();
    let (status, err) = app.api(Method::PUT, &tag_path(lead, "vip%0A"), None).await;
    assert_eq!((status, code(&err)), (400, "invalid_tag"));
    let (status, found) = app
        .api(Method::GET, &format!("/v1/pages/{PAGE}/subscribers?tag=vip%0A"), None)
        .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["subscribers"][0]["psid"], lead, "{found}");
    let (status, out) = app.api(Method::DELETE, &tag_path(lead, "vip%0A"), None).await;
    assert_eq!((status, out["result"].as_str()), (200, Some("removed")), "{out}");
    let (_, sub) = app
        .api(Method::GET, &format!("/v1/pages/{PAGE}/subscribers/{lead}"), None)
        .await;
    assert_eq!(sub["tags"], json!([]), "{sub}");
    app.stack.stop().await;
}
