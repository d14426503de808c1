//! What one inbound event changes about a person, given what is stored
//! about them: the whole consent decision of ingest as one pure function
//! ([`apply`]), and how its answer is written onto the lead
//! ([`Changes::write_to`]). Ingest reads the lead (and, for someone it does
//! not know, their last tombstone), calls these, seals and commits.

use crate::lead::{prior_erasure_covers, ConsentRecord, Proof, Subscriber, Tombstone};
use crate::meta::{EventTime, InboundEvent};

use super::{decide, intent, is_stale, reachable_again, ConsentChange, ConsentIntent, ConsentState, SubscriberStatus};

/// What is stored about the event's person before it is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prior<'a> {
    /// The lead's consent, if there is a lead (see [`ConsentState::of`]).
    pub lead: Option<ConsentState>,
    /// The person's last tombstone. Only consulted when there is no lead
    /// (ingest reads it only then).
    pub tombstone: Option<&'a Tombstone>,
}

/// What the event does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Only the processed-event marker is written: the event was seen.
    /// Echoes, receipts and activity of someone we do not know; an event
    /// sent before the person was erased (but an opt-out, on a lead they
    /// began after it); a purged lead writing again without opting in.
    RecordOnly,
    /// An opt-out of someone erased, kept on their tombstone (sent at
    /// `at_ms`) while no lead comes back: one the erasure covers, of someone
    /// erased while not unsubscribed (their STOP reached us only after the
    /// erasure), so writing again later does not make them a subscribed
    /// lead, as it would not have had the STOP arrived in time; or one sent
    /// after the erasure of someone erased while unsubscribed, newer than
    /// the STOP the tombstone keeps, so an older START delivered after it
    /// does not resubscribe them.
    StopOnTombstone { at_ms: i64 },
    /// The lead is written (created first if [`Changes::creates_lead`]).
    Update(Changes),
}

/// How the lead changes; [`Changes::write_to`] applies the consent part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Changes {
    /// There is no lead yet: one is created (subscribed until `consent` says otherwise).
    pub creates_lead: bool,
    /// The status change and its reason, logged with the event's proof.
    pub consent: Option<ConsentChange>,
    /// The event is an explicit opt-in or opt-out that is not older than the
    /// person's last word: it becomes their last word (unless one that may
    /// have been sent later is stored: see [`is_stale`]).
    pub last_word: Option<EventTime>,
    /// The event's opt-in or opt-out is older than the person's last word:
    /// it changes nothing, marketing permission included.
    pub stale_intent: bool,
    /// The event was sent before the erasure the lead began after: only its
    /// opt-out applies (`consent`), and nothing else of it is stored (no
    /// message, activity or token: the erased past does not come back).
    pub erased_past: bool,
}

impl ConsentState {
    /// A stored lead's consent, reduced to what the rules need.
    pub fn of(sub: &Subscriber) -> Self {
        ConsentState {
            status: sub.status,
            last_word: EventTime {
                ms: sub.consent_intent_at_ms,
                clamped: sub.consent_intent_clamped,
            },
            prior_erasure_at_ms: sub.prior_erasure_at_ms,
            status_since_ms: sub.consent_changed_at_ms,
        }
    }
}

