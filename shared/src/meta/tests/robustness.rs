//! Bad, odd and hostile input: ignored, quarantined, repaired, never lost.

use super::*;

#[test]
fn documented_items_that_ask_nothing_are_ignored_and_unknown_ones_quarantined() {
    let body = r#"{"object":"page","entry":[{"id":"1000000000000001","time":1718000000000,"messaging":[
        {"sender":{"id":"2000000000000002"},"recipient":{"id":"1000000000000001"},"timestamp":1718000000000,"pass_thread_control":{"new_owner_app_id":"1"}},
        {"sender":{"id":"2000000000000002"},"recipient":{"id":"1000000000000001"},"timestamp":1718000000000,"brand_new_event":{"x":1}},
        {"recipient":{"id":"1000000000000001"},"timestamp":1718000000000,"message":{"mid":"m_nosender","text":"STOP"}},
        {"sender":{"id":"P#1"},"recipient":{"id":"1000000000000001"},"timestamp":1718000000000,"message":{"mid":"m_badsender","text":"STOP"}},
        42
    ]}]}"#;
    let u = units(body);
    assert!(matches!(&u[0], Unit::Ignored(i) if i.kind == "pass_thread_control"));
    assert_eq!(reason(&u[1]), "unrecognised");
    assert_eq!(reason(&u[2]), "sender_id");
    assert_eq!(reason(&u[3]), "sender_id");
    assert_eq!(reason(&u[4]), "not_an_object");
}

#[test]
fn lenient_fields_keep_the_meaning_of_a_stop() {
    for ts in ["1764547100123.0", "\"1764547100123\"", "1764547100.123"] {
        let e = one(&wrap(&format!(
            r#"{{"sender":{{"id":12345}},"recipient":{{"id":"1000000000000001"}},"timestamp":{ts},"message":{{"mid":"mid.$cAAJs1x","text":"STOP"}}}}"#
        )));
        assert_eq!((e.timestamp_ms, e.time_clamped), (1764547100123, false), "{ts}");
        assert_eq!((e.subject.as_str(), &*e.key), ("12345", "mid.$cAAJs1x"));
    }
    let seconds = one(&wrap(
        r#"{"sender":{"id":"2000000000000002"},"recipient":{"id":"1000000000000001"},"timestamp":1764547100,"message":{"text":"STOP"}}"#,
    ));
    assert_eq!(seconds.timestamp_ms, 1764547100000);
    assert!(
        seconds.key.starts_with("h:"),
        "a message without mid is keyed by its hash"
    );
    let long_mid = one(&wrap(&format!(
        r#"{{"sender":{{"id":"2000000000000002"}},"recipient":{{"id":"1000000000000001"}},"timestamp":1764547100000,"message":{{"mid":"{}","text":"STOP"}}}}"#,
        "m".repeat(5000)
    )));
    assert!(long_mid.key.starts_with("h:") && long_mid.key.len() == 42);
}

#[test]
fn future_missing_and_ancient_timestamps_become_the_time_of_receipt() {
    for ts in ["253402300799000", "5", "\"soon\""] {
        let body = format!(
            r#"{{"object":"page","entry":[{{"id":"1000000000000001","messaging":[{{"sender":{{"id":"2000000000000002"}},"recipient":{{"id":"1000000000000001"}},"timestamp":{ts},"message":{{"mid":"m","text":"hi"}}}}]}}]}}"#
        );
        let e = one(&body);
        assert_eq!((e.timestamp_ms, e.time_clamped), (NOW, true), "{ts}");
    }
}

