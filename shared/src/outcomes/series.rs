//! A broadcast's outcome counts and its time series for plotting, as read
//! back (summed over the broadcast's lanes by the store).

use std::collections::BTreeMap;

/// Events more than this long after their send (24 h) are counted in the
/// hour they happened instead of the minute: the late trickle of reads
/// stays plottable while each counter item stays far below DynamoDB's
/// 400 KB item limit.
pub const SERIES_LATE_AFTER_MS: i64 = 24 * 60 * 60 * 1000;
/// Events more than 30 days after their send are counted in the totals only.
pub const SERIES_MAX_AGE_MS: i64 = 30 * 24 * 60 * 60 * 1000;

/// The series bucket of an event at `event_ms` about a send at `sent_at_ms`,
/// as minutes since the epoch: its minute; its hour's first minute when it
/// came more than [`SERIES_LATE_AFTER_MS`] after the send; `None` after
/// [`SERIES_MAX_AGE_MS`]. A send's own bucket is `bucket_minute(t, t)`.
pub fn bucket_minute(event_ms: i64, sent_at_ms: i64) -> Option<i64> {
    let age = event_ms.saturating_sub(sent_at_ms);
    if age > SERIES_MAX_AGE_MS {
        return None;
    }
    let minute = event_ms.div_euclid(60_000);
    Some(if age > SERIES_LATE_AFTER_MS {
        minute - minute.rem_euclid(60)
    } else {
        minute
    })
}

/// One point of the series: what happened in one bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SeriesPoint {
    pub sent: i64,
    pub delivered: i64,
    pub read: i64,
    pub unsubscribed: i64,
}

/// What a broadcast's messages did after sending.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcomes {
    /// Sends a delivery or read watermark covered.
    pub delivered: i64,
    pub read: i64,
    /// Leads whose unsubscribe was attributed to this broadcast.
    pub unsubscribed: i64,
    /// Sends Meta refused because the person cannot be reached (blocked the
    /// Page, deactivated, 551 / 2018108 / 2018001, see [`crate::graph::classify`]).
    pub blocked: i64,
    /// Meta's errors on this broadcast's Send API calls, by `code` or
    /// `code/subcode` (rate limits, policy refusals, page-level errors…).
    pub meta_errors: BTreeMap<String, i64>,
    /// Per bucket (minutes since the epoch, see [`bucket_minute`]).
    pub series: BTreeMap<i64, SeriesPoint>,
}

impl Outcomes {
    /// `count / sent`, or `None` before anything was sent.
    pub fn rate(count: i64, sent: i64) -> Option<f64> {
        (sent > 0).then(|| count as f64 / sent as f64)
    }
}
