//! From a delivery's bytes to [`DeliveryItem`]s. The envelope is read with
//! each entry and item kept as raw text, so one unreadable part (an item
//! nested too deep, an entry with a bad id) is quarantined alone and the
//! rest is applied.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::classify::{classify, find_stop};
use super::fast;
use super::fields::{is_messaging_item, IGNORED_ITEM_FIELDS, MESSAGING_FIELDS};
use super::lenient::{self, id, time_ms};
use super::proof::{canonical_sha256, hex_digest, ProofHash};
use super::*;

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    object: Option<&'a RawValue>,
    #[serde(borrow)]
    entry: Option<&'a RawValue>,
}

/// The envelope with its entries read in the same pass: the usual case.
#[derive(Deserialize)]
struct EntriesEnvelope<'a> {
    #[serde(borrow)]
    object: Option<&'a RawValue>,
    #[serde(borrow)]
    entry: Option<Vec<RawEntry<'a>>>,
}

#[derive(Deserialize)]
struct RawEntry<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    time: Option<&'a RawValue>,
    #[serde(borrow, default)]
    messaging: Option<Vec<&'a RawValue>>,
    #[serde(borrow, default)]
    standby: Option<Vec<&'a RawValue>>,
    #[serde(borrow, default)]
    changes: Option<Vec<&'a RawValue>>,
}

#[derive(Deserialize)]
struct RawChange<'a> {
    field: String,
    #[serde(borrow)]
    value: &'a RawValue,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex_digest(Sha256::new_with_prefix(bytes))
}

/// Parses a whole delivery received at `received_at_ms`. Fails only when the
/// body as a whole is not a Meta delivery (not JSON, no `object`/`entry`, an
/// object type we do not serve); every part inside becomes one item.
///
/// # Errors
/// [`ParseError`] for a body that is not a Meta delivery at all.
pub fn parse_delivery(body: &[u8], received_at_ms: i64) -> Result<Delivery, ParseError> {
    let text = std::str::from_utf8(body).map_err(|e| ParseError::NotJson(e.to_string()))?;
    // A UTF-8 byte-order mark before the JSON is not part of it.
    let text = text.trim_start_matches('\u{feff}');
    // The usual delivery, all text messages, in one typed pass.
    if let Some(delivery) = fast::text_delivery(text, received_at_ms) {
        return Ok(delivery);
    }
    general_delivery(text, received_at_ms)
}

/// Any delivery: its envelope with each entry and item kept as raw text.
pub(super) fn general_delivery(text: &str, received_at_ms: i64) -> Result<Delivery, ParseError> {
    // Usually the envelope and every entry read in one pass; only when an
    // entry does not are the entries taken one by one, so the bad one alone
    // is quarantined.
    if let Ok(EntriesEnvelope {
        object: Some(object),
        entry: Some(entries),
    }) = serde_json::from_str(text)
    {
        let platform = platform(object.get())?;
        let mut items = Vec::with_capacity(entries.iter().map(RawEntry::len).sum());
        for entry in &entries {
            parse_entry_fields(platform, entry, received_at_ms, &mut items);
        }
        return Ok(delivery(platform, object, items));
    }
    let envelope: Envelope = serde_json::from_str(text).map_err(|e| ParseError::NotJson(e.to_string()))?;
    let (Some(object), Some(entries)) = (envelope.object, envelope.entry) else {
        return Err(ParseError::NotADelivery("missing object or entry"));
    };
    let platform = platform(object.get())?;
    let entries: Vec<&RawValue> =
        serde_json::from_str(entries.get()).map_err(|_| ParseError::NotADelivery("entry is not a list"))?;
    let mut items = Vec::new();
    for entry in entries {
        parse_entry(platform, entry, received_at_ms, &mut items);
    }
    Ok(delivery(platform, object, items))
}

/// The platform of a delivery whose `object` is the raw JSON text `object`.
pub(super) fn platform(object: &str) -> Result<Platform, ParseError> {
    match serde_json::from_str::<&str>(object) {
        Ok("page") => Ok(Platform::Messenger),
        Ok("instagram") => Ok(Platform::Instagram),
        _ => Err(ParseError::UnsupportedObject),
    }
}

fn delivery(platform: Platform, object: &RawValue, items: Vec<DeliveryItem>) -> Delivery {
    Delivery {
        platform,
        object: object.get().to_string(),
        items,
    }
}

impl RawEntry<'_> {
    /// How many items the entry holds.
    fn len(&self) -> usize {
        [&self.messaging, &self.standby, &self.changes]
            .iter()
            .map(|list| list.as_ref().map_or(0, Vec::len))
            .sum()
    }
}

