//! Test helpers: start the whole local stack (real handlers, real AWS SDK
//! clients against the emulator) with its own resource prefix, so tests run
//! in parallel; sign deliveries like Meta; wait for asynchronous ingestion.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use optcast_local::{RunningStack, StackOptions};

pub use optcast_shared::signature::sign;

mod api;
mod aws;
mod broadcasts;
mod logs;
mod meta;
pub mod oidc;
pub mod openapi;

pub use aws::{scheduled_event, TABLES};
pub use broadcasts::{leads, planned_while_sender_held, planned_with_sender_held, send_task, text_to};
pub use logs::{capture_logs, captured_logs, logs_hold_id};
pub use meta::{event_marker, meta_escape, text_delivery};

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
    /// Fails the test at its end if a function made a call its role in the
    /// template would not allow (AWS would have refused it).
    pub iam: IamCheck,
}

/// See [`TestApp::iam`].
pub struct IamCheck(pub optcast_local::iam::Guard);

impl Drop for IamCheck {
    fn drop(&mut self) {
        let denied = self.0.denied();
        if denied.is_empty() {
            return;
        }
        // A refused call often is why a test failed: say so either way.
        if std::thread::panicking() {
            eprintln!("calls the template's IAM policies refused: {denied:#?}");
        } else {
            panic!("calls the template's IAM policies refuse: {denied:#?}");
        }
    }
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
    let (_, faults, adjust) = behind_proxy(function).await;
    (faults, adjust)
}

/// Like [`behind_faults`], for counting: how many requests of each
/// operation `function` makes (`s3:ListBucket` → 1).
pub async fn counted(function: &str) -> (optcast_local::counting_proxy::Counts, impl FnOnce(&mut StackOptions)) {
    let (counts, _, adjust) = behind_proxy(function).await;
    (counts, adjust)
}

/// Both: `function`'s requests counted and its answers scriptable.
pub async fn behind_proxy(
    function: &str,
) -> (
    optcast_local::counting_proxy::Counts,
    optcast_local::counting_proxy::Faults,
    impl FnOnce(&mut StackOptions),
) {
    use optcast_local::counting_proxy;
    let (url, counts, faults) = counting_proxy::start_with_faults(endpoint()).await.unwrap();
    let aws = aws_at(&endpoint()).await;
    let function = function.to_string();
    let adjust = move |o: &mut StackOptions| {
        o.function_aws
            .insert(function, counting_proxy::routed_through(&aws, &url));
    };
    (counts, faults, adjust)
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
        iam: IamCheck(stack.iam.clone()),
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
