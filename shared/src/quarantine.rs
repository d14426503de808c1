//! The quarantine: validly signed parts of deliveries that cannot be applied
//! (a body that is not a Meta delivery, an item nested too deep, an entry
//! without a page id, an event type we do not know yet). Each is kept in S3
//! under `quarantine/<id>`, sealed like a claim check, as a delivery of its
//! own, so it can be listed, read and replayed through ingest once the cause
//! is fixed. Ids are derived from the signed body and the item, so a retry or
//! a replay that fails again overwrites its record instead of adding one.
//! Records expire with the bucket's `expire-quarantine` rule (30 days).

use futures_util::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};

use crate::crypto::KeyRing;
use crate::ids::{PageId, Psid};
use crate::queue::{self, DeliveryBody, DeliveryJob, IngestJob, QueueError};

pub const PREFIX: &str = "quarantine/";

/// How many records' metadata a listing reads at once.
const HEADS_AT_ONCE: usize = 16;

/// What is known about a quarantined part.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct QuarantineRecord {
    pub id: String,
    /// Short, stable reason (`not_json`, `malformed_item`, `entry_id`, …).
    pub reason: String,
    /// The page it came for, when its entry named a valid one.
    pub page_id: Option<String>,
    /// SHA-256 (hex) of the signed delivery it was part of.
    pub delivery_sha256: String,
    /// When the webhook received that delivery (ms).
    pub received_at_ms: i64,
    /// Size of the kept (rebuilt) delivery, bytes.
    pub bytes: i64,
    /// Whose item it is, as a subject digest (for erasure; never listed).
    #[serde(skip)]
    pub subject_digest: Option<String>,
}

/// The id of a quarantined `item` (its raw bytes' SHA-256) of the delivery
/// `delivery_sha256`, or of the whole delivery when `item` is `None`.
pub fn id_for(delivery_sha256: &str, item_sha256: Option<&str>) -> String {
    let digest = Sha256::new()
        .chain_update(delivery_sha256)
        .chain_update([0])
        .chain_update(item_sha256.unwrap_or("delivery"))
        .finalize();
    hex::encode(&digest[..16])
}

/// Whether `id` can name a record (32 lowercase hex digits).
pub fn is_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

pub fn object_key(id: &str) -> String {
    format!("{PREFIX}{id}")
}

/// The quarantine in the data bucket.
pub struct Quarantine {
    pub s3: crate::config::S3,
    pub bucket: String,
}

impl Quarantine {
    /// Keeps `body` (a delivery) as record `id`. The subject, if known, is
    /// kept only as its digest (for erasure).
    ///
    /// # Errors
    /// [`QueueError`] when it could not be stored: the caller must fail.
    #[allow(clippy::too_many_arguments)]
    pub async fn put(
        &self,
        keys: &KeyRing,
        id: &str,
        body: &[u8],
        reason: &str,
        page: Option<&PageId>,
        subject: Option<&Psid>,
        delivery_sha256: &str,
        received_at_ms: i64,
    ) -> Result<(), QueueError> {
        let mut metadata = vec![
            ("reason", reason.to_string()),
            ("delivery-sha256", delivery_sha256.to_string()),
            ("received-at-ms", received_at_ms.to_string()),
        ];
        if let Some(page) = page {
            metadata.push(("page-id", page.to_string()));
            if let Some(psid) = subject {
                metadata.push(("subject-digest", crate::crypto::subject_digest(page, psid)));
            }
        }
        queue::put_sealed(&self.s3, keys, &self.bucket, &object_key(id), body, &metadata).await
    }

    /// One page of records, oldest key first, starting after `after`.
    ///
    /// # Errors
    /// [`QueueError::S3`] when listing or reading metadata fails.
    pub async fn list(
        &self,
        after: Option<&str>,
        limit: i32,
    ) -> Result<(Vec<QuarantineRecord>, Option<String>), QueueError> {
        let s3_error = |e: String| QueueError::S3(e);
        let out = self
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(PREFIX)
            .set_start_after(after.map(object_key))
            .max_keys(limit)
            .send()
            .await
            .map_err(|e| s3_error(aws_sdk_s3::error::DisplayErrorContext(e).to_string()))?;
        let listed: Vec<(&str, Option<i64>)> = out
            .contents()
            .iter()
            .filter_map(|object| Some((object.key()?.strip_prefix(PREFIX)?, object.size())))
            .collect();
        let last_listed = listed.last().map(|(id, _)| id.to_string());
        // Each record's metadata is a HEAD of its own: a few at once, in the
        // listing's order (a page of 100 read one after another took 100
        // round trips). The reads are made before they are streamed: a
        // stream over a lazy map keeps a closure rustc cannot prove `Send`.
        let reads: Vec<_> = listed
            .into_iter()
            .map(|(id, size)| self.listed_record(id, size))
            .collect();
        let records: Vec<Option<QuarantineRecord>> = futures_util::stream::iter(reads)
            .buffered(HEADS_AT_ONCE)
            .try_collect()
            .await?;
        let records: Vec<QuarantineRecord> = records.into_iter().flatten().collect();
        // The next page starts after the last key listed, not the last record
        // read: records replayed or deleted between the listing and their
        // HEAD must not end the listing early.
        let next = out.is_truncated().unwrap_or(false).then_some(last_listed).flatten();
        Ok((records, next))
    }

