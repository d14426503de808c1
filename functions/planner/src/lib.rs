//! The planner: pages through a broadcast's subscribed audience, one shard
//! of the sparse audience index at a time, and enqueues send jobs ten per
//! `SendMessageBatch`. Progress is checkpointed per page, so a planner that
//! dies or runs out of time resumes where it stopped; each page's jobs are
//! recorded before its checkpoint and sent after it (`store::planned`), so a
//! page counted is the page sent.

// Every public fallible item says how it fails (`# Errors`).
#![warn(clippy::missing_errors_doc)]

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use optcast_shared::broadcast;
use optcast_shared::broadcast::Broadcast;
use optcast_shared::config::{self, ConfigError, Source};
use optcast_shared::http::now_ms;
use optcast_shared::ids::BroadcastId;
use optcast_shared::lead::Subscriber;
use optcast_shared::queue::{self, PlanJob, Producer, QueueError, SendJob, SendTask};
use optcast_shared::store::{BroadcastStore, Checkpoint, PlannedPage, SendTables, CURSOR_DONE};
use optcast_shared::store::{StoreError, AUDIENCE_SHARDS};
use optcast_shared::{broadcast::BroadcastState, sqs_batch, telemetry};

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("plan job is malformed: {0}")]
    BadJob(String),
}

pub struct Planner {
    store: BroadcastStore,
    sends: Producer<SendJob>,
    plans: Producer<PlanJob>,
    /// Audience index pages per invocation before handing over to a fresh one.
    pages_per_run: usize,
    page_size: i32,
    /// The plan queue's `maxReceiveCount`: a job's last try.
    max_receives: i32,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PlanReport {
    pub queued: i64,
    pub pages: usize,
    pub finished: bool,
}

/// Why a broadcast whose plan job failed on every try is paused.
pub const PLANNING_FAILED: &str = "planning failed on every try; resume to plan again";

/// The planner's configuration, read once per cold start.
#[derive(Debug, Clone)]
pub struct PlannerConfig {
    pub send_tables: SendTables,
    /// `SEND_QUEUE_URL`: where send jobs go.
    pub send_queue_url: String,
    /// `PLAN_QUEUE_URL`: where a shard's rest goes when a run hands over.
    pub plan_queue_url: String,
    /// `PLAN_PAGES_PER_RUN` (default 20, 1 to 1000): audience pages per
    /// invocation.
    pub pages_per_run: usize,
    /// `PLAN_PAGE_SIZE` (default 100, 10 to 1000): leads per audience page
    /// (DynamoDB returns at most 1 MB a page whatever the limit).
    pub page_size: i32,
    /// `PLAN_MAX_RECEIVES` (default 5, 1 to 1000): the plan queue's
    /// `maxReceiveCount`. A plan job failing on its last receive pauses its
    /// broadcast ([`PLANNING_FAILED`]) instead of going to the dead-letter
    /// queue with its shard never planned.
    pub max_receives: i32,
}

impl PlannerConfig {
    /// # Errors
    /// [`ConfigError`] when a required name is missing, or a number is not
    /// one or is outside its bounds.
    pub fn from_source(src: &dyn Source) -> Result<Self, ConfigError> {
        Ok(Self {
            send_tables: SendTables::from_source(src)?,
            send_queue_url: config::required(src, "SEND_QUEUE_URL")?,
            plan_queue_url: config::required(src, "PLAN_QUEUE_URL")?,
            pages_per_run: config::bounded(src, "PLAN_PAGES_PER_RUN", 20u32, 1..=1000)? as usize,
            max_receives: config::bounded(src, "PLAN_MAX_RECEIVES", 5, 1..=1000)?,
            page_size: config::bounded(src, "PLAN_PAGE_SIZE", 100i32, 10..=1000)?,
        })
    }
}

impl Planner {
    /// # Errors
    /// [`ConfigError`] as [`PlannerConfig::from_source`].
    pub fn from_source(src: &dyn Source, aws: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        Ok(Self::new(PlannerConfig::from_source(src)?, aws))
    }

    /// A planner with its clients built from `aws`.
    pub fn new(cfg: PlannerConfig, aws: &aws_config::SdkConfig) -> Self {
        let sqs = config::sqs(aws);
        Self {
            store: BroadcastStore::new(config::dynamodb(aws), cfg.send_tables),
            sends: Producer::new(sqs.clone(), cfg.send_queue_url),
            plans: Producer::new(sqs, cfg.plan_queue_url),
            pages_per_run: cfg.pages_per_run,
            page_size: cfg.page_size,
            max_receives: cfg.max_receives,
        }
    }

    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        sqs_batch::in_order(&event.records, |record| async move {
            let result = match queue::parse_job::<PlanJob>(record.body.as_deref().unwrap_or_default()) {
                Ok(PlanJob::PlanV1 { broadcast_id, shard }) => match self.plan_shard(&broadcast_id, shard).await {
                    Err(err) if sqs_batch::receive_count(record) >= self.max_receives => {
                        self.give_up(&broadcast_id, shard, &err).await
                    }
                    result => result.map(|_| ()),
                },
                Err(e) => Err(PlanError::BadJob(e.to_string())),
            };
            result.inspect_err(|err| tracing::error!(error = %err, "plan job failed"))
        })
        .await
    }

