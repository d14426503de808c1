//! Pages: registered ones (token sealed) and those ingest has only seen
//! (no token), which the retention sweep must visit too; connected, and
//! their settings changed field by field (listed in `page_list`).

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::item::{get_item, n, n_or_zero, opt_n, opt_s, s, Item};
use super::keys::page_pk;
use super::{BroadcastStore, Store, StoreError};
use crate::ids::PageId;
use crate::page::{Field, Page, PageChange, PageSettings};

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
    /// Connects a page or changes its settings, in one conditional
    /// `UpdateItem`: the `token` (sealed, with its wrapped data key) when
    /// given, and each field of `change` as it says (kept, cleared, set;
    /// a kept retention on a new page is `default_retention_days`). What
    /// the change leaves out is not written at all, so two changes at once
    /// never undo each other. Ingest's `first_seen_at_ms` survives;
    /// `connected_at_ms` is set the first time only. The settings after
    /// the change, or `None` (nothing written) when no token is given and
    /// the page has none: it must be connected with its token first.
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a DynamoDB call fails ([`StoreError::is_retryable`]
    /// says whether to try again).
    pub async fn change_page(
        &self,
        page: &PageId,
        token: Option<&SealedToken>,
        change: &PageChange<'_>,
        default_retention_days: u32,
        now_ms: i64,
    ) -> Result<Option<PageSettings>, StoreError> {
        let u = page_update(page, token, change, default_retention_days, now_ms);
        let mut update = self
            .ddb
            .update_item()
            .table_name(&self.tables.pages)
            .key("pk", s(page_pk(page)))
            .update_expression(u.expression)
            .set_expression_attribute_names(Some(u.names))
            .set_expression_attribute_values(Some(u.values))
            .return_values(ReturnValue::AllNew);
        if let Some(condition) = u.condition {
            update = update.condition_expression(condition);
        }
        let out = match update.send().await {
            Ok(out) => out,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                return Ok(None)
            }
            Err(e) => return Err(StoreError::dynamo(e)),
        };
        let item = out.attributes().cloned().unwrap_or_default();
        Ok(Some(PageSettings {
            retention_days: opt_n(&item, "retention_days")
                .and_then(|d| u32::try_from(d).ok())
                .unwrap_or(default_retention_days),
            region: opt_s(&item, "region"),
            protection: protection_from_item(&item),
        }))
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

/// A page's sealed access token and the wrapped data key it is sealed
/// under ([`crate::crypto::seal`], [`crate::crypto::page_token_aad`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SealedToken {
    pub sealed: Vec<u8>,
    pub data_key: Vec<u8>,
}

/// One `UpdateItem` of a page: its expression, names, values and
/// condition.
#[derive(Debug, PartialEq)]
struct PageUpdate {
    expression: String,
    names: std::collections::HashMap<String, String>,
    values: Item,
    condition: Option<&'static str>,
}

