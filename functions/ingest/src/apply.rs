//! Applying one event exactly once: read the lead, let the consent rules
//! decide, and commit marker, lead, consent record and message together.

use optcast_shared::consent::SubscriberStatus;
use optcast_shared::consent::{self, ConsentState};
use optcast_shared::crypto::{self, DataKey};
use optcast_shared::ids::{PageId, Psid};
use optcast_shared::lead::{ConsentRecord, Proof, Subscriber, Tombstone};
use optcast_shared::meta::{EventKind, InboundEvent};
use optcast_shared::outcomes;
use optcast_shared::store::{CommitOutcome, EventCommit, EventMarker, MessageWrite};
use optcast_shared::telemetry::subject_hash;

use crate::stored::{stored_message, update_activity};
use crate::{EventOutcome, Ingest, IngestError};

/// How often one event is retried in-process when its subscriber changed
/// under it (concurrent events for the same person).
const MAX_CONFLICT_RETRIES: usize = 8;

/// How far after an edit or unsend the message it names may be stored
/// (its time is the original message's; Meta allows edits for 15 minutes).
const EDIT_LOOKBACK_SLACK_MS: i64 = 86_400_000;

impl Ingest {
    /// Applies one event exactly once.
    ///
    /// # Errors
    /// [`IngestError::Store`] or [`IngestError::Crypto`] when DynamoDB or KMS
    /// fails, [`IngestError::Contention`] when the subscriber kept changing
    /// under it; [`IngestError::is_permanent`] says whether a retry can help.
    #[tracing::instrument(skip_all, fields(kind = event.kind.name(), subject = subject_hash(event.subject.as_str())))]
    pub async fn apply(
        &self,
        event: &InboundEvent,
        delivery_sha256: &str,
        received_at_ms: i64,
    ) -> Result<EventOutcome, IngestError> {
        let psid = &event.subject;
        let event_time_ms = event.timestamp_ms;
        let expires_at_s = optcast_shared::retention::expires_at_s(event_time_ms, self.retention_days);
        let marker = EventMarker {
            page_id: event.page_id.clone(),
            subject: Some(psid.clone()),
            key: event.key.to_string(),
            kind: event.kind.name().to_string(),
            received_at_ms,
            expires_at_s,
        };
        let only_marker = EventCommit {
            marker: marker.clone(),
            subscriber: None,
            consent: None,
            message: None,
            attributions: Vec::new(),
            tombstone: None,
            tombstone_stop: None,
        };
        // Hashed only for an event that changes consent (most do not).
        let proof = || Proof {
            event_key: event.key.to_string(),
            event_time_ms,
            event_sha256: event.proof_sha256().to_string(),
            delivery_sha256: delivery_sha256.to_string(),
        };
        for _ in 0..MAX_CONFLICT_RETRIES {
            let (current, tombstone) = self.lead_or_tombstone(&event.page_id, psid).await?;
            let prior = consent::Prior {
                lead: current.as_ref().map(ConsentState::of),
                tombstone: tombstone.as_ref(),
            };
            let changes = match consent::apply(prior, event) {
                consent::Outcome::RecordOnly => return self.record_only(&only_marker).await,
                consent::Outcome::StopOnTombstone { at_ms } => {
                    if tombstone.is_none() {
                        return self.record_only(&only_marker).await;
                    }
                    let commit = EventCommit {
                        tombstone,
                        tombstone_stop: Some(at_ms),
                        ..only_marker.clone()
                    };
                    match self.store.commit(&commit).await? {
                        CommitOutcome::Applied => {
                            tracing::info!("a STOP kept on the tombstone of an erased person");
                            return Ok(EventOutcome::Recorded);
                        }
                        CommitOutcome::Duplicate => return Ok(EventOutcome::Duplicate),
                        // The tombstone changed (a newer erasure, another
                        // STOP), or they have a lead again: read again.
                        CommitOutcome::Conflict => continue,
                    }
                }
                consent::Outcome::Update(changes) => changes,
            };
            let known = current.is_some();
            let (mut sub, key) = match current {
                Some(sub) => {
                    let key = self.keys.unwrap_subject(&sub.data_key, &event.page_id, psid).await?;
                    (sub, key)
                }
                None => {
                    let key = self
                        .keys
                        .generate(&crypto::subject_key_context(&event.page_id, psid))
                        .await?;
                    let mut sub = new_subscriber(event, psid, &key, event_time_ms);
                    // What they sent before it stays erased on this lead too.
                    sub.prior_erasure_at_ms = tombstone.as_ref().map(|t| t.erased_at_ms);
                    (sub, key)
                }
            };
            let consent = changes.write_to(&mut sub, event_time_ms, proof);
            let (attributions, message) = if changes.erased_past {
                // Only its opt-out: none of its words, activity or tokens.
                (Vec::new(), None)
            } else {
                update_activity(&mut sub, event, &key, event_time_ms, changes.stale_intent);
                let attributions = attribute_outcomes(&mut sub, event, consent.as_ref(), received_at_ms);
                (
                    attributions,
                    self.message_write(event, psid, &key, known, expires_at_s).await?,
                )
            };
            let commit = EventCommit {
                marker: marker.clone(),
                subscriber: Some(sub),
                consent,
                message,
                attributions,
                // A lead begun on a tombstone holds only while it is as read.
                tombstone: if known { None } else { tombstone },
                tombstone_stop: None,
            };
            match self.store.commit(&commit).await? {
                CommitOutcome::Applied => {
                    if let Some(c) = &commit.consent {
                        tracing::info!(from = ?c.change.from, to = c.change.to.as_str(), reason = c.change.reason.as_str(), "consent changed");
                    }
                    return Ok(EventOutcome::Applied {
                        consent_changed: commit.consent.is_some(),
                        attributed: outcomes::Counted::of(&commit.attributions),
                    });
                }
                CommitOutcome::Duplicate => return Ok(EventOutcome::Duplicate),
                CommitOutcome::Conflict => continue,
            }
        }
        Err(IngestError::Contention)
    }

