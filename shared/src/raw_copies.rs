//! Erasure reaches the raw deliveries optcast still holds. A delivery that
//! ingest could not apply sits in a dead-letter queue (up to 14 days), its
//! body inline or in a sealed claim-check object, and it may carry an erased
//! person's message text beside other people's events. Before an erasure is
//! reported complete, the eraser reads every message of the ingest DLQs and
//! takes the erased subjects' items out: a delivery of only theirs is
//! deleted (message and claim, every version); a mixed one is rebuilt
//! without them (the others keep their proof hash and time of receipt) and
//! put back, and the old message and claim are deleted. Deliveries that are
//! not about them are released untouched.
//!
//! SQS may answer a receive with nothing while messages wait (it samples
//! its servers), and two erasures may scan at once, each hiding what it
//! examines from the other; so reads long-poll, and a scan ends only when
//! the queue shows no hidden message and no more visible ones than the scan
//! has seen and kept, waiting up to [`MAX_WAIT_FOR_OTHERS`] and failing the
//! job (retried) otherwise.
//!
//! The quarantine is searched too: records kept without a digest naming the
//! subject (an item whose page or sender could not be read, a body that is
//! not a delivery) are opened and deleted when they hold the PSID.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{ChangeMessageVisibilityBatchRequestEntry, QueueAttributeName};
use serde::Serialize;

use crate::crypto::KeyRing;
use crate::ids::{PageId, Psid};
use crate::meta::{self, DeliveryItem, UnitRef};
use crate::queue::{self, sqs_err, ClaimCheck, IngestJob, Producer, QueueError};

/// Messages one purge reads per queue at most; a larger DLQ fails the job,
/// which is retried (and alarms) rather than completing with copies left.
pub const MAX_MESSAGES_PER_QUEUE: u64 = 20_000;
/// How long a message being examined stays hidden from other readers (s).
const HOLD_SECS: i32 = 300;
/// How long a scan waits for messages another reader holds.
pub const MAX_WAIT_FOR_OTHERS: Duration = Duration::from_secs(120);

/// What a purge did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PurgeReport {
    pub messages_read: u64,
    /// Messages put back without the subjects' items.
    pub messages_rewritten: u64,
    /// Messages that held only the subjects' items, deleted.
    pub messages_deleted: u64,
    pub items_removed: u64,
}

impl PurgeReport {
    pub fn add(&mut self, other: &PurgeReport) {
        self.messages_read += other.messages_read;
        self.messages_rewritten += other.messages_rewritten;
        self.messages_deleted += other.messages_deleted;
        self.items_removed += other.items_removed;
    }
}

/// The ingest dead-letter queues and what is needed to open and rewrite
/// their messages.
pub struct RawCopies {
    pub sqs: crate::config::Sqs,
    pub s3: crate::config::S3,
    pub keys: KeyRing,
    pub bucket: String,
    pub dead_letter_queues: Vec<String>,
}

enum Verdict {
    Keep,
    Drop(u64),
    /// Put back rebuilt, as a chunk of the same signed delivery.
    Rewrite {
        body: String,
        removed: u64,
        received_at_ms: i64,
        body_sha256: String,
    },
}

/// Whether `text` holds `id` as a whole number (not inside a longer one).
fn holds_id(text: &str, id: &str) -> bool {
    let bytes = text.as_bytes();
    text.match_indices(id).any(|(at, _)| {
        let before = at.checked_sub(1).map(|i| bytes[i]);
        let after = bytes.get(at + id.len()).copied();
        !before.is_some_and(|b| b.is_ascii_digit()) && !after.is_some_and(|b| b.is_ascii_digit())
    })
}

/// Whether `item` is one of `subjects`' (page and person). Items that did
/// not parse into an event are judged by their text: the page's entry and
/// the PSID as a whole number anywhere in the item.
pub fn is_subjects(item: &DeliveryItem, subjects: &[(PageId, Psid)]) -> bool {
    match (item.unit(), item.lane()) {
        (UnitRef::Event(_), (Some(page), Some(psid))) => subjects.iter().any(|(p, s)| p == page && s == psid),
        _ => subjects.iter().any(|(p, s)| {
            item.entry_id.as_deref().is_some_and(|e| holds_id(e, p.as_str())) && holds_id(&item.raw(), s.as_str())
        }),
    }
}

