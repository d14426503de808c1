use super::*;
use crate::consent::tests::{event, text};
use crate::consent::ConsentReason;
use crate::ids::{PageId, Psid};
use crate::lead::ErasureReason;
use crate::meta::{EventKind, Platform};

fn reaction(ts: i64) -> InboundEvent {
    event(
        EventKind::Reaction {
            mid: None,
            action: "react".into(),
        },
        ts,
    )
}
fn lead(status: SubscriberStatus, last_word_ms: i64) -> Prior<'static> {
    Prior {
        lead: Some(ConsentState {
            status,
            last_word: EventTime {
                ms: last_word_ms,
                clamped: false,
            },
            prior_erasure_at_ms: None,
            status_since_ms: 0,
        }),
        tombstone: None,
    }
}
const NOBODY: Prior<'static> = Prior {
    lead: None,
    tombstone: None,
};
fn tombstone(reason: ErasureReason, erased_at_ms: i64, status_before: SubscriberStatus) -> Tombstone {
    Tombstone {
        key: Default::default(),
        erased_at_ms,
        reason: reason.as_str().to_string(),
        status_before: Some(status_before),
        consent_changed_at_ms: erased_at_ms - 10,
    }
}
fn changes(outcome: Outcome) -> Changes {
    match outcome {
        Outcome::Update(c) => c,
        other => panic!("expected an update, got {other:?}"),
    }
}
fn subscriber() -> Subscriber {
    Subscriber::new(
        PageId::parse("1").unwrap(),
        Psid::parse("2").unwrap(),
        Platform::Messenger,
        vec![1],
        1,
    )
}
fn proof() -> Proof {
    Proof {
        event_key: "k".into(),
        event_time_ms: 100,
        event_sha256: "e".into(),
        delivery_sha256: "d".into(),
    }
}

#[test]
fn a_first_message_creates_a_subscribed_lead_without_a_last_word() {
    let c = changes(apply(NOBODY, &text("hi", 100)));
    assert!(c.creates_lead);
    assert_eq!(c.consent.unwrap().reason, ConsentReason::FirstContact);
    assert_eq!(c.consent.unwrap().to, SubscriberStatus::Subscribed);
    assert_eq!(c.last_word, None, "writing is no word on consent");
    assert!(!c.stale_intent);
}

#[test]
fn a_first_stop_creates_an_unsubscribed_lead_and_is_their_last_word() {
    let c = changes(apply(NOBODY, &text("STOP", 100)));
    assert!(c.creates_lead);
    assert_eq!(c.consent.unwrap().to, SubscriberStatus::Unsubscribed);
    assert_eq!(
        c.last_word,
        Some(EventTime {
            ms: 100,
            clamped: false
        })
    );
}

#[test]
fn activity_of_someone_unknown_is_only_recorded() {
    assert_eq!(apply(NOBODY, &reaction(100)), Outcome::RecordOnly);
}

#[test]
fn activity_of_a_known_lead_updates_it_without_changing_consent() {
    let c = changes(apply(lead(SubscriberStatus::Subscribed, 0), &reaction(100)));
    assert!(!c.creates_lead);
    assert_eq!(c.consent, None);
    assert_eq!(c.last_word, None);
}

#[test]
fn an_event_sent_before_an_erasure_is_only_recorded() {
    let t = tombstone(ErasureReason::Request, 500, SubscriberStatus::Subscribed);
    let prior = Prior {
        lead: None,
        tombstone: Some(&t),
    };
    assert_eq!(apply(prior, &text("hi", 400)), Outcome::RecordOnly);
    assert_eq!(apply(prior, &text("hi", 500)), Outcome::RecordOnly);
    assert_eq!(apply(prior, &text("START", 499)), Outcome::RecordOnly);
}

