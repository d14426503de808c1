//! Erasing one subject in storage: the subject's data key and subscriber
//! record destroyed with the tombstone written, in one transaction; then
//! every item about them deleted (messages, consent records); their
//! deliveries leave no PSID yet each send job still counts once: a parked
//! job is counted as the sender's skip of an erased lead
//! (`BroadcastStore::settle_parked`), a delivery record moves under their
//! digest (`BroadcastStore::anonymise_delivery`).

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};

use super::batch::delete_keys;
use super::item::{base_key, n, opt_n, opt_s, s, Item};
use super::keys::{consent_dated_before, subject_pk, subscriber_pk, subscriber_sk, SUBJECT_INDEX};
use super::leads::unchanged_since_read;
use super::messages::messages_dated_before;
use super::tombstones::tombstone_item;
use super::{BroadcastStore, SendTables, Store, StoreError};
use crate::broadcast::ParkedEnd;
use crate::ids::{PageId, Psid};
use crate::lead::ErasureReason;

/// Reads of a subscriber that keeps changing before erasure gives up (the
/// erasure is retried from its queue).
const SHRED_ATTEMPTS: usize = 5;

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

/// What deleting a subject's records deleted, by kind.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeletedRecords {
    pub messages: u64,
    pub consent_records: u64,
    pub deliveries: u64,
}

