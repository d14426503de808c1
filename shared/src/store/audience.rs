//! The audience: a page's subscribed leads, read one shard of the sparse
//! `audience` index at a time, a page per call, with a text cursor the
//! planner checkpoints on the broadcast, one shard at a time.

use aws_sdk_dynamodb::types::AttributeValue;

use super::item::{n, s};
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
    /// and adds `queued`, only if nobody else moved it (one planner per shard).
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a DynamoDB call fails ([`StoreError::is_retryable`]
    /// says whether to try again).
    pub async fn checkpoint(
        &self,
        id: &BroadcastId,
        shard: u32,
        prev: &str,
        next: &str,
        queued: i64,
    ) -> Result<bool, StoreError> {
        let finished = next == CURSOR_DONE;
        let mut update = format!("SET cursor_{shard} = :next ADD queued :q");
        if finished {
            update.push_str(", shards_done :one");
        }
        // Only while the broadcast is active: a cancel or pause drops the
        // cursors (they hold a lead's key), and none comes back after it.
        let condition = if prev.is_empty() {
            format!("(attribute_not_exists(cursor_{shard}) OR cursor_{shard} = :prev) AND #s IN (:planning, :sending)")
        } else {
            format!("cursor_{shard} = :prev AND #s IN (:planning, :sending)")
        };
        let mut req = self
            .ddb
            .update_item()
            .table_name(&self.tables.broadcasts)
            .key("pk", s(broadcast_pk(id)))
            .expression_attribute_names("#s", "state")
            .expression_attribute_values(":planning", s(BroadcastState::Planning.as_str()))
            .expression_attribute_values(":sending", s(BroadcastState::Sending.as_str()))
            .update_expression(update)
            .condition_expression(condition)
            .expression_attribute_values(":next", s(next))
            .expression_attribute_values(":prev", s(prev))
            .expression_attribute_values(":q", n(queued));
        if finished {
            req = req.expression_attribute_values(":one", n(1));
        }
        match req.send().await {
            Ok(_) => Ok(true),
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
                    .projection_expression("#c")
                    .expression_attribute_names("#c", &attr)
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(StoreError::dynamo)?;
                let cursor = out.item().and_then(|i| i.get(&attr)).and_then(|v| v.as_s().ok());
                Ok(cursor.map(String::as_str) == Some(next))
            }
            Err(e) => Err(StoreError::dynamo(e)),
        }
    }
}
