//! Speaking as Meta and as leads: signed deliveries, seeded leads, one
//! message at a time, and the stored messages opened again.

use crate::{eventually, s, sign, TestApp, APP_SECRET};

/// The processed-event marker's key of `psid`'s event `key` on `page`.
pub fn event_marker(page: &str, psid: &str, key: &str) -> String {
    use optcast_shared::ids::{PageId, Psid};
    optcast_shared::store::event_pk(&PageId::parse(page).unwrap(), Some(&Psid::parse(psid).unwrap()), key)
}

/// A one-message Messenger delivery.
pub fn text_delivery(page: &str, psid: &str, mid: &str, text: &str, ts: i64) -> String {
    serde_json::json!({
        "object": "page",
        "entry": [{ "id": page, "time": ts, "messaging": [{
            "sender": { "id": psid }, "recipient": { "id": page }, "timestamp": ts,
            "message": { "mid": mid, "text": text }
        }]}]
    })
    .to_string()
}

/// Meta's wire form: non-ASCII as `\uXXXX` (UTF-16, lowercase hex) and `/` as `\/`.
pub fn meta_escape(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c == '/' {
            out.push_str("\\/");
        } else if c.is_ascii() {
            out.push(c);
        } else {
            let mut buf = [0u16; 2];
            for unit in c.encode_utf16(&mut buf) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

impl TestApp {
    /// POSTs `body` to /webhook signed with the app secret, as Meta does.
    pub async fn post_signed(&self, body: &[u8]) -> reqwest::Response {
        self.http
            .post(self.url("/webhook"))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", sign(APP_SECRET.as_bytes(), body))
            .body(body.to_vec())
            .send()
            .await
            .unwrap()
    }

    /// Leads who wrote to the page (one batched delivery), all ingested.
    pub async fn seed_leads(&self, page: &str, psids: &[String]) {
        let now = optcast_shared::http::now_ms();
        let items: Vec<_> = psids
            .iter()
            .enumerate()
            .map(|(i, p)| {
                serde_json::json!({"sender":{"id":p},"recipient":{"id":page},"timestamp":now - 60_000 + i as i64,
                    "message":{"mid":format!("m_seed_{p}"),"text":"hello"}})
            })
            .collect();
        let body = serde_json::json!({"object":"page","entry":[{"id":page,"time":now,"messaging":items}]}).to_string();
        assert_eq!(self.post_signed(body.as_bytes()).await.status(), 200);
        let want = psids.len();
        eventually("leads seeded", || async {
            self.scan("SubscribersTable")
                .await
                .iter()
                .filter(|i| s(i, "page_id") == page)
                .count()
                >= want
        })
        .await;
    }

    /// One inbound text message, waited for until ingested.
    pub async fn say(&self, page: &str, psid: &str, mid: &str, text: &str) {
        self.say_at(page, psid, mid, text, optcast_shared::http::now_ms()).await;
    }

    /// One inbound text message with Meta's event time `ts`, waited for.
    pub async fn say_at(&self, page: &str, psid: &str, mid: &str, text: &str, ts: i64) {
        let body = text_delivery(page, psid, mid, text, ts);
        assert_eq!(self.post_signed(body.as_bytes()).await.status(), 200);
        let marker = event_marker(page, psid, mid);
        eventually("message ingested", || async {
            self.scan("EventsTable").await.iter().any(|e| s(e, "pk") == marker)
        })
        .await;
    }

    /// A lead of `page` who wrote three days ago (the 24-hour window is
    /// closed) and then granted the marketing-messages token `token` (valid
    /// 30 days), both through the webhook; waited for until the token is
    /// stored on the lead.
    pub async fn marketing_lead(&self, page: &str, psid: &str, token: &str) {
        use optcast_shared::retention::DAY_MS;
        let t = optcast_shared::http::now_ms();
        let three_days_ago = t - 3 * DAY_MS;
        self.say_at(page, psid, &format!("m_hello_{psid}"), "hello", three_days_ago)
            .await;
        let optin = serde_json::json!({"object":"page","entry":[{"id":page,"time":t,"messaging":[
            {"sender":{"id":psid},"recipient":{"id":page},"timestamp":three_days_ago + 1,
             "optin":{"type":"notification_messages","notification_messages_token":token,
                      "token_expiry_timestamp": t + 30 * DAY_MS}}]}]})
        .to_string();
        assert_eq!(self.post_signed(optin.as_bytes()).await.status(), 200);
        eventually("marketing token stored", || async {
            self.subscriber(page, psid)
                .await
                .is_some_and(|i| i.contains_key("marketing_token"))
        })
        .await;
    }

    /// POSTs one signed delivery of `items` for `page` (`object` "page" or
    /// "instagram"), expecting 200.
    pub async fn post_items(&self, object: &str, page: &str, items: Vec<serde_json::Value>) {
        let body = serde_json::json!({"object": object, "entry": [{"id": page, "time": optcast_shared::http::now_ms(), "messaging": items}]});
        let status = self.post_signed(body.to_string().as_bytes()).await.status();
        assert_eq!(status, 200);
    }

    /// The lead's stored messages, opened: (sort key, body JSON).
    pub async fn opened_messages(&self, page: &str, psid: &str) -> Vec<(String, serde_json::Value)> {
        use optcast_shared::crypto::{self, KeyRing};
        use optcast_shared::ids::{PageId, Psid};
        let (page_id, psid_id) = (PageId::parse(page).unwrap(), Psid::parse(psid).unwrap());
        let pk = format!("PAGE#{page}#SUB#{psid}");
        let keys = KeyRing::new(self.kms.clone(), self.physical("DataKey"));
        let key_item = self
            .scan("SubjectKeysTable")
            .await
            .into_iter()
            .find(|i| s(i, "pk") == pk)
            .expect("the lead's data key");
        let wrapped = key_item["data_key"].as_b().unwrap().as_ref().to_vec();
        let key = keys
            .unwrap(&wrapped, &crypto::subject_key_context(&page_id, &psid_id))
            .await
            .unwrap();
        let mut out = Vec::new();
        for item in self
            .scan("MessagesTable")
            .await
            .into_iter()
            .filter(|i| s(i, "pk") == pk)
        {
            let sk = s(&item, "sk");
            let event_key = sk.splitn(3, '#').nth(2).unwrap().to_string();
            let sealed = item["body"].as_b().unwrap().as_ref();
            let plain = crypto::open(
                &key,
                &crypto::field_aad("message", &page_id, &psid_id, &event_key),
                sealed,
            )
            .unwrap();
            out.push((sk, serde_json::from_slice(&plain).unwrap()));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}
