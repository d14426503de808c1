//! A marketer's control of broadcasts: a page's broadcasts (newest first,
//! paged), pause, resume, and a test send to named leads before the real run.

use lambda_http::{Request, RequestExt};
use optcast_shared::access::Caller;
use optcast_shared::broadcast::{self, Broadcast, BroadcastState};
use optcast_shared::dispatch;
use optcast_shared::graph::{MessagingType, Recipient, SendRequest};
use optcast_shared::http::now_ms;
use optcast_shared::ids::PageId;
use optcast_shared::store::{Cursor, StoreError};
use serde::Deserialize;
use serde_json::json;

use super::broadcasts::broadcast_json;
use super::query::required_query;
use super::{bad, parse_json, Api, ApiError};

/// The pause reason of a broadcast the marketer paused.
pub(crate) const PAUSED_BY_API: &str = "paused through the API";

/// Page size of the listings when the caller names none, and the most it may.
pub(crate) const DEFAULT_LIMIT: usize = 50;
pub(crate) const MAX_LIMIT: usize = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestSendBody {
    psids: Vec<String>,
}

/// `?limit=` (1 to [`MAX_LIMIT`], default [`DEFAULT_LIMIT`]) and `?cursor=`
/// (a token a listing handed out) of a listing request.
pub(crate) fn paging(req: &Request) -> Result<(usize, Option<Cursor>), ApiError> {
    let params = req.query_string_parameters();
    let limit = match params.first("limit") {
        None => DEFAULT_LIMIT,
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=MAX_LIMIT).contains(l))
            .ok_or_else(|| bad("invalid_limit", format!("limit must be 1 to {MAX_LIMIT}")))?,
    };
    let cursor = match params.first("cursor") {
        None | Some("") => None,
        Some(raw) => Some(
            Cursor::from_token(raw)
                .ok_or_else(|| bad("invalid_cursor", "cursor must be a next_cursor a listing handed out"))?,
        ),
    };
    Ok((limit, cursor))
}

/// A store error about the caller's cursor is their bad input (400).
pub(crate) fn cursor_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Corrupt("cursor") => bad("invalid_cursor", "cursor must be one this listing handed out"),
        other => other.into(),
    }
}

fn summary_json(b: &Broadcast) -> serde_json::Value {
    json!({
        "id": b.id.as_str(),
        "page_id": b.page_id.as_str(),
        "name": b.name,
        "state": b.state.as_str(),
        "send_at_ms": b.send_at_ms,
        "created_at_ms": b.created_at_ms,
        "tags": b.audience_tags,
        "paused_reason": b.paused_reason,
    })
}

impl Api {
    /// `GET /v1/broadcasts?page_id=&state=&cursor=&limit=`: 200
    /// `{"broadcasts": [summary…], "next_cursor"}`, newest first.
    pub(crate) async fn list_broadcasts(
        &self,
        caller: &Caller,
        req: &Request,
    ) -> Result<(u16, serde_json::Value), ApiError> {
        let params = req.query_string_parameters();
        let page_id = required_query(req, "page_id", "invalid_page_id", |raw| PageId::parse(raw))?;
        let state = match params.first("state") {
            None => None,
            Some(raw) => Some(BroadcastState::parse(raw).ok_or_else(|| {
                let all: Vec<&str> = BroadcastState::ALL.iter().map(|s| s.as_str()).collect();
                bad("invalid_state", format!("state must be one of {}", all.join(", ")))
            })?),
        };
        let (limit, cursor) = paging(req)?;
        caller.require_page(&page_id)?;
        let list = self
            .broadcasts
            .page_broadcasts(&page_id, state, cursor, limit)
            .await
            .map_err(cursor_error)?;
        let broadcasts: Vec<_> = list.broadcasts.iter().map(summary_json).collect();
        Ok((
            200,
            json!({"broadcasts": broadcasts, "next_cursor": list.next.map(|c| c.to_token())}),
        ))
    }

    /// `POST /v1/broadcasts/<id>/pause`: no new send is claimed from the
    /// moment this answers (every lane is paused in one transaction); jobs
    /// already queued are parked. Pausing a paused broadcast is a no-op.
    pub(crate) async fn pause(&self, caller: &Caller, id: &str) -> Result<(u16, serde_json::Value), ApiError> {
        let b = self.visible_broadcast(caller, id).await?;
        if b.state != BroadcastState::Paused {
            if !self
                .broadcasts
                .transition(&b.id, BroadcastState::Paused, Some(PAUSED_BY_API))
                .await?
            {
                let now = self.visible_broadcast(caller, id).await?;
                if now.state != BroadcastState::Paused {
                    return Err(ApiError::ConflictWith(
                        "not_pausable",
                        format!(
                            "a {} broadcast cannot be paused (only a planning or sending one)",
                            now.state.as_str()
                        ),
                    ));
                }
            }
            tracing::info!(broadcast = %b.id, "broadcast paused");
        }
        let b = self.visible_broadcast(caller, id).await?;
        Ok((200, broadcast_json(&b)))
    }