    /// What the event does to the lead's stored messages: a new message; an
    /// edit replaces the text of the message it names (a newer edit is never
    /// replaced by an older one); an unsend deletes it.
    async fn message_write(
        &self,
        event: &InboundEvent,
        psid: &Psid,
        key: &DataKey,
        known: bool,
        expires_at_s: i64,
    ) -> Result<Option<MessageWrite>, IngestError> {
        let at_ms = event.timestamp_ms;
        let named = match &event.kind {
            EventKind::Edit(e) => e.mid.as_ref(),
            EventKind::Unsend { mid } => Some(mid),
            _ => None,
        };
        let Some(mid) = named else {
            let stored = stored_message(event, psid, key, &event.key, at_ms, expires_at_s);
            return Ok(stored.map(MessageWrite::Put));
        };
        let found = if known {
            let before = at_ms.saturating_add(EDIT_LOOKBACK_SLACK_MS);
            self.store
                .find_message(&event.page_id, psid, &mid.key(), before)
                .await?
        } else {
            None
        };
        Ok(match (&event.kind, found) {
            (EventKind::Unsend { .. }, Some(found)) => Some(MessageWrite::Delete { sk: found.sk }),
            (EventKind::Unsend { .. }, None) => None,
            (EventKind::Edit(e), Some(found)) => {
                if found.num_edit >= e.num_edit.unwrap_or(1) {
                    return Ok(None);
                }
                stored_message(event, psid, key, &mid.key(), found.at_ms, expires_at_s)
                    .map(|message| MessageWrite::Replace { sk: found.sk, message })
            }
            // The edited message is not here (never seen, or swept): the
            // edit's text is stored under the message's own key.
            _ => stored_message(event, psid, key, &mid.key(), at_ms, expires_at_s).map(MessageWrite::Put),
        })
    }

    /// Commits only the marker (idempotent): the event was seen.
    /// What is stored about `psid` on `page`: their lead, or, when there is
    /// none, their last tombstone (only someone we do not know may have been
    /// erased).
    pub(crate) async fn lead_or_tombstone(
        &self,
        page: &PageId,
        psid: &Psid,
    ) -> Result<(Option<Subscriber>, Option<Tombstone>), IngestError> {
        let lead = self.store.subscriber(page, psid).await?;
        let tombstone = match lead {
            Some(_) => None,
            None => self.store.last_tombstone(page, psid).await?,
        };
        Ok((lead, tombstone))
    }

    pub(crate) async fn record_only(&self, commit: &EventCommit) -> Result<EventOutcome, IngestError> {
        Ok(match self.store.commit(commit).await? {
            CommitOutcome::Duplicate => EventOutcome::Duplicate,
            _ => EventOutcome::Recorded,
        })
    }
}

/// What the event did to the lead's recent sends (a receipt's watermark,
/// an unsubscribe), flagged on the lead so each counts once; the lead's
/// list is pruned at `now_ms`.
fn attribute_outcomes(
    sub: &mut Subscriber,
    event: &InboundEvent,
    consent: Option<&ConsentRecord>,
    now_ms: i64,
) -> Vec<outcomes::Attribution> {
    let unsubscribed = consent.is_some_and(|c| c.change.to == SubscriberStatus::Unsubscribed);
    // A receipt is capped at the time it reached us, with the slack event
    // times get (a watermark from the future must not cover later sends).
    let cap = now_ms.saturating_add(optcast_shared::meta::MAX_FUTURE_SKEW_MS);
    let attributions = match outcomes::signal_of(event, unsubscribed) {
        Some(signal) => outcomes::attribute(&mut sub.recent_sends, &signal.capped(cap)),
        None => Vec::new(),
    };
    outcomes::prune(&mut sub.recent_sends, now_ms);
    attributions
}

pub(crate) fn new_subscriber(event: &InboundEvent, psid: &Psid, key: &DataKey, at_ms: i64) -> Subscriber {
    Subscriber::new(
        event.page_id.clone(),
        psid.clone(),
        event.platform,
        key.wrapped.clone(),
        at_ms,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stored::update_activity;
    use optcast_shared::ids::PageId;
    use optcast_shared::lead::MarketingToken;
    use optcast_shared::meta::{OptInEvent, Platform};

    fn marketing_optin(ts: i64) -> InboundEvent {
        InboundEvent {
            platform: Platform::Messenger,
            page_id: PageId::parse("1").unwrap(),
            subject: Psid::parse("2").unwrap(),
            timestamp_ms: ts,
            time_clamped: false,
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
            sha256: optcast_shared::meta::ProofHash::known("0".repeat(64)),
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
