//! What the sender does with Meta's answers: rate limits retried later,
//! blocked leads suppressed, an invalid page token pausing the broadcast.

use optcast_local::fake_graph::{FakeError, Rule};
use optcast_tests::*;
use reqwest::Method;

use super::{text, PAGE};

#[tokio::test]
async fn rate_limited_sends_are_retried_later_and_the_broadcast_completes() {
    let app = spawn_app().await;
    app.register_page(PAGE).await;
    let all = leads("2008", 4);
    app.seed_leads(PAGE, &all).await;
    app.stack.graph.script(Rule {
        recipient: None,
        error: FakeError::RateLimit,
        times: 3,
    });
    app.stack.graph.script(Rule {
        recipient: Some("2008000000000001".into()),
        error: FakeError::Temporary,
        times: 1,
    });
    let id = app.create_broadcast(text("Busy day")).await;
    let done = app.wait_state(&id, "done").await;
    assert_eq!(done["counts"]["sent"], 4, "{done}");
    assert_eq!(done["counts"]["failed"], 0, "rate limiting is not a failure");
    for p in &all {
        assert_eq!(app.sends_to(p), 1);
    }
    assert!(
        app.stack.graph.attempts() >= 8,
        "the limited attempts were made and retried"
    );
    app.stack.stop().await;
}

#[tokio::test]
async fn meta_errors_suppress_blocked_leads_and_pause_on_an_invalid_page_token() {
    let app = spawn_app().await;
    app.register_page(PAGE).await;
    app.seed_leads(PAGE, &leads("2009", 3)).await;
    app.stack.graph.script(Rule {
        recipient: Some("2009000000000001".into()),
        error: FakeError::Blocked,
        times: 1,
    });
    app.stack.graph.script(Rule {
        recipient: Some("2009000000000002".into()),
        error: FakeError::OutsideWindow,
        times: 1,
    });
    let id = app.create_broadcast(text("Hello")).await;
    let done = app.wait_state(&id, "done").await;
    assert_eq!(
        (
            done["counts"]["sent"].as_i64(),
            done["counts"]["failed"].as_i64(),
            done["counts"]["skipped_policy"].as_i64()
        ),
        (Some(1), Some(1), Some(1)),
        "{done}"
    );
    let (_, b1) = app
        .api(
            Method::GET,
            &format!("/v1/pages/{PAGE}/subscribers/2009000000000001"),
            None,
        )
        .await;
    assert_eq!(b1["status"], "unreachable", "a blocked lead leaves every audience");

    app.stack.graph.script(Rule {
        recipient: None,
        error: FakeError::InvalidToken,
        times: 100,
    });
    let id = app.create_broadcast(text("Second")).await;
    let paused = app.wait_state(&id, "paused").await;
    assert!(
        paused["paused_reason"].as_str().unwrap().contains("InvalidToken"),
        "{paused}"
    );
    app.stack.stop().await;
}

#[tokio::test]
async fn a_send_whose_answer_is_lost_is_never_sent_again() {
    // Meta takes the message for lead 1, but its answer does not arrive.
    sent_once_whatever_the_answer("2012", FakeError::AnswerLost).await;
}

#[tokio::test]
async fn a_send_answered_by_a_gateway_timeout_is_never_sent_again() {
    // Meta takes the message, but the gateway in front of it answers 504
    // (its HTML page, no Meta error): sent perhaps. Before, a 502/504
    // without Meta's body was a transient error, retried: a second message.
    sent_once_whatever_the_answer("2017", FakeError::GatewayTimeout).await;
}

/// A broadcast to three leads, Meta taking lead 1's message but answering
/// `error`: each lead gets one message, lead 1's is counted failed with an
/// unknown outcome.
async fn sent_once_whatever_the_answer(prefix: &str, error: FakeError) {
    let app = spawn_app().await;
    app.register_page(PAGE).await;
    let all = leads(prefix, 3);
    app.seed_leads(PAGE, &all).await;
    app.stack.graph.script(Rule {
        recipient: Some(all[1].clone()),
        error,
        times: 1,
    });
    let id = app.create_broadcast(text("Once")).await;
    let done = app.wait_state(&id, "done").await;
    for p in &all {
        assert_eq!(app.sends_to(p), 1, "{p}: one message, whatever the answer");
    }
    let counts = &done["counts"];
    assert_eq!(
        (counts["sent"].as_i64(), counts["failed"].as_i64()),
        (Some(2), Some(1)),
        "{done}"
    );
    assert_eq!(counts["failed_by_reason"]["unknown_outcome"], 1, "{done}");
    let (status, recipient) = app
        .api(Method::GET, &format!("/v1/broadcasts/{id}/recipients/{}", all[1]), None)
        .await;
    assert_eq!(status, 200, "{recipient}");
    assert_eq!(recipient["reason"], "unknown_outcome", "{recipient}");
    app.stack.stop().await;
}

