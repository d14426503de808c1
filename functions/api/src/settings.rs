//! The API's configuration: every name it reads, read once per cold start.

use optcast_shared::config::{self, ConfigError, Source};
use optcast_shared::retention;
use optcast_shared::store::{SendTables, Tables};

use crate::auth::{auth_from_source, AdminAuth};
use crate::sign_in::SignIn;

/// S3's smallest multipart part (bytes; only the last part may be smaller).
const S3_MIN_PART_BYTES: u32 = 5 * 1024 * 1024;
/// Lambda's response payload limit is 6 MB; an inline export stays well
/// under it with the response's own envelope.
const MAX_INLINE_EXPORT_BYTES: u32 = 5 * 1024 * 1024;

/// The API's configuration.
pub struct ApiConfig {
    /// Who may call: `OPTCAST_ADMIN_TOKEN`, `OPTCAST_API_TOKENS` /
    /// `OPTCAST_API_TOKENS_FILE`, or `ADMIN_AUTH` and `PAGES_CLAIM`.
    pub auth: AdminAuth,
    /// How the console signs people in: `CONSOLE_OIDC_CLIENT_ID`,
    /// `CONSOLE_OIDC_ISSUER`, `CONSOLE_OIDC_SCOPES`,
    /// `CONSOLE_OIDC_CONNECT_ORIGINS` ([`SignIn::from_source`]).
    pub console_sign_in: SignIn,
    pub tables: Tables,
    pub send_tables: SendTables,
    /// `PRIVACY_TABLE`: erasure requests and the audit trail.
    pub privacy_table: String,
    /// `DATA_BUCKET`: exports and the quarantine.
    pub bucket: String,
    /// `KMS_KEY_ID`: the key wrapping page and subject data keys.
    pub kms_key_id: String,
    /// `PLAN_QUEUE_URL`: where a started broadcast's plan jobs go.
    pub plan_queue_url: String,
    /// `ERASURE_QUEUE_URL`: where erasure requests go.
    pub erasure_queue_url: String,
    /// `INGEST_CHUNK_QUEUE_URL`: where replayed quarantine records go.
    pub ingest_chunk_queue_url: String,
    /// `EXPORT_INLINE_LIMIT_BYTES` (default 4 MiB, 0 to 5 MiB, under
    /// Lambda's 6 MB response limit): larger exports go to S3 and the answer
    /// is a presigned link.
    pub export_inline_limit_bytes: usize,
    /// `EXPORT_PART_BYTES` (default 8 MiB, 5 MiB, S3's smallest part, to
    /// 64 MiB, each held in memory): multipart part size of a large export.
    pub export_part_bytes: usize,
    /// `DEFAULT_RETENTION_DAYS` (default 730, 1 to 3650): a page's retention
    /// when it is registered without one (days).
    pub default_retention_days: u32,
    /// `GRAPH_API_URL` (Meta's v23.0 by default): test sends go there.
    pub graph_api_url: String,
}

