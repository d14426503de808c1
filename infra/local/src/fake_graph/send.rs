//! The Send API (`POST /{page}/messages`): the bearer token and body checked
//! like Meta, scripted errors, the per-page rate limit, and every successful
//! send recorded.

use std::time::Instant;

use serde_json::{json, Value};

use super::errors::{invalid_param, meta_error};
use super::{answer, Answer, FakeError, FakeGraph, RecordedSend};

impl FakeGraph {
    pub(super) fn send(&self, page: &str, headers: &http::HeaderMap, body: &[u8]) -> Answer {
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
        // The scripted answer, once the request got past the rate limit
        // (a throttled request never reaches what would answer it).
        let mut taken_then = None;
        if let Some(i) = st
            .rules
            .iter()
            .position(|r| r.times > 0 && (r.recipient.is_none() || r.recipient == psid))
        {
            st.rules[i].times -= 1;
            let e = st.rules[i].error;
            if !matches!(e, FakeError::AnswerLost | FakeError::GatewayTimeout) {
                return answer(meta_error(e));
            }
            taken_then = Some(e);
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
        match taken_then {
            Some(FakeError::GatewayTimeout) => {
                let page = "<html><body><h1>504 Gateway Time-out</h1></body></html>";
                return (504, vec![("content-type".into(), "text/html".into())], page.into());
            }
            Some(_) => return answer((200, Value::Null)),
            None => {}
        }
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
