//! `GET /{asid}/ids_for_pages`: the app token and `appsecret_proof`
//! checked like Meta, the ASID's PSIDs per page, paginated with a full
//! `next` URL.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::errors::{bad_app_token, bad_proof, invalid_param, unknown_object};
use super::FakeGraph;

/// `ids_for_pages` answers this many entries per page, so paging is exercised.
const IDS_PAGE_SIZE: usize = 2;

impl FakeGraph {
    /// `GET /{asid}/ids_for_pages?access_token=APP_ID|SECRET&appsecret_proof=..[&after=N]`.
    /// `next` is a full URL back to this server, built from the Host header
    /// and the `/fake-graph` mount, repeating the query like Meta does.
    pub(super) fn ids_for_pages(&self, asid: &str, path: &str, query: &str, headers: &http::HeaderMap) -> (u16, Value) {
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
        let malformed = asid.is_empty() || asid.len() > 64 || !asid.bytes().all(|b| b.is_ascii_digit());
        if malformed || st.forgotten_asids.contains(asid) {
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
}
