//! The sender: one Send API call per job, and never to anyone who is not
//! subscribed at that moment. Each job first runs one DynamoDB transaction
//! that checks the lead is still subscribed, checks the broadcast is still
//! active, and claims `(broadcast_id, psid)`; only a claimed job sends, and
//! its outcome is recorded and counted in one more transaction.

// Every public fallible item says how it fails (`# Errors`).
#![warn(clippy::missing_errors_doc)]

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use optcast_shared::broadcast::{Broadcast, DeliveryState};
use optcast_shared::config::{self, ConfigError, Source};
use optcast_shared::crypto::{CryptoError, KeyRing};
use optcast_shared::graph::GraphClient;
use optcast_shared::http::now_ms;
use optcast_shared::ids::{BroadcastId, PageId};
use optcast_shared::metrics;
use optcast_shared::outcomes;
use optcast_shared::queue::{self, SendJob, SendTask};
use optcast_shared::retention;
use optcast_shared::sqs_batch;
use optcast_shared::store::BroadcastStore;
use optcast_shared::store::{self, StoreError, AUDIENCE_SHARDS};
use optcast_shared::telemetry;

/// A claim older than this whose job comes back is treated as "may have been
/// sent": it is recorded failed, never sent again (at most once).
const STALE_CLAIM_MS: i64 = 60_000;

mod parking;
mod record;
mod send;
mod settings;
mod warm;
pub use settings::SenderConfig;
use warm::CachedPage;

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("send job is malformed: {0}")]
    BadJob(String),
    #[error("page {0} is not registered")]
    UnknownPage(String),
    #[error("retry later ({0})")]
    RetryLater(&'static str),
}

