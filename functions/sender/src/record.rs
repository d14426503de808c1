//! What the sender records besides a send: a skipped job with its reason
//! code, page protection pausing a broadcast whose unsubscribe + block
//! rate crossed its page's threshold, and each batch's metrics document.

use optcast_shared::broadcast::{self, Broadcast, BroadcastState, DeliveryState};
use optcast_shared::outcomes;
use optcast_shared::queue::SendTask;

use aws_lambda_events::event::sqs::SqsMessage;
use optcast_shared::metrics::{self, Metric};

use super::{JobOutcome, SendError, Sender};

impl Sender {
    /// Records a job the policy `reason` refused, with its state and reason
    /// code as [`broadcast::skip_outcome`] decides from the lead's standing
    /// now (a later opt-out counts as one).
    pub(crate) async fn skip(
        &self,
        task: &SendTask,
        now: i64,
        expires_at_s: i64,
        reason: broadcast::PolicySkip,
    ) -> Result<JobOutcome, SendError> {
        self.record_skip(task, now, expires_at_s, Some(reason), false).await
    }

    /// Records a job its claim refused; `marketing`: the claim was for a
    /// marketing-messages send, so a token the lead stopped may be why (on
    /// any other route it is not).
    pub(crate) async fn skip_refused(
        &self,
        task: &SendTask,
        marketing: bool,
        now: i64,
        expires_at_s: i64,
    ) -> Result<JobOutcome, SendError> {
        self.record_skip(task, now, expires_at_s, None, marketing).await
    }

    async fn record_skip(
        &self,
        task: &SendTask,
        now: i64,
        expires_at_s: i64,
        reason: Option<broadcast::PolicySkip>,
        token_counts: bool,
    ) -> Result<JobOutcome, SendError> {
        // Without a policy named, the claim refused it: [`skip_outcome`]
        // reads a stopped token as why only if the claim was for one.
        let standing = self
            .leads
            .standing(&task.page_id, &task.psid, task.lead.generation.as_deref())
            .await?
            .map(|s| broadcast::LeadStanding {
                marketing_stopped: s.marketing_stopped && token_counts,
                ..s
            });
        let (state, code) = broadcast::skip_outcome(standing, reason);
        let outcome = match state {
            DeliveryState::SkippedPolicy => JobOutcome::SkippedPolicy(code),
            _ => JobOutcome::SkippedUnsubscribed(code),
        };
        if let Some(r) = reason {
            tracing::info!(reason = ?r, "skipped by policy");
        }
        if self
            .store
            .record_outcome(task, state, code, now, expires_at_s, standing.is_none())
            .await?
        {
            Ok(outcome)
        } else if standing.is_none() {
            // The erased lead's record exists: erasure carried over a claim
            // of this job (completed there by its run, or stale if that run
            // died) or its outcome. Resolved as any job that ran before.
            self.resolve_existing(task, now).await
        } else {
            Ok(JobOutcome::Nothing)
        }
    }

    /// Page protection, on the counts the batch's completion check read
    /// anyway: pauses an active broadcast whose unsubscribe + block rate is
    /// above its page's threshold ([`outcomes::pause_reason`]; after the
    /// marketer resumed a protection pause, counted since that resume).
    /// True if it paused it (or it is no longer active).
    pub(crate) async fn protect_page(&self, b: &Broadcast) -> bool {
        if !b.state.is_active() {
            return false;
        }
        let protection = match self.page(&b.page_id).await {
            Ok(p) => p.protection,
            Err(_) => outcomes::Protection::default(),
        };
        let Some(reason) = outcomes::pause_reason(b.protection_counts(), b.protection_baseline.as_ref(), &protection)
        else {
            return false;
        };
        match self
            .store
            .transition(&b.id, BroadcastState::Paused, Some(&reason))
            .await
        {
            Ok(paused) => {
                if paused {
                    tracing::warn!(broadcast = %b.id, sent = b.counts.sent, unsubscribed = b.outcomes.unsubscribed,
                        blocked = b.outcomes.blocked, "broadcast paused by page protection");
                }
                self.definitions.lock().expect("definitions").remove(&b.id);
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "page protection could not pause");
                false
            }
        }
    }
}

/// One metrics document for a batch: every job's outcome (and reason), the
/// deferred ones and those that failed on our side. Sent, skipped and
/// failed are always published (0 included) so alarms can divide them.
pub(crate) fn batch_metrics(results: &[(&SqsMessage, Result<JobOutcome, SendError>)]) -> metrics::Document {
    let mut doc = metrics::Document::new(metrics::Function::Sender);
    for m in [
        Metric::Sent,
        Metric::SkippedUnsubscribed,
        Metric::SkippedPolicy,
        Metric::Failed,
    ] {
        doc.add(m, 0);
    }
    for (_, outcome) in results {
        match outcome {
            Ok(JobOutcome::Parked) => doc.add(Metric::Parked, 1),
            Ok(o) => {
                if let Some((state, reason)) = o.recorded() {
                    doc.count_delivery(state, reason);
                }
            }
            Err(SendError::RetryLater(_)) => doc.add(Metric::Deferred, 1),
            Err(_) => doc.add(Metric::JobErrors, 1),
        }
    }
    doc
}
