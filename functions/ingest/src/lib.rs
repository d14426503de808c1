//! The ingest function: reads signed deliveries (and chunks of large ones)
//! from its queues and applies every event in them exactly once: subscriber
//! upsert, consent change with proof, encrypted message. Nothing validly
//! signed is dropped: what cannot be applied goes to the quarantine, and
//! failed records go back to SQS and, after maxReceiveCount, to the DLQ.
//!
//! Work per invocation is bounded. A delivery of more than [`CHUNK_ITEMS`]
//! items is split into chunk jobs on a queue of their own (so deliveries sent
//! after it never wait behind it); each person's events stay together and in
//! order, different people's run side by side, and a chunk that runs short
//! of time queues the rest of itself before the deadline.

// Every public fallible item says how it fails (`# Errors`).
#![warn(clippy::missing_errors_doc)]

mod apply;
mod emf;
mod lanes;
mod settings;
mod stored;
pub use emf::ingest_lag_ms;
pub use settings::IngestConfig;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use optcast_shared::config::{self, ConfigError, Source};
use optcast_shared::crypto::{CryptoError, KeyRing};
use optcast_shared::ids::PageId;
use optcast_shared::meta;
use optcast_shared::metrics;
use optcast_shared::outcomes::Counted;
use optcast_shared::quarantine::{self, Quarantine};
use optcast_shared::queue::{self, DeliveryBody, IngestJob, Producer, QueueError};
use optcast_shared::store::{Store, StoreError};
use optcast_shared::{sqs_batch, telemetry};

pub use optcast_shared::crypto::field_aad;

/// Deliveries with more items than this are split into chunk jobs of at
/// most this many (a person's events are never split across chunks).
pub const CHUNK_ITEMS: usize = 100;
/// People whose events are applied side by side in one invocation.
pub const LANE_CONCURRENCY: usize = 8;
/// Time one invocation spends applying before it queues the rest, when the
/// runtime gives no deadline (the local stack); Lambda's own deadline is
/// used in AWS. Env `INGEST_WORK_BUDGET_MS` ([`IngestConfig`]).
pub const DEFAULT_WORK_BUDGET_MS: u32 = 20_000;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("subscriber kept changing while applying an event")]
    Contention,
}

impl IngestError {
    /// Permanent errors will fail the same way on every retry; they still go
    /// back to SQS (never dropped) and end in the DLQ for inspection.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            IngestError::Queue(QueueError::BadJob(_) | QueueError::ClaimMissing(_))
        ) || matches!(self, IngestError::Crypto(e) if !e.is_retryable())
            || matches!(self, IngestError::Store(e) if !e.is_retryable())
    }
}

/// What one event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventOutcome {
    Applied {
        consent_changed: bool,
        /// Sends this event newly counted (a receipt's watermark, an unsubscribe).
        attributed: Counted,
    },
    Duplicate,
    /// Recorded as seen but nothing else to do (receipts and activity of
    /// people we do not know, items Meta documents that ask nothing).
    Recorded,
}

/// What one queue record did. `applied + duplicates + recorded +
/// quarantined + deferred == items` (deferred: queued as a chunk).
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RecordReport {
    pub items: usize,
    pub applied: usize,
    pub duplicates: usize,
    pub recorded: usize,
    pub quarantined: usize,
    pub consent_changes: usize,
    /// Items handed on to chunk jobs (a split, or the rest at the deadline).
    pub deferred: usize,
    pub chunks: usize,
    /// Sends newly counted delivered, read, unsubscribed (attributed).
    pub delivered: usize,
    pub read: usize,
    pub unsubscribed: usize,
    /// This record's ingest lag ([`ingest_lag_ms`]), ms.
    pub lag_ms: Option<i64>,
}

