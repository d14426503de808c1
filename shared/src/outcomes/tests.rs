use super::*;

const H: i64 = 60 * 60 * 1000;

fn id(n: u8) -> BroadcastId {
    BroadcastId::parse(format!("{n:02x}")).unwrap()
}

fn send(n: u8, at: i64, mid: &str) -> RecentSend {
    RecentSend::new(id(n), at, Some(mid.to_string()))
}

#[test]
fn a_delivery_watermark_covers_every_send_up_to_it_and_no_later_one() {
    let mut recent = vec![send(1, 1_000, "m1"), send(2, 2_000, "m2"), send(3, 3_000, "m3")];
    let got = attribute(
        &mut recent,
        &Signal::Delivered {
            watermark_ms: 2_000,
            mids: &[],
        },
    );
    let ids: Vec<_> = got.iter().map(|a| a.broadcast_id.clone()).collect();
    assert_eq!(ids, vec![id(1), id(2)]);
    assert!(got
        .iter()
        .all(|a| a.delivered_at_ms == Some(2_000) && a.read_at_ms.is_none()));
    assert!(!recent[2].delivered);
}

#[test]
fn a_delivery_naming_a_mid_covers_that_send_even_past_the_watermark() {
    let mut recent = vec![send(1, 5_000, "m1")];
    let mids = vec!["m1".to_string()];
    let got = attribute(
        &mut recent,
        &Signal::Delivered {
            watermark_ms: 4_000,
            mids: &mids,
        },
    );
    assert_eq!(got.len(), 1);
}

#[test]
fn a_redelivered_or_older_watermark_counts_nothing_again() {
    let mut recent = vec![send(1, 1_000, "m1")];
    let w = Signal::Delivered {
        watermark_ms: 2_000,
        mids: &[],
    };
    assert_eq!(attribute(&mut recent, &w).len(), 1);
    assert!(attribute(&mut recent, &w).is_empty());
    assert!(attribute(
        &mut recent,
        &Signal::Delivered {
            watermark_ms: 1_500,
            mids: &[]
        }
    )
    .is_empty());
    let r = Signal::Read { watermark_ms: 2_000 };
    assert_eq!(attribute(&mut recent, &r).len(), 1);
    assert!(attribute(&mut recent, &r).is_empty());
}

#[test]
fn a_read_implies_delivered_and_counts_delivery_only_if_not_counted_before() {
    let mut recent = vec![send(1, 1_000, "m1"), send(2, 1_500, "m2")];
    attribute(
        &mut recent,
        &Signal::Delivered {
            watermark_ms: 1_200,
            mids: &[],
        },
    );
    let got = attribute(&mut recent, &Signal::Read { watermark_ms: 2_000 });
    assert_eq!(got[0].delivered_at_ms, None, "send 1 was counted delivered already");
    assert_eq!(got[1].delivered_at_ms, Some(2_000), "send 2 is delivered by the read");
    assert!(got.iter().all(|a| a.read_at_ms == Some(2_000)));
    assert!(recent.iter().all(|s| s.delivered && s.read));
}

#[test]
fn a_stop_within_48_hours_counts_for_the_latest_send_before_it_and_once() {
    let mut recent = vec![send(1, 0, "m1"), send(2, 10 * H, "m2")];
    let stop = Signal::Unsubscribed {
        at_ms: 20 * H,
        control: None,
    };
    let got = attribute(&mut recent, &stop);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].broadcast_id, id(2));
    assert_eq!(got[0].unsubscribed_at_ms, Some(20 * H));
    assert!(attribute(&mut recent, &stop).is_empty());
}

#[test]
fn a_stop_after_the_window_counts_for_no_broadcast() {
    let mut recent = vec![send(1, 0, "m1")];
    let late = Signal::Unsubscribed {
        at_ms: STOP_ATTRIBUTION_WINDOW_MS + 1,
        control: None,
    };
    assert!(attribute(&mut recent, &late).is_empty());
    let just_in = Signal::Unsubscribed {
        at_ms: STOP_ATTRIBUTION_WINDOW_MS,
        control: None,
    };
    assert_eq!(attribute(&mut recent, &just_in).len(), 1);
}

