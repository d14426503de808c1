//! The local HTTP front: API routes from `template.yaml` and Lambda's Invoke
//! API shape (`POST /2015-03-31/functions/<name>/invocations`).

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use lambda_http::{Body, RequestExt};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::functions::Function;
use crate::provision::HttpRoute;

/// Larger than any function accepts, so functions answer oversize bodies themselves.
const MAX_REQUEST_BYTES: usize = 8 * 1024 * 1024;

pub struct Router {
    /// The template's JWT authorizers with an issuer set (none by default).
    pub authorizers: BTreeMap<String, Arc<crate::jwt_authorizer::JwtAuthorizer>>,
    /// "Now" for token expiry (a test moves it).
    pub clock: optcast_shared::clock::Clock,
    pub routes: Vec<HttpRoute>,
    pub functions: BTreeMap<String, Function>,
    pub graph: crate::fake_graph::FakeGraph,
}

fn route_matches(pattern: &str, path: &str) -> bool {
    let p: Vec<_> = pattern.trim_end_matches('/').split('/').collect();
    let a: Vec<_> = path.trim_end_matches('/').split('/').collect();
    if pattern.ends_with("{proxy+}") {
        return a.len() >= p.len() - 1
            && p[..p.len() - 1]
                .iter()
                .zip(&a)
                .all(|(x, y)| x == y || x.starts_with('{'));
    }
    p.len() == a.len()
        && p.iter()
            .zip(&a)
            .all(|(x, y)| x == y || (x.starts_with('{') && !y.is_empty()))
}

fn plain(status: u16, body: impl Into<Bytes>) -> hyper::Response<Full<Bytes>> {
    hyper::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(body.into()))
        .expect("static response parts")
}

fn error(status: u16, code: &str, message: &str) -> hyper::Response<Full<Bytes>> {
    plain(status, optcast_shared::http::error_body(code, message))
}

impl Router {
    async fn serve(self: Arc<Self>, req: hyper::Request<Incoming>) -> hyper::Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        let bytes = match Limited::new(body, MAX_REQUEST_BYTES).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => return error(413, "payload_too_large", "request body too large"),
        };
        let path = parts.uri.path().to_string();
        if path.starts_with("/fake-graph") {
            // The fake reads credentials and cursors from the query string.
            let full = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or_default();
            let rest = full.strip_prefix("/fake-graph").unwrap_or_default();
            let (status, headers, body) = self
                .graph
                .handle(parts.method.as_str(), rest, &parts.headers, &bytes)
                .await;
            let mut resp = plain(status, body);
            for (k, v) in headers {
                if let (Ok(k), Ok(v)) = (http::HeaderName::try_from(k), http::HeaderValue::try_from(v)) {
                    resp.headers_mut().insert(k, v);
                }
            }
            return resp;
        }
        if let Some(name) = path
            .strip_prefix("/2015-03-31/functions/")
            .and_then(|r| r.strip_suffix("/invocations"))
        {
            if parts.method != hyper::Method::POST {
                return error(405, "method_not_allowed", "invoke with POST");
            }
            return self.invoke(name, &bytes).await;
        }
        let method = parts.method.as_str().to_string();
        let mut path_known = false;
        for route in &self.routes {
            if !route_matches(&route.path, &path) {
                continue;
            }
            path_known = true;
            if route.method != method && route.method != "ANY" {
                continue;
            }
            let Some(function) = self.functions.get(&route.function) else {
                return error(502, "function_unavailable", "function not built");
            };
            let query: HashMap<String, Vec<String>> =
                form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
                    .into_owned()
                    .fold(HashMap::new(), |mut m, (k, v)| {
                        m.entry(k).or_default().push(v);
                        m
                    });
            let mut builder = http::Request::builder()
                .method(parts.method.clone())
                .uri(parts.uri.clone());
            // As API Gateway does, the scheme the client used is said in
            // `x-forwarded-proto` (the client's own is not passed on): here
            // plain http, so a link a function builds from the request (the
            // deletion callback's status URL) opens on this server.
            for (k, v) in parts.headers.iter().filter(|(k, _)| *k != "x-forwarded-proto") {
                builder = builder.header(k, v);
            }
            builder = builder.header("x-forwarded-proto", "http");
            let body = if bytes.is_empty() {
                Body::Empty
            } else {
                Body::Binary(bytes.to_vec())
            };
            let Ok(request) = builder.body(body) else {
                return error(400, "bad_request", "unparseable request");
            };
            let mut request = request
                .with_query_string_parameters(query)
                .with_raw_http_path(path.clone());
            // API Gateway's JWT authorizer runs before the function.
            if let Some(authorizer) = route.authorizer.as_ref().and_then(|a| self.authorizers.get(a)) {
                let header = parts.headers.get("authorization").and_then(|v| v.to_str().ok());
                let now_ms = self.clock.now_ms();
                match authorizer.check(header, &route.scopes, now_ms / 1000).await {
                    Ok(ok) => {
                        if let Some(ctx) = ok.request_context(&method, &route.path, &path, now_ms) {
                            request = request.with_request_context(ctx);
                        }
                    }
                    Err(refusal) => {
                        let (status, www_authenticate, body) = refusal.response_parts();
                        let mut resp = plain(status, body);
                        if let Ok(v) = http::HeaderValue::try_from(www_authenticate) {
                            resp.headers_mut().insert("www-authenticate", v);
                        }
                        return resp;
                    }
                }
            }
            return match function.call_http(request).await {
                Some(resp) => to_hyper(resp),
                None => error(502, "not_http", "function is not an HTTP function"),
            };
        }
        if path_known {
            error(405, "method_not_allowed", "method not allowed")
        } else {
            error(404, "not_found", "no such route")
        }
    }

    /// Lambda's Invoke API: the raw event in, the function's result out.
    async fn invoke(&self, name: &str, event: &[u8]) -> hyper::Response<Full<Bytes>> {
        let Some(function) = self.functions.get(name) else {
            return error(404, "ResourceNotFoundException", "no such function");
        };
        match function {
            Function::Scheduler(_) | Function::Sweeper(_) => {
                // As Lambda's runtime would refuse it, but saying which
                // field is wrong (`detail-type` and `source` are required).
                let ev = match serde_json::from_slice::<
                    aws_lambda_events::event::eventbridge::EventBridgeEvent<serde_json::Value>,
                >(event)
                {
                    Ok(ev) => ev,
                    Err(e) => {
                        return error(
                            400,
                            "InvalidRequestContentException",
                            &format!("not an EventBridge event: {e}"),
                        )
                    }
                };
                match function.call_scheduled(ev).await {
                    Some(Ok(v)) => plain(200, v.to_string()),
                    Some(Err(e)) => plain(
                        200,
                        serde_json::json!({"errorType": "Error", "errorMessage": e}).to_string(),
                    ),
                    None => error(502, "not_scheduled", "function is not a scheduled function"),
                }
            }
            Function::Webhook(_) | Function::Api(_) => {
                let Ok(lambda_req) = serde_json::from_slice::<lambda_http::request::LambdaRequest>(event) else {
                    return error(400, "InvalidRequestContentException", "not an API Gateway event");
                };
                let req: lambda_http::Request = lambda_req.into();
                let Some(resp) = function.call_http(req).await else {
                    return error(502, "not_http", "function is not an HTTP function");
                };
                plain(200, api_gateway_v2_response(resp).to_string())
            }
            Function::Ingest(_) | Function::Planner(_) | Function::Sender(_) | Function::Eraser(_) => {
                let Ok(sqs_event) = serde_json::from_slice::<aws_lambda_events::event::sqs::SqsEvent>(event) else {
                    return error(400, "InvalidRequestContentException", "not an SQS event");
                };
                let Some(resp) = function.call_sqs(sqs_event).await else {
                    return error(502, "not_sqs", "function is not an SQS function");
                };
                plain(200, serde_json::to_string(&resp).unwrap_or_default())
            }
        }
    }
}

