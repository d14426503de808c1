use super::*;
use crate::ids::{Mid, PageId, Psid};
use crate::meta::EditEvent;
use crate::meta::{MessageEvent, OptInEvent, Platform, PostbackEvent};

pub(super) fn event(kind: EventKind, ts: i64) -> InboundEvent {
    InboundEvent {
        platform: Platform::Messenger,
        page_id: PageId::parse("1").unwrap(),
        subject: Psid::parse("2").unwrap(),
        timestamp_ms: ts,
        time_clamped: false,
        standby: false,
        kind,
        key: "k".into(),
        sha256: crate::meta::ProofHash::known("0".repeat(64)),
    }
}
pub(super) fn text(t: &str, ts: i64) -> InboundEvent {
    event(
        EventKind::Message(MessageEvent {
            mid: Some(Mid::parse("m").unwrap()),
            text: Some(t.into()),
            quick_reply_payload: None,
            attachments: vec![],
            reply_to: None,
        }),
        ts,
    )
}
fn state(status: SubscriberStatus, at: i64) -> Option<ConsentState> {
    Some(ConsentState {
        status,
        last_word: EventTime { ms: at, clamped: false },
        prior_erasure_at_ms: None,
        status_since_ms: 0,
    })
}
use SubscriberStatus::*;

#[test]
fn a_first_message_makes_a_subscribed_lead() {
    let change = decide(None, &text("hi", 10)).unwrap();
    assert_eq!(
        change,
        ConsentChange {
            from: None,
            to: Subscribed,
            reason: ConsentReason::FirstContact
        }
    );
}

#[test]
fn a_first_message_that_is_stop_records_an_unsubscribed_person() {
    assert_eq!(decide(None, &text("STOP", 10)).unwrap().to, Unsubscribed);
}

#[test]
fn stop_unsubscribes_and_start_resubscribes() {
    assert_eq!(
        decide(state(Subscribed, 1), &text("stop", 10)).unwrap().reason,
        ConsentReason::StopKeyword
    );
    let back = decide(state(Unsubscribed, 10), &text("START", 20)).unwrap();
    assert_eq!(
        (back.from, back.to, back.reason),
        (Some(Unsubscribed), Subscribed, ConsentReason::StartKeyword)
    );
}

#[test]
fn an_ordinary_message_does_not_resubscribe() {
    assert_eq!(decide(state(Unsubscribed, 10), &text("what's the price?", 20)), None);
    assert_eq!(decide(state(Unreachable, 10), &text("hello", 20)), None);
}

#[test]
fn repeated_opt_outs_and_opt_ins_change_nothing() {
    assert_eq!(decide(state(Unsubscribed, 10), &text("stop", 20)), None);
    assert_eq!(decide(state(Subscribed, 10), &text("start", 20)), None);
}

#[test]
fn an_older_event_does_not_override_a_newer_change() {
    assert_eq!(decide(state(Subscribed, 50), &text("stop", 20)), None);
}

#[test]
fn the_unsubscribe_control_unsubscribes_as_postback_and_quick_reply() {
    let pb = event(
        EventKind::Postback(PostbackEvent {
            mid: None,
            title: Some("Unsubscribe".into()),
            payload: Some(UNSUBSCRIBE_PAYLOAD.into()),
            referral_ref: None,
        }),
        5,
    );
    assert_eq!(
        decide(state(Subscribed, 1), &pb).unwrap().reason,
        ConsentReason::UnsubscribeControl
    );
    let qr = event(
        EventKind::Message(MessageEvent {
            mid: Some(Mid::parse("m").unwrap()),
            text: Some("Stop messages".into()),
            quick_reply_payload: Some(UNSUBSCRIBE_PAYLOAD.into()),
            attachments: vec![],
            reply_to: None,
        }),
        5,
    );
    assert_eq!(
        decide(state(Subscribed, 1), &qr).unwrap().reason,
        ConsentReason::UnsubscribeControl
    );
}

