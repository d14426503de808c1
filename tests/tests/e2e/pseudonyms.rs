//! Keyed pseudonyms: tombstones, privacy rows and export keys name a lead by
//! HMAC under a secret key (with its key id), never by a hash anyone can
//! recompute; after a key rotation, records of the older key still match.

use aws_sdk_dynamodb::types::AttributeValue;
use optcast_shared::ids::{PageId, Psid};
use optcast_shared::pseudonym::{self, legacy_subject_digest, SUBJECT};
use optcast_shared::store::{tombstone_pk, tombstone_pk_of};
use optcast_tests::*;
use reqwest::Method;

const PAGE: &str = "1000000000000901";
const LEAD: &str = "2000000000000901";

#[tokio::test]
async fn records_name_a_lead_by_a_keyed_pseudonym_and_older_keys_still_match_after_a_rotation() {
    let app = spawn_app().await;
    let (page, psid) = (PageId::parse(PAGE).unwrap(), Psid::parse(LEAD).unwrap());
    let t = optcast_shared::http::now_ms();
    app.say_at(PAGE, LEAD, "m_ps0", "first words", t - 60_000).await;
    app.erase(PAGE, LEAD).await;

    // The tombstone is keyed by the current key's pseudonym (key id `t2`),
    // not by the unkeyed SHA-256 anyone could recompute from the PSID.
    let dump = app.dump_tables().await;
    let legacy = legacy_subject_digest(&page, &psid);
    assert!(!dump.contains(&legacy), "an unkeyed digest was stored");
    let current = tombstone_pk(&page, &psid);
    assert!(current.contains("#GONE#t2."), "{current}");
    let tombstone = current_tombstone(&app, &page, &psid).await;
    let erasure_rows: Vec<Item> = app
        .scan("PrivacyTable")
        .await
        .into_iter()
        .filter(|i| s(i, "pk").starts_with("ERASURE#"))
        .collect();
    assert_eq!(erasure_rows.len(), 1);
    assert_eq!(
        s(&erasure_rows[0], "subject_digest"),
        pseudonym::keys().subject(&page, &psid)
    );
    // Privacy rows expire (three years) instead of living forever.
    let expires: i64 = erasure_rows[0]["expires_at"].as_n().unwrap().parse().unwrap();
    let three_years_s = 3 * 365 * 86_400;
    assert!((expires - (t / 1000 + three_years_s)).abs() < 3_600, "{expires}");

    // As if the erasure had happened before the key rotated: the tombstone
    // carries the older key's pseudonym.
    put_under_the_older_key(&app, &page, tombstone.clone()).await;
    app.ddb
        .delete_item()
        .table_name(app.physical("ConsentLogTable"))
        .key("pk", tombstone["pk"].clone())
        .key("sk", tombstone["sk"].clone())
        .send()
        .await
        .unwrap();
    // A message written before the erasure, delivered now: the older key's
    // tombstone is found, and the lead stays erased.
    app.say_at(PAGE, LEAD, "m_ps1", "late words", t - 30_000).await;
    let (status, lead) = app
        .api(Method::GET, &format!("/v1/pages/{PAGE}/subscribers/{LEAD}"), None)
        .await;
    assert_eq!(status, 404, "the lead came back: {lead}");
    app.stack.stop().await;
}

#[tokio::test]
async fn the_latest_erasure_under_any_key_holds_back_an_older_message() {
    let app = spawn_app().await;
    let (page, psid) = (PageId::parse(PAGE).unwrap(), Psid::parse(LEAD).unwrap());
    let t = optcast_shared::http::now_ms();
    app.say_at(PAGE, LEAD, "m_lt0", "first words", t - 60_000).await;
    app.erase(PAGE, LEAD).await;
    let tombstone = current_tombstone(&app, &page, &psid).await;
    // A later erasure of the same lead written under the older key (by an
    // instance that had not yet seen the rotation), two minutes on.
    let erased_at: i64 = tombstone["erased_at_ms"].as_n().unwrap().parse().unwrap();
    let mut later = tombstone;
    later.insert(
        "erased_at_ms".into(),
        AttributeValue::N((erased_at + 120_000).to_string()),
    );
    put_under_the_older_key(&app, &page, later).await;
    // A message from between the two erasures: the latest one holds it back
    // (the current key's tombstone alone would let the lead come back).
    app.say_at(PAGE, LEAD, "m_lt1", "between the erasures", erased_at + 30_000)
        .await;
    let (status, lead) = app
        .api(Method::GET, &format!("/v1/pages/{PAGE}/subscribers/{LEAD}"), None)
        .await;
    assert_eq!(status, 404, "the lead came back: {lead}");
    app.stack.stop().await;
}

/// The lead's erasure tombstone under the current key, as stored.
async fn current_tombstone(app: &TestApp, page: &PageId, psid: &Psid) -> Item {
    app.scan("ConsentLogTable")
        .await
        .into_iter()
        .find(|i| s(i, "pk") == tombstone_pk(page, psid))
        .expect("tombstone under the current key")
}

/// Writes `tombstone` (the lead's) again, keyed by the older key's (`t1`)
/// pseudonym of the lead.
async fn put_under_the_older_key(app: &TestApp, page: &PageId, mut tombstone: Item) {
    let older = pseudonym::keys().digest_with("t1", SUBJECT, &[PAGE, LEAD]).unwrap();
    tombstone.insert("pk".into(), AttributeValue::S(tombstone_pk_of(page, &older)));
    app.ddb
        .put_item()
        .table_name(app.physical("ConsentLogTable"))
        .set_item(Some(tombstone))
        .send()
        .await
        .unwrap();
}
