//! The management API (`/v1/*`): register pages, create, inspect and cancel
//! broadcasts, read a lead's consent state and history, erase and export a
//! subject, list and replay the ingest quarantine. Every route needs `Authorization: Bearer <token>` and a scope
//! ([`ROUTES`]); a caller sees only its pages ([`optcast_shared::access`]): another page's data is 404, a missing
//! scope 403. Exports, erasures and page-token changes go to the audit trail first. Errors are JSON with a precise
//! status.

use lambda_http::{Body, Request, RequestExt, Response};
use optcast_shared::access::{Caller, Scope};
use optcast_shared::audit::{self, AuditTrail};
use optcast_shared::broadcast::{Broadcast, Counts};
use optcast_shared::broadcast::{BroadcastMessage, BroadcastState};
use optcast_shared::config::{self, ConfigError, Source};
use optcast_shared::crypto::{self, KeyRing};
use optcast_shared::erasure::{self, Eraser, ErasureReason, Requests};
use optcast_shared::export::{self, ExportSink, Finished};
use optcast_shared::http::{error_body, now_ms};
use optcast_shared::ids::{BroadcastId, PageId, Psid};
use optcast_shared::page::Page;
use optcast_shared::queue::{ErasureJob, ErasureTarget};
use optcast_shared::store::{BroadcastStore, SendTables};
use optcast_shared::store::{Store, StoreError, Tables};
use optcast_shared::{dispatch, telemetry};
use serde::Deserialize;

