use super::*;

const NOW: i64 = 1_764_547_200_000;

fn parse(body: &str) -> Delivery {
    parse_delivery(body.as_bytes(), NOW).unwrap()
}

fn units(body: &str) -> Vec<Unit> {
    parse(body).items.into_iter().map(DeliveryItem::into_unit).collect()
}

fn one(body: &str) -> InboundEvent {
    let mut units = units(body);
    assert_eq!(units.len(), 1);
    match units.remove(0) {
        Unit::Event(e) => e,
        other => panic!("not an event: {other:?}"),
    }
}

fn wrap(item: &str) -> String {
    format!(r#"{{"object":"page","entry":[{{"id":"1000000000000001","time":1718000000123,"messaging":[{item}]}}]}}"#)
}

fn reason(unit: &Unit) -> &'static str {
    match unit {
        Unit::Quarantined(q) => q.reason,
        other => panic!("not quarantined: {other:?}"),
    }
}

#[test]
fn a_text_message_with_quick_reply_and_reply_to() {
    let e = one(&wrap(
        r#"{"sender":{"id":"2000000000000001"},"recipient":{"id":"1000000000000001"},"timestamp":1718000000000,
        "message":{"mid":"m_abc","text":"STOP","quick_reply":{"payload":"UNSUB"},"reply_to":{"mid":"m_prev","is_self_reply":false}}}"#,
    ));
    assert_eq!(e.platform, Platform::Messenger);
    assert_eq!(e.page_id.as_str(), "1000000000000001");
    assert_eq!(e.subject.as_str(), "2000000000000001");
    assert_eq!((e.timestamp_ms, e.time_clamped), (1718000000000, false));
    assert_eq!(&*e.key, "m_abc");
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
        r#"{"sender":{"id":"2000000000000002"},"recipient":{"id":"1000000000000001"},"timestamp":1718000000000,
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
        r#"{"sender":{"id":"1000000000000001"},"recipient":{"id":"2000000000000009"},"timestamp":1718000000000,
        "message":{"is_echo":true,"app_id":123,"metadata":"bcast:42","mid":"m_y","text":"hi"}}"#,
    ));
    assert_eq!(e.subject.as_str(), "2000000000000009");
    let EventKind::Echo(echo) = e.kind else { panic!() };
    assert_eq!(echo.metadata.as_deref(), Some("bcast:42"));
    assert_eq!(echo.app_id, Some(123));
}

#[test]
fn a_postback_with_referral() {
    let e = one(&wrap(
        r#"{"sender":{"id":"2000000000000002"},"recipient":{"id":"1000000000000001"},"timestamp":1718000000000,
        "postback":{"mid":"m_z","title":"Unsubscribe","payload":"UNSUB","referral":{"ref":"camp7","source":"SHORTLINK","type":"OPEN_THREAD"}}}"#,
    ));
    assert_eq!(&*e.key, "m_z");
    let EventKind::Postback(p) = e.kind else { panic!() };
    assert_eq!(p.payload.as_deref(), Some("UNSUB"));
    assert_eq!(p.referral_ref.as_deref(), Some("camp7"));
}

#[test]
fn a_postback_without_mid_is_keyed_by_hash_and_a_numeric_payload_is_its_text() {
    let e = one(&wrap(
        r#"{"sender":{"id":"2000000000000002"},"recipient":{"id":"1000000000000001"},"timestamp":1718000000000,"postback":{"title":"Get Started","payload":12}}"#,
    ));
    assert!(e.key.starts_with("h:"));
    let EventKind::Postback(p) = e.kind else { panic!() };
    assert_eq!(p.payload.as_deref(), Some("12"));
}

#[test]
fn marketing_opt_in_stop_and_resume() {
    let e = one(&wrap(
        r#"{"sender":{"id":"2000000000000002"},"recipient":{"id":"1000000000000001"},"timestamp":1718000000000,
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
        r#"{"sender":{"id":"2000000000000002"},"recipient":{"id":"1000000000000001"},"timestamp":1718000000000,
        "optin":{"type":"notification_messages","notification_messages_token":"T2","notification_messages_status":"RESUME_NOTIFICATIONS"}}"#,
    ));
    let EventKind::OptIn(o) = e.kind else { panic!() };
    assert_eq!(o.status, Some(MarketingStatus::Resume));
}

