//! DynamoDB storage: the one module that knows the schema. Functions ask it
//! for domain values ([`crate::lead::Subscriber`], [`crate::broadcast::Broadcast`],
//! [`crate::page::Page`]) and never build a key or an item themselves.
//!
//! - [`keys`]: every key format, index name and shard rule;
//! - `item`: attribute encoding helpers, conditional writes;
//! - `leads`: subscribers, subject keys and the consent log;
//! - `tombstones`: what an erasure leaves, written and read;
//! - `batch`: batch deletes, with unprocessed keys sent again;
//! - `erasure`: shredding a subject and deleting its records;
//! - `messages`: a lead's sealed messages;
//! - `tx`: one inbound event committed in one transaction (so it is applied
//!   completely once or not at all), and the conflict-retrying transaction
//!   of the sending side;
//! - `pages`: registered and seen pages, connected and changed field by
//!   field; `page_list`: listed and read for the API (never a secret);
//! - `records`: a subject's records read page by page, typed (export);
//! - `broadcasts`, `audience`, `deliveries`: sending (definition and lanes,
//!   the audience index read page by page, per-recipient records: claim,
//!   skip, completion, release);
//! - `send_leads`: what the sender writes on a lead (its marketing send,
//!   unreachable);
//! - `anonymise`: an erased lead's delivery records moved under their
//!   digest, so each of their jobs still counts once;
//! - `outcomes`: what sends did afterwards (a lead's recent sends, outcome
//!   counters and series, page protection's baseline);
//! - `release`: a claim given back when its send did not happen;
//! - `recipients`: one recipient's record read back (or its parked job);
//! - `control`: a page's broadcasts listed, resume;
//! - `planned`: a shard's page recorded by its checkpoint until it is
//!   sent (the planner's outbox);
//! - `parked`: a paused broadcast's parked jobs, and their settling (counted
//!   as they go) when erasure or the retention sweep deletes them;
//! - `roster`: a page's leads listed by status and tag, or read whole (the
//!   broadcast preview), tags added and removed;
//! - `privacy`: erasure requests and the audit trail (privacy table);
//! - [`sweep`]: what the retention sweep reads, deletes and checkpoints;
//! - `cursor`: the one cursor type of every paged read;
//! - [`error`]: [`StoreError`], with its retry class.
//!
//! Two handles share the schema: [`Store`] (lead tables, the ingest side)
//! and [`BroadcastStore`] (pages, broadcasts, deliveries and subscribers, the
//! sending side); each function is given only the tables it uses.

mod anonymise;
mod audience;
mod batch;
mod broadcasts;
mod control;
mod cursor;
mod deliveries;
mod erasure;
pub mod error;
mod item;
pub mod keys;
mod leads;
mod messages;
mod outcomes;
mod page_list;
mod pages;
mod parked;
mod planned;
mod privacy;
mod recipients;
mod records;
mod release;
mod roster;
mod send_leads;
pub mod sweep;
mod tombstones;
mod tx;

pub use audience::AudiencePage;
pub use batch::delete_keys;
pub use broadcasts::{BroadcastStore, SendTables, CURSOR_DONE};
pub use control::BroadcastList;
pub use cursor::Cursor;
pub use erasure::{DeletedRecords, Shred};
pub use error::StoreError;
use item::s;
pub use item::{base_key, Item};
pub use keys::*;
pub use leads::{subscriber_from_item, subscriber_to_item};
pub use messages::{FoundMessage, MessageWrite, StoredMessage};
pub use outcomes::Completion;
pub use page_list::PageList;
pub use pages::SealedToken;
pub use parked::Park;
pub use planned::{Checkpoint, PlannedPage};
pub use privacy::{AuditTrail, Requests};
pub use recipients::{Recipient, RecipientState};
pub use records::{DeliveryRecord, MessageRecord, RecordPage};
pub use roster::{LeadBatch, LeadList, LeadSummary, TagWrite};
pub use tx::{CommitOutcome, EventCommit, EventMarker};

