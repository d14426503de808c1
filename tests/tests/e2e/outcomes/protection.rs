//! Page protection: a broadcast pauses itself when blocks cross the page's
//! threshold; thresholds out of range are refused.

use super::{text, PAGE};
use optcast_local::fake_graph::{FakeError, Rule};
use optcast_tests::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn a_broadcast_pauses_itself_when_blocks_cross_the_pages_threshold() {
    let mut app = spawn_app_with(|o| o.held_functions = vec!["sender".into()]).await;
    let (status, page) = app
        .api(
            Method::PUT,
            &format!("/v1/pages/{PAGE}"),
            Some(json!({"access_token": PAGE_TOKEN, "protection": {"max_negative_rate": 0.2, "min_sends": 2}})),
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["protection"], json!({"max_negative_rate": 0.2, "min_sends": 2}));
    let all = leads("2103", 30);
    app.seed_leads(PAGE, &all).await;
    for p in all.iter().step_by(2) {
        app.stack.graph.script(Rule {
            recipient: Some(p.clone()),
            error: FakeError::Blocked,
            times: 1,
        });
    }
    let id = app.create_broadcast(text("Too much")).await;
    eventually("planned", || async {
        app.broadcast(&id).await["counts"]["queued"] == 30
    })
    .await;
    app.stack.resume("sender");
    let b = app.wait_state(&id, "paused").await;
    assert!(
        b["paused_reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("page protection")),
        "{b}"
    );
    assert!(b["outcomes"]["blocked"].as_i64() >= Some(1), "{b}");
    assert_eq!(b["outcomes"]["meta_errors"]["551/1545041"], b["outcomes"]["blocked"]);
    app.stack.stop().await;
}

#[tokio::test]
async fn page_protection_thresholds_out_of_range_are_refused() {
    let app = spawn_app().await;
    for (protection, code) in [
        (json!({"max_negative_rate": 0, "min_sends": 200}), "invalid_protection"),
        (json!({"max_negative_rate": 2, "min_sends": 200}), "invalid_protection"),
        (json!({"max_negative_rate": 0.02, "min_sends": 0}), "invalid_protection"),
        (json!({"max_negative_rate": 0.02}), "invalid_json"),
        (
            json!({"max_negative_rate": 0.02, "min_sends": 5, "x": 1}),
            "invalid_json",
        ),
    ] {
        let (status, out) = app
            .api(
                Method::PUT,
                &format!("/v1/pages/{PAGE}"),
                Some(json!({"access_token": PAGE_TOKEN, "protection": protection})),
            )
            .await;
        assert_eq!((status, out["error"]["code"].as_str()), (400, Some(code)), "{out}");
    }
    let (status, out) = app
        .api(
            Method::PUT,
            &format!("/v1/pages/{PAGE}"),
            Some(json!({"access_token": PAGE_TOKEN})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(out["protection"], json!({"max_negative_rate": 0.02, "min_sends": 200}));
    app.stack.stop().await;
}
