//! Marketing messages (Meta's notification-messages tokens): a write
//! refused under a transaction is retried, and two broadcasts side by side
//! give a lead one marketing message in 48 hours.

use optcast_tests::*;

use super::{text, PAGE};

/// The page in a region where Meta still honours marketing-messages tokens, and
/// a lead who wrote three days ago (the 24-hour window is closed) and granted
/// the token `token`.
async fn marketing_page_and_lead(app: &TestApp, psid: &str, token: &str) {
    app.register_page_in(PAGE, "EU").await;
    app.marketing_lead(PAGE, psid, token).await;
}

/// Successful marketing-messages sends the fake Graph API recorded to `token`.
fn marketing_sends(app: &TestApp, token: &str) -> usize {
    app.stack
        .graph
        .sends()
        .iter()
        .filter(|s| s.recipient["notification_messages_token"] == token)
        .count()
}

#[tokio::test]
async fn a_write_refused_while_a_transaction_holds_the_item_is_retried_and_the_send_counts_once() {
    // After a marketing message goes out the sender records it on the lead;
    // DynamoDB refuses that write while another transaction holds the lead
    // (a claim of another broadcast, ingest). Here it is refused twice.
    let (faults, adjust) = behind_faults("sender").await;
    let mut app = spawn_app_with(|o| {
        o.held_functions = vec!["sender".into()];
        adjust(o);
    })
    .await;
    marketing_page_and_lead(&app, "2013000000000000", "MM-TOKEN-N0").await;
    let id = app.create_broadcast(text("Offer")).await;
    eventually("planned", || async {
        app.broadcast(&id).await["counts"]["queued"] == 1
    })
    .await;
    faults.conflict_next("dynamodb:UpdateItem", 2);
    app.stack.resume("sender");
    let done = app.wait_state(&id, "done").await;
    assert_eq!(
        (done["counts"]["sent"].as_i64(), done["counts"]["failed"].as_i64()),
        (Some(1), Some(0)),
        "{done}"
    );
    assert_eq!(marketing_sends(&app, "MM-TOKEN-N0"), 1);
    assert_eq!(faults.injected(), 2);
    let lead = app
        .scan("SubscribersTable")
        .await
        .into_iter()
        .find(|i| s(i, "sk") == "SUB#2013000000000000")
        .unwrap();
    assert!(lead.contains_key("last_marketing_sent_at_ms"));
    app.stack.stop().await;
}

#[tokio::test]
async fn two_broadcasts_sent_side_by_side_give_a_lead_one_marketing_message_in_48_hours() {
    let mut app = spawn_app_with(|o| o.held_functions = vec!["sender".into()]).await;
    marketing_page_and_lead(&app, "2014000000000000", "MM-TOKEN-M0").await;
    let a = app.create_broadcast(text("Offer A")).await;
    let b = app.create_broadcast(text("Offer B")).await;
    for id in [&a, &b] {
        eventually("planned", || async { app.broadcast(id).await["counts"]["queued"] == 1 }).await;
    }
    // Both jobs reach one sender batch and run side by side while Meta is slow.
    app.stack.graph.set_latency(std::time::Duration::from_millis(400));
    app.stack.resume("sender");
    let (done_a, done_b) = (app.wait_state(&a, "done").await, app.wait_state(&b, "done").await);
    let count = |k: &str| done_a["counts"][k].as_i64().unwrap_or(0) + done_b["counts"][k].as_i64().unwrap_or(0);
    assert_eq!((count("sent"), count("skipped_policy")), (1, 1), "{done_a} {done_b}");
    assert_eq!(
        marketing_sends(&app, "MM-TOKEN-M0"),
        1,
        "one marketing message per lead per 48 hours"
    );
    // The send's own record replaced its hold.
    let lead = app
        .scan("SubscribersTable")
        .await
        .into_iter()
        .find(|i| s(i, "sk") == "SUB#2014000000000000")
        .unwrap();
    assert!(lead.contains_key("last_marketing_sent_at_ms"));
    assert!(!lead.contains_key("marketing_hold_until_ms"));
    app.stack.stop().await;
}
