//! No opt-out is lost on real Meta traffic: lenient reading of the shapes
//! real deliveries take, what starts a conversation and what never does,
//! edits, unsends, Instagram's `changes`, impossible timestamps, one bad part
//! in a delivery, a message too large for one item, idempotency per person.

use optcast_shared::http::now_ms;
use optcast_tests::*;
use serde_json::{json, Value};

const PAGE: &str = "1000000000000001";

fn item(psid: &str, ts: Value, body: Value) -> Value {
    let mut item = json!({"sender": {"id": psid}, "recipient": {"id": PAGE}, "timestamp": ts});
    for (k, v) in body.as_object().unwrap() {
        item[k] = v.clone();
    }
    item
}

fn text(psid: &str, ts: Value, mid: Value, text: &str) -> Value {
    item(psid, ts, json!({"message": {"mid": mid, "text": text}}))
}

/// Leads who said hello a minute ago.
async fn seed(app: &TestApp, psids: &[&str]) {
    let psids: Vec<String> = psids.iter().map(|p| p.to_string()).collect();
    app.seed_leads(PAGE, &psids).await;
}

#[tokio::test]
async fn a_stop_in_every_form_real_deliveries_take_unsubscribes() {
    let app = spawn_app().await;
    let leads = [
        "2000000000000001",
        "2000000000000002",
        "2000000000000003",
        "2000000000000004",
        "2000000000000005",
        "2000000000000006",
        "7000000000000001",
    ];
    seed(&app, &leads).await;
    let now = now_ms();
    app.post_items(
        "page",
        PAGE,
        vec![
            // Timestamps as a float, a quoted number, in seconds.
            text("2000000000000001", json!(now as f64), json!("m_float"), "STOP"),
            text("2000000000000002", json!(now.to_string()), json!("m_quoted"), "STOP"),
            text("2000000000000003", json!(now / 1000 + 1), json!("m_seconds"), "STOP"),
            // The older message-id format, and no mid at all.
            text("2000000000000004", json!(now), json!("mid.$cAAJs1xyzABC"), "STOP"),
            item("2000000000000005", json!(now), json!({"message": {"text": "STOP"}})),
            // A mid far longer than any key may be.
            text("2000000000000006", json!(now), json!("m".repeat(3000)), "STOP"),
            // The sender id as a JSON number.
            text("7000000000000001", json!(now), json!("m_numeric_sender"), "STOP"),
        ]
        .into_iter()
        .map(|mut i| {
            if i["sender"]["id"] == "7000000000000001" {
                i["sender"]["id"] = json!(7000000000000001u64);
            }
            i
        })
        .collect(),
    )
    .await;
    app.drain_ingest().await;
    for lead in leads {
        assert_eq!(app.status(PAGE, lead).await, "unsubscribed", "{lead}");
    }
    // The STOP stamped in seconds is dated now, not 1970.
    let log = app.scan("ConsentLogTable").await;
    let l3 = log
        .iter()
        .find(|i| s(i, "pk") == format!("PAGE#{PAGE}#SUB#2000000000000003") && s(i, "to") == "unsubscribed")
        .unwrap();
    let at: i64 = l3["at_ms"].as_n().unwrap().parse().unwrap();
    assert!((now - at).abs() < 5_000, "dated {at}, sent {now}");
    assert!(app.dead_letters().await.is_empty());
    app.stack.stop().await;
}

#[tokio::test]
async fn a_numeric_postback_payload_starts_a_conversation_instead_of_vanishing() {
    let app = spawn_app().await;
    app.post_items(
        "page",
        PAGE,
        vec![item(
            "2000000000000011",
            json!(now_ms()),
            json!({"postback": {"title": "Deals", "payload": 42}}),
        )],
    )
    .await;
    app.drain_ingest().await;
    assert_eq!(app.status(PAGE, "2000000000000011").await, "subscribed");
    app.stack.stop().await;
}

#[tokio::test]
async fn a_message_stamped_in_the_far_future_neither_freezes_consent_nor_the_window() {
    let app = spawn_app().await;
    let now = now_ms();
    app.post_items(
        "page",
        PAGE,
        vec![text(
            "2000000000000021",
            json!(253_402_300_799_000i64),
            json!("m_future"),
            "hi",
        )],
    )
    .await;
    app.drain_ingest().await;
    // The STOP sent a second later, with a real timestamp, still counts.
    app.post_items(
        "page",
        PAGE,
        vec![text("2000000000000021", json!(now_ms()), json!("m_stop"), "STOP")],
    )
    .await;
    app.drain_ingest().await;
    let lead = app.subscriber(PAGE, "2000000000000021").await.unwrap();
    assert_eq!(s(&lead, "status"), "unsubscribed");
    let window: i64 = lead["last_inbound_at_ms"].as_n().unwrap().parse().unwrap();
    assert!(
        window < now + 600_000,
        "the window ends 24 h after receipt, not in 9999: {window}"
    );
    let created: i64 = lead["created_at_ms"].as_n().unwrap().parse().unwrap();
    assert!(created >= now - 60_000 && created < now + 600_000, "{created}");
    app.stack.stop().await;
}

