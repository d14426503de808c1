//! A test send (`POST /v1/broadcasts/<id>/test`): the broadcast's message,
//! now, to a few named leads of its page, under the rules of a real send:
//! only a subscribed lead, only where Meta's policy lets the message reach
//! them now ([`super::route`]). It is not part of the broadcast: no
//! delivery record, no counts, so the real run still sends to the same
//! leads. It never uses a lead's marketing-messages token: Meta allows one
//! marketing message per lead in 48 hours, and a test would take the real
//! broadcast's.

use serde_json::Value;

use super::{route, BroadcastMessage, LeadSnapshot, MarketingSnapshot, PolicySkip, SendRoute};
use crate::consent::SubscriberStatus;
use crate::ids::{BroadcastId, Psid};
use crate::lead::Subscriber;

/// Most PSIDs one test send names.
pub const MAX_TEST_PSIDS: usize = 10;

/// Why a test send skipped a lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestSkip {
    /// No lead of the page has this PSID (never seen, or erased).
    NotALead,
    /// The lead is unsubscribed (or unreachable): a real send skips them too.
    NotSubscribed,
    /// Meta's policy does not let the message reach them now.
    Policy(PolicySkip),
    /// Only a marketing-messages token could reach them; a test never spends it.
    MarketingTokenReserved,
}

impl TestSkip {
    /// The reason code the API reports.
    pub fn code(self) -> &'static str {
        match self {
            TestSkip::NotALead => "not_a_lead",
            TestSkip::NotSubscribed => "not_subscribed",
            TestSkip::Policy(p) => policy_code(p),
            TestSkip::MarketingTokenReserved => "marketing_token_reserved",
        }
    }
}

/// The code of a policy skip (`outside_window`, `marketing_stopped`, …).
pub fn policy_code(p: PolicySkip) -> &'static str {
    match p {
        PolicySkip::OutsideWindow => "outside_window",
        PolicySkip::MarketingStopped => "marketing_stopped",
        PolicySkip::MarketingExpired => "marketing_expired",
        PolicySkip::MarketingUnavailable => "marketing_unavailable",
        PolicySkip::MarketingTooSoon => "marketing_too_soon",
    }
}

/// What the sender would know of `lead` from the audience index.
pub fn snapshot(lead: &Subscriber) -> LeadSnapshot {
    LeadSnapshot {
        platform: lead.platform,
        last_inbound_at_ms: lead.last_inbound_at_ms,
        marketing: lead.marketing.as_ref().map(|m| MarketingSnapshot {
            expires_at_ms: m.expires_at_ms,
            stopped: m.stopped,
            last_sent_at_ms: lead.last_marketing_sent_at_ms,
        }),
        generation: lead.generation.clone(),
    }
}

/// Whether a test send may go to `lead` (as read now, consistently) at
/// `now_ms`: inside the 24-hour window to a subscribed lead, else the reason.
///
/// # Errors
/// The [`TestSkip`] that stops it.
pub fn may_test_send(now_ms: i64, lead: Option<&Subscriber>, marketing_available: bool) -> Result<(), TestSkip> {
    let lead = lead.ok_or(TestSkip::NotALead)?;
    match lead.status {
        SubscriberStatus::Subscribed => {}
        SubscriberStatus::Erased => return Err(TestSkip::NotALead),
        SubscriberStatus::Unsubscribed | SubscriberStatus::Unreachable => return Err(TestSkip::NotSubscribed),
    }
    match route(now_ms, &snapshot(lead), marketing_available) {
        SendRoute::Window => Ok(()),
        SendRoute::MarketingToken => Err(TestSkip::MarketingTokenReserved),
        SendRoute::Skip(p) => Err(TestSkip::Policy(p)),
    }
}

/// The message a test send sends: the real one (Unsubscribe control
/// included), its metadata marking it a test of the broadcast.
pub fn test_message(message: &BroadcastMessage, id: &BroadcastId) -> Value {
    let mut m = message.render(id);
    m["metadata"] = Value::String(format!("bcast-test:{id}"));
    m
}

/// A bad list of PSIDs to test-send to: its error code and message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InvalidTestPsids {
    pub code: &'static str,
    pub message: String,
}