fn parse_entry(platform: Platform, raw: &RawValue, received_at_ms: i64, out: &mut Vec<DeliveryItem>) {
    let Ok(entry) = serde_json::from_str::<RawEntry>(raw.get()) else {
        out.push(DeliveryItem {
            entry_id: None,
            entry_time: None,
            source: Source::Entry,
            body: ItemBody::Received(raw.get().into(), quarantined(None, None, "malformed_entry", raw.get())),
        });
        return;
    };
    parse_entry_fields(platform, &entry, received_at_ms, out);
}

/// An entry's page (its `id`, when that is a Meta id) and `time` (ms), from
/// their raw JSON texts.
pub(super) fn entry_context(id: Option<&str>, time: Option<&str>) -> (Option<PageId>, Option<i64>) {
    let page_id = id
        .and_then(|v| serde_json::from_str::<Value>(v).ok())
        .and_then(|v| lenient::id(Some(&v)).and_then(|s| PageId::parse(s).ok()));
    let entry_time = time
        .and_then(|v| serde_json::from_str::<Value>(v).ok())
        .and_then(|v| time_ms(Some(&v)));
    (page_id, entry_time)
}

fn parse_entry_fields(platform: Platform, entry: &RawEntry, received_at_ms: i64, out: &mut Vec<DeliveryItem>) {
    let (page_id, entry_time) = entry_context(entry.id.map(RawValue::get), entry.time.map(RawValue::get));
    let ctx = Context {
        platform,
        page_id: page_id.as_ref(),
        entry_time,
        received_at_ms,
    };
    let (entry_id, entry_time) = (entry.id.map(|v| v.get().into()), entry.time.map(|v| v.get().into()));
    let item = |source: Source, raw: Arc<str>, unit: Unit| DeliveryItem {
        entry_id: Option::clone(&entry_id),
        entry_time: Option::clone(&entry_time),
        source,
        body: ItemBody::Received(raw, unit),
    };
    for raw in entry.messaging.iter().flatten() {
        let raw: Arc<str> = raw.get().into();
        out.push(item(Source::Messaging, raw.clone(), ctx.item(&raw, false)));
    }
    for raw in entry.standby.iter().flatten() {
        let raw: Arc<str> = raw.get().into();
        out.push(item(Source::Standby, raw.clone(), ctx.item(&raw, true)));
    }
    for raw in entry.changes.iter().flatten() {
        let Ok(change) = serde_json::from_str::<RawChange>(raw.get()) else {
            let unit = quarantined(page_id.clone(), None, "malformed_change", raw.get());
            out.push(item(Source::Entry, raw.get().into(), unit));
            continue;
        };
        let value: Arc<str> = change.value.get().into();
        let unit = if MESSAGING_FIELDS.contains(&change.field.as_str()) || is_messaging_item(&value) {
            ctx.item(&value, change.field == "standby")
        } else {
            match &page_id {
                Some(page) => Unit::Ignored(Ignored {
                    page_id: page.clone(),
                    kind: format!("change:{}", change.field.chars().take(64).collect::<String>()),
                    key: hashed_key(&sha256_hex(raw.get().as_bytes())),
                }),
                None => quarantined(None, None, "entry_id", raw.get()),
            }
        };
        out.push(item(Source::Change(change.field.clone()), value, unit));
    }
}

fn quarantined(page_id: Option<PageId>, subject: Option<Psid>, reason: &'static str, raw: &str) -> Unit {
    Unit::Quarantined(Quarantined {
        page_id,
        subject,
        reason,
        sha256: sha256_hex(raw.as_bytes()),
        stop: None,
        time: None,
    })
}

/// An item's key from its SHA-256 (hex): `h:` and 40 of its digits.
pub(super) fn hashed_key(sha256: &str) -> String {
    format!("h:{}", &sha256[..40])
}

pub(super) struct Context<'a> {
    pub platform: Platform,
    pub page_id: Option<&'a PageId>,
    pub entry_time: Option<i64>,
    pub received_at_ms: i64,
}

