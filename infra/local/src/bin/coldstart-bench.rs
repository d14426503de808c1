//! Cold start of every function against a Rust hello-world Lambda
//! (`coldstart-hello`, same `lambda_runtime`, tokio and release profile):
//! wall time from exec to the first response posted to a fake Lambda Runtime
//! API, and the process's peak RSS (`VmHWM`) once it asks for its second
//! event. Median of `runs` cold starts per function, interleaved, with the
//! ratio to hello-world. The same event is then handed out once more, warm:
//! its time is the request's own work (its AWS calls), and cold minus warm
//! is what starting the function cost, shown beside hello-world's.
//! Usage: `coldstart-bench [--cold-only] [runs] [function…]` (default 20,
//! every function; `make bench`; `--cold-only` hands each event out once,
//! for a profiler wrapped around a function). It runs the release binaries
//! next to itself: `cargo build --release --workspace --bin webhook … --bin
//! coldstart-hello --bin coldstart-bench`.
//!
//! Each function gets the environment `template.yaml` gives it, with local
//! stand-ins for what AWS would resolve: the Meta and pseudonym secrets
//! inline (in AWS they are read from Secrets Manager at start-up) and AWS at a
//! blank endpoint served here, which answers every request with an empty
//! success (DynamoDB, KMS and SQS `{}`, S3 an empty listing or body), so a
//! first request that reads AWS pays for its client's connection set-up but
//! not for an emulator.
//!
//! Each function's first request is one it gets in production: the webhook
//! Meta's subscription handshake (no AWS call); the API a lead's consent
//! state (DynamoDB, answered 404 by the blank AWS); the scheduler and the
//! sweeper their scheduled run (DynamoDB; the sweeper also lists S3 object
//! versions and writes its report); each SQS consumer a batch of one job of
//! its queue's contract: ingest a signed delivery of one text message,
//! the planner a plan job, the sender a send job, the eraser an erasure
//! request. Against the blank AWS those find nothing stored (the sender and
//! the planner skip a broadcast that does not exist; ingest cannot get a
//! data key from an empty KMS answer and reports the record as failed, as it
//! would on a KMS outage): each answer is printed.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use optcast_shared::broadcast::LeadSnapshot;
use optcast_shared::ids::{BroadcastId, PageId, Psid};
use optcast_shared::meta::Platform;
use optcast_shared::queue::{
    self, DeliveryBody, DeliveryJob, ErasureJob, ErasureTarget, IngestJob, PlanJob, SendJob, SendTask,
};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

const REQUEST_ID: &str = "coldstart-0001";
const VERIFY_TOKEN: &str = "bench-verify-token";
const RATIO_TARGET: f64 = 2.0;
const RSS_TARGET_MB: f64 = 32.0;

/// One function under test and its first request.
struct Case {
    name: &'static str,
    first_request: &'static str,
    event: Value,
}

