//! The ingest function: reads signed deliveries from the ingest queue, and
//! applies every event in them exactly once — subscriber upsert, consent
//! change with proof, encrypted message — reporting failed records so SQS
//! retries them and, after maxReceiveCount, moves them to the DLQ.

use std::collections::BTreeMap;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use optcast_shared::config::{self, ConfigError, Source};
use optcast_shared::consent::{self, ConsentState, SubscriberStatus};
use optcast_shared::crypto::{self, CryptoError, DataKey, KeyRing};
use optcast_shared::ids::Psid;
use optcast_shared::meta::{self, EventKind, InboundEvent, ParseError};
use optcast_shared::queue::{self, IngestJob, QueueError};
use optcast_shared::store::{
    CommitOutcome, ConsentRecord, EventCommit, EventMarker, MarketingToken, Proof, Store, StoreError, StoredMessage,
    Subscriber, Tables,
};
use optcast_shared::telemetry::{self, subject_hash};

/// How often one event is retried in-process when its subscriber changed
/// under it (concurrent events for the same person).
const MAX_CONFLICT_RETRIES: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("delivery is not a Meta delivery: {0}")]
    Parse(#[from] ParseError),
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
        matches!(self, IngestError::Parse(_) | IngestError::Queue(QueueError::BadJob(_)))
            || matches!(self, IngestError::Crypto(e) if !e.is_retryable())
    }
}

/// What one event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventOutcome {
    Applied {
        consent_changed: bool,
    },
    Duplicate,
    /// Recorded as seen but nothing else to do (unknown kinds, receipts for
    /// people we do not know).
    Recorded,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RecordReport {
    pub events: usize,
    pub applied: usize,
    pub duplicates: usize,
    pub recorded: usize,
    pub consent_changes: usize,
}

pub struct Ingest {
    store: Store,
    s3: aws_sdk_s3::Client,
    keys: KeyRing,
    retention_days: u32,
    /// Pages already recorded as having data, in this warm function.
    noted_pages: std::sync::Mutex<std::collections::HashSet<optcast_shared::ids::PageId>>,
}

