//! Pause's parked jobs. Pausing keeps a broadcast's planning cursors. A send
//! job that meets a paused broadcast is **parked**: its job is written, in
//! the same transaction that checks the lead's lane is still paused, under
//! `PARK#<lane>#<psid>` in the broadcast's deliveries partition, and the SQS
//! message is done. Resuming moves the state back to sending and makes the
//! broadcast due again; the start it then finishes (`dispatch::start`, or
//! the scheduler within a minute if that fails) queues one plan job per
//! shard, and each shard's planner queues that shard's parked jobs again
//! before planning on from its cursor. A park that races a resume fails its
//! lane check and the job is retried, never lost; every job still claims
//! `(broadcast, psid)` before sending, so none is sent twice, and the claim
//! checks consent at that moment, so no one unsubscribed since is sent to.
//!
//! A parked job deleted before the resume (its lead erased, or it waited
//! past its page's retention) is counted as it is deleted, in the same
//! transaction ([`BroadcastStore::settle_parked`], the rule
//! [`crate::broadcast::parked_outcome`]), so the broadcast's counts still
//! reach its planned total and the resumed broadcast finishes.

use aws_sdk_dynamodb::types::{ConditionCheck, Delete, Put, TransactWriteItem};

use super::deliveries::of_lifetime;
use super::item::{get_item, n, n_or_zero, opt_s, s, Item};
use super::keys::{
    age_pk, audience_shard, broadcast_pk, delivery_sk, lane_pk, parked_prefix, parked_sk, subject_pk, subscriber_pk,
    subscriber_sk,
};
use super::tx::{cancelled_because, cancelled_because_any};
use super::{BroadcastStore, StoreError};
use crate::broadcast::{parked_outcome, BroadcastState, ParkedEnd};
use crate::ids::BroadcastId;
use crate::queue::SendTask;

/// What [`BroadcastStore::park`] did with a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Park {
    /// Kept until the resume.
    Parked,
    /// The lead's lane is no longer paused (resumed, or cancelled): the job
    /// is to be tried again.
    NotPaused,
    /// The lead of the job's lifetime is gone (erased since it was
    /// planned): nothing of theirs is parked, the job is theirs to skip.
    LeadGone,
}

impl BroadcastStore {
    /// Parks a send job of a paused broadcast (one transaction), if the
    /// lead's lane is still paused and the lead of the job's lifetime still
    /// exists: a job parked after its lead's erasure settled their parked
    /// jobs would keep their PSID until a resume or the retention sweep.
    /// Parking twice keeps one parked job.
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a DynamoDB call fails;
    /// [`StoreError::Corrupt`] when the job does not serialise.
    pub async fn park(&self, task: &SendTask, now_ms: i64, expires_at_s: i64) -> Result<Park, StoreError> {
        let lane = audience_shard(&task.psid);
        let job = serde_json::to_string(task).map_err(|_| StoreError::Corrupt("job"))?;
        let mut item = Item::new();
        item.insert("pk".into(), s(broadcast_pk(&task.broadcast_id)));
        item.insert("sk".into(), s(parked_sk(lane, &task.psid)));
        item.insert("page_id".into(), s(task.page_id.as_str()));
        item.insert("state".into(), s("parked"));
        item.insert("job".into(), s(job));
        item.insert("at_ms".into(), n(now_ms));
        item.insert("expires_at".into(), n(expires_at_s));
        // Swept by age and erased with the subject, like a delivery.
        let key = format!("{}#park#{}", task.broadcast_id, task.psid);
        item.insert("age_pk".into(), s(age_pk(&task.page_id, &key)));
        item.insert("subject_pk".into(), s(subject_pk(&task.page_id, &task.psid)));
        let paused = ConditionCheck::builder()
            .table_name(&self.tables.broadcasts)
            .key("pk", s(lane_pk(&task.broadcast_id, lane)))
            .condition_expression("#s = :paused")
            .expression_attribute_names("#s", "state")
            .expression_attribute_values(":paused", s(BroadcastState::Paused.as_str()))
            .build()
            .map_err(|_| StoreError::Corrupt("condition"))?;
        let generation = task.lead.generation.as_deref();
        let lead = ConditionCheck::builder()
            .table_name(&self.tables.subscribers)
            .key("pk", s(subscriber_pk(&task.page_id)))
            .key("sk", s(subscriber_sk(&task.psid)))
            .condition_expression(format!("attribute_exists(pk){}", of_lifetime(generation)));
        let lead = match generation {
            Some(g) => lead.expression_attribute_values(":g", s(g)),
            None => lead,
        }
        .build()
        .map_err(|_| StoreError::Corrupt("condition"))?;
        let put = Put::builder()
            .table_name(&self.tables.deliveries)
            .set_item(Some(item))
            .build()
            .map_err(|_| StoreError::Corrupt("put"))?;
        let items = vec![
            TransactWriteItem::builder().condition_check(paused).build(),
            TransactWriteItem::builder().condition_check(lead).build(),
            TransactWriteItem::builder().put(put).build(),
        ];
        match self.transact(items).await {
            Ok(()) => Ok(Park::Parked),
            Err(err) if cancelled_because(&err, 0) == Some("ConditionalCheckFailed") => Ok(Park::NotPaused),
            Err(err) if cancelled_because(&err, 1) == Some("ConditionalCheckFailed") => Ok(Park::LeadGone),
            Err(err) => Err(StoreError::dynamo(err)),
        }
    }

