//! Meta webhook deliveries (`object: "page"` and `object: "instagram"`), parsed
//! into flat, typed events. Every `entry[]` and every `messaging[]`/`standby[]`
//! item becomes one [`InboundEvent`]; items we do not understand become
//! [`EventKind::Unknown`] so they are recorded and skipped, never fatal.

use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::ids::{Mid, PageId, Psid};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    Messenger,
    Instagram,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("body is not JSON: {0}")]
    NotJson(String),
    #[error("not a Meta delivery: {0}")]
    NotADelivery(&'static str),
    #[error("unsupported object type")]
    UnsupportedObject,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Attachment {
    pub kind: String,
    pub url: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MessageEvent {
    pub mid: Mid,
    pub text: Option<String>,
    pub quick_reply_payload: Option<String>,
    pub attachments: Vec<Attachment>,
    pub reply_to: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EchoEvent {
    pub mid: Mid,
    pub text: Option<String>,
    pub metadata: Option<String>,
    pub app_id: Option<u64>,
    pub attachments: Vec<Attachment>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PostbackEvent {
    pub mid: Option<Mid>,
    pub title: Option<String>,
    pub payload: Option<String>,
    pub referral_ref: Option<String>,
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
    Unknown {
        kind: String,
    },
}

impl EventKind {
    pub fn name(&self) -> &str {
        match self {
            EventKind::Message(_) => "message",
            EventKind::Echo(_) => "echo",
            EventKind::Postback(_) => "postback",
            EventKind::OptIn(_) => "optin",
            EventKind::Referral { .. } => "referral",
            EventKind::Delivery { .. } => "delivery",
            EventKind::Read { .. } => "read",
            EventKind::Reaction { .. } => "reaction",
            EventKind::Unknown { .. } => "unknown",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct InboundEvent {
    pub platform: Platform,
    pub page_id: PageId,
    /// The person the event is about: the sender, or the recipient of an echo.
    /// `None` only for unknown items that name nobody we can parse.
    pub subject: Option<Psid>,
    pub timestamp_ms: i64,
    pub standby: bool,
    pub kind: EventKind,
    /// The idempotency key: Meta's mid where there is one, else a hash.
    pub key: String,
    /// SHA-256 (hex) of the event's canonical JSON: the consent proof.
    pub sha256: String,
}

#[derive(Deserialize)]
struct RawDelivery {
    object: String,
    entry: Vec<RawEntry>,
}

#[derive(Deserialize)]
struct RawEntry {
    id: Value,
    #[serde(default)]
    time: Option<i64>,
    #[serde(default)]
    messaging: Vec<Value>,
    #[serde(default)]
    standby: Vec<Value>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawItem {
    sender: Option<RawId>,
    recipient: Option<RawId>,
    timestamp: Option<i64>,
    message: Option<RawMessage>,
    postback: Option<RawPostback>,
    optin: Option<RawOptIn>,
    referral: Option<RawReferral>,
    delivery: Option<RawDeliveryReceipt>,
    read: Option<RawRead>,
    reaction: Option<RawReaction>,
}

#[derive(Deserialize)]
struct RawId {
    id: Value,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawMessage {
    mid: Option<String>,
    text: Option<String>,
    is_echo: bool,
    app_id: Option<u64>,
    metadata: Option<String>,
    quick_reply: Option<RawPayload>,
    reply_to: Option<RawReplyTo>,
    attachments: Vec<RawAttachment>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawPayload {
    payload: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawReplyTo {
    mid: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawAttachment {
    #[serde(rename = "type")]
    kind: Option<String>,
    payload: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawPostback {
    mid: Option<String>,
    title: Option<String>,
    payload: Option<String>,
    referral: Option<RawReferral>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawOptIn {
    #[serde(rename = "type")]
    kind: Option<String>,
    payload: Option<String>,
    #[serde(rename = "ref")]
    ref_: Option<String>,
    notification_messages_token: Option<String>,
    token_expiry_timestamp: Option<i64>,
    notification_messages_timezone: Option<String>,
    notification_messages_status: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawReferral {
    #[serde(rename = "ref")]
    ref_: Option<String>,
    source: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawDeliveryReceipt {
    mids: Vec<String>,
    watermark: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawRead {
    watermark: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawReaction {
    mid: Option<String>,
    action: Option<String>,
}

/// Meta sends ids as strings; some tools send numbers. Accept both.
fn id_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) if n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Parses a whole delivery. Fails only when the envelope itself is not a Meta
/// delivery; odd items inside a valid envelope become `Unknown` events.
pub fn parse_delivery(body: &[u8]) -> Result<Vec<InboundEvent>, ParseError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| ParseError::NotJson(e.to_string()))?;
    let raw: RawDelivery =
        serde_json::from_value(value).map_err(|_| ParseError::NotADelivery("missing object or entry"))?;
    let platform = match raw.object.as_str() {
        "page" => Platform::Messenger,
        "instagram" => Platform::Instagram,
        _ => return Err(ParseError::UnsupportedObject),
    };
    let mut events = Vec::new();
    for entry in raw.entry {
        let page_id = id_string(&entry.id)
            .and_then(|s| PageId::parse(s).ok())
            .ok_or(ParseError::NotADelivery("entry without a valid id"))?;
        let items = entry.messaging.into_iter().map(|v| (v, false));
        let standby = entry.standby.into_iter().map(|v| (v, true));
        for (item, is_standby) in items.chain(standby) {
            events.push(parse_item(platform, &page_id, entry.time, item, is_standby));
        }
    }
    Ok(events)
}

fn parse_item(
    platform: Platform,
    page_id: &PageId,
    entry_time: Option<i64>,
    item: Value,
    standby: bool,
) -> InboundEvent {
    // serde_json's map is ordered by key, so this serialisation is canonical.
    let canonical = serde_json::to_vec(&item).unwrap_or_default();
    let sha256 = sha256_hex(&canonical);
    let hashed_key = format!("h:{}", &sha256[..40]);
    let unknown = |kind: &str, subject: Option<Psid>, ts: i64| InboundEvent {
        platform,
        page_id: page_id.clone(),
        subject,
        timestamp_ms: ts,
        standby,
        kind: EventKind::Unknown { kind: kind.to_string() },
        key: hashed_key.clone(),
        sha256: sha256.clone(),
    };
    let raw: RawItem = match serde_json::from_value(item) {
        Ok(raw) => raw,
        Err(_) => return unknown("malformed", None, entry_time.unwrap_or(0)),
    };
    let timestamp_ms = raw.timestamp.or(entry_time).unwrap_or(0);
    let sender = raw
        .sender
        .as_ref()
        .and_then(|s| id_string(&s.id))
        .and_then(|s| Psid::parse(s).ok());
    let recipient = raw
        .recipient
        .as_ref()
        .and_then(|r| id_string(&r.id))
        .and_then(|s| Psid::parse(s).ok());

    let attachments = |list: Vec<RawAttachment>| -> Vec<Attachment> {
        list.into_iter()
            .map(|a| Attachment {
                kind: a.kind.unwrap_or_else(|| "unknown".into()),
                url: a
                    .payload
                    .as_ref()
                    .and_then(|p| p.get("url"))
                    .and_then(|u| u.as_str())
                    .map(str::to_owned),
            })
            .collect()
    };

    let (subject, kind, key) = if let Some(m) = raw.message {
        let Some(mid) = m.mid.and_then(|mid| Mid::parse(mid).ok()) else {
            return unknown("message_without_mid", sender, timestamp_ms);
        };
        let key = mid.to_string();
        if m.is_echo {
            let echo = EchoEvent {
                mid,
                text: m.text,
                metadata: m.metadata,
                app_id: m.app_id,
                attachments: attachments(m.attachments),
            };
            (recipient, EventKind::Echo(echo), key)
        } else {
            let msg = MessageEvent {
                mid,
                text: m.text,
                quick_reply_payload: m.quick_reply.and_then(|q| q.payload),
                attachments: attachments(m.attachments),
                reply_to: m.reply_to.and_then(|r| r.mid),
            };
            (sender, EventKind::Message(msg), key)
        }
    } else if let Some(p) = raw.postback {
        let mid = p.mid.and_then(|m| Mid::parse(m).ok());
        let key = mid
            .as_ref()
            .map(|m| m.to_string())
            .unwrap_or_else(|| hashed_key.clone());
        let pb = PostbackEvent {
            mid,
            title: p.title,
            payload: p.payload,
            referral_ref: p.referral.and_then(|r| r.ref_),
        };
        (sender, EventKind::Postback(pb), key)
    } else if let Some(o) = raw.optin {
        let status = o
            .notification_messages_status
            .as_deref()
            .map(|s| s.replace(' ', "_").to_ascii_uppercase());
        let status = match status.as_deref() {
            Some("STOP_NOTIFICATIONS") => Some(MarketingStatus::Stop),
            Some("RESUME_NOTIFICATIONS") => Some(MarketingStatus::Resume),
            _ => None,
        };
        let marketing = o.kind.as_deref() == Some("notification_messages") || o.notification_messages_token.is_some();
        let optin = OptInEvent {
            marketing,
            payload: o.payload,
            ref_: o.ref_,
            token: o.notification_messages_token,
            token_expiry_ms: o.token_expiry_timestamp,
            timezone: o.notification_messages_timezone,
            status,
        };
        (sender, EventKind::OptIn(optin), hashed_key.clone())
    } else if let Some(r) = raw.referral {
        (
            sender,
            EventKind::Referral {
                ref_: r.ref_,
                source: r.source,
            },
            hashed_key.clone(),
        )
    } else if let Some(d) = raw.delivery {
        (
            sender,
            EventKind::Delivery {
                mids: d.mids,
                watermark: d.watermark.unwrap_or(timestamp_ms),
            },
            hashed_key.clone(),
        )
    } else if let Some(r) = raw.read {
        (
            sender,
            EventKind::Read {
                watermark: r.watermark.unwrap_or(timestamp_ms),
            },
            hashed_key.clone(),
        )
    } else if let Some(r) = raw.reaction {
        (
            sender,
            EventKind::Reaction {
                mid: r.mid,
                action: r.action.unwrap_or_else(|| "react".into()),
            },
            hashed_key.clone(),
        )
    } else {
        return unknown("unrecognised", sender, timestamp_ms);
    };
    if subject.is_none() {
        return unknown("without_subject", None, timestamp_ms);
    }
    InboundEvent {
        platform,
        page_id: page_id.clone(),
        subject,
        timestamp_ms,
        standby,
        kind,
        key,
        sha256,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(body: &str) -> InboundEvent {
        let mut events = parse_delivery(body.as_bytes()).unwrap();
        assert_eq!(events.len(), 1);
        events.remove(0)
    }

    fn wrap(item: &str) -> String {
        format!(r#"{{"object":"page","entry":[{{"id":"PAGE1","time":1718000000123,"messaging":[{item}]}}]}}"#)
    }

    #[test]
    fn a_text_message_with_quick_reply_and_reply_to() {
        let e = one(&wrap(
            r#"{"sender":{"id":"PSID1"},"recipient":{"id":"PAGE1"},"timestamp":1718000000000,
            "message":{"mid":"m_abc","text":"STOP","quick_reply":{"payload":"UNSUB"},"reply_to":{"mid":"m_prev","is_self_reply":false}}}"#,
        ));
        assert_eq!(e.platform, Platform::Messenger);
        assert_eq!(e.page_id.as_str(), "PAGE1");
        assert_eq!(e.subject.unwrap().as_str(), "PSID1");
        assert_eq!(e.timestamp_ms, 1718000000000);
        assert_eq!(e.key, "m_abc");
        match e.kind {
            EventKind::Message(m) => {
                assert_eq!(m.text.as_deref(), Some("STOP"));
                assert_eq!(m.quick_reply_payload.as_deref(), Some("UNSUB"));
                assert_eq!(m.reply_to.as_deref(), Some("m_prev"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn attachments_are_listed_with_their_urls() {
        let e = one(&wrap(
            r#"{"sender":{"id":"P"},"recipient":{"id":"PAGE1"},"timestamp":1,
            "message":{"mid":"m_1","attachments":[{"type":"image","payload":{"url":"https://x/y.png"}},{"type":"sticker","payload":{"sticker_id":1}}]}}"#,
        ));
        let EventKind::Message(m) = e.kind else { panic!() };
        assert_eq!(
            m.attachments,
            vec![
                Attachment {
                    kind: "image".into(),
                    url: Some("https://x/y.png".into())
                },
                Attachment {
                    kind: "sticker".into(),
                    url: None
                },
            ]
        );
        assert_eq!(m.text, None);
    }

    #[test]
    fn an_echo_is_about_its_recipient() {
        let e = one(&wrap(
            r#"{"sender":{"id":"PAGE1"},"recipient":{"id":"PSID9"},"timestamp":5,
            "message":{"is_echo":true,"app_id":123,"metadata":"bcast:42","mid":"m_y","text":"hi"}}"#,
        ));
        assert_eq!(e.subject.unwrap().as_str(), "PSID9");
        let EventKind::Echo(echo) = e.kind else { panic!() };
        assert_eq!(echo.metadata.as_deref(), Some("bcast:42"));
        assert_eq!(echo.app_id, Some(123));
    }

    #[test]
    fn a_postback_with_referral() {
        let e = one(&wrap(
            r#"{"sender":{"id":"P"},"recipient":{"id":"PAGE1"},"timestamp":7,
            "postback":{"mid":"m_z","title":"Unsubscribe","payload":"UNSUB","referral":{"ref":"camp7","source":"SHORTLINK","type":"OPEN_THREAD"}}}"#,
        ));
        assert_eq!(e.key, "m_z");
        let EventKind::Postback(p) = e.kind else { panic!() };
        assert_eq!(p.payload.as_deref(), Some("UNSUB"));
        assert_eq!(p.referral_ref.as_deref(), Some("camp7"));
    }

    #[test]
    fn a_postback_without_mid_is_keyed_by_hash() {
        let e = one(&wrap(
            r#"{"sender":{"id":"P"},"recipient":{"id":"PAGE1"},"timestamp":7,"postback":{"title":"Get Started","payload":"GET_STARTED"}}"#,
        ));
        assert!(e.key.starts_with("h:"));
    }

    #[test]
    fn marketing_opt_in_stop_and_resume() {
        let e = one(&wrap(
            r#"{"sender":{"id":"P"},"recipient":{"id":"PAGE1"},"timestamp":8,
            "optin":{"type":"notification_messages","payload":"form-9","title":"Weekly deals","notification_messages_token":"TOKEN",
            "notification_messages_timezone":"Europe/Paris","token_expiry_timestamp":1733000000000,"user_token_status":"NOT_REFRESHED",
            "notification_messages_status":"STOP NOTIFICATIONS"}}"#,
        ));
        let EventKind::OptIn(o) = e.kind else { panic!() };
        assert!(o.marketing);
        assert_eq!(o.token.as_deref(), Some("TOKEN"));
        assert_eq!(o.token_expiry_ms, Some(1733000000000));
        assert_eq!(o.status, Some(MarketingStatus::Stop));
        let e = one(&wrap(
            r#"{"sender":{"id":"P"},"recipient":{"id":"PAGE1"},"timestamp":9,
            "optin":{"type":"notification_messages","notification_messages_token":"T2","notification_messages_status":"RESUME_NOTIFICATIONS"}}"#,
        ));
        let EventKind::OptIn(o) = e.kind else { panic!() };
        assert_eq!(o.status, Some(MarketingStatus::Resume));
    }

    #[test]
    fn a_plugin_opt_in_carries_its_ref() {
        let e = one(&wrap(
            r#"{"sender":{"id":"P"},"recipient":{"id":"PAGE1"},"timestamp":8,"optin":{"ref":"landing-1"}}"#,
        ));
        let EventKind::OptIn(o) = e.kind else { panic!() };
        assert!(!o.marketing);
        assert_eq!(o.ref_.as_deref(), Some("landing-1"));
    }

    #[test]
    fn referral_delivery_read_and_reaction() {
        let body = r#"{"object":"page","entry":[{"id":"PAGE1","time":1,"messaging":[
            {"sender":{"id":"P"},"recipient":{"id":"PAGE1"},"timestamp":1,"referral":{"ref":"camp","source":"ADS","type":"OPEN_THREAD"}},
            {"sender":{"id":"P"},"recipient":{"id":"PAGE1"},"timestamp":2,"delivery":{"mids":["m_a"],"watermark":1718}},
            {"sender":{"id":"P"},"recipient":{"id":"PAGE1"},"timestamp":3,"read":{"watermark":1719}},
            {"sender":{"id":"P"},"recipient":{"id":"PAGE1"},"timestamp":4,"reaction":{"reaction":"love","emoji":"\u2764","action":"react","mid":"m_a"}}
        ]}]}"#;
        let events = parse_delivery(body.as_bytes()).unwrap();
        let names: Vec<_> = events.iter().map(|e| e.kind.name()).collect();
        assert_eq!(names, ["referral", "delivery", "read", "reaction"]);
        assert_eq!(
            events[1].kind,
            EventKind::Delivery {
                mids: vec!["m_a".into()],
                watermark: 1718
            }
        );
        assert_eq!(events[2].kind, EventKind::Read { watermark: 1719 });
        // Distinct events without ids get distinct keys.
        assert_ne!(events[1].key, events[2].key);
    }

    #[test]
    fn a_batched_delivery_yields_every_entry_and_item() {
        let body = r#"{"object":"instagram","entry":[
            {"id":"IG1","time":1,"messaging":[{"sender":{"id":"A"},"recipient":{"id":"IG1"},"timestamp":1,"message":{"mid":"m1","text":"hi"}},
                                               {"sender":{"id":"B"},"recipient":{"id":"IG1"},"timestamp":2,"message":{"mid":"m2","text":"yo"}}]},
            {"id":"IG2","time":3,"messaging":[{"sender":{"id":"C"},"recipient":{"id":"IG2"},"timestamp":3,"message":{"mid":"m3","text":"hey"}}],
             "standby":[{"sender":{"id":"D"},"recipient":{"id":"IG2"},"timestamp":4,"message":{"mid":"m4","text":"other app"}}]}
        ]}"#;
        let events = parse_delivery(body.as_bytes()).unwrap();
        assert_eq!(events.len(), 4);
        assert!(events.iter().all(|e| e.platform == Platform::Instagram));
        let keys: Vec<_> = events
            .iter()
            .map(|e| (e.page_id.as_str(), e.key.as_str(), e.standby))
            .collect();
        assert_eq!(
            keys,
            [
                ("IG1", "m1", false),
                ("IG1", "m2", false),
                ("IG2", "m3", false),
                ("IG2", "m4", true)
            ]
        );
    }

    #[test]
    fn unknown_and_malformed_items_are_kept_as_unknown() {
        let body = r#"{"object":"page","entry":[{"id":"PAGE1","time":1,"messaging":[
            {"sender":{"id":"P"},"recipient":{"id":"PAGE1"},"timestamp":1,"pass_thread_control":{"new_owner_app_id":"1"}},
            {"sender":{"id":"P"},"timestamp":"yesterday","message":{"mid":"m"}},
            {"sender":{"id":"P"},"recipient":{"id":"PAGE1"},"timestamp":1,"message":{"text":"no mid"}},
            42
        ]}]}"#;
        let events = parse_delivery(body.as_bytes()).unwrap();
        assert_eq!(events.len(), 4);
        assert!(
            events.iter().all(|e| matches!(e.kind, EventKind::Unknown { .. })),
            "{events:?}"
        );
    }

    #[test]
    fn envelopes_that_are_not_meta_deliveries_are_errors() {
        assert!(matches!(parse_delivery(b"not json"), Err(ParseError::NotJson(_))));
        assert!(matches!(parse_delivery(b"{}"), Err(ParseError::NotADelivery(_))));
        assert!(matches!(
            parse_delivery(br#"{"object":"user","entry":[]}"#),
            Err(ParseError::UnsupportedObject)
        ));
        assert!(matches!(
            parse_delivery(br#"{"object":"page","entry":[{"id":{"x":1}}]}"#),
            Err(ParseError::NotADelivery(_))
        ));
    }

    #[test]
    fn the_same_item_always_hashes_the_same() {
        let a = one(&wrap(
            r#"{"sender":{"id":"P"},"recipient":{"id":"PAGE1"},"timestamp":2,"read":{"watermark":9}}"#,
        ));
        let b = one(&wrap(
            r#"{"timestamp":2,"read":{"watermark":9},"recipient":{"id":"PAGE1"},"sender":{"id":"P"}}"#,
        ));
        assert_eq!(a.key, b.key);
        assert_eq!(a.sha256, b.sha256);
    }
}
