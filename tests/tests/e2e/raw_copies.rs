//! Erasure reaches the raw deliveries still held in the ingest dead-letter
//! queues, inline and claim-checked: the erased person's items are taken
//! out, everyone else's are kept with their proof.

use optcast_shared::crypto::KeyRing;
use optcast_shared::queue::{self, ClaimCheck, DeliveryBody, IngestJob, Producer};
use optcast_tests::*;
use reqwest::Method;
use serde_json::json;

const PAGE: &str = "1000000000000801";
const ERASED: &str = "2000000000000801";
const OTHER: &str = "2000000000000802";

fn message(psid: &str, mid: &str, text: &str, ts: i64) -> serde_json::Value {
    json!({"sender": {"id": psid}, "recipient": {"id": PAGE}, "timestamp": ts, "message": {"mid": mid, "text": text}})
}

fn delivery(items: Vec<serde_json::Value>, ts: i64) -> String {
    json!({"object": "page", "entry": [{"id": PAGE, "time": ts, "messaging": items}]}).to_string()
}

#[tokio::test]
async fn an_erasure_takes_the_subjects_items_out_of_dead_lettered_deliveries() {
    let app = spawn_app().await;
    app.register_page(PAGE).await;
    let t = optcast_shared::http::now_ms();
    app.say(PAGE, ERASED, "m_rc0", "hello").await;
    let keys = KeyRing::new(app.kms.clone(), app.physical("DataKey"));
    let bucket = app.physical("DataBucket");
    let dlq = app.physical("IngestDeadLetterQueue");
    let chunk_dlq = app.physical("IngestChunkDeadLetterQueue");
    // Three dead-lettered deliveries: a mixed one inline, one of only the
    // erased person's, and a mixed one large enough to be claim-checked.
    let mixed = delivery(
        vec![
            message(ERASED, "m_rc1", "secret words of the erased", t),
            message(OTHER, "m_rc2", "words that stay", t),
        ],
        t,
    );
    let only_theirs = delivery(vec![message(ERASED, "m_rc3", "secret words of the erased", t)], t);
    let padding = "p".repeat(250 * 1024);
    let large = delivery(
        vec![
            message(ERASED, "m_rc4", "secret words of the erased", t),
            message(OTHER, "m_rc5", &padding, t),
        ],
        t,
    );
    for (queue_url, body) in [(&dlq, &mixed), (&dlq, &only_theirs), (&chunk_dlq, &large)] {
        let claims = ClaimCheck {
            s3: &app.s3,
            keys: &keys,
            bucket: &bucket,
        };
        Producer::<IngestJob>::new(app.sqs.clone(), queue_url.as_str())
            .enqueue(&claims, body.as_bytes(), t)
            .await
            .unwrap();
    }
    let claims = || async {
        let out = app
            .s3
            .list_object_versions()
            .bucket(&bucket)
            .prefix("claims/")
            .send()
            .await
            .unwrap();
        out.versions()
            .iter()
            .map(|v| v.key().unwrap_or_default().to_string())
            .collect::<Vec<_>>()
    };
    let claims_before = claims().await;
    assert_eq!(claims_before.len(), 1, "the large delivery is claim-checked");

    // Quarantined without a digest naming them (the entry's page id is not
    // Meta's, so the item's page is unknown), beside another person's.
    let unreadable_page = json!({"object": "page", "entry": [
        {"id": "not-a-page", "time": t, "messaging": [message(ERASED, "m_rc6", "secret words of the erased", t)]},
        {"id": "not-a-page", "time": t, "messaging": [message(OTHER, "m_rc7", "kept in quarantine", t)]}]});
    assert_eq!(
        app.post_signed(unreadable_page.to_string().as_bytes()).await.status(),
        200
    );
    let quarantined = app.wait_quarantined(2).await;
    assert!(
        quarantined.iter().all(|r| r.subject_digest.is_none()),
        "{quarantined:?}"
    );

    let id = app.erase(PAGE, ERASED).await;
    assert_eq!(
        app.api(Method::GET, &format!("/v1/erasure/{id}"), None).await.1["status"],
        "completed"
    );

    // What is left in the DLQs: the two mixed deliveries, rebuilt without
    // the erased person's items; nothing of theirs, inline or in a claim.
    let left = app.dead_letters().await;
    assert_eq!(left.len(), 2, "{left:?}");
    let mut bodies = Vec::new();
    for message in &left {
        let job = queue::parse_job::<queue::IngestJob>(message).unwrap();
        let job = job.delivery();
        assert_eq!(job.received_at_ms, t, "the time of receipt is kept");
        let body = String::from_utf8(queue::load_body(job, &app.s3.clone().into(), &keys).await.unwrap()).unwrap();
        assert!(!body.contains(ERASED) && !body.contains("secret words"), "{body}");
        assert!(body.contains("m_rc2") || body.contains("m_rc5"), "{body}");
        if matches!(job.body, DeliveryBody::Claim { .. }) {
            assert_eq!(job.body_sha256, optcast_shared::queue::sha256_hex(large.as_bytes()));
        }
        bodies.push(body);
    }
    assert!(bodies.iter().any(|b| b.contains("words that stay")));
    // The old claim is gone with every version; a new one holds the rest.
    // The quarantined item of theirs is gone; the other person's stays.
    let left_quarantined = app.quarantine().list(None, 1000).await.unwrap().0;
    assert_eq!(left_quarantined.len(), 1, "{left_quarantined:?}");
    let kept = String::from_utf8(
        queue::get_sealed(
            &app.s3,
            &keys,
            &bucket,
            &optcast_shared::quarantine::object_key(&left_quarantined[0].id),
        )
        .await
        .unwrap(),
    )
    .unwrap();
    assert!(kept.contains("m_rc7") && !kept.contains(ERASED), "{kept}");
    let after = claims().await;
    assert_eq!(after.len(), 1, "{after:?}");
    assert!(!after.contains(&claims_before[0]), "the old claim is still held");
    // Replayed into ingest, the rebuilt deliveries apply the other lead's
    // messages and bring nothing of the erased one back.
    for message in left {
        app.sqs
            .send_message()
            .queue_url(app.physical("IngestQueue"))
            .message_body(message)
            .send()
            .await
            .unwrap();
    }
    let marker = event_marker(PAGE, OTHER, "m_rc5");
    eventually("the other lead's messages ingested", || async {
        app.scan("EventsTable").await.iter().any(|e| s(e, "pk") == marker)
    })
    .await;
    assert_eq!(app.status(PAGE, OTHER).await, "subscribed");
    assert!(!app.dump_tables().await.contains(ERASED));
    app.stack.stop().await;
}
