//! The management API as a test calls it: with the admin token or another,
//! every answer checked against the OpenAPI document.

use crate::{eventually, openapi, TestApp, ADMIN_TOKEN, PAGE_TOKEN};

impl TestApp {
    /// Calls the management API with the admin token.
    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        self.api_as(ADMIN_TOKEN, method, path, body).await
    }

    /// Erases `psid` of `page` through the API and waits until the request
    /// is no longer pending; returns the request id.
    pub async fn erase(&self, page: &str, psid: &str) -> String {
        let id = self.request_erasure(page, psid).await;
        eventually("erasure finished", || async {
            self.api(reqwest::Method::GET, &format!("/v1/erasure/{id}"), None)
                .await
                .1["status"]
                != "pending"
        })
        .await;
        id
    }

    /// Requests the erasure of `psid` on `page` (accepted, 202); its id.
    pub async fn request_erasure(&self, page: &str, psid: &str) -> String {
        let (status, out) = self
            .api(
                reqwest::Method::POST,
                "/v1/erasure",
                Some(serde_json::json!({"page_id": page, "psid": psid})),
            )
            .await;
        assert_eq!(status, 202, "{out}");
        out["request_id"].as_str().unwrap().to_string()
    }

    /// A management API call with `token` as the bearer token.
    pub async fn api_as(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let sent_method = method.clone();
        let mut req = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        // A 303 is followed (to the export's presigned link): not the API's answer.
        let answered_by_api = resp.url().path().starts_with("/v1");
        let body = resp.json().await.unwrap_or(serde_json::Value::Null);
        if answered_by_api {
            openapi::check_response(sent_method.as_str(), path, status, &body);
        }
        (status, body)
    }

    pub async fn register_page(&self, page: &str) {
        self.put_page(
            page,
            serde_json::json!({"access_token": PAGE_TOKEN, "retention_days": 30}),
        )
        .await;
    }

    /// Registers `page` as [`TestApp::register_page`] does, keeping its data
    /// `retention_days` days (a sweep dated weeks on then deletes only what
    /// a purge reaches).
    pub async fn register_page_keeping(&self, page: &str, retention_days: u32) {
        self.put_page(
            page,
            serde_json::json!({"access_token": PAGE_TOKEN, "retention_days": retention_days}),
        )
        .await;
    }

    /// Registers `page` as [`TestApp::register_page`] does, in Meta's
    /// `region` (`"EU"`, `"US"`, …), which decides whether Meta still honours
    /// its marketing-messages tokens.
    pub async fn register_page_in(&self, page: &str, region: &str) {
        self.put_page(
            page,
            serde_json::json!({"access_token": PAGE_TOKEN, "retention_days": 30, "region": region}),
        )
        .await;
    }

    /// `PUT /v1/pages/{page}` with `body`, expecting 200.
    async fn put_page(&self, page: &str, body: serde_json::Value) {
        let (status, out) = self
            .api(reqwest::Method::PUT, &format!("/v1/pages/{page}"), Some(body))
            .await;
        assert_eq!(status, 200, "{out}");
    }

    pub async fn create_broadcast(&self, body: serde_json::Value) -> String {
        let (status, out) = self.api(reqwest::Method::POST, "/v1/broadcasts", Some(body)).await;
        assert_eq!(status, 201, "{out}");
        out["id"].as_str().unwrap().to_string()
    }

    pub async fn broadcast(&self, id: &str) -> serde_json::Value {
        let (status, out) = self
            .api(reqwest::Method::GET, &format!("/v1/broadcasts/{id}"), None)
            .await;
        assert_eq!(status, 200, "{out}");
        out
    }

    pub async fn wait_state(&self, id: &str, state: &str) -> serde_json::Value {
        eventually(&format!("broadcast {state}"), || async {
            self.broadcast(id).await["state"] == state
        })
        .await;
        self.broadcast(id).await
    }

    /// Successful sends the fake Graph API recorded for one lead.
    pub fn sends_to(&self, psid: &str) -> usize {
        self.stack
            .graph
            .sends()
            .iter()
            .filter(|s| s.recipient["id"] == psid)
            .count()
    }
}

impl TestApp {
    /// Sends `method path` to the local stack exactly as written, with the
    /// admin token: HTTP clients normalise a path (`/v1/pages/..` becomes
    /// `/v1/`), a caller on the wire need not. The status and JSON body.
    pub async fn raw_api(&self, method: &str, path: &str, body: Option<&str>) -> (u16, serde_json::Value) {
        use std::io::{Read, Write};
        let addr = self.stack.addr;
        let request = format!(
            "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {ADMIN_TOKEN}\r\n\
             content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
            body.map_or(0, str::len),
            body.unwrap_or_default()
        );
        let response = tokio::task::spawn_blocking(move || {
            let mut stream = std::net::TcpStream::connect(addr).unwrap();
            stream.write_all(request.as_bytes()).unwrap();
            let mut response = Vec::new();
            stream.read_to_end(&mut response).unwrap();
            String::from_utf8(response).unwrap()
        })
        .await
        .unwrap();
        let status = response
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP response: {response}"));
        let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let body = serde_json::from_str(body).unwrap_or(serde_json::Value::Null);
        openapi::check_response(method, path, status, &body);
        (status, body)
    }
}
