use super::*;
use crate::consent::{is_unsubscribe_payload, UNSUBSCRIBE_PAYLOAD};

fn msg(text: &str) -> BroadcastMessage {
    BroadcastMessage {
        text: text.into(),
        quick_replies: vec![],
        buttons: vec![],
    }
}
const NOW: i64 = 1_800_000_000_000;
const HOUR: i64 = 3_600_000;

fn lead(last: Option<i64>, marketing: Option<MarketingSnapshot>) -> LeadSnapshot {
    LeadSnapshot {
        platform: Platform::Messenger,
        last_inbound_at_ms: last,
        marketing,
        generation: None,
    }
}
fn token(stopped: bool, expires: Option<i64>, last_sent: Option<i64>) -> Option<MarketingSnapshot> {
    Some(MarketingSnapshot {
        expires_at_ms: expires,
        stopped,
        last_sent_at_ms: last_sent,
    })
}

#[test]
fn the_policy_decision_table() {
    use PolicySkip::*;
    use SendRoute::*;
    let cases: Vec<(&str, LeadSnapshot, bool, SendRoute)> = vec![
        ("inside the window", lead(Some(NOW - HOUR), None), false, Window),
        (
            "just inside the window",
            lead(Some(NOW - 24 * HOUR + 1), None),
            false,
            Window,
        ),
        (
            "window just closed, no token",
            lead(Some(NOW - 24 * HOUR), None),
            true,
            Skip(OutsideWindow),
        ),
        ("never wrote, no token", lead(None, None), true, Skip(OutsideWindow)),
        (
            "outside window, valid token, region ok",
            lead(Some(NOW - 72 * HOUR), token(false, None, None)),
            true,
            MarketingToken,
        ),
        (
            "outside window, token stopped",
            lead(None, token(true, None, None)),
            true,
            Skip(MarketingStopped),
        ),
        (
            "outside window, token expired",
            lead(None, token(false, Some(NOW - 1), None)),
            true,
            Skip(MarketingExpired),
        ),
        (
            "token not yet expired",
            lead(None, token(false, Some(NOW + HOUR), None)),
            true,
            MarketingToken,
        ),
        (
            "region without marketing messages",
            lead(None, token(false, None, None)),
            false,
            Skip(MarketingUnavailable),
        ),
        (
            "marketing sent 47 h ago",
            lead(None, token(false, None, Some(NOW - 47 * HOUR))),
            true,
            Skip(MarketingTooSoon),
        ),
        (
            "marketing sent 48 h ago",
            lead(None, token(false, None, Some(NOW - 48 * HOUR))),
            true,
            MarketingToken,
        ),
        (
            "inside window beats a stopped token",
            lead(Some(NOW - HOUR), token(true, None, None)),
            true,
            Window,
        ),
    ];
    for (name, lead, region_ok, expected) in cases {
        assert_eq!(route(NOW, &lead, region_ok), expected, "{name}");
    }
}

#[test]
fn instagram_is_never_promoted_outside_the_window() {
    let mut l = lead(None, token(false, None, None));
    l.platform = Platform::Instagram;
    assert_eq!(route(NOW, &l, true), SendRoute::Skip(PolicySkip::OutsideWindow));
    l.last_inbound_at_ms = Some(NOW - HOUR);
    assert_eq!(route(NOW, &l, true), SendRoute::Window);
}

#[test]
fn only_listed_regions_honour_marketing_tokens() {
    assert!(marketing_messages_available(Some("EU")));
    assert!(marketing_messages_available(Some("uk")));
    assert!(!marketing_messages_available(Some("US")));
    assert!(!marketing_messages_available(None));
}

#[test]
fn human_agent_is_never_an_allowed_automated_tag() {
    assert!(!ALLOWED_NON_PROMOTIONAL_TAGS.contains(&"HUMAN_AGENT"));
}

fn has_unsubscribe(rendered: &Value) -> bool {
    let in_qr = rendered["quick_replies"].as_array().is_some_and(|q| {
        q.iter()
            .any(|r| r["payload"].as_str().is_some_and(is_unsubscribe_payload))
    });
    let in_buttons = rendered["attachment"]["payload"]["buttons"]
        .as_array()
        .is_some_and(|b| {
            b.iter()
                .any(|r| r["payload"].as_str().is_some_and(is_unsubscribe_payload) && r["type"] == "postback")
        });
    in_qr || in_buttons
}

