//! Who a broadcast reaches, as one rule in two steps: the planner's
//! ([`planned`]: subscribed, and carrying one of the broadcast's tags) and
//! the sender's ([`route`] under Meta's policy, then the marketing hold its
//! claim takes). The planner calls [`planned`]; the preview calls [`judge`],
//! which is those same functions in the order a real run applies them.

use super::{route, snapshot, MarketingHold, PolicySkip, SendRoute};
use crate::consent::SubscriberStatus;
use crate::lead::Subscriber;
use crate::tags::audience_matches;

/// Why the planner plans no send for a lead of the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unplanned {
    /// The lead unsubscribed (not in the audience index).
    Unsubscribed,
    /// Meta said the lead cannot be reached (blocked, unavailable) or the
    /// lead was erased (not in the audience index either).
    Unreachable,
    /// Subscribed, but carries none of the broadcast's audience tags.
    TagsNotMatched,
}

/// The planner's rule: a send is planned for `lead` when it is subscribed
/// (the sparse audience index holds only those) and the tag rule
/// ([`audience_matches`]) takes it for `audience_tags`.
///
/// # Errors
/// The [`Unplanned`] reason, status first, then tags.
pub fn planned(lead: &Subscriber, audience_tags: &[String]) -> Result<(), Unplanned> {
    match lead.status {
        SubscriberStatus::Subscribed => {}
        SubscriberStatus::Unsubscribed => return Err(Unplanned::Unsubscribed),
        SubscriberStatus::Unreachable | SubscriberStatus::Erased => return Err(Unplanned::Unreachable),
    }
    if audience_matches(&lead.tags, audience_tags) {
        Ok(())
    } else {
        Err(Unplanned::TagsNotMatched)
    }
}

/// How a lead would be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Inside the 24-hour window (`messaging_type: UPDATE` to the PSID).
    Window,
    /// Outside it, with the lead's marketing-messages token.
    MarketingToken,
}

/// Why a lead of the page would not be sent the broadcast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exclusion {
    /// The planner would plan no send ([`planned`]).
    Unplanned(Unplanned),
    /// The sender would skip it under Meta's policy ([`route`]).
    Policy(PolicySkip),
    /// Only the marketing token could reach it, and another marketing send
    /// holds the lead's one message in 48 hours ([`MarketingHold::holds`]):
    /// the sender's claim would fail.
    MarketingHeld,
}

impl Exclusion {
    /// The reason code the API reports (the sender's codes for policy skips).
    pub fn code(self) -> &'static str {
        match self {
            Exclusion::Unplanned(Unplanned::Unsubscribed) => "unsubscribed",
            Exclusion::Unplanned(Unplanned::Unreachable) => "unreachable",
            Exclusion::Unplanned(Unplanned::TagsNotMatched) => "tags_not_matched",
            Exclusion::Policy(p) => super::policy_code(p),
            Exclusion::MarketingHeld => crate::outcomes::reason::MARKETING_HOLD,
        }
    }
}

/// What a run started at `at_ms` (ms since the epoch) would do with `lead`,
/// as read now, on a page where marketing messages are `marketing_available`
/// ([`super::marketing_messages_available`]): the planner's rule, then the
/// sender's policy route, then its claim's marketing hold.
///
/// # Errors
/// The first [`Exclusion`] met in that order.
pub fn judge(
    at_ms: i64,
    lead: &Subscriber,
    audience_tags: &[String],
    marketing_available: bool,
) -> Result<Reach, Exclusion> {
    planned(lead, audience_tags).map_err(Exclusion::Unplanned)?;
    match route(at_ms, &snapshot(lead), marketing_available) {
        SendRoute::Window => Ok(Reach::Window),
        SendRoute::MarketingToken if MarketingHold::holds(lead.marketing_hold_until_ms, at_ms) => {
            Err(Exclusion::MarketingHeld)
        }
        SendRoute::MarketingToken => Ok(Reach::MarketingToken),
        SendRoute::Skip(p) => Err(Exclusion::Policy(p)),
    }
}