#[test]
fn the_unsubscribe_control_counts_for_the_broadcast_it_names_whenever_tapped() {
    let mut recent = vec![send(1, 0, "m1"), send(2, 10 * H, "m2")];
    let tap = Signal::Unsubscribed {
        at_ms: 200 * H,
        control: Some(id(1)),
    };
    let got = attribute(&mut recent, &tap);
    assert_eq!(got[0].broadcast_id, id(1));
    // An id that was never sent to this lead counts nowhere.
    let mut recent = vec![send(2, 0, "m2")];
    let foreign = Signal::Unsubscribed {
        at_ms: H,
        control: Some(id(9)),
    };
    assert!(attribute(&mut recent, &foreign).is_empty());
}

#[test]
fn pruning_keeps_the_newest_sends_within_30_days() {
    let now = 100 * 24 * H;
    let mut recent: Vec<RecentSend> = (0..30).map(|i| send(i, now - i64::from(i) * H, "m")).collect();
    recent.push(send(99, now - RECENT_SENDS_KEEP_MS - 1, "old"));
    prune(&mut recent, now);
    assert_eq!(recent.len(), RECENT_SENDS_MAX);
    assert!(recent.iter().all(|s| now - s.sent_at_ms < 20 * H));
}

#[test]
fn series_buckets_are_minutes_then_hours_then_nothing() {
    let t = 1_780_000_000_000;
    assert_eq!(bucket_minute(t, t), Some(t / 60_000));
    let late = t + SERIES_LATE_AFTER_MS + 90 * 60_000;
    assert_eq!(bucket_minute(late, t).map(|m| m % 60), Some(0));
    assert_eq!(bucket_minute(t + SERIES_MAX_AGE_MS + 1, t), None);
}

fn counts(sent: i64, unsubscribed: i64, blocked: i64) -> ProtectionCounts {
    ProtectionCounts {
        sent,
        unsubscribed,
        blocked,
    }
}

#[test]
fn protection_pauses_only_above_the_rate_and_after_the_minimum() {
    let p = Protection::default();
    assert_eq!((p.max_negative_rate, p.min_sends), (0.02, 200));
    assert_eq!(
        pause_reason(counts(199, 199, 0), None, &p),
        None,
        "too few sends to judge"
    );
    assert_eq!(
        pause_reason(counts(200, 4, 0), None, &p),
        None,
        "2% exactly is not above 2%"
    );
    let reason = pause_reason(counts(198, 3, 2), None, &p).expect("2.5% pauses");
    assert!(reason.contains("5 of 200 messages"), "{reason}");
    assert!(paused_by_protection(Some(&reason)));
    assert!(
        pause_reason(counts(1000, 0, 21), None, &p).is_some(),
        "blocks count too"
    );
}

#[test]
fn a_broadcast_whose_every_send_is_blocked_pauses_after_the_minimum() {
    let p = Protection::default();
    assert_eq!(pause_reason(counts(0, 0, 199), None, &p), None);
    let reason = pause_reason(counts(0, 0, 200), None, &p).expect("blocked sends are messages too");
    assert!(reason.contains("200 of 200 messages"), "{reason}");
}

#[test]
fn after_a_resume_of_its_pause_protection_judges_only_what_happened_since() {
    let p = Protection::default();
    let at_pause = counts(198, 3, 2);
    let reason = pause_reason(at_pause, None, &p).expect("paused");
    let base = baseline_at_resume(Some(&reason), at_pause, 7).expect("a protection pause sets a baseline");
    assert_eq!(base.resumed_at_ms, 7);
    assert_eq!(
        pause_reason(at_pause, Some(&base), &p),
        None,
        "the same counts do not pause again"
    );
    assert_eq!(
        pause_reason(counts(397, 30, 2), Some(&base), &p),
        None,
        "fewer than 200 new messages are not judged yet"
    );
    assert_eq!(
        pause_reason(counts(398, 7, 2), Some(&base), &p),
        None,
        "4 of 200 new messages: 2%, not above"
    );
    let again = pause_reason(counts(396, 6, 4), Some(&base), &p).expect("a new burst pauses again");
    assert!(again.contains("5 of 200 messages since the resume"), "{again}");
}

