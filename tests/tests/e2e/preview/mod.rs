//! The broadcast preview (`POST /v1/broadcasts/preview`): a dry run of a
//! create body that counts who would be messaged and who not and why, shows
//! the message with its Unsubscribe control, and stores and sends nothing.

mod errors;
mod judging;
mod largest;

use optcast_shared::ids::{PageId, Psid};
use optcast_shared::retention::DAY_MS;
use optcast_tests::*;
use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const PAGE: &str = "1000000000000901";
/// A page in a region where Meta no longer honours marketing messages.
const US_PAGE: &str = "1000000000000902";
const OTHER_PAGE: &str = "1000000000000903";
const READER: &str = "preview-reader-token";
const OTHER: &str = "preview-other-page-token";

const WINDOW: &str = "2090000000000001";
const TOKEN: &str = "2090000000000002";
const STOPPED: &str = "2090000000000003";
const BLOCKED: &str = "2090000000000004";
const UNTAGGED: &str = "2090000000000005";
const OUTSIDE: &str = "2090000000000006";
const TOO_SOON: &str = "2090000000000007";
const US_TOKEN: &str = "2090000000000008";

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

fn spring(page: &str) -> Value {
    json!({"page_id": page, "message": {"text": "Spring sale!"}, "tags": ["spring"]})
}

/// A stack with two more callers: one that may only read broadcasts, one
/// that may do everything on another page only.
async fn preview_app() -> TestApp {
    let sha = |t: &str| hex::encode(Sha256::digest(t.as_bytes()));
    let tokens = json!({"tokens": [
        {"name": "reader", "token_sha256": sha(READER), "pages": [PAGE], "scopes": ["broadcasts:read"]},
        {"name": "other", "token_sha256": sha(OTHER), "pages": [OTHER_PAGE],
         "scopes": ["broadcasts:read", "broadcasts:write", "subscribers:read", "subscribers:write"]},
    ]});
    spawn_app_with(|o| {
        o.overrides.insert("OPTCAST_API_TOKENS".into(), tokens.to_string());
    })
    .await
}

async fn register(app: &TestApp, page: &str, region: &str) {
    app.register_page_in(page, region).await;
}

async fn tag(app: &TestApp, page: &str, psid: &str) {
    let path = format!("/v1/pages/{page}/subscribers/{psid}/tags/spring");
    let (status, out) = app.api(Method::PUT, &path, None).await;
    assert_eq!(status, 200, "{out}");
}

/// A lead who wrote three days ago (the window is closed) and then granted
/// a marketing-messages token, through the webhook.
async fn token_lead(app: &TestApp, page: &str, psid: &str) {
    app.marketing_lead(page, psid, &format!("MM-{psid}")).await;
}

/// One lead of the page in each class a preview counts, made through the
/// webhook and ingest (the blocked lead and the recent marketing send as
/// the sender records them).
async fn page_with_every_kind_of_lead(app: &TestApp) {
    register(app, PAGE, "EU").await;
    register(app, US_PAGE, "US").await;
    let now = optcast_shared::http::now_ms();
    app.say(PAGE, WINDOW, "m_pv_w", "hi").await;
    token_lead(app, PAGE, TOKEN).await;
    app.say(PAGE, STOPPED, "m_pv_s1", "hi").await;
    app.say(PAGE, STOPPED, "m_pv_s2", "STOP").await;
    app.say(PAGE, BLOCKED, "m_pv_b", "hi").await;
    app.say(PAGE, UNTAGGED, "m_pv_u", "hi").await;
    app.say_at(PAGE, OUTSIDE, "m_pv_o", "hi", now - 3 * DAY_MS).await;
    token_lead(app, PAGE, TOO_SOON).await;
    token_lead(app, US_PAGE, US_TOKEN).await;
    for psid in [WINDOW, TOKEN, BLOCKED, OUTSIDE, TOO_SOON] {
        tag(app, PAGE, psid).await;
    }
    tag(app, US_PAGE, US_TOKEN).await;
    let page = PageId::parse(PAGE).unwrap();
    let store = app.send_store();
    store
        .mark_unreachable(&page, &Psid::parse(BLOCKED).unwrap(), None, now)
        .await
        .unwrap();
    store
        .note_marketing_sent(&page, &Psid::parse(TOO_SOON).unwrap(), None, now - 60 * 60 * 1000)
        .await
        .unwrap();
    assert_eq!(app.status(PAGE, STOPPED).await, "unsubscribed");
    assert_eq!(app.status(PAGE, BLOCKED).await, "unreachable");
}

async fn preview(app: &TestApp, query: &str, body: Value) -> (u16, Value) {
    app.api(Method::POST, &format!("/v1/broadcasts/preview{query}"), Some(body))
        .await
}

/// The counts of a preview answer, in one line per field, for comparing.
fn counts(out: &Value) -> Vec<(String, u64)> {
    let mut all = vec![("audience".to_string(), out["audience"].as_u64().unwrap())];
    for group in ["reach", "excluded"] {
        for (k, v) in out[group].as_object().unwrap() {
            all.push((format!("{group}.{k}"), v.as_u64().unwrap()));
        }
    }
    all.sort();
    all
}

fn nonzero(out: &Value) -> Vec<(String, u64)> {
    counts(out).into_iter().filter(|(_, n)| *n > 0).collect()
}

fn pairs(list: &[(&str, u64)]) -> Vec<(String, u64)> {
    let mut all: Vec<(String, u64)> = list.iter().map(|(k, n)| (k.to_string(), *n)).collect();
    all.sort();
    all
}
