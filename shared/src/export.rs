//! Export of everything held on one subject (portability): consent state and
//! history, messages decrypted, and the broadcasts delivered to them, as one
//! JSON document. It is written record by record while the tables are read
//! page by page, so no step holds more than one page of a long history.

use std::io::Write;

use serde_json::{json, Value};

use crate::crypto::{self, field_aad, CryptoError, KeyRing};
use crate::erasure::SUBJECT_INDEX;
use crate::ids::{PageId, Psid};
use crate::store::{dynamo, opt_b, opt_n, opt_s, s, subject_pk, Item, Store, StoreError};

const PAGE_SIZE: i32 = 100;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("writing the export failed: {0}")]
    Write(#[from] std::io::Error),
}

/// Writes the subject's export to `out`. Returns false (and writes nothing)
/// when nothing is held on them.
pub async fn write_export(
    store: &Store,
    deliveries_table: &str,
    keys: &KeyRing,
    page: &PageId,
    psid: &Psid,
    now_ms: i64,
    out: &mut impl Write,
) -> Result<bool, ExportError> {
    let Some(sub) = store.subscriber(page, psid).await? else {
        return Ok(false);
    };
    let key = keys
        .unwrap(&sub.data_key, &crypto::subject_key_context(page, psid))
        .await?;
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
        out,
        "{{\"page_id\":{},\"psid\":{},\"exported_at_ms\":{now_ms},\"subscriber\":{subscriber},",
        Value::from(page.as_str()),
        Value::from(psid.as_str())
    )?;
    let pk = subject_pk(page, psid);

    out.write_all(b"\"consent_history\":[")?;
    let mut first = true;
    for_each_page(store, &store.tables.consent_log, None, "pk", &pk, |item| {
        let record = json!({
            "at_ms": opt_n(item, "at_ms"), "from": opt_s(item, "from"), "to": opt_s(item, "to"),
            "reason": opt_s(item, "reason"),
            "proof": {"event_key": opt_s(item, "event_key"), "event_sha256": opt_s(item, "event_sha256"),
                      "delivery_sha256": opt_s(item, "delivery_sha256")},
        });
        write_element(out, &mut first, &record)
    })
    .await?;

    out.write_all(b"],\"messages\":[")?;
    let mut first = true;
    for_each_page(store, &store.tables.messages, None, "pk", &pk, |item| {
        let sk = opt_s(item, "sk").unwrap_or_default();
        // `MSG#<time>#<event key>`: the event key is the sealing context.
        let event_key = sk.splitn(3, '#').nth(2).unwrap_or_default();
        let sealed = opt_b(item, "body").unwrap_or_default();
        let body = crypto::open(&key, &field_aad("message", page, psid, event_key), &sealed)?;
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let record = json!({
            "at_ms": opt_n(item, "at_ms"), "direction": opt_s(item, "direction"),
            "kind": opt_s(item, "kind"), "event_key": event_key, "body": body,
        });
        write_element(out, &mut first, &record)
    })
    .await?;

    out.write_all(b"],\"deliveries\":[")?;
    let mut first = true;
    for_each_page(
        store,
        deliveries_table,
        Some(SUBJECT_INDEX),
        "subject_pk",
        &pk,
        |item| {
            let broadcast = opt_s(item, "pk").unwrap_or_default();
            let record = json!({
                "broadcast_id": broadcast.strip_prefix("BC#").unwrap_or(&broadcast),
                "state": opt_s(item, "state"), "at_ms": opt_n(item, "at_ms"),
                "message_id": opt_s(item, "message_id"),
            });
            write_element(out, &mut first, &record)
        },
    )
    .await?;
    out.write_all(b"]}")?;
    Ok(true)
}

fn write_element(out: &mut impl Write, first: &mut bool, value: &Value) -> Result<(), ExportError> {
    if !*first {
        out.write_all(b",")?;
    }
    *first = false;
    serde_json::to_writer(&mut *out, value).map_err(std::io::Error::from)?;
    Ok(())
}

/// Reads a partition page by page, handing each item to `f`.
async fn for_each_page(
    store: &Store,
    table: &str,
    index: Option<&str>,
    attr: &str,
    value: &str,
    mut f: impl FnMut(&Item) -> Result<(), ExportError>,
) -> Result<(), ExportError> {
    let mut start = None;
    loop {
        let out = store
            .ddb
            .query()
            .table_name(table)
            .set_index_name(index.map(str::to_string))
            .key_condition_expression("#k = :v")
            .expression_attribute_names("#k", attr)
            .expression_attribute_values(":v", s(value))
            .set_consistent_read(index.is_none().then_some(true))
            .set_exclusive_start_key(start)
            .limit(PAGE_SIZE)
            .send()
            .await
            .map_err(dynamo)?;
        for item in out.items() {
            f(item)?;
        }
        match out.last_evaluated_key() {
            Some(k) if !k.is_empty() => start = Some(k.clone()),
            _ => return Ok(()),
        }
    }
}
