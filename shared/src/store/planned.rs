//! A planned page, recorded before the planner's checkpoint counts it (a
//! transactional outbox): the planner records the page's send jobs, moves
//! the shard's cursor and adds them to `queued`, and only then sends them.
//! A run that stops between the checkpoint and the send (a failed send, a
//! timeout, a crash) leaves the page recorded, and the shard's next run
//! sends exactly the jobs that were counted. Before, jobs went out first
//! and the checkpoint after: a failed checkpoint had the retry read the page
//! again from an audience that may have changed (a lead who left meanwhile
//! had a job in flight that `queued` never counted), so the broadcast could
//! finish early and drop jobs still to be sent.
//!
//! The record holds the page's jobs (PSIDs and their leads' snapshots, no
//! text or names) for the seconds between recording and sending; one left
//! by a run that stopped stays until the shard's next run (a retry, or the
//! resume of a broadcast paused after its last try), or until a cancel
//! deletes it.

use aws_sdk_dynamodb::types::AttributeValue;

use super::item::{get_item, n, opt_s, s, Item};
use super::keys::planned_pk;
use super::{BroadcastStore, StoreError};
use crate::ids::BroadcastId;
use crate::queue::SendTask;

/// A page's send jobs as planned, before they are sent.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedPage {
    /// The shard's cursor the page was read from, and the one after it
    /// ([`super::Cursor::encode`]d; [`super::CURSOR_DONE`] at the end).
    pub from: String,
    pub next: String,
    /// The jobs, as the checkpoint counts them.
    pub tasks: Vec<SendTask>,
    /// Which run recorded it: only that run (or a later run's recovery)
    /// deletes it.
    pub token: String,
}

impl PlannedPage {
    /// A page about to be checkpointed, with a fresh token.
    pub fn new(from: String, next: String, tasks: Vec<SendTask>) -> Self {
        Self {
            from,
            next,
            tasks,
            token: format!("{:016x}", rand::random::<u64>()),
        }
    }
}

impl BroadcastStore {
    /// Records `page` as shard `shard`'s planned page, unless a record of
    /// another run from the same cursor is there: that run is planning this
    /// page now (or stopped before its checkpoint, and its retry clears it).
    /// `false` when refused.
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when the write fails; [`StoreError::Corrupt`]
    /// when the jobs do not serialise.
    pub async fn record_planned(&self, id: &BroadcastId, shard: u32, page: &PlannedPage) -> Result<bool, StoreError> {
        let tasks = serde_json::to_string(&page.tasks).map_err(|_| StoreError::Corrupt("planned page"))?;
        let mut item = Item::new();
        item.insert("pk".into(), s(planned_pk(id, shard)));
        item.insert("from".into(), s(&page.from));
        item.insert("next".into(), s(&page.next));
        item.insert("tasks".into(), s(tasks));
        item.insert("token".into(), s(&page.token));
        item.insert("jobs".into(), n(page.tasks.len() as i64));
        let put = self
            .ddb
            .put_item()
            .table_name(&self.tables.broadcasts)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR #f <> :from OR #t = :token")
            .expression_attribute_names("#f", "from")
            .expression_attribute_names("#t", "token")
            .expression_attribute_values(":from", s(&page.from))
            .expression_attribute_values(":token", s(&page.token))
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(StoreError::dynamo(e)),
        }
    }

    /// Shard `shard`'s planned page, if one is recorded (read consistently).
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when the read fails; [`StoreError::Corrupt`]
    /// when the record does not read.
    pub async fn planned(&self, id: &BroadcastId, shard: u32) -> Result<Option<PlannedPage>, StoreError> {
        let Some(item) = get_item(&self.ddb, &self.tables.broadcasts, planned_pk(id, shard), None).await? else {
            return Ok(None);
        };
        let field = |name: &'static str| opt_s(&item, name).ok_or(StoreError::Corrupt("planned page"));
        let tasks = serde_json::from_str(&field("tasks")?).map_err(|_| StoreError::Corrupt("planned page"))?;
        Ok(Some(PlannedPage {
            from: field("from")?,
            next: field("next")?,
            tasks,
            token: field("token")?,
        }))
    }

    /// Deletes shard `shard`'s planned page if it is still the one `token`
    /// recorded (a later run's record stays).
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when the delete fails.
    pub async fn clear_planned(&self, id: &BroadcastId, shard: u32, token: &str) -> Result<(), StoreError> {
        let deleted = self
            .ddb
            .delete_item()
            .table_name(&self.tables.broadcasts)
            .key("pk", AttributeValue::S(planned_pk(id, shard)))
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
}
