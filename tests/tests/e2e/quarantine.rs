//! Nothing validly signed is lost: every item of every signed delivery is
//! applied (or recorded), quarantined, or dead-lettered; the quarantine is
//! listed and replayed through the management API.

use optcast_shared::http::now_ms;
use optcast_tests::*;
use reqwest::Method;
use serde_json::{json, Value};

const PAGE: &str = "1000000000000001";

/// `psid` sends an item of a kind no parser knows (ingest quarantines it,
/// with their subject digest): the signed delivery is accepted.
async fn send_unknown_item(app: &TestApp, psid: &str, note: &str) {
    let body = json!({"object": "page", "entry": [{"id": PAGE, "time": now_ms(), "messaging": [
        {"sender": {"id": psid}, "recipient": {"id": PAGE}, "timestamp": now_ms(), "brand_new_event": {"note": note}}]}]});
    assert_eq!(app.post_signed(body.to_string().as_bytes()).await.status(), 200);
}

/// Keeps `body` in the quarantine as record `id`, as ingest would one it
/// could not apply (a delivery hash of zeros, no page or subject).
async fn keep_in_quarantine(app: &TestApp, id: &str, body: &[u8]) {
    let keys = optcast_shared::crypto::KeyRing::new(app.kms.clone(), app.physical("DataKey"));
    app.quarantine()
        .put(&keys, id, body, "unrecognised", None, None, &"0".repeat(64), now_ms())
        .await
        .unwrap();
}

/// The quarantine holds one record: `psid`'s item.
async fn assert_only_their_item_left(app: &TestApp, psid: &str) {
    let left = app.wait_quarantined(0).await;
    assert_eq!(left.len(), 1, "{left:?}");
    let item: Value = serde_json::from_slice(&app.quarantined_body(&left[0].id).await).unwrap();
    assert_eq!(item["entry"][0]["messaging"][0]["sender"]["id"], psid);
}

/// `used` (operation → requests) holds one listing of the bucket and
/// `reads` object reads (a HEAD or a GET each).
fn assert_listed_once(used: &std::collections::BTreeMap<String, u64>, reads: u64) {
    assert_eq!(used.get("s3:ListBucket"), Some(&1), "{used:?}");
    assert_eq!(used.get("s3:GetObject"), Some(&reads), "{used:?}");
}

