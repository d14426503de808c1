//! A planned page (the planner's outbox): the page's send jobs are recorded
//! in the same transaction that moves the shard's cursor and counts them in
//! `queued`, and sent after it; the record is cleared once they are on the
//! send queue. A record therefore exists only for a page that was counted,
//! and any run of the shard that finds one sends it (sending twice is
//! harmless: each job claims `(broadcast, psid)` first). Before, jobs went
//! out first and the checkpoint after: a failed checkpoint had the retry
//! read the page again from an audience that may have changed, count fewer
//! jobs than went out, and finish the broadcast with jobs still to send.
//!
//! The record holds the page's jobs (PSIDs and their leads' snapshots, no
//! text or names) for the moments between the checkpoint and the send; one
//! left by a run whose send failed stays until the shard's next run sends
//! it (its retry), a plan job's last try hands it to the sender (which parks
//! it, where erasure and the retention sweep find it), or a cancel deletes it.

use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};

use super::item::{get_item, n, opt_s, s, Item};
use super::keys::{broadcast_pk, planned_pk, AUDIENCE_SHARDS};
use super::tx::{cancelled_because_any, conflict_pause, CONFLICT_ATTEMPTS};
use super::{BroadcastStore, StoreError, CURSOR_DONE};
use crate::broadcast::{BroadcastState, LeadSnapshot};
use crate::ids::{BroadcastId, PageId, Psid};
use crate::queue::SendTask;
use crate::retention::expires_at_s;

/// A page's send jobs, as the checkpoint counts them.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedPage {
    /// The shard's cursor the page was read from, and the one after it
    /// ([`super::Cursor::encode`]d; [`CURSOR_DONE`] at the end).
    pub from: String,
    pub next: String,
    /// The jobs (each of the broadcast's page).
    pub tasks: Vec<SendTask>,
    /// Which run recorded it (16 hex digits), so a run can tell its own
    /// checkpoint whose answer was lost from another run's.
    pub token: String,
}

impl PlannedPage {
    /// A page about to be checkpointed, with a fresh token.
    pub fn new(from: String, next: String, tasks: Vec<SendTask>) -> Self {
        Self {
            from,
            next,
            tasks,
            token: fresh_token(),
        }
    }
}

/// A run's token for one try of a checkpoint (16 hex digits).
fn fresh_token() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// One job as recorded: the broadcast and the page are the record's own.
#[derive(Serialize, Deserialize)]
struct RecordedJob {
    psid: Psid,
    lead: LeadSnapshot,
}

/// What [`BroadcastStore::checkpoint`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checkpoint {
    /// The shard's cursor moved, the page's jobs are counted and recorded;
    /// the broadcast's state after it (paused: the planner stops there, and
    /// a resume plans on from the cursor).
    Moved(BroadcastState),
    /// Not moved: another run moved the shard on or has a counted page of
    /// it still to send, or the broadcast was cancelled or is done.
    Refused,
}

