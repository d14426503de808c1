//! Leads Meta says cannot be reached (they blocked the page or deleted their
//! account) are purged as unsubscribed ones are, once the purge period has
//! passed since they were marked, keeping only the hashed proof; one who
//! writes again before that is subscribed again and kept.

use optcast_local::fake_graph::{FakeError, Rule};
use optcast_shared::ids::{PageId, Psid};
use optcast_shared::retention::DAY_MS;
use optcast_tests::*;
use reqwest::Method;
use serde_json::json;

use super::PAGE;

/// Each of `blocked` said hi, then a broadcast's send to them was answered
/// 551/1545041 ("this person isn't available right now"): they are
/// unreachable. Returns when that happened (ms).
async fn marked_unreachable(app: &TestApp, blocked: &[&str]) -> i64 {
    for (i, psid) in blocked.iter().enumerate() {
        app.say(PAGE, psid, &format!("m_unr_hi{i}"), "hi").await;
        app.stack.graph.script(Rule {
            recipient: Some((*psid).into()),
            error: FakeError::Blocked,
            times: 1,
        });
    }
    let t = optcast_shared::http::now_ms();
    let id = app
        .create_broadcast(json!({"page_id": PAGE, "message": {"text": "Offer"}}))
        .await;
    let done = app.wait_state(&id, "done").await;
    assert_eq!(done["counts"]["failed"].as_u64(), Some(blocked.len() as u64), "{done}");
    for psid in blocked {
        assert_eq!(status_of(app, psid).await, "unreachable");
    }
    t
}

async fn status_of(app: &TestApp, psid: &str) -> String {
    let (status, lead) = app
        .api(Method::GET, &format!("/v1/pages/{PAGE}/subscribers/{psid}"), None)
        .await;
    assert_eq!(status, 200, "{lead}");
    lead["status"].as_str().unwrap_or_default().to_string()
}

fn purged(report: &serde_json::Value) -> u64 {
    assert!(report["errors"].as_array().is_some_and(|e| e.is_empty()), "{report}");
    report["deleted"]["unreachable_leads"].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn leads_unreachable_past_the_purge_period_are_erased_keeping_the_proof() {
    let app = spawn_app().await;
    app.register_page(PAGE).await;
    let (blocked, kept) = ("2000000000000921", "2000000000000922");
    app.say(PAGE, kept, "m_unr_k", "hi").await;
    let t = marked_unreachable(&app, &[blocked]).await;

    // 29 days on: within the 30-day purge period, nothing happens.
    assert_eq!(purged(&app.invoke_at("sweeper", t + 29 * DAY_MS).await), 0);
    assert_eq!(status_of(&app, blocked).await, "unreachable");

    let report = app.invoke_at("sweeper", t + 31 * DAY_MS).await;
    assert_eq!(purged(&report), 1, "{report}");
    assert_eq!(
        report["deleted"]["unsubscribed_leads"].as_u64().unwrap_or(0),
        0,
        "{report}"
    );
    let dump = app.dump_tables().await;
    let traces: Vec<&str> = dump.lines().filter(|l| l.contains(blocked)).collect();
    assert!(traces.is_empty(), "{traces:#?}");
    assert!(dump.contains(kept), "a subscribed lead is not purged");
    let page = PageId::parse(PAGE).unwrap();
    let tombstone = app
        .scan("ConsentLogTable")
        .await
        .into_iter()
        .find(|i| s(i, "pk") == optcast_shared::store::tombstone_pk(&page, &Psid::parse(blocked).unwrap()))
        .expect("hashed consent proof kept");
    assert_eq!(s(&tombstone, "reason"), "unreachable_purge");
    assert_eq!(s(&tombstone, "status_before"), "unreachable");
    assert_eq!(tombstone["history"].as_l().unwrap().len(), 1, "their opt-in, hashed");
    // A second run finds no one left.
    assert_eq!(purged(&app.invoke_at("sweeper", t + 32 * DAY_MS).await), 0);
    app.stack.stop().await;
}

#[tokio::test]
async fn an_unreachable_lead_who_writes_again_is_subscribed_again_and_never_purged() {
    let app = spawn_app().await;
    app.register_page(PAGE).await;
    let (back, gone) = ("2000000000000931", "2000000000000932");
    let t = marked_unreachable(&app, &[back, gone]).await;
    // They unblocked the page and wrote: Meta can reach them again.
    app.say(PAGE, back, "m_unr_back", "I'm back").await;
    assert_eq!(status_of(&app, back).await, "subscribed");

    let report = app.invoke_at("sweeper", t + 31 * DAY_MS).await;
    assert_eq!(purged(&report), 1, "only the one still unreachable: {report}");
    assert_eq!(status_of(&app, back).await, "subscribed");
    let dump = app.dump_tables().await;
    assert!(!dump.lines().any(|l| l.contains(gone)));
    let (_, lead) = app
        .api(Method::GET, &format!("/v1/pages/{PAGE}/subscribers/{back}"), None)
        .await;
    let history = lead.to_string();
    assert!(history.contains("first_contact"), "writing again is logged: {lead}");
    app.stack.stop().await;
}

#[tokio::test]
async fn an_unreachable_purge_handed_to_the_eraser_shows_its_reason_as_the_api_documents_it() {
    // The purge shreds the lead, then its deletes fail (DynamoDB leaves them
    // unprocessed): the eraser finishes from a request of reason
    // `unreachable_purge`, which `GET /v1/erasure/<id>` answers. Every answer
    // of the suite is checked against openapi.json.
    let (faults, adjust) = behind_faults("sweeper").await;
    let app = spawn_app_with(adjust).await;
    // Nothing else expires by then: only the purge's deletes meet the fault.
    app.register_page_keeping(PAGE, 365).await;
    let blocked = "2000000000000941";
    let t = marked_unreachable(&app, &[blocked]).await;
    faults.leave_unprocessed_next(1_000);
    let report = app.invoke_at("sweeper", t + 31 * DAY_MS).await;
    assert_eq!(report["deleted"]["unreachable_leads"], 1, "{report}");
    assert!(faults.injected() >= 1, "the purge's deletes were refused");
    faults.leave_unprocessed_next(0);
    let request = app
        .scan("PrivacyTable")
        .await
        .into_iter()
        .find(|i| i.get("reason").and_then(|v| v.as_s().ok()).map(String::as_str) == Some("unreachable_purge"))
        .expect("the hand-over is an erasure request");
    let id = s(&request, "pk").trim_start_matches("ERASURE#").to_string();
    eventually("the eraser finished the purge", || async {
        app.api(Method::GET, &format!("/v1/erasure/{id}"), None).await.1["status"] == "completed"
    })
    .await;
    let (status, shown) = app.api(Method::GET, &format!("/v1/erasure/{id}"), None).await;
    assert_eq!(
        (status, shown["reason"].as_str()),
        (200, Some("unreachable_purge")),
        "{shown}"
    );
    assert!(!app.dump_tables().await.lines().any(|l| l.contains(blocked)));
    app.stack.stop().await;
}