#[test]
fn a_stop_sent_before_an_erasure_of_a_subscribed_lead_is_kept_on_the_tombstone() {
    let t = tombstone(ErasureReason::Request, 500, SubscriberStatus::Subscribed);
    let prior = Prior {
        lead: None,
        tombstone: Some(&t),
    };
    assert_eq!(
        apply(prior, &text("STOP", 490)),
        Outcome::StopOnTombstone { at_ms: 490 }
    );
    // Anything else from before the erasure is only recorded.
    assert_eq!(apply(prior, &text("START", 490)), Outcome::RecordOnly);
    // Kept: writing later creates no lead; an explicit opt-in does.
    let kept = Tombstone {
        status_before: Some(SubscriberStatus::Unsubscribed),
        consent_changed_at_ms: 490,
        ..t.clone()
    };
    let prior = Prior {
        lead: None,
        tombstone: Some(&kept),
    };
    assert_eq!(apply(prior, &text("hi", 600)), Outcome::RecordOnly);
    assert_eq!(apply(prior, &text("STOP", 480)), Outcome::RecordOnly, "already kept");
    assert!(changes(apply(prior, &text("START", 600))).creates_lead);
}

/// Erased while unsubscribed (STOP at 490, erased at 500): a STOP sent
/// after the erasure is their last word now, kept on the tombstone, so a
/// START sent before it and delivered after it finds it and is stale. It
/// was only recorded, and that START resubscribed them against the older
/// STOP.
#[test]
fn a_stop_after_the_erasure_of_an_unsubscribed_lead_is_their_last_word_on_the_tombstone() {
    let t = tombstone(ErasureReason::UnsubscribedPurge, 500, SubscriberStatus::Unsubscribed);
    let prior = Prior {
        lead: None,
        tombstone: Some(&t),
    };
    assert_eq!(
        apply(prior, &text("STOP", 700)),
        Outcome::StopOnTombstone { at_ms: 700 }
    );
    let kept = Tombstone {
        consent_changed_at_ms: 700,
        ..t.clone()
    };
    let prior = Prior {
        lead: None,
        tombstone: Some(&kept),
    };
    assert_eq!(
        apply(prior, &text("START", 600)),
        Outcome::RecordOnly,
        "sent before the STOP"
    );
    assert_eq!(apply(prior, &text("STOP", 650)), Outcome::RecordOnly, "an older STOP");
    assert_eq!(
        apply(prior, &text("STOP", 700)),
        Outcome::RecordOnly,
        "the same one again"
    );
    assert!(changes(apply(prior, &text("START", 800))).creates_lead);
}

/// Erased while unsubscribed (STOP at 490, erased at 500), a STOP the
/// erasure covers but newer than the kept one (here of untrusted time,
/// received within Meta's retry horizon) is their last word too: kept. It
/// was only recorded, and a real START sent between the two STOPs and
/// delivered after them resubscribed them.
#[test]
fn a_covered_stop_newer_than_the_one_a_tombstone_keeps_is_kept() {
    let t = tombstone(ErasureReason::UnsubscribedPurge, 500, SubscriberStatus::Unsubscribed);
    let prior = Prior {
        lead: None,
        tombstone: Some(&t),
    };
    let mut untimed_stop = text("STOP", 10_000);
    untimed_stop.time_clamped = true;
    assert!(t.covers(EventTime {
        ms: 10_000,
        clamped: true
    }));
    assert_eq!(apply(prior, &untimed_stop), Outcome::StopOnTombstone { at_ms: 10_000 });
    assert_eq!(
        apply(prior, &text("STOP", 495)),
        Outcome::StopOnTombstone { at_ms: 495 }
    );
    assert_eq!(
        apply(prior, &text("STOP", 480)),
        Outcome::RecordOnly,
        "older than the kept one"
    );
    let kept = Tombstone {
        consent_changed_at_ms: 10_000,
        ..t.clone()
    };
    let prior = Prior {
        lead: None,
        tombstone: Some(&kept),
    };
    assert_eq!(
        apply(prior, &text("START", 5_000)),
        Outcome::RecordOnly,
        "sent before the kept STOP's receipt"
    );
}

#[test]
fn an_event_of_untrusted_time_never_brings_an_erased_lead_back() {
    let t = tombstone(ErasureReason::Request, 500, SubscriberStatus::Subscribed);
    let mut e = text("hi", 10_000);
    e.time_clamped = true;
    let prior = Prior {
        lead: None,
        tombstone: Some(&t),
    };
    assert_eq!(apply(prior, &e), Outcome::RecordOnly);
}

/// A lead the person began after an erasure at 500, as `status`, with no
/// word on consent yet.
fn begun_after_erasure(status: SubscriberStatus) -> Prior<'static> {
    let mut prior = lead(status, 0);
    if let Some(state) = prior.lead.as_mut() {
        state.prior_erasure_at_ms = Some(500);
    }
    prior
}