    /// The parked jobs of one lane (audience shard) of a broadcast, each
    /// with its key and when it was parked (to
    /// [`BroadcastStore::unpark_listed`] once queued again).
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a query fails.
    pub async fn parked(&self, id: &BroadcastId, lane: u32) -> Result<Vec<(SendTask, Item)>, StoreError> {
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .ddb
                .query()
                .table_name(&self.tables.deliveries)
                .key_condition_expression("pk = :p AND begins_with(sk, :park)")
                .expression_attribute_values(":p", s(broadcast_pk(id)))
                .expression_attribute_values(":park", s(parked_prefix(lane)))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(StoreError::dynamo)?;
            for item in out.items() {
                // A job that no longer reads is left for the sweep (never sent blind).
                if let Some(task) = opt_s(item, "job").and_then(|j| serde_json::from_str::<SendTask>(&j).ok()) {
                    let mut listed = super::item::base_key(item);
                    listed.insert("at_ms".into(), n(n_or_zero(item, "at_ms")));
                    found.push((task, listed));
                }
            }
            match out.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(found),
            }
        }
    }

    /// Deletes parked jobs as [`BroadcastStore::parked`] listed them, once
    /// they are queued again, each only if it is still the job listed: one
    /// queued again may meet the broadcast paused anew and be parked again
    /// under the same key before this runs, and that job must stay parked
    /// (deleted, it would be neither queued nor parked: never sent, never
    /// counted, and the broadcast never done). Up to 100 at once in a
    /// transaction; a transaction refused for one changed job deletes its
    /// jobs one by one.
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a DynamoDB call fails;
    /// [`StoreError::Corrupt`] when a listed job lacks its key or time.
    pub async fn unpark_listed(&self, listed: Vec<Item>) -> Result<(), StoreError> {
        let deletes = listed
            .iter()
            .map(|l| {
                let at = l.get("at_ms").cloned().ok_or(StoreError::Corrupt("parked job"))?;
                Delete::builder()
                    .table_name(&self.tables.deliveries)
                    .set_key(Some(super::item::base_key(l)))
                    .condition_expression("at_ms = :at")
                    .expression_attribute_values(":at", at)
                    .build()
                    .map_err(|_| StoreError::Corrupt("delete"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        for chunk in deletes.chunks(100) {
            let items = chunk
                .iter()
                .map(|d| TransactWriteItem::builder().delete(d.clone()).build())
                .collect();
            match self.transact(items).await {
                Ok(()) => {}
                Err(err) if cancelled_because_any(&err, "ConditionalCheckFailed") => {
                    for d in chunk {
                        let one = vec![TransactWriteItem::builder().delete(d.clone()).build()];
                        match self.transact(one).await {
                            Ok(()) => {}
                            Err(err) if cancelled_because(&err, 0) == Some("ConditionalCheckFailed") => {}
                            Err(err) => return Err(StoreError::dynamo(err)),
                        }
                    }
                }
                Err(err) => return Err(StoreError::dynamo(err)),
            }
        }
        Ok(())
    }

    /// Deletes parked jobs (by key), whatever they hold now.
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a batch write fails or keeps leaving items.
    pub async fn unpark(&self, keys: Vec<Item>) -> Result<(), StoreError> {
        super::batch::delete_keys(&self.ddb, &self.tables.deliveries, keys).await?;
        Ok(())
    }

    /// Settles the parked job at `key` (a `PARK#<lane>#<psid>` row, as the
    /// `by_subject` and `by_age` indexes list it) deleted because of `end`,
    /// in one transaction: the job is deleted and counted as the skip
    /// [`parked_outcome`] names (erased: `skipped_unsubscribed`, reason
    /// `erased`; past retention: `skipped_policy`, reason
    /// `retention_expired`), its record written at `now_ms` (by digest only
    /// when [`ParkedEnd::by_digest`], as [`BroadcastStore::record_outcome`]
    /// with `lead_erased`), kept as long as the job would have been. Without
    /// this the job is never sent nor counted, and the resumed broadcast
    /// stays `sending`.
    ///
    /// True if it counted the job now. False if the job was gone (settled
    /// before: erasure and the sweep may run twice, or both), or was
    /// accounted for otherwise (a record of the lead exists in the
    /// broadcast: a sender recorded it), or its broadcast is cancelled or
    /// done (a cancel records nothing for the jobs it stopped): then it is
    /// only deleted. A job that no longer reads is deleted uncounted.
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a DynamoDB call fails ([`StoreError::is_retryable`]
    /// says whether to try again); [`StoreError::Corrupt`] when `key` is not
    /// a key.
    pub async fn settle_parked(&self, key: Item, end: ParkedEnd, now_ms: i64) -> Result<bool, StoreError> {
        let (Some(pk), Some(sk)) = (opt_s(&key, "pk"), opt_s(&key, "sk")) else {
            return Err(StoreError::Corrupt("parked key"));
        };
        let Some(parked) = get_item(&self.ddb, &self.tables.deliveries, pk, Some(sk)).await? else {
            return Ok(false);
        };
        let Some(task) = opt_s(&parked, "job").and_then(|j| serde_json::from_str::<SendTask>(&j).ok()) else {
            tracing::warn!("a parked job that no longer reads: deleted uncounted");
            self.unpark(vec![key]).await?;
            return Ok(false);
        };
        if self.lane_final(&task).await? {
            self.unpark(vec![key]).await?;
            return Ok(false);
        }
        let (state, reason) = parked_outcome(end);
        let mut items = Vec::new();
        if end.by_digest() {
            // The record goes under the digest: the lead's own key must
            // still be free (no sender recorded this job).
            let not_delivered = ConditionCheck::builder()
                .table_name(&self.tables.deliveries)
                .key("pk", s(broadcast_pk(&task.broadcast_id)))
                .key("sk", s(delivery_sk(&task.psid)))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(|_| StoreError::Corrupt("condition"))?;
            items.push(TransactWriteItem::builder().condition_check(not_delivered).build());
        }
        let delete_at = items.len();
        let delete = Delete::builder()
            .table_name(&self.tables.deliveries)
            .set_key(Some(key.clone()))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(|_| StoreError::Corrupt("delete"))?;
        items.push(TransactWriteItem::builder().delete(delete).build());
        // The skip a sender records: with its reason, counted (its record's
        // own condition: none exists yet).
        let [record, count] = self.skip_writes(
            &task,
            state,
            reason,
            now_ms,
            n_or_zero(&parked, "expires_at"),
            end.by_digest(),
        )?;
        items.extend([record, count]);
        let record_at = delete_at + 1;
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(err) if cancelled_because(&err, delete_at) == Some("ConditionalCheckFailed") => Ok(false),
            Err(err)
                if (0..delete_at)
                    .chain([record_at])
                    .any(|i| cancelled_because(&err, i) == Some("ConditionalCheckFailed")) =>
            {
                self.unpark(vec![key]).await?;
                Ok(false)
            }
            Err(err) => Err(StoreError::dynamo(err)),
        }
    }

    /// Whether the task's lane is cancelled or done (or gone): its jobs are
    /// not counted any more.
    async fn lane_final(&self, task: &SendTask) -> Result<bool, StoreError> {
        let lane = get_item(
            &self.ddb,
            &self.tables.broadcasts,
            lane_pk(&task.broadcast_id, audience_shard(&task.psid)),
            None,
        )
        .await?;
        let state = lane
            .as_ref()
            .and_then(|l| opt_s(l, "state"))
            .and_then(|st| BroadcastState::parse(&st));
        Ok(!state.is_some_and(|st| st.is_active() || st == BroadcastState::Paused))
    }
}
