//! What each broadcast did after it was sent: Meta's delivery and read
//! watermarks and a lead's unsubscribe, attributed to the sends they cover.
//! Pure functions over a lead's recent sends ([`RecentSend`], kept on the
//! subscriber record, so ingest reads them with the lead it reads anyway and
//! commits their change in the transaction it commits anyway: a watermark
//! costs no DynamoDB request of its own).
//!
//! - A `message_deliveries` watermark covers every message sent to that lead
//!   before it (Meta's webhook reference, "message-deliveries"), and its
//!   optional `mids` name some explicitly: those sends become delivered.
//! - A `message_reads` watermark covers every message sent before it: read,
//!   which implies delivered.
//! - An unsubscribe (the lead's consent changes to unsubscribed) counts for
//!   the broadcast whose Unsubscribe control was tapped (its payload names
//!   it, [`crate::consent::unsubscribe_payload`]), else for the lead's latest
//!   send within [`STOP_ATTRIBUTION_WINDOW_MS`] before it (a STOP keyword,
//!   Meta's marketing stop).
//!
//! Each send counts at most once per outcome: the flags on its entry say
//! what was counted, and the entry changes in the same transaction as the
//! counters, so a redelivered watermark changes nothing.

use crate::ids::BroadcastId;
use crate::meta::{EventKind, InboundEvent};

mod protection;
mod series;
pub use protection::{
    baseline_at_resume, pause_reason, paused_by_protection, Protection, ProtectionBaseline, ProtectionCounts,
    ProtectionError, PROTECTION_REASON_PREFIX,
};
pub use series::{bucket_minute, Outcomes, SeriesPoint, SERIES_LATE_AFTER_MS, SERIES_MAX_AGE_MS};

/// A STOP within this long after a send counts as that send's unsubscribe:
/// 48 hours. Issue 12 asks for a stated window ("e.g. 48 h"); 48 hours is
/// also the span Meta itself treats as one marketing message's turn (one
/// marketing message per lead per rolling 48 hours, meta-platform.md §5), so
/// a STOP inside it answers that message more plausibly than an older one.
pub const STOP_ATTRIBUTION_WINDOW_MS: i64 = 48 * 60 * 60 * 1000;
/// Sends kept per lead for attribution; older ones are dropped first.
pub const RECENT_SENDS_MAX: usize = 20;
/// A send older than this is no longer attributed (30 days): a receipt or an
/// Unsubscribe tap after that is counted nowhere.
pub const RECENT_SENDS_KEEP_MS: i64 = 30 * 24 * 60 * 60 * 1000;

/// Reason codes a skipped or failed delivery carries besides
/// [`crate::broadcast::PolicySkip::code`] (`GET /v1/broadcasts/<id>/recipients/<psid>`).
pub mod reason {
    /// The lead unsubscribed before the send (also: status unknown).
    pub const UNSUBSCRIBED: &str = "unsubscribed";
    /// Meta had said the person cannot be reached before this send.
    pub const UNREACHABLE: &str = "unreachable";
    /// The lead was erased before the send.
    pub const ERASED: &str = "erased";
    /// Subscribed, but another broadcast's marketing message holds the
    /// lead's one marketing message per 48 hours.
    pub const MARKETING_HOLD: &str = "marketing_hold";
    /// The Send API refused it by policy (window, marketing limit), code kept.
    pub const META_POLICY: &str = "meta_policy";
    /// The job waited, parked by a paused broadcast, past its page's
    /// retention: the retention sweep deleted it and counted it so.
    pub const RETENTION_EXPIRED: &str = "retention_expired";
    /// The Send API said the person blocked the Page or cannot be reached.
    pub const BLOCKED: &str = "blocked";
    /// The Send API refused our request (bad parameter): a bug of ours.
    pub const META_REJECTED: &str = "meta_rejected";
    /// A run died between claim and outcome: may have been sent, never resent.
    pub const STALE_CLAIM: &str = "stale_claim";
    /// The Send API call ended without an answer we could read, after the
    /// request may have reached Meta: may have been sent, never resent.
    pub const UNKNOWN_OUTCOME: &str = "unknown_outcome";
    /// Its job kept being deferred (Meta's rate limits, our storage) until
    /// its last try: never sent, counted so its broadcast still finishes.
    pub const RETRIES_EXHAUSTED: &str = "retries_exhausted";

