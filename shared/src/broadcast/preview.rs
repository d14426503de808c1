//! The dry run of a broadcast (`POST /v1/broadcasts/preview`): each lead of
//! the page judged by the planner's and the sender's own rules
//! ([`super::judge`]), counted by outcome, and the message as the sender
//! renders it. Nothing here stores or sends.

use serde::Serialize;
use serde_json::Value;

use super::{BroadcastMessage, Exclusion, PolicySkip, Reach, Unplanned};
use crate::ids::BroadcastId;

/// Leads one preview call reads at most (its `limit`, default and maximum).
/// A page with more is answered with the counts of the leads read, in PSID
/// order, `complete: false` and a cursor to count the next ones: never a
/// sample, never extrapolated. 10,000 leads are about 7 MB of items: a few
/// seconds of DynamoDB queries, well inside API Gateway's 30 s.
pub const MAX_PREVIEW_LEADS: usize = 10_000;

/// Leads per DynamoDB query while previewing (each query also stops at 1 MB).
pub const PREVIEW_QUERY_LEADS: usize = 1_000;

/// The id a preview's message is rendered with (32 zeros): the metadata the
/// sender sets names the broadcast, whose id exists only once created.
pub const PREVIEW_BROADCAST_ID: &str = "00000000000000000000000000000000";

/// When a preview judges Meta's window and the marketing rules (ms since
/// the epoch): at `send_at` when it lies ahead, else now. What the lead
/// does before then (writing again, opting out) cannot be known; consent,
/// tags and tokens are judged as they stand now.
pub fn judged_at(send_at_ms: Option<i64>, now_ms: i64) -> i64 {
    send_at_ms.map_or(now_ms, |t| t.max(now_ms))
}

/// The Send API `message` the sender would send (Unsubscribe control
/// included), rendered by the sender's own [`BroadcastMessage::render`] with
/// [`PREVIEW_BROADCAST_ID`] where the broadcast's id will be.
pub fn preview_message(message: &BroadcastMessage) -> Value {
    let id = BroadcastId::parse(PREVIEW_BROADCAST_ID).expect("32 hex digits are a broadcast id");
    message.render(&id)
}

/// What a preview counted, one field per outcome; every lead read is in
/// exactly one field.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PreviewCounts {
    /// Would be messaged inside the 24-hour window.
    pub window: u64,
    /// Would be messaged with their marketing-messages token.
    pub marketing_token: u64,
    pub unsubscribed: u64,
    /// Blocked or unavailable per Meta, or erased.
    pub unreachable: u64,
    pub tags_not_matched: u64,
    /// Outside the 24-hour window with no marketing-messages token (or on
    /// Instagram, where no promotion goes outside the window).
    pub outside_window: u64,
    pub marketing_stopped: u64,
    pub marketing_expired: u64,
    /// The page's region is one where Meta no longer honours tokens.
    pub marketing_unavailable: u64,
    /// A marketing message was sent to the lead in the last 48 hours.
    pub marketing_too_soon: u64,
    /// Another broadcast's marketing send holds the lead right now.
    pub marketing_hold: u64,
}

impl PreviewCounts {
    /// Counts one lead's verdict ([`super::judge`]).
    pub fn add(&mut self, verdict: Result<Reach, Exclusion>) {
        let field = match verdict {
            Ok(Reach::Window) => &mut self.window,
            Ok(Reach::MarketingToken) => &mut self.marketing_token,
            Err(Exclusion::Unplanned(Unplanned::Unsubscribed)) => &mut self.unsubscribed,
            Err(Exclusion::Unplanned(Unplanned::Unreachable)) => &mut self.unreachable,
            Err(Exclusion::Unplanned(Unplanned::TagsNotMatched)) => &mut self.tags_not_matched,
            Err(Exclusion::Policy(PolicySkip::OutsideWindow)) => &mut self.outside_window,
            Err(Exclusion::Policy(PolicySkip::MarketingStopped)) => &mut self.marketing_stopped,
            Err(Exclusion::Policy(PolicySkip::MarketingExpired)) => &mut self.marketing_expired,
            Err(Exclusion::Policy(PolicySkip::MarketingUnavailable)) => &mut self.marketing_unavailable,
            Err(Exclusion::Policy(PolicySkip::MarketingTooSoon)) => &mut self.marketing_too_soon,
            Err(Exclusion::MarketingHeld) => &mut self.marketing_hold,
        };
        *field += 1;
    }

    /// Leads that would be messaged.
    pub fn audience(&self) -> u64 {
        self.window + self.marketing_token
    }

    /// Leads that would not, whatever the reason.
    pub fn excluded(&self) -> u64 {
        self.unsubscribed
            + self.unreachable
            + self.tags_not_matched
            + self.outside_window
            + self.marketing_stopped
            + self.marketing_expired
            + self.marketing_unavailable
            + self.marketing_too_soon
            + self.marketing_hold
    }
}

#[cfg(test)]
#[path = "preview_tests.rs"]
mod tests;
