//! Broadcasts: the management API, the scheduler, the planner and the sender
//! against the emulator and the fake Graph API.

use optcast_local::fake_graph::{FakeError, Rule};
use optcast_shared::broadcast::{Claim, DeliveryState};
use optcast_shared::consent::UNSUBSCRIBE_PAYLOAD;
use optcast_shared::ids::{BroadcastId, Psid};
use optcast_shared::store::audience_shard;
use optcast_shared::store::{CURSOR_DONE, SEND_LANES};
use optcast_tests::*;
use reqwest::Method;
use serde_json::json;

const PAGE: &str = "1000000000000001";

fn text(t: &str) -> serde_json::Value {
    json!({"page_id": PAGE, "message": {"text": t}})
}

#[tokio::test]
async fn a_broadcast_reaches_exactly_the_subscribed_leads_once_with_an_unsubscribe_control() {
    let app = spawn_app().await;
    app.register_page(PAGE).await;
    let all = leads("2001", 12);
    app.seed_leads(PAGE, &all).await;
    for p in &all[..4] {
        app.say(PAGE, p, &format!("m_stop_{p}"), "STOP").await;
    }
    let id = app.create_broadcast(text("Spring sale: 20% off today")).await;
    let done = app.wait_state(&id, "done").await;
    assert_eq!(done["counts"]["sent"], 8, "{done}");
    assert_eq!(
        done["counts"]["queued"], 8,
        "unsubscribed leads are never in the audience"
    );
    assert_eq!(done["counts"]["failed"], 0);
    for p in &all[..4] {
        assert_eq!(app.sends_to(p), 0, "{p} unsubscribed");
    }
    for p in &all[4..] {
        assert_eq!(app.sends_to(p), 1, "{p} subscribed");
    }
    for send in app.stack.graph.sends() {
        assert_eq!(send.body["messaging_type"], "UPDATE");
        assert!(
            send.body.get("tag").is_none(),
            "no message tag on a promotional broadcast"
        );
        let qr = send.body["message"]["quick_replies"].as_array().unwrap();
        assert!(qr.iter().any(|q| q["payload"]
            == optcast_shared::consent::unsubscribe_payload(&optcast_shared::ids::BroadcastId::parse(&id).unwrap())));
        assert_eq!(send.body["message"]["metadata"], format!("bcast:{id}"));
    }
    // The unsubscribe control works end to end: tapping it unsubscribes.
    let tap = json!({"object":"page","entry":[{"id":PAGE,"time":1,"messaging":[{"sender":{"id":"2001000000000005"},"recipient":{"id":PAGE},
        "timestamp": optcast_shared::http::now_ms(),"message":{"mid":"m_tap","text":"Unsubscribe","quick_reply":{"payload":UNSUBSCRIBE_PAYLOAD}}}]}]})
    .to_string();
    assert_eq!(app.post_signed(tap.as_bytes()).await.status(), 200);
    eventually("lead 5 unsubscribed", || async {
        app.api(
            Method::GET,
            &format!("/v1/pages/{PAGE}/subscribers/2001000000000005"),
            None,
        )
        .await
        .1["status"]
            == "unsubscribed"
    })
    .await;
    let (_, lead) = app
        .api(
            Method::GET,
            &format!("/v1/pages/{PAGE}/subscribers/2001000000000005"),
            None,
        )
        .await;
    let reasons: Vec<_> = lead["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["reason"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(reasons, ["first_contact", "unsubscribe_control"]);
    app.stack.stop().await;
}

#[tokio::test]
async fn a_lead_who_sends_stop_while_the_broadcast_is_sending_receives_nothing_after_it() {
    let (mut app, _, id) = planned_while_sender_held(PAGE, "2002", 6, "Flash deal", |_| {}).await;
    // Planned while everyone was subscribed: six jobs wait on the send
    // queue. Lead 0 opts out after planning, before any send.
    app.say(PAGE, "2002000000000000", "m_s0_stop", "stop").await;
    app.stack.resume("sender");
    let done = app.wait_state(&id, "done").await;
    assert_eq!(app.sends_to("2002000000000000"), 0);
    assert_eq!(done["counts"]["sent"], 5);
    assert_eq!(done["counts"]["skipped_unsubscribed"], 1);
    app.stack.stop().await;
}

#[tokio::test]
async fn every_send_job_delivered_twice_still_sends_one_message_per_lead() {
    let (mut app, all, id) = planned_while_sender_held(PAGE, "2003", 5, "Twice?", |_| {}).await;
    // Take every job off the queue and put each back twice (SQS at-least-once).
    let queue = app.physical("SendQueue");
    let mut bodies = Vec::new();
    while bodies.len() < 5 {
        let out = app
            .sqs
            .receive_message()
            .queue_url(&queue)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        for m in out.messages() {
            bodies.push(m.body().unwrap().to_string());
            app.sqs
                .delete_message()
                .queue_url(&queue)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    for b in bodies.iter().chain(bodies.iter()) {
        app.sqs
            .send_message()
            .queue_url(&queue)
            .message_body(b)
            .send()
            .await
            .unwrap();
    }
    app.stack.resume("sender");
    let done = app.wait_state(&id, "done").await;
    app.drain(&["SendQueue"]).await;
    for p in &all {
        assert_eq!(app.sends_to(p), 1, "{p}");
    }
    assert_eq!(app.broadcast(&id).await["counts"]["sent"], 5, "{done}");
    app.stack.stop().await;
}

#[tokio::test]
async fn one_sender_instance_sends_its_batch_side_by_side_and_each_lead_once() {
    let (mut app, all, id) = planned_while_sender_held(PAGE, "2004", 10, "Side by side", |_| {}).await;
    // Meta takes its time to answer; the local stack runs one sender
    // instance, so overlapping calls can only come from within a batch.
    app.stack.graph.set_latency(std::time::Duration::from_millis(400));
    app.stack.resume("sender");
    let done = app.wait_state(&id, "done").await;
    assert_eq!(done["counts"]["sent"], 10, "{done}");
    for p in &all {
        assert_eq!(app.sends_to(p), 1, "{p}");
    }
    assert!(
        app.stack.graph.max_in_flight() > 1,
        "a batch's sends overlap instead of waiting on each other"
    );
    app.stack.stop().await;
}

#[tokio::test]
async fn a_start_whose_plan_jobs_were_not_all_queued_is_finished_by_the_scheduler() {
    let (faults, adjust) = behind_faults("api").await;
    let app = spawn_app_with(adjust).await;
    app.register_page(PAGE).await;
    // One lead in every audience shard.
    let all: Vec<String> = (0..optcast_shared::store::AUDIENCE_SHARDS)
        .map(|shard| {
            (0..)
                .map(|i| format!("2012{shard:02}{i:010}"))
                .find(|p| audience_shard(&Psid::parse(p.as_str()).unwrap()) == shard)
                .unwrap()
        })
        .collect();
    app.seed_leads(PAGE, &all).await;
    // The plan jobs go out ten to a call: the first call gets through, the
    // second fails (every try the SDK makes).
    faults.fail_after("sqs:SendMessageBatch", 1, 3);
    let id = app.create_broadcast(text("Half started")).await;
    assert_eq!(faults.injected(), 3);
    // The scheduler's next run queues every plan job again.
    let report = app
        .invoke("scheduler", &scheduled_event(optcast_shared::http::now_ms()))
        .await;
    assert!(
        report["started"].as_array().unwrap().iter().any(|s| s == id.as_str()),
        "{report}"
    );
    let done = app.wait_state(&id, "done").await;
    assert_eq!(done["counts"]["sent"], all.len(), "{done}");
    for p in &all {
        assert_eq!(app.sends_to(p), 1, "{p}");
    }
    // Started in full, it is no longer among the due ones.
    let again = app
        .invoke("scheduler", &scheduled_event(optcast_shared::http::now_ms()))
        .await;
    assert!(again["started"].as_array().unwrap().is_empty(), "{again}");
    app.stack.stop().await;
}

#[tokio::test]
async fn a_planner_checkpoint_whose_answer_was_lost_is_recognised_and_planning_goes_on() {
    // DynamoDB applied the checkpoint but its answer was lost; the SDK's
    // retry then fails the condition (the cursor moved). Every checkpoint
    // here is answered so; twelve leads in one audience shard take two pages.
    let (faults, adjust) = behind_faults("planner").await;
    faults.lose_answer_next("dynamodb:UpdateItem", 1_000);
    let app = spawn_app_with(|o| {
        o.overrides.insert("PLAN_PAGE_SIZE".into(), "10".into());
        adjust(o);
    })
    .await;
    app.register_page(PAGE).await;
    let same_shard: Vec<String> = (0..)
        .map(|i| format!("2002{i:012}"))
        .filter(|p| audience_shard(&Psid::parse(p.as_str()).unwrap()) == 0)
        .take(12)
        .collect();
    app.seed_leads(PAGE, &same_shard).await;
    let id = app.create_broadcast(text("Lost answers")).await;
    let done = app.wait_state(&id, "done").await;
    assert_eq!(done["counts"]["sent"], 12, "{done}");
    for p in &same_shard {
        assert_eq!(app.sends_to(p), 1, "{p}");
    }
    assert!(
        faults.injected() >= 17,
        "every shard's checkpoint lost its answer once: {}",
        faults.injected()
    );
    app.stack.stop().await;
}

#[tokio::test]
async fn transactions_cancelled_for_a_conflict_are_retried_and_every_send_counts_once() {
    // DynamoDB cancels a transaction that meets another on one of its items;
    // concurrent sends share their broadcast's lanes, so in AWS this is
    // routine. Here every third transaction of the sender is cancelled so.
    let (faults, adjust) = behind_faults("sender").await;
    faults.conflict_every_nth_transaction(3);
    let (mut app, all, id) = planned_while_sender_held(PAGE, "2005", 12, "Busy lanes", adjust).await;
    app.stack.resume("sender");
    let done = app.wait_state(&id, "done").await;
    assert_eq!(
        (done["counts"]["sent"].as_i64(), done["counts"]["failed"].as_i64()),
        (Some(12), Some(0)),
        "a conflict neither loses a send's outcome nor turns it into a failure: {done}"
    );
    for p in &all {
        assert_eq!(app.sends_to(p), 1, "{p}");
    }
    assert!(faults.injected() >= 8, "conflicts injected: {}", faults.injected());
    app.stack.stop().await;
}

#[tokio::test]
async fn a_batch_whose_definition_read_fails_still_finishes_its_broadcast() {
    let (faults, adjust) = behind_faults("sender").await;
    let (mut app, _, id) = planned_while_sender_held(PAGE, "2003", 1, "Last job", adjust).await;
    // The batch's one read of the broadcast fails (three 500s exhaust the
    // SDK's retries); the job reads it again itself and sends.
    faults.fail_next("dynamodb:BatchGetItem", 3);
    app.stack.resume("sender");
    let done = app.wait_state(&id, "done").await;
    assert_eq!(done["counts"]["sent"], 1, "{done}");
    assert_eq!(app.sends_to("2003000000000000"), 1);
    assert_eq!(faults.injected(), 3);
    app.stack.stop().await;
}

/// The page in a region where Meta still honours marketing-messages tokens, and
/// a lead who wrote three days ago (the 24-hour window is closed) and granted
/// the token `token`.
async fn marketing_page_and_lead(app: &TestApp, psid: &str, token: &str) {
    let (status, out) = app
        .api(
            Method::PUT,
            &format!("/v1/pages/{PAGE}"),
            Some(json!({"access_token": PAGE_TOKEN, "retention_days": 30, "region": "EU"})),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    let t = optcast_shared::http::now_ms();
    let three_days_ago = t - 3 * optcast_shared::retention::DAY_MS;
    app.say_at(PAGE, psid, &format!("m_hello_{psid}"), "hello", three_days_ago)
        .await;
    let optin = json!({"object":"page","entry":[{"id":PAGE,"time":t,"messaging":[
        {"sender":{"id":psid},"recipient":{"id":PAGE},"timestamp":three_days_ago + 1,
         "optin":{"type":"notification_messages","notification_messages_token":token,
                  "token_expiry_timestamp": t + 30 * optcast_shared::retention::DAY_MS}}]}]})
    .to_string();
    assert_eq!(app.post_signed(optin.as_bytes()).await.status(), 200);
    let sk = format!("SUB#{psid}");
    eventually("marketing token stored", || async {
        app.scan("SubscribersTable")
            .await
            .iter()
            .any(|i| s(i, "sk") == sk && i.contains_key("marketing_token"))
    })
    .await;
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
async fn a_lead_erased_after_planning_is_skipped_and_leaves_no_psid_in_the_delivery_records() {
    let (mut app, _, id) = planned_while_sender_held(PAGE, "2006", 2, "Before you go", |_| {}).await;
    let (status, out) = app
        .api(
            Method::POST,
            "/v1/erasure",
            Some(json!({"page_id": PAGE, "psid": "2006000000000000"})),
        )
        .await;
    assert_eq!(status, 202, "{out}");
    let request = out["request_id"].as_str().unwrap().to_string();
    eventually("erased", || async {
        app.api(Method::GET, &format!("/v1/erasure/{request}"), None).await.1["status"] == "completed"
    })
    .await;
    app.stack.resume("sender");
    let done = app.wait_state(&id, "done").await;
    assert_eq!(
        (
            done["counts"]["sent"].as_i64(),
            done["counts"]["skipped_unsubscribed"].as_i64()
        ),
        (Some(1), Some(1)),
        "{done}"
    );
    assert_eq!(app.sends_to("2006000000000000"), 0);
    let deliveries = format!("{:?}", app.scan("DeliveriesTable").await);
    assert!(!deliveries.contains("2006000000000000"), "{deliveries}");
    assert!(deliveries.contains("2006000000000001"));
    app.stack.stop().await;
}

#[tokio::test]
async fn a_sender_that_died_between_claim_and_send_never_sends_that_lead_twice() {
    let (mut app, _, id) = planned_while_sender_held(PAGE, "2007", 3, "Crash test", |_| {}).await;
    // A previous sender claimed lead 0 two minutes ago and died before sending:
    // its claim is what the real claim transaction writes.
    let store = app.send_store();
    let task = send_task(PAGE, &id, "2007000000000000");
    let long_ago = optcast_shared::http::now_ms() - 120_000;
    let claim = store
        .claim(&task, None, long_ago / 1000 + 86_400, long_ago)
        .await
        .unwrap();
    assert_eq!(claim, Claim::Claimed);
    app.stack.resume("sender");
    let done = app.wait_state(&id, "done").await;
    // Lead 0 may have received it from the dead sender; it is never sent again.
    assert_eq!(app.sends_to("2007000000000000"), 0);
    assert_eq!(
        (done["counts"]["sent"].as_i64(), done["counts"]["failed"].as_i64()),
        (Some(2), Some(1)),
        "{done}"
    );
    app.stack.stop().await;
}

#[tokio::test]
async fn rate_limited_sends_are_retried_later_and_the_broadcast_completes() {
    let app = spawn_app().await;
    app.register_page(PAGE).await;
    let all = leads("2008", 4);
    app.seed_leads(PAGE, &all).await;
    app.stack.graph.script(Rule {
        recipient: None,
        error: FakeError::RateLimit,
        times: 3,
    });
    app.stack.graph.script(Rule {
        recipient: Some("2008000000000001".into()),
        error: FakeError::Temporary,
        times: 1,
    });
    let id = app.create_broadcast(text("Busy day")).await;
    let done = app.wait_state(&id, "done").await;
    assert_eq!(done["counts"]["sent"], 4, "{done}");
    assert_eq!(done["counts"]["failed"], 0, "rate limiting is not a failure");
    for p in &all {
        assert_eq!(app.sends_to(p), 1);
    }
    assert!(
        app.stack.graph.attempts() >= 8,
        "the limited attempts were made and retried"
    );
    app.stack.stop().await;
}

#[tokio::test]
async fn meta_errors_suppress_blocked_leads_and_pause_on_an_invalid_page_token() {
    let app = spawn_app().await;
    app.register_page(PAGE).await;
    app.seed_leads(PAGE, &leads("2009", 3)).await;
    app.stack.graph.script(Rule {
        recipient: Some("2009000000000001".into()),
        error: FakeError::Blocked,
        times: 1,
    });
    app.stack.graph.script(Rule {
        recipient: Some("2009000000000002".into()),
        error: FakeError::OutsideWindow,
        times: 1,
    });
    let id = app.create_broadcast(text("Hello")).await;
    let done = app.wait_state(&id, "done").await;
    assert_eq!(
        (
            done["counts"]["sent"].as_i64(),
            done["counts"]["failed"].as_i64(),
            done["counts"]["skipped_policy"].as_i64()
        ),
        (Some(1), Some(1), Some(1)),
        "{done}"
    );
    let (_, b1) = app
        .api(
            Method::GET,
            &format!("/v1/pages/{PAGE}/subscribers/2009000000000001"),
            None,
        )
        .await;
    assert_eq!(b1["status"], "unreachable", "a blocked lead leaves every audience");

    app.stack.graph.script(Rule {
        recipient: None,
        error: FakeError::InvalidToken,
        times: 100,
    });
    let id = app.create_broadcast(text("Second")).await;
    let paused = app.wait_state(&id, "paused").await;
    assert!(
        paused["paused_reason"].as_str().unwrap().contains("InvalidToken"),
        "{paused}"
    );
    app.stack.stop().await;
}

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
    // Mid-plan, a shard's cursor is the last lead's audience key.
    let cursor = r#"{"audience_pk":"1000000000000001#AUD#0","pk":"PAGE#1000000000000001","sk":"SUB#2011000000000099"}"#;
    assert!(store.checkpoint(&bid, 0, CURSOR_DONE, cursor, 0).await.unwrap());
    let (status, _) = app
        .api(Method::POST, &format!("/v1/broadcasts/{id}/cancel"), None)
        .await;
    assert_eq!(status, 200);
    // A planner still running on another shard cannot write one back.
    assert!(!store.checkpoint(&bid, 1, "", cursor, 0).await.unwrap());
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

#[tokio::test]
async fn bad_api_input_is_a_400_and_a_bad_token_is_a_401_that_touches_nothing() {
    let app = spawn_app().await;
    app.register_page(PAGE).await;
    let past = "2020-01-01T00:00:00Z";
    let cases = vec![
        (
            "empty text",
            json!({"page_id": PAGE, "message": {"text": "  "}}),
            "invalid_message",
        ),
        (
            "text over Meta's limit",
            json!({"page_id": PAGE, "message": {"text": "x".repeat(2001)}}),
            "invalid_message",
        ),
        (
            "unknown page",
            json!({"page_id": "1000000000000404", "message": {"text": "hi"}}),
            "unknown_page",
        ),
        (
            "send_at in the past",
            json!({"page_id": PAGE, "message": {"text": "hi"}, "send_at": past}),
            "invalid_send_at",
        ),
        (
            "send_at not RFC 3339",
            json!({"page_id": PAGE, "message": {"text": "hi"}, "send_at": "tomorrow"}),
            "invalid_send_at",
        ),
        (
            "unknown field",
            json!({"page_id": PAGE, "message": {"text": "hi"}, "evil": 1}),
            "invalid_json",
        ),
        (
            "bad page id",
            json!({"page_id": "a#b", "message": {"text": "hi"}}),
            "invalid_page_id",
        ),
        (
            "reserved payload",
            json!({"page_id": PAGE, "message": {"text": "hi", "quick_replies": [{"title": "x", "payload": UNSUBSCRIBE_PAYLOAD}]}}),
            "invalid_message",
        ),
    ];
    for (name, body, code) in cases {
        let (status, out) = app.api(Method::POST, "/v1/broadcasts", Some(body)).await;
        assert_eq!(status, 400, "{name}: {out}");
        assert_eq!(out["error"]["code"], code, "{name}");
    }
    let raw = app
        .http
        .post(app.url("/v1/broadcasts"))
        .bearer_auth(ADMIN_TOKEN)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    let (status, _) = app
        .api(
            Method::PUT,
            "/v1/pages/1000000000000002",
            Some(json!({"access_token": ""})),
        )
        .await;
    assert_eq!(status, 400);
    let (status, out) = app
        .api(
            Method::PUT,
            "/v1/pages/1000000000000002",
            Some(json!({"access_token": "t", "region": "Europe"})),
        )
        .await;
    assert_eq!(
        (status, out["error"]["code"].as_str()),
        (400, Some("invalid_region")),
        "{out}"
    );
    let (status, _) = app.api(Method::GET, "/v1/broadcasts/doesnotexist", None).await;
    assert_eq!(status, 404);
    // The scheme is case-insensitive.
    let lower = app
        .http
        .get(app.url("/v1/broadcasts/doesnotexist"))
        .header("authorization", format!("bearer {ADMIN_TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(lower.status(), 404);

    for auth in [None, Some("Bearer wrong"), Some("Basic dGVzdA=="), Some(ADMIN_TOKEN)] {
        let mut req = app.http.post(app.url("/v1/broadcasts")).json(&text("should not exist"));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 401, "{auth:?}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    assert!(app.scan("BroadcastsTable").await.is_empty(), "nothing was created");
    let put = app
        .http
        .put(app.url("/v1/pages/1000000000000009"))
        .json(&json!({"access_token": "t"}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 401);
    assert_eq!(app.scan("PagesTable").await.len(), 1);
    // The page token is stored sealed, never in plaintext.
    assert!(!format!("{:?}", app.scan("PagesTable").await).contains(PAGE_TOKEN));
    // A tag given twice is the same audience as given once (not a 5xx).
    let (status, out) = app
        .api(
            Method::POST,
            "/v1/broadcasts",
            Some(
                json!({"page_id": PAGE, "message": {"text": "Hi"}, "tags": ["vip", "vip"],
                        "send_at": "2999-01-01T00:00:00Z"}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{out}");
    let id = out["id"].as_str().unwrap().to_string();
    assert_eq!(app.broadcast(&id).await["tags"], json!(["vip"]));
    app.stack.stop().await;
}
