//! The audience: a page's subscribed leads, read one shard of the sparse
//! `audience` index at a time, a page per call, with a text cursor the
//! planner checkpoints on the broadcast, one shard at a time.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::item::{n, s, Item};
use super::keys::{audience_pk, broadcast_pk, AUDIENCE_INDEX};
use super::leads::subscriber_from_item;
use super::{BroadcastStore, Cursor, StoreError, CURSOR_DONE};
use crate::broadcast::BroadcastState;
use crate::ids::{BroadcastId, PageId};
use crate::lead::Subscriber;

/// One page of an audience shard.
#[derive(Debug, Clone)]
pub struct AudiencePage {
    /// The subscribed leads read (an item that does not decode is skipped).
    pub leads: Vec<Subscriber>,
    /// Where the next page starts ([`Cursor::encode`]d, as the planner
    /// checkpoints it); `None` when the shard is read to its end.
    pub next: Option<String>,
}

impl BroadcastStore {
    /// Up to `limit` subscribed leads of `page` in audience shard `shard`,
    /// after `cursor` (`""`: from the start).
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when the query fails.
    pub async fn audience_page(
        &self,
        page: &PageId,
        shard: u32,
        cursor: &str,
        limit: i32,
    ) -> Result<AudiencePage, StoreError> {
        let out = self
            .ddb
            .query()
            .table_name(&self.tables.subscribers)
            .index_name(AUDIENCE_INDEX)
            .key_condition_expression("audience_pk = :a")
            .expression_attribute_values(":a", AttributeValue::S(audience_pk(page, shard)))
            .set_exclusive_start_key(Cursor::decode(cursor).map(|c| c.0))
            .limit(limit)
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        Ok(AudiencePage {
            next: out
                .last_evaluated_key()
                .filter(|k| !k.is_empty())
                .map(|k| Cursor(k.clone()).encode()),
            leads: out
                .items()
                .iter()
                .filter_map(|item| subscriber_from_item(item).ok())
                .collect(),
        })
    }

    /// Records a planned page: moves the shard's cursor from `prev` to `next`
    /// and adds `queued`, only if nobody else moved it (one planner per
    /// shard) and the broadcast is still to be planned.
    ///
    /// A paused broadcast takes the checkpoint too: the page's jobs are on
    /// the send queue already (the sender parks them, and a resume queues
    /// them again), so they are counted in `queued` and the resume plans on
    /// after them. Refused, they would count as processed but never as
    /// queued, and the broadcast could finish with jobs still in flight.
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a DynamoDB call fails ([`StoreError::is_retryable`]
    /// says whether to try again); [`StoreError::Corrupt`] when the
    /// broadcast's state does not read.
    pub async fn checkpoint(
        &self,
        id: &BroadcastId,
        shard: u32,
        prev: &str,
        next: &str,
        queued: i64,
    ) -> Result<Checkpoint, StoreError> {
        let finished = next == CURSOR_DONE;
        let mut update = format!("SET cursor_{shard} = :next ADD queued :q");
        if finished {
            update.push_str(", shards_done :one");
        }
        // Not once cancelled or done: a cancel drops the cursors (they hold
        // a lead's key), and none comes back after it.
        let condition = if prev.is_empty() {
            format!(
                "(attribute_not_exists(cursor_{shard}) OR cursor_{shard} = :prev) AND #s IN (:planning, :sending, :paused)"
            )
        } else {
            format!("cursor_{shard} = :prev AND #s IN (:planning, :sending, :paused)")
        };
        let mut req = self
            .ddb
            .update_item()
            .table_name(&self.tables.broadcasts)
            .key("pk", s(broadcast_pk(id)))
            .expression_attribute_names("#s", "state")
            .expression_attribute_values(":planning", s(BroadcastState::Planning.as_str()))
            .expression_attribute_values(":sending", s(BroadcastState::Sending.as_str()))
            .expression_attribute_values(":paused", s(BroadcastState::Paused.as_str()))
            .update_expression(update)
            .condition_expression(condition)
            .expression_attribute_values(":next", s(next))
            .expression_attribute_values(":prev", s(prev))
            .expression_attribute_values(":q", n(queued))
            .return_values(ReturnValue::AllNew);
        if finished {
            req = req.expression_attribute_values(":one", n(1));
        }
        match req.send().await {
            Ok(out) => Ok(Checkpoint::Moved(state_of(out.attributes())?)),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                // The SDK retries a write whose answer was lost (timeout,
                // 500) though DynamoDB applied it; the retry then fails its
                // condition. The cursor already at `next` is that write.
                let attr = format!("cursor_{shard}");
                let out = self
                    .ddb
                    .get_item()
                    .table_name(&self.tables.broadcasts)
                    .key("pk", s(broadcast_pk(id)))
                    .projection_expression("#c, #s")
                    .expression_attribute_names("#c", &attr)
                    .expression_attribute_names("#s", "state")
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(StoreError::dynamo)?;
                let cursor = out.item().and_then(|i| i.get(&attr)).and_then(|v| v.as_s().ok());
                if cursor.map(String::as_str) != Some(next) {
                    return Ok(Checkpoint::Refused);
                }
                Ok(Checkpoint::Moved(state_of(out.item())?))
            }
            Err(e) => Err(StoreError::dynamo(e)),
        }
    }
}

/// What a planner's [`BroadcastStore::checkpoint`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checkpoint {
    /// The shard's cursor moved and the page's jobs are counted; the
    /// broadcast's state after it (paused: the planner stops there, and a
    /// resume plans on from the cursor).
    Moved(BroadcastState),
    /// Not moved: another planner moved the shard on (it owns it now), or
    /// the broadcast was cancelled or is done.
    Refused,
}

/// The broadcast's state in a read or returned item.
fn state_of(item: Option<&Item>) -> Result<BroadcastState, StoreError> {
    item.and_then(|i| i.get("state"))
        .and_then(|v| v.as_s().ok())
        .and_then(|st| BroadcastState::parse(st))
        .ok_or(StoreError::Corrupt("state"))
}