#[tokio::test]
async fn an_edit_to_stop_unsubscribes_and_replaces_the_stored_text_once() {
    let app = spawn_app().await;
    let t = now_ms() - 10_000;
    app.post_items(
        "page",
        PAGE,
        vec![text("2000000000000031", json!(t), json!("m_e1"), "hello")],
    )
    .await;
    app.drain_ingest().await;
    let edit = item(
        "2000000000000031",
        json!(t + 5_000),
        json!({"message_edit": {"mid": "m_e1", "text": "STOP", "num_edit": 1}}),
    );
    // Meta delivers it twice; the second changes nothing.
    app.post_items("page", PAGE, vec![edit.clone()]).await;
    app.post_items("page", PAGE, vec![edit]).await;
    app.drain_ingest().await;
    assert_eq!(app.status(PAGE, "2000000000000031").await, "unsubscribed");
    let messages = app.opened_messages(PAGE, "2000000000000031").await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0].1["text"], "STOP");
    assert_eq!(messages[0].1["edited"], 1);
    assert!(messages[0].0.ends_with("#m_e1"), "{}", messages[0].0);
    let changes = app
        .scan("ConsentLogTable")
        .await
        .into_iter()
        .filter(|i| s(i, "pk") == format!("PAGE#{PAGE}#SUB#2000000000000031"))
        .count();
    assert_eq!(changes, 2, "first contact, then the edit's stop");
    app.stack.stop().await;
}

#[tokio::test]
async fn an_unsubscribe_tapped_on_instagram_in_the_changes_format_unsubscribes() {
    let app = spawn_app().await;
    let ig = "17841400000001";
    let now = now_ms();
    let hello = json!({"object":"instagram","entry":[{"id": ig, "time": now, "messaging":[
        {"sender":{"id":"2000000000000041"},"recipient":{"id":ig},"timestamp":now - 60_000,"message":{"mid":"aWdfZAG1hello","text":"hi"}}]}]});
    assert_eq!(app.post_signed(hello.to_string().as_bytes()).await.status(), 200);
    app.drain_ingest().await;
    assert_eq!(app.status(ig, "2000000000000041").await, "subscribed");
    let tap = json!({"object":"instagram","entry":[{"id": ig, "time": now, "changes":[
        {"field":"messaging_postbacks","value":{"sender":{"id":"2000000000000041"},"recipient":{"id":ig},"timestamp":now,
            "postback":{"mid":"aWdfZAG1tap","title":"Unsubscribe","payload":"OPTCAST_UNSUBSCRIBE"}}},
        {"field":"comments","value":{"id":"c1","text":"STOP"}}]}]});
    assert_eq!(app.post_signed(tap.to_string().as_bytes()).await.status(), 200);
    app.drain_ingest().await;
    assert_eq!(app.status(ig, "2000000000000041").await, "unsubscribed");
    let kinds: Vec<String> = app.scan("EventsTable").await.iter().map(|e| s(e, "kind")).collect();
    assert!(kinds.contains(&"ignored:change:comments".to_string()), "{kinds:?}");
    app.stack.stop().await;
}

