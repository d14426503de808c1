//! The one-pass read and the per-item fast path against the general path.

use proptest::prelude::*;

use super::super::parse::{general_delivery, Context};
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
fn an_id_or_mid_spelled_with_escapes_is_read_the_general_way_to_the_same_event() {
    // The one-pass read borrows ids and mids from the body, so one with an
    // escape (Meta writes `/` as `\/`) is not its shape: the general path
    // reads it, unescaped.
    let page = PageId::parse("1234567890").unwrap();
    for (raw, psid, mid) in [
        (
            r#"{"sender":{"id":"6000000000000001"},"recipient":{"id":"1234567890"},"timestamp":1700000000001,"message":{"mid":"m_a\/b+c","text":"hi"}}"#,
            "6000000000000001",
            "m_a/b+c",
        ),
        (
            r#"{"sender":{"id":"\u0036000000000000002"},"recipient":{"id":"1234567890"},"timestamp":1700000000001,"message":{"mid":"m_2","text":"hi"}}"#,
            "6000000000000002",
            "m_2",
        ),
    ] {
        assert!(text_message(raw, &page).is_none(), "{raw}");
        assert!(text_delivery(&wrap(&[raw]), NOW).is_none(), "{raw}");
        let (fast, general) = both(raw, Some(&page));
        assert_eq!(fast, general);
        let Unit::Event(e) = fast else {
            panic!("not an event: {raw}")
        };
        assert_eq!((e.subject.as_str(), &*e.key), (psid, mid));
    }
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
        let general = general_delivery(&body, NOW).unwrap();
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

/// An item as the comparison sees it: what it became and where it sat.
type ItemAsRead<'a> = (UnitRef<'a>, &'a Option<SmolStr>, &'a Option<SmolStr>, &'a Source);

fn read_as(delivery: &Delivery) -> Vec<ItemAsRead<'_>> {
    let items = delivery.items.iter();
    items
        .map(|i| (i.unit(), &i.entry_id, &i.entry_time, &i.source))
        .collect()
}

