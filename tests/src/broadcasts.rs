//! Broadcast fixtures: leads in series, a broadcast planned while the
//! sender is held, and the same paused with every job parked; the sending
//! side's store and a send job as the planner enqueues it, for tests that
//! take a step of the sender themselves.

use optcast_shared::ids::{BroadcastId, PageId, Psid};
use optcast_shared::queue::SendTask;
use optcast_shared::store::{BroadcastStore, SendTables, AUDIENCE_SHARDS};
use reqwest::Method;
use serde_json::json;

use crate::{eventually, s, spawn_app_with, TestApp};

/// `n` leads of a series: `prefix` (4 digits) and the lead's number, 16
/// digits like Meta's PSIDs (`leads("2001", 12)[5]` is "2001000000000005").
pub fn leads(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i:012}")).collect()
}

/// A broadcast of `message` as text to every lead of `page`.
pub fn text_to(page: &str, message: &str) -> serde_json::Value {
    json!({"page_id": page, "message": {"text": message}})
}

/// A broadcast to `psids` (subscribed leads who just wrote to `page`,
/// registered here) created from `body` and planned while the sender is held:
/// its jobs wait on the send queue until the test resumes the sender. The
/// stack must hold the sender (`held_functions`).
pub async fn planned_with_sender_held(app: &TestApp, page: &str, psids: &[String], body: serde_json::Value) -> String {
    app.register_page(page).await;
    app.seed_leads(page, psids).await;
    let id = app.create_broadcast(body).await;
    let want = psids.len();
    eventually("planned", || async {
        app.broadcast(&id).await["counts"]["queued"] == want
    })
    .await;
    // Every job queued is not yet every shard planned: the planner may still
    // be closing empty shards, and a broadcast finishes only once all are.
    let store = app.send_store();
    let bid = BroadcastId::parse(&id).expect("a broadcast id");
    eventually("every shard planned", || async {
        store
            .broadcast(&bid)
            .await
            .expect("the broadcast reads")
            .is_some_and(|b| b.shards_done >= AUDIENCE_SHARDS)
    })
    .await;
    id
}

/// A stack with the sender held and `adjust` applied, with a broadcast of
/// `message` to `n` fresh leads of series `prefix` on `page` planned:
/// (the app, the leads, the broadcast id).
pub async fn planned_while_sender_held(
    page: &str,
    prefix: &str,
    n: usize,
    message: &str,
    adjust: impl FnOnce(&mut optcast_local::StackOptions),
) -> (TestApp, Vec<String>, String) {
    let app = spawn_app_with(|o| {
        o.held_functions = vec!["sender".into()];
        adjust(o);
    })
    .await;
    let all = leads(prefix, n);
    let id = planned_with_sender_held(&app, page, &all, text_to(page, message)).await;
    (app, all, id)
}

impl TestApp {
    /// Pauses the planned broadcast `id`, then lets the held sender meet its
    /// queued jobs: each is parked (none sent) once the send queue drains.
    pub async fn pause_and_park(&mut self, id: &str) {
        let (status, body) = self
            .api(Method::POST, &format!("/v1/broadcasts/{id}/pause"), None)
            .await;
        assert_eq!(status, 200, "{body}");
        self.stack.resume("sender");
        self.drain(&["SendQueue"]).await;
    }

    /// Resumes the paused broadcast `id` and waits until it is done; the
    /// broadcast as the API then answers.
    pub async fn resume_until_done(&self, id: &str) -> serde_json::Value {
        let (status, body) = self
            .api(Method::POST, &format!("/v1/broadcasts/{id}/resume"), None)
            .await;
        assert_eq!(status, 200, "{body}");
        self.wait_state(id, "done").await
    }

    /// The parked send jobs (`PARK#…` rows) in the deliveries table.
    pub async fn parked_jobs(&self) -> usize {
        self.scan("DeliveriesTable")
            .await
            .iter()
            .filter(|i| s(i, "sk").starts_with("PARK#"))
            .count()
    }

    /// The sending side's store over the test's own client.
    pub fn send_store(&self) -> BroadcastStore {
        BroadcastStore::new(
            self.ddb.clone(),
            SendTables {
                pages: self.physical("PagesTable"),
                broadcasts: self.physical("BroadcastsTable"),
                deliveries: self.physical("DeliveriesTable"),
                subscribers: self.physical("SubscribersTable"),
            },
        )
    }
}

/// The send job the planner enqueues for `psid` of `page` in broadcast
/// `id` (no window, no token).
pub fn send_task(page: &str, id: &str, psid: &str) -> SendTask {
    SendTask {
        broadcast_id: BroadcastId::parse(id).unwrap(),
        page_id: PageId::parse(page).unwrap(),
        psid: Psid::parse(psid).unwrap(),
        lead: optcast_shared::broadcast::LeadSnapshot {
            platform: optcast_shared::meta::Platform::Messenger,
            last_inbound_at_ms: None,
            marketing: None,
            generation: None,
        },
    }
}
