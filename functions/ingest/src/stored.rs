//! What ingest keeps of an event besides consent: the lead's activity
//! (window, tags, watermarks, marketing token) and the sealed message body,
//! bounded so no input can make an item DynamoDB refuses (400 KB).

use std::collections::BTreeMap;

use optcast_shared::consent;
use optcast_shared::crypto::{self, field_aad, DataKey};
use optcast_shared::ids::Psid;
use optcast_shared::lead::{MarketingToken, Subscriber};
use optcast_shared::meta::{self, EventKind, InboundEvent};
use optcast_shared::store::StoredMessage;

/// Longest message text kept (bytes): Meta's own limits are far below it
/// (2,000 characters per sent message); anything longer is cut, and the body
/// says how long it was.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// Longest other field kept (titles, payloads, metadata, URLs), bytes.
pub const MAX_FIELD_BYTES: usize = 2 * 1024;
/// Most attachments listed per message (Meta sends at most a handful).
pub const MAX_ATTACHMENTS: usize = 20;
/// Longest marketing-messages token kept (bytes); Meta's are ~100. A longer
/// one is not a token Meta issued and is not stored.
pub const MAX_TOKEN_BYTES: usize = 2 * 1024;

/// `text` cut to at most `max` bytes on a character boundary, and whether it was cut.
fn cap(text: &str, max: usize) -> (&str, bool) {
    if text.len() <= max {
        return (text, false);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (&text[..end], true)
}

/// Window, marketing token, tags and watermarks: everything but consent.
pub fn update_activity(sub: &mut Subscriber, event: &InboundEvent, key: &DataKey, at_ms: i64, stale_intent: bool) {
    if consent::opens_window(event) {
        sub.last_inbound_at_ms = Some(sub.last_inbound_at_ms.unwrap_or(0).max(at_ms));
    }
    match &event.kind {
        EventKind::OptIn(o) => {
            if let Some(r) = o.ref_.as_ref().or(o.payload.as_ref().filter(|_| !o.marketing)) {
                add_tag(sub, r);
            }
            if o.marketing && !stale_intent {
                let stopped = o.status == Some(meta::MarketingStatus::Stop);
                let token = o.token.as_ref().filter(|t| t.len() <= MAX_TOKEN_BYTES);
                let sealed = match token {
                    Some(token) => Some(crypto::seal(
                        key,
                        &field_aad("marketing-token", &sub.page_id, &sub.psid, ""),
                        token.as_bytes(),
                    )),
                    None => sub.marketing.as_ref().map(|m| m.sealed.clone()),
                };
                if let Some(sealed) = sealed {
                    let previous = sub.marketing.take();
                    let timezone = o.timezone.as_deref().map(|t| cap(t, 64).0.to_string());
                    sub.marketing = Some(MarketingToken {
                        sealed,
                        expires_at_ms: o.token_expiry_ms.or(previous.as_ref().and_then(|p| p.expires_at_ms)),
                        stopped,
                        timezone: timezone.or(previous.and_then(|p| p.timezone)),
                    });
                }
            }
        }
        EventKind::Referral { ref_: Some(r), .. } => add_tag(sub, r),
        EventKind::Postback(p) => {
            if let Some(r) = &p.referral_ref {
                add_tag(sub, r);
            }
        }
        EventKind::Delivery { watermark, .. } => sub.delivered_watermark = sub.delivered_watermark.max(*watermark),
        EventKind::Read { watermark } => sub.read_watermark = sub.read_watermark.max(*watermark),
        _ => {}
    }
}

fn add_tag(sub: &mut Subscriber, tag: &str) {
    optcast_shared::tags::add(&mut sub.tags, tag);
}

/// The body kept of a message, echo, postback or edit (sealed under the
/// subject's key with `key` as its identity), or `None` for other events.
pub fn stored_message(
    event: &InboundEvent,
    psid: &Psid,
    data_key: &DataKey,
    key: &str,
    at_ms: i64,
    expires_at_s: i64,
) -> Option<StoredMessage> {
    let mut body = BTreeMap::<&str, serde_json::Value>::new();
    let mut cut = Vec::new();
    let mut field = |name: &'static str, value: &Option<String>, max: usize| {
        let value = value.as_deref().map(|v| {
            let (kept, was_cut) = cap(v, max);
            if was_cut {
                cut.push(serde_json::json!({"field": name, "bytes": v.len()}));
            }
            kept.to_string()
        });
        body.insert(name, value.into());
    };
    let mut attachments = 0;
    let mut num_edit = 0;
    let (direction, kind, list) = match &event.kind {
        EventKind::Message(m) => {
            field("text", &m.text, MAX_TEXT_BYTES);
            field("quick_reply_payload", &m.quick_reply_payload, MAX_FIELD_BYTES);
            field("reply_to", &m.reply_to, MAX_FIELD_BYTES);
            ("in", "message", Some(&m.attachments))
        }
        EventKind::Echo(e) => {
            field("text", &e.text, MAX_TEXT_BYTES);
            field("metadata", &e.metadata, MAX_FIELD_BYTES);
            ("out", "echo", Some(&e.attachments))
        }
        EventKind::Postback(p) => {
            field("title", &p.title, MAX_FIELD_BYTES);
            field("payload", &p.payload, MAX_FIELD_BYTES);
            ("in", "postback", None)
        }
        EventKind::Edit(e) => {
            field("text", &e.text, MAX_TEXT_BYTES);
            num_edit = e.num_edit.unwrap_or(1);
            ("in", "message", None)
        }
        _ => return None,
    };
    if let Some(list) = list {
        attachments = list.len().min(MAX_ATTACHMENTS) as u32;
        if list.len() > MAX_ATTACHMENTS {
            cut.push(serde_json::json!({"field": "attachments", "count": list.len()}));
        }
        let kept: Vec<_> = list
            .iter()
            .take(MAX_ATTACHMENTS)
            .map(|a| {
                serde_json::json!({
                    "type": cap(&a.kind, 64).0,
                    "url": a.url.as_deref().map(|u| cap(u, MAX_FIELD_BYTES).0),
                })
            })
            .collect();
        body.insert("attachments", kept.into());
    }
    if num_edit > 0 {
        body.insert("edited", num_edit.into());
    }
    if !cut.is_empty() {
        body.insert("truncated", cut.into());
    }
    let plaintext = serde_json::to_vec(&body).unwrap_or_default();
    let sealed_body = crypto::seal(data_key, &field_aad("message", &event.page_id, psid, key), &plaintext);
    Some(StoredMessage {
        key: key.to_string(),
        at_ms,
        direction,
        kind,
        sealed_body,
        attachments,
        num_edit,
        expires_at_s,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use optcast_shared::ids::PageId;
    use optcast_shared::meta::{MessageEvent, Platform};

    #[test]
    fn text_is_cut_on_a_character_boundary() {
        assert_eq!(cap("héllo", 2), ("h", true));
        assert_eq!(cap("héllo", 3), ("hé", true));
        assert_eq!(cap("hi", 2), ("hi", false));
    }

    #[test]
    fn a_huge_message_is_kept_bounded_and_says_what_was_cut() {
        let key = DataKey::from_parts([7; 32], vec![1]);
        let psid = Psid::parse("2").unwrap();
        let event = InboundEvent {
            platform: Platform::Messenger,
            page_id: PageId::parse("1").unwrap(),
            subject: psid.clone(),
            timestamp_ms: 1,
            time_clamped: false,
            standby: false,
            kind: EventKind::Message(MessageEvent {
                mid: None,
                text: Some("x".repeat(1_000_000)),
                quick_reply_payload: Some("p".repeat(100_000)),
                attachments: vec![
                    meta::Attachment {
                        kind: "image".into(),
                        url: Some("u".repeat(10_000)),
                    };
                    500
                ],
                reply_to: None,
            }),
            key: "k".into(),
            sha256: optcast_shared::meta::ProofHash::known("0".repeat(64)),
        };
        let stored = stored_message(&event, &psid, &key, "k", 1, 2).unwrap();
        assert!(stored.sealed_body.len() < 150 * 1024, "{}", stored.sealed_body.len());
        let plain = crypto::open(
            &key,
            &field_aad("message", &event.page_id, &psid, "k"),
            &stored.sealed_body,
        )
        .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&plain).unwrap();
        assert_eq!(body["text"].as_str().unwrap().len(), MAX_TEXT_BYTES);
        assert_eq!(
            body["truncated"][0],
            serde_json::json!({"field": "text", "bytes": 1_000_000})
        );
        assert_eq!(stored.attachments as usize, MAX_ATTACHMENTS);
    }
}