    /// A plan job failing on its last receive: its broadcast is paused
    /// ([`PLANNING_FAILED`]), where the marketer sees it and a resume plans
    /// every shard again from its checkpoint. Dead-lettered instead, the
    /// shard would never be planned and the broadcast would stay
    /// `planning`/`sending` for ever.
    ///
    /// # Errors
    /// [`PlanError::Store`] when the pause cannot be written (the job then
    /// goes to the dead-letter queue, and its alarm, as before).
    async fn give_up(&self, id: &BroadcastId, shard: u32, err: &PlanError) -> Result<(), PlanError> {
        tracing::error!(error = %err, "plan job failed on its last try: broadcast paused");
        self.store
            .transition(id, BroadcastState::Paused, Some(PLANNING_FAILED))
            .await?;
        // A counted page still to send goes to the sender, which parks its
        // jobs where erasure and the retention sweep find them; if that
        // fails too, the resume's run sends it.
        if let Some(b) = self.store.broadcast(id).await? {
            if let Err(e) = self.send_planned(&b, shard).await {
                tracing::error!(error = %e, "a counted page left for the resume");
            }
        }
        Ok(())
    }

    /// Plans up to `pages_per_run` pages of one shard, resuming from its checkpoint.
    ///
    /// # Errors
    /// [`PlanError::BadJob`] for a shard out of range (the same on every
    /// retry: it ends in the dead-letter queue); [`PlanError::Store`] or
    /// [`PlanError::Queue`] when DynamoDB or SQS fails: the job is retried
    /// from the checkpoint.
    #[tracing::instrument(skip_all, fields(broadcast = %id, shard))]
    pub async fn plan_shard(&self, id: &BroadcastId, shard: u32) -> Result<PlanReport, PlanError> {
        let mut report = PlanReport::default();
        if shard >= AUDIENCE_SHARDS {
            return Err(PlanError::BadJob(format!("shard {shard} out of range")));
        }
        let Some(b) = self.store.broadcast(id).await? else {
            tracing::warn!("plan job for an unknown broadcast dropped");
            return Ok(report);
        };
        self.send_planned(&b, shard).await?;
        if !b.state.is_active() {
            return Ok(report);
        }
        if b.resumed_at_ms.is_some() {
            self.requeue_parked(id, shard).await?;
        }
        let mut cursor = b.cursors.get(&shard).cloned().unwrap_or_default();
        while cursor != CURSOR_DONE {
            if report.pages >= self.pages_per_run {
                // Hand over to a fresh invocation; the checkpoint is the truth.
                let job = PlanJob::PlanV1 {
                    broadcast_id: id.clone(),
                    shard,
                };
                self.plans.send_batch(&[job]).await?;
                return Ok(report);
            }
            let audience = self
                .store
                .audience_page(&b.page_id, shard, &cursor, self.page_size)
                .await?;
            let tasks: Vec<SendTask> = audience
                .leads
                .into_iter()
                // The audience index holds subscribed leads only; the one
                // rule (status and tags) is still the same function the
                // preview judges with.
                .filter(|lead| broadcast::planned(lead, &b.audience_tags).is_ok())
                .map(|lead| send_task(id, lead))
                .collect();
            let next = audience.next.unwrap_or_else(|| CURSOR_DONE.to_string());
            // Counted and recorded in one write, then sent (the outbox:
            // `store::planned`): a run stopping after the checkpoint
            // leaves the counted jobs for the next run to send, never a
            // page to read again from an audience that changed.
            let mut planned = PlannedPage::new(cursor.clone(), next.clone(), tasks);
            let count = planned.tasks.len() as i64;
            let now = match self.store.checkpoint(id, shard, &mut planned, now_ms()).await? {
                Checkpoint::Moved(now) => now,
                Checkpoint::Refused => {
                    // Another run moved the shard on (its SQS message
                    // stays until it is done, and a last try pauses the
                    // broadcast), or the broadcast was cancelled: this
                    // run sends a counted page of the shard it finds, as
                    // any run does, and stops.
                    tracing::warn!("checkpoint refused; stopping");
                    if let Some(b) = self.store.broadcast(id).await? {
                        self.send_planned(&b, shard).await?;
                    }
                    return Ok(report);
                }
            };
            if matches!(now, BroadcastState::Cancelled | BroadcastState::Done) {
                // Cancelled since the checkpoint: its jobs are not sent.
                self.store.clear_planned(id, shard, &planned.token).await?;
                return Ok(report);
            }
            self.send_page(id, shard, planned).await?;
            report.pages += 1;
            report.queued += count;
            if now == BroadcastState::Paused {
                // The page is counted; a resume plans on from here.
                tracing::info!(queued = report.queued, "broadcast paused; planning stops");
                return Ok(report);
            }
            if report.queued > 0 && now == BroadcastState::Planning {
                self.store.transition(id, BroadcastState::Sending, None).await?;
            }
            cursor = next;
        }
        report.finished = true;
        if let Some(now) = self.store.broadcast(id).await? {
            self.store.finish_if_complete(&now, AUDIENCE_SHARDS).await?;
        }
        tracing::info!(queued = report.queued, pages = report.pages, "shard planned");
        Ok(report)
    }
}

