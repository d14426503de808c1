//! Meta Graph Send API client, and the classification of its errors by
//! Meta's codes (meta-platform.md §6) into what the sender should do.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

use crate::ids::{PageId, Psid};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    Id(Psid),
    NotificationToken(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessagingType {
    Response,
    Update,
    MessageTag,
}

impl MessagingType {
    pub fn as_str(self) -> &'static str {
        match self {
            MessagingType::Response => "RESPONSE",
            MessagingType::Update => "UPDATE",
            MessagingType::MessageTag => "MESSAGE_TAG",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SendRequest {
    pub recipient: Recipient,
    pub messaging_type: Option<MessagingType>,
    pub tag: Option<String>,
    pub message: Value,
}

impl SendRequest {
    /// The exact Send API body.
    pub fn to_json(&self) -> Value {
        let recipient = match &self.recipient {
            Recipient::Id(psid) => json!({"id": psid.as_str()}),
            Recipient::NotificationToken(t) => json!({"notification_messages_token": t}),
        };
        let mut body = json!({"recipient": recipient, "message": self.message});
        if let Some(t) = self.messaging_type {
            body["messaging_type"] = json!(t.as_str());
        }
        if let Some(tag) = &self.tag {
            body["tag"] = json!(tag);
        }
        body
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendResponse {
    pub message_id: String,
    pub recipient_id: Option<String>,
    /// Highest Business Use Case usage percentage Meta reported, if any.
    pub usage_percent: Option<u32>,
}

/// What the sender should do about a Send API error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Back off and retry later; not a failure.
    RateLimited,
    /// Outside the window / marketing message too soon: skip, never retry.
    PolicyBlocked,
    /// The person cannot be reached: suppress the lead.
    Unreachable,
    /// The page token is invalid or expired: pause.
    InvalidToken,
    /// Missing permission: configuration, pause.
    Permission,
    /// Deemed abusive: halt and alert.
    Abusive,
    /// Retry with backoff, then DLQ.
    Transient,
    /// Our bug (bad parameter): fail the item, no retry.
    Invalid,
}

impl ErrorClass {
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorClass::RateLimited | ErrorClass::Transient)
    }
}

/// Meta's codes (and HTTP status) to a class.
pub fn classify(http_status: u16, code: Option<i64>, subcode: Option<i64>) -> ErrorClass {
    use ErrorClass::*;
    match (code, subcode) {
        (Some(4), Some(2018354)) => PolicyBlocked,
        (Some(4 | 613 | 80006 | 17 | 32), _) => RateLimited,
        (Some(10), Some(2018278)) => PolicyBlocked,
        (Some(10), Some(2018108 | 2018065)) => Unreachable,
        (Some(10), Some(2018028)) => Permission,
        (Some(551), _) => Unreachable,
        (Some(200), Some(1545041)) => Unreachable,
        (Some(100), Some(2018001)) => Unreachable,
        (Some(190), _) => InvalidToken,
        (Some(200 | 230), _) | (Some(10), _) => Permission,
        (Some(368), _) => Abusive,
        (Some(1200 | 2), _) => Transient,
        (Some(100), _) => Invalid,
        (None, _) if http_status == 0 || http_status == 429 || http_status >= 500 => {
            if http_status == 429 {
                RateLimited
            } else {
                Transient
            }
        }
        (Some(_), _) if http_status >= 500 => Transient,
        _ => Invalid,
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("Send API error (HTTP {status}, code {code:?}/{subcode:?}, {class:?}): {message}")]
pub struct GraphError {
    pub status: u16,
    pub code: Option<i64>,
    pub subcode: Option<i64>,
    pub class: ErrorClass,
    /// Meta's message, truncated; never the token or the recipient.
    pub message: String,
}

/// Parses Meta's error body `{"error": {"message","type","code","error_subcode"}}`.
pub fn parse_error(status: u16, body: &str) -> GraphError {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let e = &v["error"];
    let code = e["code"].as_i64();
    let subcode = e["error_subcode"].as_i64();
    let message: String = e["message"]
        .as_str()
        .unwrap_or("unparseable error body")
        .chars()
        .take(200)
        .collect();
    GraphError {
        status,
        code,
        subcode,
        class: classify(status, code, subcode),
        message,
    }
}

/// `X-Business-Use-Case-Usage`: the highest percentage across entries.
pub fn usage_percent(header: &str) -> Option<u32> {
    let v: Value = serde_json::from_str(header).ok()?;
    let mut max = None;
    for entries in v.as_object()?.values() {
        for e in entries.as_array()? {
            for k in ["call_count", "total_cputime", "total_time"] {
                if let Some(p) = e[k].as_u64() {
                    max = Some(max.unwrap_or(0).max(p as u32));
                }
            }
        }
    }
    max
}

#[derive(Clone)]
pub struct GraphClient {
    http: reqwest::Client,
    base_url: String,
}

impl GraphClient {
    pub fn new(base_url: impl Into<String>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Self {
            http,
            base_url: base_url.into().trim_end_matches('/').to_string(),
        }
    }

    #[tracing::instrument(skip_all)]
    pub async fn send_message(
        &self,
        page_id: &PageId,
        page_token: &SecretString,
        request: &SendRequest,
    ) -> Result<SendResponse, GraphError> {
        let url = format!("{}/{}/messages", self.base_url, page_id);
        let network = |e: reqwest::Error| GraphError {
            status: 0,
            code: None,
            subcode: None,
            class: ErrorClass::Transient,
            // reqwest errors name the URL, which holds no secret (the token is a header).
            message: e.to_string().chars().take(200).collect(),
        };
        let resp = self
            .http
            .post(url)
            .bearer_auth(page_token.expose_secret())
            .json(&request.to_json())
            .send()
            .await
            .map_err(network)?;
        let status = resp.status().as_u16();
        let usage = resp
            .headers()
            .get("x-business-use-case-usage")
            .and_then(|h| h.to_str().ok())
            .and_then(usage_percent);
        let body = resp.text().await.map_err(network)?;
        if !(200..300).contains(&status) {
            return Err(parse_error(status, &body));
        }
        let v: Value = serde_json::from_str(&body).map_err(|_| parse_error(status, &body))?;
        let message_id = v["message_id"]
            .as_str()
            .ok_or_else(|| parse_error(502, &body))?
            .to_string();
        Ok(SendResponse {
            message_id,
            recipient_id: v["recipient_id"].as_str().map(str::to_owned),
            usage_percent: usage,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ErrorClass::*;

    #[test]
    fn every_documented_code_is_classified() {
        let cases: &[(u16, Option<i64>, Option<i64>, ErrorClass)] = &[
            (400, Some(1200), None, Transient),
            (500, Some(2), None, Transient),
            (400, Some(4), None, RateLimited),
            (400, Some(4), Some(2018022), RateLimited),
            (400, Some(613), None, RateLimited),
            (400, Some(80006), None, RateLimited),
            (400, Some(17), None, RateLimited),
            (400, Some(32), None, RateLimited),
            (400, Some(10), Some(2018278), PolicyBlocked),
            (400, Some(10), Some(2018065), Unreachable),
            (400, Some(10), Some(2018108), Unreachable),
            (400, Some(551), Some(1545041), Unreachable),
            (400, Some(551), None, Unreachable),
            (400, Some(200), Some(1545041), Unreachable),
            (400, Some(100), Some(2018001), Unreachable),
            (400, Some(100), Some(2018109), Invalid),
            (400, Some(100), Some(2018034), Invalid),
            (400, Some(100), None, Invalid),
            (400, Some(190), None, InvalidToken),
            (400, Some(190), Some(463), InvalidToken),
            (400, Some(200), None, Permission),
            (400, Some(10), Some(2018028), Permission),
            (400, Some(230), None, Permission),
            (400, Some(368), None, Abusive),
            (400, Some(4), Some(2018354), PolicyBlocked),
            (503, None, None, Transient),
            (0, None, None, Transient),
            (429, None, None, RateLimited),
            (400, None, None, Invalid),
        ];
        for &(status, code, sub, expected) in cases {
            assert_eq!(classify(status, code, sub), expected, "{status} {code:?}/{sub:?}");
        }
        assert!(RateLimited.is_retryable() && Transient.is_retryable());
        assert!(!PolicyBlocked.is_retryable() && !Unreachable.is_retryable() && !InvalidToken.is_retryable());
    }

    #[test]
    fn meta_error_bodies_are_parsed() {
        let e = parse_error(
            400,
            r#"{"error":{"message":"(#551) This person isn't available right now.","type":"OAuthException","code":551,"error_subcode":1545041,"fbtrace_id":"A1"}}"#,
        );
        assert_eq!((e.code, e.subcode, e.class), (Some(551), Some(1545041), Unreachable));
        let e = parse_error(502, "<html>bad gateway</html>");
        assert_eq!(e.class, Transient);
    }

    #[test]
    fn send_bodies_match_the_send_api() {
        let req = SendRequest {
            recipient: Recipient::Id(Psid::parse("123").unwrap()),
            messaging_type: Some(MessagingType::Update),
            tag: None,
            message: json!({"text": "hi"}),
        };
        assert_eq!(
            req.to_json(),
            json!({"recipient": {"id": "123"}, "messaging_type": "UPDATE", "message": {"text": "hi"}})
        );
        let req = SendRequest {
            recipient: Recipient::NotificationToken("T".into()),
            messaging_type: None,
            tag: None,
            message: json!({"text": "hi"}),
        };
        assert_eq!(
            req.to_json(),
            json!({"recipient": {"notification_messages_token": "T"}, "message": {"text": "hi"}})
        );
    }

    #[test]
    fn business_use_case_usage_is_read() {
        let h = r#"{"123":[{"type":"messenger","call_count":28,"total_cputime":75,"total_time":40,"estimated_time_to_regain_access":0}]}"#;
        assert_eq!(usage_percent(h), Some(75));
        assert_eq!(usage_percent("nope"), None);
    }
}
