//! A local stand-in for Meta's Graph Send API, for tests and `make dev`: it
//! checks the bearer token and the body like Meta, answers with Meta's real
//! error bodies when told to (or when its per-page rate limit is exceeded),
//! and records every successful send. It also answers the ASID→PSID lookup
//! `GET /{asid}/ids_for_pages` (app token + `appsecret_proof`, paginated).
//! Mounted at `/fake-graph` by the local stack; control endpoints live under
//! `/fake-graph/_fake/`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// One `POST /_fake/asids` mapping: the user `asid` is `psid` on `page_id`.
#[derive(Clone, Debug, Deserialize)]
pub struct AsidMapping {
    pub asid: String,
    pub page_id: String,
    pub psid: String,
}

/// `ids_for_pages` answers this many entries per page, so paging is exercised.
const IDS_PAGE_SIZE: usize = 2;

#[derive(Default)]
struct State {
    sends: Vec<RecordedSend>,
    attempts: usize,
    rules: Vec<Rule>,
    per_second: Option<u32>,
    windows: HashMap<String, (Instant, u32)>,
    valid_tokens: Option<Vec<String>>,
    app_secret: Option<String>,
    /// asid → [(page_id, psid)], in insertion order.
    asids: HashMap<String, Vec<(String, String)>>,
    /// How long each Send API call takes to answer (Meta: ~100–300 ms).
    latency: Duration,
    in_flight: usize,
    max_in_flight: usize,
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

/// Meta's answer to a bad object id (`GraphMethodException`, 100/33).
fn unknown_object(id: &str) -> (u16, Value) {
    (
        400,
        json!({"error": {"message": format!("Unsupported get request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation."), "type": "GraphMethodException", "code": 100, "error_subcode": 33, "fbtrace_id": "AfakeTraceId"}}),
    )
}

/// Meta's answer to an app token it cannot parse or whose secret is wrong.
fn bad_app_token() -> (u16, Value) {
    (
        400,
        json!({"error": {"message": "Invalid OAuth access token signature.", "type": "OAuthException", "code": 190, "fbtrace_id": "AfakeTraceId"}}),
    )
}

/// Meta answers a missing or wrong `appsecret_proof` with 100, not 190.
fn bad_proof(msg: &str) -> (u16, Value) {
    (
        400,
        json!({"error": {"message": msg, "type": "GraphMethodException", "code": 100, "fbtrace_id": "AfakeTraceId"}}),
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
    /// Makes every Send API call take `latency` before it answers.
    pub fn set_latency(&self, latency: Duration) {
        self.state.lock().expect("fake graph").latency = latency;
    }
    /// The most Send API calls that were ever being answered at once.
    pub fn max_in_flight(&self) -> usize {
        self.state.lock().expect("fake graph").max_in_flight
    }
    pub fn set_valid_tokens(&self, tokens: Option<Vec<String>>) {
        self.state.lock().expect("fake graph").valid_tokens = tokens;
    }
    /// The app secret `ids_for_pages` checks the app token and
    /// `appsecret_proof` against; without one, any well-formed pair passes.
    pub fn set_app_secret(&self, secret: &str) {
        self.state.lock().expect("fake graph").app_secret = Some(secret.to_string());
    }
    /// Makes `ids_for_pages` for `asid` list `psid` on `page_id` (one PSID
    /// per page: mapping the same page again replaces it).
    pub fn map_asid(&self, asid: &str, page_id: &str, psid: &str) {
        let mut st = self.state.lock().expect("fake graph");
        let pages = st.asids.entry(asid.to_string()).or_default();
        match pages.iter_mut().find(|(p, _)| p == page_id) {
            Some(entry) => entry.1 = psid.to_string(),
            None => pages.push((page_id.to_string(), psid.to_string())),
        }
    }

    /// `path` has the mount prefix stripped: `/v23.0/PAGE/messages` or
    /// `/PAGE/messages`, optionally followed by `?query` (which
    /// `ids_for_pages` needs: its credentials travel in the query).
    pub async fn handle(&self, method: &str, path: &str, headers: &http::HeaderMap, body: &[u8]) -> Answer {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
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
            ("POST", ["_fake", "asids"]) => match serde_json::from_slice::<AsidMapping>(body) {
                Ok(m) => {
                    self.map_asid(&m.asid, &m.page_id, &m.psid);
                    answer((200, json!({"ok": true})))
                }
                Err(e) => answer((400, json!({"error": e.to_string()}))),
            },
            ("POST", ["_fake", "reset"]) => {
                *self.state.lock().expect("fake graph") = State::default();
                answer((200, json!({"ok": true})))
            }
            ("POST", [.., page, "messages"]) => {
                let latency = {
                    let mut st = self.state.lock().expect("fake graph");
                    st.in_flight += 1;
                    st.max_in_flight = st.max_in_flight.max(st.in_flight);
                    st.latency
                };
                tokio::time::sleep(latency).await;
                let answer = self.send(page, headers, body);
                self.state.lock().expect("fake graph").in_flight -= 1;
                answer
            }
            ("GET", [asid, "ids_for_pages"] | [_, asid, "ids_for_pages"]) => {
                answer(self.ids_for_pages(asid, path, query, headers))
            }
            _ => answer((
                400,
                json!({"error": {"message": "Unknown path components", "type": "OAuthException", "code": 2500}}),
            )),
        }
    }

    /// `GET /{asid}/ids_for_pages?access_token=APP_ID|SECRET&appsecret_proof=..[&after=N]`.
    /// `next` is a full URL back to this server, built from the Host header
    /// and the `/fake-graph` mount, repeating the query like Meta does.
    fn ids_for_pages(&self, asid: &str, path: &str, query: &str, headers: &http::HeaderMap) -> (u16, Value) {
        let params: HashMap<String, String> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        let st = self.state.lock().expect("fake graph");
        let token = params.get("access_token").map(String::as_str).unwrap_or("");
        let token_ok = match token.split_once('|') {
            Some((app_id, secret)) if !app_id.is_empty() && !secret.is_empty() => {
                st.app_secret.as_deref().is_none_or(|s| s == secret)
            }
            _ => false,
        };
        if !token_ok {
            return bad_app_token();
        }
        let Some(proof) = params.get("appsecret_proof") else {
            return bad_proof("API calls from the server require an appsecret_proof argument");
        };
        if let Some(secret) = &st.app_secret {
            let expected = optcast_shared::graph::appsecret_proof(token, secret);
            if !optcast_shared::handshake::constant_time_eq(proof.as_bytes(), expected.as_bytes()) {
                return bad_proof("Invalid appsecret_proof provided in the API argument");
            }
        }
        if asid.is_empty() || asid.len() > 64 || !asid.bytes().all(|b| b.is_ascii_digit()) {
            return unknown_object(asid);
        }
        let all = st.asids.get(asid).map(Vec::as_slice).unwrap_or_default();
        let start = match params.get("after") {
            None => 0,
            Some(a) => match a.parse::<usize>() {
                Ok(n) if n <= all.len() => n,
                _ => return invalid_param("Invalid cursor"),
            },
        };
        let end = (start + IDS_PAGE_SIZE).min(all.len());
        let data: Vec<Value> = all[start..end]
            .iter()
            .map(|(page, psid)| json!({"id": psid, "page": {"id": page, "name": format!("Fake Page {page}")}}))
            .collect();
        if data.is_empty() {
            return (200, json!({ "data": [] }));
        }
        let mut paging = json!({"cursors": {"before": start.to_string(), "after": end.to_string()}});
        if end < all.len() {
            let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("localhost");
            let mut next_query = form_urlencoded::Serializer::new(String::new());
            for (k, v) in form_urlencoded::parse(query.as_bytes()).filter(|(k, _)| k != "after") {
                next_query.append_pair(&k, &v);
            }
            next_query.append_pair("after", &end.to_string());
            paging["next"] = json!(format!("http://{host}/fake-graph{path}?{}", next_query.finish()));
        }
        (200, json!({"data": data, "paging": paging}))
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
    const BODY: &[u8] = br#"{"recipient":{"id":"2000000000000001"},"messaging_type":"UPDATE","message":{"text":"hi"}}"#;

    #[tokio::test]
    async fn a_send_is_recorded_and_answered_like_meta() {
        let g = FakeGraph::new();
        let (status, headers, body) = g
            .handle("POST", "/v23.0/1000000000000001/messages", &auth(), BODY)
            .await;
        assert_eq!(status, 200);
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["recipient_id"], "2000000000000001");
        assert!(headers.iter().any(|(k, _)| k == "x-business-use-case-usage"));
        assert_eq!(g.sends().len(), 1);
    }

    #[tokio::test]
    async fn scripted_errors_use_metas_bodies_and_are_used_up() {
        let g = FakeGraph::new();
        g.script(Rule {
            recipient: Some("2000000000000001".into()),
            error: FakeError::Blocked,
            times: 1,
        });
        let (status, _, body) = g.handle("POST", "/1000000000000001/messages", &auth(), BODY).await;
        assert_eq!(status, 400);
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            (v["error"]["code"].as_i64(), v["error"]["error_subcode"].as_i64()),
            (Some(551), Some(1545041))
        );
        assert_eq!(
            g.handle("POST", "/1000000000000001/messages", &auth(), BODY).await.0,
            200
        );
        assert_eq!(g.attempts(), 2);
    }