mod auth;
mod quarantine;
use auth::{auth_from_source, route_scope};
pub use auth::{AdminAuth, ROUTES};
use serde_json::json;

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
    #[error("{0}")]
    Conflict(String),
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
            ApiError::Conflict(_) => (409, "conflict"),
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
    broadcasts: BroadcastStore,
    leads: Store,
    keys: KeyRing,
    sqs: aws_sdk_sqs::Client,
    plan_queue_url: String,
    erasure_queue_url: String,
    exports: Exports,
    eraser: Eraser,
    requests: Requests,
    default_retention_days: u32,
    quarantine: optcast_shared::quarantine::Quarantine,
    ingest_chunk_queue_url: String,
    audit: AuditTrail,
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
    s3: aws_sdk_s3::Client,
    bucket: String,
    /// Larger documents go to S3 and the answer is a presigned link.
    inline_limit: usize,
    part_size: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ErasureRequestBody {
    page_id: String,
    psid: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PageRequest {
    access_token: String,
    #[serde(default)]
    retention_days: Option<u32>,
    #[serde(default)]
    region: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BroadcastRequest {
    page_id: String,
    message: BroadcastMessage,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    send_at: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

impl Api {
    pub fn from_source(src: &dyn Source, aws: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        let auth = auth_from_source(src)?;
        let ddb = config::dynamodb(aws);
        let send_tables = SendTables::from_source(src)?;
        let leads = Store::new(ddb.clone(), Tables::from_source(src)?);
        Ok(Self {
            auth,
            eraser: Eraser::new(
                leads.clone(),
                send_tables.deliveries.clone(),
                config::required(src, "PRIVACY_TABLE")?,
            ),
            requests: Requests {
                ddb: ddb.clone(),
                table: config::required(src, "PRIVACY_TABLE")?,
            },
            audit: AuditTrail {
                ddb: ddb.clone(),
                table: config::required(src, "PRIVACY_TABLE")?,
            },
            erasure_queue_url: config::required(src, "ERASURE_QUEUE_URL")?,
            exports: Exports {
                s3: aws_sdk_s3::Client::new(aws),
                bucket: config::required(src, "DATA_BUCKET")?,
                inline_limit: config::parse_u32(src, "EXPORT_INLINE_LIMIT_BYTES", 4 * 1024 * 1024)? as usize,
                part_size: config::parse_u32(src, "EXPORT_PART_BYTES", 8 * 1024 * 1024)? as usize,
            },
            broadcasts: BroadcastStore::new(ddb, send_tables),
            leads,
            keys: KeyRing::new(aws_sdk_kms::Client::new(aws), config::required(src, "KMS_KEY_ID")?),
            sqs: aws_sdk_sqs::Client::new(aws),
            plan_queue_url: config::required(src, "PLAN_QUEUE_URL")?,
            default_retention_days: config::parse_u32(src, "DEFAULT_RETENTION_DAYS", 730)?,
            quarantine: optcast_shared::quarantine::Quarantine {
                s3: aws_sdk_s3::Client::new(aws),
                bucket: config::required(src, "DATA_BUCKET")?,
            },
            ingest_chunk_queue_url: config::required(src, "INGEST_CHUNK_QUEUE_URL")?,
        })
    }

    pub async fn handle(&self, req: Request) -> Response<Body> {
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
        let method = req.method().as_str();
        if let Some(scope) = route_scope(method, &segments[1..]) {
            caller.require(scope)?;
        }
        let c = &caller;
        let json = match (method, &segments[1..]) {
            ("PUT", ["pages", page]) => self.put_page(c, page, body(req)?).await,
            ("POST", ["broadcasts"]) => self.create_broadcast(c, body(req)?).await,
            ("GET", ["broadcasts", id]) => self.get_broadcast(c, id).await,
            ("POST", ["broadcasts", id, "cancel"]) => self.cancel(c, id).await,
            ("GET", ["pages", page, "subscribers", psid]) => self.subscriber(c, page, psid).await,
            ("POST", ["erasure"]) => self.erasure(c, body(req)?).await,
            ("GET", ["erasure", id]) => self.erasure_status(c, id).await,
            ("GET", ["export"]) => return self.export(c, req).await,
            ("GET", ["quarantine"]) => self.list_quarantine(c, req).await,
            ("POST", ["quarantine", id, "replay"]) => self.replay_quarantine(c, id).await,
            (_, ["pages", _])
            | (_, ["broadcasts"])
            | (_, ["broadcasts", _])
            | (_, ["broadcasts", _, "cancel"])
            | (_, ["pages", _, "subscribers", _])
            | (_, ["erasure"])
            | (_, ["erasure", _])
            | (_, ["export"])
            | (_, ["quarantine"])
            | (_, ["quarantine", _, "replay"]) => Err(ApiError::MethodNotAllowed),
            _ => Err(ApiError::NotFound("route")),
        }?;
        Ok(reply(json.0, json.1))
    }

    async fn put_page(&self, caller: &Caller, page: &str, body: &[u8]) -> Result<(u16, serde_json::Value), ApiError> {
        let page_id = PageId::parse(page).map_err(|e| bad("invalid_page_id", e.to_string()))?;
        caller.require_page(&page_id)?;
        let req: PageRequest = parse_json(body)?;
        if req.access_token.trim().is_empty() || req.access_token.len() > 4096 {
            return Err(bad("invalid_access_token", "access_token must be 1 to 4096 characters"));
        }
        let retention_days = req.retention_days.unwrap_or(self.default_retention_days);
        if !(1..=3650).contains(&retention_days) {
            return Err(bad(
                "invalid_retention_days",
                "retention_days must be between 1 and 3650",
            ));
        }
        // A two-letter region code (e.g. "EU", "UK", "JP"): where Meta still
        // honours marketing-messages tokens depends on it.
        if req
            .region
            .as_ref()
            .is_some_and(|r| r.len() != 2 || !r.chars().all(|c| c.is_ascii_alphabetic()))
        {
            return Err(bad(
                "invalid_region",
                "region is a two-letter code such as EU, UK or JP",
            ));
        }
        self.audit(caller, audit::Action::PageToken, &page_id, None).await?;
        let key = self.keys.generate(&crypto::page_key_context(&page_id)).await?;
        let sealed = crypto::seal(&key, &crypto::page_token_aad(&page_id), req.access_token.as_bytes());
        let page = Page {
            page_id: page_id.clone(),
            sealed_token: sealed,
            data_key: key.wrapped.clone(),
            retention_days,
            region: req.region.map(|r| r.to_ascii_uppercase()),
            updated_at_ms: now_ms(),
        };
        self.broadcasts.put_page(&page).await?;
        tracing::info!(page = %page_id, retention_days, "page registered");
        // The token is never returned.
        Ok((
            200,
            json!({"page_id": page_id.as_str(), "retention_days": retention_days, "region": page.region}),
        ))
    }

    async fn create_broadcast(&self, caller: &Caller, body: &[u8]) -> Result<(u16, serde_json::Value), ApiError> {
        let req: BroadcastRequest = parse_json(body)?;
        let page_id = PageId::parse(req.page_id).map_err(|e| bad("invalid_page_id", e.to_string()))?;
        caller.require_page(&page_id)?;
        req.message
            .validate()
            .map_err(|e| bad("invalid_message", e.to_string()))?;
        if req.tags.len() > 50 || req.tags.iter().any(|t| t.is_empty() || t.len() > 100) {
            return Err(bad("invalid_tags", "at most 50 tags of 1 to 100 characters"));
        }
        // A tag given twice means it once (DynamoDB refuses a set with duplicates).
        let mut tags = req.tags;
        tags.sort();
        tags.dedup();
        if req.name.as_ref().is_some_and(|n| n.len() > 200) {
            return Err(bad("invalid_name", "name is at most 200 characters"));
        }
        let now = now_ms();
        let send_at_ms = match &req.send_at {
            None => None,
            Some(raw) => {
                let at = time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339)
                    .map_err(|_| bad("invalid_send_at", "send_at must be an RFC 3339 timestamp"))?;
                let ms = (at.unix_timestamp_nanos() / 1_000_000) as i64;
                if ms < now - 60_000 {
                    return Err(bad("invalid_send_at", "send_at is in the past"));
                }
                Some(ms)
            }
        };
        if self.broadcasts.page(&page_id).await?.is_none() {
            return Err(bad("unknown_page", "register the page first (PUT /v1/pages/<page_id>)"));
        }
        let b = Broadcast {
            id: BroadcastId::generate(),
            page_id,
            name: req.name,
            message: req.message,
            audience_tags: tags,
            // Created scheduled (due now, or at send_at): if starting fails,
            // the scheduler starts it within a minute.
            send_at_ms: Some(send_at_ms.unwrap_or(now)),
            state: BroadcastState::Scheduled,
            created_at_ms: now,
            counts: Counts::default(),
            shards_done: 0,
            cursors: Default::default(),
            paused_reason: None,
        };
        self.broadcasts.create_broadcast(&b).await?;
        let mut state = BroadcastState::Scheduled;
        if send_at_ms.is_none_or(|t| t <= now) {
            match dispatch::start(&self.broadcasts, &self.sqs, &self.plan_queue_url, &b.id).await {
                Ok(true) => state = BroadcastState::Planning,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "immediate start failed; the scheduler will retry"),
            }
        }
        tracing::info!(broadcast = %b.id, state = state.as_str(), "broadcast created");
        Ok((201, json!({"id": b.id.as_str(), "state": state.as_str()})))
    }

    /// The broadcast `id`, if the caller may see its page (else 404, as if
    /// it did not exist).
    async fn visible_broadcast(&self, caller: &Caller, id: &str) -> Result<Broadcast, ApiError> {
        let id = BroadcastId::parse(id).map_err(|_| ApiError::NotFound("broadcast"))?;
        self.broadcasts
            .broadcast(&id)
            .await?
            .filter(|b| caller.sees(&b.page_id))
            .ok_or(ApiError::NotFound("broadcast"))
    }

    async fn get_broadcast(&self, caller: &Caller, id: &str) -> Result<(u16, serde_json::Value), ApiError> {
        let b = self.visible_broadcast(caller, id).await?;
        Ok((200, broadcast_json(&b)))
    }

    async fn cancel(&self, caller: &Caller, id: &str) -> Result<(u16, serde_json::Value), ApiError> {
        let id = self.visible_broadcast(caller, id).await?.id;
        let from = [
            BroadcastState::Scheduled,
            BroadcastState::Planning,
            BroadcastState::Sending,
            BroadcastState::Paused,
        ];
        if !self
            .broadcasts
            .transition(&id, &from, BroadcastState::Cancelled, None)
            .await?
        {
            let b = self
                .broadcasts
                .broadcast(&id)
                .await?
                .ok_or(ApiError::NotFound("broadcast"))?;
            if b.state != BroadcastState::Cancelled {
                return Err(ApiError::Conflict(format!("broadcast is {}", b.state.as_str())));
            }
        }
        let b = self
            .broadcasts
            .broadcast(&id)
            .await?
            .ok_or(ApiError::NotFound("broadcast"))?;
        Ok((200, broadcast_json(&b)))
    }

    async fn subscriber(&self, caller: &Caller, page: &str, psid: &str) -> Result<(u16, serde_json::Value), ApiError> {
        let page_id = PageId::parse(page).map_err(|e| bad("invalid_page_id", e.to_string()))?;
        let psid = Psid::parse(psid).map_err(|e| bad("invalid_psid", e.to_string()))?;
        caller.require_page(&page_id)?;
        let sub = self
            .leads
            .subscriber(&page_id, &psid)
            .await?
            .ok_or(ApiError::NotFound("subscriber"))?;
        let history: Vec<serde_json::Value> = self
            .leads
            .consent_history(&page_id, &psid)
            .await?
            .iter()
            .map(|i| {
                let g = |k: &str| i.get(k).and_then(|v| v.as_s().ok()).cloned();
                let n = |k: &str| i.get(k).and_then(|v| v.as_n().ok()).and_then(|v| v.parse::<i64>().ok());
                json!({
                    "at_ms": n("at_ms"), "from": g("from"), "to": g("to"), "reason": g("reason"),
                    "proof": {"event_key": g("event_key"), "event_sha256": g("event_sha256"), "delivery_sha256": g("delivery_sha256")}
                })
            })
            .collect();
        Ok((
            200,
            json!({
                "page_id": page_id.as_str(),
                "psid": psid.as_str(),
                "status": sub.status.as_str(),
                "opted_in": sub.opted_in.as_ref().map(|p| json!({"event_key": p.event_key, "event_time_ms": p.event_time_ms, "event_sha256": p.event_sha256, "delivery_sha256": p.delivery_sha256})),
                "last_inbound_at_ms": sub.last_inbound_at_ms,
                "tags": sub.tags,
                "marketing_messages": sub.marketing.as_ref().map(|m| json!({"granted": true, "stopped": m.stopped, "expires_at_ms": m.expires_at_ms})),
                "history": history,
            }),
        ))
    }
}

impl Api {
    /// Erases a subject: the data key and subscriber record go now, in one
    /// transaction (no send can reach them afterwards); the eraser function
    /// deletes the rest from the queue.
    async fn erasure(&self, caller: &Caller, body: &[u8]) -> Result<(u16, serde_json::Value), ApiError> {
        let req: ErasureRequestBody = parse_json(body)?;
        let page_id = PageId::parse(req.page_id).map_err(|e| bad("invalid_page_id", e.to_string()))?;
        let psid = Psid::parse(req.psid).map_err(|e| bad("invalid_psid", e.to_string()))?;
        caller.require_page(&page_id)?;
        let id = erasure::new_request_id();
        let now = now_ms();
        let digest = crypto::subject_digest(&page_id, &psid);
        self.audit(caller, audit::Action::Erasure, &page_id, Some(&digest))
            .await?;
        self.requests
            .create(&id, ErasureReason::Request, Some(&page_id), &digest, now)
            .await?;
        // Queued first, so an erasure is never left half done: if queueing
        // fails the caller gets a 503 with nothing destroyed and retries. The
        // key is then destroyed before answering, so every ciphertext is
        // unreadable from the 202 on (the eraser shreds too, if it ran first;
        // the tombstone tells it data was held).
        let job = ErasureJob::ErasureV1 {
            request_id: id.clone(),
            target: ErasureTarget::Subject {
                page_id: page_id.clone(),
                psid: psid.clone(),
            },
            found_before: false,
        };
        self.sqs
            .send_message()
            .queue_url(&self.erasure_queue_url)
            .message_body(serde_json::to_string(&job).map_err(|e| ApiError::Queue(e.to_string()))?)
            .send()
            .await
            .map_err(|e| ApiError::Queue(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
        let found = self.eraser.shred(&page_id, &psid, ErasureReason::Request, now).await?;
        tracing::info!(request = %id, page = %page_id, shredded = found, "erasure accepted");
        Ok((202, json!({"request_id": id, "status": "pending"})))
    }

    async fn erasure_status(&self, caller: &Caller, id: &str) -> Result<(u16, serde_json::Value), ApiError> {
        if id.len() > 64 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(ApiError::NotFound("erasure request"));
        }
        let r = self
            .requests
            .get(id)
            .await?
            .filter(|r| caller.require_optional_page(r.page_id.as_ref()).is_ok())
            .ok_or(ApiError::NotFound("erasure request"))?;
        Ok((200, serde_json::to_value(&r).unwrap_or_default()))
    }

    async fn export(&self, caller: &Caller, req: &Request) -> Result<Reply, ApiError> {
        let params = req.query_string_parameters();
        let page_id = PageId::parse(params.first("page_id").unwrap_or_default())
            .map_err(|e| bad("invalid_page_id", e.to_string()))?;
        let psid =
            Psid::parse(params.first("psid").unwrap_or_default()).map_err(|e| bad("invalid_psid", e.to_string()))?;
        caller.require_page(&page_id)?;
        let now = now_ms();
        let digest = crypto::subject_digest(&page_id, &psid);
        self.audit(caller, audit::Action::Export, &page_id, Some(&digest))
            .await?;
        let key = format!(
            "{}{now}-{}.json",
            export::subject_prefix(&page_id, &psid),
            erasure::new_request_id()
        );
        let mut sink = ExportSink::new(
            self.exports.s3.clone(),
            &self.exports.bucket,
            &key,
            self.exports.part_size,
        );
        let written = export::write_export(
            &self.leads,
            &self.broadcasts.tables.deliveries,
            &self.keys,
            &page_id,
            &psid,
            now,
            &mut sink,
        )
        .await;
        match written {
            Ok(true) => {}
            Ok(false) => {
                sink.abort().await;
                return Err(ApiError::NotFound("subject"));
            }
            Err(e) => {
                sink.abort().await;
                return Err(e.into());
            }
        }
        match sink.finish(self.exports.inline_limit).await? {
            Finished::Inline(body) => {
                tracing::info!(page = %page_id, bytes = body.len(), "export served");
                Ok(Reply {
                    status: 200,
                    body,
                    location: None,
                })
            }
            Finished::Stored { key, bytes } => {
                let link_error = |e: &dyn std::fmt::Display| ApiError::Export(export::ExportError::S3(e.to_string()));
                let presigned = self
                    .exports
                    .s3
                    .get_object()
                    .bucket(&self.exports.bucket)
                    .key(&key)
                    .presigned(
                        aws_sdk_s3::presigning::PresigningConfig::expires_in(EXPORT_LINK_TTL)
                            .map_err(|e| link_error(&e))?,
                    )
                    .await
                    .map_err(|e| link_error(&e))?;
                let url = presigned.uri().to_string();
                tracing::info!(page = %page_id, bytes, "export stored; link handed out");
                let body = json!({"url": url, "bytes": bytes, "expires_in_s": EXPORT_LINK_TTL.as_secs()});
                Ok(Reply {
                    status: 303,
                    body: body.to_string().into_bytes(),
                    location: Some(url),
                })
            }
        }
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

fn broadcast_json(b: &Broadcast) -> serde_json::Value {
    json!({
        "id": b.id.as_str(),
        "page_id": b.page_id.as_str(),
        "name": b.name,
        "state": b.state.as_str(),
        "send_at_ms": b.send_at_ms,
        "created_at_ms": b.created_at_ms,
        "tags": b.audience_tags,
        "paused_reason": b.paused_reason,
        "counts": {
            "audience": b.counts.queued,
            "queued": b.counts.queued,
            "sent": b.counts.sent,
            "skipped_unsubscribed": b.counts.skipped_unsubscribed,
            "skipped_policy": b.counts.skipped_policy,
            "failed": b.counts.failed,
        },
    })
}

fn body(req: &Request) -> Result<&[u8], ApiError> {
    let b: &[u8] = req.body().as_ref();
    if b.len() > MAX_BODY_BYTES {
        return Err(bad("payload_too_large", format!("body over {MAX_BODY_BYTES} bytes")));
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