impl BroadcastStore {
    /// Records a planned page: in one transaction, moves the shard's cursor
    /// from `page.from` to `page.next`, adds its jobs to `queued` and records
    /// them, only if nobody else moved the cursor, no counted page of the
    /// shard is still to send, and the broadcast is still to be planned.
    ///
    /// A paused broadcast takes the checkpoint too: a pause landing while a
    /// page is planned must not leave its jobs uncounted; the sender parks
    /// them, and a resume queues them again.
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a DynamoDB call fails, or the transaction
    /// is cancelled for any reason but a refused condition (a conflict after
    /// a few tries) ([`StoreError::is_retryable`] says whether to try
    /// again); [`StoreError::Corrupt`] when the jobs do not serialise or the
    /// broadcast's state does not read.
    pub async fn checkpoint(
        &self,
        id: &BroadcastId,
        shard: u32,
        page: &mut PlannedPage,
        now_ms: i64,
    ) -> Result<Checkpoint, StoreError> {
        let mut update = format!("SET cursor_{shard} = :next ADD queued :q");
        if page.next == CURSOR_DONE {
            update.push_str(", shards_done :one");
        }
        // Not once cancelled or done: a cancel drops the cursors (they hold
        // a lead's key), and none comes back after it.
        let condition = if page.from.is_empty() {
            format!(
                "(attribute_not_exists(cursor_{shard}) OR cursor_{shard} = :prev) AND #s IN (:planning, :sending, :paused)"
            )
        } else {
            format!("cursor_{shard} = :prev AND #s IN (:planning, :sending, :paused)")
        };
        let mut definition = Update::builder()
            .table_name(&self.tables.broadcasts)
            .key("pk", s(broadcast_pk(id)))
            .update_expression(update)
            .condition_expression(condition)
            .expression_attribute_names("#s", "state")
            .expression_attribute_values(":planning", s(BroadcastState::Planning.as_str()))
            .expression_attribute_values(":sending", s(BroadcastState::Sending.as_str()))
            .expression_attribute_values(":paused", s(BroadcastState::Paused.as_str()))
            .expression_attribute_values(":next", s(&page.next))
            .expression_attribute_values(":prev", s(&page.from))
            .expression_attribute_values(":q", n(page.tasks.len()));
        if page.next == CURSOR_DONE {
            definition = definition.expression_attribute_values(":one", n(1));
        }
        let definition = definition.build().map_err(|_| StoreError::Corrupt("update"))?;
        // Every shard's planner writes the definition in a transaction, and
        // DynamoDB cancels one that meets another on an item: tried again
        // after a pause, under a fresh token (a retry of this run's own
        // write is told apart by any token it used).
        let mut record = record_item(id, shard, page, now_ms)?;
        let (mut tokens, mut attempt) = (Vec::new(), 0);
        loop {
            attempt += 1;
            tokens.push(page.token.clone());
            record.insert("token".into(), s(&page.token));
            let record = Put::builder()
                .table_name(&self.tables.broadcasts)
                .set_item(Some(record.clone()))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(|_| StoreError::Corrupt("put"))?;
            let items = vec![
                TransactWriteItem::builder().update(definition.clone()).build(),
                TransactWriteItem::builder().put(record).build(),
            ];
            let written = self
                .ddb
                .transact_write_items()
                .set_transact_items(Some(items))
                // DynamoDB answers a retry of an applied transaction (its
                // answer lost) as applied, for ten minutes.
                .client_request_token(&page.token)
                .send()
                .await;
            let err = match written {
                Ok(_) => return self.moved(id).await,
                Err(err) => err,
            };
            if cancelled_because_any(&err, "ConditionalCheckFailed") {
                // This run's own write if its record is there (an emulator
                // that ignores the request token fails the retry).
                return match self.planned(id, shard).await? {
                    Some(p) if tokens.contains(&p.token) => {
                        page.token = p.token;
                        self.moved(id).await
                    }
                    _ => Ok(Checkpoint::Refused),
                };
            }
            if cancelled_because_any(&err, "TransactionConflict") && attempt < CONFLICT_ATTEMPTS {
                conflict_pause(attempt).await;
                page.token = fresh_token();
                continue;
            }
            return Err(StoreError::dynamo(err));
        }
    }

    async fn moved(&self, id: &BroadcastId) -> Result<Checkpoint, StoreError> {
        Ok(Checkpoint::Moved(self.state(id).await?))
    }