/// Decides what `event` changes, given what is stored about its person.
///
/// - No lead, but a tombstone: an event sent no later than the erasure (or
///   whose time we could not trust) is only recorded: it must not bring the
///   person or their words back. Its opt-out is kept on the tombstone
///   ([`Outcome::StopOnTombstone`]), as if it had arrived before the
///   erasure. A lead erased while unsubscribed (purged
///   for it, or erased on request or by Meta's callback) keeps their STOP:
///   they count as unsubscribed since then, so only an explicit opt-in makes
///   them a lead again; writing "did you delete my data?" does not.
/// - A lead the person began after an erasure: an event sent no later than
///   that erasure (Meta's late retry) is the erased past. Its opt-out still
///   applies (never sending to someone who said STOP is the safe side), and
///   nothing else: any other such event is only recorded.
/// - Otherwise the consent rules ([`decide`], [`is_stale`]) decide; for
///   someone we do not know, an event that changes no consent is only
///   recorded. A lead Meta said cannot be reached who writes again after
///   that is subscribed again ([`reachable_again`]).
pub fn apply(prior: Prior<'_>, event: &InboundEvent) -> Outcome {
    let time = EventTime {
        ms: event.timestamp_ms,
        clamped: event.time_clamped,
    };
    let mut state = prior.lead;
    if prior.lead.is_none() {
        if let Some(tombstone) = prior.tombstone {
            if tombstone.covers(time) {
                // Kept unless the tombstone has it already: erased while
                // unsubscribed, a STOP no newer than the one it keeps.
                let opt_out = matches!(intent(event), ConsentIntent::OptOut(_));
                let kept = tombstone.status_before == Some(SubscriberStatus::Unsubscribed)
                    && time.ms <= tombstone.consent_changed_at_ms;
                return if opt_out && !kept {
                    Outcome::StopOnTombstone { at_ms: time.ms }
                } else {
                    Outcome::RecordOnly
                };
            }
            // Whatever erased them, someone unsubscribed stays so: the
            // tombstone keeps only that and when (a suppression record).
            if tombstone.status_before == Some(SubscriberStatus::Unsubscribed) {
                state = Some(ConsentState {
                    status: SubscriberStatus::Unsubscribed,
                    last_word: EventTime {
                        ms: tombstone.consent_changed_at_ms,
                        clamped: false,
                    },
                    prior_erasure_at_ms: None,
                    status_since_ms: tombstone.consent_changed_at_ms,
                });
            }
        }
    }
    let stale_intent = state.is_some_and(|s| is_stale(&s, event));
    let consent = decide(state, event).or_else(|| reachable_again(prior.lead, event));
    if prior.lead.is_none() && consent.is_none() {
        // Someone erased while unsubscribed who says STOP again after the
        // erasure: no lead comes back, but the STOP is their last word now,
        // kept on the tombstone, or a START they sent before it and Meta
        // delivers after it would find only the older STOP and resubscribe
        // them.
        let newer_stop = matches!(intent(event), ConsentIntent::OptOut(_))
            && !stale_intent
            && state.is_some_and(|s| time.ms > s.last_word.ms);
        return if newer_stop {
            Outcome::StopOnTombstone { at_ms: time.ms }
        } else {
            Outcome::RecordOnly
        };
    }
    let erased_past = prior
        .lead
        .is_some_and(|l| prior_erasure_covers(l.prior_erasure_at_ms, time));
    if erased_past && consent.is_none_or(|c| c.to != SubscriberStatus::Unsubscribed) {
        return Outcome::RecordOnly;
    }
    let explicit = intent(event).is_explicit();
    Outcome::Update(Changes {
        creates_lead: prior.lead.is_none(),
        consent,
        last_word: (explicit && !stale_intent).then_some(time),
        stale_intent,
        erased_past,
    })
}

impl Changes {
    /// Writes the consent part onto `sub` (status, when it changed, the
    /// opt-in proof, the last word) and returns the consent-log record to
    /// commit with it. `at_ms` is the event's time (ms since the epoch);
    /// `proof` is called only when consent changes. An opt-out from the
    /// erased past ([`Changes::erased_past`]) takes effect on the lead no
    /// earlier than the lead began: its history and the purge period of an
    /// unsubscribed lead start there (its proof keeps the event's time).
    pub fn write_to(&self, sub: &mut Subscriber, at_ms: i64, proof: impl FnOnce() -> Proof) -> Option<ConsentRecord> {
        let at_ms = if self.erased_past {
            at_ms.max(sub.created_at_ms)
        } else {
            at_ms
        };
        let record = self.consent.map(|change| {
            // Built only for a change: its event's proof hash is computed
            // on first use (`meta::ProofHash`).
            let proof = proof();
            sub.status = change.to;
            sub.consent_changed_at_ms = at_ms;
            if change.to == SubscriberStatus::Subscribed {
                sub.opted_in = Some(proof.clone());
            }
            ConsentRecord {
                at_ms,
                change,
                proof: proof.clone(),
            }
        });
        if let Some(word) = self.last_word {
            note_last_word(sub, word);
        }
        record
    }
}

/// Records `time` as the person's last word on consent, unless a word that
/// may have been sent later is stored: the later of the two times, a clamped
/// one (the time of receipt, the latest the word may have been sent)
/// included. A real time that replaced a later clamped one let an opt-in
/// between them undo the clamped STOP.
fn note_last_word(sub: &mut Subscriber, time: EventTime) {
    if sub.consent_intent_at_ms == 0 || time.ms > sub.consent_intent_at_ms {
        sub.consent_intent_at_ms = time.ms;
        sub.consent_intent_clamped = time.clamped;
    }
}

#[cfg(test)]
#[path = "apply_tests.rs"]
mod tests;
