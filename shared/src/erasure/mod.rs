//! Erasure of one subject (a lead of one page). The subject's data key goes
//! first, in the same transaction as their subscriber record, so every
//! ciphertext of theirs (backups included: the key table has none) is
//! unreadable at once; then every item about them is deleted (their
//! quarantined items by the caller, once for all the subjects it erases,
//! after their shreds). What proof requires stays: a tombstone in the
//! consent log, keyed and filled with hashes only. Every step is
//! idempotent, so an erasure may run twice.

use serde::{Deserialize, Serialize};

use crate::ids::{PageId, Psid};
use crate::quarantine::Quarantine;
use crate::queue::QueueError;
use crate::store::{Item, Store, StoreError};

mod requests;
pub use crate::ids::new_request_id;
pub use crate::lead::ErasureReason;
pub use crate::store::Requests;
pub use crate::store::Shred;
pub use requests::*;

/// Why an erasure request could not be made.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("erasure queue: {0}")]
    Queue(#[from] QueueError),
}

/// Records an erasure request of `reason` for one subject (named by digest
/// only) and queues its job for the eraser; the request's id. Recorded
/// first, so the job always finds its request. `purge_shredded_at_ms`: a
/// retention purge shredded the subject at this time and hands over the
/// rest (data was held; the eraser erases only what is dated before it, see
/// [`crate::queue::ErasureJob`]); `None` for an erasure request.
///
/// # Errors
/// [`RequestError::Store`] when the request cannot be recorded,
/// [`RequestError::Queue`] when its job cannot be queued.
pub async fn request_subject_erasure(
    requests: &Requests,
    erasures: &crate::queue::Producer<crate::queue::ErasureJob>,
    page: &PageId,
    psid: &Psid,
    reason: ErasureReason,
    purge_shredded_at_ms: Option<i64>,
    now_ms: i64,
) -> Result<String, RequestError> {
    let id = new_request_id();
    let digest = crate::crypto::subject_digest(page, psid);
    requests.create(&id, reason, Some(page), &digest, now_ms).await?;
    erasures
        .send(&crate::queue::ErasureJob::ErasureV1 {
            request_id: id.clone(),
            target: crate::queue::ErasureTarget::Subject {
                page_id: page.clone(),
                psid: psid.clone(),
            },
            found_before: purge_shredded_at_ms.is_some(),
            shredded_at_ms: purge_shredded_at_ms,
        })
        .await?;
    Ok(id)
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
    /// Quarantined items (records in S3, every version) that held the
    /// subject's data: someone never stored as a lead may have left some.
    #[serde(default)]
    pub quarantined: u64,
    /// The subject's items taken out of raw deliveries held in the ingest
    /// dead-letter queues.
    #[serde(default)]
    pub dead_letter_items: u64,
}

impl ErasureReport {
    /// Whether anything of the subject was found and deleted: a request
    /// that deleted only quarantined or dead-lettered items still did (it
    /// read "no data", and the status page told the person we held none).
    pub fn held_data(&self) -> bool {
        self.subscriber
            + self.messages
            + self.consent_records
            + self.deliveries
            + self.exports
            + self.quarantined
            + self.dead_letter_items
            > 0
    }
    pub fn add(&mut self, other: &ErasureReport) {
        self.subscriber += other.subscriber;
        self.messages += other.messages;
        self.consent_records += other.consent_records;
        self.deliveries += other.deliveries;
        self.exports += other.exports;
        self.quarantined += other.quarantined;
        self.dead_letter_items += other.dead_letter_items;
    }
}

/// Erases subjects from the lead tables and the deliveries table.
#[derive(Clone)]
pub struct Eraser {
    pub store: Store,
    pub deliveries: String,
    /// The privacy table, where the sweep's checkpoints are.
    pub privacy: String,
    /// The bucket exports are written to, if this eraser deletes them.
    pub exports: Option<(crate::config::S3, String)>,
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
    pub fn with_exports(mut self, s3: impl Into<crate::config::S3>, bucket: impl Into<String>) -> Self {
        self.exports = Some((s3.into(), bucket.into()));
        self
    }

    /// The quarantine this eraser deletes from, if it was given the bucket.
    fn quarantine(&self) -> Option<Quarantine> {
        self.exports.as_ref().map(|(s3, bucket)| Quarantine {
            s3: s3.clone(),
            bucket: bucket.clone(),
        })
    }

