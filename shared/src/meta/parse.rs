//! From a delivery's bytes to [`DeliveryItem`]s. The envelope is read with
//! each entry and item kept as raw text, so one unreadable part (an item
//! nested too deep, an entry with a bad id) is quarantined alone and the
//! rest is applied.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::lenient::{count, flag, id, text, time_ms};
use super::*;

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    object: Option<&'a RawValue>,
    #[serde(borrow)]
    entry: Option<&'a RawValue>,
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

/// `changes` fields that carry a messaging item as their `value` (Instagram
/// delivers its messaging webhooks this way too); other fields are ignored.
const MESSAGING_FIELDS: &[&str] = &[
    "messages",
    "messaging_postbacks",
    "messaging_optins",
    "messaging_referral",
    "messaging_referrals",
    "message_reactions",
    "messaging_seen",
    "message_edit",
    "message_deliveries",
    "message_reads",
    "message_echoes",
    "messaging_handover",
    "standby",
];

/// Item fields Meta documents that ask nothing of optcast: recorded only.
const IGNORED_ITEM_FIELDS: &[&str] = &[
    "pass_thread_control",
    "take_thread_control",
    "request_thread_control",
    "app_roles",
    "policy_enforcement",
    "account_linking",
    "game_play",
    "messaging_feedback",
    "response_feedback",
    "checkout_update",
    "payment",
    "pre_checkout",
];

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
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
    let envelope: Envelope = serde_json::from_str(text).map_err(|e| ParseError::NotJson(e.to_string()))?;
    let (Some(object), Some(entries)) = (envelope.object, envelope.entry) else {
        return Err(ParseError::NotADelivery("missing object or entry"));
    };
    let platform = match serde_json::from_str::<&str>(object.get()) {
        Ok("page") => Platform::Messenger,
        Ok("instagram") => Platform::Instagram,
        _ => return Err(ParseError::UnsupportedObject),
    };
    let entries: Vec<&RawValue> =
        serde_json::from_str(entries.get()).map_err(|_| ParseError::NotADelivery("entry is not a list"))?;
    let mut items = Vec::new();
    for entry in entries {
        parse_entry(platform, entry, received_at_ms, &mut items);
    }
    Ok(Delivery {
        platform,
        object: object.get().to_string(),
        items,
    })
}

fn parse_entry(platform: Platform, raw: &RawValue, received_at_ms: i64, out: &mut Vec<DeliveryItem>) {
    let Ok(entry) = serde_json::from_str::<RawEntry>(raw.get()) else {
        out.push(DeliveryItem {
            entry_id: None,
            entry_time: None,
            source: Source::Entry,
            raw: raw.get().to_string(),
            unit: quarantined(None, None, "malformed_entry", raw.get()),
        });
        return;
    };
    let page_id = entry
        .id
        .and_then(|v| serde_json::from_str::<Value>(v.get()).ok())
        .and_then(|v| id(Some(&v)))
        .and_then(|s| PageId::parse(s).ok());
    let entry_time = entry
        .time
        .and_then(|v| serde_json::from_str::<Value>(v.get()).ok())
        .and_then(|v| time_ms(Some(&v)));
    let ctx = Context {
        platform,
        page_id: page_id.as_ref(),
        entry_time,
        received_at_ms,
    };
    let item = |source: Source, raw: &RawValue, unit: Unit| DeliveryItem {
        entry_id: entry.id.map(|v| v.get().to_string()),
        entry_time: entry.time.map(|v| v.get().to_string()),
        source,
        raw: raw.get().to_string(),
        unit,
    };
    for raw in entry.messaging.iter().flatten() {
        out.push(item(Source::Messaging, raw, ctx.item(raw.get(), false)));
    }
    for raw in entry.standby.iter().flatten() {
        out.push(item(Source::Standby, raw, ctx.item(raw.get(), true)));
    }
    for raw in entry.changes.iter().flatten() {
        let Ok(change) = serde_json::from_str::<RawChange>(raw.get()) else {
            let unit = quarantined(page_id.clone(), None, "malformed_change", raw.get());
            out.push(item(Source::Entry, raw, unit));
            continue;
        };
        let unit = if MESSAGING_FIELDS.contains(&change.field.as_str()) {
            ctx.item(change.value.get(), change.field == "standby")
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
        out.push(item(Source::Change(change.field.clone()), change.value, unit));
    }
}

fn quarantined(page_id: Option<PageId>, subject: Option<Psid>, reason: &'static str, raw: &str) -> Unit {
    Unit::Quarantined(Quarantined {
        page_id,
        subject,
        reason,
        sha256: sha256_hex(raw.as_bytes()),
        stop: None,
    })
}

/// A stop anywhere in an item we cannot otherwise read: a `text` that is a
/// STOP keyword, a string equal to the Unsubscribe payload, or Meta's
/// marketing stop status. Depth-first, bounded by the parsed item.
fn find_stop(v: &Value) -> Option<StopSignal> {
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) if s == crate::consent::UNSUBSCRIBE_PAYLOAD => {
                return Some(StopSignal::UnsubscribeControl)
            }
            Value::Object(map) => {
                for (k, x) in map {
                    let text = x.as_str();
                    if k == "text" && text.and_then(crate::keywords::classify) == Some(crate::keywords::Keyword::Stop) {
                        return Some(StopSignal::Keyword);
                    }
                    if k == "notification_messages_status"
                        && text.is_some_and(|t| t.trim().replace(' ', "_").eq_ignore_ascii_case("STOP_NOTIFICATIONS"))
                    {
                        return Some(StopSignal::MarketingStop);
                    }
                    stack.push(x);
                }
            }
            Value::Array(list) => stack.extend(list),
            _ => {}
        }
    }
    None
}