/// Signed bodies a hostile or broken sender could produce, each carrying
/// exactly one item (or being one unreadable whole).
fn hostile_bodies() -> Vec<Vec<u8>> {
    let now = now_ms();
    let wrap =
        |item: Value| json!({"object": "page", "entry": [{"id": PAGE, "time": now, "messaging": [item]}]}).to_string();
    let msg = |n: u32, extra: Value| {
        let mut item = json!({"sender": {"id": format!("20000000000000{n:02}")}, "recipient": {"id": PAGE}, "timestamp": now,
            "message": {"mid": format!("m_h{n}"), "text": "hi"}});
        for (k, v) in extra.as_object().unwrap() {
            item[k] = v.clone();
        }
        wrap(item)
    };
    let mut bodies: Vec<Vec<u8>> = vec![
        b"not json at all".to_vec(),
        b"\xff\xfe\x00garbage".to_vec(),
        b"[1,2,3]".to_vec(),
        br#"{"object":"page"}"#.to_vec(),
        br#"{"object":"user","entry":[{"id":"1","changes":[]}]}"#.to_vec(),
        br#"{"object":"page","entry":{"id":"1000000000000001"}}"#.to_vec(),
        format!(r#"{{"object":"page","entry":[{{"id":"{PAGE}","messaging":[42]}}]}}"#).into_bytes(),
        format!(r#"{{"object":"page","entry":[{{"id":"{PAGE}","messaging":[{}1{}]}}]}}"#, "[".repeat(500), "]".repeat(500)).into_bytes(),
        br#"{"object":"page","entry":["just a string"]}"#.to_vec(),
        wrap(json!({"sender": {"id": {"nested": true}}, "recipient": {"id": PAGE}, "timestamp": now, "message": {"mid": "m_x1", "text": "STOP"}})).into_bytes(),
        wrap(json!({"sender": {"id": "a#b"}, "recipient": {"id": PAGE}, "timestamp": now, "message": {"mid": "m_x2", "text": "STOP"}})).into_bytes(),
        wrap(json!({"sender": {"id": "2000000000000000"}, "recipient": {"id": PAGE}, "timestamp": now, "brand_new_event": {"x": 1}})).into_bytes(),
        json!({"object": "page", "entry": [{"id": "bad id with spaces", "messaging": [{"sender": {"id": "2000000000000099"}, "message": {"mid": "m_x3", "text": "STOP"}}]}]}).to_string().into_bytes(),
    ];
    bodies.extend([
        msg(1, json!({"timestamp": "yesterday"})),
        msg(2, json!({"timestamp": 1e300})),
        msg(3, json!({"message": null})),
        msg(4, json!({"message": {"mid": "m_h4", "text": "\u{0000}\u{202e}STOP"}})),
        msg(5, json!({"message": {"mid": "x".repeat(10_000), "text": "STOP"}})),
        msg(6, json!({"message": {"mid": "m_h6", "text": "y".repeat(300_000)}})),
        msg(7, json!({"message": {"mid": "m_h7", "attachments": "not a list"}})),
        msg(8, json!({"postback": {"payload": {"an": "object"}}, "message": null})),
        format!("\u{feff}{}", msg(9, json!({}))),
        msg(10, json!({"message": {"mid": "m_h10", "is_echo": "true", "text": "STOP"}, "recipient": {"id": "2000000000000010"}, "sender": {"id": PAGE}})),
    ].map(String::into_bytes));
    bodies
}

#[tokio::test]
async fn every_item_of_hostile_signed_deliveries_is_applied_quarantined_or_dead_lettered() {
    let app = spawn_app().await;
    let bodies = hostile_bodies();
    for body in &bodies {
        assert_eq!(
            app.post_signed(body).await.status(),
            200,
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    app.drain_ingest().await;
    let applied = app.scan("EventsTable").await.len();
    let quarantined = app.wait_quarantined(0).await.len();
    let dead = app.dead_letters().await.len();
    assert_eq!(
        applied + quarantined + dead,
        bodies.len(),
        "applied {applied} + quarantined {quarantined} + dead-lettered {dead}"
    );
    assert_eq!(
        dead, 0,
        "hostile input is a permanent fault: quarantined at once, not retried"
    );
    assert!(quarantined >= 10, "{quarantined}");
    app.stack.stop().await;
}

#[tokio::test]
async fn the_quarantine_is_listed_and_a_replayed_record_is_applied_then_removed() {
    let app = spawn_app().await;
    // An item this parser cannot apply: listed, replay keeps it (fails again).
    let unknown = json!({"object": "page", "entry": [{"id": PAGE, "time": now_ms(), "messaging": [
        {"sender": {"id": "2000000000000101"}, "recipient": {"id": PAGE}, "timestamp": now_ms(), "brand_new_event": {"text": "hi"}}]}]});
    assert_eq!(app.post_signed(unknown.to_string().as_bytes()).await.status(), 200);
    app.wait_quarantined(1).await;
    let (status, list) = app.api(Method::GET, "/v1/quarantine", None).await;
    assert_eq!(status, 200, "{list}");
    let record = &list["records"][0];
    assert_eq!(record["reason"], "unrecognised");
    assert_eq!(record["page_id"], PAGE);
    assert!(record["bytes"].as_i64().unwrap() > 100, "{record}");
    assert!(
        !list.to_string().contains("2000000000000101"),
        "the listing names no person: {list}"
    );
    let id = record["id"].as_str().unwrap().to_string();
    let (status, out) = app
        .api(Method::POST, &format!("/v1/quarantine/{id}/replay"), None)
        .await;
    assert_eq!(status, 202, "{out}");
    app.drain_ingest().await;
    let (_, again) = app.api(Method::GET, "/v1/quarantine", None).await;
    assert_eq!(
        again["records"].as_array().unwrap().len(),
        1,
        "kept, not duplicated: {again}"
    );

    // A record an older parser could not apply (here: written directly) is
    // applied by the replay and then removed.
    let stop = json!({"object": "page", "entry": [{"id": PAGE, "time": now_ms(), "messaging": [
        {"sender": {"id": "2000000000000102"}, "recipient": {"id": PAGE}, "timestamp": now_ms(), "message": {"mid": "m_r2", "text": "STOP"}}]}]});
    let old_id = optcast_shared::quarantine::id_for("0".repeat(64).as_str(), Some("old"));
    keep_in_quarantine(&app, &old_id, stop.to_string().as_bytes()).await;
    let (status, _) = app
        .api(Method::POST, &format!("/v1/quarantine/{old_id}/replay"), None)
        .await;
    assert_eq!(status, 202);
    app.drain_ingest().await;
    eventually("replayed stop applied", || async {
        app.status(PAGE, "2000000000000102").await == "unsubscribed"
    })
    .await;
    app.drain_ingest().await;
    let (_, after) = app.api(Method::GET, "/v1/quarantine", None).await;
    let ids: Vec<&str> = after["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id.as_str()], "the applied record is gone, the failing one stays");
    // Unknown ids and bad cursors are precise errors.
    let (status, _) = app
        .api(Method::POST, &format!("/v1/quarantine/{}/replay", "0".repeat(32)), None)
        .await;
    assert_eq!(status, 404);
    let (status, _) = app.api(Method::POST, "/v1/quarantine/..%2Fx/replay", None).await;
    assert_eq!(status, 404);
    let (status, _) = app.api(Method::GET, "/v1/quarantine?after=../../x", None).await;
    assert_eq!(status, 400);
    app.stack.stop().await;
}

#[tokio::test]
async fn a_listing_reads_its_records_side_by_side_and_one_slow_read_holds_up_no_other() {
    let (counts, faults, routed) = behind_proxy("api").await;
    let app = spawn_app_with(routed).await;
    let body = json!({"object": "page", "entry": []}).to_string();
    let mut ids: Vec<String> = (0..20)
        .map(|i| optcast_shared::quarantine::id_for(&"0".repeat(64), Some(&format!("item {i}"))))
        .collect();
    for id in &ids {
        keep_in_quarantine(&app, id, body.as_bytes()).await;
    }
    ids.sort();
    counts.reset();
    // The first record's metadata read is held on its way to S3: read one
    // after another, as the listing used to, no other record would be read
    // until it is released (20 records were 20 round trips in a row).
    let mut held = faults.hold_next("s3:GetObject");
    let listing = tokio::spawn(app.http.get(app.url("/v1/quarantine")).bearer_auth(ADMIN_TOKEN).send());
    tokio::time::timeout(std::time::Duration::from_secs(120), held.arrival())
        .await
        .expect("the listing reads a record");
    eventually("other records read while the first one is held", || async {
        counts.snapshot().get("s3:GetObject").copied().unwrap_or(0) >= 10
    })
    .await;
    held.release();
    let answer = listing.await.unwrap().unwrap();
    assert_eq!(answer.status(), 200);
    let list: Value = answer.json().await.unwrap();
    let listed: Vec<&str> = list["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ids, "every record, in id order: {list}");
    assert_eq!(list["next"], Value::Null);
    app.stack.stop().await;
}

#[tokio::test]
async fn a_stop_inside_an_item_of_unknown_kind_is_honoured_and_the_item_kept() {
    let app = spawn_app().await;
    app.seed_leads(PAGE, &["2000000000000201".to_string()]).await;
    let body = json!({"object": "page", "entry": [{"id": PAGE, "time": now_ms(), "messaging": [
        {"sender": {"id": "2000000000000201"}, "recipient": {"id": PAGE}, "timestamp": now_ms(),
         "future_button_tap": {"title": "Unsubscribe", "payload": "OPTCAST_UNSUBSCRIBE"}}]}]});
    assert_eq!(app.post_signed(body.to_string().as_bytes()).await.status(), 200);
    let records = app.wait_quarantined(1).await;
    app.drain_ingest().await;
    assert_eq!(records[0].reason, "unrecognised");
    assert_eq!(app.status(PAGE, "2000000000000201").await, "unsubscribed");
    let log = app.scan("ConsentLogTable").await;
    assert!(log.iter().any(|i| s(i, "reason") == "unsubscribe_control"), "{log:?}");
    app.stack.stop().await;
}

#[tokio::test]
async fn erasing_a_lead_deletes_the_items_of_theirs_in_quarantine_from_one_listing() {
    let (counts, adjust) = counted("eraser").await;
    let app = spawn_app_with(adjust).await;
    let (erased, other) = ("2000000000000301", "2000000000000302");
    app.seed_leads(PAGE, &[erased.to_string(), other.to_string()]).await;
    // Kept with the subject digest of each lead, and one of the erased
    // lead's kept without any (its entry's page id is not Meta's).
    for psid in [erased, other] {
        send_unknown_item(&app, psid, "my address is 1 Main St").await;
    }
    let t = now_ms();
    let unreadable_page = json!({"object": "page", "entry": [{"id": "not-a-page", "time": t, "messaging": [
        {"sender": {"id": erased}, "recipient": {"id": PAGE}, "timestamp": t, "message": {"mid": "m_q9", "text": "hi"}}]}]});
    assert_eq!(
        app.post_signed(unreadable_page.to_string().as_bytes()).await.status(),
        200
    );
    assert_eq!(
        app.wait_quarantined(3)
            .await
            .iter()
            .filter(|r| r.subject_digest.is_none())
            .count(),
        1
    );
    counts.reset();
    let id = app.erase(PAGE, erased).await;
    assert_eq!(
        app.api(Method::GET, &format!("/v1/erasure/{id}"), None).await.1["status"],
        "completed"
    );
    assert_only_their_item_left(&app, other).await;
    let (count, text) = app.dump_bucket().await;
    assert!(count >= 1 && !text.contains(erased));
    // One listing of the quarantine for the job, after its shred: each
    // record's metadata read once (3), and the two not named by the erased
    // lead's digest opened (2). Listed once by the erasure and once by the
    // digest-less scan, that was two listings and eight reads.
    assert_listed_once(&counts.snapshot(), 5);
    app.stack.stop().await;
}

#[tokio::test]
async fn a_quarantined_record_that_cannot_be_opened_does_not_shield_an_erased_leads_records() {
    let app = spawn_app().await;
    let (erased, other) = ("2000000000000303", "2000000000000304");
    app.seed_leads(PAGE, &[erased.to_string(), other.to_string()]).await;
    for psid in [erased, other] {
        send_unknown_item(&app, psid, "call me").await;
    }
    app.wait_quarantined(2).await;
    // Listed first (records are listed in key order): one no key opens.
    let unreadable = "0".repeat(32);
    app.s3
        .put_object()
        .bucket(app.physical("DataBucket"))
        .key(optcast_shared::quarantine::object_key(&unreadable))
        .body(b"not sealed".to_vec().into())
        .send()
        .await
        .unwrap();
    let id = app.request_erasure(PAGE, erased).await;
    // The erased lead's record, named by its digest, goes although opening
    // the unreadable one fails the job (retried, the request pending).
    let other_digest = optcast_shared::pseudonym::keys().subject(
        &optcast_shared::ids::PageId::parse(PAGE).unwrap(),
        &optcast_shared::ids::Psid::parse(other).unwrap(),
    );
    eventually("the erased lead's quarantined item deleted", || async {
        app.quarantine().list(None, 1000).await.unwrap().0.len() == 2
    })
    .await;
    let left = app.quarantine().list(None, 1000).await.unwrap().0;
    assert_eq!(left[0].id, unreadable, "{left:?}");
    assert_eq!(
        left[1].subject_digest.as_deref(),
        Some(other_digest.as_str()),
        "{left:?}"
    );
    assert_eq!(
        app.api(Method::GET, &format!("/v1/erasure/{id}"), None).await.1["status"],
        "pending"
    );
    app.stack.stop().await;
}

#[tokio::test]
async fn an_erased_leads_item_sent_before_the_erasure_is_not_quarantined_one_sent_after_is() {
    late_items_of_an_erased_person("2000000000000305", false).await;
}

#[tokio::test]
async fn on_the_lead_begun_after_an_erasure_an_item_sent_before_it_is_not_quarantined() {
    late_items_of_an_erased_person("2000000000000306", true).await;
}

/// A lead erased (and, if `writes_again`, beginning a new lead by writing
/// again), then one delivery of two items of unknown kind: Meta's late retry
/// of what they sent before the erasure, and one sent after it. Only the
/// later is kept.
async fn late_items_of_an_erased_person(psid: &str, writes_again: bool) {
    let app = spawn_app().await;
    app.seed_leads(PAGE, &[psid.to_string()]).await;
    let before = now_ms() - 60_000;
    app.erase(PAGE, psid).await;
    let after = now_ms() + 1_000;
    if writes_again {
        app.say_at(PAGE, psid, "m_again", "hello again", after).await;
    }
    // Both in one delivery, in the person's lane, in delivery order (items
    // of unknown kind keep it).
    let item = |t: i64, note: &str| json!({"sender": {"id": psid}, "recipient": {"id": PAGE}, "timestamp": t, "brand_new_event": {"note": note}});
    let body = json!({"object": "page", "entry": [{"id": PAGE, "time": after, "messaging": [
        item(before, "sent before the erasure"), item(after, "sent after the erasure")]}]});
    assert_eq!(app.post_signed(body.to_string().as_bytes()).await.status(), 200);
    let kept = app.wait_quarantined(1).await;
    // The lane is applied in order: once the later item is kept, the earlier
    // one was dealt with (recorded, not kept).
    let mut texts = Vec::new();
    for record in &kept {
        texts.push(String::from_utf8(app.quarantined_body(&record.id).await).unwrap());
    }
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(texts[0].contains("sent after the erasure"), "{texts:?}");
    // The earlier item is recorded, without the person (the marker's
    // subject part is `-`), and brings no lead back.
    let erased_markers = app
        .scan("EventsTable")
        .await
        .iter()
        .filter(|e| s(e, "pk").starts_with(&format!("EVENT#{PAGE}#-#h:")) && s(e, "kind") == "erased:unrecognised")
        .count();
    assert_eq!(erased_markers, 1);
    let lead = if writes_again { "subscribed" } else { "none" };
    assert_eq!(app.status(PAGE, psid).await, lead);
    app.stack.stop().await;
}

#[tokio::test]
async fn the_sweep_purging_many_leads_lists_the_quarantine_once_and_deletes_only_theirs() {
    use optcast_shared::retention::DAY_MS;
    let (counts, adjust) = counted("sweeper").await;
    let app = spawn_app_with(adjust).await;
    app.register_page(PAGE).await;
    let t = now_ms();
    let gone = ["2000000000000311", "2000000000000312", "2000000000000313"];
    let kept = "2000000000000314";
    for (n, psid) in gone.iter().chain([&kept]).enumerate() {
        app.say(PAGE, psid, &format!("m_q{n}"), "hi").await;
        send_unknown_item(&app, psid, "call me").await;
    }
    for (n, psid) in gone.iter().enumerate() {
        app.say(PAGE, psid, &format!("m_s{n}"), "STOP").await;
    }
    app.wait_quarantined(4).await;
    counts.reset();

    // Past the purge period: the three unsubscribed leads go, with their
    // quarantined items; the subscribed lead's item stays.
    let report = app.invoke_at("sweeper", t + 31 * DAY_MS).await;
    assert_eq!(report["deleted"]["unsubscribed_leads"], 3, "{report}");
    assert_only_their_item_left(&app, kept).await;
    // One listing of the quarantine for the batch, after its erasures (each
    // record's metadata read once), not one per lead: with three leads that
    // was three listings and twelve metadata reads.
    assert_listed_once(&counts.snapshot(), 4);
    app.stack.stop().await;
}

#[tokio::test]
async fn a_page_of_the_quarantine_whose_records_vanish_before_their_head_still_leads_to_the_next() {
    use optcast_local::counting_proxy;
    let app = spawn_app().await;
    let body = json!({"object": "page", "entry": []}).to_string();
    let mut ids: Vec<String> = (0..3)
        .map(|n| optcast_shared::quarantine::id_for(&"0".repeat(64), Some(&n.to_string())))
        .collect();
    for id in &ids {
        keep_in_quarantine(&app, id, body.as_bytes()).await;
    }
    ids.sort();
    // The first record is replayed (deleted) between the listing and its
    // HEAD: S3 answers the HEAD with a 404.
    let (url, _, faults) = counting_proxy::start_with_faults(endpoint()).await.unwrap();
    let aws = counting_proxy::routed_through(&aws_at(&endpoint()).await, &url);
    let quarantine = optcast_shared::quarantine::Quarantine {
        s3: aws_sdk_s3::Client::new(&aws).into(),
        bucket: app.physical("DataBucket"),
    };
    faults.gone_next("s3:GetObject", 1);
    let (records, next) = quarantine.list(None, 1).await.unwrap();
    assert!(records.is_empty());
    assert_eq!(next.as_deref(), Some(ids[0].as_str()), "the listing ended early");
    // So every other record is still listed.
    let rest: Vec<String> = quarantine.list_all().await.unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(rest, ids);
    app.stack.stop().await;
}

#[tokio::test]
async fn when_a_purge_fails_midway_the_leads_erased_before_it_still_lose_their_quarantined_items() {
    use optcast_shared::retention::DAY_MS;
    let (faults, adjust) = behind_faults("sweeper").await;
    let app = spawn_app_with(adjust).await;
    app.register_page(PAGE).await;
    let t = now_ms();
    let leads = ["2000000000000321", "2000000000000322", "2000000000000323"];
    for (n, psid) in leads.iter().enumerate() {
        app.say(PAGE, psid, &format!("m_f{n}"), "hi").await;
        send_unknown_item(&app, psid, "call me").await;
        app.say(PAGE, psid, &format!("m_g{n}"), "STOP").await;
    }
    app.wait_quarantined(3).await;
    // The second lead's erasure fails (its shred transaction answered 500
    // three times: the SDK gives up), after the first was erased.
    faults.fail_after("dynamodb:TransactWriteItems", 1, 3);
    let report = app.invoke_at("sweeper", t + 31 * DAY_MS).await;
    let left: Vec<String> = app
        .wait_quarantined(0)
        .await
        .into_iter()
        .map(|r| r.subject_digest.unwrap_or_default())
        .collect();
    let page = optcast_shared::ids::PageId::parse(PAGE).unwrap();
    let mut erased = 0;
    for psid in leads {
        let (status, _) = app
            .api(Method::GET, &format!("/v1/pages/{PAGE}/subscribers/{psid}"), None)
            .await;
        let digest = optcast_shared::pseudonym::keys().subject(&page, &optcast_shared::ids::Psid::parse(psid).unwrap());
        if status == 404 {
            erased += 1;
            assert!(!left.contains(&digest), "an erased lead's item was kept: {report}");
        } else {
            assert!(left.contains(&digest), "a lead not erased lost its item: {report}");
        }
    }
    assert_eq!(erased, 1, "{report}");
    app.stack.stop().await;
}

/// Someone never stored as a lead, whose one item was quarantined, asks to
/// be erased: the item is deleted and the request reads `completed`, with
/// the count, not `no_data`. It read "no data" (and the status page would
/// tell them we held none): the report counted nothing from the quarantine
/// or the dead-letter queues.
#[tokio::test]
async fn erasing_someone_known_only_by_a_quarantined_item_is_completed_not_no_data() {
    let app = spawn_app().await;
    let psid = "2000000000000311";
    send_unknown_item(&app, psid, "only ever quarantined").await;
    app.wait_quarantined(1).await;
    let id = app.erase(PAGE, psid).await;
    let (_, request) = app.api(Method::GET, &format!("/v1/erasure/{id}"), None).await;
    assert_eq!(request["status"], "completed", "{request}");
    assert_eq!(request["report"]["quarantined"], 1, "{request}");
    assert_eq!(request["report"]["subscriber"], 0, "{request}");
    assert!(app.wait_quarantined(0).await.is_empty());
    // SQS delivers the job again: it finds nothing left, and the request
    // stays completed (a run that finds nothing wrote no_data over it).
    let job = optcast_shared::queue::ErasureJob::ErasureV1 {
        request_id: id.clone(),
        target: optcast_shared::queue::ErasureTarget::Subject {
            page_id: optcast_shared::ids::PageId::parse(PAGE).unwrap(),
            psid: optcast_shared::ids::Psid::parse(psid).unwrap(),
        },
        found_before: false,
        shredded_at_ms: None,
    };
    let outcome = app.redeliver_erasure(&job).await;
    assert_eq!(outcome["batchItemFailures"], json!([]), "{outcome}");
    let (_, again) = app.api(Method::GET, &format!("/v1/erasure/{id}"), None).await;
    assert_eq!(again["status"], "completed", "{again}");
    assert_eq!(again["report"], request["report"], "{again}");
    app.stack.stop().await;
}
