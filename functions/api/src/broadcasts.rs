//! Pages and broadcasts: register a page (its token sealed under its own
//! data key), create a broadcast (started now or at `send_at`), read one
//! with its counts, cancel one.

use optcast_shared::access::Caller;
use optcast_shared::audit;
use optcast_shared::broadcast::{Broadcast, BroadcastRequest, BroadcastState, InvalidBroadcast, NewBroadcast};
use optcast_shared::crypto;
use optcast_shared::dispatch;
use optcast_shared::http::now_ms;
use optcast_shared::ids::{BroadcastId, PageId};
use optcast_shared::outcomes::Protection;
use optcast_shared::page::Page;
use serde::Deserialize;
use serde_json::json;

use super::{bad, parse_json, Api, ApiError};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PageRequest {
    access_token: String,
    #[serde(default)]
    retention_days: Option<u32>,
    #[serde(default)]
    region: Option<String>,
    /// Page protection: `{"max_negative_rate": 0.02, "min_sends": 200}`.
    #[serde(default)]
    protection: Option<ProtectionRequest>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProtectionRequest {
    max_negative_rate: f64,
    min_sends: i64,
}

impl Api {
    pub(crate) async fn put_page(
        &self,
        caller: &Caller,
        page: &str,
        body: &[u8],
    ) -> Result<(u16, serde_json::Value), ApiError> {
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
        let protection = req
            .protection
            .map(|p| Protection::new(p.max_negative_rate, p.min_sends))
            .transpose()
            .map_err(|e| bad("invalid_protection", e.to_string()))?;
        self.audit(caller, audit::Action::PageToken, &page_id, None).await?;
        let key = self.keys.generate(&crypto::page_key_context(&page_id)).await?;
        let sealed = crypto::seal(&key, &crypto::page_token_aad(&page_id), req.access_token.as_bytes());
        let page = Page {
            page_id: page_id.clone(),
            sealed_token: sealed,
            data_key: key.wrapped.clone(),
            retention_days,
            region: req.region.map(|r| r.to_ascii_uppercase()),
            protection,
            updated_at_ms: now_ms(),
        };
        self.broadcasts.put_page(&page).await?;
        tracing::info!(page = %page_id, retention_days, "page registered");
        // The token is never returned.
        Ok((
            200,
            json!({"page_id": page_id.as_str(), "retention_days": retention_days, "region": page.region,
                "protection": crate::outcomes::protection_json(&page.protection.unwrap_or_default())}),
        ))
    }

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