    /// Every code a skipped delivery (`skipped_unsubscribed`,
    /// `skipped_policy`) can carry, [`crate::broadcast::PolicySkip::code`]
    /// included: the keys of `counts.skipped_by_reason` and the sender's
    /// `Skipped.<code>` metrics.
    pub const SKIPPED: [&str; 11] = [
        UNSUBSCRIBED,
        UNREACHABLE,
        ERASED,
        "outside_window",
        "marketing_stopped",
        "marketing_expired",
        "marketing_unavailable",
        "marketing_too_soon",
        MARKETING_HOLD,
        META_POLICY,
        RETENTION_EXPIRED,
    ];
    /// Every code a failed delivery can carry (`counts.failed_by_reason`,
    /// the `Failed.<code>` metrics).
    pub const FAILED: [&str; 5] = [BLOCKED, META_REJECTED, STALE_CLAIM, UNKNOWN_OUTCOME, RETRIES_EXHAUSTED];
}

/// Meta's error as counted per broadcast: `code/subcode`, `code`, or
/// `http_<status>` when the body named no code.
pub fn meta_error_code(http_status: u16, code: Option<i64>, subcode: Option<i64>) -> String {
    match (code, subcode) {
        (Some(c), Some(s)) => format!("{c}/{s}"),
        (Some(c), None) => c.to_string(),
        (None, _) => format!("http_{http_status}"),
    }
}

/// One broadcast message sent to a lead, as kept on the lead for attribution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentSend {
    pub broadcast_id: BroadcastId,
    /// Our clock just before the Send API call (ms): no later than Meta's
    /// time for the message, so a watermark at or after Meta's time covers it.
    pub sent_at_ms: i64,
    /// The `message_id` the Send API answered.
    pub mid: Option<String>,
    pub delivered: bool,
    pub read: bool,
    pub unsubscribed: bool,
}

impl RecentSend {
    /// A send just made: nothing counted yet.
    pub fn new(broadcast_id: BroadcastId, sent_at_ms: i64, mid: Option<String>) -> Self {
        Self {
            broadcast_id,
            sent_at_ms,
            mid,
            delivered: false,
            read: false,
            unsubscribed: false,
        }
    }
}

/// What an inbound event says about earlier sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal<'a> {
    /// `message_deliveries`: everything sent up to `watermark` (ms), and the
    /// messages `mids` names, reached the lead's device.
    Delivered { watermark_ms: i64, mids: &'a [String] },
    /// `message_reads`: everything sent up to `watermark` (ms) was read.
    Read { watermark_ms: i64 },
    /// The lead's consent changed to unsubscribed at `at_ms`; `control` is
    /// the broadcast an Unsubscribe control named, if it named one.
    Unsubscribed { at_ms: i64, control: Option<BroadcastId> },
}

/// What `event` says about earlier sends, if anything: its watermark, or,
/// when applying it unsubscribed the lead (`became_unsubscribed`), the
/// unsubscribe (with the broadcast its Unsubscribe control names).
pub fn signal_of(event: &InboundEvent, became_unsubscribed: bool) -> Option<Signal<'_>> {
    match &event.kind {
        EventKind::Delivery { mids, watermark } => Some(Signal::Delivered {
            watermark_ms: *watermark,
            mids,
        }),
        EventKind::Read { watermark } => Some(Signal::Read {
            watermark_ms: *watermark,
        }),
        kind if became_unsubscribed => {
            let payload = match kind {
                EventKind::Message(m) => m.quick_reply_payload.as_deref(),
                EventKind::Postback(p) => p.payload.as_deref(),
                _ => None,
            };
            Some(Signal::Unsubscribed {
                at_ms: event.timestamp_ms,
                control: payload.and_then(crate::consent::unsubscribe_broadcast),
            })
        }
        _ => None,
    }
}

impl Signal<'_> {
    /// The signal with a watermark no later than `max_ms`: a watermark stamped
    /// ahead of the time we received it (see [`crate::meta::EventTime`]'s
    /// clamping) covers only what was sent by then, never sends made later.
    pub fn capped(self, max_ms: i64) -> Self {
        match self {
            Signal::Delivered { watermark_ms, mids } => Signal::Delivered {
                watermark_ms: watermark_ms.min(max_ms),
                mids,
            },
            Signal::Read { watermark_ms } => Signal::Read {
                watermark_ms: watermark_ms.min(max_ms),
            },
            other => other,
        }
    }
}

