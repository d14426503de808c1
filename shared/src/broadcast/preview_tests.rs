use super::*;
use crate::broadcast::{judge, planned, MarketingHold, MARKETING_GAP_MS, UNSUBSCRIBE_TITLE, WINDOW_MS};
use crate::consent::SubscriberStatus;
use crate::ids::{PageId, Psid};
use crate::lead::{MarketingToken, Subscriber};
use crate::meta::Platform;

const NOW: i64 = 1_800_000_000_000;
const HOUR: i64 = 60 * 60 * 1000;

fn spring() -> Vec<String> {
    vec!["spring".to_string()]
}

/// A subscribed Messenger lead tagged `spring` who wrote an hour ago.
fn lead() -> Subscriber {
    let mut s = Subscriber::new(
        PageId::parse("1000000000000001").unwrap(),
        Psid::parse("2000000000000001").unwrap(),
        Platform::Messenger,
        Vec::new(),
        NOW - 10 * WINDOW_MS,
    );
    s.last_inbound_at_ms = Some(NOW - HOUR);
    s.tags.insert("spring".into());
    s
}

fn with_status(status: SubscriberStatus) -> Subscriber {
    let mut s = lead();
    s.status = status;
    s
}

/// Wrote three days ago; granted a marketing-messages token.
fn token_lead(expires_at_ms: Option<i64>, stopped: bool) -> Subscriber {
    let mut s = lead();
    s.last_inbound_at_ms = Some(NOW - 3 * WINDOW_MS);
    s.marketing = Some(MarketingToken {
        sealed: vec![1],
        expires_at_ms,
        stopped,
        timezone: None,
    });
    s
}

fn count(leads: &[Subscriber], at: i64, marketing_available: bool) -> PreviewCounts {
    let mut c = PreviewCounts::default();
    for l in leads {
        c.add(judge(at, l, &spring(), marketing_available));
    }
    c
}

#[test]
fn each_lead_is_counted_once_under_the_reason_a_real_run_would_skip_it() {
    let mut untagged = lead();
    untagged.tags.clear();
    let mut no_token = lead();
    no_token.last_inbound_at_ms = Some(NOW - 3 * WINDOW_MS);
    let mut too_soon = token_lead(None, false);
    too_soon.last_marketing_sent_at_ms = Some(NOW - HOUR);
    let mut held = token_lead(None, false);
    held.marketing_hold_until_ms = Some(NOW + 60_000);
    let leads = vec![
        lead(),
        token_lead(None, false),
        with_status(SubscriberStatus::Unsubscribed),
        with_status(SubscriberStatus::Unreachable),
        with_status(SubscriberStatus::Erased),
        untagged,
        no_token,
        token_lead(None, true),
        token_lead(Some(NOW - 1), false),
        too_soon,
        held,
    ];
    let c = count(&leads, NOW, true);
    assert_eq!(
        c,
        PreviewCounts {
            window: 1,
            marketing_token: 1,
            unsubscribed: 1,
            unreachable: 2,
            tags_not_matched: 1,
            outside_window: 1,
            marketing_stopped: 1,
            marketing_expired: 1,
            marketing_unavailable: 0,
            marketing_too_soon: 1,
            marketing_hold: 1,
        }
    );
    assert_eq!(c.audience(), 2);
    assert_eq!(c.audience() + c.excluded(), leads.len() as u64);
}

#[test]
fn consent_is_judged_before_tags_and_tags_before_meta_policy() {
    let mut unsubscribed_untagged = with_status(SubscriberStatus::Unsubscribed);
    unsubscribed_untagged.tags.clear();
    assert_eq!(
        judge(NOW, &unsubscribed_untagged, &spring(), true).map_err(Exclusion::code),
        Err("unsubscribed")
    );
    let mut untagged_outside = lead();
    untagged_outside.tags.clear();
    untagged_outside.last_inbound_at_ms = None;
    assert_eq!(
        judge(NOW, &untagged_outside, &spring(), true).map_err(Exclusion::code),
        Err("tags_not_matched")
    );
    // No audience tags: every subscribed lead is in the audience.
    assert_eq!(
        judge(NOW, &untagged_outside, &[], true).map_err(Exclusion::code),
        Err("outside_window")
    );
}

