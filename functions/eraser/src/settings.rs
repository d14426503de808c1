//! The eraser's configuration: every name it reads, read once per cold start.

use optcast_shared::config::{self, ConfigError, MetaSecretsSource, Source};
use optcast_shared::graph;
use optcast_shared::store::Tables;

/// The eraser's configuration.
#[derive(Debug, Clone)]
pub struct EraserConfig {
    pub tables: Tables,
    /// `DELIVERIES_TABLE`: the subject's delivery records go too.
    pub deliveries_table: String,
    /// `PRIVACY_TABLE`: erasure requests and the audit trail.
    pub privacy_table: String,
    /// `DATA_BUCKET`: exports, quarantine and claim checks to delete.
    pub bucket: String,
    /// `KMS_KEY_ID`: the key sealing rewritten dead-lettered deliveries.
    pub kms_key_id: String,
    /// `GRAPH_API_URL` (Meta's v23.0 by default).
    pub graph_api_url: String,
    /// `META_APP_ID` (optional): without it, app-scoped ids from Meta's
    /// data-deletion callback cannot be mapped to PSIDs (such a job fails).
    pub app_id: Option<String>,
    /// `META_APP_SECRET` and `META_VERIFY_TOKEN`, or `META_SECRET_ARN`.
    pub meta: MetaSecretsSource,
    /// `INGEST_DLQ_URL` and `INGEST_CHUNK_DLQ_URL`: the dead-letter queues
    /// whose raw deliveries an erasure reaches.
    pub dead_letter_queues: Vec<String>,
}

impl EraserConfig {
    /// # Errors
    /// [`ConfigError::Missing`] naming the first required name unset.
    pub fn from_source(src: &dyn Source) -> Result<Self, ConfigError> {
        Ok(Self {
            tables: Tables::from_source(src)?,
            deliveries_table: config::required(src, "DELIVERIES_TABLE")?,
            privacy_table: config::required(src, "PRIVACY_TABLE")?,
            bucket: config::required(src, "DATA_BUCKET")?,
            kms_key_id: config::required(src, "KMS_KEY_ID")?,
            graph_api_url: src
                .get("GRAPH_API_URL")
                .unwrap_or_else(|| graph::DEFAULT_BASE_URL.into()),
            app_id: src.get("META_APP_ID"),
            meta: MetaSecretsSource::from_source(src)?,
            dead_letter_queues: vec![
                config::required(src, "INGEST_DLQ_URL")?,
                config::required(src, "INGEST_CHUNK_DLQ_URL")?,
            ],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use optcast_shared::config::refusals::{assert_refused, Refused};

    fn all_but(missing: &'static str) -> impl Fn(&str) -> Option<String> + Send + Sync {
        move |n: &str| {
            (n != missing && !matches!(n, "GRAPH_API_URL" | "META_APP_ID" | "META_SECRET_ARN"))
                .then(|| format!("v-{n}"))
        }
    }

    #[test]
    fn the_eraser_config_has_its_defaults() {
        let cfg = EraserConfig::from_source(&all_but("")).unwrap();
        assert_eq!(cfg.graph_api_url, "https://graph.facebook.com/v23.0");
        assert_eq!(cfg.app_id, None);
        assert_eq!(cfg.dead_letter_queues, ["v-INGEST_DLQ_URL", "v-INGEST_CHUNK_DLQ_URL"]);
        assert_eq!(
            (cfg.privacy_table.as_str(), cfg.bucket.as_str()),
            ("v-PRIVACY_TABLE", "v-DATA_BUCKET")
        );
        assert_eq!(cfg.deliveries_table, "v-DELIVERIES_TABLE");
    }

    #[test]
    fn the_eraser_config_names_what_is_missing() {
        let missing = |name| (name, None, Refused::Missing(name));
        assert_refused(
            EraserConfig::from_source,
            &all_but(""),
            &[
                missing("INGEST_DLQ_URL"),
                missing("INGEST_CHUNK_DLQ_URL"),
                missing("KMS_KEY_ID"),
                missing("PRIVACY_TABLE"),
                missing("SUBJECT_KEYS_TABLE"),
                missing("DELIVERIES_TABLE"),
                (
                    "META_APP_SECRET",
                    None,
                    Refused::Missing("META_APP_SECRET or META_SECRET_ARN"),
                ),
            ],
        );
    }
}
