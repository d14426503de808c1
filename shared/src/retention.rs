//! Retention rules: what has expired at a given "now", and the report a
//! sweep run leaves behind.

use std::collections::BTreeMap;

use serde::Serialize;

pub const DAY_MS: i64 = 86_400_000;
pub const DEFAULT_RETENTION_DAYS: u32 = 730;
pub const DEFAULT_UNSUBSCRIBED_PURGE_DAYS: u32 = 30;
/// The retention a page may have, in days (`PUT /v1/pages`), and so the
/// bounds of `DEFAULT_RETENTION_DAYS`: one day to ten years.
pub const RETENTION_DAYS_BOUNDS: std::ops::RangeInclusive<u32> = 1..=3650;

/// A record's DynamoDB TTL (`expires_at`, seconds since the epoch): kept
/// `days` from `from_ms` (its time, ms), then removed by TTL if no sweep
/// deleted it first.
pub fn expires_at_s(from_ms: i64, days: u32) -> i64 {
    from_ms / 1000 + i64::from(days) * (DAY_MS / 1000)
}

/// Records strictly older than this have expired.
pub fn cutoff_ms(now_ms: i64, days: u32) -> i64 {
    now_ms.saturating_sub(i64::from(days) * DAY_MS)
}

/// What the sweep deletes, one count each in its report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Stored messages, echoes and postbacks (sealed bodies).
    Messages,
    /// Attachments referenced by the messages deleted (Meta URLs inside the
    /// sealed body: they go with their message).
    Attachments,
    /// Per-recipient broadcast delivery records.
    Deliveries,
    /// Processed-event markers (idempotency records).
    EventMarkers,
    /// Raw webhook payloads in S3 (claim checks), every object version.
    RawPayloads,
    /// Leads unsubscribed for longer than the purge period, erased.
    UnsubscribedLeads,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Messages => "messages",
            Category::Attachments => "attachments",
            Category::Deliveries => "deliveries",
            Category::EventMarkers => "event_markers",
            Category::RawPayloads => "raw_payloads",
            Category::UnsubscribedLeads => "unsubscribed_leads",
        }
    }
}

/// One run's report, written to the logs and to S3.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    pub run_id: String,
    /// The run's "now" (the schedule event's time).
    pub now_ms: i64,
    pub duration_ms: i64,
    pub pages: u64,
    pub deleted: BTreeMap<Category, u64>,
    pub errors: Vec<String>,
    /// False when the run stopped at its budget: the next run goes on.
    pub complete: bool,
    /// Dead-lettered erasure jobs sent back to the erasure queue: an erasure
    /// finishes however long what made it fail lasted.
    pub erasure_jobs_redriven: crate::queue::Redriven,
}

impl SweepReport {
    pub fn add(&mut self, category: Category, n: u64) {
        *self.deleted.entry(category).or_insert(0) += n;
    }
    pub fn count(&self, category: Category) -> u64 {
        self.deleted.get(&category).copied().unwrap_or(0)
    }
}

/// How much one run may do, so a backlog is finished over several runs.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub remaining: u64,
}

impl Budget {
    pub fn take(&mut self, wanted: u64) -> u64 {
        let n = wanted.min(self.remaining);
        self.remaining -= n;
        n
    }
    pub fn exhausted(&self) -> bool {
        self.remaining == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cutoff_is_exactly_the_retention_before_now() {
        assert_eq!(cutoff_ms(10 * DAY_MS, 3), 7 * DAY_MS);
        assert_eq!(cutoff_ms(0, 730), -730 * DAY_MS);
        assert_eq!(cutoff_ms(i64::MIN + 5, 1), i64::MIN);
    }

    #[test]
    fn the_report_counts_per_category_and_serialises_by_name() {
        let mut r = SweepReport::default();
        r.add(Category::Messages, 3);
        r.add(Category::Messages, 2);
        r.add(Category::RawPayloads, 1);
        assert_eq!(r.count(Category::Messages), 5);
        assert_eq!(r.count(Category::Deliveries), 0);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["deleted"]["messages"], 5);
        assert_eq!(v["deleted"]["raw_payloads"], 1);
    }

    #[test]
    fn a_budget_hands_out_what_it_has_and_then_nothing() {
        let mut b = Budget { remaining: 150 };
        assert_eq!(b.take(99), 99);
        assert_eq!(b.take(99), 51);
        assert!(b.exhausted());
        assert_eq!(b.take(1), 0);
    }
}