fn hashed_key(sha256: &str) -> String {
    format!("h:{}", &sha256[..40])
}

struct Context<'a> {
    platform: Platform,
    page_id: Option<&'a PageId>,
    entry_time: Option<i64>,
    received_at_ms: i64,
}

impl Context<'_> {
    fn item(&self, raw: &str, standby: bool) -> Unit {
        let page = self.page_id.cloned();
        // serde_json refuses nesting deeper than 128: such an item alone is quarantined.
        let Ok(value) = serde_json::from_str::<Value>(raw) else {
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
        // serde_json's map is ordered by key, so this serialisation is canonical.
        let sha256 = sha256_hex(&serde_json::to_vec(&value).unwrap_or_default());
        let hashed = hashed_key(&sha256);
        let timestamp = time_ms(value.get("timestamp")).or(self.entry_time);
        let time = EventTime::trusted(timestamp, self.received_at_ms);
        let Some((subject_side, kind, key)) = classify(&value, &hashed) else {
            if let Some(field) = IGNORED_ITEM_FIELDS.iter().find(|f| value.get(**f).is_some()) {
                return Unit::Ignored(Ignored {
                    page_id: page_id.clone(),
                    kind: (*field).to_string(),
                    key: hashed,
                });
            }
            if value.get("optin").is_some() && sender.is_none() {
                // Checkbox-plugin opt-ins name a `user_ref`, not a person we can message.
                return Unit::Ignored(Ignored {
                    page_id: page_id.clone(),
                    kind: "optin_user_ref".into(),
                    key: hashed,
                });
            }
            let mut unit = quarantined(page, sender.clone(), "unrecognised", raw);
            if let (Unit::Quarantined(q), Some(subject), Some(signal)) = (&mut unit, sender, find_stop(&value)) {
                q.stop = Some(Box::new(InboundEvent {
                    platform: self.platform,
                    page_id: page_id.clone(),
                    subject,
                    timestamp_ms: time.ms,
                    time_clamped: time.clamped,
                    standby,
                    kind: EventKind::StopSignal(signal),
                    key: format!("{hashed}#stop"),
                    sha256,
                }));
            }
            return unit;
        };
        let Some(subject) = subject_of(subject_side) else {
            let reason = if subject_side == "sender" {
                "sender_id"
            } else {
                "recipient_id"
            };
            return quarantined(page, None, reason, raw);
        };
        Unit::Event(InboundEvent {
            platform: self.platform,
            page_id: page_id.clone(),
            subject,
            timestamp_ms: time.ms,
            time_clamped: time.clamped,
            standby,
            kind,
            key,
            sha256,
        })
    }
}

fn field<'v>(v: &'v Value, path: &[&str]) -> Option<&'v Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

/// A field that is there and not `null` (`"message": null` is no message).
fn present<'v>(v: &'v Value, key: &str) -> Option<&'v Value> {
    v.get(key).filter(|x| !x.is_null())
}

fn mid(v: Option<&Value>) -> Option<Mid> {
    text(v).and_then(|m| Mid::parse(m).ok())
}

