//! Transactions: one inbound event committed atomically (marker, subscriber,
//! consent entry, message), and the conflict-retrying transaction the
//! sending side uses.

use aws_sdk_dynamodb::types::{ConditionCheck, TransactWriteItem, Update};

use super::item::{b, get_item, n, put, s, Item};
use super::keys::{age_pk, consent_sk, event_pk, subject_pk, subscriber_pk, subscriber_sk};
use super::leads::{proof_to_item, subscriber_to_item, unchanged_since_read};
use super::tombstones::{tombstone_unchanged, unchanged_condition};
use super::{messages, BroadcastStore, MessageWrite, Store, StoreError};
use crate::consent::SubscriberStatus;
use crate::ids::{PageId, Psid};
use crate::lead::{ConsentRecord, Subscriber, Tombstone};

/// Marks an event as processed (the idempotency record): one per page,
/// person and event key, so only the same person's event is a duplicate.
#[derive(Debug, Clone)]
pub struct EventMarker {
    pub page_id: PageId,
    /// Whose event it was (`None` for page-level items, e.g. ignored ones).
    pub subject: Option<Psid>,
    pub key: String,
    pub kind: String,
    pub received_at_ms: i64,
    pub expires_at_s: i64,
}

/// Everything one inbound event changes, committed atomically.
#[derive(Debug, Clone)]
pub struct EventCommit {
    pub marker: EventMarker,
    pub subscriber: Option<Subscriber>,
    pub consent: Option<ConsentRecord>,
    pub message: Option<MessageWrite>,
    /// What the event did to the lead's recent sends (receipts, an
    /// unsubscribe), recorded on their deliveries and broadcasts; the
    /// subscriber carries the flags that make each count once.
    pub attributions: Vec<crate::outcomes::Attribution>,
    /// The person's last tombstone as read, when no lead was found: what
    /// the event decided on it holds only while it is unchanged (and, for
    /// a STOP kept on it, while no lead exists): [`super::tombstones::tombstone_unchanged`].
    pub tombstone: Option<Tombstone>,
    /// A STOP kept on that tombstone ([`crate::consent::Outcome::StopOnTombstone`]):
    /// when it was sent (ms).
    pub tombstone_stop: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitOutcome {
    Applied,
    /// The event was processed before: nothing changed.
    Duplicate,
    /// The subscriber changed under us: re-read and try again.
    Conflict,
}

pub(crate) type TransactError = aws_sdk_dynamodb::error::SdkError<
    aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
    aws_sdk_dynamodb::config::http::HttpResponse,
>;

/// Tries of a transaction DynamoDB keeps cancelling for conflicts.
pub(super) const CONFLICT_ATTEMPTS: u32 = 10;

fn is_conflict(err: &aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError) -> bool {
    matches!(err, aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c)
        if c.cancellation_reasons().iter().any(|r| r.code() == Some("TransactionConflict")))
}

/// The code of a transaction's `i`-th cancellation reason.
pub(crate) fn cancelled_because(err: &TransactError, i: usize) -> Option<&str> {
    match err.as_service_error() {
        Some(
            aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c),
        ) => c.cancellation_reasons().get(i).and_then(|r| r.code()),
        _ => None,
    }
}

/// Whether a transaction was cancelled because one of its items failed
/// with `code`.
pub(crate) fn cancelled_because_any(err: &TransactError, code: &str) -> bool {
    match err.as_service_error() {
        Some(
            aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c),
        ) => c.cancellation_reasons().iter().any(|r| r.code() == Some(code)),
        _ => false,
    }
}