/// What changed for one send: the times to record on its delivery and the
/// counters to add on its broadcast (each `Some` is counted once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribution {
    pub broadcast_id: BroadcastId,
    pub sent_at_ms: i64,
    pub delivered_at_ms: Option<i64>,
    pub read_at_ms: Option<i64>,
    pub unsubscribed_at_ms: Option<i64>,
}

/// How many sends a set of attributions newly counts as delivered, read and
/// unsubscribed: exactly what they add to the broadcasts' counters (the
/// ingest metrics publish these).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counted {
    pub delivered: u32,
    pub read: u32,
    pub unsubscribed: u32,
}

impl Counted {
    pub fn of(attributions: &[Attribution]) -> Self {
        let n = |f: fn(&Attribution) -> Option<i64>| attributions.iter().filter(|a| f(a).is_some()).count() as u32;
        Self {
            delivered: n(|a| a.delivered_at_ms),
            read: n(|a| a.read_at_ms),
            unsubscribed: n(|a| a.unsubscribed_at_ms),
        }
    }
}

/// Applies `signal` to a lead's `recent` sends: flags what it covers that
/// was not counted yet and returns one [`Attribution`] per send that changed
/// (none for a redelivered or older watermark).
pub fn attribute(recent: &mut [RecentSend], signal: &Signal<'_>) -> Vec<Attribution> {
    let mut out = Vec::new();
    match signal {
        Signal::Delivered { watermark_ms, mids } => {
            for send in recent.iter_mut() {
                let named = send.mid.as_ref().is_some_and(|m| mids.contains(m));
                if !send.delivered && (send.sent_at_ms <= *watermark_ms || named) {
                    send.delivered = true;
                    out.push(Attribution {
                        delivered_at_ms: Some(*watermark_ms),
                        ..Attribution::none(send)
                    });
                }
            }
        }
        Signal::Read { watermark_ms } => {
            for send in recent.iter_mut() {
                if !send.read && send.sent_at_ms <= *watermark_ms {
                    let delivered_at_ms = (!send.delivered).then_some(*watermark_ms);
                    send.delivered = true;
                    send.read = true;
                    out.push(Attribution {
                        delivered_at_ms,
                        read_at_ms: Some(*watermark_ms),
                        ..Attribution::none(send)
                    });
                }
            }
        }
        Signal::Unsubscribed { at_ms, control } => {
            let chosen = match control {
                // The tapped control names its broadcast: only a send of it
                // to this lead counts (a forged or foreign id counts nowhere).
                Some(id) => recent.iter_mut().find(|s| &s.broadcast_id == id),
                None => recent
                    .iter_mut()
                    .filter(|s| s.sent_at_ms <= *at_ms && at_ms - s.sent_at_ms <= STOP_ATTRIBUTION_WINDOW_MS)
                    .max_by_key(|s| s.sent_at_ms),
            };
            if let Some(send) = chosen.filter(|s| !s.unsubscribed) {
                send.unsubscribed = true;
                out.push(Attribution {
                    unsubscribed_at_ms: Some(*at_ms),
                    ..Attribution::none(send)
                });
            }
        }
    }
    out
}

impl Attribution {
    fn none(send: &RecentSend) -> Self {
        Self {
            broadcast_id: send.broadcast_id.clone(),
            sent_at_ms: send.sent_at_ms,
            delivered_at_ms: None,
            read_at_ms: None,
            unsubscribed_at_ms: None,
        }
    }
}

/// Drops sends older than [`RECENT_SENDS_KEEP_MS`] at `now_ms` and keeps at
/// most [`RECENT_SENDS_MAX`], the newest.
pub fn prune(recent: &mut Vec<RecentSend>, now_ms: i64) {
    recent.retain(|s| now_ms - s.sent_at_ms <= RECENT_SENDS_KEEP_MS);
    if recent.len() > RECENT_SENDS_MAX {
        recent.sort_by_key(|s| s.sent_at_ms);
        let extra = recent.len() - RECENT_SENDS_MAX;
        recent.drain(..extra);
    }
}

#[cfg(test)]
mod tests;
