//! Erasure of one subject (a lead of one page). The subject's data key goes
//! first, in the same transaction as their subscriber record, so every
//! ciphertext of theirs (backups included: the key table has none) is
//! unreadable at once; then every item about them is deleted. What proof
//! requires stays: a tombstone in the consent log, keyed and filled with
//! hashes only. Every step is idempotent, so an erasure may run twice.

use aws_sdk_dynamodb::types::{Delete, DeleteRequest, Put, TransactWriteItem, WriteRequest};
use serde::{Deserialize, Serialize};

use crate::crypto::subject_digest;
use crate::ids::{PageId, Psid};
use crate::queue::sha256_hex;
use crate::store::{
    base_key, n, opt_n, opt_s, s, subject_pk, subscriber_pk, subscriber_sk, tombstone_pk, Item, Store, StoreError,
    SUBJECT_INDEX,
};

mod requests;
pub use requests::*;

/// A tombstone keeps at most this many consent changes (item size limit).
const TOMBSTONE_HISTORY_LIMIT: usize = 1000;
const SHRED_ATTEMPTS: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErasureReason {
    /// `POST /v1/erasure`.
    Request,
    /// Meta's data-deletion callback.
    MetaDeletionCallback,
    /// The sweep: unsubscribed for longer than the purge period.
    UnsubscribedPurge,
}

impl ErasureReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ErasureReason::Request => "request",
            ErasureReason::MetaDeletionCallback => "meta_deletion_callback",
            ErasureReason::UnsubscribedPurge => "unsubscribed_purge",
        }
    }
}

/// What one erasure found and deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasureReport {
    pub subscriber: u64,
    pub messages: u64,
    pub consent_records: u64,
    pub deliveries: u64,
    /// Export documents (object versions) in S3.
    #[serde(default)]
    pub exports: u64,
}

impl ErasureReport {
    pub fn held_data(&self) -> bool {
        self.subscriber + self.messages + self.consent_records + self.deliveries + self.exports > 0
    }
    pub fn add(&mut self, other: &ErasureReport) {
        self.subscriber += other.subscriber;
        self.messages += other.messages;
        self.consent_records += other.consent_records;
        self.deliveries += other.deliveries;
        self.exports += other.exports;
    }
}

/// What shredding did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shred {
    /// The key and subscriber record were destroyed now.
    Shredded,
    /// There was no subscriber (never stored, or shredded before).
    Gone,
    /// The guard declined (the subscriber no longer qualifies).
    Declined,
}

/// Erases subjects from the lead tables and the deliveries table.
#[derive(Clone)]
pub struct Eraser {
    pub store: Store,
    pub deliveries: String,
    /// The privacy table, where the sweep's checkpoints are.
    pub privacy: String,
    /// The bucket exports are written to, if this eraser deletes them.
    pub exports: Option<(aws_sdk_s3::Client, String)>,
}

impl Eraser {
    pub fn new(store: Store, deliveries: impl Into<String>, privacy: impl Into<String>) -> Self {
        Self {
            store,
            deliveries: deliveries.into(),
            privacy: privacy.into(),
            exports: None,
        }
    }

    /// Also deletes the subject's export documents from `bucket`.
    pub fn with_exports(mut self, s3: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        self.exports = Some((s3, bucket.into()));
        self
    }