impl RecordReport {
    fn add(&mut self, other: &RecordReport) {
        self.items += other.items;
        self.applied += other.applied;
        self.duplicates += other.duplicates;
        self.recorded += other.recorded;
        self.quarantined += other.quarantined;
        self.consent_changes += other.consent_changes;
        self.deferred += other.deferred;
        self.chunks += other.chunks;
        self.delivered += other.delivered;
        self.read += other.read;
        self.unsubscribed += other.unsubscribed;
    }
    fn count(&mut self, outcome: EventOutcome) {
        match outcome {
            EventOutcome::Applied {
                consent_changed,
                attributed,
            } => {
                self.applied += 1;
                self.consent_changes += usize::from(consent_changed);
                self.delivered += attributed.delivered as usize;
                self.read += attributed.read as usize;
                self.unsubscribed += attributed.unsubscribed as usize;
            }
            EventOutcome::Duplicate => self.duplicates += 1,
            EventOutcome::Recorded => self.recorded += 1,
        }
    }
}

pub struct Ingest {
    store: Store,
    s3: config::S3,
    keys: KeyRing,
    quarantine: Quarantine,
    /// The chunk queue (large deliveries' chunks, the rest at the deadline).
    chunks: Producer<IngestJob>,
    retention_days: u32,
    work_budget: Duration,
    /// Pages already recorded as having data, in this warm function.
    noted_pages: std::sync::Mutex<HashSet<PageId>>,
    /// Where each batch's metrics document goes (stdout in Lambda).
    metrics: metrics::Sink,
}

impl Ingest {
    /// # Errors
    /// [`ConfigError`] as [`IngestConfig::from_source`].
    pub fn from_source(src: &dyn Source, aws: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        Ok(Self::new(IngestConfig::from_source(src)?, aws))
    }

    /// Ingest with its clients built from `aws`.
    pub fn new(cfg: IngestConfig, aws: &aws_config::SdkConfig) -> Self {
        let s3 = config::s3(aws);
        Self {
            store: Store::new(config::dynamodb(aws), cfg.tables),
            quarantine: Quarantine {
                s3: s3.clone(),
                bucket: cfg.bucket,
            },
            s3,
            chunks: Producer::new(config::sqs(aws), cfg.chunk_queue_url),
            keys: KeyRing::new(config::kms(aws), cfg.kms_key_id),
            retention_days: cfg.retention_days,
            work_budget: Duration::from_millis(u64::from(cfg.work_budget_ms)),
            noted_pages: Default::default(),
            metrics: metrics::Sink::default(),
        }
    }

    /// The same ingest publishing its metrics to `sink` (the local stack).
    pub fn with_metrics(mut self, sink: metrics::Sink) -> Self {
        self.metrics = sink;
        self
    }

