//! A broadcast as the management API receives it ([`BroadcastRequest`]),
//! and the one place it becomes a valid value ([`NewBroadcast::parse`]):
//! after that nothing re-checks it.

use serde::Deserialize;

use super::{Broadcast, BroadcastMessage, BroadcastState, Counts};
use crate::ids::{BroadcastId, PageId};
use crate::tags;

/// Longest broadcast name, in bytes.
pub const MAX_NAME_BYTES: usize = 200;
/// How far in the past `send_at` may lie (clock skew), in ms.
pub const SEND_AT_SLACK_MS: i64 = 60_000;

/// The body of `POST /v1/broadcasts`, as sent. Unknown fields are refused.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BroadcastRequest {
    /// A Meta Page id (decimal digits).
    pub page_id: String,
    pub message: BroadcastMessage,
    /// Audience tags; none means every subscribed lead.
    #[serde(default)]
    pub tags: Vec<String>,
    /// RFC 3339; absent means now.
    #[serde(default)]
    pub send_at: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

/// Why a request is not a broadcast: `code` is the API's error code
/// (`invalid_page_id`, `invalid_message`, `invalid_tags`, `invalid_name`,
/// `invalid_send_at`), `message` says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct InvalidBroadcast {
    pub code: &'static str,
    pub message: String,
}

fn invalid(code: &'static str, message: impl Into<String>) -> InvalidBroadcast {
    InvalidBroadcast {
        code,
        message: message.into(),
    }
}

/// A valid broadcast to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewBroadcast {
    pub page_id: PageId,
    pub name: Option<String>,
    /// Valid for Meta ([`BroadcastMessage::validate`]).
    pub message: BroadcastMessage,
    /// Sorted, each once, each of the tag rule's form ([`tags::audience`]).
    pub tags: Vec<String>,
    /// When to start (ms since the epoch); `None` is now.
    pub send_at_ms: Option<i64>,
}

impl BroadcastRequest {
    /// The page the request is for (checked before anything else, so a
    /// caller learns nothing about a page it may not use).
    ///
    /// # Errors
    /// `invalid_page_id` when it is not a Meta id.
    pub fn page_id(&self) -> Result<PageId, InvalidBroadcast> {
        PageId::parse(self.page_id.as_str()).map_err(|e| invalid("invalid_page_id", e.to_string()))
    }
}

