//! A lead erased while their send job is parked (the broadcast paused): the
//! job goes with the erasure, and is counted as the skip a sender records
//! for an erased lead, so the resumed broadcast still reaches `done`.

use optcast_tests::*;

const PAGE: &str = "1000000000000851";

#[tokio::test]
async fn a_lead_erased_while_their_job_is_parked_is_counted_erased_and_the_resumed_broadcast_finishes() {
    let (mut app, all, id) = planned_while_sender_held(PAGE, "2085", 4, "Parked then erased", |_| {}).await;
    app.pause_and_park(&id).await;
    let parked = || app.parked_jobs();
    assert_eq!(parked().await, all.len(), "every queued job is parked, none sent");

    // Erased while parked, twice (an erasure may run again): one parked job
    // goes, and is counted once.
    let erased = &all[1];
    app.erase(PAGE, erased).await;
    app.erase(PAGE, erased).await;
    assert_eq!(parked().await, all.len() - 1);
    let paused = app.broadcast(&id).await;
    assert_eq!(paused["state"], "paused", "{paused}");
    assert_eq!(paused["counts"]["skipped_unsubscribed"].as_u64(), Some(1), "{paused}");

    let done = app.resume_until_done(&id).await;
    let reached: Vec<usize> = all.iter().map(|p| app.sends_to(p)).collect();
    assert_eq!(reached, [1, 0, 1, 1]);
    assert_eq!(
        (
            done["counts"]["queued"].as_u64(),
            done["counts"]["sent"].as_u64(),
            done["counts"]["skipped_unsubscribed"].as_u64()
        ),
        (Some(4), Some(3), Some(1)),
        "{done}"
    );
    assert_eq!(
        done["counts"]["skipped_by_reason"]["erased"].as_u64(),
        Some(1),
        "{done}"
    );

    // The skip names the erased lead by digest only (`SUB#~<digest>`), with
    // the reason a sender records for an erased lead.
    let skips: Vec<_> = app
        .scan("DeliveriesTable")
        .await
        .into_iter()
        .filter(|i| s(i, "sk").starts_with("SUB#~"))
        .collect();
    assert_eq!(skips.len(), 1);
    assert_eq!(
        (s(&skips[0], "state"), s(&skips[0], "reason")),
        ("skipped_unsubscribed".to_string(), "erased".to_string())
    );
    assert!(!skips[0].contains_key("subject_pk"));
    // The seeding fixture's message ids embed the PSID (`m_seed_<psid>`);
    // ingest's markers keep Meta's message ids, which never do.
    let dump = app.dump_tables().await.replace(&format!("m_seed_{erased}"), "m_seed_");
    let left: Vec<&str> = dump.lines().filter(|l| l.contains(erased.as_str())).collect();
    assert!(left.is_empty(), "no PSID of the erased lead is left: {left:#?}");
    app.stack.stop().await;
}

#[tokio::test]
async fn a_job_of_a_lead_erased_before_it_meets_the_pause_is_not_parked_with_their_psid() {
    let (mut app, all, id) = planned_while_sender_held(PAGE, "2087", 3, "Erased, then paused", |_| {}).await;
    let (status, body) = app
        .api(reqwest::Method::POST, &format!("/v1/broadcasts/{id}/pause"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    // Erased while their job still waits on the queue: the erasure finds
    // nothing parked of theirs to settle.
    let erased = &all[0];
    app.erase(PAGE, erased).await;
    app.stack.resume("sender");
    app.drain(&["SendQueue"]).await;
    // Before, their job was parked after the erasure, PSID and all, until a
    // resume or the retention sweep.
    let deliveries = format!("{:?}", app.scan("DeliveriesTable").await);
    assert!(!deliveries.contains(erased.as_str()), "{deliveries}");
    assert_eq!(app.parked_jobs().await, all.len() - 1);
    let paused = app.broadcast(&id).await;
    assert_eq!(
        paused["counts"]["skipped_by_reason"]["erased"].as_u64(),
        Some(1),
        "{paused}"
    );
    let done = app.resume_until_done(&id).await;
    assert_eq!(done["counts"]["sent"].as_u64(), Some(2), "{done}");
    app.stack.stop().await;
}