impl Ingest {
    pub fn from_source(src: &dyn Source, aws: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            store: Store::new(config::dynamodb(aws), Tables::from_source(src)?),
            s3: aws_sdk_s3::Client::new(aws),
            keys: KeyRing::new(aws_sdk_kms::Client::new(aws), config::required(src, "KMS_KEY_ID")?),
            retention_days: config::parse_u32(src, "DEFAULT_RETENTION_DAYS", 730)?,
            noted_pages: Default::default(),
        })
    }

    /// One SQS batch: every record on its own, failures reported per record.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let mut failures = Vec::new();
        for record in &event.records {
            if let Err(err) = self.process_message(record).await {
                tracing::error!(error = %err, permanent = err.is_permanent(), message_id = ?record.message_id, "record failed");
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = record.message_id.clone().unwrap_or_default();
                failures.push(failure);
            }
        }
        let mut response = SqsBatchResponse::default();
        response.batch_item_failures = failures;
        response
    }

    async fn process_message(&self, record: &SqsMessage) -> Result<RecordReport, IngestError> {
        self.process_body(record.body.as_deref().unwrap_or_default()).await
    }

    /// Applies every event of one queued delivery.
    #[tracing::instrument(skip_all)]
    pub async fn process_body(&self, message: &str) -> Result<RecordReport, IngestError> {
        let IngestJob::DeliveryV1(job) = queue::parse_job(message)?;
        let body = queue::load_body(&job, &self.s3, &self.keys).await?;
        let mut events = meta::parse_delivery(&body)?;
        // Meta may batch and reorder; apply in event-time order.
        events.sort_by_key(|e| e.timestamp_ms);
        let mut report = RecordReport {
            events: events.len(),
            ..Default::default()
        };
        // One person's failing event does not hold back everyone else's (a
        // STOP further on still lands now); that person's later events wait,
        // in order, for the retry, where what was applied is a duplicate.
        let mut first_error = None;
        let mut held_back = std::collections::HashSet::new();
        for event in &events {
            let subject = (&event.page_id, event.subject.as_ref());
            if held_back.contains(&subject) {
                continue;
            }
            let outcome = match self.note_page(&event.page_id).await {
                Ok(()) => self.apply(event, &job.body_sha256, job.received_at_ms).await,
                Err(e) => Err(e),
            };
            match outcome {
                Ok(EventOutcome::Applied { consent_changed }) => {
                    report.applied += 1;
                    report.consent_changes += usize::from(consent_changed);
                }
                Ok(EventOutcome::Duplicate) => report.duplicates += 1,
                Ok(EventOutcome::Recorded) => report.recorded += 1,
                Err(e) => {
                    held_back.insert(subject);
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        queue::delete_claim(&job, &self.s3).await?;
        tracing::info!(
            events = report.events,
            applied = report.applied,
            duplicates = report.duplicates,
            "delivery ingested"
        );
        Ok(report)
    }

    /// Records, once per warm function, that the page has data, so the
    /// retention sweep finds it even if nobody registered the page.
    async fn note_page(&self, page: &optcast_shared::ids::PageId) -> Result<(), IngestError> {
        if self.noted_pages.lock().expect("noted pages").contains(page) {
            return Ok(());
        }
        self.store.note_page(page, optcast_shared::http::now_ms()).await?;
        self.noted_pages.lock().expect("noted pages").insert(page.clone());
        Ok(())
    }

    /// Applies one event exactly once.
    #[tracing::instrument(skip_all, fields(kind = event.kind.name(), subject = event.subject.as_ref().map(|p| subject_hash(p.as_str()))))]
    pub async fn apply(
        &self,
        event: &InboundEvent,
        delivery_sha256: &str,
        received_at_ms: i64,
    ) -> Result<EventOutcome, IngestError> {
        let event_time_ms = if event.timestamp_ms > 0 {
            event.timestamp_ms
        } else {
            received_at_ms
        };
        let expires_at_s = event_time_ms / 1000 + i64::from(self.retention_days) * 86_400;
        let marker = EventMarker {
            page_id: event.page_id.clone(),
            key: event.key.clone(),
            kind: event.kind.name().to_string(),
            received_at_ms,
            expires_at_s,
        };
        let only_marker = EventCommit {
            marker: marker.clone(),
            subscriber: None,
            consent: None,
            message: None,
        };
        let Some(psid) = &event.subject else {
            return self.record_only(&only_marker).await;
        };
        if matches!(event.kind, EventKind::Unknown { .. }) {
            return self.record_only(&only_marker).await;
        }
        let proof = Proof {
            event_key: event.key.clone(),
            event_time_ms,
            event_sha256: event.sha256.clone(),
            delivery_sha256: delivery_sha256.to_string(),
        };
        for _ in 0..MAX_CONFLICT_RETRIES {
            let current = self.store.subscriber(&event.page_id, psid).await?;
            let state = current.as_ref().map(|s| ConsentState {
                status: s.status,
                changed_at_ms: s.consent_changed_at_ms.max(s.consent_intent_at_ms),
            });
            // An opt-in or opt-out older than the person's last word on
            // consent (Meta retries reorder deliveries) changes nothing,
            // marketing permission included.
            let stale_intent = state.is_some_and(|s| event.timestamp_ms < s.changed_at_ms);
            let explicit = consent::intent(event).is_explicit();
            let change = consent::decide(state, event);
            if current.is_none() && change.is_none() {
                // Echoes and receipts about someone who never wrote to us.
                return self.record_only(&only_marker).await;
            }
            if current.is_none() {
                // Sent before the person was erased (delivered late, or
                // replayed from the DLQ): it is not a new conversation and
                // must not bring them or their words back.
                let erased_at = self.store.last_erased_at(&event.page_id, psid).await?;
                if erased_at.is_some_and(|at| event_time_ms <= at) {
                    return self.record_only(&only_marker).await;
                }
            }
            let (mut sub, key) = match current {
                Some(sub) => {
                    let key = self
                        .keys
                        .unwrap(&sub.data_key, &crypto::subject_key_context(&event.page_id, psid))
                        .await?;
                    (sub, key)
                }
                None => {
                    let key = self
                        .keys
                        .generate(&crypto::subject_key_context(&event.page_id, psid))
                        .await?;
                    (new_subscriber(event, psid, &key, event_time_ms), key)
                }
            };
            let consent = change.map(|change| {
                sub.status = change.to;
                sub.consent_changed_at_ms = event_time_ms;
                if change.to == SubscriberStatus::Subscribed {
                    sub.opted_in = Some(proof.clone());
                }
                ConsentRecord {
                    at_ms: event_time_ms,
                    change,
                    proof: proof.clone(),
                }
            });
            if explicit && !stale_intent {
                sub.consent_intent_at_ms = sub.consent_intent_at_ms.max(event_time_ms);
            }
            update_activity(&mut sub, event, &key, event_time_ms, stale_intent);
            let message = stored_message(event, psid, &key, event_time_ms, expires_at_s);
            let commit = EventCommit {
                marker: marker.clone(),
                subscriber: Some(sub),
                consent,
                message,
            };
            match self.store.commit(&commit).await? {
                CommitOutcome::Applied => {
                    if let Some(c) = &commit.consent {
                        tracing::info!(from = ?c.change.from, to = c.change.to.as_str(), reason = c.change.reason.as_str(), "consent changed");
                    }
                    return Ok(EventOutcome::Applied {
                        consent_changed: commit.consent.is_some(),
                    });
                }
                CommitOutcome::Duplicate => return Ok(EventOutcome::Duplicate),
                CommitOutcome::Conflict => continue,
            }
        }
        Err(IngestError::Contention)
    }

    async fn record_only(&self, commit: &EventCommit) -> Result<EventOutcome, IngestError> {
        Ok(match self.store.commit(commit).await? {
            CommitOutcome::Duplicate => EventOutcome::Duplicate,
            _ => EventOutcome::Recorded,
        })
    }
}

fn new_subscriber(event: &InboundEvent, psid: &Psid, key: &DataKey, at_ms: i64) -> Subscriber {
    Subscriber {
        page_id: event.page_id.clone(),
        psid: psid.clone(),
        platform: event.platform,
        status: SubscriberStatus::Subscribed,
        consent_changed_at_ms: 0,
        opted_in: None,
        last_inbound_at_ms: None,
        data_key: key.wrapped.clone(),
        marketing: None,
        tags: Default::default(),
        delivered_watermark: 0,
        read_watermark: 0,
        last_marketing_sent_at_ms: None,
        marketing_hold_until_ms: None,
        consent_intent_at_ms: 0,
        created_at_ms: at_ms,
        version: 0,
    }
}

pub use crypto::field_aad;

/// Window, marketing token, tags and watermarks: everything but consent.
fn update_activity(sub: &mut Subscriber, event: &InboundEvent, key: &DataKey, at_ms: i64, stale_intent: bool) {
    if consent::opens_window(event) {
        sub.last_inbound_at_ms = Some(sub.last_inbound_at_ms.unwrap_or(0).max(at_ms));
    }
    match &event.kind {
        EventKind::OptIn(o) => {
            if let Some(r) = o.ref_.as_ref().or(o.payload.as_ref().filter(|_| !o.marketing)) {
                add_tag(sub, r);
            }
            if o.marketing && !stale_intent {
                let stopped = o.status == Some(meta::MarketingStatus::Stop);
                let sealed = match &o.token {
                    Some(token) => Some(crypto::seal(
                        key,
                        &field_aad("marketing-token", &sub.page_id, &sub.psid, ""),
                        token.as_bytes(),
                    )),
                    None => sub.marketing.as_ref().map(|m| m.sealed.clone()),
                };
                if let Some(sealed) = sealed {
                    let previous = sub.marketing.take();
                    sub.marketing = Some(MarketingToken {
                        sealed,
                        expires_at_ms: o.token_expiry_ms.or(previous.as_ref().and_then(|p| p.expires_at_ms)),
                        stopped,
                        timezone: o.timezone.clone().or(previous.and_then(|p| p.timezone)),
                    });
                }
            }
        }
        EventKind::Referral { ref_: Some(r), .. } => add_tag(sub, r),
        EventKind::Postback(p) => {
            if let Some(r) = &p.referral_ref {
                add_tag(sub, r);
            }
        }
        EventKind::Delivery { watermark, .. } => sub.delivered_watermark = sub.delivered_watermark.max(*watermark),
        EventKind::Read { watermark } => sub.read_watermark = sub.read_watermark.max(*watermark),
        _ => {}
    }
}

fn add_tag(sub: &mut Subscriber, tag: &str) {
    let tag: String = tag.chars().take(100).collect();
    if !tag.is_empty() && sub.tags.len() < 50 {
        sub.tags.insert(tag);
    }
}

/// Messages, echoes and postbacks are stored, sealed under the subject's key.
fn stored_message(
    event: &InboundEvent,
    psid: &Psid,
    key: &DataKey,
    at_ms: i64,
    expires_at_s: i64,
) -> Option<StoredMessage> {
    let mut body = BTreeMap::<&str, serde_json::Value>::new();
    let mut attachments = 0;
    let (direction, kind) = match &event.kind {
        EventKind::Message(m) => {
            attachments = m.attachments.len() as u32;
            body.insert("text", m.text.clone().into());
            body.insert("quick_reply_payload", m.quick_reply_payload.clone().into());
            body.insert("reply_to", m.reply_to.clone().into());
            body.insert("attachments", attachments_json(&m.attachments));
            ("in", "message")
        }
        EventKind::Echo(e) => {
            attachments = e.attachments.len() as u32;
            body.insert("text", e.text.clone().into());
            body.insert("metadata", e.metadata.clone().into());
            body.insert("attachments", attachments_json(&e.attachments));
            ("out", "echo")
        }
        EventKind::Postback(p) => {
            body.insert("title", p.title.clone().into());
            body.insert("payload", p.payload.clone().into());
            ("in", "postback")
        }
        _ => return None,
    };
    let plaintext = serde_json::to_vec(&body).unwrap_or_default();
    let sealed_body = crypto::seal(key, &field_aad("message", &event.page_id, psid, &event.key), &plaintext);
    Some(StoredMessage {
        key: event.key.clone(),
        at_ms,
        direction,
        kind,
        sealed_body,
        attachments,
        expires_at_s,
    })
}

fn attachments_json(list: &[meta::Attachment]) -> serde_json::Value {
    list.iter()
        .map(|a| serde_json::json!({ "type": a.kind, "url": a.url }))
        .collect::<Vec<_>>()
        .into()
}

/// Lambda entry point helper: config, clients, then serve.
pub async fn run() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let aws = config::aws().await;
    let ingest = Ingest::from_source(&config::Env, &aws)?;
    let ingest = &ingest;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<SqsEvent>| async move {
            Ok::<_, std::convert::Infallible>(ingest.handle(event.payload).await)
        },
    ))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use optcast_shared::ids::PageId;
    use optcast_shared::meta::{OptInEvent, Platform};

    fn marketing_optin(ts: i64) -> InboundEvent {
        InboundEvent {
            platform: Platform::Messenger,
            page_id: PageId::parse("1").unwrap(),
            subject: Some(Psid::parse("2").unwrap()),
            timestamp_ms: ts,
            standby: false,
            kind: EventKind::OptIn(OptInEvent {
                marketing: true,
                payload: None,
                ref_: None,
                token: Some("OLD-TOKEN".into()),
                token_expiry_ms: None,
                timezone: None,
                status: None,
            }),
            key: "k".into(),
            sha256: "0".repeat(64),
        }
    }

    #[test]
    fn a_stale_marketing_opt_in_does_not_undo_a_later_stop() {
        let key = DataKey::from_parts([7; 32], vec![1]);
        let event = marketing_optin(5);
        let mut sub = new_subscriber(&event, &Psid::parse("2").unwrap(), &key, 1);
        let stopped = MarketingToken {
            sealed: vec![9; 40],
            expires_at_ms: None,
            stopped: true,
            timezone: None,
        };
        sub.marketing = Some(stopped.clone());
        // Older than the person's last word (their STOP): nothing changes.
        update_activity(&mut sub, &event, &key, 5, true);
        assert_eq!(sub.marketing, Some(stopped));
        // Current: the new grant replaces the token and lifts the stop.
        update_activity(&mut sub, &event, &key, 5, false);
        let m = sub.marketing.unwrap();
        assert!(!m.stopped);
        assert_ne!(m.sealed, vec![9; 40]);
    }
}
