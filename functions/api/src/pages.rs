//! Pages: connect one or change its settings (its token sealed under its
//! own data key; a field the request leaves out keeps what is stored), list
//! the caller's pages and read one. Never a token in an answer: only
//! whether one is set.

use optcast_shared::access::{Caller, Pages};
use optcast_shared::audit;
use optcast_shared::crypto;
use optcast_shared::http::now_ms;
use optcast_shared::ids::PageId;
use optcast_shared::outcomes::Protection;
use optcast_shared::page::{self, Field, PageChange, PageSummary};
use optcast_shared::retention::RETENTION_DAYS_BOUNDS;
use optcast_shared::store::SealedToken;
use serde::{Deserialize, Deserializer};
use serde_json::json;

use super::control::{cursor_error, paging};
use super::outcomes::protection_json;
use super::{bad, parse_json, Api, ApiError};

/// `PUT /v1/pages/<page>`. Every field may be left out: an omitted field
/// keeps the stored value, `null` resets it to its default. The token is
/// needed only to connect a page the first time.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PageRequest {
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    retention_days: Option<Option<u32>>,
    #[serde(default, deserialize_with = "nullable")]
    region: Option<Option<String>>,
    /// Page protection: `{"max_negative_rate": 0.02, "min_sends": 200}`.
    #[serde(default, deserialize_with = "nullable")]
    protection: Option<Option<ProtectionRequest>>,
}

/// A present field: `Some(None)` for `null`, `Some(Some(v))` for a value
/// (an absent one is `None` by `#[serde(default)]`).
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProtectionRequest {
    max_negative_rate: f64,
    min_sends: i64,
}

/// A listed page as JSON: `retention_days` and `protection` are those in
/// force (the defaults when the page set none), as `PUT` answers them.
fn page_json(p: &PageSummary, default_retention_days: u32) -> serde_json::Value {
    json!({
        "page_id": p.page_id.as_str(),
        "token_set": p.token_set,
        "retention_days": p.retention_days.unwrap_or(default_retention_days),
        "region": p.region,
        "protection": protection_json(&p.protection.unwrap_or_default()),
        "connected_at_ms": p.connected_at_ms,
        "updated_at_ms": p.updated_at_ms,
        "first_seen_at_ms": p.first_seen_at_ms,
    })
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
        let access_token = req
            .access_token
            .as_deref()
            .map(page::parse_access_token)
            .transpose()
            .map_err(|e| bad("invalid_access_token", e.to_string()))?;
        if req
            .retention_days
            .flatten()
            .is_some_and(|d| !RETENTION_DAYS_BOUNDS.contains(&d))
        {
            return Err(bad(
                "invalid_retention_days",
                "retention_days must be between 1 and 3650",
            ));
        }
        // A two-letter region code (e.g. "EU", "UK", "JP"): where Meta still
        // honours marketing-messages tokens depends on it.
        let region = req.region.map(|r| r.map(|r| r.to_ascii_uppercase()));
        if region
            .as_ref()
            .and_then(Option::as_ref)
            .is_some_and(|r| r.len() != 2 || !r.chars().all(|c| c.is_ascii_alphabetic()))
        {
            return Err(bad(
                "invalid_region",
                "region is a two-letter code such as EU, UK or JP",
            ));
        }
        let protection = match req.protection {
            Some(Some(p)) => Some(Some(
                Protection::new(p.max_negative_rate, p.min_sends)
                    .map_err(|e| bad("invalid_protection", e.to_string()))?,
            )),
            Some(None) => Some(None),
            None => None,
        };
        let change = PageChange {
            retention_days: req.retention_days.into(),
            region: match &region {
                None => Field::Keep,
                Some(None) => Field::Clear,
                Some(Some(r)) => Field::Set(r.as_str()),
            },
            protection: protection.into(),
        };
        // Every change of a page is audited (its token, or what its
        // retention deletes) before it is written.
        self.audit(caller, audit::Action::PageToken, &page_id, None).await?;
        let token = match access_token {
            Some(token) => {
                let key = self.keys.generate(&crypto::page_key_context(&page_id)).await?;
                Some(SealedToken {
                    sealed: crypto::seal(&key, &crypto::page_token_aad(&page_id), token.as_bytes()),
                    data_key: key.wrapped.clone(),
                })
            }
            None => None,
        };
        let settings = self
            .broadcasts
            .change_page(&page_id, token.as_ref(), &change, self.default_retention_days, now_ms())
            .await?
            .ok_or_else(|| {
                bad(
                    "missing_access_token",
                    "connect the page with its access_token first; later changes may leave it out",
                )
            })?;
        tracing::info!(page = %page_id, retention_days = settings.retention_days, "page registered");
        // The token is never returned.
        Ok((
            200,
            json!({"page_id": page_id.as_str(), "retention_days": settings.retention_days, "region": settings.region,
                "protection": protection_json(&settings.protection.unwrap_or_default())}),
        ))
    }

    /// `GET /v1/pages?cursor=&limit=`: 200 `{"pages": [page…], "next_cursor"}`,
    /// the pages the caller may see (all of them for a caller of every page,
    /// else those of its own that are connected or have data).
    pub(crate) async fn list_pages(
        &self,
        caller: &Caller,
        req: &lambda_http::Request,
    ) -> Result<(u16, serde_json::Value), ApiError> {
        let (limit, cursor) = paging(req)?;
        let only = match &caller.pages {
            Pages::All => None,
            Pages::Only(pages) => Some(pages),
        };
        let list = self
            .broadcasts
            .list_pages(only, cursor, limit)
            .await
            .map_err(cursor_error)?;
        let pages: Vec<_> = list
            .pages
            .iter()
            .map(|p| page_json(p, self.default_retention_days))
            .collect();
        Ok((
            200,
            json!({"pages": pages, "next_cursor": list.next.map(|c| c.to_token())}),
        ))
    }

    /// `GET /v1/pages/<page>`: the page as listed; 404 when nothing is
    /// stored about it or the caller may not see it.
    pub(crate) async fn get_page(&self, caller: &Caller, page: &str) -> Result<(u16, serde_json::Value), ApiError> {
        let page_id = PageId::parse(page).map_err(|e| bad("invalid_page_id", e.to_string()))?;
        caller.require_page(&page_id)?;
        let page = self
            .broadcasts
            .page_summary(&page_id)
            .await?
            .ok_or(ApiError::NotFound("page"))?;
        Ok((200, page_json(&page, self.default_retention_days)))
    }
}
