//! The retention sweep (EventBridge, hourly). "Now" is the event's `time`,
//! capped at the real clock plus a small skew ([`optcast_shared::clock`]):
//! an invocation dated 2100 deletes only what has expired by now. For every page it deletes the
//! messages, delivery records and event markers older than the page's
//! retention, through the `by_age` indexes (no scan), and erases leads
//! unsubscribed for longer than the purge period; then the raw payloads in S3
//! (every object version). Work per run is bounded: after each chunk of
//! deletes the sweep writes a checkpoint (the index key of the chunk's last
//! record), so a run that stops or dies is resumed by the next with nothing
//! missed. The deletes are `BatchWriteItem` (one write unit each, half what a
//! transaction costs); a run that dies between a chunk and its checkpoint
//! leaves at most that chunk to be re-issued, and deleting what is already
//! gone deletes nothing, so nothing is deleted twice. DynamoDB TTL stays on
//! as a backstop only. Each run writes its report to the logs and S3.

// Every public fallible item says how it fails (`# Errors`).
#![warn(clippy::missing_errors_doc)]

use std::time::Instant;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use optcast_shared::clock::Clock;
use optcast_shared::config::{self, ConfigError, Source};
use optcast_shared::erasure::{self, Eraser, Requests};
use optcast_shared::ids::PageId;
use optcast_shared::queue::{self, ErasureJob, Producer};
use optcast_shared::retention::{self, Budget, Category, SweepReport};
use optcast_shared::store::sweep::SweepStore;
use optcast_shared::store::{self, Store, AGE_SHARDS};
use optcast_shared::telemetry;

mod objects;
mod purge;
mod settings;
pub use settings::SweeperConfig;

/// Deletes between two checkpoints (four `BatchWriteItem` calls): at most
/// this many are re-issued after a run dies.
const DELETES_PER_CHECKPOINT: u64 = 100;
/// Expired records read per `by_age` query (index entries are keys only, so
/// a page of 1,000 stays far below DynamoDB's 1 MB per query).
const RECORDS_PER_QUERY: u64 = 1_000;
const REPORT_PREFIX: &str = "reports/sweeps/";
/// Dead-lettered erasure jobs sent back per run (about).
const REDRIVE_PER_RUN: u64 = 1_000;
const RAW_PAYLOAD_PREFIX: &str = "claims/";

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// A purge the sweep shredded could not be handed to the eraser either.
    #[error(transparent)]
    Erasure(#[from] erasure::RequestError),
    #[error("the sweep finished with {0} error(s); see its report")]
    Incomplete(usize),
}

/// What the sweep deletes by age, in this order.
const CATEGORIES: [Category; 3] = [Category::Messages, Category::Deliveries, Category::EventMarkers];

pub struct Sweeper {
    store: SweepStore,
    s3: config::S3,
    eraser: Eraser,
    /// Purges shredded here but not finished go to the eraser, as a request.
    requests: Requests,
    erasures: Producer<ErasureJob>,
    /// Erasure jobs that failed on every try; each run sends them back.
    erasure_dead_letters: String,
    sqs: config::Sqs,
    bucket: String,
    default_retention_days: u32,
    purge_days: u32,
    max_deletes_per_run: u64,
    clock: Clock,
}

impl Sweeper {
    /// # Errors
    /// [`ConfigError`] as [`SweeperConfig::from_source`].
    pub fn from_source(src: &dyn Source, aws: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        Ok(Self::new(SweeperConfig::from_source(src)?, aws))
    }

    /// A sweeper with its clients built from `aws`.
    pub fn new(cfg: SweeperConfig, aws: &aws_config::SdkConfig) -> Self {
        let (ddb, sqs) = (config::dynamodb(aws), config::sqs(aws));
        let (tables, send, privacy) = (cfg.tables, cfg.send_tables, cfg.privacy_table);
        Self {
            s3: config::s3(aws),
            store: SweepStore::new(ddb.clone(), tables.clone(), &send, privacy.clone()),
            eraser: Eraser::new(Store::new(ddb.clone(), tables), send.deliveries, privacy.clone())
                .with_exports(config::s3(aws), cfg.bucket.clone()),
            requests: Requests { ddb, table: privacy },
            erasures: Producer::new(sqs.clone(), cfg.erasure_queue_url),
            erasure_dead_letters: cfg.erasure_dead_letter_queue_url,
            sqs,
            bucket: cfg.bucket,
            default_retention_days: cfg.default_retention_days,
            purge_days: cfg.purge_days,
            max_deletes_per_run: cfg.max_deletes_per_run,
            clock: Clock::system(),
        }
    }

    /// Reads "now" from `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// One scheduled run: sweep, then write the report. Fails (so the
    /// invocation shows as an error and alarms) if anything went wrong; the
    /// report is written first either way.
    ///
    /// # Errors
    /// [`SweepError::Incomplete`] when any part of the sweep failed (its
    /// report names them), [`SweepError::Store`] when the report cannot be
    /// written.
    pub async fn handle(&self, event: EventBridgeEvent<serde_json::Value>) -> Result<SweepReport, SweepError> {
        let now = self.clock.invocation_now_ms(event.time.map(|t| t.timestamp_millis()));
        let report = self.sweep(now).await;
        tracing::info!(
            run = %report.run_id,
            now_ms = report.now_ms,
            duration_ms = report.duration_ms,
            pages = report.pages,
            deleted = ?report.deleted,
            errors = report.errors.len(),
            complete = report.complete,
            "sweep finished"
        );
        let key = format!("{REPORT_PREFIX}{}-{}.json", report.now_ms, report.run_id);
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("application/json")
            .body(serde_json::to_vec(&report).unwrap_or_default().into())
            .send()
            .await
            .map_err(store::StoreError::s3)?;
        if !report.errors.is_empty() {
            for e in &report.errors {
                tracing::error!(error = %e, "sweep error");
            }
            return Err(SweepError::Incomplete(report.errors.len()));
        }
        Ok(report)
    }

