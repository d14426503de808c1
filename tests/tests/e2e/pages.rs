//! Pages read back (`GET /v1/pages`, `GET /v1/pages/<page>`): each caller
//! its own, paged, never a token; and a `PUT` that leaves a field out keeps
//! what is stored.

use std::collections::BTreeSet;

use optcast_tests::*;
use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const PAGE_A: &str = "1000000000000801";
const PAGE_B: &str = "1000000000000802";
/// Leads wrote to it; never connected.
const PAGE_SEEN: &str = "1000000000000803";
/// In the marketer's token, but nothing is stored about it.
const PAGE_EMPTY: &str = "1000000000000804";
const MARKETER: &str = "marketer-token-pages";
const WRITER_ONLY: &str = "writer-token-pages";

fn sha(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

async fn tenant_app() -> TestApp {
    let tokens = json!({"tokens": [
        {"name": "marketing-a", "token_sha256": sha(MARKETER), "pages": [PAGE_A, PAGE_EMPTY],
         "scopes": ["broadcasts:read"]},
        {"name": "writer", "token_sha256": sha(WRITER_ONLY), "pages": [PAGE_A], "scopes": ["broadcasts:write"]},
    ]});
    spawn_app_with(|o| {
        o.overrides.insert("OPTCAST_API_TOKENS".into(), tokens.to_string());
    })
    .await
}

/// `GET path` with `token`: status and the body exactly as it came.
async fn raw_get(app: &TestApp, token: &str, path: &str) -> (u16, String) {
    let resp = app.http.get(app.url(path)).bearer_auth(token).send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

fn ids(list: &Value) -> Vec<String> {
    list["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["page_id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_page_list_shows_a_caller_only_its_own_pages_and_never_a_token() {
    let app = tenant_app().await;
    app.register_page(PAGE_A).await;
    app.register_page(PAGE_B).await;
    app.say(PAGE_SEEN, "2000000000000803", "m_pages_seen", "hello").await;
    eventually("the unconnected page seen", || async {
        app.api(Method::GET, &format!("/v1/pages/{PAGE_SEEN}"), None).await.0 == 200
    })
    .await;

    let (status, mine) = app.api_as(MARKETER, Method::GET, "/v1/pages", None).await;
    assert_eq!(status, 200, "{mine}");
    assert_eq!(ids(&mine), [PAGE_A], "only its own page that exists: {mine}");
    let a = &mine["pages"][0];
    assert_eq!(a["token_set"], true);
    assert_eq!(a["retention_days"], 30);
    assert!(
        a["connected_at_ms"].as_i64().is_some() && a["updated_at_ms"].as_i64().is_some(),
        "{a}"
    );

    let (_, all) = app.api(Method::GET, "/v1/pages", None).await;
    let mut every = ids(&all);
    every.sort();
    assert_eq!(every, [PAGE_A, PAGE_B, PAGE_SEEN], "{all}");
    let seen = all["pages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["page_id"] == PAGE_SEEN)
        .unwrap();
    assert_eq!(seen["token_set"], false, "{seen}");
    assert!(seen["first_seen_at_ms"].as_i64().is_some(), "{seen}");

    // Not a byte of a token or a key, in any answer.
    for (token, path) in [
        (ADMIN_TOKEN, "/v1/pages".to_string()),
        (MARKETER, "/v1/pages".to_string()),
        (ADMIN_TOKEN, format!("/v1/pages/{PAGE_A}")),
        (MARKETER, format!("/v1/pages/{PAGE_A}")),
    ] {
        let (status, body) = raw_get(&app, token, &path).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert!(!body.contains(PAGE_TOKEN), "{path} shows the page token: {body}");
        for secret in ["\"token\"", "data_key", "sealed"] {
            assert!(!body.contains(secret), "{path} shows {secret}: {body}");
        }
    }
    app.stack.stop().await;
}

#[tokio::test]
async fn a_page_that_is_not_the_callers_or_does_not_exist_is_404_in_words() {
    let app = tenant_app().await;
    app.register_page(PAGE_A).await;
    app.register_page(PAGE_B).await;

    let (status, own) = app
        .api_as(MARKETER, Method::GET, &format!("/v1/pages/{PAGE_A}"), None)
        .await;
    assert_eq!((status, own["page_id"].as_str()), (200, Some(PAGE_A)), "{own}");
    for (token, page) in [(MARKETER, PAGE_B), (MARKETER, PAGE_EMPTY), (ADMIN_TOKEN, PAGE_EMPTY)] {
        let (status, err) = app.api_as(token, Method::GET, &format!("/v1/pages/{page}"), None).await;
        assert_eq!(
            (status, err["error"]["code"].as_str()),
            (404, Some("not_found")),
            "{page}: {err}"
        );
        assert_eq!(err["error"]["message"], "page not found", "{err}");
    }
    let (status, err) = app.api(Method::GET, "/v1/pages/0123", None).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (400, Some("invalid_page_id")),
        "{err}"
    );
    // Reading pages needs broadcasts:read.
    let (status, err) = app.api_as(WRITER_ONLY, Method::GET, "/v1/pages", None).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (403, Some("missing_scope")),
        "{err}"
    );
    app.stack.stop().await;
}

#[tokio::test]
async fn pages_are_listed_a_page_at_a_time_with_the_cursor_each_answer_hands_out() {
    let app = spawn_app().await;
    let registered: Vec<String> = (0..5).map(|i| format!("10000000000009{i:02}")).collect();
    for p in &registered {
        app.register_page(p).await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut calls = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/pages?limit=2&cursor={c}"),
            None => "/v1/pages?limit=2".to_string(),
        };
        let (status, out) = app.api(Method::GET, &path, None).await;
        assert_eq!(status, 200, "{out}");
        assert!(out["pages"].as_array().unwrap().len() <= 2, "{out}");
        seen.extend(ids(&out));
        calls += 1;
        match out["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
        assert!(calls < 10, "the listing never ends");
    }
    let unique: BTreeSet<_> = seen.iter().cloned().collect();
    assert_eq!(seen.len(), unique.len(), "a page listed twice: {seen:?}");
    assert_eq!(unique, registered.iter().cloned().collect(), "{seen:?}");
    assert!(calls >= 3, "five pages two at a time: {calls} calls");

    // Not a cursor; another listing's cursor ({"pk":"BCAST#1"}); a key with
    // more than a page's ({"pk":"PAGE#1","sk":"x"}).
    for bad in [
        "bm90IGEgY3Vyc29y",
        "eyJwayI6IkJDQVNUIzEifQ",
        "eyJwayI6IlBBR0UjMSIsInNrIjoieCJ9",
    ] {
        let (status, err) = app.api(Method::GET, &format!("/v1/pages?cursor={bad}"), None).await;
        assert_eq!(
            (status, err["error"]["code"].as_str()),
            (400, Some("invalid_cursor")),
            "{bad}: {err}"
        );
    }
    let (status, err) = app.api(Method::GET, "/v1/pages?limit=0", None).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (400, Some("invalid_limit")),
        "{err}"
    );
    app.stack.stop().await;
}

#[tokio::test]
async fn a_scoped_callers_page_list_is_paged_too() {
    let pages: Vec<String> = (0..3).map(|i| format!("10000000000008{i:02}")).collect();
    let tokens = json!({"tokens": [{"name": "three", "token_sha256": sha(MARKETER), "pages": pages,
        "scopes": ["broadcasts:read"]}]});
    let app = spawn_app_with(|o| {
        o.overrides.insert("OPTCAST_API_TOKENS".into(), tokens.to_string());
    })
    .await;
    for p in &pages {
        app.register_page(p).await;
    }
    let (_, first) = app.api_as(MARKETER, Method::GET, "/v1/pages?limit=2", None).await;
    assert_eq!(ids(&first), pages[..2], "{first}");
    let next = first["next_cursor"].as_str().expect("a second page");
    let (_, second) = app
        .api_as(MARKETER, Method::GET, &format!("/v1/pages?limit=2&cursor={next}"), None)
        .await;
    assert_eq!(ids(&second), pages[2..], "{second}");
    assert!(second["next_cursor"].is_null(), "{second}");
    app.stack.stop().await;
}

#[tokio::test]
async fn a_page_put_that_leaves_a_field_out_keeps_it_and_null_resets_it() {
    let app = spawn_app().await;
    let put = |body: Value| {
        let app = &app;
        async move { app.api(Method::PUT, &format!("/v1/pages/{PAGE_A}"), Some(body)).await }
    };
    let (status, out) = put(json!({"access_token": PAGE_TOKEN, "retention_days": 365, "region": "EU"})).await;
    assert_eq!(status, 200, "{out}");
    // The README's page-protection example: protection only.
    let (status, out) = put(json!({"protection": {"max_negative_rate": 0.05, "min_sends": 50}})).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        (out["retention_days"].as_i64(), out["region"].as_str()),
        (Some(365), Some("EU")),
        "{out}"
    );
    let (_, page) = app.api(Method::GET, &format!("/v1/pages/{PAGE_A}"), None).await;
    assert_eq!(page["region"], "EU", "{page}");
    assert_eq!(page["retention_days"], 365, "{page}");
    assert_eq!(
        page["protection"],
        json!({"max_negative_rate": 0.05, "min_sends": 50}),
        "{page}"
    );
    assert_eq!(page["token_set"], true, "{page}");

    // A new token alone keeps the settings too.
    let (_, out) = put(json!({"access_token": "EAAG-another-token"})).await;
    assert_eq!(
        (out["retention_days"].as_i64(), out["region"].as_str()),
        (Some(365), Some("EU")),
        "{out}"
    );
    assert_eq!(out["protection"]["min_sends"], 50, "{out}");

    // null: back to the defaults.
    let (_, out) = put(json!({"region": null, "protection": null, "retention_days": null})).await;
    assert_eq!(
        out,
        json!({"page_id": PAGE_A, "retention_days": 730, "region": null,
               "protection": {"max_negative_rate": 0.02, "min_sends": 200}})
    );
    app.stack.stop().await;
}

#[tokio::test]
async fn a_page_is_connected_with_its_token_and_then_sends_with_it_after_a_change_without_one() {
    let app = spawn_app().await;
    let (status, err) = app
        .api(
            Method::PUT,
            &format!("/v1/pages/{PAGE_B}"),
            Some(json!({"region": "EU"})),
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (400, Some("missing_access_token")),
        "{err}"
    );
    app.register_page(PAGE_B).await;
    let (status, out) = app
        .api(
            Method::PUT,
            &format!("/v1/pages/{PAGE_B}"),
            Some(json!({"retention_days": 90})),
        )
        .await;
    assert_eq!((status, out["retention_days"].as_i64()), (200, Some(90)), "{out}");
    // The sender opens the token the first PUT sealed.
    let lead = "2000000000000809".to_string();
    app.seed_leads(PAGE_B, std::slice::from_ref(&lead)).await;
    let id = app
        .create_broadcast(json!({"page_id": PAGE_B, "message": {"text": "still connected"}}))
        .await;
    let done = app.wait_state(&id, "done").await;
    assert_eq!(done["counts"]["sent"], 1, "{done}");
    assert_eq!(app.sends_to(&lead), 1);
    app.stack.stop().await;
}
