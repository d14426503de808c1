//! What the sender does about a failed Send API call: one table from
//! Meta's error class ([`crate::graph::classify`]) to an action, so the
//! sender only carries it out.

use crate::graph::ErrorClass;

/// The sender's answer to a Send API error for one `(broadcast, lead)` job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendErrorAction {
    /// Release the claim and let the job come back later (not a failure).
    /// `throttle_page`: the page hit Meta's rate limit, so the batch's other
    /// jobs for that page wait too instead of calling.
    Retry { reason: &'static str, throttle_page: bool },
    /// Meta's policy refused this lead now: record `skipped_policy`, never retry.
    SkipPolicy,
    /// The person cannot be reached: mark the lead unreachable, record the job failed.
    MarkUnreachable,
    /// Something is wrong with the page (token, permission, abuse): pause the
    /// broadcast with `reason`, forget the page's cached token, release the claim.
    PauseBroadcast { reason: &'static str },
    /// Our request was wrong: record the job failed, never retry.
    Fail,
    /// It may have been sent: record the job failed (`unknown_outcome`),
    /// holding the lead's marketing slot as a send would, never retry.
    RecordUnknown,
}

/// The action for each error class.
pub fn on_send_error(class: ErrorClass) -> SendErrorAction {
    use SendErrorAction::*;
    match class {
        ErrorClass::RateLimited => Retry {
            reason: "rate limited",
            throttle_page: true,
        },
        ErrorClass::Transient => Retry {
            reason: "transient Send API error",
            throttle_page: false,
        },
        ErrorClass::PolicyBlocked => SkipPolicy,
        ErrorClass::Unreachable => MarkUnreachable,
        ErrorClass::InvalidToken => PauseBroadcast {
            reason: "InvalidToken from the Send API",
        },
        ErrorClass::Permission => PauseBroadcast {
            reason: "Permission from the Send API",
        },
        ErrorClass::Abusive => PauseBroadcast {
            reason: "Abusive from the Send API",
        },
        ErrorClass::Invalid => Fail,
        ErrorClass::OutcomeUnknown => RecordUnknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::classify;

    const ALL: [ErrorClass; 9] = [
        ErrorClass::RateLimited,
        ErrorClass::PolicyBlocked,
        ErrorClass::Unreachable,
        ErrorClass::InvalidToken,
        ErrorClass::Permission,
        ErrorClass::Abusive,
        ErrorClass::Transient,
        ErrorClass::Invalid,
        ErrorClass::OutcomeUnknown,
    ];

    #[test]
    fn only_retryable_classes_are_retried() {
        for class in ALL {
            assert_eq!(
                matches!(on_send_error(class), SendErrorAction::Retry { .. }),
                class.is_retryable(),
                "{class:?}"
            );
        }
    }

    #[test]
    fn a_rate_limit_holds_back_the_page_and_a_transient_error_does_not() {
        assert_eq!(
            on_send_error(classify(400, Some(613), None)),
            SendErrorAction::Retry {
                reason: "rate limited",
                throttle_page: true
            }
        );
        assert_eq!(
            on_send_error(classify(503, None, None)),
            SendErrorAction::Retry {
                reason: "transient Send API error",
                throttle_page: false
            }
        );
    }

    #[test]
    fn page_level_errors_pause_the_broadcast_naming_the_class() {
        for class in [ErrorClass::InvalidToken, ErrorClass::Permission, ErrorClass::Abusive] {
            match on_send_error(class) {
                SendErrorAction::PauseBroadcast { reason } => {
                    assert_eq!(reason, format!("{class:?} from the Send API"))
                }
                other => panic!("{class:?}: {other:?}"),
            }
        }
        assert!(matches!(
            on_send_error(classify(400, Some(190), None)),
            SendErrorAction::PauseBroadcast { .. }
        ));
    }

    #[test]
    fn the_lead_is_marked_unreachable_only_when_meta_says_so() {
        assert_eq!(
            on_send_error(classify(400, Some(551), None)),
            SendErrorAction::MarkUnreachable
        );
        for class in ALL {
            assert_eq!(
                on_send_error(class) == SendErrorAction::MarkUnreachable,
                class == ErrorClass::Unreachable
            );
        }
    }

    #[test]
    fn policy_refusals_are_skipped_and_our_bugs_fail() {
        assert_eq!(
            on_send_error(classify(400, Some(10), Some(2018278))),
            SendErrorAction::SkipPolicy
        );
        assert_eq!(on_send_error(classify(400, Some(100), None)), SendErrorAction::Fail);
    }
}
