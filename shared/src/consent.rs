//! Consent rules: how an inbound event changes a lead's subscription. Pure
//! functions over plain types; the ingest function stores what they decide.

use serde::{Deserialize, Serialize};

use crate::keywords::{self, Keyword};
use crate::meta::{EventKind, EventTime, InboundEvent, MarketingStatus, StopSignal};

/// Postback / quick-reply payload of the Unsubscribe control we attach to every broadcast.
pub const UNSUBSCRIBE_PAYLOAD: &str = "OPTCAST_UNSUBSCRIBE";
/// Payload of an optional "subscribe again" control.
pub const RESUBSCRIBE_PAYLOAD: &str = "OPTCAST_RESUBSCRIBE";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriberStatus {
    Subscribed,
    Unsubscribed,
    Unreachable,
    Erased,
}

impl SubscriberStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriberStatus::Subscribed => "subscribed",
            SubscriberStatus::Unsubscribed => "unsubscribed",
            SubscriberStatus::Unreachable => "unreachable",
            SubscriberStatus::Erased => "erased",
        }
    }
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "subscribed" => SubscriberStatus::Subscribed,
            "unsubscribed" => SubscriberStatus::Unsubscribed,
            "unreachable" => SubscriberStatus::Unreachable,
            "erased" => SubscriberStatus::Erased,
            _ => return None,
        })
    }
}

/// Why consent changed; stored in the consent log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentReason {
    /// The person started the conversation.
    FirstContact,
    StopKeyword,
    StartKeyword,
    UnsubscribeControl,
    ResubscribeControl,
    MarketingOptIn,
    MarketingStop,
    MarketingResume,
}

impl ConsentReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentReason::FirstContact => "first_contact",
            ConsentReason::StopKeyword => "stop_keyword",
            ConsentReason::StartKeyword => "start_keyword",
            ConsentReason::UnsubscribeControl => "unsubscribe_control",
            ConsentReason::ResubscribeControl => "resubscribe_control",
            ConsentReason::MarketingOptIn => "marketing_opt_in",
            ConsentReason::MarketingStop => "marketing_stop",
            ConsentReason::MarketingResume => "marketing_resume",
        }
    }
}

/// What the event asks for, before looking at the current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentIntent {
    OptIn(ConsentReason),
    OptOut(ConsentReason),
    /// The person wrote or tapped: starts a conversation (creates a lead).
    Contact,
    /// A sign of life that is not writing (reaction, referral, edit, unsend):
    /// counts for a lead we know, never creates or brings one back.
    Activity,
    /// Echoes and receipts: never touch consent.
    None,
}

impl ConsentIntent {
    /// An opt-in or opt-out the person expressed (not mere contact).
    pub fn is_explicit(&self) -> bool {
        matches!(self, ConsentIntent::OptIn(_) | ConsentIntent::OptOut(_))
    }
}

/// What a whole text asks for: a STOP or START keyword, or nothing.
fn keyword_intent(text: Option<&str>) -> Option<ConsentIntent> {
    match text.and_then(keywords::classify)? {
        Keyword::Stop => Some(ConsentIntent::OptOut(ConsentReason::StopKeyword)),
        Keyword::Start => Some(ConsentIntent::OptIn(ConsentReason::StartKeyword)),
    }
}

/// Reads the consent intent of one event. What starts a conversation (and
/// so makes a lead) is the person writing or tapping: a message, a postback
/// outside standby, a plugin opt-in. Reactions, referrals, edits and unsends
/// only count for a lead we already know, unless an edit's new text is a
/// STOP/START keyword, which is the person's explicit word.
pub fn intent(event: &InboundEvent) -> ConsentIntent {
    match &event.kind {
        EventKind::Message(m) => {
            if m.quick_reply_payload.as_deref() == Some(UNSUBSCRIBE_PAYLOAD) {
                return ConsentIntent::OptOut(ConsentReason::UnsubscribeControl);
            }
            if m.quick_reply_payload.as_deref() == Some(RESUBSCRIBE_PAYLOAD) {
                return ConsentIntent::OptIn(ConsentReason::ResubscribeControl);
            }
            keyword_intent(m.text.as_deref()).unwrap_or(ConsentIntent::Contact)
        }
        EventKind::Edit(e) => keyword_intent(e.text.as_deref()).unwrap_or(ConsentIntent::Activity),
        EventKind::Postback(p) => match p.payload.as_deref() {
            Some(UNSUBSCRIBE_PAYLOAD) => ConsentIntent::OptOut(ConsentReason::UnsubscribeControl),
            Some(RESUBSCRIBE_PAYLOAD) => ConsentIntent::OptIn(ConsentReason::ResubscribeControl),
            // Standby postbacks carry no payload and belong to another app's thread.
            _ if event.standby => ConsentIntent::None,
            _ => ConsentIntent::Contact,
        },
        EventKind::OptIn(o) if o.marketing => match o.status {
            Some(MarketingStatus::Stop) => ConsentIntent::OptOut(ConsentReason::MarketingStop),
            Some(MarketingStatus::Resume) => ConsentIntent::OptIn(ConsentReason::MarketingResume),
            None => ConsentIntent::OptIn(ConsentReason::MarketingOptIn),
        },
        EventKind::OptIn(_) => ConsentIntent::Contact,
        EventKind::Referral { .. } | EventKind::Reaction { .. } | EventKind::Unsend { .. } => ConsentIntent::Activity,
        EventKind::StopSignal(signal) => ConsentIntent::OptOut(match signal {
            StopSignal::Keyword => ConsentReason::StopKeyword,
            StopSignal::UnsubscribeControl => ConsentReason::UnsubscribeControl,
            StopSignal::MarketingStop => ConsentReason::MarketingStop,
        }),
        EventKind::Echo(_) | EventKind::Delivery { .. } | EventKind::Read { .. } => ConsentIntent::None,
    }
}

