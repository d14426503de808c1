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
    /// Final: Meta's deletion callback named an app-scoped id that Meta
    /// itself then refused to map to Page-scoped ids (it does not exist,
    /// or no user matches it: [`ErasureRequest::meta_error`] has Meta's
    /// codes), so nothing could be found to erase through this request.
    /// Asking again cannot change Meta's answer; the status page says so
    /// (Meta requires it to show a justified refusal too).
    Unresolved,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Pending => "pending",
            RequestStatus::Completed => "completed",
            RequestStatus::NoData => "no_data",
            RequestStatus::Unresolved => "unresolved",
        }
    }
    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => RequestStatus::Pending,
            "completed" => RequestStatus::Completed,
            "no_data" => RequestStatus::NoData,
            "unresolved" => RequestStatus::Unresolved,
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
    /// Meta's error codes when the request is [`RequestStatus::Unresolved`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta_error: Option<MetaErrorCodes>,
}

/// The codes of Meta's error answer (Graph API `error.code` and
/// `error.error_subcode`), without its message, which may repeat the id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MetaErrorCodes {
    pub code: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subcode: Option<i64>,
}

/// How long erasure requests and audit entries are kept (days): three
/// years, a common limitation period for claims about how a request was
/// handled; DynamoDB's TTL (`expires_at`, seconds) removes them after.
pub const PRIVACY_RECORD_RETENTION_DAYS: i64 = 3 * 365;

/// `expires_at` (seconds) of a privacy record written at `now_ms`.
pub fn privacy_record_expiry_s(now_ms: i64) -> i64 {
    now_ms / 1000 + PRIVACY_RECORD_RETENTION_DAYS * 86_400
}
