//! Meta Graph Send API client, and the classification of its errors by
//! Meta's codes (meta-platform.md §6) into what the sender should do. Also
//! the ASID→PSID lookup (`ids_for_pages`) a data-deletion request needs.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::config::ConfigError;
use crate::ids::{PageId, Psid};

/// The Graph API base URL used when `GRAPH_API_URL` is not set.
pub const DEFAULT_BASE_URL: &str = "https://graph.facebook.com/v23.0";

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
    /// The request may have reached Meta and we cannot tell whether it was
    /// sent: the connection failed after the request was written (a
    /// timeout, a reset), a success answer could not be read, or a gateway
    /// in front of Meta answered 502 or 504 without Meta's error body. Never
    /// resent (a message sent at most once).
    OutcomeUnknown,
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
        // A gateway's own 502 or 504 (no Meta error body) may come after
        // Meta took the message: sent perhaps, so never sent again.
        (None, _) if matches!(http_status, 502 | 504) => OutcomeUnknown,
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

/// Meta's `appsecret_proof`: hex HMAC-SHA256 of the access token keyed with
/// the app secret. It shows Meta the caller holds the secret, not just a
/// token, and is required when the app has "Require App Secret" on.
pub fn appsecret_proof(access_token: &str, app_secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("HMAC accepts any key length");
    mac.update(access_token.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// An error we raise ourselves (bad input, odd answer), in Meta's shape.
fn local_error(status: u16, class: ErrorClass, message: &str) -> GraphError {
    GraphError {
        status,
        code: None,
        subcode: None,
        class,
        message: message.to_string(),
    }
}

/// ASIDs are numeric; anything else must not reach a URL path.
/// Scheme, host and port: `next` may only lead back to the Graph API we were
/// configured with, since every hop carries the app secret in its token.
fn origin(url: &reqwest::Url) -> (String, Option<String>, Option<u16>) {
    (
        url.scheme().to_string(),
        url.host_str().map(str::to_owned),
        url.port_or_known_default(),
    )
}

/// Sets our credentials on `url`, keeping its other parameters (`after`,
/// `limit`). Meta's `next` usually repeats the token but not always the proof.
fn with_credentials(url: &reqwest::Url, access_token: &str, proof: &str) -> reqwest::Url {
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "access_token" && k != "appsecret_proof")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut out = url.clone();
    out.query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .append_pair("access_token", access_token)
        .append_pair("appsecret_proof", proof);
    out
}

#[derive(Clone)]
pub struct GraphClient {
    http: reqwest::Client,
    base_url: String,
}

impl GraphClient {
    /// A client of the Graph API at `base_url` (e.g. `https://graph.facebook.com/v23.0`),
    /// with a 10 s timeout per request, of which at most 3 s to connect (so a
    /// connection never made reads as one: [`ErrorClass::Transient`], not
    /// [`ErrorClass::OutcomeUnknown`]), and idle connections kept 20 s (one
    /// left across a long freeze of the function may be dead, and a request
    /// written to it has an unknown outcome).
    ///
    /// # Errors
    /// [`ConfigError::Client`] when `base_url` is not an http(s) URL (the
    /// function refuses to start, rather than pause every broadcast later
    /// as if its page token were bad), or the HTTP client cannot be built
    /// (no fallback: a default client would have no TLS provider).
    pub fn new(base_url: impl Into<String>) -> Result<Self, ConfigError> {
        let base_url = base_url.into();
        match reqwest::Url::parse(&base_url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {}
            _ => {
                return Err(ConfigError::Client(
                    "Graph API",
                    "GRAPH_API_URL is not an http(s) URL".into(),
                ))
            }
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(3))
            .pool_idle_timeout(Duration::from_secs(20))
            .use_preconfigured_tls(crate::config::rustls_client_config())
            .build()
            .map_err(|e| ConfigError::Client("Graph API", e.to_string()))?;
        Ok(Self {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
        })
    }

    /// Sends one message with the Send API (`POST {base}/{page_id}/messages`).
    ///
    /// # Errors
    /// [`GraphError`], classified by Meta's codes ([`ErrorClass`]; HTTP status 0
    /// when Meta could not be reached); see [`crate::broadcast::on_send_error`].
    #[tracing::instrument(skip_all)]
    pub async fn send_message(
        &self,
        page_id: &PageId,
        page_token: &SecretString,
        request: &SendRequest,
    ) -> Result<SendResponse, GraphError> {
        let url = format!("{}/{}/messages", self.base_url, page_id);
        let network = |e: reqwest::Error, class| GraphError {
            status: 0,
            code: None,
            subcode: None,
            class,
            // reqwest errors name the URL, which holds no secret (the token is a header).
            message: e.to_string().chars().take(200).collect(),
        };
        // Only a request never built, or a connection never made, certainly
        // sent nothing. A request that cannot be built (a page token with
        // characters no header may carry) fails every send of the page: the
        // broadcast is paused as for a bad token.
        let unsent_or_unknown = |e: reqwest::Error| {
            let class = if e.is_builder() {
                ErrorClass::InvalidToken
            } else if e.is_connect() {
                ErrorClass::Transient
            } else {
                ErrorClass::OutcomeUnknown
            };
            network(e, class)
        };
        let resp = self
            .http
            .post(url)
            .bearer_auth(page_token.expose_secret())
            .json(&request.to_json())
            .send()
            .await
            .map_err(unsent_or_unknown)?;
        let status = resp.status().as_u16();
        let accepted = (200..300).contains(&status);
        let usage = resp
            .headers()
            .get("x-business-use-case-usage")
            .and_then(|h| h.to_str().ok())
            .and_then(usage_percent);
        let body = resp.text().await.map_err(|e| {
            let class = match status {
                _ if accepted => ErrorClass::OutcomeUnknown,
                // Meta's limits and temporary errors come as 400s with the
                // code in the body: without it, refused for now, not for good.
                429 => ErrorClass::RateLimited,
                _ => ErrorClass::Transient,
            };
            GraphError {
                status,
                ..network(e, class)
            }
        })?;
        if !accepted {
            return Err(parse_error(status, &body));
        }
        // Meta accepted it: an answer without its message id is unread, not unsent.
        let unread = || GraphError {
            class: ErrorClass::OutcomeUnknown,
            ..parse_error(status, &body)
        };
        let v: Value = serde_json::from_str(&body).map_err(|_| unread())?;
        let message_id = v["message_id"].as_str().ok_or_else(unread)?.to_string();
        Ok(SendResponse {
            message_id,
            recipient_id: v["recipient_id"].as_str().map(str::to_owned),
            usage_percent: usage,
        })
    }
}

mod ids;

#[cfg(test)]
mod tests;