#[test]
fn a_plugin_opt_in_carries_its_ref_and_a_user_ref_opt_in_is_ignored() {
    let e = one(&wrap(
        r#"{"sender":{"id":"2000000000000002"},"recipient":{"id":"1000000000000001"},"timestamp":1718000000000,"optin":{"ref":"landing-1"}}"#,
    ));
    let EventKind::OptIn(o) = e.kind else { panic!() };
    assert!(!o.marketing);
    assert_eq!(o.ref_.as_deref(), Some("landing-1"));
    let u = units(&wrap(
        r#"{"recipient":{"id":"1000000000000001"},"timestamp":1718000000000,"optin":{"ref":"cb","user_ref":"UREF"}}"#,
    ));
    assert!(matches!(&u[0], Unit::Ignored(i) if i.kind == "optin_user_ref"), "{u:?}");
}

#[test]
fn referral_delivery_read_and_reaction() {
    let body = r#"{"object":"page","entry":[{"id":"1000000000000001","time":1718000000000,"messaging":[
        {"sender":{"id":"2000000000000002"},"recipient":{"id":"1000000000000001"},"timestamp":1718000000001,"referral":{"ref":"camp","source":"ADS","type":"OPEN_THREAD"}},
        {"sender":{"id":"2000000000000002"},"recipient":{"id":"1000000000000001"},"timestamp":1718000000002,"delivery":{"mids":["m_a"],"watermark":1718000000000}},
        {"sender":{"id":"2000000000000002"},"recipient":{"id":"1000000000000001"},"timestamp":1718000000003,"read":{"watermark":1718000001}},
        {"sender":{"id":"2000000000000002"},"recipient":{"id":"1000000000000001"},"timestamp":1718000000004,"reaction":{"reaction":"love","emoji":"\u2764","action":"react","mid":"m_a"}}
    ]}]}"#;
    let events: Vec<_> = parse(body).events().cloned().collect();
    let names: Vec<_> = events.iter().map(|e| e.kind.name()).collect();
    assert_eq!(names, ["referral", "delivery", "read", "reaction"]);
    assert_eq!(
        events[1].kind,
        EventKind::Delivery {
            mids: vec!["m_a".into()],
            watermark: 1718000000000
        }
    );
    // A watermark in seconds is read as such.
    assert_eq!(
        events[2].kind,
        EventKind::Read {
            watermark: 1718000001000
        }
    );
    // Distinct events without ids get distinct keys.
    assert_ne!(events[1].key, events[2].key);
}

#[test]
fn a_batched_delivery_yields_every_entry_and_item() {
    let body = r#"{"object":"instagram","entry":[
        {"id":"1784140000000001","time":1718000000000,"messaging":[{"sender":{"id":"2000000000000011"},"recipient":{"id":"1784140000000001"},"timestamp":1718000000001,"message":{"mid":"m1","text":"hi"}},
                                           {"sender":{"id":"2000000000000012"},"recipient":{"id":"1784140000000001"},"timestamp":1718000000002,"message":{"mid":"m2","text":"yo"}}]},
        {"id":"1784140000000002","time":1718000000003,"messaging":[{"sender":{"id":"2000000000000013"},"recipient":{"id":"1784140000000002"},"timestamp":1718000000003,"message":{"mid":"m3","text":"hey"}}],
         "standby":[{"sender":{"id":"2000000000000014"},"recipient":{"id":"1784140000000002"},"timestamp":1718000000004,"message":{"mid":"m4","text":"other app"}}]}
    ]}"#;
    let delivery = parse(body);
    assert_eq!(delivery.platform, Platform::Instagram);
    let keys: Vec<_> = delivery
        .events()
        .map(|e| (e.page_id.as_str(), &*e.key, e.standby))
        .collect();
    assert_eq!(
        keys,
        [
            ("1784140000000001", "m1", false),
            ("1784140000000001", "m2", false),
            ("1784140000000002", "m3", false),
            ("1784140000000002", "m4", true)
        ]
    );
}

mod robustness;
