//! A counting HTTP proxy in front of the AWS emulator: every AWS request a
//! function makes passes through it and is counted by service and operation
//! (from `X-Amz-Target`; S3 by the IAM action of the request). Used to measure AWS requests per
//! message, which is what costs money in AWS, independent of emulator speed.
//! It also passes DynamoDB requests to the emulator one at a time: moto
//! cancels a transaction by putting back copies of its tables taken when the
//! transaction began, which silently undoes any write another request made to
//! them meanwhile (real DynamoDB isolates transactions; moto does not).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

/// One DynamoDB request at a time, across every proxy in this process (all
/// talk to the same emulator, and moto holds the GIL anyway).
static DYNAMODB_ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[derive(Clone, Default)]
pub struct Counts(Arc<Mutex<BTreeMap<String, u64>>>);

impl Counts {
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0.lock().expect("counts").clone()
    }
    fn add(&self, op: &str) {
        *self.0.lock().expect("counts").entry(op.to_string()).or_insert(0) += 1;
    }
    fn move_to_emulator_errors(&self, op: &str) {
        let mut map = self.0.lock().expect("counts");
        if let Some(v) = map.get_mut(op) {
            *v = v.saturating_sub(1);
        }
        *map.entry(format!("emulator_5xx:{op}")).or_insert(0) += 1;
    }
    pub fn reset(&self) {
        self.0.lock().expect("counts").clear();
    }
    /// Totals per service (`dynamodb`, `sqs`, `kms`, `s3`, ...; `emulator_5xx`
    /// for requests the emulator failed).
    pub fn by_service(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for (k, v) in self.snapshot() {
            *out.entry(k.split(':').next().unwrap_or("?").to_string()).or_insert(0) += v;
        }
        out
    }
}

/// AWS's answer to a call the caller's policy does not allow.
fn access_denied(op: &str, refused: &str) -> hyper::Response<Full<Bytes>> {
    let message = format!("not authorized to perform: {refused}");
    match op.split(':').next() {
        Some("s3") => hyper::Response::builder()
            .status(403)
            .header("content-type", "application/xml")
            .body(Full::new(Bytes::from(format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code><Message>{message}</Message></Error>"
            ))))
            .expect("static"),
        Some("sqs") => json_answer(
            400,
            &serde_json::json!({"__type": "com.amazonaws.sqs#AccessDenied", "message": message}),
        ),
        _ => json_answer(
            400,
            &serde_json::json!({"__type": "com.amazon.coral.service#AccessDeniedException", "message": message}),
        ),
    }
}

/// The service's internal-error body for `op` (SQS and DynamoDB name it apart).
fn internal_error(op: &str) -> serde_json::Value {
    let error_type = match op.split(':').next() {
        Some("sqs") => "com.amazonaws.sqs#InternalError",
        _ => "com.amazonaws.dynamodb.v20120810#InternalServerError",
    };
    serde_json::json!({"__type": error_type, "message": "Internal server error"})
}

fn json_answer(status: u16, payload: &serde_json::Value) -> hyper::Response<Full<Bytes>> {
    hyper::Response::builder()
        .status(status)
        .header("content-type", "application/x-amz-json-1.0")
        .body(Full::new(Bytes::from(payload.to_string())))
        .expect("static")
}

/// The S3 operation of a path-style request, named by the IAM action that
/// authorises it (multipart parts are `s3:PutObject`, as in IAM); the IAM
/// guard asks it of an object's request too.
pub(crate) fn s3_action(method: &hyper::Method, uri: &hyper::Uri) -> &'static str {
    let query = uri.query().unwrap_or_default();
    let has = |k: &str| query.split('&').any(|p| p == k || p.starts_with(&format!("{k}=")));
    // `/bucket/key` names an object; `/bucket` and `/bucket/` (the SDK's
    // path-style listing) the bucket.
    let object_level = uri
        .path()
        .trim_start_matches('/')
        .split_once('/')
        .is_some_and(|(_, key)| !key.is_empty());
    match *method {
        hyper::Method::GET if has("versions") => "ListBucketVersions",
        hyper::Method::GET if !object_level => "ListBucket",
        hyper::Method::GET | hyper::Method::HEAD if has("versionId") => "GetObjectVersion",
        hyper::Method::GET | hyper::Method::HEAD => "GetObject",
        hyper::Method::PUT if object_level => "PutObject",
        hyper::Method::POST if has("delete") => "DeleteObject",
        hyper::Method::POST if object_level => "PutObject",
        hyper::Method::DELETE if has("uploadId") => "AbortMultipartUpload",
        hyper::Method::DELETE if has("versionId") => "DeleteObjectVersion",
        hyper::Method::DELETE if object_level => "DeleteObject",
        _ => "BucketOperation",
    }
}

