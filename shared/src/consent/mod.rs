//! Consent rules: how an inbound event changes a lead's subscription. Pure
//! functions over plain types; the ingest function stores what they decide.

use serde::{Deserialize, Serialize};

use crate::keywords::{self, Keyword};
use crate::lead::META_RETRY_HORIZON_MS;
use crate::meta::{EventKind, EventTime, InboundEvent, MarketingStatus, StopSignal};

/// Postback / quick-reply payload of the Unsubscribe control we attach to every broadcast.
pub const UNSUBSCRIBE_PAYLOAD: &str = "OPTCAST_UNSUBSCRIBE";
/// Payload of an optional "subscribe again" control.
pub const RESUBSCRIBE_PAYLOAD: &str = "OPTCAST_RESUBSCRIBE";

/// The Unsubscribe control's payload on a broadcast: [`UNSUBSCRIBE_PAYLOAD`],
/// `:` and the broadcast id, so a tap is attributed to the broadcast that
/// carried it (Meta echoes a payload as sent, up to 1,000 bytes).
pub fn unsubscribe_payload(broadcast: &crate::ids::BroadcastId) -> String {
    format!("{UNSUBSCRIBE_PAYLOAD}:{broadcast}")
}

/// Whether `payload` is the Unsubscribe control's: [`UNSUBSCRIBE_PAYLOAD`]
/// alone (older broadcasts) or followed by `:` and anything (see
/// [`unsubscribe_payload`]).
pub fn is_unsubscribe_payload(payload: &str) -> bool {
    payload == UNSUBSCRIBE_PAYLOAD
        || payload
            .strip_prefix(UNSUBSCRIBE_PAYLOAD)
            .is_some_and(|rest| rest.starts_with(':'))
}

/// The broadcast an Unsubscribe control's payload names, if it names a valid one.
pub fn unsubscribe_broadcast(payload: &str) -> Option<crate::ids::BroadcastId> {
    let id = payload.strip_prefix(UNSUBSCRIBE_PAYLOAD)?.strip_prefix(':')?;
    crate::ids::BroadcastId::parse(id).ok()
}

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

/// What a whole text asks for: a STOP or START keyword, or nothing. A START
/// counts only where the text is surely the person's own word to optcast
/// (`may_opt_in`); a STOP counts wherever it is written (the stop wins).
fn keyword_intent(text: Option<&str>, may_opt_in: bool) -> Option<ConsentIntent> {
    match text.and_then(keywords::classify)? {
        Keyword::Stop => Some(ConsentIntent::OptOut(ConsentReason::StopKeyword)),
        Keyword::Start if may_opt_in => Some(ConsentIntent::OptIn(ConsentReason::StartKeyword)),
        Keyword::Start => None,
    }
}

