//! Deliveries: the per-recipient record whose `(broadcast, psid)` key is the
//! idempotency key of a send, claimed in one transaction with the lead's
//! and the broadcast's checks, then completed and counted on the lead's lane.

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, TransactWriteItem, Update};

use super::item::{n, s, Item};
use super::keys::{
    age_pk, audience_shard, broadcast_pk, delivery_sk, delivery_sk_of, erased_recipient, lane_pk, subject_pk,
    subscriber_pk, subscriber_sk,
};
use super::outcomes::{recent_send_to_attr, Completion};
use super::tx::cancelled_because;
use super::{BroadcastStore, StoreError};
use crate::broadcast::{BroadcastState, Claim, DeliveryState, MarketingHold};
use crate::consent::SubscriberStatus;
use crate::outcomes::RecentSend;

/// The condition suffix holding a write on a lead to the lifetime a job
/// was planned for (`:g`, its generation), or none for a job without one.
pub(crate) fn of_lifetime(generation: Option<&str>) -> &'static str {
    if generation.is_some() {
        " AND generation = :g"
    } else {
        ""
    }
}

/// `update` with the value (`:g`) [`of_lifetime`]'s condition names.
pub(crate) fn bind_lifetime(
    update: aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
    generation: Option<&str>,
) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
    match generation {
        Some(g) => update.expression_attribute_values(":g", super::item::s(g)),
        None => update,
    }
}

impl BroadcastStore {
    /// One transaction: the lead is still subscribed (and, for a marketing
    /// send, was sent none in 48 hours and none is in flight: the claim takes
    /// the lead's hold), the broadcast is still active, and no delivery exists
    /// yet; then the delivery is claimed.
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a DynamoDB call fails ([`StoreError::is_retryable`]
    /// says whether to try again).
    pub async fn claim(
        &self,
        task: &crate::queue::SendTask,
        marketing: Option<MarketingHold>,
        expires_at_s: i64,
        now_ms: i64,
    ) -> Result<Claim, StoreError> {
        // The lead the job was planned for, not one begun since an erasure.
        let lifetime = of_lifetime(task.lead.generation.as_deref());
        let generation = task.lead.generation.as_deref().map(s);
        let lead = match marketing {
            None => {
                let check = ConditionCheck::builder()
                    .table_name(&self.tables.subscribers)
                    .key("pk", s(subscriber_pk(&task.page_id)))
                    .key("sk", s(subscriber_sk(&task.psid)))
                    .condition_expression(format!("#s = :subscribed{lifetime}"))
                    .expression_attribute_names("#s", "status")
                    .expression_attribute_values(":subscribed", s(SubscriberStatus::Subscribed.as_str()));
                let check = match generation {
                    Some(g) => check.expression_attribute_values(":g", g),
                    None => check,
                };
                TransactWriteItem::builder()
                    .condition_check(check.build().map_err(|_| StoreError::Corrupt("condition"))?)
                    .build()
            }
            Some(hold) => {
                let update = Update::builder()
                    .table_name(&self.tables.subscribers)
                    .key("pk", s(subscriber_pk(&task.page_id)))
                    .key("sk", s(subscriber_sk(&task.psid)))
                    .update_expression("SET marketing_hold_until_ms = :until ADD version :one")
                    .condition_expression(format!(
                        "#s = :subscribed AND marketing_stopped = :running{lifetime} \
                         AND (attribute_not_exists(last_marketing_sent_at_ms) OR last_marketing_sent_at_ms <= :cutoff) \
                         AND (attribute_not_exists(marketing_hold_until_ms) OR marketing_hold_until_ms <= :now)"
                    ))
                    .expression_attribute_names("#s", "status")
                    .expression_attribute_values(":subscribed", s(SubscriberStatus::Subscribed.as_str()))
                    // The token read before the pacing wait may have been
                    // stopped since.
                    .expression_attribute_values(":running", AttributeValue::Bool(false))
                    .expression_attribute_values(":cutoff", n(hold.cutoff_ms))
                    .expression_attribute_values(":now", n(now_ms))
                    .expression_attribute_values(":until", n(hold.until_ms))
                    .expression_attribute_values(":one", n(1));
                let update = match generation {
                    Some(g) => update.expression_attribute_values(":g", g),
                    None => update,
                };
                TransactWriteItem::builder()
                    .update(update.build().map_err(|_| StoreError::Corrupt("update"))?)
                    .build()
            }
        };
        let broadcast_check = ConditionCheck::builder()
            .table_name(&self.tables.broadcasts)
            .key("pk", s(lane_pk(&task.broadcast_id, audience_shard(&task.psid))))
            .condition_expression("#s IN (:planning, :sending)")
            .expression_attribute_names("#s", "state")
            .expression_attribute_values(":planning", s(BroadcastState::Planning.as_str()))
            .expression_attribute_values(":sending", s(BroadcastState::Sending.as_str()))
            .build()
            .map_err(|_| StoreError::Corrupt("condition"))?;
        let put = Put::builder()
            .table_name(&self.tables.deliveries)
            .set_item(Some(delivery_item(
                task,
                DeliveryState::Claimed,
                now_ms,
                expires_at_s,
                false,
            )))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|_| StoreError::Corrupt("put"))?;
        let items = vec![
            lead,
            TransactWriteItem::builder().condition_check(broadcast_check).build(),
            TransactWriteItem::builder().put(put).build(),
        ];
        match self.transact(items).await {
            Ok(()) => Ok(Claim::Claimed),
            Err(err) => {
                let failed = |i: usize| cancelled_because(&err, i) == Some("ConditionalCheckFailed");
                // Most specific first: a delivery that exists means "ran before".
                if failed(2) {
                    Ok(Claim::AlreadyClaimed)
                } else if failed(1) {
                    Ok(Claim::BroadcastInactive)
                } else if failed(0) {
                    Ok(Claim::LeadNotEligible)
                } else {
                    Err(StoreError::dynamo(err))
                }
            }
        }
    }

