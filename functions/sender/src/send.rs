//! One job's send: the lead's consent and the broadcast's state checked
//! and the delivery claimed in one transaction, Meta's policy applied, the
//! message sent, and what it ended as recorded.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use optcast_shared::broadcast::{self, BroadcastState, SendErrorAction, SendRoute};
use optcast_shared::broadcast::{Broadcast, Claim, DeliveryState, MarketingHold};
use optcast_shared::graph::{MessagingType, Recipient, SendRequest};
use optcast_shared::http::now_ms;
use optcast_shared::ids::{BroadcastId, PageId};
use optcast_shared::outcomes;
use optcast_shared::queue::SendTask;
use optcast_shared::retention;
use optcast_shared::store::Completion;
use optcast_shared::telemetry::subject_hash;

use super::{JobOutcome, SendError, Sender, STALE_CLAIM_MS};

impl Sender {
    /// Sends one job's message, unless the lead's consent or Meta's policy
    /// says not to, and records what it ended as (at most once per lead and
    /// broadcast: a claimed delivery record).
    ///
    /// # Errors
    /// [`SendError::RetryLater`] when the page is throttled, another run
    /// holds the claim, the Send API answers with an error worth retrying
    /// (rate limits, Meta's transient errors) or a paused broadcast was
    /// resumed meanwhile; [`SendError::Store`] or [`SendError::Crypto`] when
    /// DynamoDB or KMS fails; [`SendError::UnknownPage`] for a page not
    /// registered, [`SendError::BadJob`] for a page token that is not text.
    /// Each goes back to SQS (retried, then dead-lettered).
    #[tracing::instrument(skip_all, fields(broadcast = %task.broadcast_id, subject = subject_hash(task.psid.as_str())))]
    pub async fn send_one(
        &self,
        task: &SendTask,
        broadcasts: &HashMap<BroadcastId, Option<Broadcast>>,
        throttled: &Mutex<HashSet<PageId>>,
    ) -> Result<JobOutcome, SendError> {
        let now = now_ms();
        if throttled.lock().expect("throttled").contains(&task.page_id) {
            return Err(SendError::RetryLater("page throttled in this batch"));
        }
        let b = match broadcasts.get(&task.broadcast_id) {
            Some(b) => b.clone(),
            None => self.definition(&task.broadcast_id).await?,
        };
        let Some(b) = b else {
            tracing::warn!("send job for an unknown broadcast dropped");
            return Ok(JobOutcome::Nothing);
        };
        if !b.state.is_active() {
            return self.park_if_paused(task, b.state, now).await;
        }
        let page = self.page(&task.page_id).await?;
        let expires_at_s = retention::expires_at_s(now, page.retention_days);
        let route = broadcast::route(now, &task.lead, page.marketing_available);
        let hold = matches!(route, SendRoute::MarketingToken).then(|| MarketingHold::at(now));
        if let SendRoute::Skip(reason) = route {
            // Still respect a later opt-out first: an unsubscribed lead is
            // counted as such, whatever the policy would have said.
            return self.skip(task, now, expires_at_s, reason).await;
        }
        // Everything that waits or reads comes before the claim: the claim
        // is the last look at the lead's consent and the broadcast's state,
        // so only the Send API call follows it. A STOP, an erasure or a
        // cancel committed while the job waited for its pacing slot (seconds
        // at a low send rate) or for KMS is seen by its claim.
        let recipient = match route {
            SendRoute::MarketingToken => match self.marketing_token(task).await? {
                Some(token) => Recipient::NotificationToken(token),
                None => {
                    return self
                        .skip(task, now, expires_at_s, broadcast::PolicySkip::MarketingStopped)
                        .await;
                }
            },
            _ => Recipient::Id(task.psid.clone()),
        };
        let request = SendRequest {
            recipient,
            // Inside the window: UPDATE. A marketing-messages token is its own permission.
            messaging_type: (!matches!(route, SendRoute::MarketingToken)).then_some(MessagingType::Update),
            tag: None,
            message: b.message.render(&b.id),
        };
        self.pace(&task.page_id).await;
        // Another job of this batch may have been rate limited meanwhile.
        if throttled.lock().expect("throttled").contains(&task.page_id) {
            return Err(SendError::RetryLater("page throttled in this batch"));
        }
        // The claim and the send are timed after the wait: receipts and a
        // STOP are attributed to the latest send before them, so a send
        // dated at its job's start (seconds earlier at a low rate) would
        // take what belongs to the broadcast sent before it.
        let now = now_ms();
        match self.store.claim(task, hold, expires_at_s, now).await? {
            Claim::Claimed => {}
            Claim::LeadNotEligible => return self.skip_refused(task, hold.is_some(), now, expires_at_s).await,
            Claim::BroadcastInactive => return self.park_if_paused(task, BroadcastState::Paused, now).await,
            Claim::AlreadyClaimed => return self.resolve_existing(task, now).await,
        }
        match self.graph.send_message(&task.page_id, &page.token, &request).await {
            Ok(resp) => {
                self.note_if_marketing(route, task, now).await?;
                let done = Completion {
                    message_id: Some(&resp.message_id),
                    sent_at_ms: Some(now),
                    ..Completion::default()
                };
                self.store.complete(task, DeliveryState::Sent, &done).await?;
                Ok(JobOutcome::Sent)
            }
            Err(err) => {
                tracing::warn!(class = ?err.class, code = ?err.code, subcode = ?err.subcode, "send API error");
                let code = outcomes::meta_error_code(err.status, err.code, err.subcode);
                let failed = |reason, blocked| Completion {
                    reason: Some(reason),
                    meta_error: Some(&code),
                    blocked,
                    ..Completion::default()
                };
                match broadcast::on_send_error(err.class) {
                    SendErrorAction::Retry { reason, throttle_page } => {
                        if throttle_page {
                            throttled.lock().expect("throttled").insert(task.page_id.clone());
                        }
                        self.store.release(task, hold, Some(&code)).await?;
                        Err(SendError::RetryLater(reason))
                    }
                    SendErrorAction::SkipPolicy => {
                        let done = failed(outcomes::reason::META_POLICY, false);
                        self.store.complete(task, DeliveryState::SkippedPolicy, &done).await?;
                        Ok(JobOutcome::SkippedPolicy(outcomes::reason::META_POLICY))
                    }
                    SendErrorAction::MarkUnreachable => {
                        self.store
                            .mark_unreachable(&task.page_id, &task.psid, task.lead.generation.as_deref(), now)
                            .await?;
                        let done = failed(outcomes::reason::BLOCKED, true);
                        self.store.complete(task, DeliveryState::Failed, &done).await?;
                        Ok(JobOutcome::Failed(outcomes::reason::BLOCKED))
                    }
                    SendErrorAction::PauseBroadcast { reason } => {
                        self.store
                            .transition(&b.id, BroadcastState::Paused, Some(reason))
                            .await?;
                        self.pages.lock().expect("page cache").remove(&task.page_id);
                        // Jobs already claimed may still try (and pause it again,
                        // a no-op); no new claim passes the lanes' state check.
                        self.definitions.lock().expect("definitions").remove(&task.broadcast_id);
                        self.store.release(task, hold, Some(&code)).await?;
                        // This lead's job waits for the resume like the rest.
                        self.park_if_paused(task, BroadcastState::Paused, now).await
                    }
                    SendErrorAction::Fail => {
                        let done = failed(outcomes::reason::META_REJECTED, false);
                        self.store.complete(task, DeliveryState::Failed, &done).await?;
                        Ok(JobOutcome::Failed(outcomes::reason::META_REJECTED))
                    }
                    SendErrorAction::RecordUnknown => {
                        // It may have gone: never again, and the lead's 48
                        // hours counted as if it had.
                        self.note_if_marketing(route, task, now).await?;
                        // Not Meta's error: no answer of Meta's to count.
                        let done = Completion {
                            reason: Some(outcomes::reason::UNKNOWN_OUTCOME),
                            ..Completion::default()
                        };
                        self.store.complete(task, DeliveryState::Failed, &done).await?;
                        Ok(JobOutcome::Failed(outcomes::reason::UNKNOWN_OUTCOME))
                    }
                }
            }
        }
    }

