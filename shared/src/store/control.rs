//! A marketer's control of broadcasts: a page's broadcasts listed newest
//! first (`by_page` index), pause's parked jobs and resume.
//!
//! Pausing keeps a broadcast's planning cursors. A send job that meets a
//! paused broadcast is **parked**: its job is written, in the same
//! transaction that checks the lead's lane is still paused, under
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
//! A lead erased while their job is parked: erasure deletes the job (it
//! holds the PSID) and, in the same transaction, records the skip a sender
//! would record for an erased lead ([`BroadcastStore::settle_erased_parked`]),
//! so the broadcast's counts still reach its planned total and it finishes.

use aws_sdk_dynamodb::types::{ConditionCheck, Delete, Put, TransactWriteItem};

use super::broadcasts::broadcast_from_item;
use super::item::{get_item, n, n_or_zero, opt_s, s, Item};
use super::keys::{
    age_pk, audience_shard, broadcast_page_pk, broadcast_pk, delivery_sk, lane_pk, parked_prefix, parked_sk,
    subject_pk, BY_PAGE_INDEX, DUE_PK,
};
use super::tx::cancelled_because;
use super::{BroadcastStore, Cursor, StoreError};
use crate::broadcast::{skip_outcome, Broadcast, BroadcastState};
use crate::ids::{BroadcastId, PageId};
use crate::outcomes::ProtectionBaseline;
use crate::queue::SendTask;

/// Query pages one listing call reads at most before it answers with what
/// it found and a cursor (a state filter can skip many broadcasts).
const MAX_LIST_READS: usize = 10;

/// One page of a page's broadcasts, newest first.
#[derive(Debug, Clone)]
pub struct BroadcastList {
    /// Definitions only: `counts` holds `queued` alone (the outcome counts
    /// live on the lanes; `BroadcastStore::broadcast` sums them).
    pub broadcasts: Vec<Broadcast>,
    /// Where the next page starts; `None` at the end.
    pub next: Option<Cursor>,
}

impl BroadcastStore {
    /// Up to `limit` broadcasts of `page`, newest first, in `state` if given,
    /// after `cursor` (from [`BroadcastList::next`]).
    ///
    /// # Errors
    /// [`StoreError::Corrupt`]`("cursor")` when the cursor is not one of this
    /// page's listing; [`StoreError::Dynamo`] when a query fails.
    pub async fn page_broadcasts(
        &self,
        page: &PageId,
        state: Option<BroadcastState>,
        cursor: Option<Cursor>,
        limit: usize,
    ) -> Result<BroadcastList, StoreError> {
        let pk = broadcast_page_pk(page);
        if let Some(c) = &cursor {
            if c.attr("page_pk") != Some(pk.as_str()) || c.attr("created_sk").is_none() || c.attr("pk").is_none() {
                return Err(StoreError::Corrupt("cursor"));
            }
        }
        let mut start = cursor.map(|c| c.0);
        let mut broadcasts = Vec::new();
        for _ in 0..MAX_LIST_READS {
            let want = limit.saturating_sub(broadcasts.len()).max(1);
            let mut query = self
                .ddb
                .query()
                .table_name(&self.tables.broadcasts)
                .index_name(BY_PAGE_INDEX)
                .key_condition_expression("page_pk = :p")
                .expression_attribute_values(":p", s(&pk))
                .scan_index_forward(false)
                .set_exclusive_start_key(start.take())
                .limit(want as i32);
            if let Some(st) = state {
                query = query
                    .filter_expression("#s = :st")
                    .expression_attribute_names("#s", "state")
                    .expression_attribute_values(":st", s(st.as_str()));
            }
            let out = query.send().await.map_err(StoreError::dynamo)?;
            for item in out.items() {
                broadcasts.push(broadcast_from_item(item)?);
            }
            start = out.last_evaluated_key().filter(|k| !k.is_empty()).cloned();
            if start.is_none() || broadcasts.len() >= limit {
                break;
            }
        }
        Ok(BroadcastList {
            broadcasts,
            next: start.map(Cursor),
        })
    }