impl Store {
    /// Whether the event `key` of `subject` on `page` was processed before
    /// (its marker exists; consistent read).
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a DynamoDB call fails ([`StoreError::is_retryable`]
    /// says whether to try again).
    #[tracing::instrument(skip_all)]
    pub async fn event_seen(&self, page: &PageId, subject: Option<&Psid>, key: &str) -> Result<bool, StoreError> {
        let item = get_item(&self.ddb, &self.tables.events, event_pk(page, subject, key), None).await?;
        Ok(item.as_ref().is_some())
    }

    /// Commits one event: the marker (only if absent), the subscriber (only if
    /// unchanged since read), the consent record and the message.
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when the transaction fails for another reason
    /// than the marker's or the subscriber's condition (those are outcomes).
    #[tracing::instrument(skip_all, fields(kind = %commit.marker.kind))]
    pub async fn commit(&self, commit: &EventCommit) -> Result<CommitOutcome, StoreError> {
        let m = &commit.marker;
        let mut marker = Item::new();
        marker.insert("pk".into(), s(event_pk(&m.page_id, m.subject.as_ref(), &m.key)));
        marker.insert("kind".into(), s(&m.kind));
        marker.insert("received_at_ms".into(), n(m.received_at_ms));
        marker.insert("expires_at".into(), n(m.expires_at_s));
        marker.insert("age_pk".into(), s(age_pk(&m.page_id, &m.key)));
        marker.insert("at_ms".into(), n(m.received_at_ms));
        let mut items = vec![put(
            &self.tables.events,
            marker,
            Some("attribute_not_exists(pk)"),
            Vec::new(),
        )?];

        if let (Some(at_ms), Some(read)) = (commit.tombstone_stop, &commit.tombstone) {
            // Only on the tombstone as read (never a new item of keys alone),
            // and only its status and time: hashes only, as ever.
            let (unchanged, values) = unchanged_condition(read);
            let mut update = Update::builder()
                .table_name(&self.tables.consent_log)
                .key("pk", s(&read.key.pk))
                .key("sk", s(&read.key.sk))
                .update_expression("SET status_before = :unsubscribed, consent_changed_at_ms = :at")
                .condition_expression(unchanged)
                .expression_attribute_values(":unsubscribed", s(SubscriberStatus::Unsubscribed.as_str()))
                .expression_attribute_values(":at", n(at_ms));
            for (k, v) in values {
                update = update.expression_attribute_values(k, v);
            }
            let update = update.build().map_err(|_| StoreError::Corrupt("tombstone update"))?;
            items.push(TransactWriteItem::builder().update(update).build());
            // And only while they have no lead: one begun since (they wrote
            // again) is where the STOP belongs; read again, it goes there.
            if let Some(psid) = &m.subject {
                let no_lead = ConditionCheck::builder()
                    .table_name(&self.tables.subscribers)
                    .key("pk", s(subscriber_pk(&m.page_id)))
                    .key("sk", s(subscriber_sk(psid)))
                    .condition_expression("attribute_not_exists(pk)")
                    .build()
                    .map_err(|_| StoreError::Corrupt("lead check"))?;
                items.push(TransactWriteItem::builder().condition_check(no_lead).build());
            }
        }
        if let Some(sub) = &commit.subscriber {
            let mut item = subscriber_to_item(sub, sub.version + 1);
            if sub.generation.is_none() {
                // A lead stored before generations gets one with its next
                // event (its read is still matched on the absence).
                item.insert("generation".into(), s(crate::ids::new_generation()));
            }
            let p = if sub.version == 0 {
                // A lead begun on a tombstone: only while it is as read (a
                // STOP kept on it since makes writing again no opt-in).
                if let Some(read) = &commit.tombstone {
                    items.push(tombstone_unchanged(&self.tables.consent_log, read)?);
                }
                let mut key = Item::new();
                key.insert("pk".into(), s(subject_pk(&sub.page_id, &sub.psid)));
                key.insert("data_key".into(), b(&sub.data_key));
                key.insert("created_at_ms".into(), n(sub.created_at_ms));
                items.push(put(
                    &self.tables.subject_keys,
                    key,
                    Some("attribute_not_exists(pk)"),
                    Vec::new(),
                )?);
                put(
                    &self.tables.subscribers,
                    item,
                    Some("attribute_not_exists(pk)"),
                    Vec::new(),
                )?
            } else {
                let (unchanged, values) = unchanged_since_read(sub.version, sub.generation.as_deref());
                put(&self.tables.subscribers, item, Some(unchanged), values)?
            };
            items.push(p);
            let pk = subject_pk(&sub.page_id, &sub.psid);
            if let Some(c) = &commit.consent {
                let mut item = Item::new();
                item.insert("pk".into(), s(&pk));
                item.insert("sk".into(), s(consent_sk(c.at_ms, &c.proof.event_key)));
                if let Some(from) = c.change.from {
                    item.insert("from".into(), s(from.as_str()));
                }
                item.insert("to".into(), s(c.change.to.as_str()));
                item.insert("reason".into(), s(c.change.reason.as_str()));
                item.insert("at_ms".into(), n(c.at_ms));
                proof_to_item("", &c.proof, &mut item);
                items.push(put(
                    &self.tables.consent_log,
                    item,
                    Some("attribute_not_exists(pk)"),
                    Vec::new(),
                )?);
            }
            if let Some(write) = &commit.message {
                items.push(messages::transact_item(
                    &self.tables.messages,
                    &sub.page_id,
                    &pk,
                    write,
                )?);
            }
            match &self.tables.outcomes {
                Some(t) if !commit.attributions.is_empty() => items.extend(super::outcomes::attribution_items(
                    &t.deliveries,
                    &t.broadcasts,
                    &sub.page_id,
                    &sub.psid,
                    &commit.attributions,
                    m.expires_at_s,
                )?),
                Some(_) => {}
                None if commit.attributions.is_empty() => {}
                None => {
                    return Err(StoreError::Corrupt(
                        "receipts to record but no DELIVERIES_TABLE/BROADCASTS_TABLE",
                    ))
                }
            }
        }

        match self
            .ddb
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(CommitOutcome::Applied),
            Err(err) => {
                let Some(aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(cancel)) = err.as_service_error() else {
                    return Err(StoreError::dynamo(err));
                };
                let reasons = cancel.cancellation_reasons();
                let failed = |i: usize| reasons.get(i).and_then(|r| r.code()) == Some("ConditionalCheckFailed");
                if failed(0) {
                    return Ok(CommitOutcome::Duplicate);
                }
                if reasons.is_empty() && self.event_seen(&m.page_id, m.subject.as_ref(), &m.key).await? {
                    return Ok(CommitOutcome::Duplicate);
                }
                Ok(CommitOutcome::Conflict)
            }
        }
    }
}

