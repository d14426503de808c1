//! Consent rules: how an inbound event changes a lead's subscription. Pure
//! functions over plain types; the ingest function stores what they decide.

use serde::{Deserialize, Serialize};

use crate::keywords::{self, Keyword};
use crate::meta::{EventKind, InboundEvent, MarketingStatus};

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
    /// Any other sign of life from the person: creates a lead on first contact.
    Contact,
    /// Echoes, receipts, unknown items: never touch consent.
    None,
}

impl ConsentIntent {
    /// An opt-in or opt-out the person expressed (not mere contact).
    pub fn is_explicit(&self) -> bool {
        matches!(self, ConsentIntent::OptIn(_) | ConsentIntent::OptOut(_))
    }
}

/// Reads the consent intent of one event.
pub fn intent(event: &InboundEvent) -> ConsentIntent {
    match &event.kind {
        EventKind::Message(m) => {
            if m.quick_reply_payload.as_deref() == Some(UNSUBSCRIBE_PAYLOAD) {
                return ConsentIntent::OptOut(ConsentReason::UnsubscribeControl);
            }
            if m.quick_reply_payload.as_deref() == Some(RESUBSCRIBE_PAYLOAD) {
                return ConsentIntent::OptIn(ConsentReason::ResubscribeControl);
            }
            match m.text.as_deref().and_then(keywords::classify) {
                Some(Keyword::Stop) => ConsentIntent::OptOut(ConsentReason::StopKeyword),
                Some(Keyword::Start) => ConsentIntent::OptIn(ConsentReason::StartKeyword),
                None => ConsentIntent::Contact,
            }
        }
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
        EventKind::OptIn(_) | EventKind::Referral { .. } | EventKind::Reaction { .. } => ConsentIntent::Contact,
        EventKind::Echo(_) | EventKind::Delivery { .. } | EventKind::Read { .. } | EventKind::Unknown { .. } => {
            ConsentIntent::None
        }
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
    /// Event time (ms) of the person's last word on consent: the last change
    /// applied, or a later opt-in/opt-out that changed nothing (a STOP while
    /// unsubscribed still outranks an older START delivered after it).
    pub changed_at_ms: i64,
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
/// - An event older than the last applied change does not override it (Meta
///   retries can reorder deliveries).
/// - An erased lead comes back only through a new conversation: any contact.
pub fn decide(current: Option<ConsentState>, event: &InboundEvent) -> Option<ConsentChange> {
    let intent = intent(event);
    let Some(current) = current else {
        return match intent {
            ConsentIntent::None => None,
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
    if event.timestamp_ms < current.changed_at_ms {
        return None;
    }
    let from = Some(current.status);
    match (current.status, intent) {
        (_, ConsentIntent::None) => None,
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
    use crate::meta::{MessageEvent, OptInEvent, Platform, PostbackEvent};

    fn event(kind: EventKind, ts: i64) -> InboundEvent {
        InboundEvent {
            platform: Platform::Messenger,
            page_id: PageId::parse("1").unwrap(),
            subject: Some(Psid::parse("2").unwrap()),
            timestamp_ms: ts,
            standby: false,
            kind,
            key: "k".into(),
            sha256: "0".repeat(64),
        }
    }
    fn text(t: &str, ts: i64) -> InboundEvent {
        event(
            EventKind::Message(MessageEvent {
                mid: Mid::parse("m").unwrap(),
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
            changed_at_ms: at,
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
                mid: Mid::parse("m").unwrap(),
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
                mid: Mid::parse("m").unwrap(),
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
}
