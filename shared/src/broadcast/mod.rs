//! Broadcast rules as plain functions: what a marketer may send, the message
//! Meta receives (always with an Unsubscribe control), and whether a lead may
//! receive it now under Meta's 2026 messaging policy.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::ids::BroadcastId;
use crate::meta::Platform;

/// Meta's text limit for a plain message.
pub const MAX_TEXT_CHARS: usize = 2000;
/// Button-template text limit.
pub const MAX_BUTTON_TEXT_CHARS: usize = 640;
/// Meta allows 13 quick replies; one is our Unsubscribe.
pub const MAX_QUICK_REPLIES: usize = 12;
/// Meta allows 3 buttons; one is our Unsubscribe.
pub const MAX_BUTTONS: usize = 2;
pub const WINDOW_MS: i64 = 24 * 60 * 60 * 1000;
/// Marketing messages: at most one per lead per rolling 48 hours.
pub const MARKETING_GAP_MS: i64 = 48 * 60 * 60 * 1000;
pub const UNSUBSCRIBE_TITLE: &str = "Unsubscribe";

/// Message tags Meta still documents (see meta-platform.md, and its late note
/// that three may be retired). Kept as data in one place. Broadcasts are
/// promotional and never carry a tag; `HUMAN_AGENT` is never automated.
pub const ALLOWED_NON_PROMOTIONAL_TAGS: &[&str] = &[
    "CONFIRMED_EVENT_UPDATE",
    "POST_PURCHASE_UPDATE",
    "ACCOUNT_UPDATE",
    "CUSTOMER_FEEDBACK",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuickReply {
    pub title: String,
    pub payload: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Button {
    Postback { title: String, payload: String },
    WebUrl { title: String, url: String },
}

/// What the marketer sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BroadcastMessage {
    pub text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quick_replies: Vec<QuickReply>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<Button>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{field}: {problem}")]
pub struct ValidationError {
    pub field: &'static str,
    pub problem: String,
}

fn invalid(field: &'static str, problem: impl Into<String>) -> ValidationError {
    ValidationError {
        field,
        problem: problem.into(),
    }
}

fn check_title(field: &'static str, title: &str) -> Result<(), ValidationError> {
    // Counted as sent: Meta refuses a title over 20 characters, spaces
    // included.
    if !crate::text::is_label(title) || title.chars().count() > 20 {
        return Err(invalid(
            field,
            "title must be 1 to 20 characters, not only spaces, without control characters",
        ));
    }
    if title.trim().eq_ignore_ascii_case(UNSUBSCRIBE_TITLE) {
        return Err(invalid(field, "the Unsubscribe control is added automatically"));
    }
    Ok(())
}

fn check_payload(field: &'static str, payload: &str) -> Result<(), ValidationError> {
    if payload.is_empty() || payload.len() > 1000 {
        return Err(invalid(field, "payload must be 1 to 1000 bytes"));
    }
    if crate::consent::is_unsubscribe_payload(payload) || payload == crate::consent::RESUBSCRIBE_PAYLOAD {
        return Err(invalid(field, "payload is reserved"));
    }
    Ok(())
}

/// A URL a `web_url` button may open: https, with a host, at most 2000
/// bytes, sent exactly as given (so nothing in it that a parser would
/// rewrite or a reader misread: no whitespace, control characters or bidi
/// overrides).
fn is_web_url(url: &str) -> bool {
    let names_a_host = url
        .strip_prefix("https://")
        .is_some_and(|rest| !rest.is_empty() && !rest.starts_with(['/', '?', '#']));
    url.len() <= 2000
        && names_a_host
        && !url.chars().any(char::is_whitespace)
        && !crate::text::has_hidden_characters(url)
        && reqwest::Url::parse(url).is_ok_and(|u| u.host_str().is_some_and(|h| !h.is_empty()))
}

impl BroadcastMessage {
    /// Checks the message against Meta's limits and our reserved controls.
    ///
    /// # Errors
    /// [`ValidationError`] naming the first field that breaks a rule (empty or
    /// too long text, too many quick replies or buttons, a bad title, payload or
    /// URL, a reserved payload or the Unsubscribe title).
    pub fn validate(&self) -> Result<(), ValidationError> {
        let chars = self.text.chars().count();
        if self.text.trim().is_empty() {
            return Err(invalid("message.text", "must not be empty"));
        }
        let limit = if self.buttons.is_empty() {
            MAX_TEXT_CHARS
        } else {
            MAX_BUTTON_TEXT_CHARS
        };
        if chars > limit {
            return Err(invalid(
                "message.text",
                format!("longer than Meta's limit of {limit} characters"),
            ));
        }
        if self.quick_replies.len() > MAX_QUICK_REPLIES {
            return Err(invalid("message.quick_replies", format!("at most {MAX_QUICK_REPLIES}")));
        }
        for q in &self.quick_replies {
            check_title("message.quick_replies.title", &q.title)?;
            check_payload("message.quick_replies.payload", &q.payload)?;
        }
        if self.buttons.len() > MAX_BUTTONS {
            return Err(invalid("message.buttons", format!("at most {MAX_BUTTONS}")));
        }
        for b in &self.buttons {
            match b {
                Button::Postback { title, payload } => {
                    check_title("message.buttons.title", title)?;
                    check_payload("message.buttons.payload", payload)?;
                }
                Button::WebUrl { title, url } => {
                    check_title("message.buttons.title", title)?;
                    if !is_web_url(url) {
                        return Err(invalid(
                            "message.buttons.url",
                            "must be an https URL with a host, at most 2000 bytes, without spaces or control characters",
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// The Send API `message` object, with the Unsubscribe control appended
    /// whatever the variant, and the broadcast id as metadata (echoed back).
    /// The Unsubscribe control's payload names the broadcast
    /// ([`crate::consent::unsubscribe_payload`]), so a tap is attributed to it.
    pub fn render(&self, id: &BroadcastId) -> Value {
        let metadata = format!("bcast:{id}");
        let unsubscribe = crate::consent::unsubscribe_payload(id);
        let quick_replies: Vec<Value> = self
            .quick_replies
            .iter()
            .map(|q| json!({"content_type": "text", "title": q.title, "payload": q.payload}))
            .collect();
        if self.buttons.is_empty() {
            let mut qr = quick_replies;
            qr.push(json!({"content_type": "text", "title": UNSUBSCRIBE_TITLE, "payload": unsubscribe}));
            json!({"text": self.text, "quick_replies": qr, "metadata": metadata})
        } else {
            let mut buttons: Vec<Value> = self
                .buttons
                .iter()
                .map(|b| match b {
                    Button::Postback { title, payload } => {
                        json!({"type": "postback", "title": title, "payload": payload})
                    }
                    Button::WebUrl { title, url } => json!({"type": "web_url", "title": title, "url": url}),
                })
                .collect();
            buttons.push(json!({"type": "postback", "title": UNSUBSCRIBE_TITLE, "payload": unsubscribe}));
            let mut message = json!({
                "attachment": {"type": "template", "payload": {"template_type": "button", "text": self.text, "buttons": buttons}},
                "metadata": metadata,
            });
            if !quick_replies.is_empty() {
                message["quick_replies"] = Value::Array(quick_replies);
            }
            message
        }
    }
}

/// What the sender knows about a lead when deciding (from the audience index).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadSnapshot {
    pub platform: Platform,
    pub last_inbound_at_ms: Option<i64>,
    pub marketing: Option<MarketingSnapshot>,
    /// The lead's lifetime when planned ([`crate::lead::Subscriber::generation`]):
    /// the claim holds the job to it, so a job planned for a lead erased
    /// since never reaches the lead the person began after (jobs planned
    /// before generations carry none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketingSnapshot {
    pub expires_at_ms: Option<i64>,
    pub stopped: bool,
    pub last_sent_at_ms: Option<i64>,
}

/// How a lead may be reached now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendRoute {
    /// Inside the 24-hour window: `messaging_type: UPDATE` to the PSID.
    Window,
    /// Outside it, with a marketing-messages token the lead granted.
    MarketingToken,
    Skip(PolicySkip),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicySkip {
    OutsideWindow,
    MarketingStopped,
    MarketingExpired,
    /// Meta no longer honours tokens in the page's region (since 10 Feb 2026).
    MarketingUnavailable,
    MarketingTooSoon,
}

impl PolicySkip {
    /// The reason code stored on the skipped delivery (and shown by
    /// `GET /v1/broadcasts/<id>/recipients/<psid>`).
    pub fn code(self) -> &'static str {
        match self {
            PolicySkip::OutsideWindow => "outside_window",
            PolicySkip::MarketingStopped => "marketing_stopped",
            PolicySkip::MarketingExpired => "marketing_expired",
            PolicySkip::MarketingUnavailable => "marketing_unavailable",
            PolicySkip::MarketingTooSoon => "marketing_too_soon",
        }
    }
}

/// Meta's policy as of 2026 for a promotional broadcast. Never a message tag.
pub fn route(now_ms: i64, lead: &LeadSnapshot, marketing_messages_available: bool) -> SendRoute {
    if lead.last_inbound_at_ms.is_some_and(|t| now_ms - t < WINDOW_MS) {
        return SendRoute::Window;
    }
    // Instagram: no promotion outside the window at all.
    if lead.platform == Platform::Instagram {
        return SendRoute::Skip(PolicySkip::OutsideWindow);
    }
    let Some(m) = &lead.marketing else {
        return SendRoute::Skip(PolicySkip::OutsideWindow);
    };
    if m.stopped {
        return SendRoute::Skip(PolicySkip::MarketingStopped);
    }
    if m.expires_at_ms.is_some_and(|e| e <= now_ms) {
        return SendRoute::Skip(PolicySkip::MarketingExpired);
    }
    if !marketing_messages_available {
        return SendRoute::Skip(PolicySkip::MarketingUnavailable);
    }
    if m.last_sent_at_ms.is_some_and(|t| now_ms - t < MARKETING_GAP_MS) {
        return SendRoute::Skip(PolicySkip::MarketingTooSoon);
    }
    SendRoute::MarketingToken
}

/// Regions where Meta still honours marketing-messages tokens (from 10 Feb 2026).
pub const MARKETING_MESSAGE_REGIONS: &[&str] = &["AU", "EU", "JP", "KR", "UK"];

pub fn marketing_messages_available(region: Option<&str>) -> bool {
    region.is_some_and(|r| MARKETING_MESSAGE_REGIONS.contains(&r.to_ascii_uppercase().as_str()))
}

/// The tag rule (in [`crate::tags`]): who a broadcast's audience tags include.
pub use crate::tags::audience_matches;

mod sending;
pub use sending::*;
mod new;
pub use new::{BroadcastRequest, InvalidBroadcast, NewBroadcast, MAX_NAME_BYTES, SEND_AT_SLACK_MS};
mod on_error;
pub use on_error::{on_send_error, SendErrorAction};
mod state;
pub use state::{BroadcastState, TRANSITIONS};
mod skip;
pub use skip::{parked_outcome, skip_outcome, LeadStanding, ParkedEnd};
mod eligibility;
pub use eligibility::{judge, planned, Exclusion, Reach, Unplanned};
mod preview;
pub use preview::{
    judged_at, preview_message, PreviewCounts, MAX_PREVIEW_LEADS, PREVIEW_BROADCAST_ID, PREVIEW_QUERY_LEADS,
};
mod test_send;
pub use test_send::{
    may_test_send, parse_test_psids, policy_code, snapshot, test_message, InvalidTestPsids, TestSkip, MAX_TEST_PSIDS,
};

#[cfg(test)]
mod tests;
