//! Item encoding helpers: attribute values in and out of DynamoDB items,
//! transaction puts, and conditional writes whose failed condition means
//! "nothing to do".

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};

use super::StoreError;

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
pub(crate) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}
pub(crate) fn b(v: &[u8]) -> AttributeValue {
    AttributeValue::B(Blob::new(v))
}

pub type Item = HashMap<String, AttributeValue>;

pub(crate) fn get_s<'a>(item: &'a Item, k: &'static str) -> Result<&'a str, StoreError> {
    item.get(k)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or(StoreError::Corrupt(k))
}
pub(crate) fn get_n(item: &Item, k: &'static str) -> Result<i64, StoreError> {
    item.get(k)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or(StoreError::Corrupt(k))
}
pub(crate) fn opt_n(item: &Item, k: &'static str) -> Option<i64> {
    item.get(k).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok())
}
pub(crate) fn opt_s(item: &Item, k: &'static str) -> Option<String> {
    item.get(k).and_then(|v| v.as_s().ok()).cloned()
}
pub(crate) fn opt_b(item: &Item, k: &'static str) -> Option<Vec<u8>> {
    item.get(k).and_then(|v| v.as_b().ok()).map(|b| b.as_ref().to_vec())
}
/// A number attribute, 0 when absent or garbled (counters).
pub(crate) fn n_or_zero(item: &Item, k: &str) -> i64 {
    item.get(k)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The result of a conditional write whose failed condition means "nothing
/// to do" (already done, or not ours any more): only other errors count.
pub(crate) fn unless_condition_failed<T, E>(
    out: Result<T, aws_sdk_dynamodb::error::SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>>,
) -> Result<(), StoreError>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match out {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().and_then(|e| e.code()) == Some("ConditionalCheckFailedException") => Ok(()),
        Err(e) => Err(StoreError::dynamo(e)),
    }
}

pub(crate) fn put(
    table: &str,
    item: Item,
    condition: Option<&str>,
    values: Vec<(&str, AttributeValue)>,
) -> Result<TransactWriteItem, StoreError> {
    let mut p = Put::builder().table_name(table).set_item(Some(item));
    if let Some(c) = condition {
        p = p.condition_expression(c);
    }
    for (k, v) in values {
        p = p.expression_attribute_values(k, v);
    }
    let p = p.build().map_err(|_| StoreError::Corrupt("transaction item"))?;
    Ok(TransactWriteItem::builder().put(p).build())
}

/// The base-table key (`pk`, and `sk` where the table has one) of an item.
pub fn base_key(item: &Item) -> Item {
    item.iter()
        .filter(|(k, _)| *k == "pk" || *k == "sk")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// One item by its key (`pk`, and `sk` where the table has one), read
/// strongly consistent.
pub(crate) async fn get_item(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    pk: String,
    sk: Option<String>,
) -> Result<Option<Item>, StoreError> {
    let mut request = ddb.get_item().table_name(table).key("pk", s(pk)).consistent_read(true);
    if let Some(sk) = sk {
        request = request.key("sk", s(sk));
    }
    Ok(request.send().await.map_err(StoreError::dynamo)?.item)
}