#[test]
fn another_apps_button_titled_as_a_stop_keyword_unsubscribes_and_one_titled_start_does_not_resubscribe() {
    let postback = |title: &str, payload: Option<&str>, standby: bool| {
        let mut e = event(
            EventKind::Postback(PostbackEvent {
                mid: None,
                title: Some(title.into()),
                payload: payload.map(Into::into),
                referral_ref: None,
            }),
            5,
        );
        e.standby = standby;
        e
    };
    for (title, payload, standby) in [
        ("Unsubscribe", Some("MENU_UNSUBSCRIBE"), false),
        ("Stop messages", Some("STOP_PROMOS"), false),
        ("Stop messages", None, true),
        ("Unsubscribe", None, true),
    ] {
        let change = decide(state(Subscribed, 1), &postback(title, payload, standby));
        assert_eq!(
            change.map(|c| (c.to, c.reason)),
            Some((Unsubscribed, ConsentReason::StopKeyword)),
            "{title} {payload:?} standby {standby}"
        );
    }
    for (title, standby) in [("Start", false), ("Subscribe", true), ("Get Started", true)] {
        assert_eq!(
            decide(state(Unsubscribed, 1), &postback(title, None, standby)),
            None,
            "{title}"
        );
    }
    // An ordinary button is contact, as before.
    assert_eq!(
        intent(&postback("Show me the menu", Some("MENU"), false)),
        ConsentIntent::Contact
    );
}

#[test]
fn marketing_stop_unsubscribes_and_resume_resubscribes() {
    let optin = |status| {
        event(
            EventKind::OptIn(OptInEvent {
                marketing: true,
                payload: None,
                ref_: None,
                token: Some("t".into()),
                token_expiry_ms: None,
                timezone: None,
                status,
            }),
            5,
        )
    };
    assert_eq!(
        decide(state(Subscribed, 1), &optin(Some(MarketingStatus::Stop)))
            .unwrap()
            .reason,
        ConsentReason::MarketingStop
    );
    assert_eq!(
        decide(state(Unsubscribed, 1), &optin(Some(MarketingStatus::Resume)))
            .unwrap()
            .reason,
        ConsentReason::MarketingResume
    );
    assert_eq!(
        decide(state(Unsubscribed, 1), &optin(None)).unwrap().reason,
        ConsentReason::MarketingOptIn
    );
}

#[test]
fn echoes_and_receipts_never_change_consent() {
    let echo = event(
        EventKind::Echo(crate::meta::EchoEvent {
            mid: Some(Mid::parse("m").unwrap()),
            text: Some("STOP".into()),
            metadata: None,
            app_id: None,
            attachments: vec![],
        }),
        5,
    );
    assert_eq!(decide(None, &echo), None);
    assert_eq!(decide(state(Subscribed, 1), &echo), None);
    assert_eq!(
        decide(state(Subscribed, 1), &event(EventKind::Read { watermark: 1 }, 5)),
        None
    );
}

#[test]
fn an_erased_lead_returns_only_by_a_new_conversation() {
    let change = decide(state(Erased, 1), &text("hello again", 5)).unwrap();
    assert_eq!((change.to, change.reason), (Subscribed, ConsentReason::FirstContact));
}

#[test]
fn the_window_opens_on_messages_but_not_on_marketing_opt_ins_or_echoes() {
    assert!(opens_window(&text("hi", 1)));
    let mut untrusted = text("hi", 1);
    untrusted.time_clamped = true;
    assert!(!opens_window(&untrusted), "a message of untrusted time opens no window");
    let mk = event(
        EventKind::OptIn(OptInEvent {
            marketing: true,
            payload: None,
            ref_: None,
            token: None,
            token_expiry_ms: None,
            timezone: None,
            status: None,
        }),
        1,
    );
    assert!(!opens_window(&mk));
    assert!(!opens_window(&event(EventKind::Read { watermark: 1 }, 1)));
}

fn edit(t: &str, ts: i64) -> InboundEvent {
    event(
        EventKind::Edit(EditEvent {
            mid: Some(Mid::parse("m").unwrap()),
            text: Some(t.into()),
            num_edit: Some(1),
        }),
        ts,
    )
}