    /// One SQS batch with this function's own work budget (local stack).
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        self.handle_until(event, Instant::now() + self.work_budget).await
    }

    /// One SQS batch: every record on its own, failures reported per record;
    /// no new work is started after `deadline`.
    /// Publishes one metrics document for the batch.
    pub async fn handle_until(&self, event: SqsEvent, deadline: Instant) -> SqsBatchResponse {
        let doc = std::sync::Mutex::new(metrics::Document::new(metrics::Function::Ingest));
        let doc_ref = &doc;
        let response = sqs_batch::in_order(&event.records, |record| async move {
            let outcome = self.process_message(record, deadline).await;
            match &outcome {
                Ok(report) => report.add_to(&mut doc_ref.lock().expect("metrics")),
                Err(err) => {
                    tracing::error!(error = %err, permanent = err.is_permanent(), message_id = ?record.message_id, "record failed")
                }
            }
            outcome
        })
        .await;
        self.metrics
            .publish(&doc.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner));
        response
    }

    async fn process_message(&self, record: &SqsMessage, deadline: Instant) -> Result<RecordReport, IngestError> {
        self.process_body(record.body.as_deref().unwrap_or_default(), deadline)
            .await
    }

    /// Applies, splits or quarantines everything one queued job carries.
    ///
    /// # Errors
    /// [`IngestError::Queue`] for a job that is not ours, a claim check gone
    /// or unreadable, or when quarantining an unreadable delivery, queuing
    /// its chunks or deleting its claim fails; [`IngestError::Store`] when
    /// noting the page fails; an event's error as [`Self::apply`]'s.
    #[tracing::instrument(skip_all)]
    pub async fn process_body(&self, message: &str, deadline: Instant) -> Result<RecordReport, IngestError> {
        let job = queue::parse_job::<IngestJob>(message)?;
        let splittable = matches!(job, IngestJob::DeliveryV1(_));
        let job = job.delivery();
        let body = queue::load_body(job, &self.s3, &self.keys).await?;
        let mut report = RecordReport::default();
        let mut quarantined = Vec::new();
        match meta::parse_delivery(&body, job.received_at_ms) {
            Err(e) => {
                let id = quarantine::id_for(&job.body_sha256, None);
                self.quarantine
                    .put(
                        &self.keys,
                        &id,
                        &body,
                        e.code(),
                        None,
                        None,
                        &job.body_sha256,
                        job.received_at_ms,
                    )
                    .await?;
                tracing::warn!(reason = e.code(), quarantine = %id, "delivery quarantined");
                report.items = 1;
                report.quarantined = 1;
                quarantined.push(quarantine::object_key(&id));
            }
            Ok(delivery) if splittable && delivery.items.len() > CHUNK_ITEMS => {
                report.items = delivery.items.len();
                report.deferred = delivery.items.len();
                report.chunks = self.enqueue_chunks(job, &delivery, lanes::lanes(&delivery)).await?;
            }
            Ok(delivery) => {
                self.apply_delivery(job, &delivery, deadline, &mut report, &mut quarantined)
                    .await?
            }
        }
        // A replayed quarantine record is its own claim: it is deleted once
        // applied, and kept when its item was quarantined again.
        let kept = matches!(&job.body, DeliveryBody::Claim { key, .. } if quarantined.contains(key));
        if !kept {
            queue::delete_claim(job, &self.s3).await?;
        }
        report.lag_ms = ingest_lag_ms(job, &report, optcast_shared::http::now_ms());
        tracing::info!(
            items = report.items,
            applied = report.applied,
            duplicates = report.duplicates,
            recorded = report.recorded,
            quarantined = report.quarantined,
            deferred = report.deferred,
            "delivery ingested"
        );
        Ok(report)
    }

    /// Records, once per warm function, that the page has data, so the
    /// retention sweep finds it even if nobody registered the page.
    async fn note_page(&self, page: &PageId) -> Result<(), IngestError> {
        if self.noted_pages.lock().expect("noted pages").contains(page) {
            return Ok(());
        }
        self.store.note_page(page, optcast_shared::http::now_ms()).await?;
        self.noted_pages.lock().expect("noted pages").insert(page.clone());
        Ok(())
    }
}

/// Lambda entry point helper: config, clients, then serve. New work stops a
/// third of the remaining time (at least 5 s) before Lambda's deadline.
///
/// # Errors
/// When the configuration is refused or a secret cannot be read at start
/// (Lambda reports an init error and starts a new instance), or when the
/// Runtime API fails.
pub async fn run() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let aws = config::aws().await;
    config::install_pseudonyms(&config::Env, &aws).await?;
    let ingest = Ingest::from_source(&config::Env, &aws)?;
    let ingest = &ingest;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<SqsEvent>| async move {
            let remaining_ms = (event.context.deadline as i64 - optcast_shared::http::now_ms()).max(0) as u64;
            let margin_ms = (remaining_ms / 3).max(5_000);
            let deadline = Instant::now() + Duration::from_millis(remaining_ms.saturating_sub(margin_ms));
            Ok::<_, std::convert::Infallible>(ingest.handle_until(event.payload, deadline).await)
        },
    ))
    .await
}
