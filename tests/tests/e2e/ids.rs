//! Ids are Meta's ids: a page id or PSID/IGSID is 1 to 20 decimal digits
//! without a leading zero, at every edge. The API answers 400 and stores
//! nothing; a signed delivery naming anything else is quarantined item by
//! item (never applied, never dropped); the data-deletion callback refuses
//! such a user id.

use optcast_shared::http::now_ms;
use optcast_tests::*;
use reqwest::Method;
use serde_json::{json, Value};

const PAGE: &str = "1000000000000001";
const LEAD: &str = "2000000000000001";

/// Not Meta ids: path tricks, key separators, letters, a second spelling of
/// a number, more digits than a 64-bit id has.
const NOT_IDS: [&str; 10] = [
    "..",
    "a.b",
    "1:2",
    "1=2",
    "1+2",
    "PAGE1",
    "abc",
    "0123",
    "0",
    "123456789012345678901",
];
/// More, as a path segment (a raw `/` would make it two segments).
const NOT_IDS_IN_A_PATH: [&str; 3] = ["1%2F2", "%2E%2E", "PAGE%23..%2Fx"];
/// More, in a JSON body.
const NOT_IDS_IN_A_BODY: [&str; 4] = ["1/2", "PAGE#../x", "", " 1"];

fn assert_400(what: &str, (status, body): (u16, Value), code: &str) {
    assert_eq!(status, 400, "{what}: {body}");
    assert_eq!(body["error"]["code"], code, "{what}: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("invalid ")),
        "{what}: {body}"
    );
}

#[tokio::test]
async fn an_id_that_is_not_metas_in_an_api_path_query_or_body_is_a_400_and_nothing_is_stored() {
    let app = spawn_app().await;
    app.register_page(PAGE).await;
    app.say(PAGE, LEAD, "m_hello", "hello").await;
    let before = app.dump_tables().await;
    let page_body = r#"{"access_token":"EAAG-token","retention_days":30}"#;

    // PUT /v1/pages/.. answered 200 and stored PAGE#.. before.
    for bad in NOT_IDS.iter().chain(&NOT_IDS_IN_A_PATH) {
        assert_400(
            &format!("PUT /v1/pages/{bad}"),
            app.raw_api("PUT", &format!("/v1/pages/{bad}"), Some(page_body)).await,
            "invalid_page_id",
        );
    }
    let (status, out) = app.raw_api("PUT", "/v1/pages/../x", Some(page_body)).await;
    assert_eq!(status, 404, "not a route: {out}");

    // A page id or a PSID in the path.
    for bad in NOT_IDS.iter().chain(&NOT_IDS_IN_A_PATH) {
        assert_400(
            &format!("subscriber psid {bad}"),
            app.raw_api("GET", &format!("/v1/pages/{PAGE}/subscribers/{bad}"), None)
                .await,
            "invalid_psid",
        );
        assert_400(
            &format!("subscriber page {bad}"),
            app.raw_api("GET", &format!("/v1/pages/{bad}/subscribers/{LEAD}"), None)
                .await,
            "invalid_page_id",
        );
    }
    // In the query string, raw and percent-encoded.
    for (query, code) in [
        (format!("page_id={PAGE}&psid=1=2"), "invalid_psid"),
        (format!("page_id={PAGE}&psid=1%3D2"), "invalid_psid"),
        (format!("page_id={PAGE}&psid=..%2F{LEAD}"), "invalid_psid"),
        (format!("page_id={PAGE}&psid=0{LEAD}"), "invalid_psid"),
        (format!("page_id={PAGE}&psid={LEAD}00000"), "invalid_psid"),
        (format!("page_id={PAGE}"), "invalid_psid"),
        (format!("page_id=..&psid={LEAD}"), "invalid_page_id"),
        (format!("page_id=PAGE%23..%2Fx&psid={LEAD}"), "invalid_page_id"),
    ] {
        assert_400(
            &query,
            app.api(Method::GET, &format!("/v1/export?{query}"), None).await,
            code,
        );
    }
    // A required id left out is named as required, not called "empty".
    for (path, code, name) in [
        (format!("/v1/export?page_id={PAGE}"), "invalid_psid", "psid"),
        (format!("/v1/export?psid={LEAD}"), "invalid_page_id", "page_id"),
        ("/v1/broadcasts".to_string(), "invalid_page_id", "page_id"),
    ] {
        let answer = app.api(Method::GET, &path, None).await;
        let message = answer.1["error"]["message"].as_str().unwrap_or_default().to_string();
        assert_400(&path, answer, code);
        assert!(
            message.ends_with(&format!("the {name} query parameter is required")),
            "{path}: {message}"
        );
    }
    // In a body.
    for bad in NOT_IDS.iter().chain(&NOT_IDS_IN_A_BODY) {
        assert_400(
            &format!("erasure psid {bad}"),
            app.api(Method::POST, "/v1/erasure", Some(json!({"page_id": PAGE, "psid": bad})))
                .await,
            "invalid_psid",
        );
        assert_400(
            &format!("erasure page {bad}"),
            app.api(Method::POST, "/v1/erasure", Some(json!({"page_id": bad, "psid": LEAD})))
                .await,
            "invalid_page_id",
        );
        assert_400(
            &format!("broadcast page {bad}"),
            app.api(
                Method::POST,
                "/v1/broadcasts",
                Some(json!({"page_id": bad, "message": {"text": "hi"}})),
            )
            .await,
            "invalid_page_id",
        );
    }

    // Nothing was stored, queued or erased; Meta's ids still work.
    app.drain(&["ErasureQueue", "PlanQueue"]).await;
    assert_eq!(app.dump_tables().await, before);
    let pages: Vec<String> = app.scan("PagesTable").await.iter().map(|i| s(i, "page_id")).collect();
    assert_eq!(pages, [PAGE]);
    let (status, lead) = app
        .api(Method::GET, &format!("/v1/pages/{PAGE}/subscribers/{LEAD}"), None)
        .await;
    assert_eq!((status, lead["status"].as_str()), (200, Some("subscribed")), "{lead}");
    let (status, _) = app
        .api(Method::GET, &format!("/v1/export?page_id={PAGE}&psid={LEAD}"), None)
        .await;
    assert_eq!(status, 200);
    app.stack.stop().await;
}