    /// Records an outcome for a job that never claimed (a skip) with its
    /// `reason` code, counting it in the same transaction; false if the job
    /// was recorded before. For a lead erased since planning the record names
    /// them only by digest: an erasure leaves no PSID behind, even in what
    /// comes after it.
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a DynamoDB call fails ([`StoreError::is_retryable`]
    /// says whether to try again).
    pub async fn record_outcome(
        &self,
        task: &crate::queue::SendTask,
        state: DeliveryState,
        reason: &str,
        now_ms: i64,
        expires_at_s: i64,
        lead_erased: bool,
    ) -> Result<bool, StoreError> {
        let items = self
            .skip_writes(task, state, reason, now_ms, expires_at_s, lead_erased)?
            .to_vec();
        self.transact_once(items).await
    }

    /// A skip's two writes, for one transaction: its record with `reason`
    /// (only if none exists yet; by digest alone when `lead_erased`) and its
    /// count, under its reason too. A sender's skip and erasure's settling
    /// of a parked job both record a skip so.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] when a request cannot be built.
    pub(super) fn skip_writes(
        &self,
        task: &crate::queue::SendTask,
        state: DeliveryState,
        reason: &str,
        now_ms: i64,
        expires_at_s: i64,
        lead_erased: bool,
    ) -> Result<[TransactWriteItem; 2], StoreError> {
        let mut item = delivery_item(task, state, now_ms, expires_at_s, lead_erased);
        item.insert("reason".into(), s(reason));
        let put = Put::builder()
            .table_name(&self.tables.deliveries)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|_| StoreError::Corrupt("put"))?;
        Ok([
            TransactWriteItem::builder().put(put).build(),
            self.count_update(
                task,
                state,
                &Completion {
                    reason: Some(reason),
                    ..Completion::default()
                },
            )?,
        ])
    }

