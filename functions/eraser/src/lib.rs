//! The eraser (SQS): finishes erasure requests. A request names one subject
//! (`POST /v1/erasure`) or an app-scoped user id from Meta's data-deletion
//! callback, which is mapped to the PSIDs it has on the business's Pages
//! (Graph `ids_for_pages`) and each is erased. Every step is idempotent, so a
//! redelivered job changes nothing; a job that keeps failing is dead-lettered
//! and its request stays "pending" (visible on its status page) while the
//! hourly sweep sends it back, up to [`optcast_shared::queue::MAX_REDRIVES`]
//! times, after which it waits in the dead-letter queue. Before a
//! request is completed, the subjects' items are taken out of the raw
//! deliveries held in the ingest dead-letter queues ([`RawCopies`]).

// Every public fallible item says how it fails (`# Errors`).
#![warn(clippy::missing_errors_doc)]

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use optcast_shared::config::{self, ConfigError, Source};
use optcast_shared::crypto::KeyRing;
use optcast_shared::erasure::{Eraser as SubjectEraser, ErasureReason, ErasureReport, MetaErrorCodes, Requests};
use optcast_shared::graph::{GraphClient, GraphError};
use optcast_shared::http::now_ms;
use optcast_shared::queue::{self, ErasureJob, ErasureTarget, QueueError};
use optcast_shared::raw_copies::{PurgeReport, RawCopies};
use optcast_shared::store::{Store, StoreError};
use optcast_shared::{sqs_batch, telemetry};
use secrecy::SecretString;

mod settings;
pub use settings::EraserConfig;

#[derive(Debug, thiserror::Error)]
pub enum EraserError {
    #[error("not an erasure job: {0}")]
    BadJob(String),
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("Graph API: {0}")]
    Graph(#[from] GraphError),
    #[error("META_APP_ID is not configured: app-scoped ids cannot be mapped")]
    NoAppId,
    #[error("dead-letter queues: {0}")]
    RawCopies(#[from] QueueError),
    #[error("quarantine: {0}")]
    Quarantine(QueueError),
}

/// Meta's codes when its answer to `ids_for_pages` is final: the id does
/// not exist (100 with subcode 33; 803, an alias that does not exist) or
/// no user matches it (100 with subcode 2018001). A retry cannot change
/// that, so the request ends unresolved instead of being retried to the
/// dead-letter queue and left pending. Every other answer is retried: no
/// answer, a rate limit, a 5xx, our app token or permission refused
/// (configuration an operator can fix), and any code not named here (a
/// class alone would end a request on an error Meta adds tomorrow).
fn meta_refused_to_map(e: &GraphError) -> Option<MetaErrorCodes> {
    let code = e.code?;
    matches!((code, e.subcode), (100, Some(33 | 2018001)) | (803, _)).then_some(MetaErrorCodes {
        code,
        subcode: e.subcode,
    })
}

/// How many subjects' tombstones are read at once.
const SUBJECTS_AT_ONCE: usize = 8;

pub struct Eraser {
    eraser: SubjectEraser,
    requests: Requests,
    graph: GraphClient,
    app_id: Option<String>,
    app_secret: SecretString,
    raw_copies: RawCopies,
}

/// The outcome of one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub subjects: u64,
    pub report: ErasureReport,
    pub raw_copies: PurgeReport,
}

impl Eraser {
    /// # Errors
    /// [`ConfigError`] as [`EraserConfig::from_source`], or when the Meta
    /// secrets cannot be read.
    pub async fn from_source(src: &dyn Source, aws: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        Self::new(EraserConfig::from_source(src)?, aws).await
    }

