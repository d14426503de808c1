//! A lead as the domain sees it: the subscriber (consent state, its proof,
//! Meta's 24-hour window and marketing token, tags, watermarks), a consent
//! change with its evidence, and what an erasure leaves behind. Storage
//! encodes these in [`crate::store`]; nothing here knows DynamoDB.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::consent::{ConsentChange, SubscriberStatus};
use crate::ids::{PageId, Psid};
use crate::meta::Platform;

/// The evidence behind a consent change: which event, when, and hashes that
/// tie it to Meta's signed delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    pub event_key: String,
    pub event_time_ms: i64,
    pub event_sha256: String,
    pub delivery_sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarketingToken {
    /// The token, sealed under the subject's data key.
    pub sealed: Vec<u8>,
    pub expires_at_ms: Option<i64>,
    pub stopped: bool,
    pub timezone: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    pub page_id: PageId,
    pub psid: Psid,
    pub platform: Platform,
    pub status: SubscriberStatus,
    /// Event time of the last consent change applied.
    pub consent_changed_at_ms: i64,
    /// Event time of the last explicit opt-in or opt-out, applied or not
    /// (one that changed nothing still outranks older ones delivered later).
    pub consent_intent_at_ms: i64,
    /// That time is the time of receipt standing in for an impossible
    /// timestamp (see [`crate::meta::EventTime`]): any real time outranks it.
    pub consent_intent_clamped: bool,
    pub opted_in: Option<Proof>,
    /// For Meta's 24-hour window.
    pub last_inbound_at_ms: Option<i64>,
    /// The subject's KMS-wrapped data key, stored in the subject-keys table
    /// (not in the subscriber item, whose table is backed up).
    pub data_key: Vec<u8>,
    pub marketing: Option<MarketingToken>,
    pub tags: BTreeSet<String>,
    pub delivered_watermark: i64,
    pub read_watermark: i64,
    /// Last marketing-messages send (Meta allows one per 48 hours).
    pub last_marketing_sent_at_ms: Option<i64>,
    /// A marketing-messages send in flight holds the lead's 48-hour slot
    /// until then, so two broadcasts cannot both claim it.
    pub marketing_hold_until_ms: Option<i64>,
    /// Broadcast messages sent to this lead lately, for attributing Meta's
    /// watermarks and the lead's unsubscribe to them ([`crate::outcomes`]).
    /// The sender appends; ingest flags and prunes.
    pub recent_sends: Vec<crate::outcomes::RecentSend>,
    pub created_at_ms: i64,
    /// When the person was last erased before this lead began (ms since the
    /// epoch, their tombstone's time), if they were: what they sent until
    /// then is the erased past, which Meta's late retries must not bring
    /// back onto this lead ([`Subscriber::erasure_covers`]).
    pub prior_erasure_at_ms: Option<i64>,
    /// This lead's lifetime: random, drawn when the lead is created, so a
    /// lead erased and begun again is never taken for the one before it by
    /// a writer that read the old one (their versions both start at 1).
    /// `None` for a lead stored before generations were kept.
    pub generation: Option<String>,
    /// Optimistic-concurrency version; 0 means "not stored yet". Every
    /// writer of a subscriber bumps it, so a stale full-item write fails.
    pub version: u64,
}

impl Subscriber {
    /// A lead as first stored: subscribed, nothing sent or read yet, no last
    /// word on consent, version 0. `data_key` is the subject key as KMS
    /// wrapped it; `created_at_ms` is ms since the epoch.
    pub fn new(page_id: PageId, psid: Psid, platform: Platform, data_key: Vec<u8>, created_at_ms: i64) -> Self {
        Self {
            page_id,
            psid,
            platform,
            status: SubscriberStatus::Subscribed,
            consent_changed_at_ms: 0,
            opted_in: None,
            last_inbound_at_ms: None,
            data_key,
            marketing: None,
            tags: BTreeSet::new(),
            delivered_watermark: 0,
            read_watermark: 0,
            last_marketing_sent_at_ms: None,
            marketing_hold_until_ms: None,
            recent_sends: Vec::new(),
            consent_intent_at_ms: 0,
            consent_intent_clamped: false,
            created_at_ms,
            prior_erasure_at_ms: None,
            generation: Some(crate::ids::new_generation()),
            version: 0,
        }
    }