fn attachments(v: Option<&Value>) -> Vec<Attachment> {
    v.and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|a| Attachment {
                    kind: text(a.get("type")).unwrap_or_else(|| "unknown".into()),
                    url: text(field(a, &["payload", "url"])),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The event an item carries, whose id names its subject (`sender` or, for
/// an echo, `recipient`), and its idempotency key; `None` if no known kind.
fn classify(v: &Value, hashed: &str) -> Option<(&'static str, EventKind, String)> {
    let key_of = |m: &Option<Mid>| m.as_ref().map_or_else(|| hashed.to_string(), Mid::key);
    if let Some(e) = present(v, "message_edit") {
        let edit = EditEvent {
            mid: mid(e.get("mid")),
            text: text(e.get("text")),
            num_edit: count(e.get("num_edit")),
        };
        // An edit is its own event: the edited mid plus its edit number.
        let key = match (&edit.mid, edit.num_edit) {
            (Some(m), Some(n)) => format!("{}#edit{n}", m.key()),
            _ => hashed.to_string(),
        };
        return Some(("sender", EventKind::Edit(edit), key));
    }
    if let Some(m) = present(v, "message") {
        let id = mid(m.get("mid"));
        if flag(m.get("is_echo")) {
            let echo = EchoEvent {
                mid: id.clone(),
                text: text(m.get("text")),
                metadata: text(m.get("metadata")),
                app_id: count(m.get("app_id")),
                attachments: attachments(m.get("attachments")),
            };
            return Some(("recipient", EventKind::Echo(echo), key_of(&id)));
        }
        if flag(m.get("is_deleted")) {
            // Keyed apart from the message it deletes, which has the mid's key.
            let id = id?;
            let key = format!("{}#deleted", id.key());
            return Some(("sender", EventKind::Unsend { mid: id }, key));
        }
        let message = MessageEvent {
            mid: id.clone(),
            text: text(m.get("text")),
            quick_reply_payload: text(field(m, &["quick_reply", "payload"])),
            attachments: attachments(m.get("attachments")),
            reply_to: text(field(m, &["reply_to", "mid"])),
        };
        return Some(("sender", EventKind::Message(message), key_of(&id)));
    }
    if let Some(p) = present(v, "postback") {
        let id = mid(p.get("mid"));
        let postback = PostbackEvent {
            mid: id.clone(),
            title: text(p.get("title")),
            payload: text(p.get("payload")),
            referral_ref: text(field(p, &["referral", "ref"])),
        };
        return Some(("sender", EventKind::Postback(postback), key_of(&id)));
    }
    if let Some(o) = present(v, "optin") {
        if o.get("user_ref").is_some() && v.get("sender").is_none() {
            return None;
        }
        let status =
            text(o.get("notification_messages_status")).map(|s| s.trim().replace(' ', "_").to_ascii_uppercase());
        let status = match status.as_deref() {
            Some("STOP_NOTIFICATIONS") => Some(MarketingStatus::Stop),
            Some("RESUME_NOTIFICATIONS") => Some(MarketingStatus::Resume),
            _ => None,
        };
        let token = text(o.get("notification_messages_token"));
        let optin = OptInEvent {
            marketing: text(o.get("type")).as_deref() == Some("notification_messages") || token.is_some(),
            payload: text(o.get("payload")),
            ref_: text(o.get("ref")),
            token,
            token_expiry_ms: time_ms(o.get("token_expiry_timestamp")),
            timezone: text(o.get("notification_messages_timezone")),
            status,
        };
        return Some(("sender", EventKind::OptIn(optin), hashed.to_string()));
    }
    if let Some(r) = present(v, "referral") {
        let kind = EventKind::Referral {
            ref_: text(r.get("ref")),
            source: text(r.get("source")),
        };
        return Some(("sender", kind, hashed.to_string()));
    }
    let timestamp = time_ms(v.get("timestamp")).unwrap_or(0);
    if let Some(d) = present(v, "delivery") {
        let mids = d
            .get("mids")
            .and_then(Value::as_array)
            .map(|l| l.iter().filter_map(|m| text(Some(m))).collect())
            .unwrap_or_default();
        let watermark = time_ms(d.get("watermark")).unwrap_or(timestamp);
        return Some(("sender", EventKind::Delivery { mids, watermark }, hashed.to_string()));
    }
    if let Some(r) = present(v, "read") {
        let watermark = time_ms(r.get("watermark")).unwrap_or(timestamp);
        return Some(("sender", EventKind::Read { watermark }, hashed.to_string()));
    }
    if let Some(r) = present(v, "reaction") {
        let kind = EventKind::Reaction {
            mid: text(r.get("mid")),
            action: text(r.get("action")).unwrap_or_else(|| "react".into()),
        };
        return Some(("sender", kind, hashed.to_string()));
    }
    None
}

/// A delivery holding only `items` (a chunk of a large delivery, or one
/// quarantined item), built from their raw text: parsing it gives the same
/// units, keys and proof hashes as in the original.
pub fn rebuild_delivery<'a>(object: &str, items: impl IntoIterator<Item = &'a DeliveryItem>) -> String {
    let mut entries = Vec::new();
    for item in items {
        if item.source == Source::Entry && item.entry_id.is_none() {
            entries.push(item.raw.clone());
            continue;
        }
        let mut entry = String::from("{");
        if let Some(id) = &item.entry_id {
            entry.push_str(&format!("\"id\":{id},"));
        }
        if let Some(time) = &item.entry_time {
            entry.push_str(&format!("\"time\":{time},"));
        }
        match &item.source {
            Source::Messaging => entry.push_str(&format!("\"messaging\":[{}]", item.raw)),
            Source::Standby => entry.push_str(&format!("\"standby\":[{}]", item.raw)),
            Source::Change(field) => {
                let field = serde_json::to_string(field).unwrap_or_else(|_| "\"\"".into());
                entry.push_str(&format!("\"changes\":[{{\"field\":{field},\"value\":{}}}]", item.raw));
            }
            // A malformed change: kept as the entry's only change.
            Source::Entry => entry.push_str(&format!("\"changes\":[{}]", item.raw)),
        }
        entry.push('}');
        entries.push(entry);
    }
    format!("{{\"object\":{object},\"entry\":[{}]}}", entries.join(","))
}
