//! Who a broadcast reaches and how often: exactly the subscribed leads,
//! once each, whatever SQS redelivers, a sender dies or a lead opts out or
//! is erased after planning.

use optcast_shared::broadcast::Claim;
use optcast_shared::consent::UNSUBSCRIBE_PAYLOAD;
use optcast_tests::*;
use reqwest::Method;
use serde_json::json;

use super::{text, PAGE};

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
async fn a_stop_committed_while_a_send_waits_for_its_pacing_slot_is_honoured() {
    // One send a second per page: the jobs of a batch wait their turn, the
    // last about three seconds.
    let (mut app, all, id) = planned_while_sender_held(PAGE, "2008", 4, "Paced", |o| {
        o.overrides.insert("SEND_RATE_PER_SECOND".into(), "1".into());
    })
    .await;
    app.stack.resume("sender");
    eventually("first send", || async { !app.stack.graph.sends().is_empty() }).await;
    let first = app.stack.graph.sends()[0].recipient["id"].clone();
    // Everyone else says STOP while their jobs wait for their slots.
    let mut stopped = Vec::new();
    for (n, psid) in all.iter().filter(|p| **p != first).enumerate() {
        app.say(PAGE, psid, &format!("m_paced_stop{n}"), "STOP").await;
        // Applied (say waits for it): from here on nothing may reach them.
        stopped.push((psid.clone(), optcast_shared::http::now_ms()));
    }
    let done = app.wait_state(&id, "done").await;
    let sends = app.stack.graph.sends();
    for (psid, at_ms) in &stopped {
        let late: Vec<i64> = sends
            .iter()
            .filter(|s| s.recipient["id"] == psid.as_str() && s.at_ms > *at_ms)
            .map(|s| s.at_ms - at_ms)
            .collect();
        assert!(late.is_empty(), "{psid} was sent to {late:?} ms after their STOP");
    }
    let counts = &done["counts"];
    assert_eq!(
        counts["sent"].as_u64().unwrap() + counts["skipped_unsubscribed"].as_u64().unwrap(),
        4,
        "{done}"
    );
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