/// The update [`BroadcastStore::change_page`] sends: every attribute the
/// change mentions, and nothing it leaves out.
fn page_update(
    page: &PageId,
    token: Option<&SealedToken>,
    change: &PageChange<'_>,
    default_retention_days: u32,
    now_ms: i64,
) -> PageUpdate {
    let mut set = vec!["#pid = :p", "#upd = :upd", "#con = if_not_exists(#con, :upd)"];
    let mut remove = Vec::new();
    let mut values = Item::new();
    values.insert(":p".into(), s(page.as_str()));
    values.insert(":upd".into(), n(now_ms));
    let mut condition = None;
    match token {
        Some(t) => {
            set.extend(["#tok = :tok", "#key = :key"]);
            values.insert(":tok".into(), AttributeValue::B(Blob::new(t.sealed.clone())));
            values.insert(":key".into(), AttributeValue::B(Blob::new(t.data_key.clone())));
        }
        // Settings alone change only a connected page.
        None => condition = Some("attribute_exists(#tok)"),
    }
    match change.retention_days {
        Field::Keep => {
            set.push("#ret = if_not_exists(#ret, :ret)");
            values.insert(":ret".into(), n(default_retention_days));
        }
        Field::Clear => {
            set.push("#ret = :ret");
            values.insert(":ret".into(), n(default_retention_days));
        }
        Field::Set(days) => {
            set.push("#ret = :ret");
            values.insert(":ret".into(), n(days));
        }
    }
    match change.region {
        Field::Keep => {}
        Field::Clear => remove.push("#reg"),
        Field::Set(r) => {
            set.push("#reg = :reg");
            values.insert(":reg".into(), s(r));
        }
    }
    match change.protection {
        Field::Keep => {}
        Field::Clear => remove.extend(["#rate", "#min"]),
        Field::Set(p) => {
            set.extend(["#rate = :rate", "#min = :min"]);
            values.insert(":rate".into(), n(p.max_negative_rate));
            values.insert(":min".into(), n(p.min_sends));
        }
    }
    let mut expression = format!("SET {}", set.join(", "));
    if !remove.is_empty() {
        expression += &format!(" REMOVE {}", remove.join(", "));
    }
    // Only the names the expression and condition use (DynamoDB refuses others).
    let names = [
        ("#pid", "page_id"),
        ("#upd", "updated_at_ms"),
        ("#con", "connected_at_ms"),
        ("#tok", "token"),
        ("#key", "data_key"),
        ("#ret", "retention_days"),
        ("#reg", "region"),
        ("#rate", "protect_max_negative_rate"),
        ("#min", "protect_min_sends"),
    ]
    .into_iter()
    .filter(|(k, _)| expression.contains(k) || condition.is_some_and(|c| c.contains(k)))
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    PageUpdate {
        expression,
        names,
        values,
        condition,
    }
}

/// A page's stored protection thresholds, if it chose its own (and they are valid).
pub(super) fn protection_from_item(item: &Item) -> Option<crate::outcomes::Protection> {
    let rate = item.get("protect_max_negative_rate")?.as_n().ok()?.parse().ok()?;
    crate::outcomes::Protection::new(rate, n_or_zero(item, "protect_min_sends")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcomes::Protection;

    fn update(token: bool, change: PageChange<'_>) -> PageUpdate {
        let t = SealedToken {
            sealed: vec![1],
            data_key: vec![2],
        };
        page_update(&PageId::parse("1").unwrap(), token.then_some(&t), &change, 730, 5)
    }

    #[test]
    fn a_change_writes_only_what_it_mentions() {
        let u = update(
            false,
            PageChange {
                protection: Field::Set(Protection::new(0.02, 200).unwrap()),
                ..PageChange::default()
            },
        );
        assert_eq!(
            u.expression,
            "SET #pid = :p, #upd = :upd, #con = if_not_exists(#con, :upd), \
             #ret = if_not_exists(#ret, :ret), #rate = :rate, #min = :min"
        );
        assert!(!u.names.contains_key("#reg"), "the region is not touched: {u:?}");
        assert!(!u.expression.contains("#tok = "), "nor the token");
        assert_eq!(u.condition, Some("attribute_exists(#tok)"), "a connected page only");
        assert_eq!(u.names["#tok"], "token");
    }

    #[test]
    fn null_removes_the_region_and_protection_and_resets_retention() {
        let u = update(
            true,
            PageChange {
                retention_days: Field::Clear,
                region: Field::Clear,
                protection: Field::Clear,
            },
        );
        assert_eq!(
            u.expression,
            "SET #pid = :p, #upd = :upd, #con = if_not_exists(#con, :upd), #tok = :tok, #key = :key, \
             #ret = :ret REMOVE #reg, #rate, #min"
        );
        assert_eq!(u.values[":ret"], n(730));
        assert_eq!(u.condition, None, "a token connects a new page");
    }

    #[test]
    fn a_value_is_set() {
        let u = update(
            true,
            PageChange {
                retention_days: Field::Set(90),
                region: Field::Set("EU"),
                protection: Field::Keep,
            },
        );
        assert!(u.expression.ends_with("#ret = :ret, #reg = :reg"), "{}", u.expression);
        assert_eq!((u.values[":ret"].clone(), u.values[":reg"].clone()), (n(90), s("EU")));
    }
}
