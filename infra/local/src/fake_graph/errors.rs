//! Meta's Graph API error bodies and statuses, as the fake answers them.

use serde_json::{json, Value};

use super::FakeError;

/// Meta's error body and HTTP status for each scripted error.
pub(super) fn meta_error(e: FakeError) -> (u16, Value) {
    let (status, code, sub, kind, msg): (u16, i64, Option<i64>, &str, &str) = match e {
        FakeError::RateLimit => (
            400,
            613,
            None,
            "OAuthException",
            "(#613) Calls to this api have exceeded the rate limit.",
        ),
        FakeError::Blocked => (
            400,
            551,
            Some(1545041),
            "OAuthException",
            "(#551) This person isn't available right now.",
        ),
        FakeError::NoMatchingUser => (
            400,
            100,
            Some(2018001),
            "OAuthException",
            "(#100) No matching user found",
        ),
        FakeError::InvalidToken => (
            400,
            190,
            Some(463),
            "OAuthException",
            "Error validating access token: Session has expired.",
        ),
        FakeError::OutsideWindow => (
            400,
            10,
            Some(2018278),
            "OAuthException",
            "(#10) This message is sent outside of allowed window.",
        ),
        FakeError::TooSoon => (
            400,
            4,
            Some(2018354),
            "OAuthException",
            "(#4) Marketing message sent too soon.",
        ),
        FakeError::Temporary => (
            400,
            1200,
            None,
            "OAuthException",
            "Temporary send message failure. Please try again later",
        ),
        // A send taken, its answer lost or a gateway's: `send` answers it,
        // not as Meta's error.
        FakeError::ServerError | FakeError::AnswerLost | FakeError::GatewayTimeout => (
            500,
            2,
            None,
            "OAuthException",
            "An unexpected error has occurred. Please retry your request later.",
        ),
    };
    let mut err = json!({"message": msg, "type": kind, "code": code, "fbtrace_id": "AfakeTraceId"});
    if let Some(s) = sub {
        err["error_subcode"] = json!(s);
    }
    (status, json!({ "error": err }))
}

pub(super) fn invalid_param(msg: &str) -> (u16, Value) {
    (
        400,
        json!({"error": {"message": format!("(#100) {msg}"), "type": "OAuthException", "code": 100, "fbtrace_id": "AfakeTraceId"}}),
    )
}

/// Meta's answer to a bad object id (`GraphMethodException`, 100/33).
pub(super) fn unknown_object(id: &str) -> (u16, Value) {
    (
        400,
        json!({"error": {"message": format!("Unsupported get request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation."), "type": "GraphMethodException", "code": 100, "error_subcode": 33, "fbtrace_id": "AfakeTraceId"}}),
    )
}

/// Meta's answer to an app token it cannot parse or whose secret is wrong.
pub(super) fn bad_app_token() -> (u16, Value) {
    (
        400,
        json!({"error": {"message": "Invalid OAuth access token signature.", "type": "OAuthException", "code": 190, "fbtrace_id": "AfakeTraceId"}}),
    )
}

/// Meta answers a missing or wrong `appsecret_proof` with 100, not 190.
pub(super) fn bad_proof(msg: &str) -> (u16, Value) {
    (
        400,
        json!({"error": {"message": msg, "type": "GraphMethodException", "code": 100, "fbtrace_id": "AfakeTraceId"}}),
    )
}