fn cases() -> Vec<Case> {
    let http = |method: &str, path: &str, query: &str, claims: Option<Value>| {
        let params: serde_json::Map<String, Value> = form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect();
        let mut context = json!({
            "accountId": "123456789012", "apiId": "bench", "domainName": "bench.execute-api.us-west-2.amazonaws.com",
            "domainPrefix": "bench",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "bench"},
            "requestId": "bench-1", "routeKey": format!("{method} {path}"), "stage": "$default",
            "time": "01/Dec/2026:00:00:00 +0000", "timeEpoch": 1_764_547_200_000_i64
        });
        if let Some(claims) = claims {
            context["authorizer"] = json!({"jwt": {"claims": claims, "scopes": null}});
        }
        json!({
            "version": "2.0", "routeKey": format!("{method} {path}"), "rawPath": path, "rawQueryString": query,
            "headers": {"host": "bench.execute-api.us-west-2.amazonaws.com", "user-agent": "bench"},
            "queryStringParameters": params, "requestContext": context, "isBase64Encoded": false
        })
    };
    // A batch of one message carrying `body` from the queue `queue`.
    let sqs = |queue: &str, body: String| {
        json!({"Records": [{
            "messageId": "0b5e3e4e-1d1c-4f5a-9c5e-000000000001", "receiptHandle": "bench-receipt",
            "body": body, "md5OfBody": "", "eventSource": "aws:sqs",
            "eventSourceARN": format!("arn:aws:sqs:us-west-2:123456789012:optcast-{queue}"), "awsRegion": "us-west-2",
            "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1764547200000",
                "SenderId": "AROAEXAMPLE", "ApproximateFirstReceiveTimestamp": "1764547200001"},
            "messageAttributes": {}
        }]})
    };
    let page = PageId::parse("1000000000000001").expect("a page id");
    let psid = Psid::parse("2000000000000001").expect("a psid");
    let broadcast = BroadcastId::parse("0123456789abcdef0123456789abcdef").expect("a broadcast id");
    let delivery = json!({"object": "page", "entry": [{"id": page, "time": 1_764_547_200_000_i64, "messaging": [{
        "sender": {"id": psid}, "recipient": {"id": page}, "timestamp": 1_764_547_200_000_i64,
        "message": {"mid": "m_coldstart_1", "text": "hello"}}]}]})
    .to_string();
    let ingest_job = IngestJob::DeliveryV1(DeliveryJob {
        received_at_ms: 1_764_547_200_000,
        body_sha256: queue::sha256_hex(delivery.as_bytes()),
        body: DeliveryBody::Inline { text: delivery },
    });
    let plan_job = PlanJob::PlanV1 {
        broadcast_id: broadcast.clone(),
        shard: 0,
    };
    let send_job = SendJob::SendV1(SendTask {
        broadcast_id: broadcast,
        page_id: page.clone(),
        psid: psid.clone(),
        lead: LeadSnapshot {
            platform: Platform::Messenger,
            last_inbound_at_ms: Some(1_764_547_000_000),
            marketing: None,
        },
    });
    let erasure_job = ErasureJob::ErasureV1 {
        request_id: "0123456789abcdef0123456789abcdef".into(),
        target: ErasureTarget::Subject { page_id: page, psid },
        found_before: false,
    };
    let body = |job: Result<String, queue::QueueError>| job.expect("a job serialises");
    let schedule = json!({
        "version": "0", "id": "bench", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-12-01T00:00:00Z", "region": "us-west-2",
        "resources": ["arn:aws:events:us-west-2:123456789012:rule/bench"], "detail": {}
    });
    vec![
        Case {
            name: "hello",
            first_request: "echo",
            event: json!({"hello": "world"}),
        },
        Case {
            name: "webhook",
            first_request: "GET handshake",
            event: http(
                "GET",
                "/webhook",
                &format!("hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=42"),
                None,
            ),
        },
        Case {
            name: "api",
            first_request: "GET subscriber (DynamoDB)",
            event: http(
                "GET",
                "/v1/pages/1000000000000001/subscribers/2000000000000001",
                "",
                Some(json!({"sub": "bench", "scope": "subscribers:read", "optcast_pages": "*"})),
            ),
        },
        Case {
            name: "ingest",
            first_request: "delivery job (DDB, KMS)",
            event: sqs("ingest", body(queue::to_body(&ingest_job))),
        },
        Case {
            name: "planner",
            first_request: "plan job (DynamoDB)",
            event: sqs("plan", body(queue::to_body(&plan_job))),
        },
        Case {
            name: "sender",
            first_request: "send job (DynamoDB)",
            event: sqs("send", body(queue::to_body(&send_job))),
        },
        Case {
            name: "eraser",
            first_request: "erasure job (DDB, SQS, S3)",
            event: sqs("erasure", body(queue::to_body(&erasure_job))),
        },
        Case {
            name: "scheduler",
            first_request: "schedule (DynamoDB)",
            event: schedule.clone(),
        },
        Case {
            name: "sweeper",
            first_request: "schedule (DDB, S3)",
            event: schedule,
        },
    ]
}

