//! The webhook function: Meta's subscribe handshake and signed deliveries.
//! It verifies the signature over the exact bytes received, enqueues the raw
//! body durably, and only then answers 200. Parsing happens in `ingest`.

use lambda_http::{Body, Request, RequestExt, Response};
use optcast_shared::config::{self, ConfigError, MetaSecrets, Source};
use optcast_shared::crypto::KeyRing;
use optcast_shared::http::{error_body, now_ms};
use optcast_shared::queue::{DeliveryQueue, QueueError};
use optcast_shared::signature::{self, SignatureError};
use optcast_shared::{handshake, telemetry};
use secrecy::ExposeSecret;

/// Larger bodies are refused before any work (API Gateway itself caps at 10 MB).
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Clients and configuration, built once per cold start.
pub struct Webhook {
    secrets: MetaSecrets,
    sqs: aws_sdk_sqs::Client,
    s3: aws_sdk_s3::Client,
    keys: KeyRing,
    queue_url: String,
    bucket: String,
}

#[derive(Debug, thiserror::Error)]
enum WebhookError {
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error(transparent)]
    Handshake(#[from] handshake::HandshakeError),
    #[error("body larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
    #[error("could not store the delivery")]
    Enqueue(#[from] QueueError),
    #[error("no such route")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
}

impl WebhookError {
    /// The one place errors become HTTP statuses.
    fn status_and_code(&self) -> (u16, &'static str) {
        match self {
            WebhookError::Signature(_) => (403, "invalid_signature"),
            WebhookError::Handshake(_) => (403, "verification_failed"),
            WebhookError::TooLarge => (413, "payload_too_large"),
            // 5xx so Meta retries: a signed delivery is never dropped.
            WebhookError::Enqueue(_) => (503, "enqueue_failed"),
            WebhookError::NotFound => (404, "not_found"),
            WebhookError::MethodNotAllowed => (405, "method_not_allowed"),
        }
    }
}

impl Webhook {
    pub async fn from_source(src: &dyn Source, aws: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            secrets: MetaSecrets::load(src, aws).await?,
            sqs: aws_sdk_sqs::Client::new(aws),
            s3: aws_sdk_s3::Client::new(aws),
            keys: KeyRing::new(aws_sdk_kms::Client::new(aws), config::required(src, "KMS_KEY_ID")?),
            queue_url: config::required(src, "INGEST_QUEUE_URL")?,
            bucket: config::required(src, "DATA_BUCKET")?,
        })
    }

    pub async fn handle(&self, req: Request) -> Response<Body> {
        let outcome = match (req.method().as_str(), path(&req)) {
            ("GET", "/webhook") => self.verify_subscription(&req),
            ("POST", "/webhook") => self.receive(&req).await,
            (_, "/webhook") => Err(WebhookError::MethodNotAllowed),
            _ => Err(WebhookError::NotFound),
        };
        match outcome {
            Ok(resp) => resp,
            Err(err) => {
                let (status, code) = err.status_and_code();
                if status >= 500 {
                    tracing::error!(error = %err, source = ?std::error::Error::source(&err).map(|s| s.to_string()), "webhook failed");
                } else {
                    tracing::warn!(error = %err, status, "webhook refused");
                }
                json_response(status, error_body(code, &err.to_string()))
            }
        }
    }

    fn verify_subscription(&self, req: &Request) -> Result<Response<Body>, WebhookError> {
        let q = req.query_string_parameters();
        let challenge = handshake::answer(
            q.first("hub.mode"),
            q.first("hub.verify_token"),
            q.first("hub.challenge"),
            self.secrets.verify_token.expose_secret(),
        )?;
        Ok(Response::builder()
            .status(200)
            .header("content-type", "text/plain")
            .body(Body::Text(challenge.to_string()))
            .expect("static response parts"))
    }

    #[tracing::instrument(skip_all)]
    async fn receive(&self, req: &Request) -> Result<Response<Body>, WebhookError> {
        // lambda_http has already decoded an `isBase64Encoded` body into bytes.
        let body: &[u8] = req.body().as_ref();
        if body.len() > MAX_BODY_BYTES {
            return Err(WebhookError::TooLarge);
        }
        let header = req
            .headers()
            .get("x-hub-signature-256")
            .map(|v| v.to_str().unwrap_or(""));
        signature::verify(self.secrets.app_secret.expose_secret().as_bytes(), header, body)?;
        let queue = DeliveryQueue {
            sqs: &self.sqs,
            s3: &self.s3,
            keys: &self.keys,
            queue_url: &self.queue_url,
            bucket: &self.bucket,
        };
        queue.enqueue(body, now_ms()).await?;
        tracing::info!(bytes = body.len(), "delivery accepted");
        Ok(Response::builder()
            .status(200)
            .header("content-type", "text/plain")
            .body(Body::Text("EVENT_RECEIVED".into()))
            .expect("static response parts"))
    }
}

/// The route path: API Gateway's raw path when present, else the URI's.
fn path(req: &Request) -> &str {
    let raw = req.raw_http_path();
    if raw.is_empty() {
        req.uri().path()
    } else {
        raw
    }
}

fn json_response(status: u16, body: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::Text(body))
        .expect("static response parts")
}

/// Lambda entry point helper: config, clients, then serve.
pub async fn run() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let aws = config::aws().await;
    let webhook = Webhook::from_source(&config::Env, &aws).await?;
    let webhook = &webhook;
    lambda_http::run(lambda_http::service_fn(move |req: Request| async move {
        Ok::<_, std::convert::Infallible>(webhook.handle(req).await)
    }))
    .await
}