impl NewBroadcast {
    /// Turns a request into a valid broadcast, checking in this order: page
    /// id, message, tags, name, send time (`now_ms`: ms since the epoch; a
    /// `send_at` more than [`SEND_AT_SLACK_MS`] before it is refused).
    ///
    /// # Errors
    /// [`InvalidBroadcast`] naming the first field that is wrong.
    pub fn parse(req: BroadcastRequest, now_ms: i64) -> Result<Self, InvalidBroadcast> {
        let page_id = req.page_id()?;
        req.message
            .validate()
            .map_err(|e| invalid("invalid_message", e.to_string()))?;
        let tags = tags::audience(req.tags).map_err(|e| invalid("invalid_tags", e.to_string()))?;
        if req
            .name
            .as_ref()
            .is_some_and(|n| n.len() > MAX_NAME_BYTES || !crate::text::is_label(n))
        {
            return Err(invalid(
                "invalid_name",
                "name is 1 to 200 bytes, not only spaces, without control characters",
            ));
        }
        let send_at_ms = match &req.send_at {
            None => None,
            Some(raw) => {
                let at = time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339)
                    .map_err(|_| invalid("invalid_send_at", "send_at must be an RFC 3339 timestamp"))?;
                let ms = (at.unix_timestamp_nanos() / 1_000_000) as i64;
                if ms < now_ms - SEND_AT_SLACK_MS {
                    return Err(invalid("invalid_send_at", "send_at is in the past"));
                }
                Some(ms)
            }
        };
        Ok(NewBroadcast {
            page_id,
            name: req.name,
            message: req.message,
            tags,
            send_at_ms,
        })
    }

    /// Whether it starts right away (no `send_at`, or one already reached).
    pub fn starts_now(&self, now_ms: i64) -> bool {
        self.send_at_ms.is_none_or(|t| t <= now_ms)
    }

    /// The broadcast to store: scheduled, due at `send_at` or at `now_ms`
    /// (so if starting it right away fails, the scheduler starts it).
    pub fn scheduled(self, id: BroadcastId, now_ms: i64) -> Broadcast {
        Broadcast {
            id,
            page_id: self.page_id,
            name: self.name,
            message: self.message,
            audience_tags: self.tags,
            send_at_ms: Some(self.send_at_ms.unwrap_or(now_ms)),
            state: BroadcastState::Scheduled,
            created_at_ms: now_ms,
            counts: Counts::default(),
            shards_done: 0,
            cursors: Default::default(),
            paused_reason: None,
            outcomes: Default::default(),
            resumed_at_ms: None,
            protection_baseline: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000_000;

    fn request(body: serde_json::Value) -> BroadcastRequest {
        serde_json::from_value(body).unwrap()
    }
    fn parse(body: serde_json::Value) -> Result<NewBroadcast, InvalidBroadcast> {
        NewBroadcast::parse(request(body), NOW)
    }
    fn code(body: serde_json::Value) -> &'static str {
        parse(body).unwrap_err().code
    }

    #[test]
    fn a_minimal_request_is_a_broadcast_that_starts_now() {
        let b = parse(json!({"page_id": "1000000000000001", "message": {"text": "hi"}})).unwrap();
        assert_eq!(b.page_id.as_str(), "1000000000000001");
        assert_eq!(b.send_at_ms, None);
        assert!(b.starts_now(NOW));
        assert!(b.tags.is_empty());
        let stored = b.scheduled(BroadcastId::generate(), NOW);
        assert_eq!(stored.state, BroadcastState::Scheduled);
        assert_eq!(stored.send_at_ms, Some(NOW));
        assert_eq!(stored.created_at_ms, NOW);
    }

    #[test]
    fn tags_are_sorted_and_given_once() {
        let b = parse(json!({"page_id": "1", "message": {"text": "hi"}, "tags": ["b", "a", "b"]})).unwrap();
        assert_eq!(b.tags, vec!["a", "b"]);
    }

    #[test]
    fn a_future_send_at_schedules_it_and_a_past_one_is_refused() {
        let b = parse(json!({"page_id": "1", "message": {"text": "hi"}, "send_at": "2030-01-01T00:00:00Z"})).unwrap();
        assert_eq!(b.send_at_ms, Some(1_893_456_000_000));
        assert!(!b.starts_now(NOW));
        assert_eq!(
            b.clone().scheduled(BroadcastId::generate(), NOW).send_at_ms,
            Some(1_893_456_000_000)
        );
        assert_eq!(
            code(json!({"page_id": "1", "message": {"text": "hi"}, "send_at": "2020-01-01T00:00:00Z"})),
            "invalid_send_at"
        );
        assert_eq!(
            code(json!({"page_id": "1", "message": {"text": "hi"}, "send_at": "tomorrow"})),
            "invalid_send_at"
        );
    }

    #[test]
    fn a_send_at_within_a_minute_of_the_past_is_clock_skew_and_starts_now() {
        let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(NOW - 30_000) * 1_000_000).unwrap();
        let raw = at.format(&time::format_description::well_known::Rfc3339).unwrap();
        let b = parse(json!({"page_id": "1", "message": {"text": "hi"}, "send_at": raw})).unwrap();
        assert!(b.starts_now(NOW));
    }

    #[test]
    fn each_bad_field_is_named_by_its_code_in_order() {
        assert_eq!(
            code(json!({"page_id": "a#b", "message": {"text": " "}})),
            "invalid_page_id"
        );
        assert_eq!(
            code(json!({"page_id": "1", "message": {"text": " "}, "tags": [""]})),
            "invalid_message"
        );
        assert_eq!(
            code(json!({"page_id": "1", "message": {"text": "x".repeat(2001)}})),
            "invalid_message"
        );
        assert_eq!(
            code(json!({"page_id": "1", "message": {"text": "hi"}, "tags": [""], "name": "x".repeat(201)})),
            "invalid_tags"
        );
        assert_eq!(
            code(json!({"page_id": "1", "message": {"text": "hi"}, "name": "x".repeat(201), "send_at": "tomorrow"})),
            "invalid_name"
        );
        assert!(parse(json!({"page_id": "1", "message": {"text": "hi"}, "name": "x".repeat(200)})).is_ok());
    }

    #[test]
    fn a_name_or_tag_that_would_hide_what_is_shown_is_refused() {
        for name in ["", "  ", "Spring\u{1b}[2J", "a\nb", "sale\u{202E}lacipyt"] {
            assert_eq!(
                code(json!({"page_id": "1", "message": {"text": "hi"}, "name": name})),
                "invalid_name",
                "{name:?}"
            );
        }
        for tag in [" ", "\n", "vip\u{0}", "\u{1b}[31mred"] {
            assert_eq!(
                code(json!({"page_id": "1", "message": {"text": "hi"}, "tags": [tag]})),
                "invalid_tags",
                "{tag:?}"
            );
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(serde_json::from_value::<BroadcastRequest>(
            json!({"page_id": "1", "message": {"text": "hi"}, "evil": 1})
        )
        .is_err());
    }
}