/// Table names, from the environment `template.yaml` sets.
#[derive(Debug, Clone)]
pub struct Tables {
    pub subscribers: String,
    pub consent_log: String,
    pub messages: String,
    pub events: String,
    /// Subjects' wrapped data keys, apart from the data: this table has no
    /// backups, so deleting a key destroys it everywhere (crypto-shredding).
    pub subject_keys: String,
    /// Registered pages; ingest also records the pages it has seen, so the
    /// retention sweep finds data of pages nobody registered.
    pub pages: String,
    /// Where ingest records what receipts and unsubscribes did to sends
    /// (`DELIVERIES_TABLE`, `BROADCASTS_TABLE`, optional: a function that
    /// commits no receipts needs neither).
    pub outcomes: Option<OutcomeTables>,
}

/// The sending side's tables as ingest writes them: delivery records
/// (receipt times) and broadcasts (outcome counters).
#[derive(Debug, Clone)]
pub struct OutcomeTables {
    pub deliveries: String,
    pub broadcasts: String,
}

impl Tables {
    /// The lead tables' names (`SUBSCRIBERS_TABLE`, `CONSENT_LOG_TABLE`, `MESSAGES_TABLE`,
    /// `EVENTS_TABLE`, `SUBJECT_KEYS_TABLE`, `PAGES_TABLE`).
    ///
    /// # Errors
    /// [`crate::config::ConfigError::Missing`] naming the first one unset.
    pub fn from_source(src: &dyn crate::config::Source) -> Result<Self, crate::config::ConfigError> {
        use crate::config::required;
        Ok(Self {
            subscribers: required(src, "SUBSCRIBERS_TABLE")?,
            consent_log: required(src, "CONSENT_LOG_TABLE")?,
            messages: required(src, "MESSAGES_TABLE")?,
            events: required(src, "EVENTS_TABLE")?,
            subject_keys: required(src, "SUBJECT_KEYS_TABLE")?,
            pages: required(src, "PAGES_TABLE")?,
            outcomes: match (src.get("DELIVERIES_TABLE"), src.get("BROADCASTS_TABLE")) {
                (Some(deliveries), Some(broadcasts)) => Some(OutcomeTables { deliveries, broadcasts }),
                _ => None,
            },
        })
    }
}

/// Reads and writes lead data.
#[derive(Clone)]
pub struct Store {
    pub(crate) ddb: aws_sdk_dynamodb::Client,
    pub(crate) tables: Tables,
}

impl Store {
    pub fn new(ddb: aws_sdk_dynamodb::Client, tables: Tables) -> Self {
        Self { ddb, tables }
    }
    pub(crate) async fn query_all(&self, table: &str, pk: String) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let (page, next) = self.query_partition(table, None, "pk", &pk, start, None, None).await?;
            items.extend(page);
            match next {
                Some(k) => start = Some(k),
                None => return Ok(items),
            }
        }
    }

    /// One page of the items whose `attr` is `value`, in the table or one of
    /// its indexes (consistent where DynamoDB allows), and where to go on.
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a DynamoDB call fails ([`StoreError::is_retryable`]
    /// says whether to try again).
    #[allow(clippy::too_many_arguments)]
    pub async fn query_partition(
        &self,
        table: &str,
        index: Option<&str>,
        attr: &str,
        value: &str,
        start: Option<Item>,
        limit: Option<i32>,
        projection: Option<&str>,
    ) -> Result<(Vec<Item>, Option<Item>), StoreError> {
        let out = self
            .partition_query(table, index, attr, value)
            .set_projection_expression(projection.map(str::to_string))
            .set_exclusive_start_key(start)
            .set_limit(limit)
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        let next = out.last_evaluated_key().filter(|k| !k.is_empty()).cloned();
        Ok((out.items.unwrap_or_default(), next))
    }

    /// The Query of the items whose `attr` (`#k`) is `value` (`:v`), in
    /// `table` or one of its indexes, consistent where DynamoDB allows: what
    /// a read of a partition starts from.
    pub(crate) fn partition_query(
        &self,
        table: &str,
        index: Option<&str>,
        attr: &str,
        value: &str,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.ddb
            .query()
            .table_name(table)
            .set_index_name(index.map(str::to_string))
            .key_condition_expression("#k = :v")
            .expression_attribute_names("#k", attr)
            .expression_attribute_values(":v", s(value))
            .set_consistent_read(index.is_none().then_some(true))
    }
}