/// The environment `template.yaml` sets on the functions (the union: each
/// reads only its own), with the secrets inline and AWS at `aws`.
fn environment(function: &str, runtime_api: SocketAddr, aws: SocketAddr) -> Vec<(String, String)> {
    let aws_url = format!("http://{aws}");
    let queue = |name: &str| format!("{aws_url}/123456789012/optcast-{name}");
    let mut env: Vec<(String, String)> = [
        ("AWS_LAMBDA_FUNCTION_NAME", format!("optcast-{function}")),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".into()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/optcast-{function}")),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/12/01/[$LATEST]bench".into()),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into()),
        ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_string()),
        ("_HANDLER", "bootstrap".into()),
        ("TZ", ":UTC".into()),
        ("AWS_REGION", "us-west-2".into()),
        ("AWS_DEFAULT_REGION", "us-west-2".into()),
        ("AWS_ACCESS_KEY_ID", "bench".into()),
        ("AWS_SECRET_ACCESS_KEY", "bench".into()),
        ("AWS_SESSION_TOKEN", "bench".into()),
        ("AWS_ENDPOINT_URL", aws_url.clone()),
        ("RUST_LOG", "info".into()),
        // The webhook's and ingest's (mimalloc's first arena, lazily committed).
        ("MIMALLOC_ARENA_EAGER_COMMIT", "0".into()),
        ("SUBSCRIBERS_TABLE", "optcast-SubscribersTable".into()),
        ("CONSENT_LOG_TABLE", "optcast-ConsentLogTable".into()),
        ("MESSAGES_TABLE", "optcast-MessagesTable".into()),
        ("EVENTS_TABLE", "optcast-EventsTable".into()),
        ("SUBJECT_KEYS_TABLE", "optcast-SubjectKeysTable".into()),
        ("PAGES_TABLE", "optcast-PagesTable".into()),
        ("BROADCASTS_TABLE", "optcast-BroadcastsTable".into()),
        ("DELIVERIES_TABLE", "optcast-DeliveriesTable".into()),
        ("PRIVACY_TABLE", "optcast-PrivacyTable".into()),
        (
            "OPTCAST_PSEUDONYM_KEYS",
            r#"{"current":"k1","keys":{"k1":"YmVuY2gtcHNldWRvbnltLWtleS0zMi1ieXRlcy1sb25nIQ=="}}"#.into(),
        ),
        ("META_APP_SECRET", "bench-app-secret".into()),
        ("META_VERIFY_TOKEN", VERIFY_TOKEN.into()),
        ("META_APP_ID", "1000000000000009".into()),
        ("GRAPH_API_URL", format!("{aws_url}/graph")),
        ("DATA_BUCKET", "optcast-data".into()),
        ("KMS_KEY_ID", "alias/optcast".into()),
        ("DEFAULT_RETENTION_DAYS", "365".into()),
        ("UNSUBSCRIBED_PURGE_DAYS", "30".into()),
        ("SWEEP_MAX_DELETES_PER_RUN", "200000".into()),
        ("SEND_RATE_PER_SECOND", "20".into()),
        ("ADMIN_AUTH", "api-gateway-jwt".into()),
        ("PAGES_CLAIM", "optcast_pages".into()),
        ("INGEST_QUEUE_URL", queue("ingest")),
        ("INGEST_CHUNK_QUEUE_URL", queue("ingest-chunks")),
        ("INGEST_DLQ_URL", queue("ingest-dlq")),
        ("INGEST_CHUNK_DLQ_URL", queue("ingest-chunks-dlq")),
        ("ERASURE_QUEUE_URL", queue("erasure")),
        ("PLAN_QUEUE_URL", queue("plan")),
        ("SEND_QUEUE_URL", queue("send")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    env.sort();
    env
}

/// What the fake Runtime API reports to the bench.
#[derive(Debug)]
enum Report {
    /// The first response (`/response`, `/error` or `/init/error`), when it arrived.
    Answer {
        at: Instant,
        kind: &'static str,
        body: Bytes,
    },
    /// The function asked for its next event after answering: the second
    /// (warm) handing out of the event, when it left.
    Again { at: Instant },
    /// The function asked for its next event after answering twice.
    Idle,
}

