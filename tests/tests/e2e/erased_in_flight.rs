//! A lead erased while a send to them is in flight (between the claim and
//! the outcome): erasure moves the claim under their digest, the outcome is
//! recorded and counted there, and a job SQS delivers again counts nothing
//! more. The sender's steps are taken one by one here, in a fixed order.

use optcast_shared::broadcast::{Claim, DeliveryState};
use optcast_shared::queue::{self, SendJob};
use optcast_shared::store::{Completion, AUDIENCE_SHARDS};
use optcast_tests::*;

const PAGE: &str = "1000000000000871";

/// The counts that say where every job went.
fn counts(b: &serde_json::Value) -> [Option<u64>; 5] {
    ["queued", "sent", "skipped_unsubscribed", "skipped_policy", "failed"].map(|c| b["counts"][c].as_u64())
}

#[tokio::test]
async fn a_lead_erased_between_the_claim_and_the_outcome_is_counted_once_and_the_broadcast_finishes() {
    let (mut app, all, id) = planned_while_sender_held(PAGE, "2087", 1, "In flight", |_| {}).await;
    let psid = all[0].as_str();
    // A sender's run takes the job off the queue and claims it...
    let queue_url = app.physical("SendQueue");
    let received = app
        .sqs
        .receive_message()
        .queue_url(&queue_url)
        .max_number_of_messages(1)
        .visibility_timeout(600)
        .send()
        .await
        .unwrap();
    let message = received.messages()[0].clone();
    let body = message.body().unwrap().to_string();
    let SendJob::SendV1(task) = queue::parse_job::<SendJob>(&body).unwrap();
    let store = app.send_store();
    let now = optcast_shared::http::now_ms();
    let claim = store.claim(&task, None, now / 1000 + 86_400, now).await.unwrap();
    assert_eq!(claim, Claim::Claimed);
    // ...the lead is erased while the send is on its way...
    app.erase(PAGE, psid).await;
    // ...and the run records the send: counted, once.
    let done = Completion {
        message_id: Some("m_in_flight_2087"),
        sent_at_ms: Some(now),
        ..Completion::default()
    };
    assert!(store.complete(&task, DeliveryState::Sent, &done).await.unwrap());
    assert!(!store.complete(&task, DeliveryState::Sent, &done).await.unwrap());
    // The run ends: its message goes, its batch's completion check runs.
    app.sqs
        .delete_message()
        .queue_url(&queue_url)
        .receipt_handle(message.receipt_handle().unwrap())
        .send()
        .await
        .unwrap();
    let b = store.broadcast(&task.broadcast_id).await.unwrap().unwrap();
    assert!(store.finish_if_complete(&b, AUDIENCE_SHARDS).await.unwrap());
    let finished = app.broadcast(&id).await;
    assert_eq!(finished["state"], "done", "{finished}");
    assert_eq!(
        counts(&finished),
        [Some(1), Some(1), Some(0), Some(0), Some(0)],
        "{finished}"
    );

    // SQS delivers the job again: the sender meets the erased lead's record
    // and counts nothing more.
    app.sqs
        .send_message()
        .queue_url(&queue_url)
        .message_body(&body)
        .send()
        .await
        .unwrap();
    app.stack.resume("sender");
    app.drain(&["SendQueue"]).await;
    let again = app.broadcast(&id).await;
    assert_eq!(counts(&again), counts(&finished), "{again}");
    assert_eq!(app.sends_to(psid), 0);
    // The record names the lead by digest only, and not by Meta's message id.
    let deliveries = format!("{:?}", app.scan("DeliveriesTable").await);
    assert!(!deliveries.contains(psid), "{deliveries}");
    assert!(!deliveries.contains("m_in_flight_2087"), "{deliveries}");
    app.stack.stop().await;
}

#[tokio::test]
async fn a_claim_whose_run_died_before_its_lead_was_erased_is_counted_failed_once_when_the_job_returns() {
    let (mut app, all, id) = planned_while_sender_held(PAGE, "2088", 2, "Crash, then erase", |_| {}).await;
    // A run claimed lead 0 two minutes ago and died (it may have sent);
    // then the lead was erased.
    let task = send_task(PAGE, &id, &all[0]);
    let long_ago = optcast_shared::http::now_ms() - 120_000;
    let claim = app
        .send_store()
        .claim(&task, None, long_ago / 1000 + 86_400, long_ago)
        .await
        .unwrap();
    assert_eq!(claim, Claim::Claimed);
    app.erase(PAGE, &all[0]).await;
    app.stack.resume("sender");
    let done = app.wait_state(&id, "done").await;
    assert_eq!(app.sends_to(&all[0]), 0, "never sent again");
    assert_eq!(counts(&done), [Some(2), Some(1), Some(0), Some(0), Some(1)], "{done}");
    assert_eq!(
        done["counts"]["failed_by_reason"]["stale_claim"].as_u64(),
        Some(1),
        "{done}"
    );
    app.stack.stop().await;
}

