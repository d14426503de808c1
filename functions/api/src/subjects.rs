//! One subject (a lead of one page): consent state and history, erasure
//! and its status, export.

use lambda_http::{Request, RequestExt};
use optcast_shared::access::Caller;
use optcast_shared::audit;
use optcast_shared::crypto;
use optcast_shared::erasure::{self, ErasureReason};
use optcast_shared::export::{self, ExportSink, Finished};
use optcast_shared::http::now_ms;
use optcast_shared::ids::{PageId, Psid};
use serde::Deserialize;
use serde_json::json;

use super::query::required_query;
use super::{bad, parse_json, Api, ApiError, Reply, EXPORT_LINK_TTL};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ErasureRequestBody {
    page_id: String,
    psid: String,
}

impl Api {
    pub(crate) async fn subscriber(
        &self,
        caller: &Caller,
        page: &str,
        psid: &str,
    ) -> Result<(u16, serde_json::Value), ApiError> {
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
            .consent_entries(&page_id, &psid)
            .await?
            .into_iter()
            .map(|e| {
                json!({
                    "at_ms": e.at_ms, "from": e.from, "to": e.to, "reason": e.reason,
                    "proof": {"event_key": e.event_key, "event_sha256": e.event_sha256, "delivery_sha256": e.delivery_sha256}
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
    /// Erases a subject: the data key and subscriber record go now, in one
    /// transaction (no send can reach them afterwards); the eraser function
    /// deletes the rest from the queue.
    pub(crate) async fn erasure(&self, caller: &Caller, body: &[u8]) -> Result<(u16, serde_json::Value), ApiError> {
        let req: ErasureRequestBody = parse_json(body)?;
        let page_id = PageId::parse(req.page_id).map_err(|e| bad("invalid_page_id", e.to_string()))?;
        let psid = Psid::parse(req.psid).map_err(|e| bad("invalid_psid", e.to_string()))?;
        caller.require_page(&page_id)?;
        let digest = crypto::subject_digest(&page_id, &psid);
        self.audit(caller, audit::Action::Erasure, &page_id, Some(&digest))
            .await?;
        // Queued first, so an erasure is never left half done: if queueing
        // fails the caller gets a 503 with nothing destroyed and retries. The
        // key is then destroyed before answering, so every ciphertext is
        // unreadable from the 202 on (the eraser shreds too, if it ran first;
        // the tombstone tells it data was held).
        let requested = erasure::request_subject_erasure(
            &self.requests,
            &self.erasures,
            &page_id,
            &psid,
            ErasureReason::Request,
            None,
            now_ms(),
        )
        .await;
        let id = match requested {
            Ok(id) => id,
            Err(erasure::RequestError::Store(e)) => return Err(e.into()),
            Err(erasure::RequestError::Queue(e)) => return Err(ApiError::Queue(e.to_string())),
        };
        // The erasure's time is the shred's: what the person sent until then
        // (this request's own round trips included) is what it erased.
        let found = self
            .eraser
            .shred(&page_id, &psid, ErasureReason::Request, now_ms())
            .await?;
        if found {
            self.requests.count_shredded_subscriber(&id).await?;
        }
        tracing::info!(request = %id, page = %page_id, shredded = found, "erasure accepted");
        Ok((202, json!({"request_id": id, "status": "pending"})))
    }

    pub(crate) async fn erasure_status(&self, caller: &Caller, id: &str) -> Result<(u16, serde_json::Value), ApiError> {
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

    pub(crate) async fn export(&self, caller: &Caller, req: &Request) -> Result<Reply, ApiError> {
        let params = req.query_string_parameters();
        let page_id = required_query(req, "page_id", "invalid_page_id", |raw| PageId::parse(raw))?;
        let psid = required_query(req, "psid", "invalid_psid", |raw| Psid::parse(raw))?;
        // `redirect=false`: a stored export's link as a 200 JSON answer, not
        // a 303 (a browser's fetch follows a redirect by itself, to S3's
        // origin, which the console's connect-src refuses).
        let redirect = match params.first("redirect") {
            None | Some("true") => true,
            Some("false") => false,
            Some(_) => return Err(bad("invalid_redirect", "redirect must be true or false")),
        };
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
            &self.eraser.deliveries,
            &self.keys,
            &page_id,
            &psid,
            now,
            &mut sink,
        )
        .await;
        let lead = match written {
            Ok(Some(lead)) => lead,
            Ok(None) => {
                sink.abort().await;
                return Err(ApiError::NotFound("subject"));
            }
            Err(e) => {
                sink.abort().await;
                return Err(e.into());
            }
        };
        let finished = sink.finish(self.exports.inline_limit).await?;
        // Erased while it was written: the erasure found no document to
        // delete, so this one must not outlive it (nor be handed out).
        if !export::still_held(&self.leads, &page_id, &psid, &lead).await? {
            if let Finished::Stored { key, version_id, .. } = &finished {
                export::discard(&self.exports.s3, &self.exports.bucket, key, version_id.as_deref()).await?;
            }
            tracing::info!(page = %page_id, "export discarded: the subject was erased while it was written");
            return Err(ApiError::NotFound("subject"));
        }
        match finished {
            Finished::Inline(body) => {
                tracing::info!(page = %page_id, bytes = body.len(), "export served");
                Ok(Reply {
                    status: 200,
                    body,
                    location: None,
                })
            }
            Finished::Stored { key, bytes, .. } => {
                let link_error = |e: &dyn std::fmt::Display| ApiError::Export(export::ExportError::S3(e.to_string()));
                let presigned = self
                    .exports
                    .s3
                    .get_object()
                    .bucket(&self.exports.bucket)
                    .key(&key)
                    // Followed in a browser, the link downloads a file.
                    .response_content_disposition("attachment; filename=\"optcast-export.json\"")
                    .response_content_type("application/json")
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
                    status: if redirect { 303 } else { 200 },
                    body: body.to_string().into_bytes(),
                    location: redirect.then_some(url),
                })
            }
        }
    }
}