fn to_hyper(resp: lambda_http::Response<Body>) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = resp.into_parts();
    let bytes: Bytes = match body {
        Body::Empty => Bytes::new(),
        Body::Text(t) => t.into(),
        Body::Binary(b) => b.into(),
        _ => Bytes::new(),
    };
    hyper::Response::from_parts(parts, Full::new(bytes))
}

/// The API Gateway HTTP API (payload 2.0) response an invocation returns.
fn api_gateway_v2_response(resp: lambda_http::Response<Body>) -> serde_json::Value {
    use base64::Engine;
    let (parts, body) = resp.into_parts();
    let headers: serde_json::Map<String, serde_json::Value> = parts
        .headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().into()))
        .collect();
    let (text, b64) = match body {
        Body::Empty => (String::new(), false),
        Body::Text(t) => (t, false),
        Body::Binary(b) => (base64::engine::general_purpose::STANDARD.encode(b), true),
        _ => (String::new(), false),
    };
    serde_json::json!({ "statusCode": parts.status.as_u16(), "headers": headers, "body": text, "isBase64Encoded": b64 })
}

/// Serves until `shutdown` turns true.
pub async fn serve(listener: TcpListener, router: Arc<Router>, mut shutdown: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => return,
        };
        let Ok((stream, _)) = accepted else { continue };
        let router = router.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let router = router.clone();
                async move { Ok::<_, Infallible>(router.serve(req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

#[cfg(test)]
mod tests {
    use super::route_matches;

    #[test]
    fn routes_match_exact_and_parameter_segments() {
        assert!(route_matches("/webhook", "/webhook"));
        assert!(!route_matches("/webhook", "/webhooks"));
        assert!(route_matches("/meta/data-deletion/{code}", "/meta/data-deletion/abc"));
        assert!(!route_matches("/meta/data-deletion/{code}", "/meta/data-deletion/"));
    }
}
