//! A subject's records read page by page, typed (the export streams them):
//! consent-log entries, stored messages (still sealed) and the delivery
//! records naming them. Pages are bounded so memory stays bounded however
//! long the history.

use super::item::{base_key, opt_b, opt_n, opt_s, Item};
use super::keys::{subject_pk, SUBJECT_INDEX};
use super::{Cursor, Store, StoreError};
use crate::ids::{PageId, Psid};
use crate::lead::ConsentEntry;

/// Records per page.
const PAGE_SIZE: i32 = 100;

/// One page of records and where the next starts (`None`: that was the last).
#[derive(Debug, Clone)]
pub struct RecordPage<T> {
    pub records: Vec<T>,
    pub next: Option<Cursor>,
}

/// A stored message as read back, its body still sealed under the subject's
/// data key (the event key is the sealing context).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord {
    /// Event time (ms), as stored.
    pub at_ms: Option<i64>,
    pub direction: Option<String>,
    pub kind: Option<String>,
    /// The event key (the mid as a key part), from the record's sort key.
    pub event_key: String,
    pub sealed_body: Vec<u8>,
}

/// A delivery record naming the subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub broadcast_id: String,
    /// As stored (`claimed`, `sent`, `skipped_unsubscribed`, …).
    pub state: Option<String>,
    pub at_ms: Option<i64>,
    pub message_id: Option<String>,
    /// Why it was skipped or failed (a code, see the README's list).
    pub reason: Option<String>,
    /// When Meta took it, and the receipts and unsubscribe attributed to
    /// it (ms), as the recipients route shows them.
    pub sent_at_ms: Option<i64>,
    pub delivered_at_ms: Option<i64>,
    pub read_at_ms: Option<i64>,
    pub unsubscribed_at_ms: Option<i64>,
}

impl Store {
    async fn records_page(
        &self,
        table: &str,
        index: Option<&str>,
        attr: &str,
        value: &str,
        start: Option<Cursor>,
    ) -> Result<(Vec<Item>, Option<Cursor>), StoreError> {
        let (items, next) = self
            .query_partition(table, index, attr, value, start.map(|c| c.0), Some(PAGE_SIZE), None)
            .await?;
        Ok((items, next.map(Cursor)))
    }

    /// A page of the subject's consent log, oldest first, after `start`.
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when the query fails.
    pub async fn consent_page(
        &self,
        page: &PageId,
        psid: &Psid,
        start: Option<Cursor>,
    ) -> Result<RecordPage<ConsentEntry>, StoreError> {
        let pk = subject_pk(page, psid);
        let (items, next) = self
            .records_page(&self.tables.consent_log, None, "pk", &pk, start)
            .await?;
        Ok(RecordPage {
            records: items.iter().map(consent_entry).collect(),
            next,
        })
    }

    /// A page of the subject's stored messages, oldest first, after `start`.
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when the query fails.
    pub async fn messages_page(
        &self,
        page: &PageId,
        psid: &Psid,
        start: Option<Cursor>,
    ) -> Result<RecordPage<MessageRecord>, StoreError> {
        let pk = subject_pk(page, psid);
        let (items, next) = self.records_page(&self.tables.messages, None, "pk", &pk, start).await?;
        let records = items
            .iter()
            .map(|item| {
                let sk = opt_s(item, "sk").unwrap_or_default();
                // `MSG#<time>#<event key>`: the event key is the sealing context.
                let event_key = sk.splitn(3, '#').nth(2).unwrap_or_default().to_string();
                MessageRecord {
                    at_ms: opt_n(item, "at_ms"),
                    direction: opt_s(item, "direction"),
                    kind: opt_s(item, "kind"),
                    event_key,
                    sealed_body: opt_b(item, "body").unwrap_or_default(),
                }
            })
            .collect();
        Ok(RecordPage { records, next })
    }

    /// A page of the delivery records naming the subject in `deliveries`
    /// (its `by_subject` index), after `start`.
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when the query fails.
    pub async fn deliveries_page(
        &self,
        deliveries: &str,
        page: &PageId,
        psid: &Psid,
        start: Option<Cursor>,
    ) -> Result<RecordPage<DeliveryRecord>, StoreError> {
        let pk = subject_pk(page, psid);
        let (listed, next) = self
            .records_page(deliveries, Some(SUBJECT_INDEX), "subject_pk", &pk, start)
            .await?;
        // The index projects the state and message id only: each record is
        // read whole by its key (one BatchGetItem a page of 100), in the
        // index's order; one gone since it was listed is left out.
        let whole = super::batch::get_keys(&self.ddb, deliveries, listed.iter().map(base_key).collect()).await?;
        let key_of = |i: &Item| (opt_s(i, "pk"), opt_s(i, "sk"));
        let whole: std::collections::HashMap<_, _> = whole.into_iter().map(|i| (key_of(&i), i)).collect();
        let items: Vec<&Item> = listed.iter().filter_map(|i| whole.get(&key_of(i))).collect();
        let records = items
            .into_iter()
            .map(|item| {
                let broadcast = opt_s(item, "pk").unwrap_or_default();
                DeliveryRecord {
                    broadcast_id: broadcast.strip_prefix("BCAST#").unwrap_or(&broadcast).to_string(),
                    state: opt_s(item, "state"),
                    at_ms: opt_n(item, "at_ms"),
                    message_id: opt_s(item, "message_id"),
                    reason: opt_s(item, "reason"),
                    sent_at_ms: opt_n(item, "sent_at_ms"),
                    delivered_at_ms: opt_n(item, "delivered_at_ms"),
                    read_at_ms: opt_n(item, "read_at_ms"),
                    unsubscribed_at_ms: opt_n(item, "unsubscribed_at_ms"),
                }
            })
            .collect();
        Ok(RecordPage { records, next })
    }
}

/// A consent-log item, typed.
pub(crate) fn consent_entry(i: &Item) -> ConsentEntry {
    ConsentEntry {
        at_ms: opt_n(i, "at_ms"),
        from: opt_s(i, "from"),
        to: opt_s(i, "to"),
        reason: opt_s(i, "reason"),
        event_key: opt_s(i, "event_key"),
        event_sha256: opt_s(i, "event_sha256"),
        delivery_sha256: opt_s(i, "delivery_sha256"),
    }
}
