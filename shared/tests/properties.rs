//! Property tests: hostile input never panics, and only a correct signature passes.

use optcast_shared::ids::{PageId, Psid, META_ID_MAX_DIGITS};
use optcast_shared::keywords;
use optcast_shared::meta::{parse_delivery, rebuild_delivery};

const NOW: i64 = 1_764_547_200_000;
use optcast_shared::signature::{sign, verify, SignatureError};
use proptest::prelude::*;
use serde_json::{json, Value};

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("page"),
            Just("instagram"),
            Just("m_1"),
            Just("STOP"),
            Just("notification_messages")
        ]
        .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        let keys = prop_oneof![
            Just("object".to_string()),
            Just("entry".to_string()),
            Just("id".to_string()),
            Just("messaging".to_string()),
            Just("standby".to_string()),
            Just("sender".to_string()),
            Just("recipient".to_string()),
            Just("timestamp".to_string()),
            Just("message".to_string()),
            Just("mid".to_string()),
            Just("text".to_string()),
            Just("postback".to_string()),
            Just("payload".to_string()),
            Just("optin".to_string()),
            Just("read".to_string()),
            Just("delivery".to_string()),
            Just("is_echo".to_string()),
            Just("attachments".to_string()),
            "[a-z_]{1,8}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(keys, inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Deliveries shaped like Meta's, with arbitrary items inside.
fn arb_delivery() -> impl Strategy<Value = Value> {
    (
        prop_oneof![Just("page"), Just("instagram")],
        prop::collection::vec(("[0-9]{1,5}", prop::collection::vec(arb_json(), 0..5)), 1..4),
    )
        .prop_map(|(object, entries)| {
            let entry: Vec<Value> = entries
                .into_iter()
                .map(|(id, items)| json!({"id": id, "time": 1, "messaging": items}))
                .collect();
            json!({"object": object, "entry": entry})
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_parser_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_delivery(&bytes, NOW);
    }

    #[test]
    fn the_parser_never_panics_on_arbitrary_json(value in arb_json()) {
        let _ = parse_delivery(value.to_string().as_bytes(), NOW);
    }

    #[test]
    fn every_item_of_a_meta_shaped_delivery_becomes_exactly_one_unit(value in arb_delivery()) {
        let expected: usize = value["entry"].as_array().unwrap().iter().map(|e| e["messaging"].as_array().unwrap().len()).sum();
        let delivery = parse_delivery(value.to_string().as_bytes(), NOW).unwrap();
        prop_assert_eq!(delivery.items.len(), expected);
        for e in delivery.events() {
            prop_assert!(!e.key.is_empty());
            prop_assert_eq!(e.proof_sha256().len(), 64);
        }
        // Each item, alone in a rebuilt delivery, means the same.
        for item in &delivery.items {
            let again = parse_delivery(rebuild_delivery(&delivery.object, [item]).as_bytes(), NOW).unwrap();
            prop_assert_eq!(again.items[0].unit(), item.unit());
        }
    }

    #[test]
    fn a_correct_signature_passes(
        // A blank secret verifies nothing (`signature::tests`; the
        // configuration refuses one): a one-byte secret is blank one time
        // in 43.
        secret in prop::collection::vec(any::<u8>(), 1..64).prop_filter("a blank secret", |s| !s.trim_ascii().is_empty()),
        body in prop::collection::vec(any::<u8>(), 0..1024),
    ) {
        let header = sign(&secret, &body);
        prop_assert_eq!(verify(&secret, Some(&header), &body), Ok(()));
    }

    #[test]
    fn any_change_to_the_body_fails(
        secret in prop::collection::vec(any::<u8>(), 1..64),
        body in prop::collection::vec(any::<u8>(), 1..1024),
        index in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let header = sign(&secret, &body);
        let mut tampered = body.clone();
        let i = index.index(tampered.len());
        tampered[i] ^= flip;
        prop_assert_eq!(verify(&secret, Some(&header), &tampered), Err(SignatureError::Mismatch));
    }

    #[test]
    fn another_secret_fails(
        secret in prop::collection::vec(any::<u8>(), 1..64),
        other in prop::collection::vec(any::<u8>(), 1..64),
        body in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        prop_assume!(secret != other);
        prop_assert!(verify(&secret, Some(&sign(&other, &body)), &body).is_err());
    }

    #[test]
    fn arbitrary_headers_never_panic_and_never_pass(header in ".{0,100}", body in prop::collection::vec(any::<u8>(), 0..64)) {
        let secret = b"s";
        prop_assume!(header != sign(secret, &body));
        prop_assert!(verify(secret, Some(&header), &body).is_err());
    }

    #[test]
    fn every_positive_64_bit_id_is_a_meta_id_in_its_one_spelling(n in 1u64..) {
        let raw = n.to_string();
        let (page, psid) = (PageId::parse(raw.as_str()).unwrap(), Psid::parse(raw.as_str()).unwrap());
        prop_assert_eq!(page.as_str(), raw.as_str());
        prop_assert_eq!(psid.as_str(), raw.as_str());
        let padded = format!("0{raw}");
        prop_assert!(PageId::parse(padded).is_err());
    }

    #[test]
    fn an_accepted_id_is_decimal_digits_without_a_leading_zero(raw in "[0-9a-f./:=+# -]{0,24}|[0-9]{0,22}") {
        let accepted = PageId::parse(raw.as_str()).is_ok();
        prop_assert_eq!(Psid::parse(raw.as_str()).is_ok(), accepted);
        let digits = !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit());
        prop_assert_eq!(
            accepted,
            digits && raw.len() <= META_ID_MAX_DIGITS && !raw.starts_with('0'),
            "{:?}", raw
        );
    }

    #[test]
    fn keyword_detection_ignores_surrounding_whitespace_and_never_panics(text in ".{0,80}", pad in "[ \t\n]{0,4}") {
        prop_assert_eq!(keywords::classify(&text), keywords::classify(&format!("{pad}{text}{pad}")));
    }
}
