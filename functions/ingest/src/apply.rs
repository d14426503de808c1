//! Applying one event exactly once: read the lead, let the consent rules
//! decide, and commit marker, lead, consent record and message together.

use optcast_shared::consent::{self, ConsentState, SubscriberStatus};
use optcast_shared::crypto::{self, DataKey};
use optcast_shared::erasure::ErasureReason;
use optcast_shared::ids::Psid;
use optcast_shared::lead::{ConsentRecord, Proof, Subscriber};
use optcast_shared::meta::{EventKind, EventTime, InboundEvent};
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
    #[tracing::instrument(skip_all, fields(kind = event.kind.name(), subject = subject_hash(event.subject.as_str())))]
    pub async fn apply(
        &self,
        event: &InboundEvent,
        delivery_sha256: &str,
        received_at_ms: i64,
    ) -> Result<EventOutcome, IngestError> {
        let psid = &event.subject;
        let event_time_ms = event.timestamp_ms;
        let expires_at_s = event_time_ms / 1000 + i64::from(self.retention_days) * 86_400;
        let marker = EventMarker {
            page_id: event.page_id.clone(),
            subject: Some(psid.clone()),
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
        // Hashed only for an event that changes consent (most do not).
        let proof = || Proof {
            event_key: event.key.clone(),
            event_time_ms,
            event_sha256: event.sha256.as_str().to_string(),
            delivery_sha256: delivery_sha256.to_string(),
        };
        for _ in 0..MAX_CONFLICT_RETRIES {
            let current = self.store.subscriber(&event.page_id, psid).await?;
            let mut state = current.as_ref().map(|s| ConsentState {
                status: s.status,
                last_word: EventTime {
                    ms: s.consent_intent_at_ms,
                    clamped: s.consent_intent_clamped,
                },
            });
            if current.is_none() {
                if let Some(tombstone) = self.store.last_tombstone(&event.page_id, psid).await? {
                    // Sent before the person was erased (delivered late, or
                    // replayed from the DLQ; a time we could not trust may be
                    // that too): not a new conversation, it must not bring
                    // them or their words back.
                    if event.time_clamped || event_time_ms <= tombstone.erased_at_ms {
                        return self.record_only(&only_marker).await;
                    }
                    // Purged for data minimisation while unsubscribed: their
                    // STOP still stands; only an explicit opt-in lifts it.
                    if tombstone.reason == ErasureReason::UnsubscribedPurge.as_str()
                        && tombstone.status_before == Some(SubscriberStatus::Unsubscribed)
                    {
                        state = Some(ConsentState {
                            status: SubscriberStatus::Unsubscribed,
                            last_word: EventTime {
                                ms: tombstone.consent_changed_at_ms,
                                clamped: false,
                            },
                        });
                    }
                }
            }
            // An opt-in or opt-out older than the person's last word on
            // consent (Meta retries reorder deliveries) changes nothing,
            // marketing permission included.
            let stale_intent = state.is_some_and(|s| consent::is_stale(&s, event));
            let explicit = consent::intent(event).is_explicit();
            let change = consent::decide(state, event);
            if current.is_none() && change.is_none() {
                // Echoes, receipts and activity (reactions, unsends, …) of
                // someone we do not know, or a purged lead who wrote without
                // opting in again: no conversation to start.
                return self.record_only(&only_marker).await;
            }
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
                    (new_subscriber(event, psid, &key, event_time_ms), key)
                }
            };
            let consent = change.map(|change| {
                sub.status = change.to;
                sub.consent_changed_at_ms = event_time_ms;
                if change.to == SubscriberStatus::Subscribed {
                    sub.opted_in = Some(proof());
                }
                ConsentRecord {
                    at_ms: event_time_ms,
                    change,
                    proof: proof(),
                }
            });
            if explicit && !stale_intent {
                note_last_word(&mut sub, event);
            }
            update_activity(&mut sub, event, &key, event_time_ms, stale_intent);
            let message = self.message_write(event, psid, &key, known, expires_at_s).await?;
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
    pub(crate) async fn record_only(&self, commit: &EventCommit) -> Result<EventOutcome, IngestError> {
        Ok(match self.store.commit(commit).await? {
            CommitOutcome::Duplicate => EventOutcome::Duplicate,
            _ => EventOutcome::Recorded,
        })
    }
}

/// Records the event as the person's last word on consent, unless that
/// already is a newer one (a clamped time never replaces a real one).
fn note_last_word(sub: &mut Subscriber, event: &InboundEvent) {
    let time = EventTime {
        ms: event.timestamp_ms,
        clamped: event.time_clamped,
    };
    let last = EventTime {
        ms: sub.consent_intent_at_ms,
        clamped: sub.consent_intent_clamped,
    };
    if sub.consent_intent_at_ms == 0 || !time.is_older_than(last) {
        sub.consent_intent_at_ms = time.ms;
        sub.consent_intent_clamped = time.clamped;
    }
}

pub(crate) fn new_subscriber(event: &InboundEvent, psid: &Psid, key: &DataKey, at_ms: i64) -> Subscriber {
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
        consent_intent_clamped: false,
        created_at_ms: at_ms,
        version: 0,
    }
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

    #[test]
    fn a_clamped_word_never_replaces_a_real_one_and_a_real_one_replaces_a_clamped_one() {
        let key = DataKey::from_parts([7; 32], vec![1]);
        let mut event = marketing_optin(100);
        let mut sub = new_subscriber(&event, &Psid::parse("2").unwrap(), &key, 1);
        sub.consent_intent_at_ms = 50;
        event.time_clamped = true;
        note_last_word(&mut sub, &event);
        assert_eq!((sub.consent_intent_at_ms, sub.consent_intent_clamped), (50, false));
        sub.consent_intent_clamped = true;
        sub.consent_intent_at_ms = 500;
        event.time_clamped = false;
        note_last_word(&mut sub, &event);
        assert_eq!((sub.consent_intent_at_ms, sub.consent_intent_clamped), (100, false));
    }
}