impl RawCopies {
    /// Takes `subjects`' items out of every delivery in the ingest DLQs
    /// (received before `dated_before`, if given: a retention purge's
    /// hand-over, where a delivery received since is a new lead's, see
    /// [`crate::queue::ErasureJob`]).
    ///
    /// # Errors
    /// [`QueueError`] when SQS, S3 or KMS fail, or a queue holds more than
    /// [`MAX_MESSAGES_PER_QUEUE`]; the erasure job is then retried.
    pub async fn purge(
        &self,
        subjects: &[(PageId, Psid)],
        dated_before: Option<i64>,
    ) -> Result<PurgeReport, QueueError> {
        if subjects.is_empty() {
            return Ok(PurgeReport::default());
        }
        // The queues are independent: read side by side.
        let reports = futures_util::future::try_join_all(self.dead_letter_queues.iter().map(|queue_url| async move {
            let mut report = PurgeReport::default();
            self.purge_queue(queue_url, subjects, dated_before, &mut report).await?;
            Ok::<_, QueueError>(report)
        }))
        .await?;
        let mut sum = PurgeReport::default();
        reports.iter().for_each(|r| sum.add(r));
        Ok(sum)
    }

    async fn purge_queue(
        &self,
        queue_url: &str,
        subjects: &[(PageId, Psid)],
        dated_before: Option<i64>,
        report: &mut PurgeReport,
    ) -> Result<(), QueueError> {
        let mut held = Vec::new();
        let mut seen = HashSet::new();
        // Messages looked at and left in the queue (they are visible again).
        let mut kept = HashSet::new();
        let mut read = 0u64;
        let started = Instant::now();
        let outcome = async {
            loop {
                let out = self
                    .sqs
                    .receive_message()
                    .queue_url(queue_url)
                    .max_number_of_messages(10)
                    .visibility_timeout(HOLD_SECS)
                    .wait_time_seconds(1)
                    .send()
                    .await
                    .map_err(sqs_err)?;
                // Messages seen before come round again once released: held
                // (to release at the end), not judged twice.
                let (fresh, again): (Vec<_>, Vec<_>) = out
                    .messages()
                    .iter()
                    .partition(|m| !seen.contains(m.message_id().unwrap_or_default()));
                held.extend(again.iter().filter_map(|m| m.receipt_handle().map(str::to_string)));
                if fresh.is_empty() {
                    // Ours released first, so what stays hidden is another
                    // reader's; wait for it to come back.
                    self.release(queue_url, &std::mem::take(&mut held)).await?;
                    let (visible, hidden) = self.counts(queue_url).await?;
                    if hidden == 0 && visible <= kept.len() as u64 {
                        return Ok(());
                    }
                    if started.elapsed() > MAX_WAIT_FOR_OTHERS {
                        return Err(QueueError::Sqs(
                            "messages of the dead-letter queue stay hidden by another reader; erasure retried".into(),
                        ));
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
                for m in fresh {
                    seen.insert(m.message_id().unwrap_or_default().to_string());
                    read += 1;
                    if read > MAX_MESSAGES_PER_QUEUE {
                        return Err(QueueError::Sqs(format!(
                            "dead-letter queue holds over {MAX_MESSAGES_PER_QUEUE} messages; erasure retried"
                        )));
                    }
                    let receipt = m.receipt_handle().unwrap_or_default().to_string();
                    let body = m.body().unwrap_or_default();
                    match self.judge(body, subjects, dated_before).await? {
                        Verdict::Keep => {
                            kept.insert(m.message_id().unwrap_or_default().to_string());
                            held.push(receipt);
                        }
                        Verdict::Drop(removed) => {
                            self.delete(queue_url, &receipt, body).await?;
                            report.messages_deleted += 1;
                            report.items_removed += removed;
                        }
                        Verdict::Rewrite {
                            body: rebuilt,
                            removed,
                            received_at_ms,
                            body_sha256,
                        } => {
                            let claims = ClaimCheck {
                                s3: &self.s3,
                                keys: &self.keys,
                                bucket: &self.bucket,
                            };
                            Producer::<IngestJob>::new(self.sqs.clone(), queue_url)
                                .enqueue_chunks(&claims, &[rebuilt], received_at_ms, &body_sha256)
                                .await?;
                            self.delete(queue_url, &receipt, body).await?;
                            report.messages_rewritten += 1;
                            report.items_removed += removed;
                        }
                    }
                }
            }
        }
        .await;
        report.messages_read += read.min(MAX_MESSAGES_PER_QUEUE);
        // Whatever happened, what was only looked at is visible again at once.
        let released = self.release(queue_url, &held).await;
        outcome.and(released)
    }

    /// Visible messages and messages some reader holds (SQS's approximate
    /// counts).
    async fn counts(&self, queue_url: &str) -> Result<(u64, u64), QueueError> {
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(sqs_err)?;
        let count = |name: &QueueAttributeName| {
            out.attributes()
                .and_then(|a| a.get(name))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        Ok((
            count(&QueueAttributeName::ApproximateNumberOfMessages),
            count(&QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        ))
    }

    /// Deletes `subjects`' quarantined records, every version, from one
    /// listing taken now (the eraser calls it after the job's shreds):
    /// those whose subject digest names one of them, and every other record,
    /// opened, that holds one of their PSIDs (such as one kept without a
    /// digest because its page could not be read); only those received
    /// before `dated_before`, if given (as [`RawCopies::purge`]). Returns
    /// how many.
    ///
    /// # Errors
    /// [`QueueError`] when S3 or KMS fail (as
    /// [`crate::quarantine::Quarantine::delete_subjects`]).
    pub async fn purge_quarantine(
        &self,
        subjects: &[(PageId, Psid)],
        dated_before: Option<i64>,
    ) -> Result<u64, QueueError> {
        let quarantine = crate::quarantine::Quarantine {
            s3: self.s3.clone(),
            bucket: self.bucket.clone(),
        };
        quarantine
            .delete_subjects(subjects, dated_before, |record| async move {
                let key = crate::quarantine::object_key(&record.id);
                let body = match queue::get_sealed(&self.s3, &self.keys, &self.bucket, &key).await {
                    Ok(body) => body,
                    Err(QueueError::ClaimMissing(_)) => return Ok(false),
                    Err(e) => return Err(e),
                };
                // Such a record's page may be unreadable too, and PSIDs are
                // page-scoped: the PSID as a whole number anywhere in it is
                // enough (erring towards erasure, for quarantined items only).
                let text = String::from_utf8_lossy(&body);
                Ok(subjects.iter().any(|(_, s)| holds_id(&text, s.as_str())))
            })
            .await
    }

    async fn judge(
        &self,
        message: &str,
        subjects: &[(PageId, Psid)],
        dated_before: Option<i64>,
    ) -> Result<Verdict, QueueError> {
        // Not an ingest job, or a claim that is gone: nothing of ours to read.
        let Ok(job) = queue::parse_job::<queue::IngestJob>(message) else {
            return Ok(Verdict::Keep);
        };
        let job = job.delivery();
        if dated_before.is_some_and(|t| job.received_at_ms >= t) {
            return Ok(Verdict::Keep);
        }
        let body = match queue::load_body(job, &self.s3, &self.keys).await {
            Ok(body) => body,
            Err(QueueError::ClaimMissing(_)) => return Ok(Verdict::Keep),
            Err(e) => return Err(e),
        };
        let Ok(delivery) = meta::parse_delivery(&body, job.received_at_ms) else {
            return Ok(Verdict::Keep);
        };
        let (theirs, others): (Vec<&DeliveryItem>, Vec<&DeliveryItem>) =
            delivery.items.iter().partition(|i| is_subjects(i, subjects));
        let removed = theirs.len() as u64;
        Ok(if removed == 0 {
            Verdict::Keep
        } else if others.is_empty() {
            Verdict::Drop(removed)
        } else {
            Verdict::Rewrite {
                body: meta::rebuild_delivery(&delivery.object, others),
                removed,
                received_at_ms: job.received_at_ms,
                body_sha256: job.body_sha256.clone(),
            }
        })
    }

    /// Deletes a message and its claim object (every version).
    async fn delete(&self, queue_url: &str, receipt: &str, message: &str) -> Result<(), QueueError> {
        if let Ok(job) = queue::parse_job::<queue::IngestJob>(message) {
            queue::delete_claim(job.delivery(), &self.s3).await?;
        }
        self.sqs
            .delete_message()
            .queue_url(queue_url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(sqs_err)?;
        Ok(())
    }

    async fn release(&self, queue_url: &str, receipts: &[String]) -> Result<(), QueueError> {
        for (n, chunk) in receipts.chunks(10).enumerate() {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(format!("m{n}-{i}"))
                        .receipt_handle(r)
                        .visibility_timeout(0)
                        .build()
                        .map_err(|e| QueueError::Sqs(e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            self.sqs
                .change_message_visibility_batch()
                .queue_url(queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(sqs_err)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