impl Context<'_> {
    /// The trusted time of an item whose own timestamp is `item_ms`. One
    /// without a timestamp is dated by its entry's `time` (or, without a
    /// trusted one, its receipt) and marked clamped: the entry's time is
    /// when Meta sent the update, not when the person wrote, so it only
    /// bounds that time, as a receipt does. It was taken as the time the
    /// person wrote: an untimed START then undid a STOP sent before it, and
    /// an untimed "hi" after an erasure made a new lead of words that may
    /// have been sent before it.
    fn event_time(&self, item_ms: Option<i64>) -> EventTime {
        match item_ms {
            Some(ms) => EventTime::trusted(Some(ms), self.received_at_ms),
            None => EventTime {
                clamped: true,
                ..EventTime::trusted(self.entry_time, self.received_at_ms)
            },
        }
    }

    pub(super) fn item(&self, raw: &Arc<str>, standby: bool) -> Unit {
        if let Some(page_id) = self.page_id {
            if let Some(m) = fast::text_message(raw, page_id) {
                return Unit::Event(self.text_event(page_id, m, standby));
            }
        }
        self.general_item(raw, standby)
    }

    /// The event of a text message read on the fast path.
    pub(super) fn text_event(&self, page_id: &PageId, m: fast::TextMessage, standby: bool) -> InboundEvent {
        let time = self.event_time(m.timestamp_ms());
        InboundEvent {
            platform: self.platform,
            page_id: page_id.clone(),
            subject: m.sender,
            timestamp_ms: time.ms,
            time_clamped: time.clamped,
            standby,
            key: m.mid.key(),
            // Its key is the mid: the proof is hashed only if asked for.
            sha256: ProofHash::text_message(m.timestamp),
            kind: EventKind::Message(MessageEvent {
                mid: Some(m.mid),
                text: Some(m.text),
                quick_reply_payload: None,
                attachments: Vec::new(),
                reply_to: None,
            }),
        }
    }

    /// Any item, read through a `serde_json::Value`.
    pub(super) fn general_item(&self, raw: &Arc<str>, standby: bool) -> Unit {
        let page = self.page_id.cloned();
        // serde_json refuses nesting deeper than 128: such an item alone is
        // quarantined. A lone surrogate (an emoji cut in half) is repaired.
        let parsed = serde_json::from_str::<Value>(raw).or_else(|e| {
            super::lenient::repair_lone_surrogates(raw)
                .and_then(|fixed| serde_json::from_str(&fixed).ok())
                .ok_or(e)
        });
        let Ok(value) = parsed else {
            return quarantined(page, None, "malformed_item", raw);
        };
        let subject_of = |key: &str| id(value.get(key).and_then(|p| p.get("id"))).and_then(|s| Psid::parse(s).ok());
        let sender = subject_of("sender");
        let Some(page_id) = self.page_id else {
            return quarantined(None, sender, "entry_id", raw);
        };
        if !value.is_object() {
            return quarantined(page, None, "not_an_object", raw);
        }
        // serde_json's map is ordered by key, so this serialisation is
        // canonical; it is streamed into the hash, never built in memory.
        let hex = canonical_sha256(&value);
        let hashed = hashed_key(&hex);
        let sha256 = ProofHash::computed(hex);
        let time = self.event_time(time_ms(value.get("timestamp")));
        let event = |subject: Psid, kind: EventKind, key: String| InboundEvent {
            platform: self.platform,
            page_id: page_id.clone(),
            subject,
            timestamp_ms: time.ms,
            time_clamped: time.clamped,
            standby,
            kind,
            key: key.into(),
            sha256: sha256.clone(),
        };
        // Quarantined with its person's time (when it names one), and a
        // STOP they wrote in it honoured: an opt-out is never lost.
        let quarantine_with_stop = |reason: &'static str, subject: Option<Psid>, their_words: bool| {
            let mut unit = quarantined(page.clone(), subject.clone(), reason, raw);
            if let Unit::Quarantined(q) = &mut unit {
                q.time = subject.is_some().then_some(time);
                let stop = if their_words { find_stop(&value) } else { None };
                if let (Some(subject), Some(signal)) = (subject, stop) {
                    q.stop = Some(Box::new(event(
                        subject,
                        EventKind::StopSignal(signal),
                        format!("{hashed}#stop"),
                    )));
                }
            }
            unit
        };
        let Some((subject_side, kind, key)) = classify(&value, &hashed) else {
            if let Some(field) = IGNORED_ITEM_FIELDS.iter().find(|f| value.get(**f).is_some()) {
                return Unit::Ignored(Ignored {
                    page_id: page_id.clone(),
                    kind: (*field).to_string(),
                    key: hashed,
                });
            }
            if value.get("optin").is_some() && value.get("sender").is_none() {
                // Checkbox-plugin opt-ins name a `user_ref`, not a person we
                // can message. A sender whose id is not Meta's is no such case.
                return Unit::Ignored(Ignored {
                    page_id: page_id.clone(),
                    kind: "optin_user_ref".into(),
                    key: hashed,
                });
            }
            return quarantine_with_stop("unrecognised", sender, true);
        };
        let Some(subject) = subject_of(subject_side) else {
            let reason = if subject_side == "sender" {
                "sender_id"
            } else {
                "recipient_id"
            };
            return quarantined(page, None, reason, raw);
        };
        // The other side (the page; for an echo, the page as sender) is a
        // Meta id too where the item names it: an item naming anything else
        // is not Meta's, and was applied.
        let (other, reason) = if subject_side == "sender" {
            ("recipient", "recipient_id")
        } else {
            ("sender", "sender_id")
        };
        if let Some(named) = value.get(other).and_then(|p| p.get("id")) {
            if id(Some(named)).and_then(|s| PageId::parse(s).ok()).is_none() {
                // As an item of unknown kind (an echo's words are the
                // page's, not theirs).
                return quarantine_with_stop(reason, Some(subject), subject_side == "sender");
            }
        }
        Unit::Event(event(subject, kind, key))
    }
}
