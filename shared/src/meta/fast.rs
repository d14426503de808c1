//! The shape almost every delivery has — one or more entries whose items
//! are a person's text message:
//! `{"sender":{"id"},"recipient":{"id"},"timestamp","message":{"mid","text"}}`
//! — read in one typed pass that borrows from the body, instead of through
//! raw items and a `serde_json::Value` each. The item's text is not kept: its
//! proof hash and, when needed, its canonical JSON are rebuilt from the event
//! ([`super::ProofHash`], [`ItemBody::TextMessage`]). This is the webhook hot
//! path (`make bench`).
//!
//! Anything unusual (another field anywhere, a field of another type, a
//! duplicate key, an id that is not Meta's, a recipient that is not the
//! entry's page, a lone surrogate, nesting) is `None`, and the delivery (or
//! the item) takes the general path, which reads every shape. Both give the
//! same units and keys: the tests below hold them to it.

use std::borrow::Cow;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::lenient::ms_from_number;
use super::parse::{entry_context, platform};
use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TextDelivery<'a> {
    #[serde(borrow)]
    object: &'a RawValue,
    #[serde(borrow)]
    entry: Vec<TextEntry<'a>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TextEntry<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    time: Option<&'a RawValue>,
    #[serde(borrow)]
    messaging: Vec<TextItem<'a>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TextItem<'a> {
    #[serde(borrow)]
    sender: Party<'a>,
    #[serde(borrow)]
    recipient: Party<'a>,
    timestamp: i64,
    #[serde(borrow)]
    message: Text<'a>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Party<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Text<'a> {
    #[serde(borrow)]
    mid: Cow<'a, str>,
    #[serde(borrow)]
    text: Cow<'a, str>,
}

/// `text` (a delivery's body) read in one pass, or `None` when any part of
/// it is not the fast path's shape.
pub(super) fn text_delivery(text: &str, received_at_ms: i64) -> Option<Delivery> {
    let delivery: TextDelivery = serde_json::from_str(text).ok()?;
    let platform = platform(delivery.object).ok()?;
    let mut items = Vec::with_capacity(delivery.entry.iter().map(|e| e.messaging.len()).sum());
    for entry in delivery.entry {
        let (page_id, entry_time) = entry_context(entry.id, entry.time);
        let page_id = page_id?;
        let ctx = super::parse::Context {
            platform,
            page_id: Some(&page_id),
            entry_time,
            received_at_ms,
        };
        let (entry_id, entry_time): (Option<Arc<str>>, Option<Arc<str>>) =
            (entry.id.map(|v| v.get().into()), entry.time.map(|v| v.get().into()));
        for item in entry.messaging {
            items.push(DeliveryItem {
                entry_id: entry_id.clone(),
                entry_time: entry_time.clone(),
                source: Source::Messaging,
                body: ItemBody::TextMessage(ctx.text_event(&page_id, text_message_of(item, &page_id)?, false)),
            });
        }
    }
    Some(Delivery {
        platform,
        object: delivery.object.get().to_string(),
        items,
    })
}

/// A text message read on the fast path.
pub(super) struct TextMessage {
    pub sender: Psid,
    /// Meta's timestamp as given (ms, or seconds), before it is trusted.
    pub timestamp: i64,
    pub mid: Mid,
    pub text: String,
}

impl TextMessage {
    /// Meta's timestamp in ms (seconds converted), before it is trusted.
    pub fn timestamp_ms(&self) -> Option<i64> {
        // As the general path reads an integer: through f64.
        ms_from_number(self.timestamp as f64)
    }
}

/// `raw` (one item of `page`'s entry) as a text message, or `None` when it
/// is not exactly that shape.
pub(super) fn text_message(raw: &str, page: &PageId) -> Option<TextMessage> {
    text_message_of(serde_json::from_str(raw).ok()?, page)
}

fn text_message_of(item: TextItem, page: &PageId) -> Option<TextMessage> {
    // The canonical text is rebuilt with the page as recipient.
    if item.recipient.id != page.as_str() {
        return None;
    }
    Some(TextMessage {
        sender: Psid::parse(item.sender.id.as_ref()).ok()?,
        timestamp: item.timestamp,
        mid: Mid::parse(item.message.mid.as_ref()).ok()?,
        text: item.message.text.into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::parse::Context;
    use super::*;

    const NOW: i64 = 1_764_547_200_000;

    fn both(raw: &str, page: Option<&PageId>) -> (Unit, Unit) {
        let ctx = Context {
            platform: Platform::Messenger,
            page_id: page,
            entry_time: Some(1_718_000_000_123),
            received_at_ms: NOW,
        };
        let raw: std::sync::Arc<str> = raw.into();
        (ctx.item(&raw, false), ctx.general_item(&raw, false))
    }

    #[test]
    fn a_plain_text_message_takes_the_fast_path_and_reads_as_the_general_path_does() {
        let page = PageId::parse("1234567890").unwrap();
        let raw = r#"{"sender":{"id":"6000000000000001"},"recipient":{"id":"1234567890"},"timestamp":1700000000001,"message":{"mid":"m_00000000000000000000000000000001","text":"Gr\u00fc\u00dfe, \u00e7a va? \ud83c\udf89 \/ #1"}}"#;
        assert!(text_message(raw, &page).is_some());
        let (fast, general) = both(raw, Some(&page));
        assert_eq!(fast, general);
        let Unit::Event(e) = fast else { panic!("not an event") };
        assert_eq!(&*e.key, "m_00000000000000000000000000000001");
        assert_eq!(e.timestamp_ms, 1_700_000_000_001);
    }

    #[test]
    fn a_fast_path_events_proof_is_the_canonical_hash_of_its_item_whatever_its_spelling() {
        let page = PageId::parse("1234567890").unwrap();
        // Meta's spelling: keys in another order, non-ASCII and `/` escaped.
        let raw = r#"{"timestamp":1700000000001,"sender":{"id":"6000000000000001"},"recipient":{"id":"1234567890"},"message":{"text":"Gr\u00fc\u00dfe \ud83c\udf89 \/ \"x\"","mid":"m_1"}}"#;
        assert!(text_message(raw, &page).is_some());
        // Python: json.dumps(item, sort_keys=True, separators=(",", ":"),
        // ensure_ascii=False), then hashlib.sha256 of its UTF-8.
        const PYTHON: &str = "b31027d6d02f26afffc200013041e8622f8841fc8321aa1656eccdb03c11d10a";
        let (Unit::Event(e), _) = both(raw, Some(&page)) else {
            panic!("not an event")
        };
        assert_eq!(e.proof_sha256(), PYTHON);
        // The same item in a delivery, read in one pass.
        let delivery = parse_delivery(wrap(&[raw]).as_bytes(), NOW).unwrap();
        assert!(matches!(delivery.items[0].body, ItemBody::TextMessage(_)));
        let UnitRef::Event(e) = delivery.items[0].unit() else {
            panic!("not an event")
        };
        assert_eq!(e.proof_sha256(), PYTHON);
    }

    fn wrap(items: &[&str]) -> String {
        format!(
            r#"{{"object":"page","entry":[{{"id":"1234567890","time":1718000000123,"messaging":[{}]}}]}}"#,
            items.join(",")
        )
    }

    #[test]
    fn a_delivery_of_text_messages_is_read_in_one_pass_and_one_other_item_sends_it_all_the_general_way() {
        let text = r#"{"sender":{"id":"6000000000000001"},"recipient":{"id":"1234567890"},"timestamp":1700000000001,"message":{"mid":"m_1","text":"hi"}}"#;
        let read = r#"{"sender":{"id":"6000000000000001"},"recipient":{"id":"1234567890"},"timestamp":1700000000002,"read":{"watermark":1700000000001}}"#;
        let fast = parse_delivery(wrap(&[text, text]).as_bytes(), NOW).unwrap();
        assert!(fast.items.iter().all(|i| matches!(i.body, ItemBody::TextMessage(_))));
        let mixed = parse_delivery(wrap(&[text, read]).as_bytes(), NOW).unwrap();
        assert_eq!(mixed.items.len(), 2);
        assert!(mixed.items.iter().all(|i| matches!(i.body, ItemBody::Received(..))));
        // The text message reads the same either way.
        assert_eq!(mixed.items[0].unit(), fast.items[0].unit());
        // And the canonical text the fast path rebuilds is the item's value.
        let rebuilt: serde_json::Value = serde_json::from_str(&fast.items[0].raw()).unwrap();
        assert_eq!(rebuilt, serde_json::from_str::<serde_json::Value>(text).unwrap());
    }

    #[test]
    fn anything_unusual_is_left_to_the_general_path() {
        let page = PageId::parse("1").unwrap();
        for raw in [
            // A recipient that is not the entry's page.
            r#"{"sender":{"id":"6"},"recipient":{"id":"2"},"timestamp":1700000000001,"message":{"mid":"m","text":"x"}}"#,
            // Another field, an echo, a quick reply.
            r#"{"sender":{"id":"6"},"recipient":{"id":"1"},"timestamp":1700000000001,"message":{"mid":"m","text":"x","is_echo":true}}"#,
            r#"{"sender":{"id":"6"},"recipient":{"id":"1"},"timestamp":1700000000001,"message":{"mid":"m","text":"x"},"postback":{}}"#,
            // Types that the general path reads leniently.
            r#"{"sender":{"id":6},"recipient":{"id":"1"},"timestamp":1700000000001,"message":{"mid":"m","text":"x"}}"#,
            r#"{"sender":{"id":"6"},"recipient":{"id":"1"},"timestamp":1700000000001.5,"message":{"mid":"m","text":"x"}}"#,
            r#"{"sender":{"id":"6"},"recipient":{"id":"1"},"timestamp":"1700000000001","message":{"mid":"m","text":"x"}}"#,
            r#"{"sender":{"id":"6"},"recipient":{"id":"1"},"timestamp":1700000000001,"message":{"mid":"m","text":null}}"#,
            // A duplicate key (the general path keeps the last).
            r#"{"sender":{"id":"6"},"recipient":{"id":"1"},"timestamp":1700000000001,"message":{"mid":"m","text":"x","text":"STOP"}}"#,
            // Ids that are not Meta's, an empty mid, a lone surrogate.
            r#"{"sender":{"id":"06"},"recipient":{"id":"1"},"timestamp":1700000000001,"message":{"mid":"m","text":"x"}}"#,
            r#"{"sender":{"id":"6"},"recipient":{"id":"1"},"timestamp":1700000000001,"message":{"mid":"","text":"x"}}"#,
            r#"{"sender":{"id":"6"},"recipient":{"id":"1"},"timestamp":1700000000001,"message":{"mid":"m","text":"STOP \ud83d"}}"#,
        ] {
            assert!(text_message(raw, &page).is_none(), "{raw}");
            assert!(
                text_delivery(&wrap(&[raw]).replace("1234567890", "1"), NOW).is_none(),
                "{raw}"
            );
        }
    }

    /// A JSON string for `s`, escaped as serde_json does or, like Meta and
    /// Python's `ensure_ascii`, with every non-ASCII character as `\u` and
    /// `/` as `\/`.
    fn json_string(s: &str, ascii: bool) -> String {
        if !ascii {
            return serde_json::to_string(s).unwrap();
        }
        let mut out = String::from("\"");
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '/' => out.push_str("\\/"),
                c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
                c => {
                    let mut buf = [0u16; 2];
                    for u in c.encode_utf16(&mut buf) {
                        out.push_str(&format!("\\u{u:04x}"));
                    }
                }
            }
        }
        out.push('"');
        out
    }

    fn id_value() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => "[1-9][0-9]{0,19}".prop_map(|s| format!("\"{s}\"")),
            1 => "[0-9a-z]{0,4}".prop_map(|s| format!("\"{s}\"")),
            1 => (1u64..).prop_map(|n| n.to_string()),
            1 => Just("null".to_string()),
        ]
    }

    fn timestamp_value() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => (1_312_848_000_000i64..1_764_547_500_000).prop_map(|n| n.to_string()),
            1 => (1_312_848_000i64..1_764_547_500).prop_map(|n| n.to_string()),
            1 => any::<i64>().prop_map(|n| n.to_string()),
            1 => Just("1700000000001.0".to_string()),
            1 => Just("\"1700000000001\"".to_string()),
            1 => Just("null".to_string()),
        ]
    }

    fn text_value() -> impl Strategy<Value = String> {
        prop_oneof![
            6 => (".{0,24}", any::<bool>()).prop_map(|(s, ascii)| json_string(&s, ascii)),
            1 => Just("\"STOP \\ud83d\"".to_string()),
            1 => Just("42".to_string()),
            1 => Just("null".to_string()),
        ]
    }

    prop_compose! {
        fn fields()(
            sender in id_value(),
            recipient in prop_oneof![6 => Just("\"1234567890\"".to_string()), 1 => id_value()],
            timestamp in timestamp_value(),
            mid in prop_oneof![4 => ".{0,12}", 1 => Just("m#1".to_string())],
            mid_ascii in any::<bool>(),
            text in text_value(),
            swap_message in any::<bool>(),
            extra in prop_oneof![
                6 => Just(None),
                1 => Just(Some(("message", r#""is_echo":true"#))),
                1 => Just(Some(("message", r#""text":"STOP""#))),
                1 => Just(Some(("message", r#""quick_reply":{"payload":"OPTCAST_UNSUBSCRIBE"}"#))),
                1 => Just(Some(("item", r#""postback":{"payload":"x"}"#))),
                1 => Just(Some(("item", r#""timestamp":1700000000002"#))),
                1 => Just(Some(("drop", "timestamp"))),
            ],
        ) -> Vec<String> {
            let mut message = vec![
                format!("\"mid\":{}", json_string(&mid, mid_ascii)),
                format!("\"text\":{text}"),
            ];
            let mut fields = vec![
                format!("\"sender\":{{\"id\":{sender}}}"),
                format!("\"recipient\":{{\"id\":{recipient}}}"),
                format!("\"timestamp\":{timestamp}"),
            ];
            match extra {
                Some(("message", f)) => message.push(f.to_string()),
                Some(("drop", f)) => fields.retain(|x| !x.starts_with(&format!("\"{f}\""))),
                Some((_, f)) => fields.push(f.to_string()),
                None => {}
            }
            if swap_message {
                message.reverse();
            }
            fields.push(format!("\"message\":{{{}}}", message.join(",")));
            fields
        }
    }

    /// An item of (nearly) the fast path's shape, its keys in any order.
    fn item() -> impl Strategy<Value = String> {
        fields().prop_shuffle().prop_map(|f| format!("{{{}}}", f.join(",")))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

        #[test]
        fn the_fast_path_gives_the_unit_the_general_path_gives(raw in item(), has_page in prop::bool::weighted(0.9)) {
            let page = PageId::parse("1234567890").unwrap();
            let (fast, general) = both(&raw, has_page.then_some(&page));
            prop_assert_eq!(fast, general, "{}", raw);
        }

        /// Whole deliveries: the one-pass read, when it applies, gives the
        /// items the general read gives, and its rebuilt texts parse back to
        /// the same units.
        #[test]
        fn a_delivery_read_in_one_pass_is_the_delivery_read_the_general_way(items in prop::collection::vec(item(), 1..5)) {
            let body = wrap(&items.iter().map(String::as_str).collect::<Vec<_>>());
            let general = super::super::parse::general_delivery(&body, NOW).unwrap();
            let Some(fast) = text_delivery(&body, NOW) else {
                return Ok(());
            };
            prop_assert_eq!(&fast.object, &general.object);
            prop_assert_eq!(fast.items.len(), general.items.len());
            for (f, g) in fast.items.iter().zip(&general.items) {
                prop_assert_eq!(f.unit(), g.unit(), "{}", body);
                prop_assert_eq!((&f.entry_id, &f.entry_time, &f.source), (&g.entry_id, &g.entry_time, &g.source));
            }
            let again = parse_delivery(rebuild_delivery(&fast.object, &fast.items).as_bytes(), NOW).unwrap();
            prop_assert_eq!(
                again.items.iter().map(DeliveryItem::unit).collect::<Vec<_>>(),
                fast.items.iter().map(DeliveryItem::unit).collect::<Vec<_>>()
            );
        }
    }
}
