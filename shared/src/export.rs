//! Export of everything held on one subject (portability): consent state and
//! history, messages decrypted, and the broadcasts delivered to them, as one
//! JSON document. It is written record by record while the tables are read
//! page by page into an [`ExportSink`], which streams anything larger than a
//! part to S3 as a multipart upload: memory stays bounded by one part however
//! long the history, and a document too big for one Lambda response is handed
//! out as a short-lived presigned link instead.

use std::io::Write;

use serde_json::{json, Value};

use crate::crypto::{self, field_aad, CryptoError, KeyRing};
use crate::ids::{PageId, Psid};
use crate::store::{Cursor, RecordPage, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("writing the export failed: {0}")]
    Write(#[from] std::io::Error),
    #[error("storing the export failed: {0}")]
    S3(String),
}

mod sink;
pub use sink::{ExportSink, MIN_PART_BYTES};

fn s3_err(e: impl std::fmt::Display) -> ExportError {
    ExportError::S3(e.to_string())
}

/// Where a finished export is.
#[derive(Debug)]
pub enum Finished {
    /// Small enough to answer with.
    Inline(Vec<u8>),
    /// Stored in S3 (SSE-KMS, expired by the bucket's lifecycle), as its
    /// `version_id` when the bucket keeps versions.
    Stored {
        key: String,
        bytes: u64,
        version_id: Option<String>,
    },
}

/// The S3 location of exports about one subject (erasure deletes it).
pub fn subject_prefix(page: &PageId, psid: &Psid) -> String {
    subject_prefix_of(page, &crypto::subject_digest(page, psid))
}

/// [`subject_prefix`] of a subject named by `pseudonym` (any key's).
pub fn subject_prefix_of(page: &PageId, pseudonym: &str) -> String {
    format!("exports/{page}/{pseudonym}/")
}

/// The lead an export was read from. An erasure that lands while the
/// export is written (after its reads, before its document is stored)
/// cannot delete a document not yet stored: [`still_held`] tells the
/// caller to discard it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedLead {
    generation: Option<String>,
    created_at_ms: i64,
}

impl ExportedLead {
    fn of(sub: &crate::lead::Subscriber) -> Self {
        Self {
            generation: sub.generation.clone(),
            created_at_ms: sub.created_at_ms,
        }
    }
}

/// Whether the lead `lead` an export read is still held: not erased since
/// (nor erased and begun again by a new message).
///
/// # Errors
/// [`StoreError`] when DynamoDB fails.
pub async fn still_held(store: &Store, page: &PageId, psid: &Psid, lead: &ExportedLead) -> Result<bool, StoreError> {
    Ok(store
        .subscriber(page, psid)
        .await?
        .as_ref()
        .map(ExportedLead::of)
        .as_ref()
        == Some(lead))
}

/// Deletes a stored export document (its version, so nothing of it stays
/// in a versioned bucket).
///
/// # Errors
/// [`ExportError::S3`] when S3 refuses.
pub async fn discard(
    s3: &crate::config::S3,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
) -> Result<(), ExportError> {
    s3.delete_object()
        .bucket(bucket)
        .key(key)
        .set_version_id(version_id.map(str::to_string))
        .send()
        .await
        .map_err(|e| s3_err(aws_sdk_s3::error::DisplayErrorContext(e)))?;
    Ok(())
}

