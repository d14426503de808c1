//! The sender's configuration: every name it reads, read once per cold start.

use optcast_shared::config::{self, ConfigError, Source};
use optcast_shared::graph;
use optcast_shared::store::{self, SendTables};

/// The sender's configuration, read once per cold start.
#[derive(Debug, Clone)]
pub struct SenderConfig {
    pub send_tables: SendTables,
    pub lead_tables: store::Tables,
    /// `SEND_QUEUE_URL`: the queue the sender consumes (deferred jobs are
    /// made visible again later on it).
    pub send_queue_url: String,
    /// `KMS_KEY_ID`: the key wrapping page and subject data keys.
    pub kms_key_id: String,
    /// `GRAPH_API_URL` (Meta's v23.0 by default).
    pub graph_api_url: String,
    /// `SEND_RATE_PER_SECOND` (default 25, 1 to 100,000): Send API calls
    /// per page per second in one instance (the template keeps it, times
    /// the sender's concurrency, under Meta's 300/s; benches lift it).
    pub rate_per_second: u32,
    /// `SEND_RETRY_BASE_SECS` (default 5, 0 to 300): a deferred job comes
    /// back after this × its receive count seconds (SQS allows at most
    /// 12 hours of visibility timeout; 300 × 5 receives stays far below).
    pub retry_base_secs: i32,
    /// `SEND_MAX_RECEIVES` (default 10, 1 to 1000): the send queue's
    /// `maxReceiveCount`. On its last receive a job that would be deferred
    /// again is recorded failed (`retries_exhausted`) instead of going to
    /// the dead-letter queue uncounted, where its broadcast would wait for
    /// it forever.
    pub max_receives: i32,
}

impl SenderConfig {
    /// # Errors
    /// [`ConfigError`] when a required name is missing, or a number is not
    /// one or is outside its bounds.
    pub fn from_source(src: &dyn Source) -> Result<Self, ConfigError> {
        Ok(Self {
            send_tables: SendTables::from_source(src)?,
            lead_tables: store::Tables::from_source(src)?,
            send_queue_url: config::required(src, "SEND_QUEUE_URL")?,
            kms_key_id: config::required(src, "KMS_KEY_ID")?,
            graph_api_url: src
                .get("GRAPH_API_URL")
                .unwrap_or_else(|| graph::DEFAULT_BASE_URL.into()),
            rate_per_second: config::bounded(src, "SEND_RATE_PER_SECOND", 25, 1..=100_000)?,
            retry_base_secs: config::bounded(src, "SEND_RETRY_BASE_SECS", 5, 0..=300)?,
            max_receives: config::bounded(src, "SEND_MAX_RECEIVES", 10, 1..=1000)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use optcast_shared::config::refusals::{self, assert_refused, Refused};

    fn source(extra: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> + Send + Sync {
        refusals::source(extra, |name| {
            name.ends_with("_TABLE") || matches!(name, "SEND_QUEUE_URL" | "KMS_KEY_ID")
        })
    }

    #[test]
    fn the_sender_config_has_its_defaults_and_bounds() {
        let cfg = SenderConfig::from_source(&source(&[])).unwrap();
        assert_eq!(cfg.send_queue_url, "v-SEND_QUEUE_URL");
        assert_eq!(cfg.kms_key_id, "v-KMS_KEY_ID");
        assert_eq!(cfg.send_tables.broadcasts, "v-BROADCASTS_TABLE");
        assert_eq!(cfg.graph_api_url, "https://graph.facebook.com/v23.0");
        assert_eq!(
            (cfg.rate_per_second, cfg.retry_base_secs, cfg.max_receives),
            (25, 5, 10)
        );
        let cfg = SenderConfig::from_source(&source(&[
            ("SEND_RATE_PER_SECOND", "1"),
            ("SEND_RETRY_BASE_SECS", "300"),
            ("GRAPH_API_URL", "http://127.0.0.1:9"),
        ]))
        .unwrap();
        assert_eq!((cfg.rate_per_second, cfg.retry_base_secs), (1, 300));
        assert_eq!(cfg.graph_api_url, "http://127.0.0.1:9");
    }

    #[test]
    fn the_sender_config_names_what_is_missing_or_wrong() {
        assert_refused(
            SenderConfig::from_source,
            &source(&[]),
            &[
                ("SEND_QUEUE_URL", None, Refused::Missing("SEND_QUEUE_URL")),
                (
                    "SEND_RATE_PER_SECOND",
                    Some("fast"),
                    Refused::Invalid("SEND_RATE_PER_SECOND"),
                ),
                (
                    "SEND_RATE_PER_SECOND",
                    Some("0"),
                    Refused::OutOfRange("SEND_RATE_PER_SECOND"),
                ),
                (
                    "SEND_RETRY_BASE_SECS",
                    Some("9999"),
                    Refused::OutOfRange("SEND_RETRY_BASE_SECS"),
                ),
            ],
        );
    }
}