#[tokio::test]
async fn a_signed_delivery_whose_ids_are_not_metas_is_quarantined_item_by_item_and_the_rest_applied() {
    let app = spawn_app().await;
    let now = now_ms();
    let message = |sender: &str, mid: &str, text: &str| {
        json!({"sender": {"id": sender}, "recipient": {"id": PAGE}, "timestamp": now,
            "message": {"mid": mid, "text": text}})
    };
    let body = json!({"object": "page", "entry": [
        {"id": PAGE, "time": now, "messaging": [
            message("abc/../x", "m_path", "STOP"),
            message("1=2", "m_eq", "hello"),
            message(LEAD, "m_ok", "hello"),
        ]},
        {"id": "PAGE#../x", "time": now, "messaging": [message("2000000000000002", "m_entry", "STOP")]},
    ]})
    .to_string();
    assert_eq!(app.post_signed(body.as_bytes()).await.status(), 200);
    let records = app.wait_quarantined(3).await;
    app.drain_ingest().await;

    let mut reasons: Vec<&str> = records.iter().map(|r| r.reason.as_str()).collect();
    reasons.sort();
    assert_eq!(reasons, ["entry_id", "sender_id", "sender_id"], "{records:?}");
    // Not dropped: each is kept exactly, as a delivery of its own.
    let mut kept = Vec::new();
    for r in &records {
        let delivery: Value = serde_json::from_slice(&app.quarantined_body(&r.id).await).unwrap();
        let item = &delivery["entry"][0]["messaging"][0];
        kept.push((
            delivery["entry"][0]["id"].as_str().unwrap().to_string(),
            item["sender"]["id"].as_str().unwrap().to_string(),
            item["message"]["mid"].as_str().unwrap().to_string(),
        ));
    }
    kept.sort();
    assert_eq!(
        kept,
        [
            (PAGE.to_string(), "1=2".to_string(), "m_eq".to_string()),
            (PAGE.to_string(), "abc/../x".to_string(), "m_path".to_string()),
            (
                "PAGE#../x".to_string(),
                "2000000000000002".to_string(),
                "m_entry".to_string()
            ),
        ]
    );
    // Not applied: only Meta's ids reached the tables; the rest was.
    assert_eq!(app.status(PAGE, LEAD).await, "subscribed");
    assert_eq!(app.status(PAGE, "2000000000000002").await, "none");
    let subscribers = app.scan("SubscribersTable").await;
    assert_eq!(subscribers.len(), 1, "{subscribers:?}");
    assert_eq!(app.scan("EventsTable").await.len(), 1);
    let dump = app.dump_tables().await;
    for trace in ["abc/", "1=2", "PAGE#..", "#../x"] {
        assert!(!dump.contains(trace), "{trace} stored: {dump}");
    }
    assert!(app.dead_letters().await.is_empty());
    app.stack.stop().await;
}

#[tokio::test]
async fn the_data_deletion_callback_refuses_a_user_id_that_is_not_metas() {
    let app = spawn_app().await;
    let issued_at = now_ms() / 1000;
    for user_id in ["abc/../x", "1=2", "0123", "123456789012345678901", ""] {
        let payload = json!({"algorithm": "HMAC-SHA256", "issued_at": issued_at, "user_id": user_id});
        let signed = optcast_shared::signed_request::sign(payload.to_string().as_bytes(), APP_SECRET.as_bytes());
        let resp = app
            .http
            .post(app.url("/meta/data-deletion"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("signed_request={signed}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{user_id:?}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "bad_payload", "{user_id:?}: {body}");
    }
    app.drain(&["ErasureQueue"]).await;
    assert!(app.scan("PrivacyTable").await.is_empty(), "no request recorded");
    app.stack.stop().await;
}
