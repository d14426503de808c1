//! A lead erased while their send job is parked (the broadcast paused): the
//! job goes with the erasure, and is counted as the skip a sender records
//! for an erased lead, so the resumed broadcast still reaches `done`.

use optcast_tests::*;
use reqwest::Method;
use serde_json::json;

const PAGE: &str = "1000000000000851";

#[tokio::test]
async fn a_lead_erased_while_their_job_is_parked_is_counted_erased_and_the_resumed_broadcast_finishes() {
    let mut app = spawn_app_with(|o| o.held_functions = vec!["sender".into()]).await;
    app.register_page(PAGE).await;
    let all: Vec<String> = (0..4).map(|i| format!("2085{i:012}")).collect();
    app.seed_leads(PAGE, &all).await;
    let id = app
        .create_broadcast(json!({"page_id": PAGE, "message": {"text": "Parked then erased"}}))
        .await;
    eventually("planned", || async {
        app.broadcast(&id).await["counts"]["queued"] == all.len()
    })
    .await;
    let (status, _) = app.api(Method::POST, &format!("/v1/broadcasts/{id}/pause"), None).await;
    assert_eq!(status, 200);
    app.stack.resume("sender");
    app.drain(&["SendQueue"]).await;
    let parked = || async {
        app.scan("DeliveriesTable")
            .await
            .into_iter()
            .filter(|i| s(i, "sk").starts_with("PARK#"))
            .count()
    };
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

    let (status, _) = app
        .api(Method::POST, &format!("/v1/broadcasts/{id}/resume"), None)
        .await;
    assert_eq!(status, 200);
    let done = app.wait_state(&id, "done").await;
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
