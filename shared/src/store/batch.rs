//! Batch reads and deletes: `BatchGetItem` (up to 100 keys a call) and
//! `BatchWriteItem` (25 keys a call), with what DynamoDB leaves unprocessed
//! sent again (the sweep and erasure delete this way: one write unit a key,
//! half what a transaction costs).

use aws_sdk_dynamodb::types::{DeleteRequest, KeysAndAttributes, WriteRequest};

use super::item::Item;
use super::StoreError;

/// Tries of one `BatchWriteItem` while DynamoDB leaves items unprocessed.
const UNPROCESSED_ATTEMPTS: u32 = 10;

/// Reads up to 100 items of `table` by key in one strongly consistent
/// `BatchGetItem`, reading again what DynamoDB leaves unprocessed; items
/// not found are simply absent from the answer (in no particular order).
///
/// # Errors
/// [`StoreError::Dynamo`] when a call fails, or (retryable) when keys are
/// still unprocessed after the last try; [`StoreError::Corrupt`] for more
/// than 100 keys.
pub async fn get_keys(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    mut keys: Vec<Item>,
) -> Result<Vec<Item>, StoreError> {
    if keys.len() > 100 {
        return Err(StoreError::Corrupt("more than 100 keys in one BatchGetItem"));
    }
    let mut items = Vec::new();
    let mut backoff_ms = 20;
    for attempt in 0..UNPROCESSED_ATTEMPTS {
        if keys.is_empty() {
            return Ok(items);
        }
        if attempt > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(backoff_ms)).await;
            backoff_ms = (backoff_ms * 2).min(1000);
        }
        let request = KeysAndAttributes::builder()
            .set_keys(Some(std::mem::take(&mut keys)))
            .consistent_read(true)
            .build()
            .map_err(|_| StoreError::Corrupt("keys"))?;
        let out = ddb
            .batch_get_item()
            .request_items(table, request)
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        if let Some(found) = out.responses().and_then(|r| r.get(table)) {
            items.extend(found.iter().cloned());
        }
        if let Some(left) = out.unprocessed_keys().and_then(|u| u.get(table)) {
            keys = left.keys().to_vec();
        }
    }
    if keys.is_empty() {
        Ok(items)
    } else {
        Err(StoreError::exhausted("a batch read left keys unprocessed"))
    }
}

/// Deletes items by key with `BatchWriteItem`, 25 a call, retrying what
/// DynamoDB leaves unprocessed. Returns how many keys were given.
///
/// # Errors
/// [`StoreError::Dynamo`] when a call fails, or (retryable) when keys are
/// still unprocessed after the last try.
pub async fn delete_keys(ddb: &aws_sdk_dynamodb::Client, table: &str, keys: Vec<Item>) -> Result<u64, StoreError> {
    let total = keys.len() as u64;
    for chunk in keys.chunks(25) {
        let mut pending: Vec<WriteRequest> = chunk
            .iter()
            .map(|k| {
                DeleteRequest::builder()
                    .set_key(Some(k.clone()))
                    .build()
                    .map(|d| WriteRequest::builder().delete_request(d).build())
                    .map_err(|_| StoreError::Corrupt("delete request"))
            })
            .collect::<Result<_, _>>()?;
        let mut backoff_ms = 20;
        let mut attempt = 0;
        while !pending.is_empty() {
            attempt += 1;
            // A table that stays throttled fails the call (its caller is
            // retried: a sweep resumes from its checkpoint, an erasure from
            // its queue) rather than spinning until the function times out.
            if attempt > UNPROCESSED_ATTEMPTS {
                return Err(StoreError::exhausted(format!(
                    "{} delete(s) still unprocessed after {UNPROCESSED_ATTEMPTS} tries",
                    pending.len()
                )));
            }
            let out = ddb
                .batch_write_item()
                .request_items(table, pending)
                .send()
                .await
                .map_err(StoreError::dynamo)?;
            pending = out
                .unprocessed_items()
                .and_then(|u| u.get(table))
                .cloned()
                .unwrap_or_default();
            if !pending.is_empty() {
                tokio::time::sleep(std::time::Duration::from_millis(backoff_ms)).await;
                backoff_ms = (backoff_ms * 2).min(1000);
            }
        }
    }
    Ok(total)
}
