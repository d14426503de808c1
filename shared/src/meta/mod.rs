//! Meta webhook deliveries (`object: "page"` and `object: "instagram"`),
//! parsed leniently into flat, typed units. Every item of `entry[].messaging`,
//! `entry[].standby` and `entry[].changes` becomes exactly one
//! [`DeliveryItem`]: an [`InboundEvent`] to apply, an [`Ignored`] item Meta
//! documents but that asks nothing of us (recorded), or a [`Quarantined`]
//! one that cannot be applied (kept, sealed, for replay). One bad part never
//! sinks the rest of a delivery, and nothing validly signed is dropped.
//!
//! Source of the shapes: Meta's webhook-event reference
//! (developers.facebook.com/docs/messenger-platform/reference/webhook-events)
//! and `../shared/docs/meta-platform.md`.

mod classify;
mod fast;
mod fields;
mod lenient;
mod parse;
mod proof;
mod rebuild;
mod time;

pub use lenient::SECONDS_BELOW;
pub use parse::parse_delivery;
pub use proof::ProofHash;
pub use rebuild::rebuild_delivery;
pub use time::{EventTime, EARLIEST_EVENT_MS, MAX_FUTURE_SKEW_MS};

use crate::ids::{Mid, PageId, Psid};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    Messenger,
    Instagram,
}

/// Why a whole delivery could not be read. Each is permanent for that body.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("body is not JSON: {0}")]
    NotJson(String),
    #[error("not a Meta delivery: {0}")]
    NotADelivery(&'static str),
    #[error("unsupported object type")]
    UnsupportedObject,
}

