//! The management API (`/v1/*`): register and list pages, preview, create, inspect and cancel
//! broadcasts, read a lead's consent state and history, erase and export a
//! subject, list and replay the ingest quarantine. Every route needs `Authorization: Bearer <token>` and a scope
//! ([`ROUTES`]); a caller sees only its pages ([`optcast_shared::access`]): another page's data is 404, a missing
//! scope 403. Exports, erasures and page-token changes go to the audit trail first. Errors are JSON with a precise
//! status. It also serves the marketer's console (`/console`, static files, no token; `console.rs`).

// Every public fallible item says how it fails (`# Errors`).
#![warn(clippy::missing_errors_doc)]

use lambda_http::{Body, Request, RequestExt, Response};
use optcast_shared::access::{Caller, Scope};
use optcast_shared::audit::{self, AuditTrail};
use optcast_shared::config::{self, ConfigError, Source};
use optcast_shared::crypto::{self, KeyRing};
use optcast_shared::erasure::{Eraser, Requests};
use optcast_shared::http::{error_body, now_ms};
use optcast_shared::ids::PageId;
use optcast_shared::queue::{ErasureJob, IngestJob, PlanJob, Producer};
use optcast_shared::store::BroadcastStore;
use optcast_shared::store::{Store, StoreError};
use optcast_shared::{dispatch, telemetry};

mod audience;
mod auth;
mod broadcasts;
mod console;
mod control;
#[cfg(test)]
mod openapi_tests;
mod outcomes;
mod pages;
mod preview;
mod quarantine;
mod query;
mod settings;
mod sign_in;
mod subjects;
use auth::{find, Found};
pub use auth::{AdminAuth, Op, Route, ROUTES};
pub use settings::ApiConfig;
pub use sign_in::{SignIn, CONTENT_SECURITY_POLICY};

/// The OpenAPI 3.1 document of this API, served at `GET /v1/openapi.json`.
/// Written by hand (the responses are built as JSON values, not typed
/// structs a generator could read) and kept true by tests: every route in
/// [`ROUTES`] is in it and nothing else, and every response the end-to-end
/// tests receive is validated against it.
pub const OPENAPI_JSON: &str = include_str!("../openapi.json");

/// How long a presigned link to a large export works.
const EXPORT_LINK_TTL: std::time::Duration = std::time::Duration::from_secs(900);