#[test]
fn on_a_lead_begun_after_an_erasure_what_was_sent_before_it_is_only_recorded() {
    let prior = begun_after_erasure(SubscriberStatus::Subscribed);
    // Meta's late retries of the erased past: a message, activity, a START.
    assert_eq!(apply(prior, &text("hi", 400)), Outcome::RecordOnly);
    assert_eq!(apply(prior, &text("hi", 500)), Outcome::RecordOnly);
    assert_eq!(apply(prior, &reaction(450)), Outcome::RecordOnly);
    let stopped = begun_after_erasure(SubscriberStatus::Unsubscribed);
    assert_eq!(apply(stopped, &text("START", 499)), Outcome::RecordOnly);
    // Of unknown time, received while Meta may still retry what was sent
    // before the erasure: it may be from before.
    let mut clamped = text("hi", 10_000);
    clamped.time_clamped = true;
    assert_eq!(apply(prior, &clamped), Outcome::RecordOnly);
    // Received later than that: new.
    let mut later = text("hi", 500 + crate::lead::META_RETRY_HORIZON_MS + 1);
    later.time_clamped = true;
    assert!(!changes(apply(prior, &later)).erased_past);
    // What they send after it is theirs as on any lead.
    let c = changes(apply(prior, &text("hi", 501)));
    assert!(!c.erased_past);
    assert!(!c.creates_lead);
}

#[test]
fn on_a_lead_begun_after_an_erasure_a_stop_sent_before_it_still_unsubscribes() {
    let c = changes(apply(
        begun_after_erasure(SubscriberStatus::Subscribed),
        &text("STOP", 400),
    ));
    assert!(c.erased_past, "nothing but the opt-out is stored");
    let change = c.consent.unwrap();
    assert_eq!(change.to, SubscriberStatus::Unsubscribed);
    assert_eq!(change.from, Some(SubscriberStatus::Subscribed));
    // As any stop, it is the person's last word (a START older than it,
    // delivered later, changes nothing).
    assert_eq!(c.last_word.map(|w| w.ms), Some(400));
}

#[test]
fn a_stop_from_the_erased_past_takes_effect_no_earlier_than_the_lead_began() {
    let mut sub = subscriber();
    sub.created_at_ms = 600;
    sub.prior_erasure_at_ms = Some(500);
    let prior = Prior {
        lead: Some(ConsentState::of(&sub)),
        tombstone: None,
    };
    let c = changes(apply(prior, &text("STOP", 400)));
    let record = c.write_to(&mut sub, 400, proof).unwrap();
    assert_eq!((record.at_ms, sub.consent_changed_at_ms), (600, 600));
    assert_eq!(sub.status, SubscriberStatus::Unsubscribed);
}

#[test]
fn a_lead_begun_with_no_erasure_before_it_has_no_erased_past() {
    let c = changes(apply(lead(SubscriberStatus::Subscribed, 0), &text("hi", 1)));
    assert!(!c.erased_past);
}

#[test]
fn writing_after_an_erasure_on_request_is_a_new_conversation() {
    let t = tombstone(ErasureReason::Request, 500, SubscriberStatus::Subscribed);
    let prior = Prior {
        lead: None,
        tombstone: Some(&t),
    };
    let c = changes(apply(prior, &text("hi", 600)));
    assert!(c.creates_lead);
    assert_eq!(c.consent.unwrap().reason, ConsentReason::FirstContact);
    assert_eq!(c.consent.unwrap().from, None);
}

#[test]
fn someone_erased_while_unsubscribed_stays_stopped_whatever_erased_them() {
    for reason in [ErasureReason::Request, ErasureReason::MetaDeletionCallback] {
        let t = tombstone(reason, 500, SubscriberStatus::Unsubscribed);
        let prior = Prior {
            lead: None,
            tombstone: Some(&t),
        };
        assert_eq!(apply(prior, &text("did you delete my data?", 600)), Outcome::RecordOnly);
        let c = changes(apply(prior, &text("START", 600)));
        assert_eq!(
            c.consent.map(|c| (c.from, c.to)),
            Some((Some(SubscriberStatus::Unsubscribed), SubscriberStatus::Subscribed))
        );
    }
}

