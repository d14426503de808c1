//! Page protection: a broadcast pauses itself when too many of the people
//! it reached unsubscribe or turn out to have blocked the Page, before
//! Meta's "heavy negative feedback" restrictions land on the Page
//! (meta-platform.md §8).

/// A page's protection thresholds (`PUT /v1/pages/<page>`, `protection`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Protection {
    /// Pause when (unsubscribed + blocked) / messages is above this (a
    /// fraction: 0.02 is 2%; messages: sent plus blocked, see [`pause_reason`]).
    pub max_negative_rate: f64,
    /// Only once this many messages were sent or blocked: below it a
    /// handful of people would decide.
    pub min_sends: i64,
}

impl Default for Protection {
    /// 2% after 200 sends. Meta publishes no block-rate threshold, so the
    /// default is a judgement: email's bulk-sender rules (Gmail/Yahoo, 2024)
    /// already treat 0.3% complaints as a problem, and a broadcast losing 1
    /// in 50 of its audience at once is far outside a healthy list (typical
    /// unsubscribe rates per send are well under 1%). 200 sends make a
    /// false alarm unlikely: for a true rate of 0.5%, more than 2% (≥ 5 of
    /// 200) happens by chance about 0.4% of the time (Poisson, λ = 1).
    fn default() -> Self {
        Self {
            max_negative_rate: 0.02,
            min_sends: 200,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtectionError {
    #[error("max_negative_rate must be a number above 0 and at most 1")]
    Rate,
    #[error("min_sends must be between 1 and 1000000")]
    MinSends,
}

impl Protection {
    /// Checks a page's chosen thresholds.
    ///
    /// # Errors
    /// [`ProtectionError`] naming the value out of range.
    pub fn new(max_negative_rate: f64, min_sends: i64) -> Result<Self, ProtectionError> {
        if !(max_negative_rate > 0.0 && max_negative_rate <= 1.0) {
            return Err(ProtectionError::Rate);
        }
        if !(1..=1_000_000).contains(&min_sends) {
            return Err(ProtectionError::MinSends);
        }
        Ok(Self {
            max_negative_rate,
            min_sends,
        })
    }
}

/// The counts page protection judges, summed over a broadcast's lanes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProtectionCounts {
    pub sent: i64,
    pub unsubscribed: i64,
    pub blocked: i64,
}

impl ProtectionCounts {
    /// What happened after `base` was taken (never below zero).
    fn since(self, base: &ProtectionCounts) -> Self {
        Self {
            sent: (self.sent - base.sent).max(0),
            unsubscribed: (self.unsubscribed - base.unsubscribed).max(0),
            blocked: (self.blocked - base.blocked).max(0),
        }
    }
}

/// What a broadcast had sent and lost when the marketer resumed it after
/// page protection paused it. From then on protection judges only what
/// happens after the resume, with the same threshold and minimum: the
/// marketer has seen the rate that paused it and chose to go on, so those
/// same unchanged counts must not pause it again at once; a new burst of
/// unsubscribes or blocks (above the rate, over at least `min_sends` new
/// sends) still does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtectionBaseline {
    /// When the resume was made (ms).
    pub resumed_at_ms: i64,
    /// The broadcast's counts at that moment.
    pub counts: ProtectionCounts,
}

/// How every pause reason of page protection begins.
pub const PROTECTION_REASON_PREFIX: &str = "page protection:";

/// Whether a broadcast's `paused_reason` is page protection's.
pub fn paused_by_protection(paused_reason: Option<&str>) -> bool {
    paused_reason.is_some_and(|r| r.starts_with(PROTECTION_REASON_PREFIX))
}

/// The baseline a resume records: the counts `now` when page protection
/// made the pause (`paused_reason`), else `None` (keep the one in force: a
/// pause by the marketer or by a page error says nothing about the rate, so
/// resuming it does not forgive what protection counts).
pub fn baseline_at_resume(
    paused_reason: Option<&str>,
    now: ProtectionCounts,
    resumed_at_ms: i64,
) -> Option<ProtectionBaseline> {
    paused_by_protection(paused_reason).then_some(ProtectionBaseline {
        resumed_at_ms,
        counts: now,
    })
}

/// Why a broadcast with these counts should pause now, or `None`: its
/// (unsubscribed + blocked) / messages is above the page's rate after at
/// least its minimum of messages, counted since `since` (the last resume of
/// a protection pause) if there is one. Messages are the sends Meta
/// accepted plus those it refused as blocked: a blocked person was sent to
/// as much as anyone (and a broadcast whose every send is blocked must
/// pause, not wait for a first success).
pub fn pause_reason(now: ProtectionCounts, since: Option<&ProtectionBaseline>, p: &Protection) -> Option<String> {
    let judged = since.map_or(now, |b| now.since(&b.counts));
    let messages = judged.sent + judged.blocked;
    if messages < p.min_sends.max(1) {
        return None;
    }
    let negative = judged.unsubscribed + judged.blocked;
    let rate = negative as f64 / messages as f64;
    let after = if since.is_some() { " since the resume" } else { "" };
    (rate > p.max_negative_rate).then(|| {
        format!(
            "{PROTECTION_REASON_PREFIX} {negative} of {messages} messages{after} unsubscribed or blocked ({:.1}%), above the page's {:.1}% after {} messages",
            rate * 100.0,
            p.max_negative_rate * 100.0,
            p.min_sends
        )
    })
}