/// JSON that a second parser (the one-pass read's sonic-rs) could read
/// otherwise than serde_json: each body reads as the general path reads it,
/// to the same items or to an error.
#[test]
fn odd_json_in_a_text_delivery_reads_as_the_general_path_reads_it() {
    let item = |ts: &str, text: &str| {
        format!(
            r#"{{"sender":{{"id":"6000000000000001"}},"recipient":{{"id":"1234567890"}},"timestamp":{ts},"message":{{"mid":"m_1","text":{text}}}}}"#
        )
    };
    let ok = wrap(&[&item("1700000000001", r#""Gr\u00fc\u00dfe \ud83c\udf89 \/""#)]);
    let time = "\"time\":1718000000123";
    let bodies = [
        ok.clone(),
        wrap(&[&item("-0", r#""STOP""#)]),
        wrap(&[&item("0", r#""STOP""#)]),
        wrap(&[&item("1e12", r#""STOP""#)]),
        wrap(&[&item("-1700000000001", r#""STOP""#)]),
        wrap(&[&item("18446744073709551616", r#""STOP""#)]),
        wrap(&[&item("1700000000001", "\"a\u{1}b\"")]),
        wrap(&[&item("1700000000001", r#""STOP \ud83d""#)]),
        wrap(&[&item("1700000000001", r#""bad \x escape""#)]),
        format!("{ok} x"),
        format!(" \n{ok}\t"),
        format!("{ok},"),
        ok.replace(time, "\"time\":[1,]"),
        ok.replace(time, "\"time\":{\"a\":1,\"a\":2}"),
        ok.replace(time, "\"time\":null"),
        ok.replace(time, "\"time\":\"17180\\u00300000123\""),
        ok.replace("\"id\":\"1234567890\",", "\"id\":\"123456789\\u0030\","),
        ok.replace("\"id\":\"1234567890\",", "\"id\":1234567890,"),
        ok.replace("\"id\":\"1234567890\",", "\"id\":\"1234567890\",\"id\":\"1234567890\","),
        ok.replace("\"object\":\"page\"", "\"object\":\"pa\\u0067e\""),
        ok.replace("\"object\":\"page\"", "\"object\" : \"instagram\" "),
        // Objects given as arrays of their fields, and nesting.
        wrap(&[r#"[{"id":"6000000000000001"},{"id":"1234567890"},1700000000001,{"mid":"m_1","text":"hi"}]"#]),
        wrap(&[&item("1700000000001", r#""hi""#).replace(r#"{"id":"6000000000000001"}"#, r#"["6000000000000001"]"#)]),
        ok.replace("{\"id\":\"1234567890\",", "[\"1234567890\",")
            .replace("]}]}", "]]]}"),
        r#"["page",[["1234567890",1718000000123,[]]]]"#.to_string(),
        wrap(&[&format!("{}1{}", "[".repeat(300), "]".repeat(300))]),
        ok.replace(time, &format!("\"time\":{}1{}", "[".repeat(300), "]".repeat(300))),
    ];
    for body in &bodies {
        let general = general_delivery(body, NOW);
        match (parse_delivery(body.as_bytes(), NOW), &general) {
            (Ok(read), Ok(general)) => {
                assert_eq!(read.object, general.object, "{body}");
                assert_eq!(read_as(&read), read_as(general), "{body}");
            }
            (Err(_), Err(_)) => {}
            (read, _) => panic!("{body}: read {read:?}, the general path {general:?}"),
        }
    }
    // The one-pass read takes the usual delivery, escapes and all, up to
    // the nesting its parser is trusted with.
    assert!(text_delivery(&ok, NOW).is_some());
    let hi = item("1700000000001", r#""hi""#);
    let most = wrap(&vec![hi.as_str(); (MAX_OPENERS - 4) / 4]);
    let more = wrap(&vec![hi.as_str(); (MAX_OPENERS - 4) / 4 + 1]);
    assert!(text_delivery(&most, NOW).is_some());
    assert!(text_delivery(&more, NOW).is_none());
    assert_eq!(
        parse_delivery(more.as_bytes(), NOW).unwrap().items.len(),
        (MAX_OPENERS - 4) / 4 + 1
    );
}

#[test]
fn a_delivery_whose_keys_come_in_another_order_is_still_read_in_one_pass() {
    let item = r#"{"message":{"text":"Gr\u00fc\u00dfe","mid":"m_1"},"timestamp":1700000000001,"recipient":{"id":"1234567890"},"sender":{"id":"6000000000000001"}}"#;
    let body = format!(
        r#"{{"entry":[{{"messaging":[{item},{item}],"time":1718000000123,"id":"1234567890"}}],"object":"instagram"}}"#
    );
    let read = text_delivery(&body, NOW).expect("read in one pass");
    let general = general_delivery(&body, NOW).unwrap();
    assert_eq!(read.platform, Platform::Instagram);
    assert_eq!(read.object, general.object);
    assert_eq!(read_as(&read), read_as(&general));
}

#[test]
fn a_body_with_whitespace_null_fields_or_escaped_keys_reads_as_the_general_path_reads_it() {
    let hi = r#"{"sender":{"id":"6000000000000001"},"recipient":{"id":"1234567890"},"timestamp":1700000000001,"message":{"mid":"m_1","text":"hi"}}"#;
    let ok = wrap(&[hi]);
    for body in [
        ok.replace(",\"entry\"", ",\n\"entry\""),
        ok.replace("\"time\":1718000000123", "\"time\":null"),
        ok.replace("\"messaging\"", "\"m\\u0065ssaging\""),
    ] {
        let general = general_delivery(&body, NOW).unwrap();
        if let Some(fast) = text_delivery(&body, NOW) {
            assert_eq!(read_as(&fast), read_as(&general), "{body}");
        }
        let read = parse_delivery(body.as_bytes(), NOW).unwrap();
        assert_eq!(read_as(&read), read_as(&general), "{body}");
    }
}
