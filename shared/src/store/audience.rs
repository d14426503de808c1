//! The audience: a page's subscribed leads, read one shard of the sparse
//! `audience` index at a time, a page per call, with a text cursor the
//! planner checkpoints on the broadcast, one shard at a time (`planned`).

use aws_sdk_dynamodb::types::AttributeValue;

use super::keys::{audience_pk, AUDIENCE_INDEX};
use super::leads::subscriber_from_item;
use super::{BroadcastStore, Cursor, StoreError};
use crate::ids::PageId;
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
}