    /// A marketing-messages send (made, or perhaps made) starts the lead's
    /// 48 hours, on the lead of the job's lifetime.
    pub(crate) async fn note_if_marketing(&self, route: SendRoute, task: &SendTask, now: i64) -> Result<(), SendError> {
        if matches!(route, SendRoute::MarketingToken) {
            self.store
                .note_marketing_sent(&task.page_id, &task.psid, task.lead.generation.as_deref(), now)
                .await?;
        }
        Ok(())
    }

    /// The job ran before (its record under the lead's PSID, or under their
    /// digest once erased). A final state means done; a fresh claim means
    /// another run may be sending right now (come back later); an old claim
    /// means a run died between claim and outcome: it may have sent, so it is
    /// recorded failed and never sent again.
    pub(crate) async fn resolve_existing(&self, task: &SendTask, now: i64) -> Result<JobOutcome, SendError> {
        match self.store.delivery_state(task).await? {
            Some((DeliveryState::Claimed, at)) => {
                if now - at < STALE_CLAIM_MS {
                    return Err(SendError::RetryLater("claimed by a run in flight"));
                }
                tracing::warn!("stale claim: recorded failed, not resent (at most once)");
                self.record_stale_claim(task).await
            }
            _ => Ok(JobOutcome::Nothing),
        }
    }

    /// Records a claim whose run will not record it failed (`stale_claim`):
    /// it may have been sent, so it is never sent again.
    pub(crate) async fn record_stale_claim(&self, task: &SendTask) -> Result<JobOutcome, SendError> {
        let done = Completion {
            reason: Some(outcomes::reason::STALE_CLAIM),
            ..Completion::default()
        };
        self.store.complete(task, DeliveryState::Failed, &done).await?;
        Ok(JobOutcome::Failed(outcomes::reason::STALE_CLAIM))
    }
}
