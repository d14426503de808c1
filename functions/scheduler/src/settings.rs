//! The scheduler's configuration: every name it reads, read once per cold
//! start.

use optcast_shared::config::{self, ConfigError, Source};
use optcast_shared::store::SendTables;

/// The scheduler's configuration.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    pub send_tables: SendTables,
    /// `PLAN_QUEUE_URL`: where a started broadcast's plan jobs go.
    pub plan_queue_url: String,
}

impl SchedulerConfig {
    /// # Errors
    /// [`ConfigError::Missing`] naming the first required name unset.
    pub fn from_source(src: &dyn Source) -> Result<Self, ConfigError> {
        Ok(Self {
            send_tables: SendTables::from_source(src)?,
            plan_queue_url: config::required(src, "PLAN_QUEUE_URL")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use optcast_shared::config::refusals::{assert_refused, Refused};

    #[test]
    fn the_scheduler_config_reads_its_tables_and_queue() {
        let cfg = SchedulerConfig::from_source(&|n: &str| Some(format!("v-{n}"))).unwrap();
        assert_eq!(cfg.plan_queue_url, "v-PLAN_QUEUE_URL");
        assert_eq!(cfg.send_tables.broadcasts, "v-BROADCASTS_TABLE");
    }

    #[test]
    fn the_scheduler_config_names_what_is_missing() {
        assert_refused(
            SchedulerConfig::from_source,
            &|n: &str| Some(format!("v-{n}")),
            &[
                ("PLAN_QUEUE_URL", None, Refused::Missing("PLAN_QUEUE_URL")),
                ("BROADCASTS_TABLE", None, Refused::Missing("BROADCASTS_TABLE")),
            ],
        );
    }
}