/// The PSIDs a test send names: 1 to [`MAX_TEST_PSIDS`], each a Meta id;
/// one named twice is sent to once (first order kept).
///
/// # Errors
/// [`InvalidTestPsids`]: `no_psids`, `too_many_psids` or `invalid_psid`.
pub fn parse_test_psids(raw: Vec<String>) -> Result<Vec<Psid>, InvalidTestPsids> {
    let invalid = |code, message: String| InvalidTestPsids { code, message };
    if raw.is_empty() {
        return Err(invalid("no_psids", "psids must name at least one PSID".into()));
    }
    if raw.len() > MAX_TEST_PSIDS {
        return Err(invalid(
            "too_many_psids",
            format!("a test send names at most {MAX_TEST_PSIDS} PSIDs"),
        ));
    }
    let mut out: Vec<Psid> = Vec::with_capacity(raw.len());
    for p in raw {
        let psid = Psid::parse(p).map_err(|e| invalid("invalid_psid", e.to_string()))?;
        if !out.contains(&psid) {
            out.push(psid);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::PageId;
    use crate::lead::MarketingToken;

    const NOW: i64 = 1_800_000_000_000;

    fn lead(status: SubscriberStatus, last_inbound_at_ms: Option<i64>) -> Subscriber {
        let mut s = Subscriber::new(
            PageId::parse("1000000000000001").unwrap(),
            Psid::parse("2000000000000001").unwrap(),
            crate::meta::Platform::Messenger,
            Vec::new(),
            NOW - 1000,
        );
        s.status = status;
        s.last_inbound_at_ms = last_inbound_at_ms;
        s
    }

    #[test]
    fn a_test_send_reaches_a_subscribed_lead_inside_the_window() {
        assert_eq!(
            may_test_send(
                NOW,
                Some(&lead(SubscriberStatus::Subscribed, Some(NOW - 60_000))),
                false
            ),
            Ok(())
        );
    }

    #[test]
    fn a_test_send_never_reaches_an_unsubscribed_unreachable_erased_or_unknown_lead() {
        let recent = Some(NOW - 60_000);
        for (status, skip) in [
            (SubscriberStatus::Unsubscribed, TestSkip::NotSubscribed),
            (SubscriberStatus::Unreachable, TestSkip::NotSubscribed),
            (SubscriberStatus::Erased, TestSkip::NotALead),
        ] {
            assert_eq!(may_test_send(NOW, Some(&lead(status, recent)), true), Err(skip));
        }
        assert_eq!(may_test_send(NOW, None, true), Err(TestSkip::NotALead));
    }

    #[test]
    fn a_test_send_follows_the_window_and_never_spends_a_marketing_token() {
        let old = Some(NOW - 2 * super::super::WINDOW_MS);
        let outside = lead(SubscriberStatus::Subscribed, old);
        assert_eq!(
            may_test_send(NOW, Some(&outside), true),
            Err(TestSkip::Policy(PolicySkip::OutsideWindow))
        );
        let mut with_token = outside.clone();
        with_token.marketing = Some(MarketingToken {
            sealed: vec![1],
            expires_at_ms: None,
            stopped: false,
            timezone: None,
        });
        assert_eq!(
            may_test_send(NOW, Some(&with_token), true),
            Err(TestSkip::MarketingTokenReserved)
        );
        assert_eq!(TestSkip::MarketingTokenReserved.code(), "marketing_token_reserved");
        assert_eq!(
            may_test_send(NOW, Some(&with_token), false).map_err(TestSkip::code),
            Err("marketing_unavailable")
        );
    }

    #[test]
    fn a_test_message_is_the_real_one_marked_as_a_test() {
        let id = BroadcastId::generate();
        let message = BroadcastMessage {
            text: "Spring sale".into(),
            quick_replies: vec![],
            buttons: vec![],
        };
        let real = message.render(&id);
        let test = test_message(&message, &id);
        assert_eq!(test["quick_replies"], real["quick_replies"]);
        assert_eq!(test["text"], real["text"]);
        assert_eq!(test["metadata"], format!("bcast-test:{id}"));
    }

    #[test]
    fn test_psids_are_one_to_ten_meta_ids_each_sent_to_once() {
        let p = |s: &str| s.to_string();
        assert_eq!(parse_test_psids(vec![]).unwrap_err().code, "no_psids");
        let eleven: Vec<String> = (0..11).map(|i| format!("200000000000000{i}")).collect();
        assert_eq!(parse_test_psids(eleven).unwrap_err().code, "too_many_psids");
        assert_eq!(parse_test_psids(vec![p("12a")]).unwrap_err().code, "invalid_psid");
        let ok = parse_test_psids(vec![
            p("2000000000000002"),
            p("2000000000000001"),
            p("2000000000000002"),
        ])
        .unwrap();
        assert_eq!(
            ok.iter().map(Psid::as_str).collect::<Vec<_>>(),
            ["2000000000000002", "2000000000000001"]
        );
    }
}