#[tokio::test]
async fn a_claim_released_after_its_lead_was_erased_is_counted_erased_when_the_job_returns() {
    let (mut app, all, id) = planned_while_sender_held(PAGE, "2089", 2, "Rate limited, then erase", |_| {}).await;
    // A run claimed lead 0, the lead was erased, and the Send API asked the
    // run to come back later: it releases its claim.
    let task = send_task(PAGE, &id, &all[0]);
    let store = app.send_store();
    let now = optcast_shared::http::now_ms();
    assert_eq!(
        store.claim(&task, None, now / 1000 + 86_400, now).await.unwrap(),
        Claim::Claimed
    );
    app.erase(PAGE, &all[0]).await;
    store.release(&task, None, None).await.unwrap();
    app.stack.resume("sender");
    let done = app.wait_state(&id, "done").await;
    assert_eq!(app.sends_to(&all[0]), 0);
    assert_eq!(counts(&done), [Some(2), Some(1), Some(1), Some(0), Some(0)], "{done}");
    assert_eq!(
        done["counts"]["skipped_by_reason"]["erased"].as_u64(),
        Some(1),
        "{done}"
    );
    app.stack.stop().await;
}

#[tokio::test]
async fn a_job_planned_for_a_lead_erased_since_never_reaches_the_lead_they_began_after() {
    let (mut app, all, id) = planned_while_sender_held(PAGE, "2090", 2, "Planned before", |_| {}).await;
    // Lead 0 is erased while the jobs wait, then writes again: a new lead,
    // subscribed, under the same PSID.
    app.erase(PAGE, &all[0]).await;
    app.say(PAGE, &all[0], "m_begun_again", "hello again").await;
    assert_eq!(app.status(PAGE, &all[0]).await, "subscribed");
    app.stack.resume("sender");
    let done = app.wait_state(&id, "done").await;
    assert_eq!(app.sends_to(&all[0]), 0, "the job was for the lead erased");
    assert_eq!(app.sends_to(&all[1]), 1);
    assert_eq!(counts(&done), [Some(2), Some(1), Some(1), Some(0), Some(0)], "{done}");
    assert_eq!(
        done["counts"]["skipped_by_reason"]["erased"].as_u64(),
        Some(1),
        "{done}"
    );
    // Counted by digest: no PSID of the erased lead's in the record.
    let deliveries = format!("{:?}", app.scan("DeliveriesTable").await);
    assert!(!deliveries.contains(&all[0]), "{deliveries}");
    app.stack.stop().await;
}

/// A job on its last receive meets a fresh claim of its own lead (its own
/// run's, failed after claiming, or a run's that died moments ago): no
/// later receive of the job will resolve it, so it is recorded failed
/// (`stale_claim`, never resent) and the broadcast finishes. It was left as
/// it was and the job deleted: the broadcast stayed "sending" for ever.
#[tokio::test]
async fn a_fresh_claim_met_on_the_jobs_last_receive_is_counted_failed_and_the_broadcast_finishes() {
    let (mut app, all, id) = planned_while_sender_held(PAGE, "2091", 2, "Last try", |o| {
        o.overrides.insert("SEND_MAX_RECEIVES".into(), "1".into());
    })
    .await;
    let task = send_task(PAGE, &id, &all[0]);
    let now = optcast_shared::http::now_ms();
    let claim = app
        .send_store()
        .claim(&task, None, now / 1000 + 86_400, now)
        .await
        .unwrap();
    assert_eq!(claim, Claim::Claimed);
    app.stack.resume("sender");
    let done = app.wait_state(&id, "done").await;
    assert_eq!(app.sends_to(&all[0]), 0, "never sent again");
    assert_eq!(app.sends_to(&all[1]), 1);
    assert_eq!(
        done["counts"]["failed_by_reason"]["stale_claim"].as_u64(),
        Some(1),
        "{done}"
    );
    app.stack.stop().await;
}
