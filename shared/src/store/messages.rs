//! A lead's stored messages: written with the event that brought them,
//! replaced by an edit, deleted by an unsend. Items live in the subject's
//! partition under `MSG#<at_ms, 13 digits>#<event key>`.

use aws_sdk_dynamodb::types::{Delete, TransactWriteItem};

use super::item::{b, n, opt_n, put, s, Item};
use super::keys::{age_pk, subject_pk};
use super::{Store, StoreError};
use crate::ids::{PageId, Psid};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// The event key (the mid as a key part, see [`crate::ids::Mid::key`]).
    pub key: String,
    pub at_ms: i64,
    pub direction: &'static str,
    pub kind: &'static str,
    /// The body (JSON), sealed under the subject's data key.
    pub sealed_body: Vec<u8>,
    /// How many attachments (Meta URLs inside the sealed body) it carries.
    pub attachments: u32,
    /// How many edits the stored text includes (0: as first sent).
    pub num_edit: u64,
    pub expires_at_s: i64,
}

/// What an event does to the lead's stored messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageWrite {
    /// A new message, stored under its own time and key.
    Put(StoredMessage),
    /// An edit: the message stored under `sk` gets the new sealed body.
    Replace { sk: String, message: StoredMessage },
    /// An unsend: the message stored under `sk` is deleted.
    Delete { sk: String },
}

/// A stored message found by its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundMessage {
    pub sk: String,
    /// Its time as stored (ms).
    pub at_ms: i64,
    /// How many edits its stored text includes.
    pub num_edit: u64,
}

fn message_sk(at_ms: i64, key: &str) -> String {
    format!("MSG#{:013}#{key}", at_ms.max(0))
}

/// The sort key below which a subject's messages are dated before `at_ms`
/// (their keys sort by time: [`message_sk`]).
pub(crate) fn messages_dated_before(at_ms: i64) -> String {
    message_sk(at_ms, "")
}

fn message_item(page: &PageId, pk: &str, sk: String, msg: &StoredMessage) -> Item {
    let mut item = Item::new();
    item.insert("pk".into(), s(pk));
    item.insert("sk".into(), s(sk));
    item.insert("age_pk".into(), s(age_pk(page, &msg.key)));
    item.insert("attachments".into(), n(msg.attachments));
    item.insert("direction".into(), s(msg.direction));
    item.insert("kind".into(), s(msg.kind));
    item.insert("at_ms".into(), n(msg.at_ms));
    item.insert("body".into(), b(&msg.sealed_body));
    item.insert("expires_at".into(), n(msg.expires_at_s));
    if msg.num_edit > 0 {
        item.insert("num_edit".into(), n(msg.num_edit));
    }
    item
}

/// The transaction item for `write` in the subject partition `pk`.
pub(super) fn transact_item(
    table: &str,
    page: &PageId,
    pk: &str,
    write: &MessageWrite,
) -> Result<TransactWriteItem, StoreError> {
    match write {
        MessageWrite::Put(msg) => put(
            table,
            message_item(page, pk, message_sk(msg.at_ms, &msg.key), msg),
            None,
            Vec::new(),
        ),
        MessageWrite::Replace { sk, message } => {
            put(table, message_item(page, pk, sk.clone(), message), None, Vec::new())
        }
        MessageWrite::Delete { sk } => {
            let delete = Delete::builder()
                .table_name(table)
                .key("pk", s(pk))
                .key("sk", s(sk))
                .build()
                .map_err(|_| StoreError::Corrupt("transaction item"))?;
            Ok(TransactWriteItem::builder().delete(delete).build())
        }
    }
}

impl Store {
    /// The lead's stored message with event key `key`, searched newest first
    /// from `before_ms` (edits and unsends come after the message they name,
    /// so the search usually ends on the first page).
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a query fails.
    pub async fn find_message(
        &self,
        page: &PageId,
        psid: &Psid,
        key: &str,
        before_ms: i64,
    ) -> Result<Option<FoundMessage>, StoreError> {
        let suffix = format!("#{key}");
        let mut start = None;
        loop {
            let out = self
                .ddb
                .query()
                .table_name(&self.tables.messages)
                .key_condition_expression("pk = :pk AND sk BETWEEN :lo AND :hi")
                .expression_attribute_values(":pk", s(subject_pk(page, psid)))
                .expression_attribute_values(":lo", s("MSG#"))
                .expression_attribute_values(":hi", s(format!("MSG#{:013}~", before_ms.max(0))))
                .projection_expression("sk, at_ms, num_edit")
                .scan_index_forward(false)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(StoreError::dynamo)?;
            let found = out.items().iter().find_map(|item| {
                let sk = item.get("sk")?.as_s().ok()?;
                sk.ends_with(&suffix).then(|| FoundMessage {
                    sk: sk.clone(),
                    at_ms: opt_n(item, "at_ms").unwrap_or(0),
                    num_edit: opt_n(item, "num_edit").unwrap_or(0) as u64,
                })
            });
            if found.is_some() {
                return Ok(found);
            }
            match out.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(None),
            }
        }
    }
}