#[test]
fn only_writing_or_tapping_starts_a_conversation() {
    let reaction = event(
        EventKind::Reaction {
            mid: Some("m".into()),
            action: "react".into(),
        },
        5,
    );
    let unsend = event(
        EventKind::Unsend {
            mid: Mid::parse("m").unwrap(),
        },
        5,
    );
    let referral = event(
        EventKind::Referral {
            ref_: Some("ad".into()),
            source: None,
        },
        5,
    );
    for e in [&reaction, &unsend, &referral, &edit("fixed typo", 5)] {
        assert_eq!(decide(None, e), None, "{:?}", e.kind);
        assert_eq!(decide(state(Erased, 1), e), None, "{:?}", e.kind);
        assert_eq!(decide(state(Unsubscribed, 1), e), None, "{:?}", e.kind);
    }
    assert_eq!(
        decide(None, &text("hi", 5)).unwrap().reason,
        ConsentReason::FirstContact
    );
}

#[test]
fn an_edit_to_a_stop_keyword_unsubscribes_known_and_unknown_people() {
    assert_eq!(
        decide(state(Subscribed, 1), &edit("STOP", 5)).unwrap().reason,
        ConsentReason::StopKeyword
    );
    assert_eq!(decide(None, &edit("stop", 5)).unwrap().to, Unsubscribed);
}

#[test]
fn a_stop_sent_before_a_first_hello_but_delivered_after_it_still_unsubscribes() {
    // The lead exists from "hi" at 20; merely writing was no word on consent.
    let no_word_yet = Some(ConsentState {
        status: Subscribed,
        last_word: EventTime { ms: 0, clamped: false },
        prior_erasure_at_ms: None,
        status_since_ms: 0,
    });
    assert_eq!(decide(no_word_yet, &text("STOP", 10)).unwrap().to, Unsubscribed);
}

#[test]
fn a_clamped_time_never_outranks_a_real_one_but_a_clamped_stop_still_applies() {
    let mut late_start = text("START", 1_000);
    late_start.time_clamped = true;
    // Real STOP at 500; a START whose timestamp was impossible does not undo it.
    assert_eq!(decide(state(Unsubscribed, 500), &late_start), None);
    let mut clamped_stop = text("STOP", 100);
    clamped_stop.time_clamped = true;
    // Real START at 500; a STOP of unknown time is honoured (the safe side).
    assert_eq!(decide(state(Subscribed, 500), &clamped_stop).unwrap().to, Unsubscribed);
    // A real START later than a clamped STOP's receipt overrides it; one
    // earlier (delivered late) does not: the order is unknown.
    let clamped = |status| {
        Some(ConsentState {
            status,
            last_word: EventTime {
                ms: 9_000,
                clamped: true,
            },
            prior_erasure_at_ms: None,
            status_since_ms: 0,
        })
    };
    assert_eq!(
        decide(clamped(Unsubscribed), &text("START", 9_500)).unwrap().to,
        Subscribed
    );
    assert_eq!(decide(clamped(Unsubscribed), &text("START", 8_000)), None);
    // A real STOP against a clamped START always applies.
    assert_eq!(
        decide(clamped(Subscribed), &text("STOP", 8_000)).unwrap().to,
        Unsubscribed
    );
}

