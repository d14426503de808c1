//! The webhook function: Meta's subscribe handshake and signed deliveries.
//! It verifies the signature over the exact bytes received, enqueues the raw
//! body durably, and only then answers 200. Parsing happens in `ingest`.
//! It also takes Meta's data-deletion callback (a `signed_request` verified
//! with the app secret): the request is recorded and queued for the eraser,
//! and its status page is served here.

// Every public fallible item says how it fails (`# Errors`).
#![warn(clippy::missing_errors_doc)]

use lambda_http::{Body, Request, RequestExt, Response};
use optcast_shared::clock::Clock;
use optcast_shared::config::{self, ConfigError, MetaSecrets, Source};
use optcast_shared::crypto::KeyRing;
use optcast_shared::erasure::{ErasureReason, RequestStatus, Requests};
use optcast_shared::http::{error_body, now_ms};
use optcast_shared::queue::{ClaimCheck, ErasureJob, ErasureTarget, IngestJob, Producer, QueueError};
use optcast_shared::signature::SignatureError;
use optcast_shared::signed_request::{self, SignedRequestError};
use optcast_shared::{handshake, telemetry};
use secrecy::ExposeSecret;

mod settings;
pub use settings::WebhookConfig;

/// Larger bodies are refused before any work (API Gateway itself caps at 10 MB).
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Clients and configuration, built once per cold start.
pub struct Webhook {
    secrets: MetaSecrets,
    /// The ingest queue: every verified delivery, claim-checked when large.
    deliveries: Producer<IngestJob>,
    s3: config::S3,
    keys: KeyRing,
    bucket: String,
    requests: Requests,
    erasures: Producer<ErasureJob>,
    /// Base of the status URL given to Meta; else from the request's host.
    public_base_url: Option<String>,
    /// Judges a deletion request's `issued_at`.
    clock: Clock,
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
    #[error(transparent)]
    SignedRequest(#[from] SignedRequestError),
    #[error("could not record the deletion request")]
    Privacy(String),
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
            WebhookError::SignedRequest(e) => (400, e.code()),
            WebhookError::Privacy(_) => (503, "unavailable"),
            // 5xx so Meta retries: a signed delivery is never dropped.
            WebhookError::Enqueue(_) => (503, "enqueue_failed"),
            WebhookError::NotFound => (404, "not_found"),
            WebhookError::MethodNotAllowed => (405, "method_not_allowed"),
        }
    }
}

impl Webhook {
    /// # Errors
    /// [`ConfigError`] as [`WebhookConfig::from_source`], or when the Meta
    /// secrets cannot be read.
    pub async fn from_source(src: &dyn Source, aws: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        Self::new(WebhookConfig::from_source(src)?, aws).await
    }

    /// The webhook with its clients built from `aws` (and its Meta secrets
    /// read, from Secrets Manager in AWS).
    ///
    /// # Errors
    /// [`ConfigError::Secret`] when the Meta secrets cannot be read.
    pub async fn new(cfg: WebhookConfig, aws: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        let sqs = config::sqs(aws);
        Ok(Self {
            secrets: cfg.meta.load(aws).await?,
            erasures: Producer::new(sqs.clone(), cfg.erasure_queue_url),
            deliveries: Producer::new(sqs, cfg.ingest_queue_url),
            s3: config::s3(aws),
            keys: KeyRing::new(config::kms(aws), cfg.kms_key_id),
            bucket: cfg.bucket,
            requests: Requests {
                ddb: config::dynamodb(aws),
                table: cfg.privacy_table,
            },
            public_base_url: cfg.public_base_url,
            clock: Clock::system(),
        })
    }

    /// Reads "now" from `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub async fn handle(&self, req: Request) -> Response<Body> {
        let outcome = match (req.method().as_str(), path(&req)) {
            ("GET", "/webhook") => self.verify_subscription(&req),
            ("POST", "/webhook") => self.receive(&req).await,
            (_, "/webhook") => Err(WebhookError::MethodNotAllowed),
            ("POST", "/meta/data-deletion") => self.data_deletion(&req).await,
            (_, "/meta/data-deletion") => Err(WebhookError::MethodNotAllowed),
            ("GET", p) if p.starts_with("/meta/data-deletion/") => {
                self.deletion_status(&p["/meta/data-deletion/".len()..]).await
            }
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
        self.secrets.signature_key.verify(header, body)?;
        let claims = ClaimCheck {
            s3: &self.s3,
            keys: &self.keys,
            bucket: &self.bucket,
        };
        self.deliveries.enqueue(&claims, body, now_ms()).await?;
        tracing::info!(bytes = body.len(), "delivery accepted");
        Ok(Response::builder()
            .status(200)
            .header("content-type", "text/plain")
            .body(Body::Text("EVENT_RECEIVED".into()))
            .expect("static response parts"))
    }
}

