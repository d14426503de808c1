//! A broadcast paused longer than its page's retention: the retention sweep
//! deletes its parked jobs and counts each as skipped (`retention_expired`),
//! so the resumed broadcast still reaches `done`.

use optcast_shared::retention::DAY_MS;
use optcast_tests::*;
use reqwest::Method;

const PAGE: &str = "1000000000000861";

#[tokio::test]
async fn jobs_parked_past_the_pages_retention_are_swept_counted_once_and_the_resumed_broadcast_finishes() {
    let (mut app, all, id) = planned_while_sender_held(PAGE, "2086", 3, "Paused for a long time", |_| {}).await;
    app.pause_and_park(&id).await;
    assert_eq!(
        app.parked_jobs().await,
        all.len(),
        "every queued job is parked, none sent"
    );

    // 40 days on (the page keeps 30): the sweep deletes the parked jobs and
    // counts each once, however often it runs.
    let later = optcast_shared::http::now_ms() + 40 * DAY_MS;
    for _ in 0..2 {
        let report = app.invoke_at("sweeper", later).await;
        assert!(report["errors"].as_array().is_some_and(|e| e.is_empty()), "{report}");
        assert_eq!(report["complete"], true, "{report}");
    }
    assert_eq!(app.parked_jobs().await, 0);
    let paused = app.broadcast(&id).await;
    assert_eq!(paused["state"], "paused", "{paused}");
    assert_eq!(paused["counts"]["skipped_policy"].as_u64(), Some(3), "{paused}");

    let done = app.resume_until_done(&id).await;
    assert!(all.iter().all(|p| app.sends_to(p) == 0));
    assert_eq!(
        (
            done["counts"]["queued"].as_u64(),
            done["counts"]["sent"].as_u64(),
            done["counts"]["skipped_policy"].as_u64(),
            done["counts"]["skipped_by_reason"]["retention_expired"].as_u64(),
        ),
        (Some(3), Some(0), Some(3), Some(3)),
        "{done}"
    );
    // Each lead's answer says why.
    let (status, r) = app
        .api(Method::GET, &format!("/v1/broadcasts/{id}/recipients/{}", all[0]), None)
        .await;
    assert_eq!(
        (status, r["state"].as_str(), r["reason"].as_str()),
        (200, Some("skipped_policy"), Some("retention_expired")),
        "{r}"
    );
    app.stack.stop().await;
}

#[tokio::test]
async fn jobs_parked_by_a_broadcast_cancelled_since_are_swept_without_being_counted() {
    let (mut app, all, id) = planned_while_sender_held(PAGE, "2090", 2, "Paused, then cancelled", |_| {}).await;
    app.pause_and_park(&id).await;
    assert_eq!(app.parked_jobs().await, all.len());
    let (status, body) = app
        .api(Method::POST, &format!("/v1/broadcasts/{id}/cancel"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    let report = app
        .invoke_at("sweeper", optcast_shared::http::now_ms() + 40 * DAY_MS)
        .await;
    assert!(report["errors"].as_array().is_some_and(|e| e.is_empty()), "{report}");
    assert_eq!(app.parked_jobs().await, 0);
    // A cancel records nothing for the jobs it stopped, even when they go later.
    let cancelled = app.broadcast(&id).await;
    assert_eq!(cancelled["state"], "cancelled", "{cancelled}");
    assert_eq!(cancelled["counts"]["skipped_policy"].as_u64(), Some(0), "{cancelled}");
    assert_eq!(
        cancelled["counts"]["skipped_by_reason"],
        serde_json::json!({}),
        "{cancelled}"
    );
    app.stack.stop().await;
}

#[tokio::test]
async fn a_job_parked_again_while_its_lane_is_requeued_stays_parked() {
    use optcast_shared::store::{audience_shard, AUDIENCE_SHARDS};
    let (mut app, all, id) = planned_while_sender_held(PAGE, "2092", 3, "Paused twice", |_| {}).await;
    app.pause_and_park(&id).await;
    assert_eq!(app.parked_jobs().await, all.len());
    let store = app.send_store();
    let broadcast = optcast_shared::ids::BroadcastId::parse(&id).unwrap();
    // The planner lists a lane's parked jobs and queues them again; one of
    // them meets the broadcast paused anew and is parked again (same key,
    // a later time) before the planner deletes what it listed.
    let lane = audience_shard(&optcast_shared::ids::Psid::parse(&all[0]).unwrap());
    assert!(lane < AUDIENCE_SHARDS);
    let listed = store.parked(&broadcast, lane).await.unwrap();
    let (again, _) = listed.iter().find(|(t, _)| t.psid.as_str() == all[0]).cloned().unwrap();
    let later = optcast_shared::http::now_ms() + 1_000;
    let parked = store.park(&again, later, later / 1000 + 86_400).await.unwrap();
    assert_eq!(parked, optcast_shared::store::Park::Parked);
    let listed_keys: Vec<_> = listed.into_iter().map(|(_, k)| k).collect();
    let in_lane = listed_keys.len();
    store.unpark_listed(listed_keys).await.unwrap();
    // Before, the re-parked job was deleted too: neither queued nor parked,
    // never sent nor counted, and the broadcast never done.
    let left = store.parked(&broadcast, lane).await.unwrap();
    assert_eq!(
        left.iter().map(|(t, _)| t.psid.as_str()).collect::<Vec<_>>(),
        [all[0].as_str()],
        "of {in_lane} listed"
    );
    app.stack.stop().await;
}