    /// Sweeps everything expired at `now_ms`, within the run's budget.
    pub async fn sweep(&self, now_ms: i64) -> SweepReport {
        let started = Instant::now();
        let mut report = SweepReport {
            run_id: erasure::new_request_id(),
            now_ms,
            ..Default::default()
        };
        let mut budget = Budget {
            remaining: self.max_deletes_per_run,
        };
        // An erasure job dead-lettered (its cause lasted past its tries)
        // goes back to the eraser: the request stays pending until done.
        let redriven = &mut report.erasure_jobs_redriven;
        if let Err(e) = queue::redrive(
            &self.sqs,
            &self.erasure_dead_letters,
            &self.erasures,
            REDRIVE_PER_RUN,
            redriven,
        )
        .await
        {
            report.errors.push(format!("dead-lettered erasure jobs: {e}"));
        }
        let pages = match self.pages().await {
            Ok(p) => p,
            Err(e) => {
                report.errors.push(format!("listing pages: {e}"));
                Vec::new()
            }
        };
        report.pages = pages.len() as u64;
        for (page, days) in &pages {
            let cutoff = retention::cutoff_ms(now_ms, *days);
            for category in CATEGORIES {
                for shard in 0..AGE_SHARDS {
                    if let Err(e) = self
                        .sweep_partition(page, category, shard, (cutoff, now_ms), &mut budget, &mut report)
                        .await
                    {
                        report.errors.push(format!("{} of page {page}: {e}", category.as_str()));
                    }
                }
            }
            let purge_cutoff = retention::cutoff_ms(now_ms, self.purge_days);
            for purge in retention::Purge::ALL {
                if let Err(e) = self
                    .purge_leads(page, purge, purge_cutoff, now_ms, &mut budget, &mut report)
                    .await
                {
                    let what = purge.category().as_str().replace('_', " ");
                    report.errors.push(format!("{what} of page {page}: {e}"));
                }
            }
        }
        // Raw payloads cannot be attributed to a page before parsing: they go
        // at the shortest retention of any page.
        let shortest = pages
            .iter()
            .map(|(_, d)| *d)
            .min()
            .unwrap_or(self.default_retention_days);
        if let Err(e) = self
            .sweep_objects(
                RAW_PAYLOAD_PREFIX,
                retention::cutoff_ms(now_ms, shortest),
                &mut budget,
                &mut report,
            )
            .await
        {
            report.errors.push(format!("raw payloads: {e}"));
        }
        report.complete = !budget.exhausted();
        report.duration_ms = started.elapsed().as_millis() as i64;
        report
    }

    /// Every page with data: registered ones and those ingest has seen.
    async fn pages(&self) -> Result<Vec<(PageId, u32)>, SweepError> {
        Ok(self
            .store
            .pages_with_data()
            .await?
            .into_iter()
            .map(|(page, days)| (page, days.unwrap_or(self.default_retention_days)))
            .collect())
    }

    /// Deletes one `by_age` partition's expired records (older than
    /// `cutoff_ms`, as of the sweep's `now_ms`), oldest first, from its
    /// checkpoint on.
    async fn sweep_partition(
        &self,
        page: &PageId,
        category: Category,
        shard: u32,
        (cutoff_ms, now_ms): (i64, i64),
        budget: &mut Budget,
        report: &mut SweepReport,
    ) -> Result<(), SweepError> {
        let mut start = self.store.position(category, page, shard).await?;
        loop {
            let limit = budget.take(RECORDS_PER_QUERY);
            if limit == 0 {
                return Ok(());
            }
            let expired = self
                .store
                .expired(category, page, shard, cutoff_ms, start.as_ref(), limit)
                .await?;
            let records = &expired.records;
            budget.remaining += limit - records.len() as u64;
            if records.is_empty() {
                return Ok(());
            }
            for chunk in records.chunks(DELETES_PER_CHECKPOINT as usize) {
                let resume = self.store.delete_expired(category, page, shard, chunk, now_ms).await?;
                report.add(category, chunk.len() as u64);
                if category == Category::Messages {
                    let attachments: u64 = chunk.iter().map(|r| r.attachments()).sum();
                    report.add(Category::Attachments, attachments);
                }
                start = Some(resume);
            }
            if expired.last && (records.len() as u64) < limit {
                return Ok(());
            }
        }
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
    let sweeper = Sweeper::from_source(&config::Env, &aws)?;
    let sweeper = &sweeper;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<EventBridgeEvent<serde_json::Value>>| async move {
            sweeper
                .handle(event.payload)
                .await
                .map_err(|e| lambda_runtime::Error::from(e.to_string()))
        },
    ))
    .await
}
