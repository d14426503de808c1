//! Retention rules: what has expired at a given "now", and the report a
//! sweep run leaves behind.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::consent::SubscriberStatus;
use crate::lead::ErasureReason;

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
    /// Leads Meta said cannot be reached for longer than the purge period,
    /// erased.
    UnreachableLeads,
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
            Category::UnreachableLeads => "unreachable_leads",
        }
    }
}

/// The leads the sweep erases once the page's purge period has passed
/// since their status began, keeping only the hashed consent proof: nobody
/// may message them, so what they gave is no longer needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purge {
    /// The person said no (STOP, the Unsubscribe control, Meta's
    /// marketing stop).
    Unsubscribed,
    /// Meta said they cannot be reached (they blocked the page or deleted
    /// their account); writing again makes them subscribed and takes them
    /// out of this purge.
    Unreachable,
}

impl Purge {
    /// Every purge, in the order a sweep runs them.
    pub const ALL: [Purge; 2] = [Purge::Unsubscribed, Purge::Unreachable];

    /// The status a lead keeps for the whole purge period.
    pub fn status(self) -> SubscriberStatus {
        match self {
            Purge::Unsubscribed => SubscriberStatus::Unsubscribed,
            Purge::Unreachable => SubscriberStatus::Unreachable,
        }
    }
    /// Why the lead is erased, kept in their tombstone.
    pub fn reason(self) -> ErasureReason {
        match self {
            Purge::Unsubscribed => ErasureReason::UnsubscribedPurge,
            Purge::Unreachable => ErasureReason::UnreachablePurge,
        }
    }
    /// Where the report counts them.
    pub fn category(self) -> Category {
        match self {
            Purge::Unsubscribed => Category::UnsubscribedLeads,
            Purge::Unreachable => Category::UnreachableLeads,
        }
    }
    /// Whether a lead of `status` since `since_ms` (their last status
    /// change, ms; `None` when unreadable) is due: still of this purge's
    /// status, and since strictly before `cutoff_ms`.
    pub fn is_due(self, status: Option<SubscriberStatus>, since_ms: Option<i64>, cutoff_ms: i64) -> bool {
        status == Some(self.status()) && since_ms.is_some_and(|t| t < cutoff_ms)
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
    fn a_lead_is_purged_only_while_of_the_purge_status_since_before_the_cutoff() {
        use SubscriberStatus::*;
        for purge in Purge::ALL {
            let status = purge.status();
            assert!(purge.is_due(Some(status), Some(99), 100));
            assert!(!purge.is_due(Some(status), Some(100), 100), "the cutoff itself is kept");
            assert!(
                !purge.is_due(Some(status), None, 100),
                "an unreadable time is never due"
            );
            assert!(!purge.is_due(None, Some(1), 100));
            for other in [Subscribed, Unsubscribed, Unreachable, Erased] {
                if other != status {
                    // Re-subscribed (wrote again), or now the other purge's.
                    assert!(!purge.is_due(Some(other), Some(1), 100), "{purge:?} {other:?}");
                }
            }
        }
    }

    #[test]
    fn each_purge_has_its_own_reason_and_count() {
        assert_eq!(Purge::Unsubscribed.reason().as_str(), "unsubscribed_purge");
        assert_eq!(Purge::Unreachable.reason().as_str(), "unreachable_purge");
        assert_eq!(Purge::Unsubscribed.category().as_str(), "unsubscribed_leads");
        assert_eq!(Purge::Unreachable.category().as_str(), "unreachable_leads");
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