/// An item without a timestamp is dated by its entry's `time`, marked
/// clamped (it only bounds when the person wrote), or by its receipt when
/// the entry has no trusted time; the fast path's text messages and the
/// general path alike. It was the entry's time, trusted as the person's.
#[test]
fn an_item_without_a_timestamp_is_dated_by_its_entry_but_not_trusted() {
    let text = r#"{"sender":{"id":"2000000000000002"},"recipient":{"id":"1000000000000001"},"message":{"mid":"m","text":"START"}}"#;
    let reaction = r#"{"sender":{"id":"2000000000000002"},"recipient":{"id":"1000000000000001"},"reaction":{"mid":"m","action":"react","reaction":"love"}}"#;
    for item in [text, reaction] {
        let e = one(&wrap(item));
        assert_eq!((e.timestamp_ms, e.time_clamped), (1718000000123, true), "{item}");
        let untimed_entry =
            format!(r#"{{"object":"page","entry":[{{"id":"1000000000000001","messaging":[{item}]}}]}}"#);
        let e = one(&untimed_entry);
        assert_eq!((e.timestamp_ms, e.time_clamped), (NOW, true), "{item}");
    }
}

#[test]
fn edits_and_unsends_are_events_keyed_apart_from_their_message() {
    let edit = one(&wrap(
        r#"{"sender":{"id":"2000000000000002"},"recipient":{"id":"1000000000000001"},"timestamp":1718000000000,"message_edit":{"mid":"m_1","text":"STOP","num_edit":1}}"#,
    ));
    assert_eq!(&*edit.key, "m_1#edit1");
    assert!(matches!(&edit.kind, EventKind::Edit(e) if e.text.as_deref() == Some("STOP") && e.num_edit == Some(1)));
    let unsend = one(&wrap(
        r#"{"sender":{"id":"2000000000000002"},"recipient":{"id":"1000000000000001"},"timestamp":1718000000000,"message":{"mid":"m_1","is_deleted":true}}"#,
    ));
    assert_eq!(&*unsend.key, "m_1#deleted");
    assert!(matches!(unsend.kind, EventKind::Unsend { .. }));
}

#[test]
fn instagram_changes_carry_messaging_items_and_other_fields_are_ignored() {
    let body = r#"{"object":"instagram","entry":[{"id":"17841400000000","time":1718000000000,"changes":[
        {"field":"messaging_postbacks","value":{"sender":{"id":"2000000000000021"},"recipient":{"id":"17841400000000"},"timestamp":1718000000000,
          "postback":{"mid":"aWdfZAG1","title":"Unsubscribe","payload":"OPTCAST_UNSUBSCRIBE"}}},
        {"field":"comments","value":{"id":"c1","text":"nice"}},
        {"nofield":true}
    ]}]}"#;
    let u = units(body);
    let Unit::Event(e) = &u[0] else { panic!("{u:?}") };
    assert_eq!(
        (e.platform, e.subject.as_str()),
        (Platform::Instagram, "2000000000000021")
    );
    assert!(matches!(&e.kind, EventKind::Postback(p) if p.payload.as_deref() == Some("OPTCAST_UNSUBSCRIBE")));
    assert!(matches!(&u[1], Unit::Ignored(i) if i.kind == "change:comments"));
    assert_eq!(reason(&u[2]), "malformed_change");
}

#[test]
fn messenger_changes_under_metas_field_names_are_read_like_messaging() {
    // Meta's webhook field is `message_edits` (an item's key is
    // `message_edit`); an edit into STOP delivered this way was ignored.
    let edit = |field: &str| {
        format!(
            r#"{{"object":"page","entry":[{{"id":"1000000000000001","time":1764547200000,"changes":[{{"field":"{field}","value":
            {{"sender":{{"id":"2000000000000001"}},"recipient":{{"id":"1000000000000001"}},"timestamp":1764547199000,
              "message_edit":{{"mid":"m_orig","text":"STOP","num_edit":1}}}}}}]}}]}}"#
        )
    };
    for field in ["message_edits", "message_edit"] {
        let e = one(&edit(field));
        assert!(
            matches!(&e.kind, EventKind::Edit(x) if x.text.as_deref() == Some("STOP")),
            "{field}: {e:?}"
        );
        assert_eq!(e.subject.as_str(), "2000000000000001");
    }
    let handover = r#"{"object":"page","entry":[{"id":"1000000000000001","time":1764547200000,"changes":[{"field":"messaging_handovers","value":
        {"sender":{"id":"2000000000000001"},"recipient":{"id":"1000000000000001"},"timestamp":1764547199000,
         "pass_thread_control":{"new_owner_app_id":"123","metadata":""}}}]}]}"#;
    assert!(
        matches!(&units(handover)[0], Unit::Ignored(i) if i.kind != "change:messaging_handovers"),
        "read as the messaging item it is: {:?}",
        units(handover)
    );
}

