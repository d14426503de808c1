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
    // then wait their turn, the last about five seconds.
    let mut app = spawn_app_with(|o| {
        o.held_functions = vec!["sender".into()];
        o.overrides.insert("SEND_RATE_PER_SECOND".into(), "1".into());
    })
    .await;
    app.register_page_in(PAGE, "EU").await;
    let leads: Vec<(String, String)> = (0..6)
        .map(|n| (format!("201500000000000{n}"), format!("MM-TOKEN-P{n}")))
        .collect();
    for (psid, token) in &leads {
        app.marketing_lead(PAGE, psid, token).await;
    }
    let id = app.create_broadcast(text("Paced offer")).await;
    eventually("planned", || async {
        app.broadcast(&id).await["counts"]["queued"] == 6
    })
    .await;
    app.stack.resume("sender");
    eventually("first send", || async { !app.stack.graph.sends().is_empty() }).await;
    let first = app.stack.graph.sends()[0].recipient["notification_messages_token"].clone();
    // Everyone else stops their token (which unsubscribes them) and then
    // writes START (subscribed again, the token still stopped), all at once,
    // while their jobs wait for a slot, after their tokens were read.
    let others: Vec<&(String, String)> = leads.iter().filter(|(_, t)| *t != first).collect();
    let now = optcast_shared::http::now_ms();
    let stops = others
        .iter()
        .map(|(psid, token)| {
            serde_json::json!({"sender": {"id": psid}, "recipient": {"id": PAGE}, "timestamp": now,
                "optin": {"type": "notification_messages", "notification_messages_token": token,
                          "notification_messages_status": "STOP_NOTIFICATIONS"}})
        })
        .collect();
    app.post_items("page", PAGE, stops).await;
    let stopped =
        |i: Option<Item>| i.is_some_and(|i| i.get("marketing_stopped").is_some_and(|v| v.as_bool() == Ok(&true)));
    for (psid, _) in &others {
        eventually("token stopped", || async { stopped(app.subscriber(PAGE, psid).await) }).await;
    }
    let stopped_at = optcast_shared::http::now_ms();
    let starts = others
        .iter()
        .enumerate()
        .map(|(n, (psid, _))| {
            serde_json::json!({"sender": {"id": psid}, "recipient": {"id": PAGE}, "timestamp": now + 1,
                "message": {"mid": format!("m_paced_start{n}"), "text": "START"}})
        })
        .collect();
    app.post_items("page", PAGE, starts).await;
    for (psid, _) in &others {
        eventually("subscribed again", || async {
            app.status(PAGE, psid).await == "subscribed"
        })
        .await;
    }
    let done = app.wait_state(&id, "done").await;
    let late: Vec<_> = app
        .stack
        .graph
        .sends()
        .into_iter()
        .filter(|s| {
            s.at_ms > stopped_at
                && others
                    .iter()
                    .any(|(_, t)| s.recipient["notification_messages_token"] == t.as_str())
        })
        .collect();
    assert!(late.is_empty(), "sent to after the token was stopped: {late:?}");
    // Those the claim refused are counted for what refused them: the
    // stopped token (or, between the stop and the START, the opt-out), not
    // another marketing message's 48 hours, as they were before.
    let counts = &done["counts"];
    let by_reason = &counts["skipped_by_reason"];
    let n = |k: &str| by_reason[k].as_u64().unwrap_or(0);
    assert_eq!(n("marketing_hold"), 0, "{done}");
    assert!(n("marketing_stopped") >= 1, "{done}");
    assert_eq!(
        counts["sent"].as_u64().unwrap() + n("marketing_stopped") + n("unsubscribed"),
        6,
        "{done}"
    );
    app.stack.stop().await;
}
