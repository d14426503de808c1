//! Scheduled broadcasts: the scheduler starts one when due by its clock,
//! never early.

use optcast_tests::*;
use serde_json::json;

use super::PAGE;

#[tokio::test]
async fn a_scheduled_broadcast_does_not_start_early_and_starts_when_due() {
    let app = spawn_app().await;
    app.register_page(PAGE).await;
    app.seed_leads(PAGE, &leads("2010", 2)).await;
    let in_an_hour = optcast_shared::http::now_ms() + 3_600_000;
    let send_at = time::OffsetDateTime::from_unix_timestamp(in_an_hour / 1000)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let id = app
        .create_broadcast(json!({"page_id": PAGE, "message": {"text": "Later"}, "send_at": send_at, "name": "evening"}))
        .await;
    assert_eq!(app.broadcast(&id).await["state"], "scheduled");
    let tick = |t: String| {
        json!({"version":"0","id":"e1","detail-type":"Scheduled Event","source":"aws.events","account":"123456789012",
        "time": t,"region":"us-west-2","resources":[],"detail":{}})
    };
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let out: serde_json::Value = app
        .http
        .post(app.url("/2015-03-31/functions/scheduler/invocations"))
        .json(&tick(now))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(out["started"].as_array().unwrap().len(), 0, "{out}");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(app.broadcast(&id).await["state"], "scheduled");
    assert!(app.stack.graph.sends().is_empty());
    let later = time::OffsetDateTime::from_unix_timestamp(in_an_hour / 1000 + 30)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let invoke = |t: String| {
        let request = app
            .http
            .post(app.url("/2015-03-31/functions/scheduler/invocations"))
            .json(&tick(t));
        async move { request.send().await.unwrap().json::<serde_json::Value>().await.unwrap() }
    };
    // An invocation dated an hour ahead of the clock acts as of the clock
    // (plus five minutes' skew): nothing starts early.
    let out = invoke(later.clone()).await;
    assert_eq!(out["started"].as_array().unwrap().len(), 0, "{out}");
    assert!(
        out["now_ms"].as_i64().unwrap()
            <= optcast_shared::http::now_ms() + optcast_shared::clock::MAX_INVOCATION_SKEW_MS,
        "{out}"
    );
    assert_eq!(app.broadcast(&id).await["state"], "scheduled");
    // An hour later by the clock, the same invocation starts it.
    app.stack.clock.set_now_ms(in_an_hour + 30_000);
    let out = invoke(later).await;
    assert_eq!(out["started"], json!([id]));
    let done = app.wait_state(&id, "done").await;
    assert_eq!(done["counts"]["sent"], 2);
    app.stack.stop().await;
}