#[test]
fn a_messaging_item_under_a_field_we_do_not_name_is_read_by_its_shape() {
    // A field Meta adds, or one we spell differently, cannot hide a STOP;
    // a page's other changes (no sender and recipient) stay ignored.
    let body = r#"{"object":"page","entry":[{"id":"1000000000000001","time":1764547200000,"changes":[
        {"field":"messaging_something_new","value":{"sender":{"id":"2000000000000001"},"recipient":{"id":"1000000000000001"},
          "timestamp":1764547199000,"message":{"mid":"m_new","text":"STOP"}}},
        {"field":"feed","value":{"from":{"id":"2000000000000001"},"item":"comment","verb":"add","message":"STOP"}},
        {"field":"messaging_something_new","value":{"sender":"2000000000000001","recipient":{"id":"1000000000000001"}}},
        {"field":"messaging_something_new","value":[{"id":"2000000000000001"},{"id":"1000000000000001"}]}
    ]}]}"#;
    let u = units(body);
    let Unit::Event(e) = &u[0] else { panic!("{u:?}") };
    assert!(
        matches!(&e.kind, EventKind::Message(m) if m.text.as_deref() == Some("STOP")),
        "{e:?}"
    );
    assert!(matches!(&u[1], Unit::Ignored(i) if i.kind == "change:feed"), "{u:?}");
    assert!(
        matches!(&u[2], Unit::Ignored(i) if i.kind == "change:messaging_something_new"),
        "{u:?}"
    ); // An array is no item, whatever serde would make of it.
    assert!(
        matches!(&u[3], Unit::Ignored(i) if i.kind == "change:messaging_something_new"),
        "{u:?}"
    );
}

#[test]
fn one_bad_part_does_not_sink_the_delivery() {
    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    let body = format!(
        "\u{feff}{{\"object\":\"page\",\"entry\":[{{\"id\":\"1000000000000001\",\"time\":\"later\",\"messaging\":[{deep},\
         {{\"sender\":{{\"id\":\"2000000000000002\"}},\"recipient\":{{\"id\":\"1000000000000001\"}},\"timestamp\":1718000000000,\"message\":{{\"mid\":\"m_ok\",\"text\":\"STOP\"}}}}]}},\
         {{\"id\":{{\"x\":1}},\"messaging\":[{{\"sender\":{{\"id\":\"2000000000000017\"}},\"message\":{{\"mid\":\"m_q\",\"text\":\"STOP\"}}}}]}},\
         \"not an entry\"]}}"
    );
    let u = units(&body);
    assert_eq!(u.len(), 4, "{u:?}");
    assert_eq!(reason(&u[0]), "malformed_item");
    assert!(matches!(&u[1], Unit::Event(e) if &*e.key == "m_ok"));
    assert!(
        matches!(&u[2], Unit::Quarantined(q) if q.reason == "entry_id" && q.subject.as_ref().map(Psid::as_str) == Some("2000000000000017"))
    );
    assert_eq!(reason(&u[3]), "malformed_entry");
}

#[test]
fn a_rebuilt_delivery_of_some_items_parses_to_the_same_units() {
    let body = r#"{"object":"instagram","entry":[{"id":"1784140000000001","time":1718000000000,
        "messaging":[{"sender":{"id":"2000000000000011"},"recipient":{"id":"1784140000000001"},"timestamp":1718000000001,"message":{"mid":"m1","text":"h\u00e9"}}],
        "standby":[{"sender":{"id":"2000000000000012"},"recipient":{"id":"1784140000000001"},"timestamp":1718000000002,"message":{"mid":"m2","text":"x"}}],
        "changes":[{"field":"messages","value":{"sender":{"id":"2000000000000013"},"recipient":{"id":"1784140000000001"},"timestamp":1718000000003,"message":{"mid":"m3","text":"y"}}},
                   {"field":"mentions","value":{"media_id":"1"}}, {"broken":1}]},
        {"id":"1784140000000002","messaging":[[[1]]]}, 7]}"#;
    let original = parse(body);
    for item in &original.items {
        let rebuilt = rebuild_delivery(&original.object, [item]);
        let again = parse(&rebuilt);
        assert_eq!(again.items.len(), 1, "{rebuilt}");
        assert_eq!(again.items[0].unit(), item.unit(), "{rebuilt}");
    }
    let all = parse(&rebuild_delivery(&original.object, &original.items));
    assert_eq!(
        all.items.iter().map(DeliveryItem::unit).collect::<Vec<_>>(),
        original.items.iter().map(DeliveryItem::unit).collect::<Vec<_>>()
    );
}