    /// Deletes every quarantined item a subject sent (found by the subject
    /// digest kept beside each record), every version; returns how many.
    async fn delete_quarantined(&self, page: &PageId, psid: &Psid) -> Result<u64, StoreError> {
        let Some((s3, bucket)) = &self.exports else {
            return Ok(0);
        };
        let quarantine = crate::quarantine::Quarantine {
            s3: s3.clone(),
            bucket: bucket.clone(),
        };
        // Records carry the pseudonym of the key current when they were kept.
        let lookups = crate::pseudonym::keys().subject_lookups(page, psid);
        let s3_err = |e: crate::queue::QueueError| match e {
            crate::queue::QueueError::S3(m) => StoreError::s3_text(m),
            other => StoreError::s3_text(other.to_string()),
        };
        let mut deleted = 0;
        for record in quarantine.list_all().await.map_err(s3_err)? {
            if record.subject_digest.as_ref().is_some_and(|d| lookups.contains(d)) {
                quarantine.delete(&record.id).await.map_err(s3_err)?;
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    /// Deletes every version of every export about the subject.
    async fn delete_exports(&self, page: &PageId, psid: &Psid) -> Result<u64, StoreError> {
        let Some((s3, bucket)) = &self.exports else {
            return Ok(0);
        };
        let mut deleted = 0;
        for pseudonym in crate::pseudonym::keys().subject_lookups(page, psid) {
            let prefix = crate::export::subject_prefix_of(page, &pseudonym);
            deleted += crate::objects::delete_all_versions(s3, bucket, &prefix, false)
                .await
                .map_err(StoreError::s3_text)?;
        }
        Ok(deleted)
    }

    /// Destroys the subject's data key and subscriber record, writing the
    /// tombstone, in one transaction. Returns false when there was no
    /// subscriber (never stored, or erased before).
    pub async fn shred(
        &self,
        page: &PageId,
        psid: &Psid,
        reason: ErasureReason,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        Ok(self.shred_if(page, psid, reason, now_ms, |_| true).await? == Shred::Shredded)
    }

    /// `shred`, only if `guard` accepts the subscriber as read; the version
    /// check in the transaction makes the decision hold at the write.
    pub async fn shred_if(
        &self,
        page: &PageId,
        psid: &Psid,
        reason: ErasureReason,
        now_ms: i64,
        guard: impl Fn(&Item) -> bool,
    ) -> Result<Shred, StoreError> {
        let tables = &self.store.tables;
        for _ in 0..SHRED_ATTEMPTS {
            let Some(sub) = self.store.subscriber_item(page, psid).await? else {
                // A key without a subscriber can only be left by a failed
                // write; delete it anyway.
                self.store
                    .ddb
                    .delete_item()
                    .table_name(&tables.subject_keys)
                    .key("pk", s(subject_pk(page, psid)))
                    .send()
                    .await
                    .map_err(StoreError::dynamo)?;
                return Ok(Shred::Gone);
            };
            if !guard(&sub) {
                return Ok(Shred::Declined);
            }
            let version = opt_n(&sub, "version").unwrap_or(0);
            let history = self.store.consent_history(page, psid).await?;
            let tombstone = tombstone(page, psid, &sub, &history, reason, now_ms);
            let items = vec![
                TransactWriteItem::builder()
                    .delete(
                        Delete::builder()
                            .table_name(&tables.subscribers)
                            .key("pk", s(subscriber_pk(page)))
                            .key("sk", s(subscriber_sk(psid)))
                            .condition_expression("version = :v")
                            .expression_attribute_values(":v", n(version))
                            .build()
                            .map_err(|_| StoreError::Corrupt("delete"))?,
                    )
                    .build(),
                TransactWriteItem::builder()
                    .delete(
                        Delete::builder()
                            .table_name(&tables.subject_keys)
                            .key("pk", s(subject_pk(page, psid)))
                            .build()
                            .map_err(|_| StoreError::Corrupt("delete"))?,
                    )
                    .build(),
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(&tables.consent_log)
                            .set_item(Some(tombstone))
                            .build()
                            .map_err(|_| StoreError::Corrupt("put"))?,
                    )
                    .build(),
            ];
            match self
                .store
                .ddb
                .transact_write_items()
                .set_transact_items(Some(items))
                .send()
                .await
            {
                Ok(_) => return Ok(Shred::Shredded),
                Err(err) => {
                    let conflict = matches!(
                        err.as_service_error(),
                        Some(aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(_))
                    );
                    if !conflict {
                        return Err(StoreError::dynamo(err));
                    }
                    // The subscriber changed under us (an event was ingested):
                    // read it again, so the tombstone holds the latest history.
                }
            }
        }
        Err(StoreError::exhausted("subscriber kept changing during erasure"))
    }

    /// Erases everything held on one subject.
    pub async fn erase(
        &self,
        page: &PageId,
        psid: &Psid,
        reason: ErasureReason,
        now_ms: i64,
    ) -> Result<ErasureReport, StoreError> {
        Ok(self
            .erase_if(page, psid, reason, now_ms, |_| true)
            .await?
            .unwrap_or_default())
    }

    /// Erases the subject if `guard` accepts their subscriber record (or there
    /// is none left, finishing an earlier run); None if it declined.
    pub async fn erase_if(
        &self,
        page: &PageId,
        psid: &Psid,
        reason: ErasureReason,
        now_ms: i64,
        guard: impl Fn(&Item) -> bool,
    ) -> Result<Option<ErasureReport>, StoreError> {
        let shred = self.shred_if(page, psid, reason, now_ms, guard).await?;
        if shred == Shred::Declined {
            return Ok(None);
        }
        let mut report = ErasureReport {
            subscriber: u64::from(shred == Shred::Shredded),
            ..Default::default()
        };
        let pk = subject_pk(page, psid);
        let tables = &self.store.tables;
        report.messages = self.delete_partition(&tables.messages, None, "pk", &pk).await?;
        report.consent_records = self.delete_partition(&tables.consent_log, None, "pk", &pk).await?;
        report.deliveries = self
            .delete_partition(&self.deliveries, Some(SUBJECT_INDEX), "subject_pk", &pk)
            .await?;
        report.exports = self.delete_exports(page, psid).await?;
        let quarantined = self.delete_quarantined(page, psid).await?;
        if quarantined > 0 {
            tracing::info!(quarantined, "quarantined items of the subject deleted");
        }
        self.forget_sweep_positions(page, psid).await?;
        Ok(Some(report))
    }

    /// Drops the sweep's checkpoints that name the subject.
    async fn forget_sweep_positions(&self, page: &PageId, psid: &Psid) -> Result<(), StoreError> {
        crate::store::sweep::forget_sweep_positions(&self.store.ddb, &self.privacy, page, psid).await
    }

    /// Deletes every item whose `attr` is `value` (in the table or one of its
    /// indexes), page by page so memory stays bounded.
    async fn delete_partition(
        &self,
        table: &str,
        index: Option<&str>,
        attr: &str,
        value: &str,
    ) -> Result<u64, StoreError> {
        let mut deleted = 0;
        loop {
            // Always from the start: what was deleted is gone from the base
            // table; an index may lag, so repeat until it shows nothing.
            let (items, _) = self
                .store
                .query_partition(table, index, attr, value, None, Some(250), Some("pk, sk"))
                .await?;
            if items.is_empty() {
                return Ok(deleted);
            }
            deleted += delete_keys(&self.store.ddb, table, items.iter().map(base_key).collect()).await?;
        }
    }
}

/// Tries of one `BatchWriteItem` while DynamoDB leaves items unprocessed.
const UNPROCESSED_ATTEMPTS: u32 = 10;

/// Deletes items by key with `BatchWriteItem`, 25 a call, retrying what
/// DynamoDB leaves unprocessed. Returns how many keys were given.
pub async fn delete_keys(ddb: &aws_sdk_dynamodb::Client, table: &str, keys: Vec<Item>) -> Result<u64, StoreError> {
    let total = keys.len() as u64;
    for chunk in keys.chunks(25) {
        let mut pending: Vec<WriteRequest> = chunk
            .iter()
            .map(|k| {
                DeleteRequest::builder()
                    .set_key(Some(k.clone()))
                    .build()
                    .map(|d| WriteRequest::builder().delete_request(d).build())
                    .map_err(|_| StoreError::Corrupt("delete request"))
            })
            .collect::<Result<_, _>>()?;
        let mut backoff_ms = 20;
        let mut attempt = 0;
        while !pending.is_empty() {
            attempt += 1;
            // A table that stays throttled fails the call (its caller is
            // retried: a sweep resumes from its checkpoint, an erasure from
            // its queue) rather than spinning until the function times out.
            if attempt > UNPROCESSED_ATTEMPTS {
                return Err(StoreError::exhausted(format!(
                    "{} delete(s) still unprocessed after {UNPROCESSED_ATTEMPTS} tries",
                    pending.len()
                )));
            }
            let out = ddb
                .batch_write_item()
                .request_items(table, pending)
                .send()
                .await
                .map_err(StoreError::dynamo)?;
            pending = out
                .unprocessed_items()
                .and_then(|u| u.get(table))
                .cloned()
                .unwrap_or_default();
            if !pending.is_empty() {
                tokio::time::sleep(std::time::Duration::from_millis(backoff_ms)).await;
                backoff_ms = (backoff_ms * 2).min(1000);
            }
        }
    }
    Ok(total)
}

/// The tombstone: hashed subject, when and why it was erased, and the consent
/// history with its hashed proofs (never the PSID, the mids or any text).
fn tombstone(page: &PageId, psid: &Psid, sub: &Item, history: &[Item], reason: ErasureReason, now_ms: i64) -> Item {
    use aws_sdk_dynamodb::types::AttributeValue;
    let mut item = Item::new();
    item.insert("pk".into(), s(tombstone_pk(page, psid)));
    let created = opt_n(sub, "created_at_ms").unwrap_or(0);
    // One tombstone per stored lifetime of the subject: a repeated erasure of
    // the same record writes the same key.
    item.insert("sk".into(), s(format!("ERASED#{created:013}")));
    item.insert("page_id".into(), s(page.as_str()));
    item.insert("subject_digest".into(), s(subject_digest(page, psid)));
    item.insert("erased_at_ms".into(), n(now_ms));
    item.insert("reason".into(), s(reason.as_str()));
    if let Some(status) = opt_s(sub, "status") {
        item.insert("status_before".into(), s(status));
    }
    if let Some(at) = opt_n(sub, "consent_changed_at_ms") {
        item.insert("consent_changed_at_ms".into(), n(at));
    }
    let skip = history.len().saturating_sub(TOMBSTONE_HISTORY_LIMIT);
    if skip > 0 {
        item.insert("history_dropped".into(), n(skip));
    }
    let entries = history
        .iter()
        .skip(skip)
        .map(|h| {
            let mut e = Item::new();
            for k in ["from", "to", "reason", "event_sha256", "delivery_sha256"] {
                if let Some(v) = opt_s(h, k) {
                    e.insert(k.into(), s(v));
                }
            }
            if let Some(at) = opt_n(h, "at_ms") {
                e.insert("at_ms".into(), n(at));
            }
            if let Some(key) = opt_s(h, "event_key") {
                e.insert("event_key_sha256".into(), s(sha256_hex(key.as_bytes())));
            }
            AttributeValue::M(e)
        })
        .collect();
    item.insert("history".into(), AttributeValue::L(entries));
    item
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(pairs: &[(&str, &str)]) -> Item {
        pairs.iter().map(|(k, v)| (k.to_string(), s(*v))).collect()
    }

    #[test]
    fn a_tombstone_holds_hashes_and_never_the_psid_or_the_mids() {
        let page = PageId::parse("1000000000000001").unwrap();
        let psid = Psid::parse("2000000000000001").unwrap();
        let mut sub = item(&[("status", "unsubscribed"), ("psid", "2000000000000001")]);
        sub.insert("created_at_ms".into(), n(5));
        let mut h = item(&[
            ("from", "subscribed"),
            ("to", "unsubscribed"),
            ("reason", "keyword"),
            ("event_key", "m_SECRET_MID"),
            ("event_sha256", "ab"),
            ("delivery_sha256", "cd"),
            ("pk", "PAGE#1000000000000001#SUB#2000000000000001"),
        ]);
        h.insert("at_ms".into(), n(9));
        let t = tombstone(&page, &psid, &sub, &[h], ErasureReason::Request, 10);
        let text = format!("{t:?}");
        assert!(!text.contains("2000000000000001"), "{text}");
        assert!(!text.contains("SECRET_MID"), "{text}");
        assert!(text.contains(&sha256_hex(b"m_SECRET_MID")));
        assert_eq!(t["sk"].as_s().unwrap(), "ERASED#0000000000005");
        assert_eq!(t["history"].as_l().unwrap().len(), 1);
        assert_eq!(t["status_before"].as_s().unwrap(), "unsubscribed");
    }

    #[test]
    fn a_long_history_is_capped_with_a_count_of_what_was_dropped() {
        let page = PageId::parse("1000000000000001").unwrap();
        let psid = Psid::parse("2000000000000002").unwrap();
        let history: Vec<Item> = (0..TOMBSTONE_HISTORY_LIMIT + 3)
            .map(|_| item(&[("to", "subscribed")]))
            .collect();
        let t = tombstone(&page, &psid, &Item::new(), &history, ErasureReason::Request, 1);
        assert_eq!(t["history"].as_l().unwrap().len(), TOMBSTONE_HISTORY_LIMIT);
        assert_eq!(t["history_dropped"].as_n().unwrap(), "3");
    }

    #[test]
    fn request_ids_are_random_and_hex() {
        let (a, b) = (new_request_id(), new_request_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 24);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
