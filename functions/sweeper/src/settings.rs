//! The sweeper's configuration: every name it reads, read once per cold start.

use optcast_shared::config::{self, ConfigError, Source};
use optcast_shared::retention;
use optcast_shared::store::{SendTables, Tables};

/// The sweeper's configuration.
#[derive(Debug, Clone)]
pub struct SweeperConfig {
    pub tables: Tables,
    pub send_tables: SendTables,
    /// `PRIVACY_TABLE`: erasure requests, audit trail and the sweep's checkpoints.
    pub privacy_table: String,
    /// `DATA_BUCKET`: raw payloads, exports and the sweep's reports.
    pub bucket: String,
    /// `ERASURE_QUEUE_URL`: where a purge the sweep shredded but could not
    /// finish is handed to the eraser.
    pub erasure_queue_url: String,
    /// `ERASURE_DEAD_LETTER_QUEUE_URL`: erasure jobs that failed on every
    /// try, sent back to the erasure queue each run.
    pub erasure_dead_letter_queue_url: String,
    /// `DEFAULT_RETENTION_DAYS` (default 730, 1 to 3650, the bounds a page's
    /// own `retention_days` has): retention of a page that sets none (days).
    pub default_retention_days: u32,
    /// `UNSUBSCRIBED_PURGE_DAYS` (default 30, 1 to 3650, the template's
    /// minimum): how long an unsubscribed lead is kept (days).
    pub purge_days: u32,
    /// `SWEEP_MAX_DELETES_PER_RUN` (default 200,000, 1 to 10,000,000):
    /// deletes per run before the rest is left to the next.
    pub max_deletes_per_run: u64,
}

impl SweeperConfig {
    /// # Errors
    /// [`ConfigError`] when a required name is missing, or a number is not
    /// one or is outside its bounds.
    pub fn from_source(src: &dyn Source) -> Result<Self, ConfigError> {
        Ok(Self {
            tables: Tables::from_source(src)?,
            send_tables: SendTables::from_source(src)?,
            privacy_table: config::required(src, "PRIVACY_TABLE")?,
            bucket: config::required(src, "DATA_BUCKET")?,
            erasure_queue_url: config::required(src, "ERASURE_QUEUE_URL")?,
            erasure_dead_letter_queue_url: config::required(src, "ERASURE_DEAD_LETTER_QUEUE_URL")?,
            default_retention_days: config::bounded(
                src,
                "DEFAULT_RETENTION_DAYS",
                retention::DEFAULT_RETENTION_DAYS,
                retention::RETENTION_DAYS_BOUNDS,
            )?,
            purge_days: config::bounded(
                src,
                "UNSUBSCRIBED_PURGE_DAYS",
                retention::DEFAULT_UNSUBSCRIBED_PURGE_DAYS,
                1..=3650,
            )?,
            max_deletes_per_run: config::bounded(src, "SWEEP_MAX_DELETES_PER_RUN", 200_000u64, 1..=10_000_000)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use optcast_shared::config::refusals::{self, assert_refused, Refused};

    fn source(extra: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> + Send + Sync {
        refusals::source(extra, |name| {
            name.ends_with("_TABLE")
                || matches!(
                    name,
                    "DATA_BUCKET" | "ERASURE_QUEUE_URL" | "ERASURE_DEAD_LETTER_QUEUE_URL"
                )
        })
    }

    #[test]
    fn the_sweeper_config_has_its_defaults_and_bounds() {
        let cfg = SweeperConfig::from_source(&source(&[])).unwrap();
        assert_eq!(cfg.privacy_table, "v-PRIVACY_TABLE");
        assert_eq!(cfg.bucket, "v-DATA_BUCKET");
        assert_eq!(cfg.default_retention_days, retention::DEFAULT_RETENTION_DAYS);
        assert_eq!(cfg.purge_days, retention::DEFAULT_UNSUBSCRIBED_PURGE_DAYS);
        assert_eq!(cfg.max_deletes_per_run, 200_000);
        let cfg = SweeperConfig::from_source(&source(&[
            ("SWEEP_MAX_DELETES_PER_RUN", "1"),
            ("UNSUBSCRIBED_PURGE_DAYS", "7"),
        ]))
        .unwrap();
        assert_eq!((cfg.max_deletes_per_run, cfg.purge_days), (1, 7));
    }

    #[test]
    fn the_sweeper_config_names_what_is_missing_wrong_or_out_of_bounds() {
        assert_refused(
            SweeperConfig::from_source,
            &source(&[]),
            &[
                (
                    "SWEEP_MAX_DELETES_PER_RUN",
                    Some("0"),
                    Refused::OutOfRange("SWEEP_MAX_DELETES_PER_RUN"),
                ),
                (
                    "UNSUBSCRIBED_PURGE_DAYS",
                    Some("0"),
                    Refused::OutOfRange("UNSUBSCRIBED_PURGE_DAYS"),
                ),
                (
                    "DEFAULT_RETENTION_DAYS",
                    Some("3651"),
                    Refused::OutOfRange("DEFAULT_RETENTION_DAYS"),
                ),
                (
                    "DEFAULT_RETENTION_DAYS",
                    Some("-1"),
                    Refused::Invalid("DEFAULT_RETENTION_DAYS"),
                ),
                ("DATA_BUCKET", None, Refused::Missing("DATA_BUCKET")),
            ],
        );
    }
}