impl Webhook {
    /// Meta's data-deletion callback: verify, record, queue, answer with the
    /// status URL and confirmation code. The ASID is never stored or logged;
    /// only the queued job (encrypted at rest) carries it to the eraser.
    #[tracing::instrument(skip_all)]
    async fn data_deletion(&self, req: &Request) -> Result<Response<Body>, WebhookError> {
        let body: &[u8] = req.body().as_ref();
        if body.len() > 64 * 1024 {
            return Err(WebhookError::TooLarge);
        }
        let field = signed_request::form_field(body).ok_or(SignedRequestError::Missing)?;
        let request = signed_request::verify(&field, self.secrets.app_secret.expose_secret().as_bytes())?;
        let now = self.clock.now_ms();
        request.check_issued_at(now)?;
        // The code comes from the request's signature: the same request sent
        // again (Meta's retry, or a replay within the window) finds its first
        // record and gets the same answer, not a second erasure.
        let code = request.confirmation_code.clone();
        let digest =
            optcast_shared::pseudonym::keys().digest(optcast_shared::pseudonym::APP_SCOPED, &[&request.user_id]);
        let privacy = |e: &dyn std::fmt::Display| WebhookError::Privacy(e.to_string());
        let created = self
            .requests
            .create(&code, ErasureReason::MetaDeletionCallback, None, &digest, now)
            .await
            .map_err(|e| privacy(&e))?;
        let pending = created
            || self
                .requests
                .get(&code)
                .await
                .map_err(|e| privacy(&e))?
                .is_some_and(|r| r.status == RequestStatus::Pending);
        if !created {
            tracing::info!(request = %code, pending, "data-deletion request replayed");
        }
        let job = ErasureJob::ErasureV1 {
            request_id: code.clone(),
            target: ErasureTarget::AppScopedUser {
                asid: request.user_id.clone(),
            },
            found_before: false,
            shredded_at_ms: None,
        };
        // Queued again while still pending: the first answer may have been
        // lost before its job was queued. The eraser is idempotent per
        // request, so a second job for the same request erases nothing twice.
        if pending {
            self.erasures.send(&job).await.map_err(|e| privacy(&e))?;
        }
        let base = self.public_base_url.clone().unwrap_or_else(|| {
            let header = |k: &str| req.headers().get(k).and_then(|v| v.to_str().ok());
            let proto = header("x-forwarded-proto").unwrap_or("https");
            format!("{proto}://{}", header("host").unwrap_or("localhost"))
        });
        tracing::info!(request = %code, "data-deletion request accepted");
        let answer = serde_json::json!({
            "url": format!("{base}/meta/data-deletion/{code}"),
            "confirmation_code": code,
        });
        Ok(json_response(200, answer.to_string()))
    }

    /// The human-readable status of a deletion request.
    async fn deletion_status(&self, code: &str) -> Result<Response<Body>, WebhookError> {
        if code.is_empty() || code.len() > 64 || !code.chars().all(|c| c.is_ascii_hexdigit()) {
            return Ok(html(
                404,
                "Unknown deletion request",
                "There is no deletion request with this code.",
            ));
        }
        // Only the callback's own requests: this page answers anyone who
        // holds the code, and a business's erasure requests (the API's,
        // the retention purges') are the business's to see, not the
        // public's, even with an id that leaked.
        let Some(r) = self
            .requests
            .get(code)
            .await
            .map_err(|e| WebhookError::Privacy(e.to_string()))?
            .filter(|r| r.reason == ErasureReason::MetaDeletionCallback)
        else {
            return Ok(html(
                404,
                "Unknown deletion request",
                "There is no deletion request with this code.",
            ));
        };
        let when = |ms: i64| {
            time::OffsetDateTime::from_unix_timestamp(ms / 1000)
                .ok()
                .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
                .unwrap_or_default()
        };
        let text = match r.status {
            RequestStatus::Pending => format!(
                "Received {}. Your data is being deleted; this page will say when it is done.",
                when(r.created_at_ms)
            ),
            RequestStatus::Completed => format!(
                "Completed {}. Everything we held about you ({} conversation(s), {} message(s)) was deleted, \
                 and the keys that encrypted it were destroyed. We keep only a record, with hashed identifiers, \
                 that you had consented and when your data was erased, as the law requires us to prove.",
                when(r.completed_at_ms.unwrap_or(r.created_at_ms)),
                r.report.subscriber.max(r.subjects),
                r.report.messages
            ),
            RequestStatus::NoData => format!(
                "Completed {}. We hold no data about you: you never messaged a Page that uses this app, \
                 or your data had already been deleted.",
                when(r.completed_at_ms.unwrap_or(r.created_at_ms))
            ),
            RequestStatus::Unresolved => format!(
                "Closed {}. Meta could not tell us which conversations you had with this business's Pages \
                 (it answered that your id does not exist or matches no user), so this request found nothing \
                 to delete. Asking again will get the same answer from Meta. To have your conversations \
                 deleted, write to the Page on Messenger and ask for it: the business can erase them from there.",
                when(r.completed_at_ms.unwrap_or(r.created_at_ms))
            ),
        };
        Ok(html(
            200,
            &format!("Deletion request {code}: {}", r.status.as_str().replace('_', " ")),
            &text,
        ))
    }
}

/// A minimal, escaped HTML page.
fn html(status: u16, title: &str, text: &str) -> Response<Body> {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title></head>\
         <body><h1>{t}</h1><p>{p}</p></body></html>",
        t = esc(title),
        p = esc(text)
    );
    Response::builder()
        .status(status)
        .header("content-type", "text/html; charset=utf-8")
        .body(Body::Text(page))
        .expect("static response parts")
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
///
/// # Errors
/// When the configuration is refused or a secret cannot be read at start
/// (Lambda reports an init error and starts a new instance), or when the
/// Runtime API fails.
pub async fn run() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let aws = config::aws().await;
    config::install_pseudonyms(&config::Env, &aws).await?;
    let webhook = Webhook::from_source(&config::Env, &aws).await?;
    let webhook = &webhook;
    lambda_http::run(lambda_http::service_fn(move |req: Request| async move {
        Ok::<_, std::convert::Infallible>(webhook.handle(req).await)
    }))
    .await
}