struct Runtime {
    event: Bytes,
    /// How many times the event is handed out (2: cold, then warm).
    events: usize,
    function_arn: String,
    handed_out: AtomicUsize,
    reports: mpsc::UnboundedSender<Report>,
    stop: watch::Receiver<bool>,
}

type Reply = Response<Full<Bytes>>;

fn reply(status: u16, body: impl Into<Bytes>) -> Reply {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    resp
}

/// The Lambda Runtime API, as much of it as a cold start uses: the event
/// `events` times (cold, then warm), then a `next` that waits until the
/// bench stops the run.
async fn runtime_api(rt: Arc<Runtime>, req: Request<Incoming>) -> Result<Reply, Infallible> {
    let path = req.uri().path().to_string();
    let kind = match (req.method().as_str(), path.as_str()) {
        ("GET", "/2018-06-01/runtime/invocation/next") => {
            let handed = rt.handed_out.fetch_add(1, Ordering::SeqCst);
            if handed >= rt.events {
                let _ = rt.reports.send(Report::Idle);
                let mut stop = rt.stop.clone();
                let _ = stop.wait_for(|s| *s).await;
                return Ok(reply(410, "bench over"));
            }
            if handed == 1 {
                let _ = rt.reports.send(Report::Again { at: Instant::now() });
            }
            let deadline = optcast_shared::http::now_ms() + 10_000;
            let mut resp = reply(200, rt.event.clone());
            let h = resp.headers_mut();
            h.insert("content-type", "application/json".parse().expect("static"));
            h.insert("lambda-runtime-aws-request-id", REQUEST_ID.parse().expect("static"));
            h.insert(
                "lambda-runtime-deadline-ms",
                deadline.to_string().parse().expect("digits"),
            );
            h.insert(
                "lambda-runtime-invoked-function-arn",
                rt.function_arn.parse().expect("ascii arn"),
            );
            h.insert(
                "lambda-runtime-trace-id",
                "Root=1-67890abc-0123456789abcdef01234567;Parent=0123456789abcdef;Sampled=0"
                    .parse()
                    .expect("static"),
            );
            return Ok(resp);
        }
        ("POST", "/2018-06-01/runtime/init/error") => "init error",
        ("POST", p) if p == format!("/2018-06-01/runtime/invocation/{REQUEST_ID}/response") => "response",
        ("POST", p) if p == format!("/2018-06-01/runtime/invocation/{REQUEST_ID}/error") => "error",
        _ => return Ok(reply(404, "unknown runtime route")),
    };
    let at = Instant::now();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let _ = rt.reports.send(Report::Answer { at, kind, body });
    Ok(reply(202, r#"{"status":"OK"}"#))
}

/// A blank AWS: every call succeeds with nothing in it.
async fn blank_aws(calls: Arc<AtomicUsize>, req: Request<Incoming>) -> Result<Reply, Infallible> {
    calls.fetch_add(1, Ordering::SeqCst);
    let json = req.headers().contains_key("x-amz-target");
    let query = req.uri().query().unwrap_or_default();
    let listing = query.contains("list-type=2");
    let versions = query.split('&').any(|p| p == "versions" || p.starts_with("versions="));
    let _ = req.into_body().collect().await;
    let mut resp = if json {
        let mut r = reply(200, "{}");
        r.headers_mut()
            .insert("content-type", "application/x-amz-json-1.0".parse().expect("static"));
        r
    } else if versions {
        reply(
            200,
            r#"<?xml version="1.0" encoding="UTF-8"?><ListVersionsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><IsTruncated>false</IsTruncated></ListVersionsResult>"#,
        )
    } else if listing {
        reply(
            200,
            r#"<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><IsTruncated>false</IsTruncated><KeyCount>0</KeyCount></ListBucketResult>"#,
        )
    } else {
        reply(200, Bytes::new())
    };
    resp.headers_mut()
        .insert("x-amzn-requestid", "bench".parse().expect("static"));
    Ok(resp)
}

async fn serve<F, Fut>(listener: TcpListener, handler: F)
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Reply, Infallible>> + Send + 'static,
{
    while let Ok((stream, _)) = listener.accept().await {
        let handler = handler.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(handler);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

struct Sample {
    ms: f64,
    /// The same request answered again by the warm process.
    warm_ms: f64,
    rss_kb: u64,
    kind: &'static str,
    aws_calls: usize,
    body: Bytes,
}

/// Peak resident set size of `pid` in KiB (`VmHWM`).
fn peak_rss_kb(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM in /proc status")
}

/// The next answer the function posts (reports in between are skipped).
async fn next_answer(
    rx: &mut mpsc::UnboundedReceiver<Report>,
    name: &str,
) -> anyhow::Result<(Instant, &'static str, Bytes)> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
            Ok(Some(Report::Answer { at, kind, body })) => return Ok((at, kind, body)),
            Ok(Some(_)) => continue,
            Ok(None) | Err(_) => bail!("{name}: no answer within 10 s"),
        }
    }
}

/// Execs `bin` as function `case` against a fresh fake Runtime API and
/// measures one cold start.
async fn cold_start(
    bin: &Path,
    case: &Case,
    aws: SocketAddr,
    aws_calls: &AtomicUsize,
    events: usize,
) -> anyhow::Result<Sample> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let runtime_addr = listener.local_addr()?;
    let (reports, mut rx) = mpsc::unbounded_channel();
    let (stop_tx, stop) = watch::channel(false);
    let rt = Arc::new(Runtime {
        event: Bytes::from(case.event.to_string()),
        events,
        function_arn: format!("arn:aws:lambda:us-west-2:123456789012:function:optcast-{}", case.name),
        handed_out: AtomicUsize::new(0),
        reports,
        stop,
    });
    let server = tokio::spawn(serve(listener, move |req| runtime_api(rt.clone(), req)));
    aws_calls.store(0, Ordering::SeqCst);

    let mut cmd = Command::new(bin);
    cmd.env_clear()
        .envs(environment(case.name, runtime_addr, aws))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let start = Instant::now();
    let mut child = cmd.spawn().with_context(|| format!("exec {}", bin.display()))?;
    let result = async {
        let (at, kind, body) = next_answer(&mut rx, case.name).await?;
        let first_calls = aws_calls.load(Ordering::SeqCst);
        // Peak RSS once the first invocation is over: it asks for the next
        // event (or, after an init error, would exit). That next event is
        // the same one, answered warm.
        let (mut rss_kb, mut warm_ms) = (None, f64::NAN);
        if kind != "init error" {
            if let Ok(Some(Report::Again { at: again })) = tokio::time::timeout(Duration::from_secs(2), rx.recv()).await
            {
                rss_kb = Some(peak_rss_kb(child.id())?);
                if let Ok((warm_at, _, _)) = next_answer(&mut rx, case.name).await {
                    warm_ms = warm_at.duration_since(again).as_secs_f64() * 1e3;
                }
            }
        }
        Ok(Sample {
            ms: at.duration_since(start).as_secs_f64() * 1e3,
            warm_ms,
            rss_kb: match rss_kb {
                Some(kb) => kb,
                None => peak_rss_kb(child.id())?,
            },
            kind,
            aws_calls: first_calls,
            body,
        })
    }
    .await;
    let _ = child.kill();
    let _ = child.wait();
    let _ = stop_tx.send(true);
    server.abort();
    result
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn binary_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    Ok(exe.parent().context("bench binary has no directory")?.to_path_buf())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1).peekable();
    // `--cold-only`: each process gets its event once (no warm answer), so a
    // profiler wrapped around a function sees the cold start alone.
    let events = if args.peek().map(String::as_str) == Some("--cold-only") {
        args.next();
        1
    } else {
        2
    };
    let runs: usize = match args.next() {
        Some(n) => n
            .parse()
            .context("usage: coldstart-bench [--cold-only] [runs] [function…]")?,
        None => 20,
    };
    let only: Vec<String> = args.collect();
    let cases: Vec<Case> = cases()
        .into_iter()
        .filter(|c| c.name == "hello" || only.is_empty() || only.iter().any(|o| o == c.name))
        .collect();
    let dir = binary_dir()?;
    let bin = |case: &Case| {
        dir.join(if case.name == "hello" {
            "coldstart-hello"
        } else {
            case.name
        })
    };
    for case in &cases {
        if !bin(case).is_file() {
            bail!(
                "{} not built: cargo build --release --workspace --bin {} …",
                bin(case).display(),
                bin(case).file_name().and_then(|f| f.to_str()).unwrap_or("?")
            );
        }
    }

    let aws_listener = TcpListener::bind("127.0.0.1:0").await?;
    let aws = aws_listener.local_addr()?;
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    tokio::spawn(serve(aws_listener, move |req| blank_aws(counter.clone(), req)));

    // One unmeasured start each (page cache), then `runs` rounds, interleaved.
    let mut samples: Vec<Vec<Sample>> = cases.iter().map(|_| Vec::new()).collect();
    for case in &cases {
        cold_start(&bin(case), case, aws, &calls, events).await?;
    }
    for _ in 0..runs {
        for (case, out) in cases.iter().zip(samples.iter_mut()) {
            out.push(cold_start(&bin(case), case, aws, &calls, events).await?);
        }
    }

    println!(
        "cold start: exec -> first response through a fake Lambda Runtime API, median of {runs} (x86_64 release binaries)"
    );
    println!(
        "AWS: calls the first request made; warm ms: the same request again in the same process (its own work); \
         start ms: cold minus warm (what starting cost)"
    );
    println!(
        "{:<10} {:<26} {:>8} {:>7} {:>9} {:>7} {:>5} {:>8} {:>9} {:>7}  first answer",
        "function", "first request", "ms", "xhello", "RSS MB", "xhello", "AWS", "warm ms", "start ms", "xhello"
    );
    let hello_ms = median(samples[0].iter().map(|s| s.ms).collect());
    let start_ms = |out: &[Sample]| median(out.iter().map(|s| s.ms - s.warm_ms).collect());
    let hello_start_ms = start_ms(&samples[0]);
    let hello_mb = median(samples[0].iter().map(|s| s.rss_kb as f64 / 1024.0).collect());
    let mut missed = Vec::new();
    for (case, out) in cases.iter().zip(&samples) {
        let ms = median(out.iter().map(|s| s.ms).collect());
        let mb = median(out.iter().map(|s| s.rss_kb as f64 / 1024.0).collect());
        let last = out.last().context("no samples")?;
        let answer = match std::str::from_utf8(&last.body) {
            Ok(b) if b.len() <= 60 => b.to_string(),
            Ok(b) => format!("{}…", &b[..b.char_indices().nth(60).map_or(b.len(), |(i, _)| i)]),
            Err(_) => format!("{} bytes", last.body.len()),
        };
        let warm = median(out.iter().map(|s| s.warm_ms).collect());
        let start = start_ms(out);
        println!(
            "{:<10} {:<26} {:>8.2} {:>7.2} {:>9.1} {:>7.2} {:>5} {:>8.2} {:>9.2} {:>7.2}  {} {}",
            case.name,
            case.first_request,
            ms,
            ms / hello_ms,
            mb,
            mb / hello_mb,
            last.aws_calls,
            warm,
            start,
            start / hello_start_ms,
            last.kind,
            answer
        );
        if case.name != "hello" && (ms / hello_ms > RATIO_TARGET || mb > RSS_TARGET_MB || last.kind != "response") {
            missed.push(case.name);
        }
    }
    if missed.is_empty() {
        println!("targets (<= {RATIO_TARGET}x hello-world, <= {RSS_TARGET_MB} MB, a response): all met");
    } else {
        println!(
            "targets (<= {RATIO_TARGET}x hello-world, <= {RSS_TARGET_MB} MB, a response): missed by {}",
            missed.join(", ")
        );
    }
    Ok(())
}