#[test]
fn resuming_a_pause_that_was_not_page_protections_keeps_the_baseline_in_force() {
    let now = counts(300, 5, 0);
    assert_eq!(baseline_at_resume(Some("paused through the API"), now, 1), None);
    assert_eq!(baseline_at_resume(Some("page token invalid"), now, 1), None);
    assert_eq!(baseline_at_resume(None, now, 1), None);
}

#[test]
fn protection_thresholds_are_checked() {
    assert!(Protection::new(0.05, 50).is_ok());
    assert_eq!(Protection::new(0.0, 50), Err(ProtectionError::Rate));
    assert_eq!(Protection::new(1.5, 50), Err(ProtectionError::Rate));
    assert_eq!(Protection::new(f64::NAN, 50), Err(ProtectionError::Rate));
    assert_eq!(Protection::new(0.02, 0), Err(ProtectionError::MinSends));
}

#[test]
fn the_unsubscribe_payload_names_its_broadcast_and_old_payloads_still_unsubscribe() {
    use crate::consent::{is_unsubscribe_payload, unsubscribe_broadcast, unsubscribe_payload, UNSUBSCRIBE_PAYLOAD};
    let p = unsubscribe_payload(&id(7));
    assert!(is_unsubscribe_payload(&p));
    assert_eq!(unsubscribe_broadcast(&p), Some(id(7)));
    assert!(is_unsubscribe_payload(UNSUBSCRIBE_PAYLOAD));
    assert_eq!(unsubscribe_broadcast(UNSUBSCRIBE_PAYLOAD), None);
    assert!(!is_unsubscribe_payload("OPTCAST_UNSUBSCRIBEX"));
    assert_eq!(unsubscribe_broadcast("OPTCAST_UNSUBSCRIBE:../x"), None);
}

#[test]
fn a_watermark_stamped_in_the_future_covers_only_what_was_sent_by_its_receipt() {
    let mut recent = vec![send(1, 1_000, "m1"), send(2, 9_000, "m2")];
    let far = Signal::Read {
        watermark_ms: 253_402_300_799_000,
    }
    .capped(5_000);
    let got = attribute(&mut recent, &far);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].read_at_ms, Some(5_000));
}

#[test]
fn a_read_watermark_counts_each_newly_covered_send_as_read_and_delivered_once() {
    let mut recent = vec![send(1, 1_000, "m1"), send(2, 2_000, "m2")];
    recent[0].delivered = true;
    let got = attribute(&mut recent, &Signal::Read { watermark_ms: 5_000 });
    assert_eq!(
        Counted::of(&got),
        Counted {
            delivered: 1,
            read: 2,
            unsubscribed: 0
        }
    );
    let again = attribute(&mut recent, &Signal::Read { watermark_ms: 6_000 });
    assert_eq!(Counted::of(&again), Counted::default());
}

#[test]
fn every_policy_skip_code_is_among_the_skip_reason_codes() {
    use crate::broadcast::PolicySkip;
    for p in [
        PolicySkip::OutsideWindow,
        PolicySkip::MarketingStopped,
        PolicySkip::MarketingExpired,
        PolicySkip::MarketingUnavailable,
        PolicySkip::MarketingTooSoon,
    ] {
        assert!(reason::SKIPPED.contains(&p.code()), "{}", p.code());
    }
    assert!(reason::FAILED.iter().all(|f| !reason::SKIPPED.contains(f)));
}

#[test]
fn a_preview_names_each_exclusion_a_sender_also_records_by_the_senders_code() {
    use crate::broadcast::{Exclusion, PolicySkip, Unplanned};
    for e in [
        Exclusion::Unplanned(Unplanned::Unsubscribed),
        Exclusion::Unplanned(Unplanned::Unreachable),
        Exclusion::Policy(PolicySkip::OutsideWindow),
        Exclusion::Policy(PolicySkip::MarketingTooSoon),
        Exclusion::MarketingHeld,
    ] {
        assert!(reason::SKIPPED.contains(&e.code()), "{}", e.code());
    }
}
