//! A marketer's control of broadcasts: a page's broadcasts listed, pause and
//! resume (parked jobs sent once, never to a lead who unsubscribed while
//! paused), and a test send under the consent rules of a real one.

use optcast_tests::*;
use reqwest::Method;
use serde_json::json;
use sha2::{Digest, Sha256};

const PAGE: &str = "1000000000000801";
const OTHER_PAGE: &str = "1000000000000802";
const READER: &str = "control-reader-token";
const OTHER: &str = "control-other-page-token";

fn text(page: &str, t: &str) -> serde_json::Value {
    json!({"page_id": page, "message": {"text": t}})
}

fn later(t: &str) -> serde_json::Value {
    json!({"page_id": PAGE, "message": {"text": t}, "send_at": "2099-01-01T00:00:00Z"})
}

fn code(body: &serde_json::Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

/// A stack with two more callers: one that may only read broadcasts, one
/// that may do everything on another page only.
async fn control_app() -> TestApp {
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

#[tokio::test]
async fn a_pages_broadcasts_are_listed_newest_first_page_by_page_and_by_state() {
    let app = control_app().await;
    app.register_page(PAGE).await;
    app.register_page(OTHER_PAGE).await;
    let mut ids = Vec::new();
    for name in ["first", "second", "third"] {
        ids.push(app.create_broadcast(later(name)).await);
    }
    app.create_broadcast(
        json!({"page_id": OTHER_PAGE, "message": {"text": "elsewhere"}, "send_at": "2099-01-01T00:00:00Z"}),
    )
    .await;
    let (status, _) = app
        .api(Method::POST, &format!("/v1/broadcasts/{}/cancel", ids[1]), None)
        .await;
    assert_eq!(status, 200);

    let list = |q: String| {
        let app = &app;
        async move { app.api(Method::GET, &format!("/v1/broadcasts?{q}"), None).await }
    };
    let (status, first) = list(format!("page_id={PAGE}&limit=2")).await;
    assert_eq!(status, 200, "{first}");
    let got: Vec<&str> = first["broadcasts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, [ids[2].as_str(), ids[1].as_str()], "newest first");
    let cursor = first["next_cursor"].as_str().expect("a next page").to_string();
    let (_, second) = list(format!("page_id={PAGE}&limit=2&cursor={cursor}")).await;
    let got: Vec<&str> = second["broadcasts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, [ids[0].as_str()]);
    assert!(second["next_cursor"].is_null(), "{second}");

    let (_, cancelled) = list(format!("page_id={PAGE}&state=cancelled")).await;
    let got: Vec<&str> = cancelled["broadcasts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, [ids[1].as_str()]);
    let (_, as_reader) = app
        .api_as(READER, Method::GET, &format!("/v1/broadcasts?page_id={PAGE}"), None)
        .await;
    assert_eq!(as_reader["broadcasts"].as_array().unwrap().len(), 3);

    // Bad input: precise codes; another page's cursor is not one of this listing.
    let (_, other_page) = app
        .api(
            Method::GET,
            &format!("/v1/broadcasts?page_id={OTHER_PAGE}&limit=1"),
            None,
        )
        .await;
    assert!(other_page["next_cursor"].is_null());
    for (query, want) in [
        (String::new(), "invalid_page_id"),
        (format!("page_id={PAGE}&state=sent"), "invalid_state"),
        (format!("page_id={PAGE}&limit=0"), "invalid_limit"),
        (format!("page_id={PAGE}&limit=101"), "invalid_limit"),
        (format!("page_id={PAGE}&cursor=nonsense"), "invalid_cursor"),
        (format!("page_id={OTHER_PAGE}&cursor={cursor}"), "invalid_cursor"),
    ] {
        let (status, body) = list(query.clone()).await;
        assert_eq!((status, code(&body)), (400, want), "{query}: {body}");
    }
    // Another caller's page is not there at all.
    let (status, body) = app
        .api_as(OTHER, Method::GET, &format!("/v1/broadcasts?page_id={PAGE}"), None)
        .await;
    assert_eq!((status, code(&body)), (404, "not_found"));
    app.stack.stop().await;
}

#[tokio::test]
async fn pause_stops_sending_and_resume_sends_each_remaining_subscribed_lead_exactly_once() {
    let app = spawn_app().await;
    app.register_page(PAGE).await;
    let all = leads("2081", 10);
    app.seed_leads(PAGE, &all).await;
    // One message a second gets through: the broadcast is mid-way when paused.
    app.stack.graph.set_rate_limit(Some(1));
    let id = app.create_broadcast(text(PAGE, "Paused one")).await;
    eventually("first send", || async { !app.stack.graph.sends().is_empty() }).await;
    let (status, paused) = app.api(Method::POST, &format!("/v1/broadcasts/{id}/pause"), None).await;
    assert_eq!((status, paused["state"].as_str()), (200, Some("paused")), "{paused}");
    assert_eq!(paused["paused_reason"], "paused through the API");
    let paused_at = optcast_shared::http::now_ms();
    // Pausing again changes nothing.
    let (status, again) = app.api(Method::POST, &format!("/v1/broadcasts/{id}/pause"), None).await;
    assert_eq!((status, again["state"].as_str()), (200, Some("paused")));

    // Every queued job meets the pause and is parked: nothing more is sent.
    app.stack.graph.set_rate_limit(None);
    app.drain(&["SendQueue", "PlanQueue"]).await;
    let late = app
        .stack
        .graph
        .sends()
        .into_iter()
        .filter(|s| s.at_ms > paused_at)
        .count();
    assert!(late <= 1, "{late} sends after the pause (at most the one in flight)");
    let sent_before: Vec<String> = all.iter().filter(|p| app.sends_to(p) > 0).cloned().collect();
    assert!(sent_before.len() < all.len(), "paused before the end");
    assert_eq!(app.broadcast(&id).await["state"], "paused");

    // While paused, a lead not yet sent to unsubscribes.
    let stopper = all.iter().find(|p| app.sends_to(p) == 0).unwrap().clone();
    app.say(PAGE, &stopper, "m_ctl_stop", "STOP").await;
    assert_eq!(app.status(PAGE, &stopper).await, "unsubscribed");

    let (status, resumed) = app
        .api(Method::POST, &format!("/v1/broadcasts/{id}/resume"), None)
        .await;
    assert_eq!((status, resumed["state"].as_str()), (200, Some("sending")), "{resumed}");
    assert!(resumed["paused_reason"].is_null());
    let done = app.wait_state(&id, "done").await;
    for p in &all {
        let want = usize::from(p != &stopper);
        assert_eq!(app.sends_to(p), want, "lead {p}");
    }
    // The stopper is skipped at sending (a parked job) or, if its shard was
    // not planned before the pause, left out of the audience planned later.
    let c = &done["counts"];
    assert_eq!(c["sent"].as_u64(), Some(all.len() as u64 - 1), "{done}");
    assert_eq!(
        c["queued"].as_u64(),
        Some(c["sent"].as_u64().unwrap() + c["skipped_unsubscribed"].as_u64().unwrap()),
        "{done}"
    );
    // Nothing stays parked.
    let parked = app
        .scan("DeliveriesTable")
        .await
        .into_iter()
        .filter(|i| s(i, "sk").starts_with("PARK#"))
        .count();
    assert_eq!(parked, 0);

    // Resuming what is not paused, pausing what is done: precise conflicts.
    let (status, body) = app
        .api(Method::POST, &format!("/v1/broadcasts/{id}/resume"), None)
        .await;
    assert_eq!((status, code(&body)), (409, "not_paused"), "{body}");
    let (status, body) = app.api(Method::POST, &format!("/v1/broadcasts/{id}/pause"), None).await;
    assert_eq!((status, code(&body)), (409, "not_pausable"), "{body}");
    app.stack.stop().await;
}

#[tokio::test]
async fn a_job_parked_while_paused_never_reaches_a_lead_who_unsubscribed_meanwhile() {
    let (mut app, all, id) = planned_while_sender_held(PAGE, "2084", 6, "Parked", |_| {}).await;
    app.pause_and_park(&id).await;
    assert_eq!(
        app.parked_jobs().await,
        all.len(),
        "every queued job is parked, none sent"
    );
    assert!(app.stack.graph.sends().is_empty());
    app.say(PAGE, &all[2], "m_ctl_parked_stop", "STOP").await;
    let done = app.resume_until_done(&id).await;
    let reached: Vec<usize> = all.iter().map(|p| app.sends_to(p)).collect();
    assert_eq!(reached, [1, 1, 0, 1, 1, 1]);
    assert_eq!(
        (
            done["counts"]["sent"].as_u64(),
            done["counts"]["skipped_unsubscribed"].as_u64()
        ),
        (Some(5), Some(1)),
        "{done}"
    );
    app.stack.stop().await;
}

#[tokio::test]
async fn a_page_queued_as_the_pause_lands_is_counted_and_the_broadcast_finishes_only_when_every_job_is() {
    use optcast_shared::ids::Psid;
    use optcast_shared::store::audience_shard;
    // Four leads of one audience shard: one page of one plan job.
    let shard_of = |p: &String| audience_shard(&Psid::parse(p).unwrap());
    let candidates = leads("2093", 200);
    let all: Vec<String> = candidates
        .iter()
        .filter(|p| shard_of(p) == shard_of(&candidates[0]))
        .take(4)
        .cloned()
        .collect();
    assert_eq!(all.len(), 4);
    // The planner's send of that page is held until the pause has landed.
    let (faults, routed) = behind_faults("planner").await;
    let mut held = faults.hold_next("sqs:SendMessageBatch");
    let mut app = spawn_app_with(|o| {
        o.held_functions = vec!["sender".into()];
        routed(o);
    })
    .await;
    app.register_page(PAGE).await;
    app.seed_leads(PAGE, &all).await;
    let id = app.create_broadcast(text(PAGE, "Paused as it was planned")).await;
    tokio::time::timeout(std::time::Duration::from_secs(120), held.arrival())
        .await
        .expect("the planner sends its page");
    let (status, paused) = app.api(Method::POST, &format!("/v1/broadcasts/{id}/pause"), None).await;
    assert_eq!((status, paused["state"].as_str()), (200, Some("paused")), "{paused}");
    held.release();
    // The page's jobs are on the send queue, and its checkpoint counts them:
    // the sender parks each.
    app.drain(&["PlanQueue"]).await;
    app.stack.resume("sender");
    app.drain(&["SendQueue"]).await;
    assert_eq!(app.parked_jobs().await, all.len());
    let paused = app.broadcast(&id).await;
    assert_eq!(paused["counts"]["queued"].as_u64(), Some(all.len() as u64), "{paused}");

    // A lead leaves the audience before the resume: their parked job is
    // skipped, and the broadcast is done once every job is accounted for.
    app.say(PAGE, &all[1], "m_ctl_pause_lands_stop", "STOP").await;
    assert_eq!(app.status(PAGE, &all[1]).await, "unsubscribed");
    let done = app.resume_until_done(&id).await;
    let reached: Vec<usize> = all.iter().map(|p| app.sends_to(p)).collect();
    assert_eq!(reached, [1, 0, 1, 1]);
    let c = &done["counts"];
    assert_eq!(
        (
            c["queued"].as_u64(),
            c["sent"].as_u64(),
            c["skipped_unsubscribed"].as_u64()
        ),
        (Some(4), Some(3), Some(1)),
        "{done}"
    );
    assert_eq!(app.parked_jobs().await, 0);
    app.stack.stop().await;
}

#[tokio::test]
async fn a_broadcast_the_sender_paused_on_a_page_error_sends_every_lead_once_when_resumed() {
    use optcast_local::fake_graph::{FakeError, Rule};
    let app = spawn_app().await;
    app.register_page(PAGE).await;
    let all = leads("2085", 6);
    app.seed_leads(PAGE, &all).await;
    // The first send meets an invalid page token: the sender pauses.
    app.stack.graph.script(Rule {
        recipient: None,
        error: FakeError::InvalidToken,
        times: 1,
    });
    let id = app.create_broadcast(text(PAGE, "After a token fix")).await;
    let paused = app.wait_state(&id, "paused").await;
    assert!(
        paused["paused_reason"].as_str().unwrap().contains("InvalidToken"),
        "{paused}"
    );
    app.drain(&["SendQueue", "PlanQueue"]).await;
    let done = app.resume_until_done(&id).await;
    assert_eq!(done["counts"]["sent"], all.len(), "{done}");
    for p in &all {
        assert_eq!(app.sends_to(p), 1, "lead {p}");
    }
    app.stack.stop().await;
}

#[tokio::test]
async fn a_broadcast_paused_before_it_was_planned_plans_its_whole_audience_on_resume() {
    let mut app = spawn_app_with(|o| o.held_functions = vec!["sender".into(), "planner".into()]).await;
    app.register_page(PAGE).await;
    let all = leads("2082", 12);
    app.seed_leads(PAGE, &all).await;
    let id = app.create_broadcast(text(PAGE, "Planned after a pause")).await;
    let (status, paused) = app.api(Method::POST, &format!("/v1/broadcasts/{id}/pause"), None).await;
    assert_eq!((status, paused["state"].as_str()), (200, Some("paused")), "{paused}");
    // The plan jobs meet a paused broadcast: nothing is queued, nothing sent.
    app.stack.resume("planner");
    app.stack.resume("sender");
    app.drain(&["PlanQueue", "SendQueue"]).await;
    assert_eq!(app.broadcast(&id).await["counts"]["queued"], 0);
    assert!(app.stack.graph.sends().is_empty());
    let done = app.resume_until_done(&id).await;
    assert_eq!(done["counts"]["sent"], all.len(), "{done}");
    for p in &all {
        assert_eq!(app.sends_to(p), 1, "lead {p}");
    }
    app.stack.stop().await;
}

#[tokio::test]
async fn a_test_send_reaches_only_leads_a_real_send_could_and_counts_nothing() {
    let app = control_app().await;
    app.register_page(PAGE).await;
    let [subscribed, stopped, unknown] = ["2083000000000001", "2083000000000002", "2083000000000003"];
    app.seed_leads(PAGE, &[subscribed.to_string(), stopped.to_string()])
        .await;
    app.say(PAGE, stopped, "m_ctl_t_stop", "STOP").await;
    let id = app.create_broadcast(later("Preview me")).await;

    let (status, out) = app
        .api(
            Method::POST,
            &format!("/v1/broadcasts/{id}/test"),
            Some(json!({"psids": [subscribed, stopped, unknown, subscribed]})),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    let results: Vec<(String, String)> = out["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["psid"].as_str().unwrap().to_string(),
                format!(
                    "{}{}",
                    r["result"].as_str().unwrap(),
                    r["reason"].as_str().map(|c| format!(":{c}")).unwrap_or_default()
                ),
            )
        })
        .collect();
    assert_eq!(
        results,
        [
            (subscribed.to_string(), "sent".to_string()),
            (stopped.to_string(), "skipped:not_subscribed".to_string()),
            (unknown.to_string(), "skipped:not_a_lead".to_string()),
        ]
    );
    let sends = app.stack.graph.sends();
    assert_eq!(sends.len(), 1);
    assert_eq!(sends[0].recipient["id"], subscribed);
    assert_eq!(sends[0].body["message"]["metadata"], format!("bcast-test:{id}"));
    assert_eq!(sends[0].body["message"]["text"], "Preview me");
    assert!(
        sends[0].body["message"].to_string().contains("Unsubscribe"),
        "the real message, with its control"
    );
    // Not part of the broadcast: no counts, no delivery, still scheduled.
    let b = app.broadcast(&id).await;
    assert_eq!(b["state"], "scheduled");
    assert_eq!(b["counts"]["sent"], 0);
    assert!(app.scan("DeliveriesTable").await.is_empty());

    for (body, want) in [
        (json!({"psids": []}), "no_psids"),
        (json!({"psids": leads("2083", 11)}), "too_many_psids"),
        (json!({"psids": ["12x"]}), "invalid_psid"),
        (json!({"psid": [subscribed]}), "invalid_json"),
    ] {
        let (status, err) = app
            .api(Method::POST, &format!("/v1/broadcasts/{id}/test"), Some(body.clone()))
            .await;
        assert_eq!((status, code(&err)), (400, want), "{body}");
    }
    let test = format!("/v1/broadcasts/{id}/test");
    let one = Some(json!({"psids": [subscribed]}));
    let (status, err) = app.api_as(READER, Method::POST, &test, one.clone()).await;
    assert_eq!((status, code(&err)), (403, "missing_scope"));
    let (status, err) = app.api_as(OTHER, Method::POST, &test, one.clone()).await;
    assert_eq!((status, code(&err)), (404, "not_found"));
    let (status, _) = app
        .api(Method::POST, &format!("/v1/broadcasts/{id}/cancel"), None)
        .await;
    assert_eq!(status, 200);
    let (status, err) = app.api(Method::POST, &test, one).await;
    assert_eq!((status, code(&err)), (409, "broadcast_closed"));
    assert_eq!(app.stack.graph.sends().len(), 1, "no bad request sent anything");
    app.stack.stop().await;
}

#[tokio::test]
async fn pausing_and_resuming_needs_the_write_scope_and_the_page() {
    let app = control_app().await;
    app.register_page(PAGE).await;
    let id = app.create_broadcast(later("Guarded")).await;
    for op in ["pause", "resume"] {
        let path = format!("/v1/broadcasts/{id}/{op}");
        let (status, err) = app.api_as(READER, Method::POST, &path, None).await;
        assert_eq!((status, code(&err)), (403, "missing_scope"), "{op}");
        let (status, err) = app.api_as(OTHER, Method::POST, &path, None).await;
        assert_eq!((status, code(&err)), (404, "not_found"), "{op}");
    }
    // A scheduled broadcast has nothing to pause; it is not paused either.
    let (status, err) = app.api(Method::POST, &format!("/v1/broadcasts/{id}/pause"), None).await;
    assert_eq!((status, code(&err)), (409, "not_pausable"));
    let (status, err) = app
        .api(Method::POST, &format!("/v1/broadcasts/{id}/resume"), None)
        .await;
    assert_eq!((status, code(&err)), (409, "not_paused"));
    let (status, err) = app.api(Method::GET, &format!("/v1/broadcasts/{id}/pause"), None).await;
    assert_eq!((status, code(&err)), (405, "method_not_allowed"));
    app.stack.stop().await;
}

/// A paused broadcast cancelled is no longer paused: its `paused_reason`
/// goes (a cancelled broadcast still said "paused through the API").
#[tokio::test]
async fn a_paused_broadcast_cancelled_says_no_pause_reason() {
    let app = spawn_app_with(|o| o.held_functions = vec!["sender".into(), "planner".into()]).await;
    app.register_page(PAGE).await;
    app.seed_leads(PAGE, &leads("2092", 2)).await;
    let id = app.create_broadcast(text(PAGE, "Paused, then cancelled")).await;
    let (status, paused) = app.api(Method::POST, &format!("/v1/broadcasts/{id}/pause"), None).await;
    assert_eq!(
        (status, paused["paused_reason"].as_str()),
        (200, Some("paused through the API")),
        "{paused}"
    );
    let (status, cancelled) = app
        .api(Method::POST, &format!("/v1/broadcasts/{id}/cancel"), None)
        .await;
    assert_eq!(
        (status, cancelled["state"].as_str()),
        (200, Some("cancelled")),
        "{cancelled}"
    );
    assert!(cancelled["paused_reason"].is_null(), "{cancelled}");
    assert!(app.broadcast(&id).await["paused_reason"].is_null());
    app.stack.stop().await;
}
