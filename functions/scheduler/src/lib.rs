//! The scheduler: every minute (EventBridge), starts the broadcasts whose
//! `send_at` has come. "Now" is the event's `time`, capped at the real clock
//! plus a small skew ([`optcast_shared::clock`]): an invocation dated in the
//! future starts nothing early.
//!
//! Why a dispatcher rather than one EventBridge Scheduler schedule per
//! broadcast: it needs no schedule lifecycle (create, update on edit, delete
//! on cancel) nor `iam:PassRole`, a cancelled broadcast simply leaves the due
//! index, and start-up is within a minute of `send_at`, as required.

// Every public fallible item says how it fails (`# Errors`).
#![warn(clippy::missing_errors_doc)]

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use optcast_shared::clock::Clock;
use optcast_shared::config::{self, ConfigError, Source};
use optcast_shared::dispatch;
use optcast_shared::queue::{PlanJob, Producer};
use optcast_shared::store::BroadcastStore;
use optcast_shared::telemetry;

mod settings;
pub use settings::SchedulerConfig;

pub struct Scheduler {
    store: BroadcastStore,
    plans: Producer<PlanJob>,
    clock: Clock,
}

#[derive(Debug, Default, serde::Serialize)]
pub struct Report {
    pub now_ms: i64,
    pub started: Vec<String>,
    pub errors: usize,
}

impl Scheduler {
    /// # Errors
    /// [`ConfigError`] as [`SchedulerConfig::from_source`].
    pub fn from_source(src: &dyn Source, aws: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        Ok(Self::new(SchedulerConfig::from_source(src)?, aws))
    }

    /// The scheduler with its clients built from `aws`.
    pub fn new(cfg: SchedulerConfig, aws: &aws_config::SdkConfig) -> Self {
        Self {
            store: BroadcastStore::new(config::dynamodb(aws), cfg.send_tables),
            plans: Producer::new(config::sqs(aws), cfg.plan_queue_url),
            clock: Clock::system(),
        }
    }

    /// Reads "now" from `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Starts every due broadcast. Errors are per broadcast: one failure
    /// does not stop the others, and it is retried on the next run.
    ///
    /// # Errors
    /// [`StoreError`](optcast_shared::store::StoreError) when the due
    /// broadcasts cannot be listed.
    pub async fn handle(
        &self,
        event: EventBridgeEvent<serde_json::Value>,
    ) -> Result<Report, optcast_shared::store::StoreError> {
        let now = self.clock.invocation_now_ms(event.time.map(|t| t.timestamp_millis()));
        let mut report = Report {
            now_ms: now,
            ..Default::default()
        };
        for id in self.store.due(now).await? {
            match dispatch::start(&self.store, &self.plans, &id).await {
                Ok(true) => report.started.push(id.to_string()),
                Ok(false) => {}
                Err(e) => {
                    report.errors += 1;
                    tracing::error!(error = %e, broadcast = %id, "could not start broadcast");
                }
            }
        }
        tracing::info!(started = report.started.len(), errors = report.errors, "scheduler run");
        Ok(report)
    }
}

/// The Lambda entry point (`main.rs`): configuration and clients once per
/// cold start, then the runtime's loop.
///
/// # Errors
/// When the configuration is refused or a secret cannot be read at start
/// (Lambda reports an init error and starts a new instance), or when the
/// Runtime API fails.
pub async fn run() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let aws = config::aws().await;
    config::install_pseudonyms(&config::Env, &aws).await?;
    let scheduler = Scheduler::from_source(&config::Env, &aws)?;
    let scheduler = &scheduler;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<EventBridgeEvent<serde_json::Value>>| async move {
            scheduler
                .handle(event.payload)
                .await
                .map_err(|e| lambda_runtime::Error::from(e.to_string()))
        },
    ))
    .await
}