/// Request bodies larger than this are refused.
const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing or invalid bearer token")]
    Unauthorized,
    #[error("this call needs the {0} scope")]
    Forbidden(Scope),
    #[error("{1}")]
    BadRequest(&'static str, String),
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A request body over [`MAX_BODY_BYTES`] (HTTP 413, as the webhook and
    /// API Gateway answer one).
    #[error("body over {MAX_BODY_BYTES} bytes")]
    TooLarge,
    #[error("no send was planned for this lead: not a subscribed lead matching the broadcast's audience when it was planned")]
    NotInAudience,
    #[error("no send is recorded for this lead (the broadcast is {0}): its job may be queued or not yet planned, or the lead is not in the audience; a cancel records nothing for the jobs it stopped")]
    NotRecorded(&'static str),
    #[error("{0}")]
    Conflict(String),
    /// A conflict with the resource's state, with its precise code
    /// (`not_paused`, `not_pausable`, `too_many_tags`, …).
    #[error("{1}")]
    ConflictWith(&'static str, String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("storage unavailable")]
    Store(#[from] StoreError),
    #[error("encryption unavailable")]
    Crypto(#[from] crypto::CryptoError),
    #[error("could not start the broadcast")]
    Dispatch(#[from] dispatch::DispatchError),
    #[error("could not queue the erasure")]
    Queue(String),
    #[error("export failed")]
    Export(#[from] optcast_shared::export::ExportError),
}

impl ApiError {
    /// The one place errors become statuses.
    fn status_and_code(&self) -> (u16, &'static str) {
        match self {
            ApiError::Unauthorized => (401, "unauthorized"),
            ApiError::Forbidden(_) => (403, "missing_scope"),
            ApiError::BadRequest(code, _) => (400, code),
            ApiError::NotFound(_) => (404, "not_found"),
            ApiError::TooLarge => (413, "payload_too_large"),
            ApiError::NotInAudience => (404, "not_in_audience"),
            ApiError::NotRecorded(_) => (404, "not_recorded"),
            ApiError::Conflict(_) => (409, "conflict"),
            ApiError::ConflictWith(code, _) => (409, code),
            ApiError::MethodNotAllowed => (405, "method_not_allowed"),
            ApiError::Store(_)
            | ApiError::Crypto(_)
            | ApiError::Dispatch(_)
            | ApiError::Queue(_)
            | ApiError::Export(_) => (503, "unavailable"),
        }
    }
}

fn bad(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::BadRequest(code, message.into())
}

pub struct Api {
    auth: AdminAuth,
    /// The console's config document and policy (`/console`).
    console: console::Site,
    broadcasts: BroadcastStore,
    leads: Store,
    keys: KeyRing,
    plans: Producer<PlanJob>,
    erasures: Producer<ErasureJob>,
    exports: Exports,
    eraser: Eraser,
    requests: Requests,
    default_retention_days: u32,
    quarantine: optcast_shared::quarantine::Quarantine,
    /// Quarantined items go back through ingest as chunk jobs.
    ingest_chunks: Producer<IngestJob>,
    audit: AuditTrail,
    /// Test sends go straight to the Send API.
    graph: optcast_shared::graph::GraphClient,
}

/// What a route answers.
pub struct Reply {
    status: u16,
    body: Vec<u8>,
    location: Option<String>,
}

fn reply(status: u16, value: serde_json::Value) -> Reply {
    Reply {
        status,
        body: value.to_string().into_bytes(),
        location: None,
    }
}

/// How exports are handed out.
struct Exports {
    s3: config::S3,
    bucket: String,
    /// Larger documents go to S3 and the answer is a presigned link.
    inline_limit: usize,
    part_size: usize,
}

impl Api {
    /// # Errors
    /// [`ConfigError`] as [`ApiConfig::from_source`].
    pub fn from_source(src: &dyn Source, aws: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        Self::new(ApiConfig::from_source(src)?, aws)
    }

    /// The API with its clients built from `aws`.
    ///
    /// # Errors
    /// [`ConfigError::Client`] when the Graph API client cannot be built.
    pub fn new(cfg: ApiConfig, aws: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        let ddb = config::dynamodb(aws);
        let leads = Store::new(ddb.clone(), cfg.tables);
        let sqs = config::sqs(aws);
        let s3 = config::s3(aws);
        Ok(Self {
            auth: cfg.auth,
            console: console::Site::new(&cfg.console_sign_in),
            eraser: Eraser::new(
                leads.clone(),
                cfg.send_tables.deliveries.clone(),
                cfg.privacy_table.clone(),
            ),
            requests: Requests {
                ddb: ddb.clone(),
                table: cfg.privacy_table.clone(),
            },
            audit: AuditTrail {
                ddb: ddb.clone(),
                table: cfg.privacy_table,
            },
            erasures: Producer::new(sqs.clone(), cfg.erasure_queue_url),
            exports: Exports {
                s3: s3.clone(),
                bucket: cfg.bucket.clone(),
                inline_limit: cfg.export_inline_limit_bytes,
                part_size: cfg.export_part_bytes,
            },
            broadcasts: BroadcastStore::new(ddb, cfg.send_tables),
            leads,
            keys: KeyRing::new(config::kms(aws), cfg.kms_key_id),
            plans: Producer::new(sqs.clone(), cfg.plan_queue_url),
            default_retention_days: cfg.default_retention_days,
            quarantine: optcast_shared::quarantine::Quarantine { s3, bucket: cfg.bucket },
            ingest_chunks: Producer::new(sqs, cfg.ingest_chunk_queue_url),
            graph: optcast_shared::graph::GraphClient::new(cfg.graph_api_url)?,
        })
    }

    pub async fn handle(&self, req: Request) -> Response<Body> {
        // The console's static files: public, no token (console.rs).
        if let Some(resp) = console::serve(&req, &self.console) {
            return resp;
        }
        match self.route(&req).await {
            Ok(r) => {
                let mut resp = json_response(r.status, r.body);
                if let Some(location) = r
                    .location
                    .and_then(|l| lambda_http::http::HeaderValue::from_str(&l).ok())
                {
                    resp.headers_mut().insert("location", location);
                }
                resp
            }
            Err(err) => {
                let (status, code) = err.status_and_code();
                if status >= 500 {
                    tracing::error!(error = %err, source = ?std::error::Error::source(&err).map(|s| s.to_string()), "api failed");
                }
                json_response(status, error_body(code, &err.to_string()).into_bytes())
            }
        }
    }

    async fn route(&self, req: &Request) -> Result<Reply, ApiError> {
        let raw = req.raw_http_path();
        let path = if raw.is_empty() {
            req.uri().path().to_string()
        } else {
            raw.to_string()
        };
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        if segments.first() != Some(&"v1") {
            return Err(ApiError::NotFound("route"));
        }
        // Authenticate before looking at anything else the caller sent.
        let caller = self.authenticate(req)?;
        let (route, params) = match find(req.method().as_str(), &segments[1..]) {
            Found::Route(route, params) => (route, params),
            Found::WrongMethod => return Err(ApiError::MethodNotAllowed),
            Found::Nothing => return Err(ApiError::NotFound("route")),
        };
        if let Some(scope) = route.scope {
            caller.require(scope)?;
        }
        let c = &caller;
        let p = |i: usize| params.get(i).copied().unwrap_or_default();
        let json = match route.op {
            Op::PutPage => self.put_page(c, p(0), body(req)?).await,
            Op::ListPages => self.list_pages(c, req).await,
            Op::GetPage => self.get_page(c, p(0)).await,
            Op::CreateBroadcast => self.create_broadcast(c, body(req)?).await,
            Op::PreviewBroadcast => self.preview(c, req, body(req)?).await,
            Op::ListBroadcasts => self.list_broadcasts(c, req).await,
            Op::GetBroadcast => self.get_broadcast(c, p(0)).await,
            Op::GetRecipient => self.recipient(c, p(0), p(1)).await,
            Op::CancelBroadcast => self.cancel(c, p(0)).await,
            Op::PauseBroadcast => self.pause(c, p(0)).await,
            Op::ResumeBroadcast => self.resume(c, p(0)).await,
            Op::TestSend => self.test_send(c, p(0), body(req)?).await,
            Op::GetSubscriber => self.subscriber(c, p(0), p(1)).await,
            Op::ListSubscribers => self.list_subscribers(c, p(0), req).await,
            Op::PutTag => self.tag(c, p(0), p(1), p(2), true).await,
            Op::DeleteTag => self.tag(c, p(0), p(1), p(2), false).await,
            Op::BulkTag => self.bulk_tag(c, p(0), p(1), body(req)?).await,
            Op::Erase => self.erasure(c, body(req)?).await,
            Op::ErasureStatus => self.erasure_status(c, p(0)).await,
            Op::Export => return self.export(c, req).await,
            Op::ListQuarantine => self.list_quarantine(c, req).await,
            Op::ReplayQuarantine => self.replay_quarantine(c, p(0)).await,
            Op::OpenApi => {
                return Ok(Reply {
                    status: 200,
                    body: OPENAPI_JSON.as_bytes().to_vec(),
                    location: None,
                })
            }
        }?;
        Ok(reply(json.0, json.1))
    }
}

impl Api {
    /// Records a privileged call before it happens: if the trail cannot be
    /// written, the call is refused (503).
    async fn audit(
        &self,
        caller: &Caller,
        action: audit::Action,
        page: &PageId,
        subject_digest: Option<&str>,
    ) -> Result<(), ApiError> {
        self.audit
            .record(&audit::Entry {
                actor: &caller.name,
                action,
                page,
                subject_digest,
                at_ms: now_ms(),
            })
            .await?;
        Ok(())
    }
}

fn body(req: &Request) -> Result<&[u8], ApiError> {
    let b: &[u8] = req.body().as_ref();
    if b.len() > MAX_BODY_BYTES {
        return Err(ApiError::TooLarge);
    }
    Ok(b)
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| bad("invalid_json", e.to_string()))
}

fn json_response(status: u16, body: Vec<u8>) -> Response<Body> {
    let body = match String::from_utf8(body) {
        Ok(text) => Body::Text(text),
        Err(e) => Body::Binary(e.into_bytes()),
    };
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body)
        .expect("static response parts")
}

/// The Lambda entry point (`main.rs`): configuration and clients once per
/// cold start, then the runtime's loop.
///
/// # Errors
/// When the configuration is refused or a secret cannot be read at start
/// (Lambda reports an init error and starts a new instance), or when the
/// Runtime API fails.
pub async fn run() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let aws = config::aws().await;
    config::install_pseudonyms(&config::Env, &aws).await?;
    let api = Api::from_source(&config::Env, &aws)?;
    let api = &api;
    lambda_http::run(lambda_http::service_fn(move |req: Request| async move {
        Ok::<_, std::convert::Infallible>(api.handle(req).await)
    }))
    .await
}
