//! One recipient of a broadcast read back (the management API's "why wasn't
//! this lead messaged?"): the delivery record the sender wrote, or the job
//! parked while the broadcast is paused.

use super::item::{get_item, opt_n, opt_s};
use super::keys::{audience_shard, broadcast_pk, delivery_sk, delivery_sk_of, erased_recipient, parked_sk};
use super::{BroadcastStore, StoreError};
use crate::broadcast::DeliveryState;
use crate::ids::{BroadcastId, PageId, Psid};

/// Where a recipient's job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecipientState {
    /// The sender recorded this (claimed, sent, skipped or failed).
    Delivery(DeliveryState),
    /// The job met the broadcast paused and waits, parked, for its resume;
    /// once resumed it is queued again and recorded like any other.
    Parked,
}

impl RecipientState {
    /// `parked`, or the delivery state's own name ([`DeliveryState::as_str`]).
    pub fn as_str(self) -> &'static str {
        match self {
            RecipientState::Delivery(d) => d.as_str(),
            RecipientState::Parked => "parked",
        }
    }
}

/// One recipient of a broadcast as the sender left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub state: RecipientState,
    /// Why it was skipped or failed (a code, see the README's list).
    pub reason: Option<String>,
    /// When the record was written (the claim, the skip, or the parking), ms.
    pub at_ms: i64,
    pub message_id: Option<String>,
    pub sent_at_ms: Option<i64>,
    pub delivered_at_ms: Option<i64>,
    pub read_at_ms: Option<i64>,
    pub unsubscribed_at_ms: Option<i64>,
}

impl BroadcastStore {
    /// What the sender left for `psid` (a lead of `page`) in broadcast `id`:
    /// its delivery record (also one written by digest, the lead erased),
    /// else its parked job; `None` when there is neither.
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a read fails; [`StoreError::Corrupt`]
    /// when the record's state is not one we write.
    pub async fn recipient(
        &self,
        id: &BroadcastId,
        page: &PageId,
        psid: &Psid,
    ) -> Result<Option<Recipient>, StoreError> {
        let read = |sk: String| get_item(&self.ddb, &self.tables.deliveries, broadcast_pk(id), Some(sk));
        let mut found = read(delivery_sk(psid)).await?;
        if found.is_none() {
            // A lead erased before the sender reached them is named by digest.
            found = read(delivery_sk_of(&erased_recipient(page, psid))).await?;
        }
        let Some(item) = found else {
            // No record yet: a job parked while the broadcast is paused?
            let parked = read(parked_sk(audience_shard(psid), psid)).await?;
            return Ok(parked.map(|p| Recipient {
                state: RecipientState::Parked,
                reason: None,
                at_ms: opt_n(&p, "at_ms").unwrap_or(0),
                message_id: None,
                sent_at_ms: None,
                delivered_at_ms: None,
                read_at_ms: None,
                unsubscribed_at_ms: None,
            }));
        };
        // A stub written back by a late receipt (see
        // `outcomes::attribution_items`) has no state: the send's record
        // itself is gone.
        let Some(state) = opt_s(&item, "state") else {
            return Ok(None);
        };
        Ok(Some(Recipient {
            state: RecipientState::Delivery(DeliveryState::parse(&state).ok_or(StoreError::Corrupt("state"))?),
            reason: opt_s(&item, "reason"),
            at_ms: opt_n(&item, "at_ms").unwrap_or(0),
            message_id: opt_s(&item, "message_id"),
            sent_at_ms: opt_n(&item, "sent_at_ms"),
            delivered_at_ms: opt_n(&item, "delivered_at_ms"),
            read_at_ms: opt_n(&item, "read_at_ms"),
            unsubscribed_at_ms: opt_n(&item, "unsubscribed_at_ms"),
        }))
    }
}
