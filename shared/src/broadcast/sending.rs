//! A broadcast as stored and counted, and what happens to each of its
//! recipients (claims, delivery states, the marketing-messages hold).

use std::collections::BTreeMap;

use super::{BroadcastMessage, BroadcastState};
use crate::ids::{BroadcastId, PageId};

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub queued: i64,
    pub sent: i64,
    pub skipped_unsubscribed: i64,
    pub skipped_policy: i64,
    pub failed: i64,
    /// `skipped_unsubscribed + skipped_policy` by reason code (the codes of
    /// the recipient route: `outside_window`, `unsubscribed`,
    /// `marketing_hold`, …); counted in the update that counts the skip.
    pub skipped_by_reason: BTreeMap<String, i64>,
    /// `failed` by reason code (`blocked`, `meta_rejected`, `stale_claim`,
    /// `unknown_outcome`).
    pub failed_by_reason: BTreeMap<String, i64>,
}

impl Counts {
    pub fn processed(&self) -> i64 {
        self.sent + self.skipped_unsubscribed + self.skipped_policy + self.failed
    }
    pub fn is_zero(&self) -> bool {
        *self == Counts::default()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Broadcast {
    pub id: BroadcastId,
    pub page_id: PageId,
    pub name: Option<String>,
    pub message: BroadcastMessage,
    pub audience_tags: Vec<String>,
    pub send_at_ms: Option<i64>,
    pub state: BroadcastState,
    pub created_at_ms: i64,
    pub counts: Counts,
    pub shards_done: u32,
    pub cursors: BTreeMap<u32, String>,
    pub paused_reason: Option<String>,
    /// What its messages did after sending (summed over its lanes).
    pub outcomes: crate::outcomes::Outcomes,
    /// When it was last resumed (ms); `None` if never paused and resumed.
    /// Only a resumed broadcast can have parked jobs to send again.
    pub resumed_at_ms: Option<i64>,
    /// Set when the marketer resumed it after page protection paused it:
    /// protection then judges only what happened after that resume
    /// ([`crate::outcomes::pause_reason`]).
    pub protection_baseline: Option<crate::outcomes::ProtectionBaseline>,
}

impl Broadcast {
    /// What page protection judges now: messages sent, and the
    /// unsubscribes and blocks attributed to them.
    pub fn protection_counts(&self) -> crate::outcomes::ProtectionCounts {
        crate::outcomes::ProtectionCounts {
            sent: self.counts.sent,
            unsubscribed: self.outcomes.unsubscribed,
            blocked: self.outcomes.blocked,
        }
    }
}

/// A marketing-messages claim's hold on its lead: no other marketing claim
/// for the lead passes while it lasts, and none within 48 hours of the last
/// marketing send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarketingHold {
    /// A marketing send after this is too recent.
    pub cutoff_ms: i64,
    pub until_ms: i64,
}

impl MarketingHold {
    /// Longer than a sender invocation can live (Lambda stops at 15 minutes),
    /// so a hold outlives its send; one left by a dead sender lapses.
    pub const LENGTH_MS: i64 = 15 * 60_000;

    pub fn at(now_ms: i64) -> Self {
        Self {
            cutoff_ms: now_ms - crate::broadcast::MARKETING_GAP_MS,
            until_ms: now_ms + Self::LENGTH_MS,
        }
    }

    /// Whether a hold lasting until `until_ms` (a lead's
    /// `marketing_hold_until_ms`) still holds at `now_ms` (ms): the sender's
    /// claim refuses a marketing send while it does (its condition
    /// `marketing_hold_until_ms <= :now`, in `store::deliveries`).
    pub fn holds(until_ms: Option<i64>, now_ms: i64) -> bool {
        until_ms.is_some_and(|until| until > now_ms)
    }
}

/// Outcome of the atomic check-and-claim before a send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    Claimed,
    /// The lead is no longer subscribed (or, for a marketing send, was sent
    /// one within 48 hours).
    LeadNotEligible,
    /// The broadcast was cancelled or paused.
    BroadcastInactive,
    /// A delivery record exists: this job ran before.
    AlreadyClaimed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    Claimed,
    Sent,
    SkippedUnsubscribed,
    SkippedPolicy,
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Claimed => "claimed",
            DeliveryState::Sent => "sent",
            DeliveryState::SkippedUnsubscribed => "skipped_unsubscribed",
            DeliveryState::SkippedPolicy => "skipped_policy",
            DeliveryState::Failed => "failed",
        }
    }

    /// The state [`DeliveryState::as_str`] wrote, if it is one.
    pub fn parse(raw: &str) -> Option<Self> {
        [
            DeliveryState::Claimed,
            DeliveryState::Sent,
            DeliveryState::SkippedUnsubscribed,
            DeliveryState::SkippedPolicy,
            DeliveryState::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }
}