/// What one job ended as; a skip or failure with the reason code its
/// delivery record keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobOutcome {
    Sent,
    SkippedUnsubscribed(&'static str),
    SkippedPolicy(&'static str),
    Failed(&'static str),
    /// Nothing to do: ran before, or the broadcast was cancelled.
    Nothing,
    /// The broadcast is paused: the job is parked until it is resumed.
    Parked,
}

impl JobOutcome {
    /// The final state and reason code it recorded, if it recorded one.
    pub fn recorded(self) -> Option<(DeliveryState, Option<&'static str>)> {
        match self {
            JobOutcome::Sent => Some((DeliveryState::Sent, None)),
            JobOutcome::SkippedUnsubscribed(r) => Some((DeliveryState::SkippedUnsubscribed, Some(r))),
            JobOutcome::SkippedPolicy(r) => Some((DeliveryState::SkippedPolicy, Some(r))),
            JobOutcome::Failed(r) => Some((DeliveryState::Failed, Some(r))),
            JobOutcome::Nothing | JobOutcome::Parked => None,
        }
    }
}

pub struct Sender {
    store: BroadcastStore,
    /// Lead records (the marketing token and its subject key).
    leads: store::Store,
    sqs: config::Sqs,
    send_queue_url: String,
    keys: KeyRing,
    graph: GraphClient,
    pages: Mutex<HashMap<PageId, std::sync::Arc<CachedPage>>>,
    /// Broadcasts as last read in this instance, for their message (which
    /// never changes); whether one is still active is checked by each claim.
    definitions: Mutex<HashMap<BroadcastId, Broadcast>>,
    /// Per-page pacing inside this instance (the event source's maximum
    /// concurrency bounds the number of instances).
    next_slot: Mutex<HashMap<PageId, Instant>>,
    min_interval: Duration,
    /// Deferred jobs come back after `base × receive count` seconds.
    retry_base_secs: i32,
    /// The send queue's `maxReceiveCount`: a job's last receive.
    max_receives: i32,
    /// Where each batch's metrics document goes (stdout in Lambda).
    metrics: metrics::Sink,
}

impl Sender {
    /// # Errors
    /// [`ConfigError`] as [`SenderConfig::from_source`].
    pub fn from_source(src: &dyn Source, aws: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        Self::new(SenderConfig::from_source(src)?, aws)
    }

    /// A sender with its clients built from `aws`.
    ///
    /// # Errors
    /// [`ConfigError::Client`] when the Graph API client cannot be built.
    pub fn new(cfg: SenderConfig, aws: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        let ddb = config::dynamodb(aws);
        Ok(Self {
            store: BroadcastStore::new(ddb.clone(), cfg.send_tables),
            leads: store::Store::new(ddb, cfg.lead_tables),
            sqs: config::sqs(aws),
            send_queue_url: cfg.send_queue_url,
            keys: KeyRing::new(config::kms(aws), cfg.kms_key_id),
            graph: GraphClient::new(cfg.graph_api_url)?,
            pages: Mutex::new(HashMap::new()),
            definitions: Mutex::new(HashMap::new()),
            next_slot: Mutex::new(HashMap::new()),
            min_interval: Duration::from_secs_f64(1.0 / f64::from(cfg.rate_per_second)),
            retry_base_secs: cfg.retry_base_secs,
            max_receives: cfg.max_receives,
            metrics: metrics::Sink::default(),
        })
    }

    /// The same sender publishing its metrics to `sink` (the local stack).
    pub fn with_metrics(mut self, sink: metrics::Sink) -> Self {
        self.metrics = sink;
        self
    }

    /// Runs a batch's jobs side by side (pacing still spaces the Send API
    /// calls per page), so one instance keeps up with its configured rate even
    /// though each send waits on Meta and two DynamoDB transactions.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let jobs: Vec<(&SqsMessage, Result<SendTask, SendError>)> =
            event.records.iter().map(|r| (r, parse(r))).collect();
        // Once per batch, before the jobs run side by side: each broadcast's
        // definition, and each page's token (one KMS Decrypt per page per
        // instance, not one per concurrent job). A failure here is retried by
        // the job itself.
        let tasks = || jobs.iter().filter_map(|(_, t)| t.as_ref().ok());
        let batch_broadcasts: HashSet<BroadcastId> = tasks().map(|t| t.broadcast_id.clone()).collect();
        let pages: HashSet<&PageId> = tasks().map(|t| &t.page_id).collect();
        // Independent reads: side by side, so a batch waits one round trip
        // for all of them, not one per broadcast and page.
        let (definitions, _) = tokio::join!(
            futures_util::future::join_all(
                batch_broadcasts
                    .iter()
                    .map(|id| async move { (id.clone(), self.definition(id).await) })
            ),
            futures_util::future::join_all(pages.iter().map(|p| self.page(p))),
        );
        let broadcasts: HashMap<BroadcastId, Option<Broadcast>> = definitions
            .into_iter()
            .filter_map(|(id, b)| Some((id, b.ok()?)))
            .collect();
        let throttled = Mutex::new(HashSet::new());
        let (broadcasts, throttled) = (&broadcasts, &throttled);
        let results = futures_util::future::join_all(jobs.into_iter().map(|(record, task)| async move {
            let outcome = match task {
                Ok(task) => match self.send_one(&task, broadcasts, throttled).await {
                    Err(err) if sqs_batch::receive_count(record) >= self.max_receives => {
                        self.give_up(&task, &err).await
                    }
                    outcome => outcome,
                },
                Err(e) => Err(e),
            };
            if let Err(err) = &outcome {
                if matches!(err, SendError::RetryLater(_)) {
                    tracing::info!(reason = %err, "send deferred");
                    self.back_off(record).await;
                } else {
                    tracing::error!(error = %err, "send job failed");
                }
            }
            (record, outcome)
        }))
        .await;
        self.metrics.publish(&record::batch_metrics(&results));
        let response = sqs_batch::response(results.iter().filter(|(_, o)| o.is_err()).map(|(r, _)| *r));
        // Once per broadcast per batch: is everything accounted for? (Every
        // broadcast with a job here, preloaded or not: the last jobs of one
        // whose preload failed must still finish it.)
        for id in &batch_broadcasts {
            if let Ok(Some(b)) = self.store.broadcast(id).await {
                if self.protect_page(&b).await {
                    continue;
                }
                if let Err(e) = self.store.finish_if_complete(&b, AUDIENCE_SHARDS).await {
                    tracing::warn!(error = %e, "completion check failed");
                }
                self.remember(b);
            }
        }
        response
    }

    /// A job on its last receive that would be tried again: recorded failed
    /// (`retries_exhausted`, never sent by it) so its broadcast still reaches
    /// its planned total, instead of dead-lettered uncounted. A job recorded
    /// before (sent or skipped) changes nothing. One whose record is still a
    /// claim is recorded failed as a stale claim (it may have been sent:
    /// never resent): no later receive of this job will resolve it (the
    /// claim is this run's own, failed after claiming, or a run's that
    /// died), and left as it was the broadcast stayed "sending" for ever. A
    /// duplicate delivery of the job in flight at that moment, should there
    /// be one, finds its claim resolved and sends nothing. If even this
    /// record cannot be written, the job goes to the dead-letter queue, and
    /// its alarm, as before.
    async fn give_up(&self, task: &SendTask, err: &SendError) -> Result<JobOutcome, SendError> {
        tracing::warn!(error = %err, "send job deferred on its last try: recorded failed");
        let now = now_ms();
        let retention_days = match self.page(&task.page_id).await {
            Ok(page) => page.retention_days,
            Err(_) => retention::DEFAULT_RETENTION_DAYS,
        };
        let expires_at_s = retention::expires_at_s(now, retention_days);
        let erased = self
            .leads
            .standing(&task.page_id, &task.psid, task.lead.generation.as_deref())
            .await?
            .is_none();
        let reason = outcomes::reason::RETRIES_EXHAUSTED;
        let recorded = self
            .store
            .record_outcome(task, DeliveryState::Failed, reason, now, expires_at_s, erased)
            .await?;
        if recorded {
            return Ok(JobOutcome::Failed(reason));
        }
        if let Some((DeliveryState::Claimed, _)) = self.store.delivery_state(task).await? {
            tracing::warn!("claim met on the job's last try: recorded failed, not resent (at most once)");
            return self.record_stale_claim(task).await;
        }
        Ok(JobOutcome::Nothing)
    }

    /// Makes a deferred job reappear later, growing with its receive count.
    async fn back_off(&self, record: &SqsMessage) {
        let secs = self
            .retry_base_secs
            .saturating_mul(sqs_batch::receive_count(record))
            .min(300);
        if let Some(handle) = &record.receipt_handle {
            let _ = self
                .sqs
                .change_message_visibility()
                .queue_url(&self.send_queue_url)
                .receipt_handle(handle)
                .visibility_timeout(secs)
                .send()
                .await;
        }
    }
}

fn parse(record: &SqsMessage) -> Result<SendTask, SendError> {
    match queue::parse_job::<SendJob>(record.body.as_deref().unwrap_or_default()) {
        Ok(SendJob::SendV1(task)) => Ok(task),
        Err(e) => Err(SendError::BadJob(e.to_string())),
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
    let sender = Sender::from_source(&config::Env, &aws)?;
    let sender = &sender;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<SqsEvent>| async move {
            Ok::<_, std::convert::Infallible>(sender.handle(event.payload).await)
        },
    ))
    .await
}
