//! What a send job that will not send records: one rule for the sender (a
//! lead no longer eligible at claim time), for erasure (a parked job of a
//! lead being erased) and for the retention sweep (a parked job past its
//! page's retention), so a broadcast's counts mean the same either way.

use super::{DeliveryState, PolicySkip};
use crate::consent::SubscriberStatus;
use crate::outcomes::reason;

/// What a skip is judged on: the lead's consent status and whether they
/// stopped their marketing-messages token, as read right after the claim
/// refused the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeadStanding {
    pub status: SubscriberStatus,
    /// The lead's marketing-messages token is stopped (Meta's
    /// `notification_messages` "stop" event).
    pub marketing_stopped: bool,
}

impl From<SubscriberStatus> for LeadStanding {
    /// A standing with the token running.
    fn from(status: SubscriberStatus) -> Self {
        LeadStanding {
            status,
            marketing_stopped: false,
        }
    }
}

/// The delivery state and reason code (`GET /v1/broadcasts/<id>/recipients/<psid>`)
/// of a skipped job, from the lead's standing when it was judged (`None`: no
/// subscriber record of the job's lifetime, i.e. erased) and the policy that
/// refused it, if any.
///
/// - Subscribed: `skipped_policy`, with the policy's code; when none was
///   named (the claim's marketing condition refused it), `marketing_stopped`
///   if the lead stopped their token meanwhile, else
///   [`reason::MARKETING_HOLD`] (another marketing message holds the lead's
///   48 hours, meta-platform.md §5).
/// - Otherwise `skipped_unsubscribed`, with the status as reason:
///   [`reason::UNREACHABLE`], [`reason::ERASED`] (erased, or no record), else
///   [`reason::UNSUBSCRIBED`].
pub fn skip_outcome(standing: Option<LeadStanding>, policy: Option<PolicySkip>) -> (DeliveryState, &'static str) {
    let Some(LeadStanding {
        status,
        marketing_stopped,
    }) = standing
    else {
        return (DeliveryState::SkippedUnsubscribed, reason::ERASED);
    };
    match (status, policy) {
        (SubscriberStatus::Subscribed, Some(p)) => (DeliveryState::SkippedPolicy, p.code()),
        (SubscriberStatus::Subscribed, None) if marketing_stopped => {
            (DeliveryState::SkippedPolicy, PolicySkip::MarketingStopped.code())
        }
        (SubscriberStatus::Subscribed, None) => (DeliveryState::SkippedPolicy, reason::MARKETING_HOLD),
        (SubscriberStatus::Unreachable, _) => (DeliveryState::SkippedUnsubscribed, reason::UNREACHABLE),
        (SubscriberStatus::Erased, _) => (DeliveryState::SkippedUnsubscribed, reason::ERASED),
        (SubscriberStatus::Unsubscribed, _) => (DeliveryState::SkippedUnsubscribed, reason::UNSUBSCRIBED),
    }
}

/// Why a parked job (a send job kept while its broadcast is paused) is
/// deleted before the resume queues it again. Either way it is counted as a
/// skip ([`parked_outcome`]), so the resumed broadcast still reaches its
/// planned total and finishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParkedEnd {
    /// Its lead is being erased (`POST /v1/erasure`, Meta's callback, the
    /// purge of long-unsubscribed leads).
    Erased,
    /// It waited longer than its page's retention (`retention_days`): the
    /// retention sweep deletes it.
    RetentionExpired,
}

impl ParkedEnd {
    /// Whether its skip record names the lead by digest only
    /// (`SUB#~<digest>`): after an erasure no PSID is left behind. A job
    /// past retention is recorded under the lead's PSID, like a sender's
    /// skip, so a sender's claim of the same job meets it and stops.
    pub fn by_digest(self) -> bool {
        matches!(self, ParkedEnd::Erased)
    }
}

/// The delivery state and reason code a parked job ended by `end` is counted
/// under: an erased lead's as a sender's skip of an erased lead
/// ([`skip_outcome`]`(None, None)`); a job past retention as
/// `skipped_policy` ([`reason::RETENTION_EXPIRED`]: the page's retention
/// policy, not the lead's consent, stopped it).
pub fn parked_outcome(end: ParkedEnd) -> (DeliveryState, &'static str) {
    match end {
        ParkedEnd::Erased => skip_outcome(None, None),
        ParkedEnd::RetentionExpired => (DeliveryState::SkippedPolicy, reason::RETENTION_EXPIRED),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parked_job_of_an_erased_lead_is_counted_as_a_senders_skip_of_an_erased_lead_by_digest() {
        assert_eq!(parked_outcome(ParkedEnd::Erased), skip_outcome(None, None));
        assert!(ParkedEnd::Erased.by_digest());
    }

    #[test]
    fn a_parked_job_past_retention_is_skipped_by_policy_for_retention_under_its_psid() {
        assert_eq!(
            parked_outcome(ParkedEnd::RetentionExpired),
            (DeliveryState::SkippedPolicy, "retention_expired")
        );
        assert!(!ParkedEnd::RetentionExpired.by_digest());
    }

    #[test]
    fn a_subscribed_lead_refused_by_policy_is_skipped_for_that_policy() {
        assert_eq!(
            skip_outcome(
                Some(SubscriberStatus::Subscribed.into()),
                Some(PolicySkip::OutsideWindow)
            ),
            (DeliveryState::SkippedPolicy, "outside_window")
        );
    }

    #[test]
    fn a_subscribed_lead_refused_without_a_policy_is_held_by_another_marketing_message() {
        assert_eq!(
            skip_outcome(Some(SubscriberStatus::Subscribed.into()), None),
            (DeliveryState::SkippedPolicy, "marketing_hold")
        );
    }

    #[test]
    fn a_subscribed_lead_refused_without_a_policy_after_stopping_their_token_is_skipped_as_stopped() {
        let stopped = LeadStanding {
            status: SubscriberStatus::Subscribed,
            marketing_stopped: true,
        };
        assert_eq!(
            skip_outcome(Some(stopped), None),
            (DeliveryState::SkippedPolicy, "marketing_stopped")
        );
        // A named policy still wins; an opt-out still counts as one.
        assert_eq!(
            skip_outcome(Some(stopped), Some(PolicySkip::MarketingTooSoon)).1,
            "marketing_too_soon"
        );
        let unsubscribed = LeadStanding {
            status: SubscriberStatus::Unsubscribed,
            marketing_stopped: true,
        };
        assert_eq!(skip_outcome(Some(unsubscribed), None).1, "unsubscribed");
    }

    #[test]
    fn a_lead_erased_or_without_a_record_is_skipped_as_erased_whatever_the_policy() {
        for status in [Some(SubscriberStatus::Erased.into()), None] {
            for policy in [None, Some(PolicySkip::MarketingTooSoon)] {
                assert_eq!(
                    skip_outcome(status, policy),
                    (DeliveryState::SkippedUnsubscribed, "erased")
                );
            }
        }
    }

    #[test]
    fn an_unreachable_or_unsubscribed_lead_is_skipped_for_its_status() {
        assert_eq!(
            skip_outcome(Some(SubscriberStatus::Unreachable.into()), None),
            (DeliveryState::SkippedUnsubscribed, "unreachable")
        );
        assert_eq!(
            skip_outcome(Some(SubscriberStatus::Unsubscribed.into()), None),
            (DeliveryState::SkippedUnsubscribed, "unsubscribed")
        );
    }
}
