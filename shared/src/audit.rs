//! The audit trail of privileged calls: exports, erasures and page-token
//! changes, each recorded before it is answered (who, what, when). Items
//! live in the privacy table under `AUDIT#<at_ms>#<random>`; they name the
//! page (a business, not a person) and the subject only by digest, never a
//! PSID, token or message. They expire with the erasure requests
//! ([`crate::erasure::PRIVACY_RECORD_RETENTION_DAYS`]).

use crate::ids::PageId;
pub use crate::store::AuditTrail;

/// What was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A lead's data was exported (decrypted).
    Export,
    /// A lead's erasure was requested.
    Erasure,
    /// A page's access token (and settings) were set.
    PageToken,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Export => "export",
            Action::Erasure => "erasure",
            Action::PageToken => "page_token",
        }
    }
}

/// One privileged call.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    /// The caller's name (token name or JWT `sub`).
    pub actor: &'a str,
    pub action: Action,
    pub page: &'a PageId,
    /// [`crate::crypto::subject_digest`] of the lead, when it is about one.
    pub subject_digest: Option<&'a str>,
    /// Milliseconds since the Unix epoch.
    pub at_ms: i64,
}