impl ApiConfig {
    /// # Errors
    /// [`ConfigError`] when a required name is missing, a number is not one
    /// or is outside its bounds, or the token table cannot be read.
    pub fn from_source(src: &dyn Source) -> Result<Self, ConfigError> {
        Ok(Self {
            auth: auth_from_source(src)?,
            console_sign_in: SignIn::from_source(src)?,
            tables: Tables::from_source(src)?,
            send_tables: SendTables::from_source(src)?,
            privacy_table: config::required(src, "PRIVACY_TABLE")?,
            bucket: config::required(src, "DATA_BUCKET")?,
            kms_key_id: config::required(src, "KMS_KEY_ID")?,
            plan_queue_url: config::required(src, "PLAN_QUEUE_URL")?,
            erasure_queue_url: config::required(src, "ERASURE_QUEUE_URL")?,
            ingest_chunk_queue_url: config::required(src, "INGEST_CHUNK_QUEUE_URL")?,
            export_inline_limit_bytes: config::bounded(
                src,
                "EXPORT_INLINE_LIMIT_BYTES",
                4 * 1024 * 1024,
                0..=MAX_INLINE_EXPORT_BYTES,
            )? as usize,
            export_part_bytes: config::bounded(
                src,
                "EXPORT_PART_BYTES",
                8 * 1024 * 1024,
                S3_MIN_PART_BYTES..=64 * 1024 * 1024,
            )? as usize,
            default_retention_days: config::bounded(
                src,
                "DEFAULT_RETENTION_DAYS",
                retention::DEFAULT_RETENTION_DAYS,
                retention::RETENTION_DAYS_BOUNDS,
            )?,
            graph_api_url: src
                .get("GRAPH_API_URL")
                .unwrap_or_else(|| optcast_shared::graph::DEFAULT_BASE_URL.into()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use optcast_shared::config::refusals::{self, assert_refused, Refused};

    const REQUIRED: [&str; 15] = [
        "SUBSCRIBERS_TABLE",
        "CONSENT_LOG_TABLE",
        "MESSAGES_TABLE",
        "EVENTS_TABLE",
        "SUBJECT_KEYS_TABLE",
        "PAGES_TABLE",
        "BROADCASTS_TABLE",
        "DELIVERIES_TABLE",
        "PRIVACY_TABLE",
        "DATA_BUCKET",
        "KMS_KEY_ID",
        "PLAN_QUEUE_URL",
        "ERASURE_QUEUE_URL",
        "INGEST_CHUNK_QUEUE_URL",
        "OPTCAST_ADMIN_TOKEN",
    ];

    fn source(extra: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> + Send + Sync {
        refusals::source(extra, |name| REQUIRED.contains(&name))
    }

    #[test]
    fn the_api_config_has_its_defaults() {
        let cfg = ApiConfig::from_source(&source(&[])).unwrap();
        assert_eq!(cfg.export_inline_limit_bytes, 4 * 1024 * 1024);
        assert_eq!(cfg.export_part_bytes, 8 * 1024 * 1024);
        assert_eq!(cfg.default_retention_days, 730);
        assert_eq!(cfg.plan_queue_url, "v-PLAN_QUEUE_URL");
        assert_eq!(cfg.ingest_chunk_queue_url, "v-INGEST_CHUNK_QUEUE_URL");
        assert!(matches!(cfg.auth, AdminAuth::Tokens(_)));
        let cfg = ApiConfig::from_source(&source(&[("EXPORT_INLINE_LIMIT_BYTES", "200")])).unwrap();
        assert_eq!(cfg.export_inline_limit_bytes, 200);
    }

    #[test]
    fn the_api_config_names_what_is_missing_wrong_or_out_of_bounds() {
        assert_refused(
            ApiConfig::from_source,
            &source(&[]),
            &[
                ("ERASURE_QUEUE_URL", None, Refused::Missing("ERASURE_QUEUE_URL")),
                (
                    "EXPORT_PART_BYTES",
                    Some("1048576"),
                    Refused::OutOfRange("EXPORT_PART_BYTES"),
                ),
                (
                    "EXPORT_INLINE_LIMIT_BYTES",
                    Some("7000000"),
                    Refused::OutOfRange("EXPORT_INLINE_LIMIT_BYTES"),
                ),
                (
                    "EXPORT_INLINE_LIMIT_BYTES",
                    Some("4MB"),
                    Refused::Invalid("EXPORT_INLINE_LIMIT_BYTES"),
                ),
                (
                    "DEFAULT_RETENTION_DAYS",
                    Some("0"),
                    Refused::OutOfRange("DEFAULT_RETENTION_DAYS"),
                ),
                (
                    "OPTCAST_API_TOKENS",
                    Some("not json"),
                    Refused::Invalid("OPTCAST_API_TOKENS"),
                ),
            ],
        );
    }
}
