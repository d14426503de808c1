//! Broadcasts: create one (started now or at `send_at`), read one
//! with its counts, cancel one.

use optcast_shared::access::Caller;
use optcast_shared::broadcast::{Broadcast, BroadcastRequest, BroadcastState, InvalidBroadcast, NewBroadcast};
use optcast_shared::dispatch;
use optcast_shared::http::now_ms;
use optcast_shared::ids::BroadcastId;
use optcast_shared::page::Page;
use serde_json::json;

use super::{bad, parse_json, Api, ApiError};

impl Api {
    pub(crate) async fn create_broadcast(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<(u16, serde_json::Value), ApiError> {
        let now = now_ms();
        let (new, _) = self.new_broadcast(caller, body, now).await?;
        let starts_now = new.starts_now(now);
        let b = new.scheduled(BroadcastId::generate(), now);
        self.broadcasts.create_broadcast(&b).await?;
        let mut state = BroadcastState::Scheduled;
        if starts_now {
            match dispatch::start(&self.broadcasts, &self.plans, &b.id).await {
                Ok(true) => state = BroadcastState::Planning,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "immediate start failed; the scheduler will retry"),
            }
        }
        tracing::info!(broadcast = %b.id, state = state.as_str(), "broadcast created");
        Ok((201, json!({"id": b.id.as_str(), "state": state.as_str()})))
    }

    /// A create body read as `POST /v1/broadcasts` reads it (the preview
    /// reads the same body, with the same errors): the page checked against
    /// the caller first, then every field ([`NewBroadcast::parse`] at
    /// `now_ms`), then that the page is registered (returned).
    pub(crate) async fn new_broadcast(
        &self,
        caller: &Caller,
        body: &[u8],
        now_ms: i64,
    ) -> Result<(NewBroadcast, Page), ApiError> {
        let req: BroadcastRequest = parse_json(body)?;
        let invalid = |e: InvalidBroadcast| bad(e.code, e.message);
        caller.require_page(&req.page_id().map_err(invalid)?)?;
        let new = NewBroadcast::parse(req, now_ms).map_err(invalid)?;
        let page = self
            .broadcasts
            .page(&new.page_id)
            .await?
            .ok_or_else(|| bad("unknown_page", "register the page first (PUT /v1/pages/<page_id>)"))?;
        Ok((new, page))
    }

    /// The broadcast `id`, if the caller may see its page (else 404, as if
    /// it did not exist).
    pub(crate) async fn visible_broadcast(&self, caller: &Caller, id: &str) -> Result<Broadcast, ApiError> {
        let id = BroadcastId::parse(id).map_err(|_| ApiError::NotFound("broadcast"))?;
        self.broadcasts
            .broadcast(&id)
            .await?
            .filter(|b| caller.sees(&b.page_id))
            .ok_or(ApiError::NotFound("broadcast"))
    }

    pub(crate) async fn get_broadcast(&self, caller: &Caller, id: &str) -> Result<(u16, serde_json::Value), ApiError> {
        let b = self.visible_broadcast(caller, id).await?;
        Ok((200, broadcast_json(&b)))
    }

    pub(crate) async fn cancel(&self, caller: &Caller, id: &str) -> Result<(u16, serde_json::Value), ApiError> {
        let id = self.visible_broadcast(caller, id).await?.id;
        if !self.broadcasts.transition(&id, BroadcastState::Cancelled, None).await? {
            let b = self
                .broadcasts
                .broadcast(&id)
                .await?
                .ok_or(ApiError::NotFound("broadcast"))?;
            if b.state != BroadcastState::Cancelled {
                return Err(ApiError::Conflict(format!("broadcast is {}", b.state.as_str())));
            }
        }
        // Its planned pages are never to be sent: their jobs go (again, if
        // a cancel before failed here).
        self.broadcasts.drop_planned(&id).await?;
        let b = self
            .broadcasts
            .broadcast(&id)
            .await?
            .ok_or(ApiError::NotFound("broadcast"))?;
        Ok((200, broadcast_json(&b)))
    }
}

pub(crate) fn broadcast_json(b: &Broadcast) -> serde_json::Value {
    let mut v = json!({
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
            "skipped_by_reason": b.counts.skipped_by_reason,
            "failed_by_reason": b.counts.failed_by_reason,
        },
    });
    crate::outcomes::add_outcomes_json(b, &mut v);
    v
}
