//! Outcomes meet the marketer's control: a resume of page protection's pause
//! is judged only on what follows it, and a job parked while paused is
//! answered `parked` by the recipient route, then recorded like any other.

use optcast_local::fake_graph::{FakeError, Rule};
use optcast_tests::*;
use reqwest::Method;
use serde_json::{json, Value};

use super::outcomes::{recipient, sent_to, text, PAGE};

/// The next `n` Send API calls, whoever they are for, answer "this person
/// cannot be reached" (551): `n` blocks, in whatever order the jobs run.
fn next_calls_blocked(app: &TestApp, n: u32) {
    app.stack.graph.script(Rule {
        recipient: None,
        error: FakeError::Blocked,
        times: n,
    });
}

async fn resume(app: &TestApp, id: &str) -> Value {
    let (status, b) = app
        .api(Method::POST, &format!("/v1/broadcasts/{id}/resume"), None)
        .await;
    assert_eq!((status, b["state"].as_str()), (200, Some("sending")), "{b}");
    b
}

#[tokio::test]
async fn a_resumed_protection_pause_sends_on_and_only_a_new_burst_of_blocks_pauses_it_again() {
    let mut app = spawn_app_with(|o| o.held_functions = vec!["sender".into()]).await;
    let (status, page) = app
        .api(
            Method::PUT,
            &format!("/v1/pages/{PAGE}"),
            Some(json!({"access_token": PAGE_TOKEN, "protection": {"max_negative_rate": 0.2, "min_sends": 1}})),
        )
        .await;
    assert_eq!(status, 200, "{page}");
    let all = leads("2106", 40);
    app.seed_leads(PAGE, &all).await;
    next_calls_blocked(&app, 4);
    let id = app.create_broadcast(text("Careful")).await;
    eventually("planned", || async {
        app.broadcast(&id).await["counts"]["queued"] == 40
    })
    .await;
    app.stack.resume("sender");

    // The first batch's calls are blocked (up to 4 of at most 10): above
    // 20% at its end, it pauses itself.
    let first = app.wait_state(&id, "paused").await;
    let reason = first["paused_reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("page protection:") && !reason.contains("since the resume"),
        "{first}"
    );
    assert!(first["protection_baseline"].is_null(), "{first}");
    let mut blocked_at_pause = first["outcomes"]["blocked"].as_i64().unwrap();
    assert!(blocked_at_pause >= 1, "{first}");

    // Then a new burst: the next 4 calls are blocked too. Each resume takes
    // the counts at that moment as the baseline, and every later pause must
    // be explained by blocks since that resume: the counts that paused it
    // never pause it again by themselves. It ends done.
    next_calls_blocked(&app, 4);
    let mut repaused = 0;
    loop {
        app.drain(&["SendQueue"]).await;
        let paused = app.broadcast(&id).await;
        let resumed = resume(&app, &id).await;
        let base = &resumed["protection_baseline"];
        assert_eq!(base["sent"], paused["counts"]["sent"], "{resumed}");
        assert_eq!(base["blocked"], blocked_at_pause, "{resumed}");
        assert!(base["resumed_at_ms"].is_i64(), "{resumed}");
        eventually("paused again or done", || async {
            matches!(app.broadcast(&id).await["state"].as_str(), Some("paused" | "done"))
        })
        .await;
        let b = app.broadcast(&id).await;
        if b["state"] == "done" {
            break;
        }
        let reason = b["paused_reason"].as_str().unwrap_or_default();
        assert!(reason.contains("since the resume"), "{b}");
        let blocked = b["outcomes"]["blocked"].as_i64().unwrap();
        assert!(blocked > blocked_at_pause, "paused again with no new block: {b}");
        blocked_at_pause = blocked;
        repaused += 1;
        assert!(repaused <= 4, "more pauses than bursts: {b}");
    }
    assert!(repaused >= 1, "the new burst paused it again");
    let done = app.broadcast(&id).await;
    assert_eq!(
        (done["counts"]["sent"].as_i64(), done["counts"]["failed"].as_i64()),
        (Some(32), Some(8)),
        "{done}"
    );
    assert_eq!(done["outcomes"]["blocked"], 8, "{done}");
    let reached: usize = all.iter().map(|p| app.sends_to(p)).sum();
    assert_eq!(reached, 32, "every lead not blocked receives it once");
    assert!(all.iter().all(|p| app.sends_to(p) <= 1));
    app.stack.stop().await;
}

#[tokio::test]
async fn a_parked_lead_is_answered_parked_and_once_resumed_is_recorded_like_any_other() {
    let (mut app, all, id) = planned_while_sender_held(PAGE, "2107", 4, "Parked, then sent", |_| {}).await;
    let [sent, stopped, blocked, _] = [&all[0], &all[1], &all[2], &all[3]];
    let outsider = "2107000000000999";
    app.pause_and_park(&id).await;

    for p in &all {
        let (status, r) = recipient(&app, &id, p).await;
        assert_eq!((status, r["state"].as_str()), (200, Some("parked")), "{p}: {r}");
        assert!(r["reason"].is_null() && r["mid"].is_null(), "{r}");
        assert!(r["recorded_at_ms"].as_i64() > Some(0), "{r}");
    }
    // Not done yet: no record says nothing final about the audience.
    let (status, r) = recipient(&app, &id, outsider).await;
    assert_eq!(
        (status, r["error"]["code"].as_str()),
        (404, Some("not_recorded")),
        "{r}"
    );

    // While paused one lead unsubscribes; Meta will say another blocked the Page.
    app.say(PAGE, stopped, "m_parked_stop", "STOP").await;
    app.stack.graph.script(Rule {
        recipient: Some(blocked.clone()),
        error: FakeError::Blocked,
        times: 1,
    });
    resume(&app, &id).await;
    app.wait_state(&id, "done").await;

    // The parked jobs, sent again, are recorded exactly as jobs never parked.
    let (status, r) = recipient(&app, &id, sent).await;
    assert_eq!((status, r["state"].as_str()), (200, Some("sent")), "{r}");
    assert_eq!(r["mid"], sent_to(&app, sent).0);
    assert!(r["sent_at_ms"].is_i64() && r["reason"].is_null(), "{r}");
    for (psid, state, reason) in [
        (stopped, "skipped_unsubscribed", "unsubscribed"),
        (blocked, "failed", "blocked"),
    ] {
        let (status, r) = recipient(&app, &id, psid).await;
        assert_eq!(
            (status, r["state"].as_str(), r["reason"].as_str()),
            (200, Some(state), Some(reason)),
            "{psid}: {r}"
        );
    }
    let (status, r) = recipient(&app, &id, outsider).await;
    assert_eq!(
        (status, r["error"]["code"].as_str()),
        (404, Some("not_in_audience")),
        "{r}"
    );
    let done = app.broadcast(&id).await;
    assert_eq!(done["outcomes"]["blocked"], 1, "{done}");
    assert_eq!(done["outcomes"]["meta_errors"]["551/1545041"], 1, "{done}");
    app.stack.stop().await;
}