    /// Deletes the quarantined items of every subject `psids` names on
    /// `page` (found by the subject digest kept beside each record), every
    /// version, from one listing taken now; returns how many. Erasures leave
    /// the quarantine to their caller, to be called once after the batch: the
    /// sweeper calls this (the eraser, which also matches records kept
    /// without a digest, [`crate::raw_copies::RawCopies::purge_quarantine`]).
    /// The listing comes after every shred of the batch, and the quarantine
    /// is listed (each record's metadata read) once per batch, not per lead.
    ///
    /// # Errors
    /// [`StoreError::S3`] when listing, reading metadata or deleting fails.
    pub async fn delete_quarantined_of(&self, page: &PageId, psids: &[Psid]) -> Result<u64, StoreError> {
        let Some(quarantine) = self.quarantine() else {
            return Ok(0);
        };
        let subjects: Vec<(PageId, Psid)> = psids.iter().map(|p| (page.clone(), p.clone())).collect();
        quarantine
            .delete_subjects(&subjects, None, |_| std::future::ready(Ok(false)))
            .await
            .map_err(quarantine_error)
    }

    /// Deletes every version of every export about the subject (written
    /// before `dated_before`, if given).
    async fn delete_exports(&self, page: &PageId, psid: &Psid, dated_before: Option<i64>) -> Result<u64, StoreError> {
        let Some((s3, bucket)) = &self.exports else {
            return Ok(0);
        };
        // One prefix per pseudonym key (exports are filed under the key
        // current when they were made): listed side by side.
        let deleted =
            futures_util::future::try_join_all(crate::pseudonym::keys().subject_lookups(page, psid).into_iter().map(
                |pseudonym| async move {
                    let prefix = crate::export::subject_prefix_of(page, &pseudonym);
                    match dated_before {
                        None => crate::objects::delete_all_versions(s3, bucket, &prefix, false).await,
                        Some(t) => crate::objects::delete_versions_before(s3, bucket, &prefix, t).await,
                    }
                },
            ))
            .await
            .map_err(StoreError::s3_text)?;
        Ok(deleted.iter().sum())
    }

    /// Destroys the subject's data key and subscriber record, writing the
    /// tombstone, in one transaction. Returns false when there was no
    /// subscriber (never stored, or erased before).
    ///
    /// # Errors
    /// [`StoreError`] when DynamoDB fails ([`StoreError::is_retryable`] says
    /// whether to try again).
    pub async fn shred(
        &self,
        page: &PageId,
        psid: &Psid,
        reason: ErasureReason,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        Ok(self.store.shred_subject(page, psid, reason, now_ms, |_| true).await? == Shred::Shredded)
    }

    /// Shreds the subject (their data key and subscriber record, the
    /// tombstone written) if `guard` accepts their subscriber record, or
    /// there is none left; what is left of them is then
    /// [`Eraser::delete_after_shred`]'s.
    ///
    /// # Errors
    /// [`StoreError`] when DynamoDB fails.
    pub async fn shred_if(
        &self,
        page: &PageId,
        psid: &Psid,
        reason: ErasureReason,
        now_ms: i64,
        guard: impl Fn(&Item) -> bool,
    ) -> Result<Shred, StoreError> {
        self.store.shred_subject(page, psid, reason, now_ms, guard).await
    }

    /// Deletes what is left of a shredded subject but their quarantined
    /// items: messages, consent records, deliveries, exports and the sweep's
    /// checkpoints naming them (`subscriber` is 0 in the report). With
    /// `dated_before` (ms), only what is dated before it (a retention
    /// purge's hand-over: what is dated since is a new lead's, see
    /// [`crate::queue::ErasureJob`]).
    ///
    /// # Errors
    /// [`StoreError`] when DynamoDB or S3 fails; a retry finishes the work.
    pub async fn delete_after_shred(
        &self,
        page: &PageId,
        psid: &Psid,
        now_ms: i64,
        dated_before: Option<i64>,
    ) -> Result<ErasureReport, StoreError> {
        // Once the key is gone, the rest are independent: run together, so
        // an erasure waits for its slowest deletion, not for their sum.
        // Boxed: side by side, their state would not fit a task's stack.
        let (deleted, exports, ()) = tokio::try_join!(
            Box::pin(
                self.store
                    .delete_subject_records(page, psid, &self.deliveries, now_ms, dated_before)
            ),
            Box::pin(self.delete_exports(page, psid, dated_before)),
            Box::pin(self.forget_sweep_positions(page, psid)),
        )?;
        Ok(ErasureReport {
            subscriber: 0,
            messages: deleted.messages,
            consent_records: deleted.consent_records,
            deliveries: deleted.deliveries,
            exports,
            ..ErasureReport::default()
        })
    }

    /// Drops the sweep's checkpoints that name the subject.
    async fn forget_sweep_positions(&self, page: &PageId, psid: &Psid) -> Result<(), StoreError> {
        self.store.forget_sweep_positions(&self.privacy, page, psid).await
    }
}

/// A quarantine failure as the erasure's storage error.
fn quarantine_error(e: QueueError) -> StoreError {
    match e {
        QueueError::S3(m) => StoreError::s3_text(m),
        other => StoreError::s3_text(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_random_and_hex() {
        let (a, b) = (new_request_id(), new_request_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 24);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
