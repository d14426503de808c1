//! Test helpers: start the whole local stack (real handlers, real AWS SDK
//! clients against the emulator) with its own resource prefix, so tests run
//! in parallel; sign deliveries like Meta; wait for asynchronous ingestion.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::QueueAttributeName;
use optcast_local::{RunningStack, StackOptions};

pub use optcast_shared::signature::sign;

pub mod oidc;
pub mod openapi;

pub const APP_SECRET: &str = "test-app-secret-\u{e9}";
pub const VERIFY_TOKEN: &str = "test-verify-token";
pub const ADMIN_TOKEN: &str = "test-admin-token";
pub const PAGE_TOKEN: &str = "EAAG-test-page-token";

pub type Item = HashMap<String, AttributeValue>;

pub fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:4566".into())
}

/// AWS SDK configuration for the emulator at `endpoint`.
pub async fn aws_at(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-west-2"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "local", "local", None, None, "tests",
        ))
        .load()
        .await
}

pub fn template_path() -> String {
    format!("{}/../template.yaml", env!("CARGO_MANIFEST_DIR"))
}

/// A unique, short, lowercase prefix per test.
pub fn unique_prefix() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("t{:x}{:x}{n}", std::process::id() % 0xffff, nanos % 0xfffff)
}

pub struct TestApp {
    pub stack: RunningStack,
    pub aws: aws_config::SdkConfig,
    pub ddb: aws_sdk_dynamodb::Client,
    pub s3: aws_sdk_s3::Client,
    pub kms: aws_sdk_kms::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub http: reqwest::Client,
}

/// The test stack's pseudonym key set: `t2` current, `t1` an older key
/// whose records must still match (test keys, not secrets).
pub const PSEUDONYM_KEYS: &str = r#"{"current":"t2","keys":{"t1":"b3B0Y2FzdCB0ZXN0IHBzZXVkb255bSBrZXkgb25lLi4=","t2":"b3B0Y2FzdCB0ZXN0IHBzZXVkb255bSBrZXkgdHdvLi4="}}"#;

pub fn options(prefix: &str) -> StackOptions {
    let mut opts = StackOptions::new(prefix, template_path());
    opts.addr = "127.0.0.1:0".parse().unwrap();
    opts.retry_visibility_secs = Some(0);
    opts.pollers_per_queue = 1;
    opts.fire_schedules = false;
    // Recorded in `stack.metrics`; stdout would mix every test's lines.
    opts.metrics_to_stdout = false;
    opts.overrides.insert("META_APP_SECRET".into(), APP_SECRET.into());
    opts.overrides.insert("META_VERIFY_TOKEN".into(), VERIFY_TOKEN.into());
    opts.overrides.insert("OPTCAST_ADMIN_TOKEN".into(), ADMIN_TOKEN.into());
    opts.overrides
        .insert("OPTCAST_PSEUDONYM_KEYS".into(), PSEUDONYM_KEYS.into());
    opts.overrides.insert("SEND_RETRY_BASE_SECS".into(), "1".into());
    opts.overrides.insert("SEND_RATE_PER_SECOND".into(), "200".into());
    opts
}

/// `function`'s AWS requests pass a proxy that can answer as AWS does when
/// things go wrong (moto never does): the faults to script, and the option
/// change that routes the function through it.
pub async fn behind_faults(function: &str) -> (optcast_local::counting_proxy::Faults, impl FnOnce(&mut StackOptions)) {
    use optcast_local::counting_proxy;
    let (url, _, faults) = counting_proxy::start_with_faults(endpoint()).await.unwrap();
    let aws = aws_at(&endpoint()).await;
    let function = function.to_string();
    let adjust = move |o: &mut StackOptions| {
        o.function_aws
            .insert(function, counting_proxy::routed_through(&aws, &url));
    };
    (faults, adjust)
}

