//! The renderers' unit tests.

use serde_json::json;

use super::*;

#[test]
fn control_characters_in_what_the_api_returns_are_shown_escaped() {
    assert_eq!(text(&json!("\u{1b}[2Jvip\n")), "\\u{1b}[2Jvip\\u{a}");
    assert_eq!(text(&json!("a\u{202E}b")), "a\\u{202e}b");
    assert_eq!(tags(&json!(["🌷 spring", "x\u{7}"])), "🌷 spring,x\\u{7}");
}

#[test]
fn times_are_rfc3339_utc_and_absent_ones_a_dash() {
    assert_eq!(time(&json!(1_780_304_400_000_i64)), "2026-06-01T09:00:00Z");
    assert_eq!(time(&Value::Null), "-");
}

#[test]
fn a_broadcast_shows_state_counts_rates_and_why_it_is_paused() {
    let b = json!({"id":"b1","page_id":"1","name":null,"state":"paused","paused_reason":"paused through the API",
        "send_at_ms":null,"created_at_ms":0,"tags":["vip"],
        "counts":{"audience":10,"queued":10,"sent":4,"skipped_unsubscribed":1,"skipped_policy":2,"failed":0},
        "outcomes":{"delivered":3,"read":1,"unsubscribed":0,"blocked":0,"meta_errors":{"613":2},
            "rates":{"delivered":0.75,"read":0.25,"unsubscribed":0.0,"blocked":0.0,"negative":0.0}}});
    let out = broadcast(&b);
    assert!(out.contains("state       paused"), "{out}");
    assert!(out.contains("paused      paused through the API"), "{out}");
    assert!(
        out.contains("sent 4, skipped (unsubscribed) 1, skipped (policy) 2"),
        "{out}"
    );
    assert!(out.contains("delivered 3 (75.0%)"), "{out}");
    assert!(out.contains("meta errors 613: 2"), "{out}");
    assert!(out.contains("tags        vip"), "{out}");
}

#[test]
fn a_list_is_a_table_with_the_next_cursor() {
    let v = json!({"broadcasts":[{"id":"b1","state":"done","name":"Spring","send_at_ms":null,"created_at_ms":0,"tags":[]}],
        "next_cursor":"abc"});
    let out = broadcast_list(&v);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("ID"), "{out}");
    assert!(
        lines[1].contains("b1") && lines[1].contains("done") && lines[1].contains("Spring"),
        "{out}"
    );
    assert!(out.ends_with("more: --cursor abc"), "{out}");
    assert!(!out.lines().any(|l| l.ends_with(' ')), "no trailing blanks: {out:?}");
}

#[test]
fn a_preview_lists_only_the_reasons_that_excluded_someone() {
    let v = json!({"audience":2,"reach":{"window":1,"marketing_token":1},"leads_read":5,"complete":true,"judged_at_ms":0,
        "excluded":{"total":3,"unsubscribed":1,"outside_window":2,"unreachable":0},
        "message":{"text":"Hi","quick_replies":[{"title":"Unsubscribe","payload":"OPTCAST_UNSUBSCRIBE:0"}]}});
    let out = preview(&v);
    assert!(
        out.starts_with("audience 2 (inside the 24-hour window 1, marketing token 1) of 5 leads read\n"),
        "{out}"
    );
    assert!(out.contains("  outside_window         2"), "{out}");
    assert!(!out.contains("unreachable"), "{out}");
    assert!(out.contains("message: \"Hi\" [Unsubscribe]"), "{out}");
    assert!(!out.contains("more"), "a complete preview has no cursor: {out}");
}

#[test]
fn an_incomplete_preview_prints_the_cursor_that_reads_on() {
    let v = json!({"audience":1,"reach":{"window":1,"marketing_token":0},"leads_read":1,"complete":false,
        "next_cursor":"c2","judged_at_ms":0,"excluded":{"total":0},"message":{"text":"Hi"}});
    let out = preview(&v);
    assert!(
        out.starts_with(
            "audience 1 (inside the 24-hour window 1, marketing token 0) of 1 lead read; the Page has more leads\n"
        ),
        "{out}"
    );
    assert!(out.ends_with("\nmore: --cursor c2"), "{out}");
}

#[test]
fn a_message_with_a_control_character_shows_it_escaped_once() {
    let out = message(&json!({"text": "x\u{1b}[31mRED \u{202e}say \"hi\""}));
    assert_eq!(out, r#""x\u{1b}[31mRED \u{202e}say \"hi\"" []"#);
}

#[test]
fn why_a_lead_was_skipped_reads_as_a_sentence() {
    let v = json!({"broadcast_id":"b1","psid":"2","state":"skipped_policy","reason":"outside_window",
        "recorded_at_ms":0,"mid":null,"sent_at_ms":null,"delivered_at_ms":null,"read_at_ms":null,"unsubscribed_at_ms":null});
    assert_eq!(
        recipient(&v),
        "lead 2 in broadcast b1: skipped_policy: outside_window, outside the 24-hour window, \
         with no marketing-messages token (recorded 1970-01-01T00:00:00Z)"
    );
}

#[test]
fn a_sent_recipient_shows_its_mid_and_receipts() {
    let v = json!({"broadcast_id":"b1","psid":"2","state":"sent","reason":null,"recorded_at_ms":0,"mid":"m_1",
        "sent_at_ms":0,"delivered_at_ms":1000,"read_at_ms":null,"unsubscribed_at_ms":null});
    assert_eq!(
        recipient(&v),
        "lead 2 in broadcast b1: sent at 1970-01-01T00:00:00Z (mid m_1); delivered 1970-01-01T00:00:01Z, read -"
    );
}

#[test]
fn every_recipient_reason_of_the_api_has_words() {
    let doc: Value = serde_json::from_str(include_str!("../../../functions/api/openapi.json")).unwrap();
    let reasons = doc["components"]["schemas"]["Recipient"]["properties"]["reason"]["enum"]
        .as_array()
        .unwrap()
        .clone();
    for r in reasons.iter().filter_map(Value::as_str) {
        assert_ne!(reason_words(r), "see the API reference", "{r}");
    }
}
