//! Pages listed and read for the API (`GET /v1/pages`, `GET
//! /v1/pages/<page>`): what is stored about each that is safe to show,
//! never its token or key.

use std::collections::BTreeSet;

use super::item::{get_item, opt_n, opt_s, s, Item};
use super::keys::page_pk;
use super::pages::protection_from_item;
use super::{BroadcastStore, Cursor, StoreError};
use crate::ids::PageId;
use crate::page::PageSummary;

/// A page's listed fields, from its item (`None` for an item without a
/// valid `page_id`, which no write makes).
fn summary_from_item(item: &Item) -> Option<PageSummary> {
    let page_id = PageId::parse(opt_s(item, "page_id")?).ok()?;
    Some(PageSummary {
        page_id,
        token_set: item.contains_key("token"),
        retention_days: opt_n(item, "retention_days").and_then(|d| u32::try_from(d).ok()),
        region: opt_s(item, "region"),
        protection: protection_from_item(item),
        connected_at_ms: opt_n(item, "connected_at_ms"),
        updated_at_ms: opt_n(item, "updated_at_ms"),
        first_seen_at_ms: opt_n(item, "first_seen_at_ms"),
    })
}

/// A page of [`BroadcastStore::list_pages`]: the pages, and where the next
/// page starts (`None`: this was the last).
#[derive(Debug, Clone, PartialEq)]
pub struct PageList {
    pub pages: Vec<PageSummary>,
    pub next: Option<Cursor>,
}

/// Reads of one listing call (a scan may return fewer items than asked).
const MAX_LIST_READS: usize = 10;
/// Pages a scoped caller's listing looks up in one call.
const MAX_SCOPED_LOOKUPS: usize = 200;

impl BroadcastStore {
    /// What is stored about `page` that is safe to show (registered or only
    /// seen by ingest); `None` when nothing is.
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when the read fails.
    pub async fn page_summary(&self, page: &PageId) -> Result<Option<PageSummary>, StoreError> {
        let item = get_item(&self.ddb, &self.tables.pages, page_pk(page), None).await?;
        Ok(item.as_ref().and_then(summary_from_item))
    }

    /// Up to `limit` pages after `cursor`: every page when `only` is `None`
    /// (in the table's order), else those of `only` that have an item, in
    /// page-id order. Both kinds of cursor are the page's key
    /// (`{"pk":"PAGE#…"}`), as the other listings' cursors are their keys.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`]`("cursor")` when the cursor is not a pages
    /// listing's; [`StoreError::Dynamo`] when a read fails.
    pub async fn list_pages(
        &self,
        only: Option<&BTreeSet<PageId>>,
        cursor: Option<Cursor>,
        limit: usize,
    ) -> Result<PageList, StoreError> {
        let after = match &cursor {
            None => None,
            Some(c) => {
                let pk = c.attr("pk").filter(|pk| c.0.len() == 1 && pk.starts_with("PAGE#"));
                Some(pk.ok_or(StoreError::Corrupt("cursor"))?.to_string())
            }
        };
        match only {
            None => self.scan_pages(cursor, limit).await,
            Some(pages) => self.look_up_pages(pages, after.as_deref(), limit).await,
        }
    }

    async fn scan_pages(&self, cursor: Option<Cursor>, limit: usize) -> Result<PageList, StoreError> {
        let mut start = cursor.map(|c| c.0);
        let mut pages = Vec::new();
        for _ in 0..MAX_LIST_READS {
            let want = limit.saturating_sub(pages.len()).max(1);
            let out = self
                .ddb
                .scan()
                .table_name(&self.tables.pages)
                .set_exclusive_start_key(start.take())
                .limit(want as i32)
                .send()
                .await
                .map_err(StoreError::dynamo)?;
            pages.extend(out.items().iter().filter_map(summary_from_item));
            start = out.last_evaluated_key().filter(|k| !k.is_empty()).cloned();
            if start.is_none() || pages.len() >= limit {
                break;
            }
        }
        Ok(PageList {
            pages,
            next: start.map(Cursor),
        })
    }

    async fn look_up_pages(
        &self,
        only: &BTreeSet<PageId>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<PageList, StoreError> {
        let mut pages = Vec::new();
        let mut last = None;
        // In key order (`PAGE#<id>` as text), the order a cursor names.
        let mut rest: Vec<String> = only.iter().map(page_pk).collect();
        rest.sort();
        rest.retain(|pk| after.is_none_or(|a| pk.as_str() > a));
        for (i, pk) in rest.iter().enumerate() {
            if pages.len() >= limit || i >= MAX_SCOPED_LOOKUPS {
                break;
            }
            let item = get_item(&self.ddb, &self.tables.pages, pk.clone(), None).await?;
            pages.extend(item.as_ref().and_then(summary_from_item));
            last = (i + 1 < rest.len()).then(|| pk.clone());
        }
        let next = last.map(|pk| Cursor([("pk".to_string(), s(pk))].into_iter().collect()));
        Ok(PageList { pages, next })
    }
}
