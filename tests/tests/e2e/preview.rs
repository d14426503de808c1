//! The broadcast preview (`POST /v1/broadcasts/preview`): a dry run of a
//! create body that counts who would be messaged and who not and why, shows
//! the message with its Unsubscribe control, and stores and sends nothing.

use optcast_shared::broadcast::PREVIEW_BROADCAST_ID;
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
    let (status, out) = app
        .api(
            Method::PUT,
            &format!("/v1/pages/{page}"),
            Some(json!({"access_token": PAGE_TOKEN, "retention_days": 30, "region": region})),
        )
        .await;
    assert_eq!(status, 200, "{out}");
}

async fn tag(app: &TestApp, page: &str, psid: &str) {
    let path = format!("/v1/pages/{page}/subscribers/{psid}/tags/spring");
    let (status, out) = app.api(Method::PUT, &path, None).await;
    assert_eq!(status, 200, "{out}");
}

/// A lead who wrote three days ago (the window is closed) and then granted
/// a marketing-messages token, through the webhook.
async fn token_lead(app: &TestApp, page: &str, psid: &str) {
    let t = optcast_shared::http::now_ms();
    let three_days_ago = t - 3 * DAY_MS;
    app.say_at(page, psid, &format!("m_pv_{psid}"), "hello", three_days_ago)
        .await;
    let optin = json!({"object":"page","entry":[{"id":page,"time":t,"messaging":[
        {"sender":{"id":psid},"recipient":{"id":page},"timestamp":three_days_ago + 1,
         "optin":{"type":"notification_messages","notification_messages_token":format!("MM-{psid}"),
                  "token_expiry_timestamp": t + 30 * DAY_MS}}]}]})
    .to_string();
    assert_eq!(app.post_signed(optin.as_bytes()).await.status(), 200);
    eventually("marketing token stored", || async {
        app.subscriber(page, psid)
            .await
            .is_some_and(|i| i.contains_key("marketing_token"))
    })
    .await;
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
        .mark_unreachable(&page, &Psid::parse(BLOCKED).unwrap())
        .await
        .unwrap();
    store
        .note_marketing_sent(&page, &Psid::parse(TOO_SOON).unwrap(), now - 60 * 60 * 1000)
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

#[tokio::test]
async fn a_preview_counts_each_excluded_lead_by_reason_and_stores_and_sends_nothing() {
    let app = preview_app().await;
    page_with_every_kind_of_lead(&app).await;
    let leads_before = app.scan("SubscribersTable").await;

    let (status, out) = preview(&app, "", spring(PAGE)).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        nonzero(&out),
        pairs(&[
            ("audience", 2),
            ("reach.marketing_token", 1),
            ("reach.window", 1),
            ("excluded.marketing_too_soon", 1),
            ("excluded.outside_window", 1),
            ("excluded.tags_not_matched", 1),
            ("excluded.total", 5),
            ("excluded.unreachable", 1),
            ("excluded.unsubscribed", 1),
        ])
    );
    assert_eq!(
        (out["leads_read"].as_u64(), out["complete"].as_bool()),
        (Some(7), Some(true))
    );
    assert_eq!(out["next_cursor"], Value::Null);
    assert_eq!(out["marketing_messages_available"], true);
    // The message as the sender renders it, with its Unsubscribe control.
    let message = &out["message"];
    assert_eq!(message["text"], "Spring sale!");
    let last = message["quick_replies"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["title"], "Unsubscribe");
    assert_eq!(message["metadata"], format!("bcast:{PREVIEW_BROADCAST_ID}"));

    // Where Meta does not honour marketing messages, the token reaches no one.
    let (status, us) = preview(&app, "", spring(US_PAGE)).await;
    assert_eq!(status, 200, "{us}");
    assert_eq!(
        nonzero(&us),
        pairs(&[("excluded.marketing_unavailable", 1), ("excluded.total", 1)])
    );
    assert_eq!(us["marketing_messages_available"], false);

    // Nothing stored, nothing queued, nothing sent, no lead touched.
    let (status, list) = app
        .api(Method::GET, &format!("/v1/broadcasts?page_id={PAGE}"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(list["broadcasts"], json!([]));
    assert!(app.scan("BroadcastsTable").await.is_empty());
    assert!(app.scan("DeliveriesTable").await.is_empty());
    assert_eq!(
        app.queue_depth("PlanQueue").await + app.queue_depth("SendQueue").await,
        0
    );
    assert_eq!(app.stack.graph.attempts(), 0, "the fake Graph API saw no send");
    assert_eq!(app.scan("SubscribersTable").await, leads_before);

    // The real broadcast then reaches exactly the previewed audience, with
    // exactly the previewed message (its own id in place of the zeros).
    let id = app.create_broadcast(spring(PAGE)).await;
    let done = app.wait_state(&id, "done").await;
    assert_eq!(done["counts"]["sent"], 2, "{done}");
    let sends = app.stack.graph.sends();
    assert_eq!(sends.len(), 2);
    assert_eq!(app.sends_to(WINDOW), 1);
    let shown: Value = serde_json::from_str(&message.to_string().replace(PREVIEW_BROADCAST_ID, &id)).unwrap();
    for send in &sends {
        assert_eq!(send.body["message"], shown);
    }
    app.stack.stop().await;
}

#[tokio::test]
async fn a_preview_judges_the_window_at_a_future_send_at_and_reads_a_large_page_in_bounded_calls() {
    let app = preview_app().await;
    page_with_every_kind_of_lead(&app).await;
    let (_, now) = preview(&app, "", spring(PAGE)).await;

    // Two days ahead the window lead has left the window; the lead sent a
    // marketing message an hour ago may have another by then.
    let at = optcast_shared::http::now_ms() + 2 * DAY_MS;
    let send_at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at) * 1_000_000)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let mut later = spring(PAGE);
    later["send_at"] = json!(send_at);
    let (status, out) = preview(&app, "", later).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["judged_at_ms"], out["send_at_ms"]);
    assert_eq!(
        nonzero(&out),
        pairs(&[
            ("audience", 2),
            ("reach.marketing_token", 2),
            ("excluded.outside_window", 2),
            ("excluded.tags_not_matched", 1),
            ("excluded.total", 5),
            ("excluded.unreachable", 1),
            ("excluded.unsubscribed", 1),
        ])
    );

    // Three leads a call: the calls' counts add up to the whole.
    let mut sum: std::collections::BTreeMap<String, u64> = Default::default();
    let (mut cursor, mut calls, mut read) = (String::new(), 0, 0);
    loop {
        let (status, part) = preview(&app, &format!("?limit=3&cursor={cursor}"), spring(PAGE)).await;
        assert_eq!(status, 200, "{part}");
        calls += 1;
        read += part["leads_read"].as_u64().unwrap();
        for (k, n) in counts(&part) {
            *sum.entry(k).or_default() += n;
        }
        match part["next_cursor"].as_str() {
            Some(next) => {
                assert_eq!(part["complete"], false);
                cursor = next.to_string();
            }
            None => break,
        }
    }
    assert_eq!((calls, read), (3, 7));
    assert_eq!(sum.into_iter().collect::<Vec<_>>(), counts(&now));

    // A cursor belongs to its page; a limit has bounds.
    let (_, first) = preview(&app, "?limit=3", spring(PAGE)).await;
    let other_page = format!("?cursor={}", first["next_cursor"].as_str().unwrap());
    let (status, err) = preview(&app, &other_page, spring(US_PAGE)).await;
    assert_eq!((status, code(&err)), (400, "invalid_cursor"));
    for bad in ["?limit=0", "?limit=10001", "?limit=x", "?cursor=!!"] {
        let (status, err) = preview(&app, bad, spring(PAGE)).await;
        let want = if bad.contains("cursor") {
            "invalid_cursor"
        } else {
            "invalid_limit"
        };
        assert_eq!((status, code(&err)), (400, want), "{bad}");
    }
    assert_eq!(app.stack.graph.attempts(), 0);
    app.stack.stop().await;
}

