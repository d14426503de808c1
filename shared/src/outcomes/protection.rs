//! Page protection: a broadcast pauses itself when too many of the people
//! it reached unsubscribe or turn out to have blocked the Page, before
//! Meta's "heavy negative feedback" restrictions land on the Page
//! (meta-platform.md §8).

/// A page's protection thresholds (`PUT /v1/pages/<page>`, `protection`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Protection {
    /// Pause when (unsubscribed + blocked) / sent is above this (a fraction:
    /// 0.02 is 2%).
    pub max_negative_rate: f64,
    /// Only once this many messages were sent: below it a handful of people
    /// would decide.
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

/// Why a broadcast with these counts should pause now, or `None`.
pub fn pause_reason(sent: i64, unsubscribed: i64, blocked: i64, p: &Protection) -> Option<String> {
    if sent < p.min_sends.max(1) {
        return None;
    }
    let negative = unsubscribed + blocked;
    let rate = negative as f64 / sent as f64;
    (rate > p.max_negative_rate).then(|| {
        format!(
            "page protection: {negative} of {sent} sent unsubscribed or blocked ({:.1}%), above the page's {:.1}% after {} sends",
            rate * 100.0,
            p.max_negative_rate * 100.0,
            p.min_sends
        )
    })
}