    /// Whether what the person sent at `time` predates the erasure this
    /// lead began after (the rule of [`Tombstone::covers`]); false for a
    /// lead that began with no erasure before it. An untrusted time (the
    /// time of receipt standing in) counts as before the erasure only while
    /// Meta may still be retrying what was sent before it
    /// ([`META_RETRY_HORIZON_MS`]): received later, it is new.
    pub fn erasure_covers(&self, time: crate::meta::EventTime) -> bool {
        prior_erasure_covers(self.prior_erasure_at_ms, time)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRecord {
    pub at_ms: i64,
    pub change: ConsentChange,
    pub proof: Proof,
}

/// Where a tombstone is stored: opaque outside the store, which reads it
/// with the tombstone and writes to it ([`crate::store::EventCommit`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TombstoneKey {
    pub(crate) pk: String,
    pub(crate) sk: String,
}

/// What an erasure leaves of a subject that matters to consent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tombstone {
    pub key: TombstoneKey,
    pub erased_at_ms: i64,
    /// Why (`request`, `meta_deletion_callback`, `unsubscribed_purge`,
    /// `unreachable_purge`).
    pub reason: String,
    /// The lead's status when erased.
    pub status_before: Option<SubscriberStatus>,
    /// When that status was reached (ms).
    pub consent_changed_at_ms: i64,
}

impl Tombstone {
    /// Whether this erasure covers what the person sent at `time`: no later
    /// than the erasure, or at a time we could not trust while Meta may
    /// still be retrying what was sent before it ([`prior_erasure_covers`]:
    /// later, an untrusted time is something new). Such an event or item
    /// must not bring the person or their words back.
    pub fn covers(&self, time: crate::meta::EventTime) -> bool {
        erasure_covers(self.erased_at_ms, time)
    }
}

/// How long after sending an event Meta may still deliver it (ms): Meta
/// retries a webhook "with decreasing frequency over 36 hours, then
/// drops" it (Graph webhooks reference); two days, with margin.
pub const META_RETRY_HORIZON_MS: i64 = 48 * 60 * 60 * 1000;

/// [`Subscriber::erasure_covers`] of a lead whose prior erasure was at
/// `prior_erasure_at_ms` (if any).
pub fn prior_erasure_covers(prior_erasure_at_ms: Option<i64>, time: crate::meta::EventTime) -> bool {
    prior_erasure_at_ms.is_some_and(|at| erasure_covers(at, time))
}

/// Whether an erasure at `erased_at_ms` covers what was sent at `time`: no
/// later than it, or, for a time we could not trust (the time of receipt
/// standing in), received within [`META_RETRY_HORIZON_MS`] of it.
fn erasure_covers(erased_at_ms: i64, time: crate::meta::EventTime) -> bool {
    let until = if time.clamped {
        erased_at_ms.saturating_add(META_RETRY_HORIZON_MS)
    } else {
        erased_at_ms
    };
    time.ms <= until
}

/// One entry of a lead's consent log as read back (the management API's
/// history): each field as stored, `None` where the entry lacks it. Times in
/// ms since the epoch; statuses and reasons in their stored spelling.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsentEntry {
    pub at_ms: Option<i64>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub reason: Option<String>,
    pub event_key: Option<String>,
    pub event_sha256: Option<String>,
    pub delivery_sha256: Option<String>,
}

/// Why a lead was erased (kept in its tombstone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErasureReason {
    /// `POST /v1/erasure`.
    Request,
    /// Meta's data-deletion callback.
    MetaDeletionCallback,
    /// The sweep: unsubscribed for longer than the purge period.
    UnsubscribedPurge,
    /// The sweep: unreachable (Meta's word) for longer than the purge period.
    UnreachablePurge,
}

impl ErasureReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ErasureReason::Request => "request",
            ErasureReason::MetaDeletionCallback => "meta_deletion_callback",
            ErasureReason::UnsubscribedPurge => "unsubscribed_purge",
            ErasureReason::UnreachablePurge => "unreachable_purge",
        }
    }
}