impl BroadcastStore {
    /// Runs a transaction whose first item is the idempotency condition.
    pub(super) async fn transact_once(&self, items: Vec<TransactWriteItem>) -> Result<bool, StoreError> {
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(err) if cancelled_because(&err, 0) == Some("ConditionalCheckFailed") => Ok(false),
            Err(err) => Err(StoreError::dynamo(err)),
        }
    }

    /// Sends a transaction, and sends it again (after a short, jittered
    /// pause) while DynamoDB cancels it for a conflict: another transaction
    /// held one of its items, typically a lane shared by concurrent sends. A
    /// conflict says nothing about the conditions, and a claim, an outcome or
    /// a state change must not be lost to one (a sent message would
    /// otherwise stay claimed and later be counted failed).
    pub(super) async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), TransactError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self
                .ddb
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await
            {
                Ok(_) => return Ok(()),
                Err(err) if attempt < CONFLICT_ATTEMPTS && err.as_service_error().is_some_and(is_conflict) => {
                    conflict_pause(attempt).await;
                }
                Err(err) => return Err(err),
            }
        }
    }
}

/// The jittered pause before try `attempt + 1` of a transaction DynamoDB
/// cancelled for a conflict (up to 500 ms).
pub(super) async fn conflict_pause(attempt: u32) {
    let ceiling_ms = (10u64 << attempt.min(6)).min(500);
    let pause = rand::random::<u64>() % ceiling_ms + 1;
    tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
}
