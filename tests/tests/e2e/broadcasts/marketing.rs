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

#[tokio::test]
async fn a_token_stopped_while_its_send_waits_for_its_pacing_slot_is_skipped_as_stopped() {
    // One send a second: the jobs of the batch read their leads' tokens,
    // then wait their turn, the last about three seconds.
    let mut app = spawn_app_with(|o| {
        o.held_functions = vec!["sender".into()];
        o.overrides.insert("SEND_RATE_PER_SECOND".into(), "1".into());
    })
    .await;
    app.register_page_in(PAGE, "EU").await;
    let leads: Vec<(String, String)> = (0..4)
        .map(|n| (format!("201500000000000{n}"), format!("MM-TOKEN-P{n}")))
        .collect();
    for (psid, token) in &leads {
        app.marketing_lead(PAGE, psid, token).await;
    }
    let id = app.create_broadcast(text("Paced offer")).await;
    eventually("planned", || async {
        app.broadcast(&id).await["counts"]["queued"] == 4
    })
    .await;
    app.stack.resume("sender");
    eventually("first send", || async { !app.stack.graph.sends().is_empty() }).await;
    let first = app.stack.graph.sends()[0].recipient["notification_messages_token"].clone();
    // Everyone else stops their token (which unsubscribes them) and then
    // writes START (subscribed again, the token still stopped) while their
    // jobs wait for a slot, after their tokens were read.
    let mut stopped = Vec::new();
    for (n, (psid, token)) in leads.iter().filter(|(_, t)| *t != first).enumerate() {
        let stop = serde_json::json!({"sender": {"id": psid}, "recipient": {"id": PAGE},
            "timestamp": optcast_shared::http::now_ms(),
            "optin": {"type": "notification_messages", "notification_messages_token": token,
                      "notification_messages_status": "STOP_NOTIFICATIONS"}});
        app.post_items("page", PAGE, vec![stop]).await;
        eventually("token stopped", || async {
            app.subscriber(PAGE, psid)
                .await
                .is_some_and(|i| i.get("marketing_stopped").is_some_and(|v| v.as_bool() == Ok(&true)))
        })
        .await;
        app.say(PAGE, psid, &format!("m_paced_start{n}"), "START").await;
        stopped.push((token.clone(), optcast_shared::http::now_ms()));
    }
    let done = app.wait_state(&id, "done").await;
    let sends = app.stack.graph.sends();
    for (token, at_ms) in &stopped {
        let late = sends
            .iter()
            .filter(|s| s.recipient["notification_messages_token"] == token.as_str() && s.at_ms > *at_ms)
            .count();
        assert_eq!(late, 0, "{token} was sent to after it was stopped");
    }
    // Those the claim refused are counted for what refused them: the
    // stopped token, not another marketing message's 48 hours (as they
    // were before).
    let counts = &done["counts"];
    let by_reason = &counts["skipped_by_reason"];
    let refused = by_reason["marketing_stopped"].as_u64().unwrap_or(0);
    assert!(refused >= 1, "{done}");
    assert_eq!(by_reason["marketing_hold"].as_u64().unwrap_or(0), 0, "{done}");
    assert_eq!(counts["sent"].as_u64().unwrap() + refused, 4, "{done}");
    app.stack.stop().await;
}