#[tokio::test]
async fn a_bad_body_gets_the_same_error_from_preview_as_from_create_and_needs_the_write_scope_and_the_page() {
    let app = preview_app().await;
    register(&app, PAGE, "EU").await;
    let cases = [
        json!({"page_id": PAGE, "message": {"text": "  "}}),
        json!({"page_id": PAGE, "message": {"text": "x".repeat(2001)}}),
        json!({"page_id": "1000000000000404", "message": {"text": "hi"}}),
        json!({"page_id": PAGE, "message": {"text": "hi"}, "send_at": "2020-01-01T00:00:00Z"}),
        json!({"page_id": PAGE, "message": {"text": "hi"}, "send_at": "tomorrow"}),
        json!({"page_id": PAGE, "message": {"text": "hi"}, "evil": 1}),
        json!({"page_id": "a#b", "message": {"text": "hi"}}),
        json!({"page_id": PAGE, "message": {"text": "hi"}, "tags": [""]}),
        json!({"page_id": PAGE, "message": {"text": "hi"}, "name": "x".repeat(201)}),
        json!({"page_id": PAGE, "message": {"text": "hi", "quick_replies": [{"title": "Unsubscribe", "payload": "x"}]}}),
        json!({"message": {"text": "hi"}}),
    ];
    for body in cases {
        let (status, created) = app.api(Method::POST, "/v1/broadcasts", Some(body.clone())).await;
        let (preview_status, previewed) = preview(&app, "", body.clone()).await;
        assert_eq!(status, 400, "{body}: {created}");
        assert_eq!((preview_status, code(&previewed)), (status, code(&created)), "{body}");
    }
    let raw = |path: &'static str| {
        let app = &app;
        async move {
            let resp = app
                .http
                .post(app.url(path))
                .bearer_auth(ADMIN_TOKEN)
                .body("{not json")
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap()["error"]["code"].clone())
        }
    };
    assert_eq!(raw("/v1/broadcasts/preview").await, raw("/v1/broadcasts").await);

    let body = Some(spring(PAGE));
    let (status, err) = app
        .api_as(READER, Method::POST, "/v1/broadcasts/preview", body.clone())
        .await;
    assert_eq!((status, code(&err)), (403, "missing_scope"));
    let (status, err) = app
        .api_as(OTHER, Method::POST, "/v1/broadcasts/preview", body.clone())
        .await;
    assert_eq!((status, code(&err)), (404, "not_found"));
    let (status, _) = app.api_as(OTHER, Method::POST, "/v1/broadcasts", body).await;
    assert_eq!(status, 404, "create answers the same");
    let (status, err) = app.api(Method::GET, "/v1/broadcasts/preview", None).await;
    assert_eq!((status, code(&err)), (405, "method_not_allowed"));
    assert!(app.scan("BroadcastsTable").await.is_empty(), "nothing was created");
    app.stack.stop().await;
}