    /// Moves a claimed delivery to its final state and counts it, atomically:
    /// a job that runs twice can never count twice. A send also appends
    /// itself to the lead's recent sends (for attributing receipts, in the
    /// same transaction: no request of its own); a lead erased meanwhile is
    /// left alone.
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a DynamoDB call fails ([`StoreError::is_retryable`]
    /// says whether to try again).
    pub async fn complete(
        &self,
        task: &crate::queue::SendTask,
        state: DeliveryState,
        done: &Completion<'_>,
    ) -> Result<bool, StoreError> {
        let mut items = vec![
            self.completion(task, &delivery_sk(&task.psid), state, done)?,
            self.count_update(task, state, done)?,
        ];
        let remember = match (state, done.sent_at_ms) {
            (DeliveryState::Sent, Some(at)) => Some(RecentSend::new(
                task.broadcast_id.clone(),
                at,
                done.message_id.map(str::to_string),
            )),
            _ => None,
        };
        if let Some(recent) = &remember {
            // Only on the lifetime it was sent to: not on a lead begun since.
            let lifetime = of_lifetime(task.lead.generation.as_deref());
            let lead = Update::builder()
                .table_name(&self.tables.subscribers)
                .key("pk", s(subscriber_pk(&task.page_id)))
                .key("sk", s(subscriber_sk(&task.psid)))
                .update_expression(
                    "SET recent_sends = list_append(if_not_exists(recent_sends, :none), :sent) ADD version :one",
                )
                .condition_expression(format!("attribute_exists(pk){lifetime}"))
                .expression_attribute_values(":none", AttributeValue::L(Vec::new()))
                .expression_attribute_values(":sent", AttributeValue::L(vec![recent_send_to_attr(recent)]))
                .expression_attribute_values(":one", n(1));
            let lead = match task.lead.generation.as_deref() {
                Some(g) => lead.expression_attribute_values(":g", s(g)),
                None => lead,
            };
            let lead = lead.build().map_err(|_| StoreError::Corrupt("update"))?;
            items.push(TransactWriteItem::builder().update(lead).build());
        }
        match self.transact(items.clone()).await {
            Ok(()) => Ok(true),
            // Not claimed under the PSID: completed before, or the lead was
            // erased since the claim and erasure carried the claim over to
            // their digest (`BroadcastStore::anonymise_delivery`).
            Err(err) if cancelled_because(&err, 0) == Some("ConditionalCheckFailed") => {
                self.complete_erased(task, state, done).await
            }
            // The lead was erased since the claim: record the send without them.
            Err(err) if remember.is_some() && cancelled_because(&err, 2) == Some("ConditionalCheckFailed") => {
                items.pop();
                self.transact_once(items).await
            }
            Err(err) => Err(StoreError::dynamo(err)),
        }
    }

    /// Completes a claim that erasure carried over to the lead's digest:
    /// the record keeps no `message_id`, the lead's recent sends are gone
    /// with them. False if it is not claimed there either (done before).
    async fn complete_erased(
        &self,
        task: &crate::queue::SendTask,
        state: DeliveryState,
        done: &Completion<'_>,
    ) -> Result<bool, StoreError> {
        let anonymous = Completion {
            message_id: None,
            ..*done
        };
        let sk = delivery_sk_of(&erased_recipient(&task.page_id, &task.psid));
        let items = vec![
            self.completion(task, &sk, state, &anonymous)?,
            self.count_update(task, state, done)?,
        ];
        self.transact_once(items).await
    }

    /// The update that moves the claimed delivery at `sk` to `state`, with
    /// what `done` records on it.
    fn completion(
        &self,
        task: &crate::queue::SendTask,
        sk: &str,
        state: DeliveryState,
        done: &Completion<'_>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut sets = vec!["#s = :st"];
        let mut update = Update::builder()
            .table_name(&self.tables.deliveries)
            .key("pk", s(broadcast_pk(&task.broadcast_id)))
            .key("sk", s(sk))
            .condition_expression("#s = :claimed")
            .expression_attribute_names("#s", "state")
            .expression_attribute_values(":st", s(state.as_str()))
            .expression_attribute_values(":claimed", s(DeliveryState::Claimed.as_str()));
        if let Some(m) = done.message_id {
            sets.push("message_id = :m");
            update = update.expression_attribute_values(":m", s(m));
        }
        if let Some(at) = done.sent_at_ms {
            sets.push("sent_at_ms = :sent");
            update = update.expression_attribute_values(":sent", n(at));
        }
        if let Some(r) = done.reason {
            sets.push("reason = :r");
            update = update.expression_attribute_values(":r", s(r));
        }
        let update = update
            .update_expression(format!("SET {}", sets.join(", ")))
            .build()
            .map_err(|_| StoreError::Corrupt("update"))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}

/// A delivery record. One about a lead erased since planning names them only
/// by digest (`SUB#~<digest>`) and stays out of the per-subject index.
fn delivery_item(
    task: &crate::queue::SendTask,
    state: DeliveryState,
    now_ms: i64,
    expires_at_s: i64,
    lead_erased: bool,
) -> Item {
    let recipient = if lead_erased {
        erased_recipient(&task.page_id, &task.psid)
    } else {
        task.psid.to_string()
    };
    let mut item = Item::new();
    item.insert("pk".into(), s(broadcast_pk(&task.broadcast_id)));
    item.insert("sk".into(), s(delivery_sk_of(&recipient)));
    item.insert("page_id".into(), s(task.page_id.as_str()));
    item.insert("state".into(), s(state.as_str()));
    item.insert("at_ms".into(), n(now_ms));
    item.insert("expires_at".into(), n(expires_at_s));
    // For the retention sweep and for erasure/export of one subject.
    let key = format!("{}#{recipient}", task.broadcast_id);
    item.insert("age_pk".into(), s(age_pk(&task.page_id, &key)));
    if !lead_erased {
        item.insert("subject_pk".into(), s(subject_pk(&task.page_id, &task.psid)));
    }
    item
}