    /// `POST /v1/broadcasts/<id>/resume`: back to sending; parked jobs and
    /// the rest of the audience are queued by the planners. A resume of page
    /// protection's pause records the counts at the resume, so protection
    /// judges only what follows (`protection_baseline`). 409 `not_paused`
    /// for a broadcast that is not paused.
    pub(crate) async fn resume(&self, caller: &Caller, id: &str) -> Result<(u16, serde_json::Value), ApiError> {
        let b = self.visible_broadcast(caller, id).await?;
        // Resuming page protection's pause: protection judges only what
        // follows (the counts just read are the baseline).
        let now = now_ms();
        let baseline =
            optcast_shared::outcomes::baseline_at_resume(b.paused_reason.as_deref(), b.protection_counts(), now);
        if !self.broadcasts.resume(&b.id, now, baseline.as_ref()).await? {
            let now = self.visible_broadcast(caller, id).await?;
            return Err(ApiError::ConflictWith(
                "not_paused",
                format!("the broadcast is {}, not paused", now.state.as_str()),
            ));
        }
        // One plan job per shard; if queueing fails, the broadcast is still
        // due and the scheduler finishes its start within a minute.
        if let Err(e) = dispatch::start(&self.broadcasts, &self.plans, &b.id).await {
            tracing::warn!(error = %e, broadcast = %b.id, "resume: plan jobs not all queued; the scheduler will");
        }
        tracing::info!(broadcast = %b.id, "broadcast resumed");
        let b = self.visible_broadcast(caller, id).await?;
        Ok((200, broadcast_json(&b)))
    }

    /// `POST /v1/broadcasts/<id>/test` `{"psids": [...]}`: the message, now,
    /// to each named lead a real send could reach now (else the reason),
    /// never counted in the broadcast. 200 `{"results": [{psid, result,
    /// reason?, message_id?}]}`.
    pub(crate) async fn test_send(
        &self,
        caller: &Caller,
        id: &str,
        body: &[u8],
    ) -> Result<(u16, serde_json::Value), ApiError> {
        let b = self.visible_broadcast(caller, id).await?;
        let req: TestSendBody = parse_json(body)?;
        let psids = broadcast::parse_test_psids(req.psids).map_err(|e| bad(e.code, e.message))?;
        if matches!(b.state, BroadcastState::Done | BroadcastState::Cancelled) {
            return Err(ApiError::ConflictWith(
                "broadcast_closed",
                format!("the broadcast is {}", b.state.as_str()),
            ));
        }
        let page = self
            .broadcasts
            .page(&b.page_id)
            .await?
            .ok_or(ApiError::NotFound("page"))?;
        let token = page.open_token(&self.keys).await?;
        let marketing = broadcast::marketing_messages_available(page.region.as_deref());
        let message = broadcast::test_message(&b.message, &b.id);
        let mut results = Vec::with_capacity(psids.len());
        let (mut sent, mut skipped) = (0, 0);
        for psid in psids {
            // Read now, consistently: the same moment-of-sending check as a real send.
            let lead = self.leads.subscriber(&b.page_id, &psid).await?;
            if let Err(skip) = broadcast::may_test_send(now_ms(), lead.as_ref(), marketing) {
                skipped += 1;
                results.push(json!({"psid": psid.as_str(), "result": "skipped", "reason": skip.code()}));
                continue;
            }
            let request = SendRequest {
                recipient: Recipient::Id(psid.clone()),
                messaging_type: Some(MessagingType::Update),
                tag: None,
                message: message.clone(),
            };
            match self.graph.send_message(&b.page_id, &token, &request).await {
                Ok(resp) => {
                    sent += 1;
                    results.push(json!({"psid": psid.as_str(), "result": "sent", "message_id": resp.message_id}));
                }
                Err(err) => {
                    tracing::warn!(class = ?err.class, code = ?err.code, "test send refused by the Send API");
                    results.push(json!({
                        "psid": psid.as_str(), "result": "failed", "reason": "send_api_error",
                        "error": {"status": err.status, "code": err.code, "subcode": err.subcode},
                    }));
                }
            }
        }
        tracing::info!(broadcast = %b.id, sent, skipped, "test send");
        Ok((200, json!({"broadcast_id": b.id.as_str(), "results": results})))
    }
}
