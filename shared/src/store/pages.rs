//! Pages: registered ones (token sealed) and those ingest has only seen
//! (no token), which the retention sweep must visit too.

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;

use super::item::{get_item, n, n_or_zero, opt_s, s, Item};
use super::keys::page_pk;
use super::{BroadcastStore, Store, StoreError};
use crate::ids::PageId;
use crate::page::Page;

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
    /// Registers (or replaces) a page: its sealed token, wrapped data key,
    /// retention (days) and region.
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a DynamoDB call fails ([`StoreError::is_retryable`]
    /// says whether to try again).
    pub async fn put_page(&self, page: &Page) -> Result<(), StoreError> {
        let mut item = Item::new();
        item.insert("pk".into(), s(page_pk(&page.page_id)));
        item.insert("page_id".into(), s(page.page_id.as_str()));
        item.insert("token".into(), AttributeValue::B(Blob::new(page.sealed_token.clone())));
        item.insert("data_key".into(), AttributeValue::B(Blob::new(page.data_key.clone())));
        item.insert("retention_days".into(), n(page.retention_days));
        if let Some(r) = &page.region {
            item.insert("region".into(), s(r));
        }
        if let Some(p) = &page.protection {
            item.insert("protect_max_negative_rate".into(), n(p.max_negative_rate));
            item.insert("protect_min_sends".into(), n(p.min_sends));
        }
        item.insert("updated_at_ms".into(), n(page.updated_at_ms));
        self.ddb
            .put_item()
            .table_name(&self.tables.pages)
            .set_item(Some(item))
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

/// A page's stored protection thresholds, if it chose its own (and they are valid).
fn protection_from_item(item: &Item) -> Option<crate::outcomes::Protection> {
    let rate = item.get("protect_max_negative_rate")?.as_n().ok()?.parse().ok()?;
    crate::outcomes::Protection::new(rate, n_or_zero(item, "protect_min_sends")).ok()
}