#[test]
fn envelopes_that_are_not_meta_deliveries_are_errors() {
    let err = |b: &[u8]| parse_delivery(b, NOW).unwrap_err();
    assert!(matches!(err(b"not json"), ParseError::NotJson(_)));
    assert!(matches!(err(b"\xff\xfe"), ParseError::NotJson(_)));
    assert!(matches!(err(b"{}"), ParseError::NotADelivery(_)));
    assert!(matches!(
        err(br#"{"object":"page","entry":{}}"#),
        ParseError::NotADelivery(_)
    ));
    assert_eq!(err(br#"{"object":"user","entry":[]}"#), ParseError::UnsupportedObject);
}

#[test]
fn the_same_item_always_hashes_the_same() {
    let a = one(&wrap(
        r#"{"sender":{"id":"2000000000000002"},"recipient":{"id":"1000000000000001"},"timestamp":1718000000000,"read":{"watermark":1718000000000}}"#,
    ));
    let b = one(&wrap(
        r#"{"timestamp":1718000000000,"read":{"watermark":1718000000000},"recipient":{"id":"1000000000000001"},"sender":{"id":"2000000000000002"}}"#,
    ));
    assert_eq!(a.key, b.key);
    assert_eq!(a.proof_sha256(), b.proof_sha256());
}

#[test]
fn an_item_of_unknown_kind_from_a_known_person_keeps_its_trusted_time() {
    // Ingest compares it with the person's erasure, if any.
    let u = units(&wrap(
        r#"{"sender":{"id":"2000000000000002"},"recipient":{"id":"1000000000000001"},"timestamp":1718000000000,"brand_new_event":{}}"#,
    ));
    let Unit::Quarantined(q) = &u[0] else { panic!("{u:?}") };
    assert_eq!(
        q.time,
        Some(EventTime {
            ms: 1_718_000_000_000,
            clamped: false
        })
    );
    // No known person (a sender id that is not Meta's): no time to compare.
    let u = units(&wrap(
        r#"{"sender":{"id":"not-an-id"},"recipient":{"id":"1000000000000001"},"timestamp":1718000000000,"brand_new_event":{}}"#,
    ));
    let Unit::Quarantined(q) = &u[0] else { panic!("{u:?}") };
    assert_eq!((q.subject.as_ref(), q.time), (None, None));
}

#[test]
fn a_stop_inside_an_item_of_unknown_kind_is_found_and_the_item_still_quarantined() {
    let u = units(&wrap(
        r#"{"sender":{"id":"2000000000000002"},"recipient":{"id":"1000000000000001"},"timestamp":1718000000000,"brand_new_event":{"body":{"text":" Stop "}}}"#,
    ));
    let Unit::Quarantined(q) = &u[0] else { panic!("{u:?}") };
    assert_eq!(q.reason, "unrecognised");
    let stop = q.stop.as_ref().expect("the stop is found");
    assert_eq!(stop.kind, EventKind::StopSignal(StopSignal::Keyword));
    assert_eq!(stop.subject.as_str(), "2000000000000002");
    for (item, signal) in [
        (
            r#""x":{"payload":"OPTCAST_UNSUBSCRIBE"}"#,
            StopSignal::UnsubscribeControl,
        ),
        (
            r#""x":{"notification_messages_status":"STOP NOTIFICATIONS"}"#,
            StopSignal::MarketingStop,
        ),
    ] {
        let u = units(&wrap(&format!(
            r#"{{"sender":{{"id":"2000000000000002"}},"recipient":{{"id":"1000000000000001"}},"timestamp":1718000000000,{item}}}"#
        )));
        let Unit::Quarantined(q) = &u[0] else { panic!("{u:?}") };
        assert_eq!(q.stop.as_ref().unwrap().kind, EventKind::StopSignal(signal));
    }
    // Nothing to stop, or nobody to stop: quarantined only.
    let plain = units(&wrap(
        r#"{"sender":{"id":"2000000000000002"},"recipient":{"id":"1000000000000001"},"x":{"text":"please don't stop"}}"#,
    ));
    assert!(matches!(&plain[0], Unit::Quarantined(q) if q.stop.is_none()));
    let nobody = units(&wrap(r#"{"recipient":{"id":"1000000000000001"},"x":{"text":"STOP"}}"#));
    assert!(matches!(&nobody[0], Unit::Quarantined(q) if q.stop.is_none()));
}

#[test]
fn a_stop_with_an_emoji_cut_in_half_is_still_read() {
    let e = one(&wrap(
        r#"{"sender":{"id":"2000000000000002"},"recipient":{"id":"1000000000000001"},"timestamp":1718000000000,"message":{"mid":"m_cut","text":"STOP \ud83d"}}"#,
    ));
    assert!(matches!(&e.kind, EventKind::Message(m) if m.text.as_deref() == Some("STOP \u{fffd}")));
}

#[test]
fn a_marketing_status_is_a_marketing_opt_in_whatever_its_type() {
    for optin in [
        r#"{"notification_messages_status":"STOP_NOTIFICATIONS"}"#,
        r#"{"type":"NOTIFICATION_MESSAGES","notification_messages_status":"STOP NOTIFICATIONS"}"#,
    ] {
        let e = one(&wrap(&format!(
            r#"{{"sender":{{"id":"2000000000000002"}},"recipient":{{"id":"1000000000000001"}},"timestamp":1718000000000,"optin":{optin}}}"#
        )));
        let EventKind::OptIn(o) = e.kind else { panic!() };
        assert!(o.marketing && o.status == Some(MarketingStatus::Stop), "{optin}");
    }
}

#[test]
fn items_whose_ids_are_not_metas_are_quarantined_never_applied_nor_dropped() {
    let stop = |sender: &str| {
        format!(
            r#"{{"sender":{{"id":{sender}}},"recipient":{{"id":"1000000000000001"}},"timestamp":1718000000000,"message":{{"mid":"m_s","text":"STOP"}}}}"#
        )
    };
    for sender in [
        r#""abc/../x""#,
        r#""..""#,
        r#""PAGE#../x""#,
        r#""1=2""#,
        r#""1+2""#,
        r#""1:2""#,
        r#""1/2""#,
        r#""a.b""#,
        r#""PSID1""#,
        r#""0123""#,
        r#""123456789012345678901""#,
        "-5",
        "1.5",
    ] {
        let u = units(&wrap(&stop(sender)));
        assert_eq!(u.len(), 1, "{sender}");
        let Unit::Quarantined(q) = &u[0] else {
            panic!("{sender}: {u:?}")
        };
        assert_eq!(q.reason, "sender_id", "{sender}");
        assert_eq!(q.page_id.as_ref().map(PageId::as_str), Some("1000000000000001"));
        assert!(
            q.subject.is_none() && q.stop.is_none(),
            "{sender}: nobody to apply it to"
        );
    }
    // An echo is about its recipient; an unknown kind, a reaction and an
    // opt-in from such a sender are quarantined too (the opt-in is not taken
    // for a plugin's user_ref opt-in, which names no sender at all).
    let body = r#"{"object":"page","entry":[{"id":"1000000000000001","time":1718000000000,"messaging":[
        {"sender":{"id":"1000000000000001"},"recipient":{"id":"abc/../x"},"timestamp":1718000000000,"message":{"is_echo":true,"mid":"m_e","text":"hi"}},
        {"sender":{"id":"abc/../x"},"recipient":{"id":"1000000000000001"},"timestamp":1718000000000,"brand_new_event":{"text":"STOP"}},
        {"sender":{"id":"abc/../x"},"recipient":{"id":"1000000000000001"},"timestamp":1718000000000,"reaction":{"mid":"m_a","action":"react"}},
        {"sender":{"id":"abc/../x"},"recipient":{"id":"1000000000000001"},"timestamp":1718000000000,"optin":{"ref":"x","user_ref":"UREF"}},
        {"sender":{"id":"abc/../x"},"recipient":{"id":"1000000000000001"},"timestamp":1718000000000,"optin":null,"x":1}
    ]}]}"#;
    let u = units(body);
    let reasons: Vec<_> = u.iter().map(reason).collect();
    assert_eq!(
        reasons,
        ["recipient_id", "unrecognised", "sender_id", "sender_id", "unrecognised"]
    );
    assert!(u
        .iter()
        .all(|u| matches!(u, Unit::Quarantined(q) if q.subject.is_none() && q.stop.is_none())));
}

/// The page side of an item is a Meta id too: a message whose recipient
/// is not one (`"xx"`) was applied, stored and made a lead; an echo whose
/// sender is not one likewise. Quarantined with the person it names, so an
/// erasure of them finds it; a recipient not named at all is no such case.
#[test]
fn an_item_whose_page_side_id_is_not_metas_is_quarantined_with_its_person() {
    let body = r#"{"object":"page","entry":[{"id":"1000000000000001","time":1718000000000,"messaging":[
        {"sender":{"id":"4000000000007001"},"recipient":{"id":"xx"},"timestamp":1718000000000,"message":{"mid":"r6","text":"bad recipient"}},
        {"sender":{"id":"4000000000007001"},"recipient":{"id":"0123"},"timestamp":1718000000000,"message":{"mid":"r7","text":"STOP"}},
        {"sender":{"id":"a/b"},"recipient":{"id":"4000000000007001"},"timestamp":1718000000000,"message":{"is_echo":true,"mid":"m_e2","text":"STOP"}},
        {"sender":{"id":"4000000000007001"},"timestamp":1718000000000,"message":{"mid":"r8","text":"no recipient"}},
        {"sender":{"id":"4000000000007001"},"recipient":{"id":1000000000000001},"timestamp":1718000000000,"message":{"mid":"r9","text":"numeric page"}}
    ]}]}"#;
    let u = units(body);
    let reasons: Vec<_> = u[..3].iter().map(reason).collect();
    assert_eq!(reasons, ["recipient_id", "recipient_id", "sender_id"]);
    for q in &u[..3] {
        assert!(matches!(q, Unit::Quarantined(q) if q.subject.as_ref().map(Psid::as_str) == Some("4000000000007001")));
    }
    let stops: Vec<_> = u[..3]
        .iter()
        .map(|q| matches!(q, Unit::Quarantined(q) if q.stop.is_some()))
        .collect();
    assert_eq!(
        stops,
        [false, true, false],
        "their STOP is honoured, the page's echo is not theirs"
    );
    assert!(matches!(&u[3], Unit::Event(_)), "{:?}", u[3]);
    assert!(matches!(&u[4], Unit::Event(_)), "{:?}", u[4]);
}