#[test]
fn a_lead_purged_while_unsubscribed_stays_stopped_until_an_explicit_opt_in() {
    let t = tombstone(ErasureReason::UnsubscribedPurge, 500, SubscriberStatus::Unsubscribed);
    let prior = Prior {
        lead: None,
        tombstone: Some(&t),
    };
    assert_eq!(apply(prior, &text("hi", 600)), Outcome::RecordOnly);
    let c = changes(apply(prior, &text("START", 600)));
    assert!(c.creates_lead);
    let change = c.consent.unwrap();
    assert_eq!(change.from, Some(SubscriberStatus::Unsubscribed));
    assert_eq!(change.to, SubscriberStatus::Subscribed);
    assert_eq!(change.reason, ConsentReason::StartKeyword);
    // Older than their STOP (the purged lead's last change): stale.
    let t = Tombstone {
        consent_changed_at_ms: 550,
        ..t
    };
    let prior = Prior {
        lead: None,
        tombstone: Some(&t),
    };
    assert_eq!(apply(prior, &text("START", 540)), Outcome::RecordOnly);
}

#[test]
fn a_lead_purged_while_subscribed_starts_anew_on_writing() {
    let t = tombstone(ErasureReason::UnsubscribedPurge, 500, SubscriberStatus::Subscribed);
    let prior = Prior {
        lead: None,
        tombstone: Some(&t),
    };
    assert_eq!(
        changes(apply(prior, &text("hi", 600))).consent.unwrap().reason,
        ConsentReason::FirstContact
    );
}

#[test]
fn a_stale_opt_in_changes_nothing_and_is_not_the_last_word() {
    let c = changes(apply(lead(SubscriberStatus::Unsubscribed, 500), &text("START", 400)));
    assert_eq!(c.consent, None);
    assert!(c.stale_intent);
    assert_eq!(c.last_word, None);
}

#[test]
fn a_stop_while_unsubscribed_changes_nothing_but_is_the_last_word() {
    let c = changes(apply(lead(SubscriberStatus::Unsubscribed, 100), &text("STOP", 400)));
    assert_eq!(c.consent, None);
    assert!(!c.stale_intent);
    assert_eq!(
        c.last_word,
        Some(EventTime {
            ms: 400,
            clamped: false
        })
    );
}

#[test]
fn writing_a_subscription_sets_status_time_and_opt_in_proof() {
    let mut sub = subscriber();
    sub.status = SubscriberStatus::Unsubscribed;
    let c = changes(apply(
        Prior {
            lead: Some(ConsentState::of(&sub)),
            tombstone: None,
        },
        &text("START", 100),
    ));
    let record = c.write_to(&mut sub, 100, proof).unwrap();
    assert_eq!(sub.status, SubscriberStatus::Subscribed);
    assert_eq!(sub.consent_changed_at_ms, 100);
    assert_eq!(sub.opted_in, Some(proof()));
    assert_eq!((sub.consent_intent_at_ms, sub.consent_intent_clamped), (100, false));
    assert_eq!(record.at_ms, 100);
    assert_eq!(record.proof, proof());
    assert_eq!(record.change.to, SubscriberStatus::Subscribed);
}

#[test]
fn writing_an_unsubscription_keeps_the_opt_in_proof() {
    let mut sub = subscriber();
    sub.opted_in = Some(Proof {
        event_key: "first".into(),
        ..proof()
    });
    let c = changes(apply(
        Prior {
            lead: Some(ConsentState::of(&sub)),
            tombstone: None,
        },
        &text("STOP", 100),
    ));
    let record = c.write_to(&mut sub, 100, proof).unwrap();
    assert_eq!(sub.status, SubscriberStatus::Unsubscribed);
    assert_eq!(sub.opted_in.unwrap().event_key, "first");
    assert_eq!(record.change.reason, ConsentReason::StopKeyword);
}

#[test]
fn writing_no_consent_change_leaves_the_status_alone() {
    let mut sub = subscriber();
    let before = sub.clone();
    let c = changes(apply(
        Prior {
            lead: Some(ConsentState::of(&sub)),
            tombstone: None,
        },
        &text("hi", 100),
    ));
    assert_eq!(c.write_to(&mut sub, 100, proof), None);
    assert_eq!(sub, before);
}