#[tokio::test]
async fn a_send_deferred_until_its_last_try_is_counted_failed_and_the_broadcast_finishes() {
    // Three tries, back to back: Meta answers one lead's sends with a
    // transient error every time.
    let app = spawn_app_with(|o| {
        o.overrides.insert("SEND_MAX_RECEIVES".into(), "3".into());
        o.overrides.insert("SEND_RETRY_BASE_SECS".into(), "0".into());
    })
    .await;
    app.register_page(PAGE).await;
    let all = leads("2016", 3);
    app.seed_leads(PAGE, &all).await;
    let stuck = all[1].clone();
    app.stack.graph.script(Rule {
        recipient: Some(stuck.clone()),
        error: FakeError::Temporary,
        times: 1000,
    });
    let id = app.create_broadcast(text("Try, try again")).await;
    // Before, the job went to the dead-letter queue uncounted and the
    // broadcast stayed "sending" for ever.
    let done = app.wait_state(&id, "done").await;
    let counts = &done["counts"];
    assert_eq!(
        (counts["sent"].as_i64(), counts["failed"].as_i64()),
        (Some(2), Some(1)),
        "{done}"
    );
    assert_eq!(counts["failed_by_reason"]["retries_exhausted"], 1, "{done}");
    assert_eq!(app.sends_to(&stuck), 0);
    let (status, recipient) = app
        .api(Method::GET, &format!("/v1/broadcasts/{id}/recipients/{stuck}"), None)
        .await;
    assert_eq!(status, 200, "{recipient}");
    assert_eq!(recipient["reason"], "retries_exhausted", "{recipient}");
    app.stack.stop().await;
}

#[tokio::test]
async fn a_plan_job_failing_on_its_last_try_pauses_the_broadcast_and_a_resume_finishes_it() {
    // The planner cannot queue send jobs, twice in a row (its last try).
    let (faults, adjust) = behind_faults("planner").await;
    let app = spawn_app_with(|o| {
        o.overrides.insert("PLAN_MAX_RECEIVES".into(), "2".into());
        adjust(o);
    })
    .await;
    app.register_page(PAGE).await;
    let all = leads("2017", 3);
    app.seed_leads(PAGE, &all).await;
    faults.fail_next("sqs:SendMessageBatch", 1_000);
    let id = app.create_broadcast(text("Planned at last")).await;
    // Before, the job went to the dead-letter queue and its shard was never
    // planned: the broadcast stayed `planning` for ever.
    eventually("paused by the planner", || async {
        app.broadcast(&id).await["state"] == "paused"
    })
    .await;
    let paused = app.broadcast(&id).await;
    assert!(
        paused["paused_reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("planning failed")),
        "{paused}"
    );
    faults.fail_next("sqs:SendMessageBatch", 0);
    let done = app.resume_until_done(&id).await;
    assert_eq!(done["counts"]["sent"], 3, "{done}");
    for p in &all {
        assert_eq!(app.sends_to(p), 1, "{p}");
    }
    app.stack.stop().await;
}

/// Meta's "cannot be reached" marks only the lead the job was planned for:
/// a person erased and back (a new lifetime) since is a new conversation.
/// The old mark ignored the generation and took the new lead out of every
/// audience.
#[tokio::test]
async fn meta_saying_unreachable_marks_only_the_lifetime_the_job_was_planned_for() {
    use optcast_shared::ids::{PageId, Psid};
    let app = spawn_app().await;
    app.register_page(PAGE).await;
    let psid = "2009000000000051";
    app.say(PAGE, psid, "m_unr_1", "hi").await;
    let generation = s(&app.subscriber(PAGE, psid).await.unwrap(), "generation");
    let (page, lead) = (PageId::parse(PAGE).unwrap(), Psid::parse(psid).unwrap());
    let store = app.send_store();
    let now = optcast_shared::http::now_ms();
    store
        .mark_unreachable(&page, &lead, Some("0123456789abcdef"), now)
        .await
        .unwrap();
    assert_eq!(app.status(PAGE, psid).await, "subscribed", "a job of another lifetime");
    store
        .mark_unreachable(&page, &lead, Some(&generation), now)
        .await
        .unwrap();
    assert_eq!(app.status(PAGE, psid).await, "unreachable", "a job of this lifetime");
    app.stack.stop().await;
}