/// Whether the event opens or resets Meta's 24-hour messaging window.
pub fn opens_window(event: &InboundEvent) -> bool {
    match &event.kind {
        EventKind::Message(_) | EventKind::Postback(_) | EventKind::Referral { .. } | EventKind::Reaction { .. } => {
            !event.standby
        }
        // A plugin opt-in opens it; a marketing-messages opt-in does not.
        EventKind::OptIn(o) => !o.marketing,
        _ => false,
    }
}

/// The lead's consent as stored, reduced to what the rules need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsentState {
    pub status: SubscriberStatus,
    /// When the person last said yes or no (an explicit opt-in or opt-out,
    /// applied or not: a STOP while unsubscribed still outranks an older
    /// START delivered after it). Merely writing is not a word on consent, so
    /// a STOP sent before a first "hi" but delivered after it still counts.
    pub last_word: EventTime,
}

/// Whether `event` is older than the person's last word, so its opt-in or
/// opt-out changes nothing (Meta's retries reorder deliveries). A clamped
/// time (the time of receipt standing in for an impossible timestamp) is an
/// upper bound of the true one; where that leaves the order unknown, the stop
/// wins: a clamped opt-out is never stale, a real opt-out is never stale
/// against a clamped word, a clamped opt-in never overrides a real word, and
/// a real opt-in overrides a clamped word only when it is later than it.
pub fn is_stale(state: &ConsentState, event: &InboundEvent) -> bool {
    let opt_out = matches!(intent(event), ConsentIntent::OptOut(_));
    let (ms, last) = (event.timestamp_ms, state.last_word);
    match (event.time_clamped, last.clamped) {
        (false, false) | (true, true) => ms < last.ms,
        (false, true) => !opt_out && ms < last.ms,
        (true, false) => !opt_out,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsentChange {
    pub from: Option<SubscriberStatus>,
    pub to: SubscriberStatus,
    pub reason: ConsentReason,
}

/// Decides the consent change an event causes, if any.
///
/// - A first event from someone unknown makes them a lead: subscribed, unless
///   that very event is an opt-out (then they are known as unsubscribed).
/// - Opt-outs always win; an opt-in only re-subscribes on an explicit intent
///   (START keyword, resubscribe control, marketing opt-in/resume), never on
///   an ordinary message.
/// - An event older than the person's last word does not override it (Meta
///   retries can reorder deliveries); see [`is_stale`].
/// - An erased lead comes back only through a new conversation: contact,
///   never mere activity.
pub fn decide(current: Option<ConsentState>, event: &InboundEvent) -> Option<ConsentChange> {
    let intent = intent(event);
    let Some(current) = current else {
        return match intent {
            ConsentIntent::None | ConsentIntent::Activity => None,
            ConsentIntent::OptOut(reason) => Some(ConsentChange {
                from: None,
                to: SubscriberStatus::Unsubscribed,
                reason,
            }),
            ConsentIntent::OptIn(reason) => Some(ConsentChange {
                from: None,
                to: SubscriberStatus::Subscribed,
                reason,
            }),
            ConsentIntent::Contact => Some(ConsentChange {
                from: None,
                to: SubscriberStatus::Subscribed,
                reason: ConsentReason::FirstContact,
            }),
        };
    };
    if is_stale(&current, event) {
        return None;
    }
    let from = Some(current.status);
    match (current.status, intent) {
        (_, ConsentIntent::None | ConsentIntent::Activity) => None,
        (SubscriberStatus::Unsubscribed, ConsentIntent::OptOut(_)) => None,
        (_, ConsentIntent::OptOut(reason)) => Some(ConsentChange {
            from,
            to: SubscriberStatus::Unsubscribed,
            reason,
        }),
        (SubscriberStatus::Subscribed, _) => None,
        (SubscriberStatus::Erased, ConsentIntent::Contact) => Some(ConsentChange {
            from,
            to: SubscriberStatus::Subscribed,
            reason: ConsentReason::FirstContact,
        }),
        (_, ConsentIntent::OptIn(reason)) => Some(ConsentChange {
            from,
            to: SubscriberStatus::Subscribed,
            reason,
        }),
        (_, ConsentIntent::Contact) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{Mid, PageId, Psid};
    use crate::meta::EditEvent;
    use crate::meta::{MessageEvent, OptInEvent, Platform, PostbackEvent};

    fn event(kind: EventKind, ts: i64) -> InboundEvent {
        InboundEvent {
            platform: Platform::Messenger,
            page_id: PageId::parse("1").unwrap(),
            subject: Psid::parse("2").unwrap(),
            timestamp_ms: ts,
            time_clamped: false,
            standby: false,
            kind,
            key: "k".into(),
            sha256: "0".repeat(64),
        }
    }
    fn text(t: &str, ts: i64) -> InboundEvent {
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
}