#[test]
fn the_planner_plans_only_subscribed_leads_the_tag_rule_takes() {
    assert_eq!(planned(&lead(), &spring()), Ok(()));
    assert_eq!(planned(&lead(), &[]), Ok(()));
    assert_eq!(planned(&lead(), &["vip".to_string()]), Err(Unplanned::TagsNotMatched));
    assert_eq!(
        planned(&with_status(SubscriberStatus::Unsubscribed), &[]),
        Err(Unplanned::Unsubscribed)
    );
    for status in [SubscriberStatus::Unreachable, SubscriberStatus::Erased] {
        assert_eq!(planned(&with_status(status), &[]), Err(Unplanned::Unreachable));
    }
}

#[test]
fn a_token_counts_only_where_meta_honours_it() {
    let c = count(&[token_lead(None, false)], NOW, false);
    assert_eq!((c.marketing_unavailable, c.audience()), (1, 0));
    // A stopped or expired token is that, wherever the page is.
    let c = count(&[token_lead(None, true), token_lead(Some(NOW), false)], NOW, false);
    assert_eq!((c.marketing_stopped, c.marketing_expired), (1, 1));
    // Instagram: no promotion outside the window, token or not.
    let mut ig = token_lead(None, false);
    ig.platform = Platform::Instagram;
    assert_eq!(count(&[ig], NOW, true).outside_window, 1);
}

#[test]
fn a_future_send_at_judges_the_window_and_the_marketing_rules_at_that_time() {
    let in_window_now = lead();
    let at = judged_at(Some(NOW + 2 * WINDOW_MS), NOW);
    assert_eq!(at, NOW + 2 * WINDOW_MS);
    assert_eq!(count(std::slice::from_ref(&in_window_now), NOW, true).window, 1);
    assert_eq!(count(&[in_window_now], at, true).outside_window, 1);
    // The 48 hours since the last marketing message and a hold in flight
    // may be over by then; a token may have expired by then.
    let mut too_soon = token_lead(None, false);
    too_soon.last_marketing_sent_at_ms = Some(NOW - HOUR);
    let mut held = token_lead(None, false);
    held.marketing_hold_until_ms = Some(NOW + MarketingHold::LENGTH_MS);
    let expiring = token_lead(Some(NOW + HOUR), false);
    let later = NOW + MARKETING_GAP_MS;
    let c = count(&[too_soon.clone(), held.clone(), expiring.clone()], NOW, true);
    assert_eq!((c.marketing_too_soon, c.marketing_hold, c.marketing_token), (1, 1, 1));
    let c = count(&[too_soon, held, expiring], later, true);
    assert_eq!((c.marketing_token, c.marketing_expired), (2, 1));
}

#[test]
fn a_send_at_now_or_in_the_clock_skew_past_is_judged_now() {
    assert_eq!(judged_at(None, NOW), NOW);
    assert_eq!(judged_at(Some(NOW - 30_000), NOW), NOW);
}

#[test]
fn the_previewed_message_is_the_senders_with_its_unsubscribe_control() {
    let message = BroadcastMessage {
        text: "Spring sale".into(),
        quick_replies: vec![],
        buttons: vec![],
    };
    let id = BroadcastId::parse(PREVIEW_BROADCAST_ID).unwrap();
    let shown = preview_message(&message);
    assert_eq!(shown, message.render(&id));
    let controls = shown["quick_replies"].as_array().unwrap();
    assert_eq!(controls.last().unwrap()["title"], UNSUBSCRIBE_TITLE);
}

#[test]
fn a_hold_holds_until_its_end() {
    assert!(!MarketingHold::holds(None, NOW));
    assert!(MarketingHold::holds(Some(NOW + 1), NOW));
    assert!(!MarketingHold::holds(Some(NOW), NOW));
}
