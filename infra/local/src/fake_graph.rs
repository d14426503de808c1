//! A local stand-in for Meta's Graph Send API, for tests and `make dev`: it
//! checks the bearer token and the body like Meta, answers with Meta's real
//! error bodies when told to (or when its per-page rate limit is exceeded),
//! and records every successful send. Mounted at `/fake-graph` by the local
//! stack; control endpoints live under `/fake-graph/_fake/`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Clone, Debug, Serialize)]
pub struct RecordedSend {
    pub page_id: String,
    pub recipient: Value,
    pub body: Value,
    pub message_id: String,
    pub at_ms: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FakeError {
    RateLimit,
    Blocked,
    NoMatchingUser,
    InvalidToken,
    OutsideWindow,
    TooSoon,
    Temporary,
    ServerError,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Rule {
    /// The PSID this rule answers for; `None` for any recipient.
    #[serde(default)]
    pub recipient: Option<String>,
    pub error: FakeError,
    /// How many answers this rule gives before it is used up.
    pub times: u32,
}

#[derive(Default)]
struct State {
    sends: Vec<RecordedSend>,
    attempts: usize,
    rules: Vec<Rule>,
    per_second: Option<u32>,
    windows: HashMap<String, (Instant, u32)>,
    valid_tokens: Option<Vec<String>>,
}

#[derive(Clone, Default)]
pub struct FakeGraph {
    state: Arc<Mutex<State>>,
}

/// Meta's error body and HTTP status for each scripted error.
fn meta_error(e: FakeError) -> (u16, Value) {
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
        FakeError::ServerError => (
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

fn invalid_param(msg: &str) -> (u16, Value) {
    (
        400,
        json!({"error": {"message": format!("(#100) {msg}"), "type": "OAuthException", "code": 100, "fbtrace_id": "AfakeTraceId"}}),
    )
}

type Answer = (u16, Vec<(String, String)>, String);

fn answer((status, body): (u16, Value)) -> Answer {
    (
        status,
        vec![("content-type".into(), "application/json".into())],
        body.to_string(),
    )
}

impl FakeGraph {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn sends(&self) -> Vec<RecordedSend> {
        self.state.lock().expect("fake graph").sends.clone()
    }
    pub fn attempts(&self) -> usize {
        self.state.lock().expect("fake graph").attempts
    }
    pub fn script(&self, rule: Rule) {
        self.state.lock().expect("fake graph").rules.push(rule);
    }
    pub fn set_rate_limit(&self, per_second_per_page: Option<u32>) {
        self.state.lock().expect("fake graph").per_second = per_second_per_page;
    }
    pub fn set_valid_tokens(&self, tokens: Option<Vec<String>>) {
        self.state.lock().expect("fake graph").valid_tokens = tokens;
    }

    /// `path` has the mount prefix stripped: `/v23.0/PAGE/messages` or `/PAGE/messages`.
    pub async fn handle(&self, method: &str, path: &str, headers: &http::HeaderMap, body: &[u8]) -> Answer {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        match (method, segments.as_slice()) {
            ("GET", ["_fake", "sends"]) => answer((200, serde_json::to_value(self.sends()).unwrap_or_default())),
            ("POST", ["_fake", "rules"]) => match serde_json::from_slice::<Rule>(body) {
                Ok(rule) => {
                    self.script(rule);
                    answer((200, json!({"ok": true})))
                }
                Err(e) => answer((400, json!({"error": e.to_string()}))),
            },
            ("POST", ["_fake", "rate-limit"]) => {
                let v: Value = serde_json::from_slice(body).unwrap_or_default();
                self.set_rate_limit(v["per_second"].as_u64().map(|n| n as u32));
                answer((200, json!({"ok": true})))
            }
            ("POST", ["_fake", "reset"]) => {
                *self.state.lock().expect("fake graph") = State::default();
                answer((200, json!({"ok": true})))
            }
            ("POST", [.., page, "messages"]) => self.send(page, headers, body),
            _ => answer((
                400,
                json!({"error": {"message": "Unknown path components", "type": "OAuthException", "code": 2500}}),
            )),
        }
    }

    fn send(&self, page: &str, headers: &http::HeaderMap, body: &[u8]) -> Answer {
        let mut st = self.state.lock().expect("fake graph");
        st.attempts += 1;
        let token = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        let token_ok = !token.is_empty()
            && st
                .valid_tokens
                .as_ref()
                .is_none_or(|valid| valid.iter().any(|t| t == token));
        if !token_ok {
            return answer(meta_error(FakeError::InvalidToken));
        }
        let Ok(req) = serde_json::from_slice::<Value>(body) else {
            return answer(invalid_param("Invalid JSON"));
        };
        let recipient = req["recipient"].clone();
        let psid = recipient["id"].as_str().map(str::to_owned);
        if psid.is_none() && recipient["notification_messages_token"].as_str().is_none() {
            return answer(invalid_param("The parameter recipient is required"));
        }
        let message = &req["message"];
        if !message.is_object() {
            return answer(invalid_param("The parameter message is required"));
        }
        if message["text"].as_str().is_some_and(|t| t.chars().count() > 2000) {
            return answer(invalid_param(
                "Param message[text] must be UTF-8 encoded and less than 2000 characters",
            ));
        }
        if message["quick_replies"].as_array().is_some_and(|q| q.len() > 13) {
            return answer(invalid_param(
                "param message[quick_replies] must have at most 13 elements",
            ));
        }
        if let Some(i) = st
            .rules
            .iter()
            .position(|r| r.times > 0 && (r.recipient.is_none() || r.recipient == psid))
        {
            st.rules[i].times -= 1;
            let e = st.rules[i].error;
            return answer(meta_error(e));
        }
        if let Some(limit) = st.per_second {
            let now = Instant::now();
            let entry = st.windows.entry(page.to_string()).or_insert((now, 0));
            if now.duration_since(entry.0).as_secs_f64() >= 1.0 {
                *entry = (now, 0);
            }
            if entry.1 >= limit {
                return answer(meta_error(FakeError::RateLimit));
            }
            entry.1 += 1;
        }
        let message_id = format!("m_fake_{}", st.sends.len() + 1);
        let at_ms = optcast_shared::http::now_ms();
        st.sends.push(RecordedSend {
            page_id: page.to_string(),
            recipient: recipient.clone(),
            body: req.clone(),
            message_id: message_id.clone(),
            at_ms,
        });
        let usage = json!({ page: [{"type": "messenger", "call_count": 1, "total_cputime": 1, "total_time": 1, "estimated_time_to_regain_access": 0}] });
        let mut out = json!({"message_id": message_id});
        if let Some(p) = psid {
            out["recipient_id"] = json!(p);
        }
        let (status, mut headers, body) = answer((200, out));
        headers.push(("x-business-use-case-usage".into(), usage.to_string()));
        (status, headers, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert("authorization", "Bearer tok".parse().unwrap());
        h
    }
    const BODY: &[u8] = br#"{"recipient":{"id":"P1"},"messaging_type":"UPDATE","message":{"text":"hi"}}"#;

    #[tokio::test]
    async fn a_send_is_recorded_and_answered_like_meta() {
        let g = FakeGraph::new();
        let (status, headers, body) = g.handle("POST", "/v23.0/PAGE/messages", &auth(), BODY).await;
        assert_eq!(status, 200);
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["recipient_id"], "P1");
        assert!(headers.iter().any(|(k, _)| k == "x-business-use-case-usage"));
        assert_eq!(g.sends().len(), 1);
    }

    #[tokio::test]
    async fn scripted_errors_use_metas_bodies_and_are_used_up() {
        let g = FakeGraph::new();
        g.script(Rule {
            recipient: Some("P1".into()),
            error: FakeError::Blocked,
            times: 1,
        });
        let (status, _, body) = g.handle("POST", "/PAGE/messages", &auth(), BODY).await;
        assert_eq!(status, 400);
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            (v["error"]["code"].as_i64(), v["error"]["error_subcode"].as_i64()),
            (Some(551), Some(1545041))
        );
        assert_eq!(g.handle("POST", "/PAGE/messages", &auth(), BODY).await.0, 200);
        assert_eq!(g.attempts(), 2);
    }

    #[tokio::test]
    async fn the_rate_limit_answers_613() {
        let g = FakeGraph::new();
        g.set_rate_limit(Some(2));
        let mut codes = vec![];
        for _ in 0..3 {
            let (_, _, body) = g.handle("POST", "/PAGE/messages", &auth(), BODY).await;
            codes.push(serde_json::from_str::<Value>(&body).unwrap()["error"]["code"].as_i64());
        }
        assert_eq!(codes, [None, None, Some(613)]);
    }

    #[tokio::test]
    async fn a_missing_or_wrong_token_answers_190() {
        let g = FakeGraph::new();
        let (_, _, body) = g.handle("POST", "/PAGE/messages", &http::HeaderMap::new(), BODY).await;
        assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["error"]["code"], 190);
        g.set_valid_tokens(Some(vec!["other".into()]));
        let (_, _, body) = g.handle("POST", "/PAGE/messages", &auth(), BODY).await;
        assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["error"]["code"], 190);
        assert!(g.sends().is_empty());
    }
}