/// Starts the whole local stack on a free port with fresh resources.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Like [`spawn_app`], with adjusted options (e.g. held functions).
pub async fn spawn_app_with(adjust: impl FnOnce(&mut StackOptions)) -> TestApp {
    capture_logs();
    let aws = aws_at(&endpoint()).await;
    let mut opts = options(&unique_prefix());
    adjust(&mut opts);
    let stack = optcast_local::start(&opts, &aws)
        .await
        .expect("local stack starts (is the emulator running? `make test` starts one)");
    // The test's own DynamoDB reads and writes take their turn with the
    // functions' (the proxy passes one DynamoDB request at a time): moto
    // applies a transaction item by item, so a direct read could otherwise
    // see half of one, or a direct write be undone by a rolled-back one.
    let (proxy, _) = optcast_local::counting_proxy::start(endpoint())
        .await
        .expect("local proxy starts");
    TestApp {
        stack,
        ddb: aws_sdk_dynamodb::Client::new(&optcast_local::counting_proxy::routed_through(&aws, &proxy)),
        s3: aws_sdk_s3::Client::new(&aws),
        kms: aws_sdk_kms::Client::new(&aws),
        sqs: aws_sdk_sqs::Client::new(&aws),
        http: reqwest::Client::new(),
        aws,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        self.stack.url(path)
    }

    pub fn physical(&self, logical: &str) -> String {
        self.stack.provisioned.get(logical).unwrap().reference.clone()
    }

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

    pub async fn scan(&self, logical: &str) -> Vec<Item> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .ddb
                .scan()
                .table_name(self.physical(logical))
                .set_exclusive_start_key(start)
                .consistent_read(true)
                .send()
                .await
                .unwrap();
            items.extend(out.items().iter().cloned());
            match out.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return items,
            }
        }
    }

    /// Messages visible plus in flight on a queue.
    pub async fn queue_depth(&self, logical: &str) -> u64 {
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(self.physical(logical))
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .unwrap();
        let attrs = out.attributes().cloned().unwrap_or_default();
        // A missing count is not an empty queue.
        let get = |k: QueueAttributeName| {
            attrs
                .get(&k)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(u64::MAX / 4)
        };
        get(QueueAttributeName::ApproximateNumberOfMessages)
            + get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
    }

    /// Waits until both ingest queues (deliveries and chunks) are empty:
    /// everything consumed, including the chunks a large delivery became.
    pub async fn drain_ingest(&self) {
        self.drain(&["IngestQueue", "IngestChunkQueue"]).await;
    }

    /// Waits until `queues` are empty: nothing waiting, nothing in flight.
    ///
    /// One empty reading is not proof: the emulator computes "visible" and
    /// then "in flight", each against the clock, so a message whose
    /// visibility lapses or is reset (a retried record) between the two is
    /// counted in neither and a queue with work in flight reads 0. Once
    /// visible it stays counted until received, and then in flight for its
    /// whole invocation: three empty readings in a row, 150 ms apart, cannot
    /// all miss it.
    pub async fn drain(&self, queues: &[&str]) {
        let empty = || async {
            for queue in queues {
                if self.queue_depth(queue).await != 0 {
                    return false;
                }
            }
            true
        };
        eventually(&format!("{queues:?} drained"), || async {
            for _ in 0..3 {
                if !empty().await {
                    return false;
                }
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
            true
        })
        .await;
    }

    /// Reads (and keeps) everything on the ingest DLQs (deliveries and chunks).
    pub async fn dead_letters(&self) -> Vec<String> {
        let mut bodies = Vec::new();
        for dlq in ["IngestDeadLetterQueue", "IngestChunkDeadLetterQueue"] {
            let out = self
                .sqs
                .receive_message()
                .queue_url(self.physical(dlq))
                .max_number_of_messages(10)
                .visibility_timeout(0)
                .send()
                .await
                .unwrap();
            bodies.extend(out.messages().iter().filter_map(|m| m.body().map(str::to_owned)));
        }
        bodies
    }
}

/// Polls `check` until it holds. The bound (5 minutes) only ends a test
/// that would otherwise hang: a slow or busy machine must not fail a test.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if check().await {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn s(item: &Item, key: &str) -> String {
    item.get(key).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default()
}

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

/// Everything the functions log during the test run (JSON lines), so tests
/// can check that no personal data reaches the logs.
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned()
}

static LOGS: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

struct CaptureWriter;

impl std::io::Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the capturing JSON log subscriber (once per test binary), at
/// debug level so even verbose logs are checked.
pub fn capture_logs() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(|| CaptureWriter)
            .try_init();
    });
}

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
        let (status, out) = self
            .api(
                reqwest::Method::POST,
                "/v1/erasure",
                Some(serde_json::json!({"page_id": page, "psid": psid})),
            )
            .await;
        assert_eq!(status, 202, "{out}");
        let id = out["request_id"].as_str().unwrap().to_string();
        eventually("erasure finished", || async {
            self.api(reqwest::Method::GET, &format!("/v1/erasure/{id}"), None)
                .await
                .1["status"]
                != "pending"
        })
        .await;
        id
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
        let (status, body) = self
            .api(
                reqwest::Method::PUT,
                &format!("/v1/pages/{page}"),
                Some(serde_json::json!({"access_token": PAGE_TOKEN, "retention_days": 30})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
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

/// Every DynamoDB table the template declares.
pub const TABLES: [&str; 9] = [
    "SubscribersTable",
    "ConsentLogTable",
    "MessagesTable",
    "EventsTable",
    "PagesTable",
    "BroadcastsTable",
    "DeliveriesTable",
    "SubjectKeysTable",
    "PrivacyTable",
];

/// An EventBridge scheduled event whose `time` is `at_ms`.
pub fn scheduled_event(at_ms: i64) -> serde_json::Value {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at_ms) * 1_000_000)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    serde_json::json!({"version":"0","id":"e1","detail-type":"Scheduled Event","source":"aws.events",
        "account":"123456789012","time": t,"region":"us-west-2","resources":[],"detail":{}})
}

