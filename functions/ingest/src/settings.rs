//! Ingest's configuration: every name it reads, read once per cold start.

use optcast_shared::config::{self, ConfigError, Source};
use optcast_shared::retention;
use optcast_shared::store::Tables;

use crate::DEFAULT_WORK_BUDGET_MS;

/// Ingest's configuration.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    pub tables: Tables,
    /// `DATA_BUCKET`: claim checks and the quarantine.
    pub bucket: String,
    /// `KMS_KEY_ID`: the key wrapping subject data keys.
    pub kms_key_id: String,
    /// `INGEST_CHUNK_QUEUE_URL`: where chunks of large deliveries go.
    pub chunk_queue_url: String,
    /// `DEFAULT_RETENTION_DAYS` (default 730, 1 to 3650): retention of a
    /// page that sets none (days), for the messages' `expires_at`.
    pub retention_days: u32,
    /// `INGEST_WORK_BUDGET_MS` (default 20,000, 100 to 900,000, Lambda's
    /// longest timeout): how long one invocation applies events when the
    /// runtime gives no deadline (the local stack), in milliseconds.
    pub work_budget_ms: u32,
}

impl IngestConfig {
    /// # Errors
    /// [`ConfigError`] when a required name is missing, or a number is not
    /// one or is outside its bounds.
    pub fn from_source(src: &dyn Source) -> Result<Self, ConfigError> {
        Ok(Self {
            tables: Tables::from_source(src)?,
            bucket: config::required(src, "DATA_BUCKET")?,
            kms_key_id: config::required(src, "KMS_KEY_ID")?,
            chunk_queue_url: config::required(src, "INGEST_CHUNK_QUEUE_URL")?,
            retention_days: config::bounded(
                src,
                "DEFAULT_RETENTION_DAYS",
                retention::DEFAULT_RETENTION_DAYS,
                retention::RETENTION_DAYS_BOUNDS,
            )?,
            work_budget_ms: config::bounded(src, "INGEST_WORK_BUDGET_MS", DEFAULT_WORK_BUDGET_MS, 100..=900_000)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use optcast_shared::config::refusals::{self, assert_refused, Refused};

    fn source(extra: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> + Send + Sync {
        refusals::source(extra, |name| {
            name.ends_with("_TABLE") || matches!(name, "DATA_BUCKET" | "KMS_KEY_ID" | "INGEST_CHUNK_QUEUE_URL")
        })
    }

    #[test]
    fn the_ingest_config_has_its_defaults() {
        let cfg = IngestConfig::from_source(&source(&[])).unwrap();
        assert_eq!(cfg.bucket, "v-DATA_BUCKET");
        assert_eq!(cfg.kms_key_id, "v-KMS_KEY_ID");
        assert_eq!(cfg.chunk_queue_url, "v-INGEST_CHUNK_QUEUE_URL");
        assert_eq!((cfg.retention_days, cfg.work_budget_ms), (730, 20_000));
        let cfg = IngestConfig::from_source(&source(&[
            ("INGEST_WORK_BUDGET_MS", "300"),
            ("DEFAULT_RETENTION_DAYS", "3650"),
        ]))
        .unwrap();
        assert_eq!((cfg.retention_days, cfg.work_budget_ms), (3650, 300));
    }

    #[test]
    fn the_ingest_config_names_what_is_missing_wrong_or_out_of_bounds() {
        assert_refused(
            IngestConfig::from_source,
            &source(&[]),
            &[
                (
                    "INGEST_CHUNK_QUEUE_URL",
                    None,
                    Refused::Missing("INGEST_CHUNK_QUEUE_URL"),
                ),
                (
                    "INGEST_WORK_BUDGET_MS",
                    Some("20s"),
                    Refused::Invalid("INGEST_WORK_BUDGET_MS"),
                ),
                (
                    "INGEST_WORK_BUDGET_MS",
                    Some("0"),
                    Refused::OutOfRange("INGEST_WORK_BUDGET_MS"),
                ),
                (
                    "DEFAULT_RETENTION_DAYS",
                    Some("0"),
                    Refused::OutOfRange("DEFAULT_RETENTION_DAYS"),
                ),
            ],
        );
    }
}
