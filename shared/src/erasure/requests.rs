//! Erasure requests: their status, what one found, and how long their
//! record is kept (stored by [`crate::store::Requests`]).

use serde::{Deserialize, Serialize};

use super::{ErasureReason, ErasureReport};
use crate::ids::PageId;

/// Where an erasure request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    Pending,
    Completed,
    /// Nothing was held on the subject (or nothing mapped to them).
    NoData,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Pending => "pending",
            RequestStatus::Completed => "completed",
            RequestStatus::NoData => "no_data",
        }
    }
    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => RequestStatus::Pending,
            "completed" => RequestStatus::Completed,
            "no_data" => RequestStatus::NoData,
            _ => return None,
        })
    }
}

/// An erasure request, as its status page shows it. It names the subject
/// only by digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErasureRequest {
    pub id: String,
    /// The page it was requested for; `None` for Meta's deletion callback.
    pub page_id: Option<PageId>,
    pub reason: ErasureReason,
    pub status: RequestStatus,
    pub created_at_ms: i64,
    pub completed_at_ms: Option<i64>,
    pub subjects: u64,
    pub report: ErasureReport,
}

/// How long erasure requests and audit entries are kept (days): three
/// years, a common limitation period for claims about how a request was
/// handled; DynamoDB's TTL (`expires_at`, seconds) removes them after.
pub const PRIVACY_RECORD_RETENTION_DAYS: i64 = 3 * 365;

/// `expires_at` (seconds) of a privacy record written at `now_ms`.
pub fn privacy_record_expiry_s(now_ms: i64) -> i64 {
    now_ms / 1000 + PRIVACY_RECORD_RETENTION_DAYS * 86_400
}
