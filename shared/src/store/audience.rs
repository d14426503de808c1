//! The audience: a page's subscribed leads, read one shard of the sparse
//! `audience` index at a time, a page per call, with a text cursor the
//! planner checkpoints on the broadcast (see [`super::BroadcastStore::checkpoint`]).

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;

use super::keys::{audience_pk, AUDIENCE_INDEX};
use super::leads::subscriber_from_item;
use super::{BroadcastStore, StoreError};
use crate::ids::PageId;
use crate::lead::Subscriber;

/// One page of an audience shard.
#[derive(Debug, Clone)]
pub struct AudiencePage {
    /// The subscribed leads read (an item that does not decode is skipped).
    pub leads: Vec<Subscriber>,
    /// Where the next page starts; `None` when the shard is read to its end.
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
            .set_exclusive_start_key(decode_cursor(cursor))
            .limit(limit)
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        Ok(AudiencePage {
            next: out.last_evaluated_key().filter(|k| !k.is_empty()).map(encode_cursor),
            leads: out
                .items()
                .iter()
                .filter_map(|item| subscriber_from_item(item).ok())
                .collect(),
        })
    }
}

fn encode_cursor(key: &HashMap<String, AttributeValue>) -> String {
    let plain: BTreeMap<&str, &str> = key
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.as_s().ok()?.as_str())))
        .collect();
    serde_json::to_string(&plain).unwrap_or_default()
}

fn decode_cursor(cursor: &str) -> Option<HashMap<String, AttributeValue>> {
    if cursor.is_empty() {
        return None;
    }
    let plain: HashMap<String, String> = serde_json::from_str(cursor).ok()?;
    Some(plain.into_iter().map(|(k, v)| (k, AttributeValue::S(v))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        let key: HashMap<String, AttributeValue> =
            [("pk", "PAGE#1"), ("sk", "SUB#2"), ("audience_pk", "PAGE#1#SHARD#3")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), AttributeValue::S(v.to_string())))
                .collect();
        assert_eq!(decode_cursor(&encode_cursor(&key)), Some(key));
        assert_eq!(decode_cursor(""), None);
    }
}