    /// The eraser with its clients built from `aws` (and the Meta app
    /// secret read, from Secrets Manager in AWS).
    ///
    /// # Errors
    /// [`ConfigError::Secret`] when the Meta secrets cannot be read.
    pub async fn new(cfg: EraserConfig, aws: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        let ddb = config::dynamodb(aws);
        let s3 = config::s3(aws);
        Ok(Self {
            eraser: SubjectEraser::new(
                Store::new(ddb.clone(), cfg.tables),
                cfg.deliveries_table,
                cfg.privacy_table.clone(),
            )
            .with_exports(s3.clone(), cfg.bucket.clone()),
            requests: Requests {
                ddb,
                table: cfg.privacy_table,
            },
            graph: GraphClient::new(cfg.graph_api_url)?,
            app_id: cfg.app_id,
            app_secret: cfg.meta.load(aws).await?.app_secret,
            raw_copies: RawCopies {
                sqs: config::sqs(aws),
                s3,
                keys: KeyRing::new(config::kms(aws), cfg.kms_key_id),
                bucket: cfg.bucket,
                dead_letter_queues: cfg.dead_letter_queues,
            },
        })
    }

    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        sqs_batch::in_order(&event.records, |record| async move {
            self.process(record)
                .await
                .inspect_err(|err| tracing::error!(error = %err, message_id = ?record.message_id, "erasure job failed"))
        })
        .await
    }

    async fn process(&self, record: &SqsMessage) -> Result<Outcome, EraserError> {
        let job: ErasureJob = queue::parse_job(record.body.as_deref().unwrap_or_default())
            .map_err(|e| EraserError::BadJob(e.to_string()))?;
        self.run(&job).await
    }

    /// Runs one job to the end and records the request's final status.
    ///
    /// # Errors
    /// [`EraserError::Store`] when DynamoDB or S3 fails, [`EraserError::RawCopies`]
    /// when the dead-letter queues do, [`EraserError::Quarantine`] when the
    /// quarantine's listing, reading (S3, KMS) or deleting does (a record
    /// that cannot be read does not stop the others), [`EraserError::Graph`] when an
    /// app-scoped id cannot be mapped yet ([`EraserError::NoAppId`] without
    /// the app's id): the job goes back to SQS, and every step already done
    /// is idempotent. An id Meta refuses to map for good ends the request
    /// unresolved instead ([`meta_refused_to_map`]).
    pub async fn run(&self, job: &ErasureJob) -> Result<Outcome, EraserError> {
        let ErasureJob::ErasureV1 {
            request_id,
            target,
            found_before,
            shredded_at_ms,
        } = job;
        // A purge's hand-over: the subject was shredded then, and anything
        // of theirs dated since is a new lead's (they wrote again). Dated at
        // the shred is the erased past, as for any erasure
        // (`lead::Tombstone::covers`): deleted.
        let shredded_at = match shredded_at_ms {
            Some(t) => Some(*t),
            None if *found_before => self.purge_shredded_at(request_id).await?,
            None => None,
        };
        let dated_before = shredded_at.map(|t| t.saturating_add(1));
        let now = now_ms();
        let (reason, subjects) = match target {
            ErasureTarget::Subject { page_id, psid } => (ErasureReason::Request, vec![(page_id.clone(), psid.clone())]),
            ErasureTarget::AppScopedUser { asid } => {
                let app_id = self.app_id.as_deref().ok_or(EraserError::NoAppId)?;
                match self.graph.ids_for_pages(asid, app_id, &self.app_secret).await {
                    Ok(ids) => (ErasureReason::MetaDeletionCallback, ids),
                    Err(e) => {
                        let Some(meta) = meta_refused_to_map(&e) else {
                            return Err(e.into());
                        };
                        self.requests.finish_unresolved(request_id, meta, now).await?;
                        tracing::warn!(
                            request = %request_id,
                            meta_code = meta.code,
                            meta_subcode = meta.subcode,
                            "erasure unresolved: Meta refused to map the app-scoped id"
                        );
                        return Ok(Outcome {
                            subjects: 0,
                            report: ErasureReport::default(),
                            raw_copies: PurgeReport::default(),
                        });
                    }
                }
            }
        };
        // The tables and the quarantine, and the dead-letter copies, are
        // independent: erased together (each step is idempotent), and each
        // finishes whatever the other does.
        let erase_subjects = async {
            // Every subject's key first: all their ciphertext unreadable at
            // once, before anything is listed (a purge's hand-over: shredded
            // by the purge already).
            let (mut report, mut shredded, mut failed) = (ErasureReport::default(), 0, None);
            if dated_before.is_some() {
                shredded = subjects.len();
            } else {
                for (page, psid) in &subjects {
                    // Timed at the shred (an app-scoped user's ids took a Graph
                    // call): what they sent until then is what it erased.
                    match self.eraser.shred(page, psid, reason, now_ms()).await {
                        Ok(true) => report.subscriber += 1,
                        Ok(false) => {}
                        Err(e) => {
                            failed = Some(e);
                            break;
                        }
                    }
                    shredded += 1;
                }
            }
            // Then the rest of what the shredded ones left, beside one
            // listing of the quarantine for the job (each record's metadata
            // read once, whatever the subjects), which runs for every subject
            // even when a step failed: a job that ends dead-lettered leaves
            // none of their quarantined items.
            let deletions = async {
                for (page, psid) in &subjects[..shredded] {
                    report.add(&self.eraser.delete_after_shred(page, psid, now, dated_before).await?);
                }
                // A failed shred is reported once those before it are done.
                failed.map_or(Ok::<_, StoreError>(()), Err)
            };
            let (deleted, quarantined) = tokio::join!(
                Box::pin(deletions),
                Box::pin(self.raw_copies.purge_quarantine(&subjects, dated_before))
            );
            match (deleted, quarantined) {
                (Ok(()), Ok(quarantined)) => Ok((report, quarantined)),
                (Ok(()), Err(e)) => Err(EraserError::Quarantine(e)),
                (Err(e), quarantined) => {
                    if let Err(q) = quarantined {
                        tracing::error!(error = %q, "quarantine purge failed too");
                    }
                    Err(EraserError::from(e))
                }
            }
        };
        // Boxed: side by side, their state would not fit a task's stack.
        let (erased, raw_copies) = tokio::join!(
            Box::pin(erase_subjects),
            Box::pin(self.raw_copies.purge(&subjects, dated_before))
        );
        let (mut report, quarantined) = erased?;
        let raw_copies = raw_copies?;
        report.quarantined += quarantined;
        report.dead_letter_items += raw_copies.items_removed;
        // Data was held if this run found some, or a tombstone was written
        // since the request (by the API's shred, or an earlier run of this
        // job; `found_before` comes from older jobs): a job run again never
        // turns "completed" into "no data".
        let mut held = *found_before;
        if !held && !report.held_data() {
            // The request and the subjects' tombstones, read side by side (a
            // few subjects at a time: an app-scoped user may have many).
            let erased = async {
                let mut erased = Vec::with_capacity(subjects.len());
                for some in subjects.chunks(SUBJECTS_AT_ONCE) {
                    let reads = some
                        .iter()
                        .map(|(page, psid)| self.eraser.store.last_erased_at(page, psid));
                    erased.extend(futures_util::future::try_join_all(reads).await?);
                }
                Ok::<_, StoreError>(erased)
            };
            let (request, erased) = tokio::try_join!(self.requests.get(request_id), erased)?;
            let since = request.map_or(now, |r| r.created_at_ms);
            held = erased.into_iter().flatten().any(|t| t >= since);
        }
        let status = self
            .requests
            .finish(request_id, subjects.len() as u64, &report, held, now)
            .await?;
        tracing::info!(
            request = %request_id,
            subjects = subjects.len(),
            messages = report.messages,
            consent_records = report.consent_records,
            deliveries = report.deliveries,
            dead_letter_items = raw_copies.items_removed,
            quarantined,
            status = status.as_str(),
            "erasure finished"
        );
        Ok(Outcome {
            subjects: subjects.len() as u64,
            report,
            raw_copies,
        })
    }

    /// When the purge that handed over request `request_id` shredded its
    /// subject, for a hand-over queued before jobs carried it
    /// (`shredded_at_ms`): such a job says only `found_before`, which
    /// earlier APIs set too, so the request's reason tells a purge (then
    /// its time, the purge's) from an erasure request (`None`).
    ///
    /// # Errors
    /// [`EraserError::Store`] when the request cannot be read.
    async fn purge_shredded_at(&self, request_id: &str) -> Result<Option<i64>, EraserError> {
        let request = self.requests.get(request_id).await?;
        Ok(request
            .filter(|r| {
                matches!(
                    r.reason,
                    ErasureReason::UnsubscribedPurge | ErasureReason::UnreachablePurge
                )
            })
            .map(|r| r.created_at_ms))
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
    let eraser = Eraser::from_source(&config::Env, &aws).await?;
    let eraser = &eraser;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<SqsEvent>| async move {
            Ok::<_, std::convert::Infallible>(eraser.handle(event.payload).await)
        },
    ))
    .await
}

