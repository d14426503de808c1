//! What the sender writes on a lead besides a claim: its marketing send (the
//! 48-hour rule) and Meta's word that the person cannot be reached.

use super::deliveries::{bind_lifetime, of_lifetime};
use super::item::{n, s, unless_condition_failed};
use super::keys::{subscriber_pk, subscriber_sk, unreachable_pk};
use super::{BroadcastStore, StoreError};
use crate::consent::SubscriberStatus;
use crate::ids::{PageId, Psid};

impl BroadcastStore {
    /// Records a marketing-messages send on the lead of the lifetime
    /// `generation` (the job's, if it has one: [`super::deliveries::of_lifetime`]),
    /// the 48-hour rule; nothing for a lead erased meanwhile.
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a DynamoDB call fails ([`StoreError::is_retryable`]
    /// says whether to try again).
    pub async fn note_marketing_sent(
        &self,
        page: &PageId,
        psid: &Psid,
        generation: Option<&str>,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        let update = self
            .ddb
            .update_item()
            .table_name(&self.tables.subscribers)
            .key("pk", s(subscriber_pk(page)))
            .key("sk", s(subscriber_sk(psid)))
            .update_expression("SET last_marketing_sent_at_ms = :t REMOVE marketing_hold_until_ms ADD version :one")
            .condition_expression(format!("attribute_exists(pk){}", of_lifetime(generation)))
            .expression_attribute_values(":t", n(at_ms))
            .expression_attribute_values(":one", n(1));
        unless_condition_failed(bind_lifetime(update, generation).send().await)
    }

    /// Meta says the person cannot be reached: out of every audience, and
    /// into the `unreachable` index dated `at_ms` (their status's time), so
    /// the sweep erases them once the purge period has passed unless they
    /// write again first (ingest then makes them subscribed, which takes
    /// them out of it: [`super::leads::subscriber_to_item`]). Only the lead
    /// of the lifetime `generation` (the job's, if it has one) is marked:
    /// one who was erased and began again after the job was planned is a
    /// new conversation, which Meta's answer to the old one does not judge.
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a DynamoDB call fails ([`StoreError::is_retryable`]
    /// says whether to try again).
    pub async fn mark_unreachable(
        &self,
        page: &PageId,
        psid: &Psid,
        generation: Option<&str>,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        let update = self
            .ddb
            .update_item()
            .table_name(&self.tables.subscribers)
            .key("pk", s(subscriber_pk(page)))
            .key("sk", s(subscriber_sk(psid)))
            .update_expression(
                "SET #s = :u, unreachable_pk = :p, consent_changed_at_ms = :at REMOVE audience_pk ADD version :one",
            )
            .condition_expression(format!("#s = :subscribed{}", of_lifetime(generation)))
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":u", s(SubscriberStatus::Unreachable.as_str()))
            .expression_attribute_values(":p", s(unreachable_pk(page)))
            .expression_attribute_values(":at", n(at_ms))
            .expression_attribute_values(":subscribed", s(SubscriberStatus::Subscribed.as_str()));
        unless_condition_failed(bind_lifetime(update, generation).send().await)
    }
}
