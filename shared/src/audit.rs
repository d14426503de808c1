//! The audit trail of privileged calls: exports, erasures and page-token
//! changes, each recorded before it is answered (who, what, when). Items
//! live in the privacy table under `AUDIT#<at_ms>#<random>`; they name the
//! page (a business, not a person) and the subject only by digest, never a
//! PSID, token or message. They expire with the erasure requests
//! ([`crate::erasure::PRIVACY_RECORD_RETENTION_DAYS`]).

use aws_sdk_dynamodb::types::AttributeValue;

use crate::ids::PageId;
use crate::store::StoreError;

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

/// Where entries are written (the privacy table).
#[derive(Clone)]
pub struct AuditTrail {
    pub ddb: aws_sdk_dynamodb::Client,
    pub table: String,
}

/// The key prefix of audit items.
pub const AUDIT_PREFIX: &str = "AUDIT#";

impl AuditTrail {
    /// Writes `entry` and logs it (without the subject).
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when DynamoDB fails; the caller then refuses
    /// the call, so nothing privileged happens unrecorded.
    pub async fn record(&self, entry: &Entry<'_>) -> Result<(), StoreError> {
        let id = {
            use rand::RngCore;
            let mut b = [0u8; 8];
            rand::thread_rng().fill_bytes(&mut b);
            hex::encode(b)
        };
        let s = |v: &str| AttributeValue::S(v.to_string());
        let mut put = self
            .ddb
            .put_item()
            .table_name(&self.table)
            .item("pk", s(&format!("{AUDIT_PREFIX}{}#{id}", entry.at_ms)))
            .item("actor", s(entry.actor))
            .item("action", s(entry.action.as_str()))
            .item("page_id", s(entry.page.as_str()))
            .item("at_ms", AttributeValue::N(entry.at_ms.to_string()))
            .item(
                "expires_at",
                AttributeValue::N(crate::erasure::privacy_record_expiry_s(entry.at_ms).to_string()),
            );
        if let Some(d) = entry.subject_digest {
            put = put.item("subject_digest", s(d));
        }
        // An entry is written once and never replaced.
        put = put.condition_expression("attribute_not_exists(pk)");
        put.send().await.map_err(StoreError::dynamo)?;
        tracing::info!(
            audit = entry.action.as_str(),
            actor = entry.actor,
            page = %entry.page,
            "privileged call recorded"
        );
        Ok(())
    }
}