    /// A broadcast's state, read consistently.
    async fn state(&self, id: &BroadcastId) -> Result<BroadcastState, StoreError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.tables.broadcasts)
            .key("pk", s(broadcast_pk(id)))
            .projection_expression("#s")
            .expression_attribute_names("#s", "state")
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        out.item()
            .and_then(|i| opt_s(i, "state"))
            .and_then(|st| BroadcastState::parse(&st))
            .ok_or(StoreError::Corrupt("state"))
    }

    /// Shard `shard`'s counted page still to send, if any (read consistently).
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when the read fails; [`StoreError::Corrupt`]
    /// when the record does not read.
    pub async fn planned(&self, id: &BroadcastId, shard: u32) -> Result<Option<PlannedPage>, StoreError> {
        let Some(item) = get_item(&self.ddb, &self.tables.broadcasts, planned_pk(id, shard), None).await? else {
            return Ok(None);
        };
        let corrupt = || StoreError::Corrupt("planned page");
        let field = |name: &'static str| opt_s(&item, name).ok_or_else(corrupt);
        let jobs: Vec<RecordedJob> = serde_json::from_str(&field("jobs")?).map_err(|_| corrupt())?;
        // An empty page records no page id.
        let tasks = if jobs.is_empty() {
            Vec::new()
        } else {
            let page_id = PageId::parse(&field("page_id")?).map_err(|_| corrupt())?;
            jobs.into_iter()
                .map(|j| SendTask {
                    broadcast_id: id.clone(),
                    page_id: page_id.clone(),
                    psid: j.psid,
                    lead: j.lead,
                })
                .collect()
        };
        Ok(Some(PlannedPage {
            from: field("from")?,
            next: field("next")?,
            tasks,
            token: field("token")?,
        }))
    }

    /// Deletes shard `shard`'s record if it is still the one `token` wrote
    /// (its jobs are on the send queue).
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when the delete fails.
    pub async fn clear_planned(&self, id: &BroadcastId, shard: u32, token: &str) -> Result<(), StoreError> {
        let deleted = self
            .ddb
            .delete_item()
            .table_name(&self.tables.broadcasts)
            .key("pk", s(planned_pk(id, shard)))
            .condition_expression("#t = :token")
            .expression_attribute_names("#t", "token")
            .expression_attribute_values(":token", s(token))
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(StoreError::dynamo(e)),
        }
    }

    /// Deletes every shard's record of a cancelled broadcast, whose jobs
    /// are never to be sent (none is written once it is cancelled).
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a delete fails.
    pub async fn drop_planned(&self, id: &BroadcastId) -> Result<(), StoreError> {
        let deletes = (0..AUDIENCE_SHARDS).map(|shard| {
            self.ddb
                .delete_item()
                .table_name(&self.tables.broadcasts)
                .key("pk", s(planned_pk(id, shard)))
                .send()
        });
        for result in futures_util::future::join_all(deletes).await {
            result.map_err(StoreError::dynamo)?;
        }
        Ok(())
    }
}

/// How long a record left unsent is kept (`expires_at`, the table's TTL):
/// the counted jobs of a page whose every send failed and whose broadcast
/// nobody resumed go after this, PSIDs included, as a dead-lettered job does.
pub const RECORD_KEPT_DAYS: u32 = 14;

/// The record of `page`: its jobs without what they share (the token is
/// each try's own).
fn record_item(id: &BroadcastId, shard: u32, page: &PlannedPage, now_ms: i64) -> Result<Item, StoreError> {
    let jobs: Vec<RecordedJob> = page
        .tasks
        .iter()
        .map(|t| RecordedJob {
            psid: t.psid.clone(),
            lead: t.lead.clone(),
        })
        .collect();
    let mut item = Item::new();
    item.insert("pk".into(), s(planned_pk(id, shard)));
    if let Some(first) = page.tasks.first() {
        item.insert("page_id".into(), s(first.page_id.as_str()));
    }
    item.insert("from".into(), s(&page.from));
    item.insert("next".into(), s(&page.next));
    item.insert(
        "jobs".into(),
        s(serde_json::to_string(&jobs).map_err(|_| StoreError::Corrupt("planned page"))?),
    );
    item.insert("expires_at".into(), n(expires_at_s(now_ms, RECORD_KEPT_DAYS)));
    Ok(item)
}
