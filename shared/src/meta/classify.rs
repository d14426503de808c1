//! What one item is: the event kinds Meta documents, read leniently, with
//! the side (`sender`, or `recipient` for an echo) that names its person and
//! its idempotency key; and, for an item of a kind we do not know, whether it
//! still carries a stop.

use serde_json::Value;

use super::lenient::{count, flag, text, time_ms};
use super::*;

/// A stop anywhere in an item we cannot otherwise read: a `text` that is a
/// STOP keyword, a string equal to the Unsubscribe payload, or Meta's
/// marketing stop status. Depth-first, bounded by the parsed item.
pub(super) fn find_stop(v: &Value) -> Option<StopSignal> {
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) if crate::consent::is_unsubscribe_payload(s) => {
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
pub(super) fn classify(v: &Value, hashed: &str) -> Option<(&'static str, EventKind, String)> {
    let key_of = |m: &Option<Mid>| m.as_ref().map_or_else(|| hashed.to_string(), |m| m.key().to_string());
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
            // Meta's stop or resume status is a marketing-messages event
            // whatever `type` says (or omits).
            marketing: text(o.get("type")).is_some_and(|t| t.eq_ignore_ascii_case("notification_messages"))
                || token.is_some()
                || status.is_some(),
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