impl Planner {
    /// A counted page of the shard still to send (its run's send failed or
    /// the run stopped): sent now, whichever run wrote it, unless the
    /// broadcast is cancelled or done (then only dropped).
    async fn send_planned(&self, b: &Broadcast, shard: u32) -> Result<(), PlanError> {
        let Some(planned) = self.store.planned(&b.id, shard).await? else {
            return Ok(());
        };
        if matches!(b.state, BroadcastState::Cancelled | BroadcastState::Done) {
            self.store.clear_planned(&b.id, shard, &planned.token).await?;
            return Ok(());
        }
        tracing::info!(jobs = planned.tasks.len(), "a counted page still to send is sent");
        self.send_page(&b.id, shard, planned).await
    }

    /// Sends a checkpointed page's jobs, then clears its record.
    async fn send_page(&self, id: &BroadcastId, shard: u32, planned: PlannedPage) -> Result<(), PlanError> {
        let jobs: Vec<SendJob> = planned.tasks.into_iter().map(SendJob::SendV1).collect();
        self.sends.send_batch(&jobs).await?;
        self.store.clear_planned(id, shard, &planned.token).await?;
        Ok(())
    }

    /// A resumed broadcast's jobs parked while it was paused, of this shard
    /// (its lane): queued again, then no longer parked. Queued twice (a run
    /// that dies between the two), a job is still sent once: each claims
    /// `(broadcast, psid)` first.
    async fn requeue_parked(&self, id: &BroadcastId, shard: u32) -> Result<(), PlanError> {
        let parked = self.store.parked(id, shard).await?;
        if parked.is_empty() {
            return Ok(());
        }
        let (jobs, keys): (Vec<SendJob>, Vec<_>) = parked.into_iter().map(|(t, k)| (SendJob::SendV1(t), k)).unzip();
        self.sends.send_batch(&jobs).await?;
        self.store.unpark_listed(keys).await?;
        tracing::info!(requeued = jobs.len(), "parked jobs queued again");
        Ok(())
    }
}

fn send_task(id: &BroadcastId, sub: Subscriber) -> SendTask {
    let lead = broadcast::snapshot(&sub);
    SendTask {
        broadcast_id: id.clone(),
        page_id: sub.page_id,
        psid: sub.psid,
        lead,
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
    let planner = Planner::from_source(&config::Env, &aws)?;
    let planner = &planner;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<SqsEvent>| async move {
            Ok::<_, std::convert::Infallible>(planner.handle(event.payload).await)
        },
    ))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use optcast_shared::config::refusals::{self, assert_refused, Refused};

    fn source(extra: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> + Send + Sync {
        refusals::source(extra, |name| name.ends_with("_TABLE") || name.ends_with("_URL"))
    }

    #[test]
    fn the_planner_config_has_its_defaults_and_bounds() {
        let cfg = PlannerConfig::from_source(&source(&[])).unwrap();
        assert_eq!(cfg.send_queue_url, "v-SEND_QUEUE_URL");
        assert_eq!(cfg.plan_queue_url, "v-PLAN_QUEUE_URL");
        assert_eq!((cfg.pages_per_run, cfg.page_size), (20, 100));
        let cfg =
            PlannerConfig::from_source(&source(&[("PLAN_PAGE_SIZE", "1000"), ("PLAN_PAGES_PER_RUN", "3")])).unwrap();
        assert_eq!((cfg.pages_per_run, cfg.page_size), (3, 1000));
    }

    #[test]
    fn the_planner_config_names_what_is_missing_wrong_or_out_of_bounds() {
        assert_refused(
            PlannerConfig::from_source,
            &source(&[]),
            &[
                ("PLAN_PAGE_SIZE", Some("5"), Refused::OutOfRange("PLAN_PAGE_SIZE")),
                ("PLAN_PAGE_SIZE", Some("50000"), Refused::OutOfRange("PLAN_PAGE_SIZE")),
                (
                    "PLAN_PAGES_PER_RUN",
                    Some("0"),
                    Refused::OutOfRange("PLAN_PAGES_PER_RUN"),
                ),
                (
                    "PLAN_PAGES_PER_RUN",
                    Some("many"),
                    Refused::Invalid("PLAN_PAGES_PER_RUN"),
                ),
                ("PLAN_QUEUE_URL", None, Refused::Missing("PLAN_QUEUE_URL")),
            ],
        );
    }
}