/// Reads the consent intent of one event. What starts a conversation (and
/// so makes a lead) is the person writing or tapping: a message, a postback
/// outside standby, a plugin opt-in. Reactions, referrals, edits and unsends
/// only count for a lead we already know, unless an edit's new text is a
/// STOP keyword, which is the person's explicit word.
///
/// A START keyword re-subscribes only as a message the person typed to
/// optcast: not in `standby` (the thread is another app's or a human
/// agent's, where "start" answers them), not as the title of a quick reply
/// optcast did not send as its resubscribe control (another bot's button,
/// or a marketer's), not as an edit of an older message. A STOP keyword
/// counts in each of those, and as the title of another app's postback
/// button.
pub fn intent(event: &InboundEvent) -> ConsentIntent {
    match &event.kind {
        EventKind::Message(m) => {
            if m.quick_reply_payload.as_deref().is_some_and(is_unsubscribe_payload) {
                return ConsentIntent::OptOut(ConsentReason::UnsubscribeControl);
            }
            if m.quick_reply_payload.as_deref() == Some(RESUBSCRIBE_PAYLOAD) {
                return ConsentIntent::OptIn(ConsentReason::ResubscribeControl);
            }
            let typed_to_us = !event.standby && m.quick_reply_payload.is_none();
            keyword_intent(m.text.as_deref(), typed_to_us).unwrap_or(ConsentIntent::Contact)
        }
        EventKind::Edit(e) => keyword_intent(e.text.as_deref(), false).unwrap_or(ConsentIntent::Activity),
        EventKind::Postback(postback) => match postback.payload.as_deref() {
            Some(p) if is_unsubscribe_payload(p) => ConsentIntent::OptOut(ConsentReason::UnsubscribeControl),
            Some(RESUBSCRIBE_PAYLOAD) => ConsentIntent::OptIn(ConsentReason::ResubscribeControl),
            // Another app's button (a persistent menu, a standby thread's,
            // which carries no payload) titled as a STOP keyword: Messenger
            // shows the tap as the person saying it, as a quick reply's
            // title.
            _ if keyword_intent(postback.title.as_deref(), false).is_some() => {
                ConsentIntent::OptOut(ConsentReason::StopKeyword)
            }
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

/// Whether the event opens or resets Meta's 24-hour messaging window. One
/// of untrusted time (clamped) does not: it may have been sent up to two
/// days before it reached us ([`is_stale`]), and Meta's window runs from
/// when it was sent, so dating it by its receipt could send a message Meta
/// treats as outside the window.
pub fn opens_window(event: &InboundEvent) -> bool {
    if event.time_clamped {
        return false;
    }
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
    /// START delivered after it): the latest that any of their words may
    /// have been sent, a clamped word's time of receipt included. Merely
    /// writing is not a word on consent, so a STOP sent before a first "hi"
    /// but delivered after it still counts.
    pub last_word: EventTime,
    /// When the person was last erased before this lead began (ms), if they
    /// were ([`crate::lead::Subscriber::prior_erasure_at_ms`]): what they
    /// sent until then is the erased past ([`apply`]).
    pub prior_erasure_at_ms: Option<i64>,
    /// Since when the lead has had `status` (ms; 0 when unknown): for an
    /// unreachable lead, when Meta said so ([`reachable_again`]).
    pub status_since_ms: i64,
}

/// Whether `event` is older than the person's last word, so its opt-in or
/// opt-out changes nothing (Meta's retries reorder deliveries). Where the
/// order is unknown, the stop wins.
///
/// A clamped time is the time of receipt standing in for an impossible
/// timestamp: the event was sent no later than it, and no earlier than
/// [`META_RETRY_HORIZON_MS`] before it (Meta stops retrying by then). So:
/// - an opt-out is stale only when both times are real and it is the
///   older;
/// - a real opt-in overrides a word only when it is later (a clamped word's
///   receipt included); at the same millisecond the order is unknown too
///   (two events capped to one time of receipt, Instagram's whole seconds),
///   and an opt-in does not override an unsubscribed lead's last word;
/// - a clamped opt-in overrides a word only when even the earliest it may
///   have been sent is later than that word: two STOP and START of
///   impossible timestamps are not ordered by when they reached us, since a
///   retry of an older START may arrive after a newer STOP.
pub fn is_stale(state: &ConsentState, event: &InboundEvent) -> bool {
    let opt_out = matches!(intent(event), ConsentIntent::OptOut(_));
    let (ms, last) = (event.timestamp_ms, state.last_word);
    if opt_out {
        return !event.time_clamped && !last.clamped && ms < last.ms;
    }
    if event.time_clamped {
        return ms.saturating_sub(META_RETRY_HORIZON_MS) <= last.ms;
    }
    let tie_to_the_stop = ms == last.ms && (last.clamped || state.status == SubscriberStatus::Unsubscribed);
    ms < last.ms || tie_to_the_stop
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

mod apply;
mod reachable;
pub use apply::{apply, Changes, Outcome, Prior};
pub use reachable::reachable_again;

#[cfg(test)]
mod tests;
