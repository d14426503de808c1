//! Pages: registered ones (token sealed) and those ingest has only seen
//! (no token), which the retention sweep must visit too; both listed for
//! the API (`GET /v1/pages`) without their secrets.

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;

use std::collections::BTreeSet;

use super::item::{get_item, n, n_or_zero, opt_n, opt_s, s, Item};
use super::keys::page_pk;
use super::{BroadcastStore, Cursor, Store, StoreError};
use crate::ids::PageId;
use crate::page::{Page, PageSummary};

impl Store {
    /// Records that data of `page` exists (idempotent; keeps the first time).
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a DynamoDB call fails ([`StoreError::is_retryable`]
    /// says whether to try again).
    pub async fn note_page(&self, page: &PageId, now_ms: i64) -> Result<(), StoreError> {
        self.ddb
            .update_item()
            .table_name(&self.tables.pages)
            .key("pk", s(page_pk(page)))
            .update_expression("SET page_id = :p, first_seen_at_ms = if_not_exists(first_seen_at_ms, :t)")
            .expression_attribute_values(":p", s(page.as_str()))
            .expression_attribute_values(":t", n(now_ms))
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        Ok(())
    }
}

impl BroadcastStore {
    /// Registers a page or replaces its settings: its sealed token, wrapped
    /// data key, retention (days), region and protection, as `page` holds
    /// them (a region or protection it lacks is removed: the caller merged
    /// what was stored, [`crate::page::PageChange::apply`]). An update, so
    /// ingest's `first_seen_at_ms` survives; `connected_at_ms` is set the
    /// first time only.
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a DynamoDB call fails ([`StoreError::is_retryable`]
    /// says whether to try again).
    pub async fn put_page(&self, page: &Page) -> Result<(), StoreError> {
        let mut set = vec![
            "#pid = :p",
            "#tok = :tok",
            "#key = :key",
            "#ret = :ret",
            "#upd = :upd",
            "#con = if_not_exists(#con, :upd)",
        ];
        let mut remove = Vec::new();
        let mut update = self
            .ddb
            .update_item()
            .table_name(&self.tables.pages)
            .key("pk", s(page_pk(&page.page_id)))
            .expression_attribute_names("#pid", "page_id")
            .expression_attribute_names("#tok", "token")
            .expression_attribute_names("#key", "data_key")
            .expression_attribute_names("#ret", "retention_days")
            .expression_attribute_names("#upd", "updated_at_ms")
            .expression_attribute_names("#con", "connected_at_ms")
            .expression_attribute_names("#reg", "region")
            .expression_attribute_names("#rate", "protect_max_negative_rate")
            .expression_attribute_names("#min", "protect_min_sends")
            .expression_attribute_values(":p", s(page.page_id.as_str()))
            .expression_attribute_values(":tok", AttributeValue::B(Blob::new(page.sealed_token.clone())))
            .expression_attribute_values(":key", AttributeValue::B(Blob::new(page.data_key.clone())))
            .expression_attribute_values(":ret", n(page.retention_days))
            .expression_attribute_values(":upd", n(page.updated_at_ms));
        match &page.region {
            Some(r) => {
                set.push("#reg = :reg");
                update = update.expression_attribute_values(":reg", s(r));
            }
            None => remove.push("#reg"),
        }
        match &page.protection {
            Some(p) => {
                set.extend(["#rate = :rate", "#min = :min"]);
                update = update
                    .expression_attribute_values(":rate", n(p.max_negative_rate))
                    .expression_attribute_values(":min", n(p.min_sends));
            }
            None => remove.extend(["#rate", "#min"]),
        }
        let mut expression = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expression += &format!(" REMOVE {}", remove.join(", "));
        }
        update
            .update_expression(expression)
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        Ok(())
    }

    /// A registered page (`None` for pages ingest has only seen).
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a DynamoDB call fails ([`StoreError::is_retryable`]
    /// says whether to try again).
    pub async fn page(&self, page_id: &PageId) -> Result<Option<Page>, StoreError> {
        let item = get_item(&self.ddb, &self.tables.pages, page_pk(page_id), None).await?;
        // Ingest records pages it has seen (for the sweep) without a token:
        // those are not registered.
        let Some(item) = item.as_ref().filter(|i| i.contains_key("token")) else {
            return Ok(None);
        };
        let blob = |k: &'static str| {
            item.get(k)
                .and_then(|v| v.as_b().ok())
                .map(|b| b.as_ref().to_vec())
                .ok_or(StoreError::Corrupt(k))
        };
        Ok(Some(Page {
            page_id: page_id.clone(),
            sealed_token: blob("token")?,
            data_key: blob("data_key")?,
            retention_days: n_or_zero(item, "retention_days") as u32,
            region: opt_s(item, "region"),
            protection: protection_from_item(item),
            updated_at_ms: n_or_zero(item, "updated_at_ms"),
        }))
    }
}

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

/// A page's stored protection thresholds, if it chose its own (and they are valid).
fn protection_from_item(item: &Item) -> Option<crate::outcomes::Protection> {
    let rate = item.get("protect_max_negative_rate")?.as_n().ok()?.parse().ok()?;
    crate::outcomes::Protection::new(rate, n_or_zero(item, "protect_min_sends")).ok()
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