    /// Resumes a paused broadcast: back to sending (definition and every
    /// lane, in one transaction), its pause reason gone, and due again so
    /// that its start is finished (`dispatch::start` now, else the
    /// scheduler). With `baseline` (a resume of page protection's pause,
    /// [`crate::outcomes::baseline_at_resume`]) it is recorded in the same
    /// write, so protection judges only what follows. False if it was not
    /// paused.
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a DynamoDB call fails ([`StoreError::is_retryable`]
    /// says whether to try again).
    pub async fn resume(
        &self,
        id: &BroadcastId,
        now_ms: i64,
        baseline: Option<&ProtectionBaseline>,
    ) -> Result<bool, StoreError> {
        let mut values = Item::from([(":now".to_string(), n(now_ms)), (":due".to_string(), s(DUE_PK))]);
        let mut set = "SET #s = :to, resumed_at_ms = :now, due_pk = :due".to_string();
        if let Some(base) = baseline {
            let (more, more_values) = super::outcomes::baseline_update(base);
            set = format!("{set}, {more}");
            values.extend(more_values);
        }
        self.set_state(
            id,
            &[BroadcastState::Paused],
            BroadcastState::Sending,
            &format!("{set} REMOVE paused_reason"),
            values,
        )
        .await
    }

    /// Parks a send job of a paused broadcast, if the lead's lane is still
    /// paused (one transaction); false if it is not (resumed, or cancelled:
    /// the job is to be tried again). Parking twice keeps one parked job.
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a DynamoDB call fails;
    /// [`StoreError::Corrupt`] when the job does not serialise.
    pub async fn park(&self, task: &SendTask, now_ms: i64, expires_at_s: i64) -> Result<bool, StoreError> {
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
        let put = Put::builder()
            .table_name(&self.tables.deliveries)
            .set_item(Some(item))
            .build()
            .map_err(|_| StoreError::Corrupt("put"))?;
        let items = vec![
            TransactWriteItem::builder().condition_check(paused).build(),
            TransactWriteItem::builder().put(put).build(),
        ];
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(err) if cancelled_because(&err, 0) == Some("ConditionalCheckFailed") => Ok(false),
            Err(err) => Err(StoreError::dynamo(err)),
        }
    }

    /// The parked jobs of one lane (audience shard) of a broadcast, with
    /// their keys (to [`BroadcastStore::unpark`] once queued again).
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
                    found.push((task, super::item::base_key(item)));
                }
            }
            match out.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(found),
            }
        }
    }

    /// Deletes parked jobs (by key) once they are queued again.
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a batch write fails or keeps leaving items.
    pub async fn unpark(&self, keys: Vec<Item>) -> Result<(), StoreError> {
        super::batch::delete_keys(&self.ddb, &self.tables.deliveries, keys).await?;
        Ok(())
    }

    /// Settles the parked job at `key` (a `PARK#<lane>#<psid>` row, as the
    /// `by_subject` index lists it) of a lead being erased, in one
    /// transaction: the job is deleted and counted as the skip a sender
    /// records for an erased lead ([`skip_outcome`]`(None, None)`:
    /// `skipped_unsubscribed`, reason `erased`), its record naming the lead
    /// by digest only (as [`BroadcastStore::record_outcome`] with
    /// `lead_erased`), kept as long as the job would have been. Without
    /// this the job is never sent nor counted, and the resumed broadcast
    /// stays `sending`.
    ///
    /// True if it counted the job now. False if the job was gone (settled
    /// before: erasure may run twice), or was accounted for otherwise (a
    /// delivery of the lead exists in the broadcast, or the skip was
    /// recorded by a sender): then it is only deleted. A job that no longer
    /// reads is deleted uncounted.
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a DynamoDB call fails ([`StoreError::is_retryable`]
    /// says whether to try again).
    pub async fn settle_erased_parked(&self, key: Item, now_ms: i64) -> Result<bool, StoreError> {
        let (Some(pk), Some(sk)) = (opt_s(&key, "pk"), opt_s(&key, "sk")) else {
            return Err(StoreError::Corrupt("parked key"));
        };
        let Some(parked) = get_item(&self.ddb, &self.tables.deliveries, pk, Some(sk)).await? else {
            return Ok(false);
        };
        let Some(task) = opt_s(&parked, "job").and_then(|j| serde_json::from_str::<SendTask>(&j).ok()) else {
            tracing::warn!("a parked job of an erased lead no longer reads: deleted uncounted");
            self.unpark(vec![key]).await?;
            return Ok(false);
        };
        let (state, reason) = skip_outcome(None, None);
        let not_delivered = ConditionCheck::builder()
            .table_name(&self.tables.deliveries)
            .key("pk", s(broadcast_pk(&task.broadcast_id)))
            .key("sk", s(delivery_sk(&task.psid)))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|_| StoreError::Corrupt("condition"))?;
        let delete = Delete::builder()
            .table_name(&self.tables.deliveries)
            .set_key(Some(key.clone()))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(|_| StoreError::Corrupt("delete"))?;
        // The skip a sender records for an erased lead: by digest, with its
        // reason, counted.
        let [record, count] = self.skip_writes(&task, state, reason, now_ms, n_or_zero(&parked, "expires_at"), true)?;
        let items = vec![
            TransactWriteItem::builder().condition_check(not_delivered).build(),
            TransactWriteItem::builder().delete(delete).build(),
            record,
            count,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(err) if cancelled_because(&err, 1) == Some("ConditionalCheckFailed") => Ok(false),
            Err(err)
                if cancelled_because(&err, 0) == Some("ConditionalCheckFailed")
                    || cancelled_because(&err, 2) == Some("ConditionalCheckFailed") =>
            {
                self.unpark(vec![key]).await?;
                Ok(false)
            }
            Err(err) => Err(StoreError::dynamo(err)),
        }
    }
}
