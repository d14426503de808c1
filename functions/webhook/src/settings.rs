//! The webhook's configuration: every name it reads, read once per cold start.

use optcast_shared::config::{self, ConfigError, MetaSecretsSource, Source};

/// The webhook's configuration.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// `META_APP_SECRET` and `META_VERIFY_TOKEN`, or `META_SECRET_ARN`.
    pub meta: MetaSecretsSource,
    /// `INGEST_QUEUE_URL`: where verified deliveries go.
    pub ingest_queue_url: String,
    /// `ERASURE_QUEUE_URL`: where Meta's data-deletion requests go.
    pub erasure_queue_url: String,
    /// `KMS_KEY_ID`: the key sealing claim-checked deliveries.
    pub kms_key_id: String,
    /// `DATA_BUCKET`: claim checks of deliveries too large for SQS.
    pub bucket: String,
    /// `PRIVACY_TABLE`: erasure requests.
    pub privacy_table: String,
    /// `PUBLIC_BASE_URL` (optional, without a trailing `/`): base of the
    /// status URL given to Meta; else it comes from the request's host.
    pub public_base_url: Option<String>,
}

impl WebhookConfig {
    /// # Errors
    /// [`ConfigError::Missing`] naming the first required name unset.
    pub fn from_source(src: &dyn Source) -> Result<Self, ConfigError> {
        Ok(Self {
            meta: MetaSecretsSource::from_source(src)?,
            ingest_queue_url: config::required(src, "INGEST_QUEUE_URL")?,
            erasure_queue_url: config::required(src, "ERASURE_QUEUE_URL")?,
            kms_key_id: config::required(src, "KMS_KEY_ID")?,
            bucket: config::required(src, "DATA_BUCKET")?,
            privacy_table: config::required(src, "PRIVACY_TABLE")?,
            public_base_url: src.get("PUBLIC_BASE_URL").map(|u| u.trim_end_matches('/').to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use optcast_shared::config::refusals::{self, assert_refused, Refused};

    fn source(extra: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> + Send + Sync {
        refusals::source(extra, |name| {
            matches!(
                name,
                "META_APP_SECRET"
                    | "META_VERIFY_TOKEN"
                    | "INGEST_QUEUE_URL"
                    | "ERASURE_QUEUE_URL"
                    | "KMS_KEY_ID"
                    | "DATA_BUCKET"
                    | "PRIVACY_TABLE"
            )
        })
    }

    #[test]
    fn the_webhook_config_reads_every_name() {
        let cfg = WebhookConfig::from_source(&source(&[])).unwrap();
        assert_eq!(cfg.ingest_queue_url, "v-INGEST_QUEUE_URL");
        assert_eq!(cfg.erasure_queue_url, "v-ERASURE_QUEUE_URL");
        assert_eq!(cfg.kms_key_id, "v-KMS_KEY_ID");
        assert_eq!(cfg.bucket, "v-DATA_BUCKET");
        assert_eq!(cfg.privacy_table, "v-PRIVACY_TABLE");
        assert!(matches!(cfg.meta, MetaSecretsSource::Inline(_)));
        assert_eq!(cfg.public_base_url, None);
        let cfg = WebhookConfig::from_source(&source(&[("PUBLIC_BASE_URL", "https://optcast.example/")])).unwrap();
        assert_eq!(cfg.public_base_url.as_deref(), Some("https://optcast.example"));
    }

    #[test]
    fn the_webhook_config_names_what_is_missing() {
        let missing = |name| (name, None, Refused::Missing(name));
        assert_refused(
            WebhookConfig::from_source,
            &source(&[]),
            &[
                missing("INGEST_QUEUE_URL"),
                missing("ERASURE_QUEUE_URL"),
                missing("KMS_KEY_ID"),
                missing("DATA_BUCKET"),
                missing("PRIVACY_TABLE"),
                (
                    "META_APP_SECRET",
                    None,
                    Refused::Missing("META_APP_SECRET or META_SECRET_ARN"),
                ),
            ],
        );
    }
}