/// Two words of impossible timestamps are not ordered by when they reached
/// us: Meta retries an older START for up to two days, so one received
/// after a STOP may have been sent before it. A clamped START overrides a
/// word only when even the earliest it may have been sent is later; a
/// clamped STOP is never stale. (The old rule ordered two clamped words by
/// receipt: a clamped START a minute after a clamped STOP resubscribed, and
/// a clamped STOP received before a clamped START's receipt was stale.)
#[test]
fn two_clamped_words_are_ordered_only_beyond_metas_retry_horizon() {
    use crate::lead::META_RETRY_HORIZON_MS as H;
    const STOP_AT: i64 = 1_764_547_200_000;
    let clamped_word = |status, ms| {
        Some(ConsentState {
            status,
            last_word: EventTime { ms, clamped: true },
            prior_erasure_at_ms: None,
            status_since_ms: 0,
        })
    };
    let clamped = |t: &str, ms| {
        let mut e = text(t, ms);
        e.time_clamped = true;
        e
    };
    let stopped = clamped_word(Unsubscribed, STOP_AT);
    assert_eq!(
        decide(stopped, &clamped("START", STOP_AT + 60_000)),
        None,
        "a minute later"
    );
    assert_eq!(decide(stopped, &clamped("START", STOP_AT + H)), None, "at the horizon");
    assert_eq!(
        decide(stopped, &clamped("START", STOP_AT + H + 1)).unwrap().to,
        Subscribed,
        "sent after the STOP reached us, whenever it was sent"
    );
    let started = clamped_word(Subscribed, STOP_AT);
    assert_eq!(
        decide(started, &clamped("STOP", STOP_AT - 60_000)).unwrap().to,
        Unsubscribed,
        "a clamped STOP received before a clamped START is not stale"
    );
    // The same horizon against a real word: a clamped START received more
    // than two days after a real STOP was sent after it.
    assert_eq!(
        decide(state(Unsubscribed, STOP_AT), &clamped("START", STOP_AT + H)),
        None
    );
    assert_eq!(
        decide(state(Unsubscribed, STOP_AT), &clamped("START", STOP_AT + H + 1))
            .unwrap()
            .to,
        Subscribed
    );
}

fn in_standby(mut e: InboundEvent) -> InboundEvent {
    e.standby = true;
    e
}

fn quick_reply(title: &str, payload: &str, ts: i64) -> InboundEvent {
    event(
        EventKind::Message(MessageEvent {
            mid: Some(Mid::parse("m").unwrap()),
            text: Some(title.into()),
            quick_reply_payload: Some(payload.into()),
            attachments: vec![],
            reply_to: None,
        }),
        ts,
    )
}

#[test]
fn a_start_keyword_resubscribes_only_when_typed_to_optcast() {
    // Another app's thread (standby), another bot's or a marketer's quick
    // reply titled "Start", an edit of an older message: not the person's
    // word to optcast, so an opt-out stands.
    for e in [
        in_standby(text("START", 10)),
        quick_reply("Start", "ORDER_BOT_START", 10),
        edit("start", 10),
    ] {
        assert_eq!(decide(state(Unsubscribed, 1), &e), None, "{e:?}");
    }
    // As a first event, the standby message or the quick reply is contact,
    // not an opt-in.
    assert_eq!(
        decide(None, &in_standby(text("START", 10))).map(|c| c.reason),
        Some(ConsentReason::FirstContact)
    );
    assert_eq!(
        decide(state(Unsubscribed, 1), &text("START", 10)).unwrap().reason,
        ConsentReason::StartKeyword
    );
    // optcast's own resubscribe control still works as a quick reply.
    assert_eq!(
        decide(
            state(Unsubscribed, 1),
            &quick_reply("Resubscribe", RESUBSCRIBE_PAYLOAD, 10)
        )
        .unwrap()
        .reason,
        ConsentReason::ResubscribeControl
    );
}

#[test]
fn a_stop_keyword_unsubscribes_wherever_it_is_written() {
    for e in [
        in_standby(text("STOP", 10)),
        quick_reply("Stop", "QUIZ_STOP", 10),
        edit("stop please", 10),
    ] {
        assert_eq!(
            decide(state(Subscribed, 1), &e).map(|c| c.to),
            Some(Unsubscribed),
            "{e:?}"
        );
    }
}

#[test]
fn yes_after_a_stop_is_an_ordinary_message() {
    assert_eq!(decide(state(Unsubscribed, 1), &text("Yes", 10)), None);
}

#[test]
fn at_the_same_millisecond_as_the_stop_an_opt_in_does_not_override_it() {
    // Both capped to one time of receipt, or whole Instagram seconds: the
    // order is unknown, and the stop wins.
    assert_eq!(decide(state(Unsubscribed, 10), &text("START", 10)), None);
    assert_eq!(
        decide(state(Unsubscribed, 10), &text("START", 11)).unwrap().to,
        Subscribed
    );
    // A stop at the same time as an opt-in still applies.
    assert_eq!(
        decide(state(Subscribed, 10), &text("STOP", 10)).unwrap().to,
        Unsubscribed
    );
}