#[cfg(test)]
mod tests {
    use optcast_shared::graph::parse_error;

    use super::*;

    #[test]
    fn only_metas_final_refusals_end_a_request_unresolved() {
        let answer = |status, body: &str| meta_refused_to_map(&parse_error(status, body));
        // An id that does not exist, and no matching user: final.
        assert_eq!(
            answer(
                400,
                r#"{"error":{"code":100,"error_subcode":33,"message":"Unsupported get request."}}"#
            ),
            Some(MetaErrorCodes {
                code: 100,
                subcode: Some(33)
            })
        );
        assert_eq!(
            answer(400, r#"{"error":{"code":100,"error_subcode":2018001}}"#).map(|m| m.code),
            Some(100)
        );
        assert_eq!(answer(400, r#"{"error":{"code":803}}"#).map(|m| m.code), Some(803));
        // Retried: our app token refused (configuration), a rate limit,
        // Meta's 5xx, a 400 without Meta's code, codes not named as final
        // (an application request limit, an unknown error, another 100).
        for (status, body) in [
            (400, r#"{"error":{"code":341}}"#),
            (400, r#"{"error":{"code":1}}"#),
            (400, r#"{"error":{"code":100,"error_subcode":1234}}"#),
            (
                400,
                r#"{"error":{"code":190,"message":"Invalid OAuth access token signature."}}"#,
            ),
            (400, r#"{"error":{"code":4}}"#),
            (500, r#"{"error":{"code":1200}}"#),
            (503, "upstream down"),
            (400, "not json"),
        ] {
            assert_eq!(answer(status, body), None, "{status} {body}");
        }
    }
}
