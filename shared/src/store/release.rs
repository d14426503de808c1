//! A claim given back: the delivery is released so the job may run again
//! (a send that did not happen), with the lead's marketing hold.

use aws_sdk_dynamodb::types::{Delete, TransactWriteItem, Update};

use super::item::{n, s, unless_condition_failed};
use super::keys::{
    audience_shard, broadcast_pk, delivery_sk, delivery_sk_of, erased_recipient, lane_pk, subscriber_pk, subscriber_sk,
};
use super::outcomes::error_attr;
use super::{BroadcastStore, StoreError};
use crate::broadcast::{DeliveryState, MarketingHold};

impl BroadcastStore {
    /// Releases a claim whose send certainly did not happen (rate limited,
    /// transient error), and its marketing hold, so a retry may send;
    /// `meta_error` (Meta's `code` or `code/subcode`) is counted on the
    /// broadcast in the same request.
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a DynamoDB call fails ([`StoreError::is_retryable`]
    /// says whether to try again).
    pub async fn release(
        &self,
        task: &crate::queue::SendTask,
        marketing: Option<MarketingHold>,
        meta_error: Option<&str>,
    ) -> Result<(), StoreError> {
        if let Some(hold) = marketing {
            let out = self
                .ddb
                .update_item()
                .table_name(&self.tables.subscribers)
                .key("pk", s(subscriber_pk(&task.page_id)))
                .key("sk", s(subscriber_sk(&task.psid)))
                .update_expression("REMOVE marketing_hold_until_ms ADD version :one")
                .condition_expression("marketing_hold_until_ms = :until")
                .expression_attribute_values(":until", n(hold.until_ms))
                .expression_attribute_values(":one", n(1))
                .send()
                .await;
            // Not ours any more (expired and taken, or the lead erased): fine.
            unless_condition_failed(out)?;
        }
        // Claimed under the PSID, else (the lead erased since the claim)
        // under their digest: either way the retry finds the job free.
        if !self.release_claim(task, &delivery_sk(&task.psid), meta_error).await? {
            let erased = delivery_sk_of(&erased_recipient(&task.page_id, &task.psid));
            self.release_claim(task, &erased, meta_error).await?;
        }
        Ok(())
    }

    /// Deletes the claim at `sk`, counting `meta_error` on the lane in the
    /// same request; false if nothing was claimed there (released before).
    async fn release_claim(
        &self,
        task: &crate::queue::SendTask,
        sk: &str,
        meta_error: Option<&str>,
    ) -> Result<bool, StoreError> {
        let delete = Delete::builder()
            .table_name(&self.tables.deliveries)
            .key("pk", s(broadcast_pk(&task.broadcast_id)))
            .key("sk", s(sk))
            .condition_expression("#s = :claimed")
            .expression_attribute_names("#s", "state")
            .expression_attribute_values(":claimed", s(DeliveryState::Claimed.as_str()))
            .build()
            .map_err(|_| StoreError::Corrupt("delete"))?;
        let mut items = vec![TransactWriteItem::builder().delete(delete).build()];
        if let Some(code) = meta_error {
            // The claim goes and Meta's error is counted on the lane in one
            // request.
            let count = Update::builder()
                .table_name(&self.tables.broadcasts)
                .key("pk", s(lane_pk(&task.broadcast_id, audience_shard(&task.psid))))
                .update_expression("ADD #e :one")
                .expression_attribute_names("#e", error_attr(code))
                .expression_attribute_values(":one", n(1))
                .build()
                .map_err(|_| StoreError::Corrupt("update"))?;
            items.push(TransactWriteItem::builder().update(count).build());
        }
        // Not claimed any more (released before): nothing to count again.
        self.transact_once(items).await
    }
}