impl TestApp {
    /// Invokes a function through the Invoke API; its JSON result.
    /// A scheduled invocation of `function` dated `at_ms`, with the stack's
    /// clock moved to that time first (the functions cap an event's time at
    /// their clock, so a run "days later" needs both).
    pub async fn invoke_at(&self, function: &str, at_ms: i64) -> serde_json::Value {
        self.stack.clock.set_now_ms(at_ms);
        self.invoke(function, &scheduled_event(at_ms)).await
    }

    pub async fn invoke(&self, function: &str, event: &serde_json::Value) -> serde_json::Value {
        self.http
            .post(self.url(&format!("/2015-03-31/functions/{function}/invocations")))
            .json(event)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Every item of every table, as text (to search for traces).
    pub async fn dump_tables(&self) -> String {
        let mut lines = Vec::new();
        for table in TABLES {
            for item in self.scan(table).await {
                let sorted: std::collections::BTreeMap<_, _> = item.into_iter().collect();
                lines.push(format!("{table}: {sorted:?}"));
            }
        }
        lines.sort();
        lines.join("\n")
    }

    /// Every object version and delete marker in the data bucket, with the
    /// content of each version.
    pub async fn dump_bucket(&self) -> (usize, String) {
        let bucket = self.physical("DataBucket");
        let out = self.s3.list_object_versions().bucket(&bucket).send().await.unwrap();
        let mut text = String::new();
        let mut count = 0;
        for v in out.versions() {
            count += 1;
            let key = v.key().unwrap_or_default();
            text.push_str(key);
            let obj = self
                .s3
                .get_object()
                .bucket(&bucket)
                .key(key)
                .set_version_id(v.version_id().map(str::to_string))
                .send()
                .await
                .unwrap();
            let bytes = obj.body.collect().await.unwrap().into_bytes();
            text.push_str(&String::from_utf8_lossy(&bytes));
        }
        for m in out.delete_markers() {
            count += 1;
            text.push_str(m.key().unwrap_or_default());
        }
        (count, text)
    }
}

impl TestApp {
    /// The quarantine in this stack's data bucket.
    pub fn quarantine(&self) -> optcast_shared::quarantine::Quarantine {
        optcast_shared::quarantine::Quarantine {
            s3: self.s3.clone(),
            bucket: self.physical("DataBucket"),
        }
    }

    /// Every quarantine record, once there are at least `n`.
    pub async fn wait_quarantined(&self, n: usize) -> Vec<optcast_shared::quarantine::QuarantineRecord> {
        let quarantine = self.quarantine();
        eventually(&format!("{n} quarantined"), || async {
            quarantine.list(None, 1000).await.unwrap().0.len() >= n
        })
        .await;
        quarantine.list(None, 1000).await.unwrap().0
    }

    /// The delivery a quarantine record keeps, opened.
    pub async fn quarantined_body(&self, id: &str) -> Vec<u8> {
        let keys = optcast_shared::crypto::KeyRing::new(self.kms.clone(), self.physical("DataKey"));
        let key = optcast_shared::quarantine::object_key(id);
        optcast_shared::queue::get_sealed(&self.s3, &keys, &self.physical("DataBucket"), &key)
            .await
            .unwrap()
    }
}

impl TestApp {
    /// A lead's stored record (consistent read), if any.
    pub async fn subscriber(&self, page: &str, psid: &str) -> Option<Item> {
        let out = self
            .ddb
            .get_item()
            .table_name(self.physical("SubscribersTable"))
            .key("pk", AttributeValue::S(format!("PAGE#{page}")))
            .key("sk", AttributeValue::S(format!("SUB#{psid}")))
            .consistent_read(true)
            .send()
            .await
            .unwrap();
        out.item().cloned()
    }

    /// A lead's consent status, or `"none"` when there is no lead.
    pub async fn status(&self, page: &str, psid: &str) -> String {
        self.subscriber(page, psid)
            .await
            .map_or_else(|| "none".to_string(), |i| s(&i, "status"))
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