#[tokio::test]
async fn reactions_unsends_referrals_and_edits_never_create_or_revive_a_lead() {
    let app = spawn_app().await;
    seed(&app, &["2000000000000051", "2000000000000052"]).await;
    let (status, out) = app
        .api(
            reqwest::Method::POST,
            "/v1/erasure",
            Some(json!({"page_id": PAGE, "psid": "2000000000000052"})),
        )
        .await;
    assert_eq!(status, 202, "{out}");
    eventually("erased", || async {
        app.subscriber(PAGE, "2000000000000052").await.is_none()
    })
    .await;
    let now = now_ms() + 1_000;
    let activity = |psid: &str, n: i64| {
        vec![
            item(
                psid,
                json!(now + n),
                json!({"reaction": {"mid": "m_old", "action": "react", "reaction": "love"}}),
            ),
            item(
                psid,
                json!(now + n + 1),
                json!({"message": {"mid": format!("m_gone_{psid}"), "is_deleted": true}}),
            ),
            item(
                psid,
                json!(now + n + 2),
                json!({"referral": {"ref": "ad7", "source": "ADS", "type": "OPEN_THREAD"}}),
            ),
            item(
                psid,
                json!(now + n + 3),
                json!({"message_edit": {"mid": "m_old", "text": "typo fixed", "num_edit": 1}}),
            ),
        ]
    };
    let mut items = activity("2000000000000053", 0);
    items.extend(activity("2000000000000052", 10));
    app.post_items("page", PAGE, items).await;
    // A known lead unsends the message they sent: it is deleted.
    app.post_items(
        "page",
        PAGE,
        vec![text("2000000000000051", json!(now), json!("m_k1"), "my phone is 555")],
    )
    .await;
    app.drain_ingest().await;
    assert_eq!(app.opened_messages(PAGE, "2000000000000051").await.len(), 2);
    app.post_items(
        "page",
        PAGE,
        vec![item(
            "2000000000000051",
            json!(now + 5),
            json!({"message": {"mid": "m_k1", "is_deleted": true}}),
        )],
    )
    .await;
    app.drain_ingest().await;
    assert_eq!(app.status(PAGE, "2000000000000053").await, "none");
    assert_eq!(app.status(PAGE, "2000000000000052").await, "none");
    let kept: Vec<Value> = app
        .opened_messages(PAGE, "2000000000000051")
        .await
        .into_iter()
        .map(|m| m.1)
        .collect();
    assert_eq!(kept.len(), 1, "only the seed message is left: {kept:?}");
    assert_eq!(kept[0]["text"], "hello");
    assert_eq!(app.status(PAGE, "2000000000000051").await, "subscribed");
    app.stack.stop().await;
}

#[tokio::test]
async fn one_bad_part_is_quarantined_and_everyone_elses_stop_lands() {
    let app = spawn_app().await;
    seed(&app, &["2000000000000061", "2000000000000062"]).await;
    let now = now_ms();
    let deep = format!("{}1{}", "[".repeat(300), "]".repeat(300));
    let stop = |psid: &str, mid: &str| text(psid, json!(now), json!(mid), "STOP").to_string();
    // A byte-order mark, an entry time that is not a number, an item nested
    // too deep, an entry without a usable id, and two people's STOPs.
    let body = format!(
        "\u{feff}{{\"object\":\"page\",\"entry\":[{{\"id\":\"{PAGE}\",\"time\":\"soon\",\"messaging\":[{},{deep},{}]}},\
         {{\"id\":{{\"nested\":1}},\"messaging\":[{}]}}]}}",
        stop("2000000000000061", "m_b1"),
        stop("2000000000000062", "m_b2"),
        stop("2000000000000063", "m_b3")
    );
    assert_eq!(app.post_signed(body.as_bytes()).await.status(), 200);
    let records = app.wait_quarantined(2).await;
    app.drain_ingest().await;
    assert_eq!(app.status(PAGE, "2000000000000061").await, "unsubscribed");
    assert_eq!(app.status(PAGE, "2000000000000062").await, "unsubscribed");
    let mut reasons: Vec<_> = records.iter().map(|r| r.reason.as_str()).collect();
    reasons.sort();
    assert_eq!(reasons, ["entry_id", "malformed_item"]);
    assert!(app.dead_letters().await.is_empty());
    // The quarantined item is kept exactly, as a delivery of its own.
    let entry_id = records.iter().find(|r| r.reason == "entry_id").unwrap();
    let kept: Value = serde_json::from_slice(&app.quarantined_body(&entry_id.id).await).unwrap();
    assert_eq!(kept["entry"][0]["messaging"][0]["message"]["mid"], "m_b3");
    app.stack.stop().await;
}

#[tokio::test]
async fn a_message_too_large_for_one_item_is_applied_with_its_body_bounded() {
    let app = spawn_app().await;
    let huge = "x".repeat(1_000_000);
    app.post_items(
        "page",
        PAGE,
        vec![text("2000000000000071", json!(now_ms()), json!("m_huge"), &huge)],
    )
    .await;
    app.drain_ingest().await;
    assert_eq!(app.status(PAGE, "2000000000000071").await, "subscribed");
    let messages = app.opened_messages(PAGE, "2000000000000071").await;
    assert_eq!(messages[0].1["truncated"][0]["bytes"], 1_000_000);
    assert!(app.dead_letters().await.is_empty());
    app.stack.stop().await;
}