/// A measurement, not a check (`cargo test -p optcast-tests --test e2e --
/// --ignored --nocapture preview_of_the_largest`): the wall time of one
/// preview call reading the most leads a call reads, against the emulator.
#[tokio::test]
#[ignore]
async fn preview_of_the_largest_page_a_call_reads_whole() {
    use optcast_shared::broadcast::MAX_PREVIEW_LEADS;
    use optcast_shared::store::subscriber_to_item;
    let app = preview_app().await;
    register(&app, PAGE, "EU").await;
    let now = optcast_shared::http::now_ms();
    let page = PageId::parse(PAGE).unwrap();
    let items: Vec<_> = (0..MAX_PREVIEW_LEADS)
        .map(|i| {
            let psid = Psid::parse(format!("2091{i:012}")).unwrap();
            let mut lead = optcast_shared::lead::Subscriber::new(
                page.clone(),
                psid,
                optcast_shared::meta::Platform::Messenger,
                Vec::new(),
                now,
            );
            lead.last_inbound_at_ms = Some(now - (i as i64 % 48) * 60 * 60 * 1000);
            subscriber_to_item(&lead, 1)
        })
        .collect();
    let table = app.physical("SubscribersTable");
    for chunk in items.chunks(25) {
        let writes = chunk
            .iter()
            .map(|item| {
                aws_sdk_dynamodb::types::WriteRequest::builder()
                    .put_request(
                        aws_sdk_dynamodb::types::PutRequest::builder()
                            .set_item(Some(item.clone()))
                            .build()
                            .unwrap(),
                    )
                    .build()
            })
            .collect();
        app.ddb
            .batch_write_item()
            .request_items(&table, writes)
            .send()
            .await
            .unwrap();
    }
    // CPU of this process (the stack runs the api handler in it), in ms.
    let cpu_ms = || {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map_or("", |(_, r)| r)
            .split_whitespace()
            .collect();
        let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
        (ticks(11) + ticks(12)) * 10
    };
    let bytes: usize = items
        .iter()
        .map(|i| i.iter().map(|(k, v)| k.len() + format!("{v:?}").len()).sum::<usize>())
        .sum();
    let (started, cpu) = (std::time::Instant::now(), cpu_ms());
    let (status, out) = preview(&app, "", spring(PAGE)).await;
    let (elapsed, cpu) = (started.elapsed(), cpu_ms() - cpu);
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["leads_read"], MAX_PREVIEW_LEADS);
    println!(
        "preview of {MAX_PREVIEW_LEADS} leads: {} ms wall (emulator included), {cpu} ms CPU in the test \
         process (api handler, proxy, client), ~{} bytes per item (debug text, an upper bound), complete: {}",
        elapsed.as_millis(),
        bytes / items.len(),
        out["complete"]
    );
    app.stack.stop().await;
}
