//! Cancelling a broadcast: every send lane and the planning cursors see it
//! at once, and nothing is sent afterwards.

use optcast_shared::broadcast::{Claim, DeliveryState};
use optcast_shared::http::now_ms;
use optcast_shared::ids::{BroadcastId, Psid};
use optcast_shared::store::audience_shard;
use optcast_shared::store::{Checkpoint, PlannedPage, CURSOR_DONE, SEND_LANES};
use optcast_tests::*;
use reqwest::Method;

use super::{text, PAGE};

/// Sends check and count on the lead's lane, not on the broadcast item: a
/// cancel must reach every lane at once, and the counts must add up.
#[tokio::test]
async fn a_cancel_reaches_every_send_lane_and_lane_counts_add_up() {
    let app = spawn_app_with(|o| o.held_functions = vec!["sender".into()]).await;
    app.register_page(PAGE).await;
    // Two leads in every lane: one sends before the cancel, one is tried after.
    let mut by_lane: std::collections::BTreeMap<u32, Vec<String>> = Default::default();
    for p in leads("2001", 400) {
        let lane = by_lane.entry(audience_shard(&Psid::parse(&p).unwrap())).or_default();
        if lane.len() < 2 {
            lane.push(p);
        }
    }
    assert_eq!(by_lane.len() as u32, SEND_LANES);
    assert!(by_lane.values().all(|l| l.len() == 2));
    let psids: Vec<String> = by_lane.values().flatten().cloned().collect();
    app.seed_leads(PAGE, &psids).await;
    let id = app.create_broadcast(text("Lanes")).await;
    eventually("planned", || async {
        app.broadcast(&id).await["counts"]["queued"] == 2 * SEND_LANES
    })
    .await;
    let store = app.send_store();
    let now = optcast_shared::http::now_ms();
    let expires = now / 1000 + 86_400;
    for lane in by_lane.values() {
        let task = send_task(PAGE, &id, &lane[0]);
        assert_eq!(store.claim(&task, None, expires, now).await.unwrap(), Claim::Claimed);
        let done = optcast_shared::store::Completion {
            message_id: Some("m_x"),
            sent_at_ms: Some(now),
            ..Default::default()
        };
        assert!(store.complete(&task, DeliveryState::Sent, &done).await.unwrap());
    }
    assert_eq!(app.broadcast(&id).await["counts"]["sent"], SEND_LANES);
    let (status, _) = app
        .api(Method::POST, &format!("/v1/broadcasts/{id}/cancel"), None)
        .await;
    assert_eq!(status, 200);
    for (n, lane) in &by_lane {
        let claim = store
            .claim(&send_task(PAGE, &id, &lane[1]), None, expires, now)
            .await
            .unwrap();
        assert_eq!(claim, Claim::BroadcastInactive, "lane {n}");
    }
    let after = app.broadcast(&id).await;
    assert_eq!(
        (after["state"].as_str(), after["counts"]["sent"].as_u64()),
        (Some("cancelled"), Some(u64::from(SEND_LANES)))
    );
    app.stack.stop().await;
}

#[tokio::test]
async fn a_cancel_drops_the_planning_cursors_and_no_planner_writes_one_after_it() {
    let (app, _, id) = planned_while_sender_held(PAGE, "2011", 2, "Cursors", |_| {}).await;
    let store = app.send_store();
    let bid = BroadcastId::parse(&id).unwrap();
    // Mid-plan, a shard's cursor is the last lead's audience key (and its
    // counted page, recorded until sent, names it too).
    let cursor = r#"{"audience_pk":"1000000000000001#AUD#0","pk":"PAGE#1000000000000001","sk":"SUB#2011000000000099"}"#;
    assert!(matches!(
        store
            .checkpoint(
                &bid,
                0,
                &mut PlannedPage::new(CURSOR_DONE.into(), cursor.into(), Vec::new()),
                now_ms(),
            )
            .await
            .unwrap(),
        Checkpoint::Moved(_)
    ));
    let (status, _) = app
        .api(Method::POST, &format!("/v1/broadcasts/{id}/cancel"), None)
        .await;
    assert_eq!(status, 200);
    // A planner still running on another shard cannot write one back.
    assert_eq!(
        store
            .checkpoint(
                &bid,
                1,
                &mut PlannedPage::new(String::new(), cursor.into(), Vec::new()),
                now_ms(),
            )
            .await
            .unwrap(),
        Checkpoint::Refused
    );
    let definition = format!("{:?}", app.scan("BroadcastsTable").await);
    assert!(!definition.contains("2011000000000099"), "{definition}");
    assert!(!definition.contains("cursor_"), "{definition}");
    app.stack.stop().await;
}

#[tokio::test]
async fn cancelling_mid_way_sends_nothing_afterwards() {
    let app = spawn_app().await;
    app.register_page(PAGE).await;
    let all = leads("2005", 8);
    app.seed_leads(PAGE, &all).await;
    // Meta lets one message per second through: the broadcast takes a while.
    app.stack.graph.set_rate_limit(Some(1));
    let id = app.create_broadcast(text("Slow one")).await;
    eventually("first send", || async { !app.stack.graph.sends().is_empty() }).await;
    let (status, cancelled) = app
        .api(Method::POST, &format!("/v1/broadcasts/{id}/cancel"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(cancelled["state"], "cancelled");
    let cancelled_at = optcast_shared::http::now_ms();
    let sent_at_cancel = app.stack.graph.sends().len();
    app.stack.graph.set_rate_limit(None);
    app.drain(&["SendQueue"]).await;
    let late: Vec<_> = app
        .stack
        .graph
        .sends()
        .into_iter()
        .filter(|s| s.at_ms > cancelled_at)
        .collect();
    // At most the one send already in flight when the cancel landed.
    assert!(late.len() <= 1, "{} sends after cancel", late.len());
    assert!(
        app.stack.graph.sends().len() < all.len(),
        "the cancel stopped the broadcast ({sent_at_cancel} before)"
    );
    assert_eq!(app.broadcast(&id).await["state"], "cancelled");
    // A cancelled broadcast cannot be cancelled into anything else.
    assert_eq!(
        app.api(Method::POST, &format!("/v1/broadcasts/{id}/cancel"), None)
            .await
            .0,
        200
    );
    app.stack.stop().await;
}