#[tokio::test]
async fn the_same_mid_from_two_people_is_two_events() {
    let app = spawn_app().await;
    seed(&app, &["2000000000000081", "2000000000000082"]).await;
    let now = now_ms();
    app.post_items(
        "page",
        PAGE,
        vec![text("2000000000000081", json!(now), json!("m_shared"), "thanks")],
    )
    .await;
    app.post_items(
        "page",
        PAGE,
        vec![text("2000000000000082", json!(now), json!("m_shared"), "STOP")],
    )
    .await;
    app.drain_ingest().await;
    assert_eq!(app.status(PAGE, "2000000000000081").await, "subscribed");
    assert_eq!(
        app.status(PAGE, "2000000000000082").await,
        "unsubscribed",
        "not taken for the first lead's duplicate"
    );
    app.stack.stop().await;
}

#[tokio::test]
async fn a_large_delivery_is_split_and_every_persons_events_land_in_order() {
    // A small work budget makes invocations stop early and queue the rest.
    let app = spawn_app_with(|o| {
        o.overrides.insert("INGEST_WORK_BUDGET_MS".into(), "300".into());
    })
    .await;
    let now = now_ms() - 600_000;
    let mut items = Vec::new();
    for p in 0..42 {
        let psid = format!("21000000000000{p:02}");
        // Given out of order: hello, STOP, then START for the even ones.
        if p % 2 == 0 {
            items.push(text(&psid, json!(now + 3), json!(format!("m_{p}_c")), "START"));
        }
        items.push(text(&psid, json!(now + 2), json!(format!("m_{p}_b")), "STOP"));
        items.push(text(&psid, json!(now + 1), json!(format!("m_{p}_a")), "hello"));
    }
    assert!(items.len() > ingest::CHUNK_ITEMS);
    let sent = items.len();
    app.post_items("page", PAGE, items).await;
    eventually("every item recorded", || async {
        app.scan("EventsTable").await.len() == sent
    })
    .await;
    app.drain_ingest().await;
    for p in 0..42 {
        let want = if p % 2 == 0 { "subscribed" } else { "unsubscribed" };
        assert_eq!(
            app.status(PAGE, &format!("21000000000000{p:02}")).await,
            want,
            "lead {p}"
        );
    }
    assert!(app.dead_letters().await.is_empty());
    let (count, _) = app.dump_bucket().await;
    assert_eq!(count, 0, "no claim or chunk object is left behind");
    app.stack.stop().await;
}

#[tokio::test]
async fn a_lead_purged_while_unsubscribed_stays_unsubscribed_until_they_opt_in_again() {
    let app = spawn_app().await;
    app.register_page(PAGE).await;
    let day = optcast_shared::retention::DAY_MS;
    let now = now_ms();
    app.say_at(PAGE, "2000000000000091", "m_p1", "hi", now - 41 * day).await;
    app.say_at(PAGE, "2000000000000091", "m_p2", "STOP", now - 40 * day)
        .await;
    let report = app.invoke("sweeper", &scheduled_event(now)).await;
    assert_eq!(report["deleted"]["unsubscribed_leads"], 1, "{report}");
    assert_eq!(app.status(PAGE, "2000000000000091").await, "none");
    // Writing again is not an opt-in: their STOP still stands.
    app.post_items(
        "page",
        PAGE,
        vec![text(
            "2000000000000091",
            json!(now_ms()),
            json!("m_p3"),
            "what is the price?",
        )],
    )
    .await;
    app.drain_ingest().await;
    assert_eq!(
        app.status(PAGE, "2000000000000091").await,
        "none",
        "no lead, no audience"
    );
    app.post_items(
        "page",
        PAGE,
        vec![text("2000000000000091", json!(now_ms()), json!("m_p4"), "START")],
    )
    .await;
    app.drain_ingest().await;
    assert_eq!(app.status(PAGE, "2000000000000091").await, "subscribed");
    app.stack.stop().await;
}

#[tokio::test]
async fn an_opt_in_stamped_minutes_ahead_does_not_outrank_the_stop_sent_after_it() {
    let app = spawn_app().await;
    seed(&app, &["2000000000000101"]).await;
    let now = now_ms();
    app.post_items(
        "page",
        PAGE,
        vec![text(
            "2000000000000101",
            json!(now + 290_000),
            json!("m_c_start"),
            "START",
        )],
    )
    .await;
    app.drain_ingest().await;
    app.post_items(
        "page",
        PAGE,
        vec![text(
            "2000000000000101",
            json!(now_ms() + 1_000),
            json!("m_c_stop"),
            "STOP",
        )],
    )
    .await;
    app.drain_ingest().await;
    assert_eq!(app.status(PAGE, "2000000000000101").await, "unsubscribed");
    app.stack.stop().await;
}