fn operation(headers: &hyper::HeaderMap, method: &hyper::Method, uri: &hyper::Uri) -> String {
    match headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        Some(t) => {
            let (svc, op) = t.split_once('.').unwrap_or((t, "?"));
            let svc = match svc {
                s if s.starts_with("DynamoDB") => "dynamodb",
                "AmazonSQS" => "sqs",
                "TrentService" => "kms",
                "secretsmanager" => "secretsmanager",
                other => other,
            };
            format!("{svc}:{op}")
        }
        None => format!("s3:{}", s3_action(method, uri)),
    }
}

/// Starts the proxy on a free loopback port; returns its URL and counters.
pub async fn start(upstream: String) -> std::io::Result<(String, Counts)> {
    let (url, counts, _) = start_with_faults(upstream).await?;
    Ok((url, counts))
}

/// Like [`start`], with a handle to inject AWS's own failures.
///
/// A call a function's role in the template would not allow is refused as
/// AWS refuses it ([`crate::iam::check`]).
pub async fn start_with_faults(upstream: String) -> std::io::Result<(String, Counts, Faults)> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    let counts = Counts::default();
    let faults = Faults::default();
    let f = faults.clone();
    // A hung emulator request must not hold the DynamoDB turn forever.
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(300))
        .build()
        .map_err(std::io::Error::other)?;
    let c = counts.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (client, counts, upstream, faults) = (client.clone(), c.clone(), upstream.clone(), f.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let (client, counts, upstream, faults) =
                        (client.clone(), counts.clone(), upstream.clone(), faults.clone());
                    async move {
                        let (parts, body) = req.into_parts();
                        let op = operation(&parts.headers, &parts.method, &parts.uri);
                        counts.add(&op);
                        let bytes = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        if let Some(refused) = crate::iam::check(&parts.headers, &parts.method, &parts.uri, &bytes) {
                            return Ok::<_, Infallible>(access_denied(&op, &refused));
                        }
                        faults.hold(&op).await;
                        if let Some(injected) = faults.answer(&op, &bytes) {
                            return Ok::<_, Infallible>(injected);
                        }
                        let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
                        let _one_at_a_time = match op.starts_with("dynamodb:") {
                            true => Some(DYNAMODB_ONE_AT_A_TIME.lock().await),
                            false => None,
                        };
                        let mut fwd = client
                            .request(parts.method.clone(), format!("{upstream}{path}"))
                            .body(bytes);
                        for (k, v) in &parts.headers {
                            if k != "host" && k != "content-length" {
                                fwd = fwd.header(k, v);
                            }
                        }
                        let resp = match fwd.send().await {
                            Ok(r) => r,
                            Err(_) => {
                                return Ok::<_, Infallible>(
                                    hyper::Response::builder()
                                        .status(502)
                                        .body(Full::new(Bytes::new()))
                                        .expect("static"),
                                )
                            }
                        };
                        if resp.status().is_success() {
                            if let Some(lost) = faults.lost_answer(&op) {
                                return Ok(lost);
                            }
                        }
                        if resp.status().is_server_error() {
                            // The emulator's own failures (moto is not thread
                            // safe in places), retried by the SDK: counted
                            // apart, since AWS would not have failed them.
                            counts.move_to_emulator_errors(&op);
                        }
                        let mut out = hyper::Response::builder().status(resp.status().as_u16());
                        for (k, v) in resp.headers() {
                            if k != "content-length" && k != "transfer-encoding" {
                                out = out.header(k, v);
                            }
                        }
                        let body = resp.bytes().await.unwrap_or_default();
                        Ok(out.body(Full::new(body)).expect("valid response"))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok((format!("http://{addr}"), counts, faults))
}

/// `aws` with every client sending to `url` (the proxy). Setting the endpoint
/// on the builder alone is not enough: the SDK lets an `AWS_ENDPOINT_URL`
/// from the environment win over it unless the setting is marked as set in
/// code, and then nothing would be counted.
pub fn routed_through(aws: &aws_config::SdkConfig, url: &str) -> aws_config::SdkConfig {
    let mut b = aws.to_builder().endpoint_url(url);
    b.insert_origin("endpoint_url", aws_types::origin::Origin::shared_config());
    b.build()
}

mod faults;
pub use faults::{Faults, Held};

#[cfg(test)]
mod tests;
