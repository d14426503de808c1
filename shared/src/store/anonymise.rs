//! A lead erased while a broadcast is sending to them. Erasure leaves no
//! PSID behind, yet each of the lead's send jobs must still count exactly
//! once: so erasure does not drop a delivery record of theirs, it moves it
//! under their digest (`SUB#~<digest>`, [`BroadcastStore::anonymise_delivery`]),
//! state kept. A claim in flight is then completed (or released) there by
//! the sender (`BroadcastStore::complete`, `release`), and a job SQS
//! delivers again meets the record there (the skip a sender records for an
//! erased lead goes under the same key, only if none exists) instead of
//! being counted a second time.

use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem};

use super::item::{get_item, n, n_or_zero, opt_s, s, Item};
use super::keys::{age_pk, broadcast_pk, delivery_sk, delivery_sk_of, erased_recipient};
use super::tx::cancelled_because;
use super::{BroadcastStore, StoreError};
use crate::broadcast::DeliveryState;
use crate::queue::SendTask;

/// What a delivery record keeps when it moves under the lead's digest:
/// its outcome and dates, nothing that names or reaches the person (no
/// PSID, no `subject_pk`, no Meta message id).
const KEPT: [&str; 5] = ["page_id", "state", "at_ms", "expires_at", "reason"];

impl BroadcastStore {
    /// The state of `task`'s delivery and when it was last written (ms),
    /// under the lead's PSID or, once they are erased, their digest;
    /// `None` when there is none (or its state is not one we write).
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a DynamoDB call fails ([`StoreError::is_retryable`]
    /// says whether to try again).
    pub async fn delivery_state(&self, task: &SendTask) -> Result<Option<(DeliveryState, i64)>, StoreError> {
        let pk = broadcast_pk(&task.broadcast_id);
        let mut item = get_item(
            &self.ddb,
            &self.tables.deliveries,
            pk.clone(),
            Some(delivery_sk(&task.psid)),
        )
        .await?;
        if item.is_none() {
            let erased = delivery_sk_of(&erased_recipient(&task.page_id, &task.psid));
            item = get_item(&self.ddb, &self.tables.deliveries, pk, Some(erased)).await?;
        }
        Ok(item
            .as_ref()
            .and_then(|i| Some((DeliveryState::parse(&opt_s(i, "state")?)?, n_or_zero(i, "at_ms")))))
    }

    /// Moves the delivery record at `key` (`SUB#<psid>` of a broadcast, as
    /// the `by_subject` index lists it) of a lead being erased under their
    /// digest, in one transaction, its state unchanged since it was read
    /// (a sender completing it meanwhile makes it read again). A record
    /// with no state (a late receipt's stub) is only deleted. True if a
    /// record went (moved or deleted); false if there was none.
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a DynamoDB call fails;
    /// [`StoreError::Corrupt`] when `key` is not a delivery's key.
    pub async fn anonymise_delivery(&self, key: Item, page: &crate::ids::PageId) -> Result<bool, StoreError> {
        let (Some(pk), Some(sk)) = (opt_s(&key, "pk"), opt_s(&key, "sk")) else {
            return Err(StoreError::Corrupt("delivery key"));
        };
        let psid = sk
            .strip_prefix("SUB#")
            .and_then(|p| crate::ids::Psid::parse(p).ok())
            .ok_or(StoreError::Corrupt("delivery key"))?;
        // A sender may complete the record between the read and the move:
        // the move's condition sees it, and the record is read again.
        for _ in 0..5 {
            let Some(record) = get_item(&self.ddb, &self.tables.deliveries, pk.clone(), Some(sk.clone())).await? else {
                return Ok(false);
            };
            let Some(state) = opt_s(&record, "state") else {
                super::batch::delete_keys(&self.ddb, &self.tables.deliveries, vec![key]).await?;
                return Ok(true);
            };
            let recipient = erased_recipient(page, &psid);
            let mut moved: Item = KEPT
                .iter()
                .filter_map(|a| Some((a.to_string(), record.get(*a)?.clone())))
                .collect();
            moved.insert("pk".into(), s(&pk));
            moved.insert("sk".into(), s(delivery_sk_of(&recipient)));
            // Still swept by age, as the record it replaces.
            let id = pk.strip_prefix("BCAST#").unwrap_or(&pk);
            moved.insert("age_pk".into(), s(age_pk(page, &format!("{id}#{recipient}"))));
            moved.entry("at_ms".into()).or_insert_with(|| n(0));
            let delete = Delete::builder()
                .table_name(&self.tables.deliveries)
                .set_key(Some(key.clone()))
                .condition_expression("#s = :read")
                .expression_attribute_names("#s", "state")
                .expression_attribute_values(":read", s(&state))
                .build()
                .map_err(|_| StoreError::Corrupt("delete"))?;
            let put = Put::builder()
                .table_name(&self.tables.deliveries)
                .set_item(Some(moved))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(|_| StoreError::Corrupt("put"))?;
            let items = vec![
                TransactWriteItem::builder().delete(delete).build(),
                TransactWriteItem::builder().put(put).build(),
            ];
            match self.transact(items).await {
                Ok(()) => return Ok(true),
                // Changed since the read: read it again.
                Err(err) if cancelled_because(&err, 0) == Some("ConditionalCheckFailed") => continue,
                // The digest holds a record of this job already (a sender's
                // skip of the erased lead): that one counts; this one goes.
                Err(err) if cancelled_because(&err, 1) == Some("ConditionalCheckFailed") => {
                    super::batch::delete_keys(&self.ddb, &self.tables.deliveries, vec![key]).await?;
                    return Ok(true);
                }
                Err(err) => return Err(StoreError::dynamo(err)),
            }
        }
        Err(StoreError::Corrupt("a delivery kept changing while it was anonymised"))
    }
}