impl Store {
    /// Destroys the subject's data key and subscriber record and writes its
    /// tombstone, in one transaction, if `guard` accepts the subscriber as
    /// read (the version check makes the decision hold at the write).
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a call fails, or (retryable) when the
    /// subscriber kept changing under the transaction.
    pub async fn shred_subject(
        &self,
        page: &PageId,
        psid: &Psid,
        reason: ErasureReason,
        now_ms: i64,
        guard: impl Fn(&Item) -> bool,
    ) -> Result<Shred, StoreError> {
        let tables = &self.tables;
        for _ in 0..SHRED_ATTEMPTS {
            let Some(sub) = self.subscriber_item(page, psid).await? else {
                // A key without a subscriber can only be left by a failed
                // write; delete it anyway.
                self.ddb
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
            let version = opt_n(&sub, "version").unwrap_or(0) as u64;
            let generation = opt_s(&sub, "generation");
            let (unchanged, values) = unchanged_since_read(version, generation.as_deref());
            let history = self.consent_history(page, psid).await?;
            let tombstone = tombstone_item(page, psid, &sub, &history, reason, now_ms);
            let items = vec![
                TransactWriteItem::builder()
                    .delete(
                        Delete::builder()
                            .table_name(&tables.subscribers)
                            .key("pk", s(subscriber_pk(page)))
                            .key("sk", s(subscriber_sk(psid)))
                            .condition_expression(unchanged)
                            .set_expression_attribute_values(Some(
                                values.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
                            ))
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

    /// Deletes every message and consent record of the subject, and every
    /// delivery record naming them in `deliveries` (its `by_subject` index).
    /// A send job of theirs that a paused broadcast parked there is counted
    /// as skipped (reason `erased`, at `now_ms`) as it is deleted, so the
    /// broadcast still finishes once resumed. With `dated_before` (ms), only
    /// those dated before it: messages and consent records by their event
    /// time, deliveries by their record time (a retention purge's
    /// hand-over, see [`crate::queue::ErasureJob`]; what is dated since is a
    /// new lead's).
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a query or write fails;
    /// [`StoreError::Corrupt`] when a parked job is found and this store was
    /// given no broadcasts table (`BROADCASTS_TABLE`) to count it on.
    pub async fn delete_subject_records(
        &self,
        page: &PageId,
        psid: &Psid,
        deliveries: &str,
        now_ms: i64,
        dated_before: Option<i64>,
    ) -> Result<DeletedRecords, StoreError> {
        let pk = subject_pk(page, psid);
        let below = |sk: fn(i64) -> String| dated_before.map(|t| ("sk", s(sk(t))));
        let (messages, consent_log) = (&self.tables.messages, &self.tables.consent_log);
        // Three tables, no order between them: deleted together.
        // Boxed: side by side, their state would not fit a task's stack.
        let (messages, consent_records, deliveries) = tokio::try_join!(
            Box::pin(self.delete_partition(messages, "pk", &pk, below(messages_dated_before))),
            Box::pin(self.delete_partition(consent_log, "pk", &pk, below(consent_dated_before))),
            Box::pin(self.delete_subject_deliveries(deliveries, page, &pk, now_ms, dated_before)),
        )?;
        Ok(DeletedRecords {
            messages,
            consent_records,
            deliveries,
        })
    }

    /// Deletes the subject's delivery records so that each of their send
    /// jobs still counts exactly once: a parked job is settled, counted as
    /// the skip of an erased lead ([`BroadcastStore::settle_parked`]); a
    /// delivery record (claimed or final) moves under the subject's digest
    /// ([`BroadcastStore::anonymise_delivery`]) so that a send in flight
    /// still completes and counts there, and a job delivered again is not
    /// counted twice. Returns how many rows went.
    async fn delete_subject_deliveries(
        &self,
        deliveries: &str,
        page: &PageId,
        pk: &str,
        now_ms: i64,
        dated_before: Option<i64>,
    ) -> Result<u64, StoreError> {
        let mut deleted = 0;
        // The index sorts a subject's records by `at_ms`.
        let below = dated_before.map(|t| ("at_ms", n(t)));
        loop {
            // As delete_partition: from the start until the index shows nothing.
            let items = self
                .keys_in(deliveries, Some(SUBJECT_INDEX), "subject_pk", pk, below.clone())
                .await?;
            if items.is_empty() {
                return Ok(deleted);
            }
            let sending = self.sending_store(deliveries)?;
            for key in items.iter().map(base_key) {
                let went = if super::sweep::is_parked(&key) {
                    sending.settle_parked(key, ParkedEnd::Erased, now_ms).await?;
                    true
                } else {
                    sending.anonymise_delivery(key, page).await?
                };
                deleted += u64::from(went);
            }
        }
    }

    /// The sending side's store over the same client, for counting parked
    /// jobs (the broadcasts table from `BROADCASTS_TABLE`).
    fn sending_store(&self, deliveries: &str) -> Result<BroadcastStore, StoreError> {
        let broadcasts = self
            .tables
            .outcomes
            .as_ref()
            .map(|o| o.broadcasts.clone())
            .ok_or(StoreError::Corrupt("no broadcasts table to count a parked job on"))?;
        Ok(BroadcastStore::new(
            self.ddb.clone(),
            SendTables {
                pages: self.tables.pages.clone(),
                broadcasts,
                deliveries: deliveries.to_string(),
                subscribers: self.tables.subscribers.clone(),
            },
        ))
    }

    /// Deletes every item of `table` whose `attr` is `value` (those whose
    /// sort key is below `below`'s value, if given), page by page so memory
    /// stays bounded.
    async fn delete_partition(
        &self,
        table: &str,
        attr: &str,
        value: &str,
        below: Option<(&str, AttributeValue)>,
    ) -> Result<u64, StoreError> {
        let mut deleted = 0;
        loop {
            // Always from the start: what was deleted is gone from the table.
            let items = self.keys_in(table, None, attr, value, below.clone()).await?;
            if items.is_empty() {
                return Ok(deleted);
            }
            deleted += delete_keys(&self.ddb, table, items.iter().map(base_key).collect()).await?;
        }
    }

    /// The keys (`pk, sk`) of the first 250 items whose `attr` is `value`
    /// in `table` (or its `index`), from the start; with `below` (the sort
    /// key attribute and a value), only those whose sort key is below it.
    async fn keys_in(
        &self,
        table: &str,
        index: Option<&str>,
        attr: &str,
        value: &str,
        below: Option<(&str, AttributeValue)>,
    ) -> Result<Vec<Item>, StoreError> {
        let query = self
            .partition_query(table, index, attr, value)
            .projection_expression("pk, sk")
            .limit(250);
        let query = match below {
            None => query,
            Some((sort_key, bound)) => query
                .key_condition_expression("#k = :v AND #sort < :below")
                .expression_attribute_names("#sort", sort_key)
                .expression_attribute_values(":below", bound),
        };
        let out = query.send().await.map_err(StoreError::dynamo)?;
        Ok(out.items.unwrap_or_default())
    }
}
