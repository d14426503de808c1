//! The fake Lambda Runtime API a function under test starts against, and
//! the blank AWS endpoint its SDK clients call.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::bail;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::cases::REQUEST_ID;

/// What the fake Runtime API reports to the bench.
#[derive(Debug)]
pub(crate) enum Report {
    /// The first response (`/response`, `/error` or `/init/error`), when it arrived.
    Answer {
        at: Instant,
        kind: &'static str,
        body: Bytes,
    },
    /// The function asked for its first event: its start-up (init) is over.
    Asked { at: Instant },
    /// The function asked for its next event after answering: the second
    /// (warm) handing out of the event, when it left.
    Again { at: Instant },
    /// The function asked for its next event after answering twice.
    Idle,
}

pub(crate) struct Runtime {
    pub(crate) event: Bytes,
    /// How many times the event is handed out (2: cold, then warm).
    pub(crate) events: usize,
    pub(crate) function_arn: String,
    pub(crate) handed_out: AtomicUsize,
    pub(crate) reports: mpsc::UnboundedSender<Report>,
    pub(crate) stop: watch::Receiver<bool>,
}

pub(crate) type Reply = Response<Full<Bytes>>;

pub(crate) fn reply(status: u16, body: impl Into<Bytes>) -> Reply {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    resp
}

/// The Lambda Runtime API, as much of it as a cold start uses: the event
/// `events` times (cold, then warm), then a `next` that waits until the
/// bench stops the run.
pub(crate) async fn runtime_api(rt: Arc<Runtime>, req: Request<Incoming>) -> Result<Reply, Infallible> {
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
            let at = Instant::now();
            let _ = rt.reports.send(match handed {
                0 => Report::Asked { at },
                _ => Report::Again { at },
            });
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

/// KMS's answer to `GenerateDataKey` and `Decrypt`: a 32-byte data key (and
/// a wrapped one), as KMS gives it, so a first request that seals or opens a
/// subject's data goes on to store it.
const KMS_DATA_KEY: &str = concat!(
    r#"{"KeyId":"arn:aws:kms:us-west-2:123456789012:key/bench","#,
    r#""Plaintext":"KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=","#,
    r#""CiphertextBlob":"b3B0Y2FzdCBjb2xkc3RhcnQtYmVuY2ggd3JhcHBlZCBkYXRhIGtleSAobm90IGEgcmVhbCBLTVMgYmxvYik="}"#
);

/// The AWS operations called, in order: the `X-Amz-Target` of a JSON
/// protocol call (`DynamoDB_20120810.GetItem`, `TrentService.Decrypt`,
/// `AmazonSQS.ReceiveMessage`), `S3 <method>` for S3's REST calls.
pub(crate) type AwsCalls = Arc<Mutex<Vec<String>>>;

/// A blank AWS: every call succeeds with nothing in it (KMS hands out a
/// data key).
pub(crate) async fn blank_aws(calls: AwsCalls, req: Request<Incoming>) -> Result<Reply, Infallible> {
    let target = req.headers().get("x-amz-target").and_then(|t| t.to_str().ok());
    calls
        .lock()
        .expect("calls")
        .push(target.map_or_else(|| format!("S3 {}", req.method()), str::to_string));
    let json = target.is_some();
    let kms_key = matches!(target, Some("TrentService.GenerateDataKey" | "TrentService.Decrypt"));
    let query = req.uri().query().unwrap_or_default();
    let listing = query.contains("list-type=2");
    let versions = query.split('&').any(|p| p == "versions" || p.starts_with("versions="));
    let _ = req.into_body().collect().await;
    let mut resp = if json {
        let mut r = reply(200, if kms_key { KMS_DATA_KEY } else { "{}" });
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

pub(crate) async fn serve<F, Fut>(listener: TcpListener, handler: F)
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

/// The next answer the function posts (reports in between are skipped, but
/// when it first asked for an event is kept in `asked`): when it arrived,
/// its kind and its body.
pub(crate) async fn next_answer(
    rx: &mut mpsc::UnboundedReceiver<Report>,
    name: &str,
    asked: &mut Option<Instant>,
) -> anyhow::Result<(Instant, &'static str, Bytes)> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
            Ok(Some(Report::Answer { at, kind, body })) => return Ok((at, kind, body)),
            Ok(Some(Report::Asked { at })) => *asked = Some(at),
            Ok(Some(_)) => continue,
            Ok(None) | Err(_) => bail!("{name}: no answer within 10 s"),
        }
    }
}
