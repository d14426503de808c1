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

mod errors;
mod ids_for_pages;
mod send;
#[cfg(test)]
mod tests;

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
    /// Not an error Meta answers: the message is taken (recorded as sent),
    /// but its answer does not arrive whole (here a 200 without the
    /// message id), as when the connection drops after Meta accepted it.
    AnswerLost,
    /// Not Meta's answer either: the message is taken (recorded as sent),
    /// but the gateway in front of Meta gives up waiting and answers a 504
    /// with its own HTML page, no Meta error body.
    GatewayTimeout,
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
    /// App-scoped ids Meta no longer knows ([`FakeGraph::forget_user`]).
    forgotten_asids: std::collections::HashSet<String>,
    /// How long each Send API call takes to answer (Meta: ~100–300 ms).
    latency: Duration,
    in_flight: usize,
    max_in_flight: usize,
}

#[derive(Clone, Default)]
pub struct FakeGraph {
    state: Arc<Mutex<State>>,
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
    /// Meta no longer knows the user `asid` (their account is gone):
    /// `ids_for_pages` answers as for any id that does not exist, code 100,
    /// subcode 33.
    pub fn forget_user(&self, asid: &str) {
        self.state
            .lock()
            .expect("fake graph")
            .forgotten_asids
            .insert(asid.to_string());
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
}