    /// Every record, oldest first (the quarantine stays small: an alarm
    /// fires on each record).
    ///
    /// # Errors
    /// As [`Quarantine::list`].
    pub async fn list_all(&self) -> Result<Vec<QuarantineRecord>, QueueError> {
        let (mut all, mut after) = (Vec::new(), None::<String>);
        loop {
            let (records, next) = self.list(after.as_deref(), 1000).await?;
            all.extend(records);
            match next {
                Some(id) => after = Some(id),
                None => return Ok(all),
            }
        }
    }

    /// Erasure's pass over the quarantine, from one listing taken now:
    /// deletes (every version of) each record whose subject digest names one
    /// of `subjects`, and each other record `unnamed` judges to be theirs
    /// (it may open the record; the sweeper's batches judge none); with
    /// `received_before` (ms), only records received before it. Returns
    /// how many were deleted. One listing serves every subject of a batch or
    /// job, each record's metadata read once.
    ///
    /// # Errors
    /// [`QueueError`] when listing or deleting fails, or `unnamed` fails for
    /// a record: that record is left, but every other one is still dealt
    /// with first (a record that cannot be opened does not shield the rest).
    pub async fn delete_subjects<F, Fut>(
        &self,
        subjects: &[(PageId, Psid)],
        received_before: Option<i64>,
        mut unnamed: F,
    ) -> Result<u64, QueueError>
    where
        F: FnMut(QuarantineRecord) -> Fut,
        Fut: std::future::Future<Output = Result<bool, QueueError>>,
    {
        if subjects.is_empty() {
            return Ok(0);
        }
        // Records carry the pseudonym of the key current when they were kept.
        let keys = crate::pseudonym::keys();
        let lookups: std::collections::HashSet<String> =
            subjects.iter().flat_map(|(p, s)| keys.subject_lookups(p, s)).collect();
        let (mut deleted, mut failed) = (0, None);
        for record in self.list_all().await? {
            if received_before.is_some_and(|t| record.received_at_ms >= t) {
                continue;
            }
            let id = record.id.clone();
            let named = record.subject_digest.as_ref().is_some_and(|d| lookups.contains(d));
            let theirs = named
                || unnamed(record).await.unwrap_or_else(|e| {
                    failed.get_or_insert(e);
                    false
                });
            if theirs {
                self.delete(&id).await?;
                deleted += 1;
            }
        }
        failed.map_or(Ok(deleted), Err)
    }

    /// Deletes record `id` with every version of it (erasure).
    ///
    /// # Errors
    /// [`QueueError::S3`] when S3 refuses.
    pub async fn delete(&self, id: &str) -> Result<(), QueueError> {
        crate::objects::delete_all_versions(&self.s3, &self.bucket, &object_key(id), true)
            .await
            .map_err(QueueError::S3)?;
        Ok(())
    }

    /// The record `id` a listing gave with `size` (bytes), if it still
    /// exists: the listing's size is authoritative (a HEAD may omit it).
    async fn listed_record(&self, id: &str, size: Option<i64>) -> Result<Option<QuarantineRecord>, QueueError> {
        Ok(self.get(id).await?.map(|record| QuarantineRecord {
            bytes: size.unwrap_or(record.bytes),
            ..record
        }))
    }

    /// The record `id`, if it exists.
    ///
    /// # Errors
    /// [`QueueError::S3`] when reading its metadata fails.
    pub async fn get(&self, id: &str) -> Result<Option<QuarantineRecord>, QueueError> {
        let out = match self
            .s3
            .head_object()
            .bucket(&self.bucket)
            .key(object_key(id))
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => return Ok(None),
            Err(e) => return Err(QueueError::S3(aws_sdk_s3::error::DisplayErrorContext(e).to_string())),
        };
        let meta = out.metadata().cloned().unwrap_or_default();
        let get = |k: &str| meta.get(k).cloned();
        Ok(Some(QuarantineRecord {
            id: id.to_string(),
            reason: get("reason").unwrap_or_default(),
            page_id: get("page-id"),
            delivery_sha256: get("delivery-sha256").unwrap_or_default(),
            received_at_ms: get("received-at-ms").and_then(|v| v.parse().ok()).unwrap_or(0),
            bytes: out.content_length().unwrap_or(0),
            subject_digest: get("subject-digest"),
        }))
    }

    /// The ingest job that replays `record`: a chunk whose body is the
    /// record itself, deleted once ingest applied it (kept if it fails again).
    pub fn replay_job(&self, record: &QuarantineRecord) -> IngestJob {
        IngestJob::ChunkV1(DeliveryJob {
            received_at_ms: record.received_at_ms,
            body_sha256: record.delivery_sha256.clone(),
            body: DeliveryBody::Claim {
                bucket: self.bucket.clone(),
                key: object_key(&record.id),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_per_delivery_and_item_and_well_formed() {
        let a = id_for("abc", Some("1"));
        assert_eq!(a, id_for("abc", Some("1")));
        assert_ne!(a, id_for("abc", Some("2")));
        assert_ne!(a, id_for("abd", Some("1")));
        assert_ne!(id_for("abc", None), a);
        assert!(is_id(&a));
        assert!(!is_id("../x") && !is_id(&"A".repeat(32)));
    }
}