#[test]
fn an_entry_whose_id_is_not_metas_quarantines_each_of_its_items() {
    for entry_id in [r#""..""#, r#""PAGE#../x""#, r#""IG1""#, r#""0100""#, r#""1=2""#, "0"] {
        let body = format!(
            r#"{{"object":"page","entry":[{{"id":{entry_id},"time":1718000000000,"messaging":[
            {{"sender":{{"id":"2000000000000001"}},"recipient":{{"id":"1000000000000001"}},"timestamp":1718000000000,"message":{{"mid":"m_1","text":"STOP"}}}},
            {{"sender":{{"id":"2000000000000002"}},"recipient":{{"id":"1000000000000001"}},"timestamp":1718000000000,"pass_thread_control":{{}}}}]}}]}}"#
        );
        let u = units(&body);
        assert_eq!(u.len(), 2, "{entry_id}");
        for unit in &u {
            let Unit::Quarantined(q) = unit else {
                panic!("{entry_id}: {u:?}")
            };
            assert_eq!((q.reason, q.page_id.is_none()), ("entry_id", true), "{entry_id}");
        }
    }
}

#[test]
fn ids_given_as_json_numbers_are_metas_ids() {
    let body = r#"{"object":"page","entry":[{"id":1000000000000001,"time":1718000000000,"messaging":[
        {"sender":{"id":18446744073709551615},"recipient":{"id":1000000000000001},"timestamp":1718000000000,"message":{"mid":"m_n","text":"hi"}}]}]}"#;
    let e = one(body);
    assert_eq!(
        (e.page_id.as_str(), e.subject.as_str()),
        ("1000000000000001", "18446744073709551615")
    );
}