#[test]
fn every_message_variant_carries_an_unsubscribe_control() {
    let id = BroadcastId::parse("abc").unwrap();
    let plain = msg("Sale today");
    let with_qr = BroadcastMessage {
        quick_replies: vec![QuickReply {
            title: "Tell me more".into(),
            payload: "MORE".into(),
        }],
        ..msg("Sale")
    };
    let with_buttons = BroadcastMessage {
        buttons: vec![Button::WebUrl {
            title: "Shop".into(),
            url: "https://shop.example".into(),
        }],
        ..msg("Sale")
    };
    let with_both = BroadcastMessage {
        quick_replies: with_qr.quick_replies.clone(),
        ..with_buttons.clone()
    };
    for m in [plain, with_qr, with_buttons, with_both] {
        m.validate().unwrap();
        let r = m.render(&id);
        assert!(has_unsubscribe(&r), "{r}");
        assert_eq!(r["metadata"], "bcast:abc");
    }
}

#[test]
fn validation_refuses_what_meta_would() {
    assert!(msg("").validate().is_err());
    assert!(msg("   ").validate().is_err());
    assert!(msg(&"a".repeat(MAX_TEXT_CHARS)).validate().is_ok());
    assert!(msg(&"a".repeat(MAX_TEXT_CHARS + 1)).validate().is_err());
    let too_many = BroadcastMessage {
        quick_replies: (0..13)
            .map(|i| QuickReply {
                title: format!("q{i}"),
                payload: format!("P{i}"),
            })
            .collect(),
        ..msg("x")
    };
    assert!(too_many.validate().is_err());
    let reserved = BroadcastMessage {
        quick_replies: vec![QuickReply {
            title: "Bye".into(),
            payload: UNSUBSCRIBE_PAYLOAD.into(),
        }],
        ..msg("x")
    };
    assert!(reserved.validate().is_err());
    let long_title = BroadcastMessage {
        quick_replies: vec![QuickReply {
            title: "x".repeat(21),
            payload: "P".into(),
        }],
        ..msg("x")
    };
    assert!(long_title.validate().is_err());
    let http = BroadcastMessage {
        buttons: vec![Button::WebUrl {
            title: "Shop".into(),
            url: "http://insecure".into(),
        }],
        ..msg("x")
    };
    assert!(http.validate().is_err());
    let long_button_text = BroadcastMessage {
        buttons: vec![Button::Postback {
            title: "Yes".into(),
            payload: "Y".into(),
        }],
        ..msg(&"a".repeat(641))
    };
    assert!(long_button_text.validate().is_err());
}

#[test]
fn a_title_is_checked_as_sent_and_a_url_must_name_a_host() {
    let with_title = |title: String| BroadcastMessage {
        quick_replies: vec![QuickReply {
            title,
            payload: "P".into(),
        }],
        ..msg("x")
    };
    // Spaces count: Meta refuses over 20 characters as sent.
    assert!(with_title(format!("{}Sale", " ".repeat(60_000))).validate().is_err());
    assert!(with_title(format!("Sale{}", " ".repeat(17))).validate().is_err());
    assert!(with_title("Sale\u{1b}[2J".into()).validate().is_err());
    assert!(with_title("   ".into()).validate().is_err());
    assert!(with_title("Tell me more 🎉".into()).validate().is_ok());
    let with_url = |url: &str| BroadcastMessage {
        buttons: vec![Button::WebUrl {
            title: "Shop".into(),
            url: url.into(),
        }],
        ..msg("x")
    };
    for bad in [
        "https://",
        "https:///path",
        "https://shop.example/a b",
        "https://shop.example/\n",
        "https://shop.example/\u{202E}fdp.exe",
        "HTTPS://shop.example",
        "javascript:alert(1)",
    ] {
        assert!(with_url(bad).validate().is_err(), "{bad:?}");
    }
    assert!(with_url("https://shop.example/deals?id=7#top").validate().is_ok());
}

#[test]
fn audience_tags_select_leads_with_any_of_them() {
    let lead: std::collections::BTreeSet<String> = ["camp7".to_string(), "vip".to_string()].into();
    assert!(audience_matches(&lead, &[]));
    assert!(audience_matches(&lead, &["vip".into()]));
    assert!(!audience_matches(&lead, &["other".into()]));
    assert!(!audience_matches(&Default::default(), &["vip".into()]));
}