/// Writes the subject's export to `out`; the lead it was read from, or
/// `None` (and nothing written) when nothing is held on them.
///
/// # Errors
/// [`ExportError`] when a read, a decryption or the upload fails.
pub async fn write_export(
    store: &Store,
    deliveries_table: &str,
    keys: &KeyRing,
    page: &PageId,
    psid: &Psid,
    now_ms: i64,
    sink: &mut ExportSink,
) -> Result<Option<ExportedLead>, ExportError> {
    let Some(sub) = store.subscriber(page, psid).await? else {
        return Ok(None);
    };
    let key = keys.unwrap_subject(&sub.data_key, page, psid).await?;
    // What is dated up to an erasure that ended the person's earlier lead
    // belongs to that lead: sealed under its key, which is gone, and being
    // deleted still (a purge's hand-over waiting for the eraser). Not this
    // lead's data: left out, not a failed export.
    let erased_past =
        |at_ms: Option<i64>| matches!((sub.prior_erasure_at_ms, at_ms), (Some(erased), Some(at)) if at <= erased);
    let marketing = match &sub.marketing {
        // The token itself is a credential of the page: held, never handed out.
        Some(m) => {
            json!({
                "token_held": true,
                "stopped": m.stopped,
                "expires_at_ms": m.expires_at_ms,
                "timezone": m.timezone,
            })
        }
        None => Value::Null,
    };
    let subscriber = json!({
        "status": sub.status.as_str(),
        "platform": format!("{:?}", sub.platform).to_lowercase(),
        "consent_changed_at_ms": sub.consent_changed_at_ms,
        "opted_in": sub.opted_in.as_ref().map(|p| json!({
            "event_key": p.event_key, "event_time_ms": p.event_time_ms,
            "event_sha256": p.event_sha256, "delivery_sha256": p.delivery_sha256,
        })),
        "last_inbound_at_ms": sub.last_inbound_at_ms,
        "tags": sub.tags,
        "marketing_messages": marketing,
        "last_marketing_sent_at_ms": sub.last_marketing_sent_at_ms,
        "created_at_ms": sub.created_at_ms,
    });
    write!(
        sink.writer(),
        "{{\"page_id\":{},\"psid\":{},\"exported_at_ms\":{now_ms},\"subscriber\":{subscriber},",
        Value::from(page.as_str()),
        Value::from(psid.as_str())
    )?;
    sink.writer().write_all(b"\"consent_history\":[")?;
    let mut first = true;
    for_each_page(
        sink,
        |start| store.consent_page(page, psid, start),
        |e, out| {
            if erased_past(e.at_ms) {
                return Ok(());
            }
            let record = json!({
                "at_ms": e.at_ms, "from": e.from, "to": e.to,
                "reason": e.reason,
                "proof": {"event_key": e.event_key, "event_sha256": e.event_sha256,
                          "delivery_sha256": e.delivery_sha256},
            });
            write_element(out, &mut first, &record)
        },
    )
    .await?;

    sink.writer().write_all(b"],\"messages\":[")?;
    let mut first = true;
    for_each_page(
        sink,
        |start| store.messages_page(page, psid, start),
        |m, out| {
            if erased_past(m.at_ms) {
                return Ok(());
            }
            let body = crypto::open(&key, &field_aad("message", page, psid, &m.event_key), &m.sealed_body)?;
            let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let record = json!({
                "at_ms": m.at_ms, "direction": m.direction,
                "kind": m.kind, "event_key": m.event_key, "body": body,
            });
            write_element(out, &mut first, &record)
        },
    )
    .await?;

    sink.writer().write_all(b"],\"deliveries\":[")?;
    let mut first = true;
    for_each_page(
        sink,
        |start| store.deliveries_page(deliveries_table, page, psid, start),
        |d, out| {
            if erased_past(d.at_ms) {
                return Ok(());
            }
            // All the lead's delivery record holds (it listed four of its
            // fields: receipts, the reason and the unsubscribe were left
            // out of "everything held").
            let record = json!({
                "broadcast_id": d.broadcast_id,
                "state": d.state, "at_ms": d.at_ms,
                "message_id": d.message_id, "reason": d.reason,
                "sent_at_ms": d.sent_at_ms, "delivered_at_ms": d.delivered_at_ms,
                "read_at_ms": d.read_at_ms, "unsubscribed_at_ms": d.unsubscribed_at_ms,
            });
            write_element(out, &mut first, &record)
        },
    )
    .await?;
    sink.writer().write_all(b"]}")?;
    Ok(Some(ExportedLead::of(&sub)))
}

fn write_element(out: &mut impl Write, first: &mut bool, value: &Value) -> Result<(), ExportError> {
    if !*first {
        out.write_all(b",")?;
    }
    *first = false;
    serde_json::to_writer(&mut *out, value).map_err(std::io::Error::from)?;
    Ok(())
}

/// Reads records page by page (`fetch` gives the page after a cursor),
/// handing each to `f` with the sink's buffer, and lets the sink stream a
/// part out between pages.
async fn for_each_page<T, Fut>(
    sink: &mut ExportSink,
    mut fetch: impl FnMut(Option<Cursor>) -> Fut,
    mut f: impl FnMut(&T, &mut Vec<u8>) -> Result<(), ExportError>,
) -> Result<(), ExportError>
where
    Fut: std::future::Future<Output = Result<RecordPage<T>, StoreError>>,
{
    let mut start = None;
    loop {
        let page = fetch(start).await?;
        for record in &page.records {
            f(record, sink.writer())?;
        }
        sink.spill().await?;
        match page.next {
            Some(next) => start = Some(next),
            None => return Ok(()),
        }
    }
}