    #[tokio::test]
    async fn the_rate_limit_answers_613() {
        let g = FakeGraph::new();
        g.set_rate_limit(Some(2));
        let mut codes = vec![];
        for _ in 0..3 {
            let (_, _, body) = g.handle("POST", "/1000000000000001/messages", &auth(), BODY).await;
            codes.push(serde_json::from_str::<Value>(&body).unwrap()["error"]["code"].as_i64());
        }
        assert_eq!(codes, [None, None, Some(613)]);
    }

    #[tokio::test]
    async fn a_missing_or_wrong_token_answers_190() {
        let g = FakeGraph::new();
        let (_, _, body) = g
            .handle("POST", "/1000000000000001/messages", &http::HeaderMap::new(), BODY)
            .await;
        assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["error"]["code"], 190);
        g.set_valid_tokens(Some(vec!["other".into()]));
        let (_, _, body) = g.handle("POST", "/1000000000000001/messages", &auth(), BODY).await;
        assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["error"]["code"], 190);
        assert!(g.sends().is_empty());
    }

    const PROOF_FOR_1234: &str = "18869a7ed24934964f3ac7c2c7a44b4629bb208e487e7a6112e8667cece089db";

    fn host() -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert("host", "127.0.0.1:9000".parse().unwrap());
        h
    }

    async fn ids(g: &FakeGraph, path_and_query: &str) -> (u16, Value) {
        let (status, _, body) = g.handle("GET", path_and_query, &host(), b"").await;
        (status, serde_json::from_str(&body).unwrap())
    }

    #[tokio::test]
    async fn ids_for_pages_pages_two_at_a_time_with_a_full_next_url() {
        let g = FakeGraph::new();
        g.set_app_secret("app-secret");
        for (page, psid) in [
            ("111", "2000000000000001"),
            ("222", "2000000000000002"),
            ("333", "2000000000000003"),
        ] {
            g.map_asid("42", page, psid);
        }
        let query = format!("access_token=1234%7Capp-secret&appsecret_proof={PROOF_FOR_1234}");
        let (status, v) = ids(&g, &format!("/v23.0/42/ids_for_pages?{query}")).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(
            v["data"],
            json!([{"id": "2000000000000001", "page": {"id": "111", "name": "Fake Page 111"}}, {"id": "2000000000000002", "page": {"id": "222", "name": "Fake Page 222"}}])
        );
        let next = v["paging"]["next"].as_str().unwrap();
        let rest = next.strip_prefix("http://127.0.0.1:9000/fake-graph").unwrap();
        assert!(
            rest.starts_with("/v23.0/42/ids_for_pages?") && rest.contains(PROOF_FOR_1234),
            "{next}"
        );
        let (status, v) = ids(&g, rest).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(
            v["data"],
            json!([{"id": "2000000000000003", "page": {"id": "333", "name": "Fake Page 333"}}])
        );
        assert!(v["paging"]["next"].is_null());
        // Without the version prefix, and without a configured secret any proof passes.
        let g2 = FakeGraph::new();
        g2.map_asid("42", "111", "2000000000000001");
        let (status, v) = ids(&g2, "/42/ids_for_pages?access_token=1%7Cs&appsecret_proof=x").await;
        assert_eq!((status, v["data"][0]["id"].as_str()), (200, Some("2000000000000001")));
    }

    #[tokio::test]
    async fn ids_for_pages_refuses_bad_tokens_with_190_and_bad_proofs_with_100() {
        let g = FakeGraph::new();
        g.set_app_secret("app-secret");
        g.map_asid("42", "111", "2000000000000001");
        for query in [
            format!("appsecret_proof={PROOF_FOR_1234}"),
            format!("access_token=app-secret&appsecret_proof={PROOF_FOR_1234}"),
            format!("access_token=%7Capp-secret&appsecret_proof={PROOF_FOR_1234}"),
            format!("access_token=1234%7Cwrong&appsecret_proof={PROOF_FOR_1234}"),
        ] {
            let (status, v) = ids(&g, &format!("/42/ids_for_pages?{query}")).await;
            assert_eq!((status, v["error"]["code"].as_i64()), (400, Some(190)), "{query}");
            assert_eq!(v["error"]["type"], "OAuthException");
        }
        for query in [
            "access_token=1234%7Capp-secret".to_string(),
            format!("access_token=1234%7Capp-secret&appsecret_proof={}", "0".repeat(64)),
            // The right proof for another token.
            format!("access_token=999%7Capp-secret&appsecret_proof={PROOF_FOR_1234}"),
        ] {
            let (status, v) = ids(&g, &format!("/42/ids_for_pages?{query}")).await;
            assert_eq!((status, v["error"]["code"].as_i64()), (400, Some(100)), "{query}");
            assert_eq!(v["error"]["type"], "GraphMethodException");
        }
    }

    #[tokio::test]
    async fn ids_for_pages_answers_empty_data_for_an_unknown_asid_and_100_for_a_malformed_one() {
        let g = FakeGraph::new();
        let q = "access_token=1%7Cs&appsecret_proof=x";
        let (status, v) = ids(&g, &format!("/v23.0/77/ids_for_pages?{q}")).await;
        assert_eq!((status, v), (200, json!({"data": []})));
        let (status, v) = ids(&g, &format!("/v23.0/me/ids_for_pages?{q}")).await;
        assert_eq!(
            (
                status,
                v["error"]["code"].as_i64(),
                v["error"]["error_subcode"].as_i64()
            ),
            (400, Some(100), Some(33))
        );
        g.map_asid("77", "111", "2000000000000001");
        let (status, v) = ids(&g, &format!("/v23.0/77/ids_for_pages?{q}&after=9")).await;
        assert_eq!((status, v["error"]["code"].as_i64()), (400, Some(100)));
    }

    #[tokio::test]
    async fn asid_mappings_can_be_posted_to_the_control_endpoint() {
        let g = FakeGraph::new();
        let body = br#"{"asid":"42","page_id":"111","psid":"2000000000000001"}"#;
        assert_eq!(g.handle("POST", "/_fake/asids", &host(), body).await.0, 200);
        assert_eq!(g.handle("POST", "/_fake/asids", &host(), b"{}").await.0, 400);
        let (_, v) = ids(&g, "/42/ids_for_pages?access_token=1%7Cs&appsecret_proof=x").await;
        assert_eq!(v["data"][0]["id"], "2000000000000001");
    }

    /// The real client against the fake over HTTP, mounted like the local
    /// stack mounts it but with the query passed through.
    #[tokio::test]
    async fn the_graph_client_reads_every_page_from_the_fake() {
        use http_body_util::{BodyExt, Full};
        let g = FakeGraph::new();
        g.set_app_secret("app-secret");
        for (page, psid) in [
            ("111", "2000000000000001"),
            ("222", "2000000000000002"),
            ("333", "2000000000000003"),
        ] {
            g.map_asid("42", page, psid);
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let fake = g.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let fake = fake.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let fake = fake.clone();
                        async move {
                            let (parts, body) = req.into_parts();
                            let bytes = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                            let pq = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
                            let rest = pq.strip_prefix("/fake-graph").unwrap_or(pq);
                            let (status, _, body) =
                                fake.handle(parts.method.as_str(), rest, &parts.headers, &bytes).await;
                            let resp = hyper::Response::builder()
                                .status(status)
                                .body(Full::new(bytes::Bytes::from(body)));
                            Ok::<_, std::convert::Infallible>(resp.unwrap())
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        let client =
            optcast_shared::graph::GraphClient::new(format!("http://{addr}/fake-graph/v23.0")).expect("a client");
        // Typed by `ids_for_pages` (this crate does not depend on secrecy).
        let secret = String::from("app-secret").into();
        let wrong = String::from("wrong").into();
        let got = client.ids_for_pages("42", "1234", &secret).await.unwrap();
        let got: Vec<(&str, &str)> = got.iter().map(|(p, s)| (p.as_str(), s.as_str())).collect();
        assert_eq!(
            got,
            [
                ("111", "2000000000000001"),
                ("222", "2000000000000002"),
                ("333", "2000000000000003")
            ]
        );
        let e = client.ids_for_pages("42", "1234", &wrong).await.unwrap_err();
        assert_eq!(e.code, Some(190));
        assert!(client.ids_for_pages("77", "1234", &secret).await.unwrap().is_empty());
    }
}