#[test]
fn no_proof_is_built_without_a_consent_change() {
    // The proof hashes the item: only an event that changes consent pays for it.
    let mut sub = subscriber();
    let c = changes(apply(
        Prior {
            lead: Some(ConsentState::of(&sub)),
            tombstone: None,
        },
        &reaction(100),
    ));
    assert_eq!(c.write_to(&mut sub, 100, || unreachable!("no consent change")), None);
    let built = std::cell::Cell::new(0);
    let c = changes(apply(NOBODY, &text("hi", 100)));
    let mut new = subscriber();
    c.write_to(&mut new, 100, || {
        built.set(built.get() + 1);
        proof()
    });
    assert_eq!(built.get(), 1, "built once for the record and the opt-in");
}

/// The last word is the latest any word may have been sent: a clamped
/// word's time of receipt counts as the time it is (it replaced a real one
/// before; a real one always replaced it, even an older one).
#[test]
fn the_last_word_is_the_latest_a_word_may_have_been_sent_clamped_or_not() {
    let mut sub = subscriber();
    sub.consent_intent_at_ms = 50;
    note_last_word(&mut sub, EventTime { ms: 100, clamped: true });
    assert_eq!((sub.consent_intent_at_ms, sub.consent_intent_clamped), (100, true));
    note_last_word(&mut sub, EventTime { ms: 80, clamped: false });
    assert_eq!((sub.consent_intent_at_ms, sub.consent_intent_clamped), (100, true));
    note_last_word(
        &mut sub,
        EventTime {
            ms: 120,
            clamped: false,
        },
    );
    assert_eq!((sub.consent_intent_at_ms, sub.consent_intent_clamped), (120, false));
}

/// A STOP of an impossible timestamp, then a real STOP delivered late, then
/// a real START sent before the clamped STOP reached us: the order of the
/// START and the clamped STOP is unknown, so the lead stays unsubscribed.
/// The old rule let the late real STOP replace the clamped last word, and
/// the START, later than that, resubscribed.
#[test]
fn a_late_real_stop_does_not_let_a_start_undo_a_clamped_stop() {
    const RECEIVED: i64 = 1_764_547_200_000;
    let mut sub = subscriber();
    let mut step = |event: &InboundEvent| {
        let prior = Prior {
            lead: Some(ConsentState::of(&sub)),
            tombstone: None,
        };
        if let Outcome::Update(c) = apply(prior, event) {
            c.write_to(&mut sub, event.timestamp_ms, proof);
        }
        sub.status
    };
    assert_eq!(step(&text("START", RECEIVED - 600_000)), SubscriberStatus::Subscribed);
    let mut clamped_stop = text("STOP", RECEIVED);
    clamped_stop.time_clamped = true;
    assert_eq!(step(&clamped_stop), SubscriberStatus::Unsubscribed);
    assert_eq!(step(&text("STOP", RECEIVED - 900_000)), SubscriberStatus::Unsubscribed);
    assert_eq!(
        step(&text("START", RECEIVED - 60_000)),
        SubscriberStatus::Unsubscribed,
        "sent a minute before the clamped STOP reached us"
    );
    assert_eq!(step(&text("START", RECEIVED + 1)), SubscriberStatus::Subscribed);
}

#[test]
fn an_erasure_covers_what_was_sent_no_later_than_it_or_at_an_untrusted_time() {
    let t = tombstone(ErasureReason::Request, 500, SubscriberStatus::Subscribed);
    let at = |ms, clamped| EventTime { ms, clamped };
    assert!(t.covers(at(499, false)));
    assert!(t.covers(at(500, false)));
    assert!(!t.covers(at(501, false)));
    assert!(t.covers(at(501, true)));
    // Past Meta's retries, an untrusted time is something new: a STOP
    // without a usable timestamp months later still counts.
    let later = 500 + optcast_horizon();
    assert!(t.covers(at(later, true)));
    assert!(!t.covers(at(later + 1, true)));
    let stop = {
        let mut e = text("STOP", later + 1);
        e.time_clamped = true;
        e
    };
    let prior = Prior {
        lead: None,
        tombstone: Some(&t),
    };
    assert_eq!(
        changes(apply(prior, &stop)).consent.map(|c| c.to),
        Some(SubscriberStatus::Unsubscribed)
    );
}

fn optcast_horizon() -> i64 {
    crate::lead::META_RETRY_HORIZON_MS
}