impl ParseError {
    /// A short, stable name (quarantine reasons, metrics).
    pub fn code(&self) -> &'static str {
        match self {
            ParseError::NotJson(_) => "not_json",
            ParseError::NotADelivery(_) => "not_a_delivery",
            ParseError::UnsupportedObject => "unsupported_object",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Attachment {
    pub kind: String,
    pub url: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MessageEvent {
    /// Absent in some real deliveries; the event is then keyed by its hash.
    pub mid: Option<Mid>,
    pub text: Option<String>,
    pub quick_reply_payload: Option<String>,
    pub attachments: Vec<Attachment>,
    pub reply_to: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EchoEvent {
    pub mid: Option<Mid>,
    pub text: Option<String>,
    pub metadata: Option<String>,
    pub app_id: Option<u64>,
    pub attachments: Vec<Attachment>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PostbackEvent {
    pub mid: Option<Mid>,
    pub title: Option<String>,
    /// Numbers are read as their decimal text.
    pub payload: Option<String>,
    pub referral_ref: Option<String>,
}

/// `message_edit`: the person changed the text of a message they sent.
#[derive(Debug, Clone, PartialEq)]
pub struct EditEvent {
    /// The edited message.
    pub mid: Option<Mid>,
    pub text: Option<String>,
    /// How many times the message has been edited (1 for the first edit).
    pub num_edit: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarketingStatus {
    Stop,
    Resume,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OptInEvent {
    /// `notification_messages` (marketing messages) or a plugin/other opt-in.
    pub marketing: bool,
    pub payload: Option<String>,
    pub ref_: Option<String>,
    pub token: Option<String>,
    pub token_expiry_ms: Option<i64>,
    pub timezone: Option<String>,
    pub status: Option<MarketingStatus>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    Message(MessageEvent),
    Echo(EchoEvent),
    Postback(PostbackEvent),
    OptIn(OptInEvent),
    Referral {
        ref_: Option<String>,
        source: Option<String>,
    },
    Delivery {
        mids: Vec<String>,
        watermark: i64,
    },
    Read {
        watermark: i64,
    },
    Reaction {
        mid: Option<String>,
        action: String,
    },
    Edit(EditEvent),
    /// An unsent (deleted) message: Instagram's `is_deleted: true`.
    Unsend {
        mid: Mid,
    },
    /// A stop found in an item of a kind we do not know (see [`Quarantined::stop`]).
    StopSignal(StopSignal),
}

/// Where a stop was found in an item we could not otherwise read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    /// A `text` field whose whole value is a STOP keyword.
    Keyword,
    /// A payload equal to the Unsubscribe control's.
    UnsubscribeControl,
    /// `notification_messages_status: STOP_NOTIFICATIONS`.
    MarketingStop,
}

impl EventKind {
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Message(_) => "message",
            EventKind::Echo(_) => "echo",
            EventKind::Postback(_) => "postback",
            EventKind::OptIn(_) => "optin",
            EventKind::Referral { .. } => "referral",
            EventKind::Delivery { .. } => "delivery",
            EventKind::Read { .. } => "read",
            EventKind::Reaction { .. } => "reaction",
            EventKind::Edit(_) => "edit",
            EventKind::Unsend { .. } => "unsend",
            EventKind::StopSignal(_) => "stop_signal",
        }
    }
}

#[derive(Debug, Clone)]
pub struct InboundEvent {
    pub platform: Platform,
    pub page_id: PageId,
    /// The person the event is about: the sender, or the recipient of an echo.
    pub subject: Psid,
    /// Event time (ms) as trusted: Meta's timestamp (seconds read as such),
    /// or, when that is missing or impossible, the time we received it.
    pub timestamp_ms: i64,
    /// `timestamp_ms` is the time of receipt standing in for a missing,
    /// ancient or future timestamp: it never outranks a real event time.
    pub time_clamped: bool,
    pub standby: bool,
    pub kind: EventKind,
    /// The idempotency key within (page, subject): Meta's mid where there is
    /// one (hashed when it could break a key), else a hash of the item.
    pub key: std::sync::Arc<str>,
    /// The consent proof: read it with [`InboundEvent::proof_sha256`].
    pub sha256: ProofHash,
}

/// Equal when every value and the proof are (a proof may not be hashed yet).
impl PartialEq for InboundEvent {
    fn eq(&self, other: &Self) -> bool {
        let InboundEvent {
            platform,
            page_id,
            subject,
            timestamp_ms,
            time_clamped,
            standby,
            kind,
            key,
            sha256: _,
        } = self;
        (
            platform,
            page_id,
            subject,
            timestamp_ms,
            time_clamped,
            standby,
            kind,
            key,
        ) == (
            &other.platform,
            &other.page_id,
            &other.subject,
            &other.timestamp_ms,
            &other.time_clamped,
            &other.standby,
            &other.kind,
            &other.key,
        ) && self.proof_sha256() == other.proof_sha256()
    }
}

/// An item Meta documents that changes nothing here (handover, a `changes`
/// field that is not messaging, …): recorded as seen, never applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Ignored {
    pub page_id: PageId,
    pub kind: String,
    pub key: String,
}

/// An item that cannot be applied: kept, sealed, for inspection and replay
/// (unless its person was erased after sending it: see [`Quarantined::time`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Quarantined {
    pub page_id: Option<PageId>,
    pub subject: Option<Psid>,
    /// Short, stable reason (`malformed_item`, `unrecognised`, …;
    /// `entry_id`, `sender_id`, `recipient_id`: that id is missing or is
    /// not a Meta id, see [`crate::ids::check_meta_id`]).
    pub reason: &'static str,
    /// SHA-256 (hex) of the item's raw bytes: names it among its delivery.
    pub sha256: String,
    /// An item of a kind we do not know that still carries a stop (a STOP
    /// text, the Unsubscribe payload, Meta's marketing stop) from a known
    /// sender on a known page: that stop is applied, the item kept (as
    /// above).
    pub stop: Option<Box<InboundEvent>>,
    /// The item's trusted time, for an item of a known person on a known
    /// page: one sent before that person's erasure (or at a time that could
    /// not be trusted, when they have been erased) is recorded, not kept.
    pub time: Option<EventTime>,
}

impl Quarantined {
    /// The item's key for a processed-event marker, from its raw bytes'
    /// hash, as an item without an event's key is keyed.
    pub fn key(&self) -> String {
        parse::hashed_key(&self.sha256)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Unit {
    Event(InboundEvent),
    Ignored(Ignored),
    Quarantined(Quarantined),
}

/// Where an item sat in its delivery, so a delivery holding only some items
/// (a chunk, a quarantined item) can be rebuilt with the same meaning.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Messaging,
    Standby,
    /// `entry[].changes[]` with this `field`; the item is the change's `value`.
    Change(String),
    /// The whole entry (one that could not be read at all).
    Entry,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryItem {
    /// The entry's `id` and `time`, as raw JSON text (copied into each of
    /// the entry's items: they are short, so held inline, and shared only
    /// when longer than 23 bytes).
    pub entry_id: Option<smol_str::SmolStr>,
    pub entry_time: Option<smol_str::SmolStr>,
    pub source: Source,
    /// What the item became, with its JSON text: read them with
    /// [`DeliveryItem::unit`] and [`DeliveryItem::raw`].
    pub body: ItemBody,
}

/// An item's JSON text and what it became. A text rebuilt from its event
/// is only ever an event's: the type says so.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemBody {
    /// The exact text as received, and what it became.
    Received(std::sync::Arc<str>, Unit),
    /// A text message read on the fast path, which keeps no text: its
    /// canonical JSON is rebuilt from its event when asked for (a chunk, a
    /// quarantined delivery, a raw copy rewritten by erasure). It parses to
    /// the same unit, key and proof as the text received.
    TextMessage(InboundEvent),
}

/// What an item became, borrowed from its [`ItemBody`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UnitRef<'a> {
    Event(&'a InboundEvent),
    Ignored(&'a Ignored),
    Quarantined(&'a Quarantined),
}

impl DeliveryItem {
    /// What the item became.
    pub fn unit(&self) -> UnitRef<'_> {
        match &self.body {
            ItemBody::Received(_, Unit::Event(e)) | ItemBody::TextMessage(e) => UnitRef::Event(e),
            ItemBody::Received(_, Unit::Ignored(i)) => UnitRef::Ignored(i),
            ItemBody::Received(_, Unit::Quarantined(q)) => UnitRef::Quarantined(q),
        }
    }

    /// What the item became, owned.
    pub fn into_unit(self) -> Unit {
        match self.body {
            ItemBody::Received(_, unit) => unit,
            ItemBody::TextMessage(e) => Unit::Event(e),
        }
    }

    /// The item's JSON text: as received, or rebuilt canonically for a
    /// fast-path text message ([`ItemBody::TextMessage`]).
    pub fn raw(&self) -> std::borrow::Cow<'_, str> {
        match &self.body {
            ItemBody::Received(raw, _) => std::borrow::Cow::Borrowed(raw),
            ItemBody::TextMessage(e) => e.canonical_text_message().unwrap_or_default().into(),
        }
    }

    /// The page and person whose events must stay in order together.
    pub fn lane(&self) -> (Option<&PageId>, Option<&Psid>) {
        match self.unit() {
            UnitRef::Event(e) => (Some(&e.page_id), Some(&e.subject)),
            UnitRef::Ignored(i) => (Some(&i.page_id), None),
            UnitRef::Quarantined(q) => (q.page_id.as_ref(), q.subject.as_ref()),
        }
    }
}

/// A parsed delivery: its platform, `object` (raw JSON text) and every item.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub platform: Platform,
    pub object: String,
    pub items: Vec<DeliveryItem>,
}

impl Delivery {
    pub fn events(&self) -> impl Iterator<Item = &InboundEvent> {
        self.items.iter().filter_map(|i| match i.unit() {
            UnitRef::Event(e) => Some(e),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests;
