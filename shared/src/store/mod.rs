//! DynamoDB storage of leads: subscribers, the append-only consent log,
//! encrypted messages and the processed-event markers that make ingest
//! idempotent. One event is committed in one transaction, so it is applied
//! completely once or not at all.

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use sha2::{Digest, Sha256};

use crate::consent::{ConsentChange, SubscriberStatus};
use crate::ids::{PageId, Psid};
use crate::meta::Platform;

mod error;
mod messages;
pub use error::StoreError;
pub use messages::{FoundMessage, MessageWrite};

/// Audience index partitions per page: lets a planner read a page's
/// subscribed leads in parallel without a hot partition.
pub const AUDIENCE_SHARDS: u32 = 16;
pub const AUDIENCE_INDEX: &str = "audience";
/// Partitions per page of the `by_age` indexes the retention sweep reads.
pub const AGE_SHARDS: u32 = 4;
pub const AGE_INDEX: &str = "by_age";
/// Sparse index of unsubscribed leads by when they unsubscribed (the purge).
pub const UNSUBSCRIBED_INDEX: &str = "unsubscribed";

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
}

impl Tables {
    pub fn from_source(src: &dyn crate::config::Source) -> Result<Self, crate::config::ConfigError> {
        use crate::config::required;
        Ok(Self {
            subscribers: required(src, "SUBSCRIBERS_TABLE")?,
            consent_log: required(src, "CONSENT_LOG_TABLE")?,
            messages: required(src, "MESSAGES_TABLE")?,
            events: required(src, "EVENTS_TABLE")?,
            subject_keys: required(src, "SUBJECT_KEYS_TABLE")?,
            pages: required(src, "PAGES_TABLE")?,
        })
    }
}

/// The evidence behind a consent change: which event, when, and hashes that
/// tie it to Meta's signed delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    pub event_key: String,
    pub event_time_ms: i64,
    pub event_sha256: String,
    pub delivery_sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarketingToken {
    /// The token, sealed under the subject's data key.
    pub sealed: Vec<u8>,
    pub expires_at_ms: Option<i64>,
    pub stopped: bool,
    pub timezone: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    pub page_id: PageId,
    pub psid: Psid,
    pub platform: Platform,
    pub status: SubscriberStatus,
    /// Event time of the last consent change applied.
    pub consent_changed_at_ms: i64,
    /// Event time of the last explicit opt-in or opt-out, applied or not
    /// (one that changed nothing still outranks older ones delivered later).
    pub consent_intent_at_ms: i64,
    /// That time is the time of receipt standing in for an impossible
    /// timestamp (see [`crate::meta::EventTime`]): any real time outranks it.
    pub consent_intent_clamped: bool,
    pub opted_in: Option<Proof>,
    /// For Meta's 24-hour window.
    pub last_inbound_at_ms: Option<i64>,
    /// The subject's KMS-wrapped data key, stored in the subject-keys table
    /// (not in the subscriber item, whose table is backed up).
    pub data_key: Vec<u8>,
    pub marketing: Option<MarketingToken>,
    pub tags: BTreeSet<String>,
    pub delivered_watermark: i64,
    pub read_watermark: i64,
    /// Last marketing-messages send (Meta allows one per 48 hours).
    pub last_marketing_sent_at_ms: Option<i64>,
    /// A marketing-messages send in flight holds the lead's 48-hour slot
    /// until then, so two broadcasts cannot both claim it.
    pub marketing_hold_until_ms: Option<i64>,
    pub created_at_ms: i64,
    /// Optimistic-concurrency version; 0 means "not stored yet". Every
    /// writer of a subscriber bumps it, so a stale full-item write fails.
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRecord {
    pub at_ms: i64,
    pub change: ConsentChange,
    pub proof: Proof,
}

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

/// What an erasure leaves of a subject that matters to consent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tombstone {
    pub erased_at_ms: i64,
    /// Why (`request`, `meta_deletion_callback`, `unsubscribed_purge`).
    pub reason: String,
    /// The lead's status when erased.
    pub status_before: Option<SubscriberStatus>,
    /// When that status was reached (ms).
    pub consent_changed_at_ms: i64,
}

/// Marks an event as processed (the idempotency record): one per page,
/// person and event key, so only the same person's event is a duplicate.
#[derive(Debug, Clone)]
pub struct EventMarker {
    pub page_id: PageId,
    /// Whose event it was (`None` for page-level items, e.g. ignored ones).
    pub subject: Option<Psid>,
    pub key: String,
    pub kind: String,
    pub received_at_ms: i64,
    pub expires_at_s: i64,
}

/// Everything one inbound event changes, committed atomically.
#[derive(Debug, Clone)]
pub struct EventCommit {
    pub marker: EventMarker,
    pub subscriber: Option<Subscriber>,
    pub consent: Option<ConsentRecord>,
    pub message: Option<MessageWrite>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitOutcome {
    Applied,
    /// The event was processed before: nothing changed.
    Duplicate,
    /// The subscriber changed under us: re-read and try again.
    Conflict,
}

pub fn subscriber_pk(page: &PageId) -> String {
    format!("PAGE#{page}")
}
pub fn subscriber_sk(psid: &Psid) -> String {
    format!("SUB#{psid}")
}
pub fn subject_pk(page: &PageId, psid: &Psid) -> String {
    format!("PAGE#{page}#SUB#{psid}")
}
/// The processed-event marker of `key` from `subject` on `page`. The
/// subject appears only as a digest prefix (no PSID in the events table).
pub fn event_pk(page: &PageId, subject: Option<&Psid>, key: &str) -> String {
    match subject {
        Some(psid) => format!(
            "EVENT#{page}#{}#{key}",
            &crate::crypto::subject_digest(page, psid)[..32]
        ),
        None => format!("EVENT#{page}#-#{key}"),
    }
}
pub fn audience_shard(psid: &Psid) -> u32 {
    let d = Sha256::digest(psid.as_str().as_bytes());
    u32::from_be_bytes([d[0], d[1], d[2], d[3]]) % AUDIENCE_SHARDS
}
pub fn audience_pk(page: &PageId, shard: u32) -> String {
    format!("PAGE#{page}#SHARD#{shard}")
}
/// The `by_age` partition of a record: its page and a shard of its key.
pub fn age_pk(page: &PageId, record_key: &str) -> String {
    let d = Sha256::digest(record_key.as_bytes());
    format!(
        "PAGE#{page}#AGE#{}",
        u32::from_be_bytes([d[0], d[1], d[2], d[3]]) % AGE_SHARDS
    )
}
pub fn unsubscribed_pk(page: &PageId) -> String {
    format!("PAGE#{page}#UNSUB")
}
/// Where a subject's erasure tombstone lives in the consent log: keyed by a
/// digest, so proof survives without the PSID.
pub fn tombstone_pk(page: &PageId, psid: &Psid) -> String {
    tombstone_pk_of(page, &crate::crypto::subject_digest(page, psid))
}
/// [`tombstone_pk`] of a subject named by `pseudonym` (any key's).
pub fn tombstone_pk_of(page: &PageId, pseudonym: &str) -> String {
    format!("PAGE#{page}#GONE#{pseudonym}")
}

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

fn get_s<'a>(item: &'a Item, k: &'static str) -> Result<&'a str, StoreError> {
    item.get(k)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or(StoreError::Corrupt(k))
}
fn get_n(item: &Item, k: &'static str) -> Result<i64, StoreError> {
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

fn proof_to_item(prefix: &str, p: &Proof, item: &mut Item) {
    item.insert(format!("{prefix}event_key"), s(&p.event_key));
    item.insert(format!("{prefix}event_time_ms"), n(p.event_time_ms));
    item.insert(format!("{prefix}event_sha256"), s(&p.event_sha256));
    item.insert(format!("{prefix}delivery_sha256"), s(&p.delivery_sha256));
}

pub fn subscriber_to_item(sub: &Subscriber, version: u64) -> Item {
    let mut item = Item::new();
    item.insert("pk".into(), s(subscriber_pk(&sub.page_id)));
    item.insert("sk".into(), s(subscriber_sk(&sub.psid)));
    item.insert("page_id".into(), s(sub.page_id.as_str()));
    item.insert("psid".into(), s(sub.psid.as_str()));
    item.insert(
        "platform".into(),
        s(match sub.platform {
            Platform::Messenger => "messenger",
            Platform::Instagram => "instagram",
        }),
    );
    item.insert("status".into(), s(sub.status.as_str()));
    item.insert("consent_changed_at_ms".into(), n(sub.consent_changed_at_ms));
    // Sparse index: only subscribed leads are in the audience.
    if sub.status == SubscriberStatus::Subscribed {
        item.insert(
            "audience_pk".into(),
            s(audience_pk(&sub.page_id, audience_shard(&sub.psid))),
        );
    }
    if sub.status == SubscriberStatus::Unsubscribed {
        item.insert("unsub_pk".into(), s(unsubscribed_pk(&sub.page_id)));
    }
    if let Some(p) = &sub.opted_in {
        proof_to_item("opt_in_", p, &mut item);
    }
    if let Some(t) = sub.last_inbound_at_ms {
        item.insert("last_inbound_at_ms".into(), n(t));
    }
    if let Some(m) = &sub.marketing {
        item.insert("marketing_token".into(), b(&m.sealed));
        item.insert("marketing_stopped".into(), AttributeValue::Bool(m.stopped));
        if let Some(e) = m.expires_at_ms {
            item.insert("marketing_expires_at_ms".into(), n(e));
        }
        if let Some(tz) = &m.timezone {
            item.insert("marketing_timezone".into(), s(tz));
        }
    }
    if !sub.tags.is_empty() {
        item.insert("tags".into(), AttributeValue::Ss(sub.tags.iter().cloned().collect()));
    }
    item.insert("delivered_watermark".into(), n(sub.delivered_watermark));
    item.insert("read_watermark".into(), n(sub.read_watermark));
    if let Some(t) = sub.last_marketing_sent_at_ms {
        item.insert("last_marketing_sent_at_ms".into(), n(t));
    }
    if sub.consent_intent_at_ms > 0 {
        item.insert("consent_intent_at_ms".into(), n(sub.consent_intent_at_ms));
    }
    if sub.consent_intent_clamped {
        item.insert("consent_intent_clamped".into(), AttributeValue::Bool(true));
    }
    if let Some(t) = sub.marketing_hold_until_ms {
        item.insert("marketing_hold_until_ms".into(), n(t));
    }
    item.insert("created_at_ms".into(), n(sub.created_at_ms));
    item.insert("version".into(), n(version));
    item
}

pub fn subscriber_from_item(item: &Item) -> Result<Subscriber, StoreError> {
    let page_id = PageId::parse(get_s(item, "page_id")?).map_err(|_| StoreError::Corrupt("page_id"))?;
    let psid = Psid::parse(get_s(item, "psid")?).map_err(|_| StoreError::Corrupt("psid"))?;
    let platform = match get_s(item, "platform")? {
        "instagram" => Platform::Instagram,
        _ => Platform::Messenger,
    };
    let status = SubscriberStatus::parse(get_s(item, "status")?).ok_or(StoreError::Corrupt("status"))?;
    let opted_in = match opt_s(item, "opt_in_event_key") {
        Some(event_key) => Some(Proof {
            event_key,
            event_time_ms: get_n(item, "opt_in_event_time_ms")?,
            event_sha256: get_s(item, "opt_in_event_sha256")?.to_string(),
            delivery_sha256: get_s(item, "opt_in_delivery_sha256")?.to_string(),
        }),
        None => None,
    };
    let marketing = opt_b(item, "marketing_token").map(|sealed| MarketingToken {
        sealed,
        expires_at_ms: opt_n(item, "marketing_expires_at_ms"),
        stopped: item
            .get("marketing_stopped")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false),
        timezone: opt_s(item, "marketing_timezone"),
    });
    let tags = item
        .get("tags")
        .and_then(|v| v.as_ss().ok())
        .map(|v| v.iter().cloned().collect())
        .unwrap_or_default();
    Ok(Subscriber {
        page_id,
        psid,
        platform,
        status,
        consent_changed_at_ms: get_n(item, "consent_changed_at_ms")?,
        opted_in,
        last_inbound_at_ms: opt_n(item, "last_inbound_at_ms"),
        data_key: Vec::new(),
        marketing,
        tags,
        delivered_watermark: opt_n(item, "delivered_watermark").unwrap_or(0),
        read_watermark: opt_n(item, "read_watermark").unwrap_or(0),
        last_marketing_sent_at_ms: opt_n(item, "last_marketing_sent_at_ms"),
        marketing_hold_until_ms: opt_n(item, "marketing_hold_until_ms"),
        consent_intent_at_ms: opt_n(item, "consent_intent_at_ms").unwrap_or(0),
        consent_intent_clamped: item
            .get("consent_intent_clamped")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false),
        created_at_ms: get_n(item, "created_at_ms")?,
        version: get_n(item, "version")? as u64,
    })
}

/// Reads and writes lead data.
#[derive(Clone)]
pub struct Store {
    pub ddb: aws_sdk_dynamodb::Client,
    pub tables: Tables,
}

impl Store {
    pub fn new(ddb: aws_sdk_dynamodb::Client, tables: Tables) -> Self {
        Self { ddb, tables }
    }

    /// A lead's stored record as is (consistent read).
    pub async fn subscriber_item(&self, page: &PageId, psid: &Psid) -> Result<Option<Item>, StoreError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.tables.subscribers)
            .key("pk", s(subscriber_pk(page)))
            .key("sk", s(subscriber_sk(psid)))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        Ok(out.item)
    }

    #[tracing::instrument(skip_all)]
    pub async fn subscriber(&self, page: &PageId, psid: &Psid) -> Result<Option<Subscriber>, StoreError> {
        let Some(item) = self.subscriber_item(page, psid).await? else {
            return Ok(None);
        };
        let mut sub = subscriber_from_item(&item)?;
        // Erasure deletes the subscriber and its key together; a key found
        // missing here means an erasure ran since the read: the lead is gone.
        match self.subject_key(page, psid).await? {
            Some(key) => sub.data_key = key,
            None => return Ok(None),
        }
        Ok(Some(sub))
    }

    /// Records that data of `page` exists (idempotent; keeps the first time).
    pub async fn note_page(&self, page: &PageId, now_ms: i64) -> Result<(), StoreError> {
        self.ddb
            .update_item()
            .table_name(&self.tables.pages)
            .key("pk", s(format!("PAGE#{page}")))
            .update_expression("SET page_id = :p, first_seen_at_ms = if_not_exists(first_seen_at_ms, :t)")
            .expression_attribute_values(":p", s(page.as_str()))
            .expression_attribute_values(":t", n(now_ms))
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        Ok(())
    }

    /// A lead's consent status alone (one read, no key).
    pub async fn status(&self, page: &PageId, psid: &Psid) -> Result<Option<SubscriberStatus>, StoreError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.tables.subscribers)
            .key("pk", s(subscriber_pk(page)))
            .key("sk", s(subscriber_sk(psid)))
            .projection_expression("#s")
            .expression_attribute_names("#s", "status")
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        Ok(out
            .item()
            .and_then(|i| opt_s(i, "status"))
            .and_then(|st| SubscriberStatus::parse(&st)))
    }

    /// A subject's wrapped data key.
    pub async fn subject_key(&self, page: &PageId, psid: &Psid) -> Result<Option<Vec<u8>>, StoreError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.tables.subject_keys)
            .key("pk", s(subject_pk(page, psid)))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        Ok(out.item().and_then(|i| opt_b(i, "data_key")))
    }

    #[tracing::instrument(skip_all)]
    pub async fn event_seen(&self, page: &PageId, subject: Option<&Psid>, key: &str) -> Result<bool, StoreError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.tables.events)
            .key("pk", s(event_pk(page, subject, key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        Ok(out.item().is_some())
    }

    /// When the subject was last erased (from its tombstone), if ever.
    pub async fn last_erased_at(&self, page: &PageId, psid: &Psid) -> Result<Option<i64>, StoreError> {
        Ok(self.last_tombstone(page, psid).await?.map(|t| t.erased_at_ms))
    }

    /// The subject's latest erasure tombstone, if ever erased. Tombstones
    /// are keyed by the subject's pseudonym: those of the current key are
    /// looked for first, then those written under older keys (one query per
    /// key; only leads without a record get here).
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a query fails.
    pub async fn last_tombstone(&self, page: &PageId, psid: &Psid) -> Result<Option<Tombstone>, StoreError> {
        for pseudonym in crate::pseudonym::keys().subject_lookups(page, psid) {
            if let Some(t) = self.last_tombstone_of(page, &pseudonym).await? {
                return Ok(Some(t));
            }
        }
        Ok(None)
    }

    async fn last_tombstone_of(&self, page: &PageId, pseudonym: &str) -> Result<Option<Tombstone>, StoreError> {
        let out = self
            .ddb
            .query()
            .table_name(&self.tables.consent_log)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(tombstone_pk_of(page, pseudonym)))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        Ok(out
            .items()
            .iter()
            .filter_map(|i| {
                Some(Tombstone {
                    erased_at_ms: opt_n(i, "erased_at_ms")?,
                    reason: opt_s(i, "reason").unwrap_or_default(),
                    status_before: opt_s(i, "status_before").and_then(|st| SubscriberStatus::parse(&st)),
                    consent_changed_at_ms: opt_n(i, "consent_changed_at_ms").unwrap_or(0),
                })
            })
            .max_by_key(|t| t.erased_at_ms))
    }

    /// The consent log of one lead, oldest first.
    pub async fn consent_history(&self, page: &PageId, psid: &Psid) -> Result<Vec<Item>, StoreError> {
        self.query_all(&self.tables.consent_log, subject_pk(page, psid)).await
    }

    /// The stored (sealed) messages of one lead, oldest first.
    pub async fn messages(&self, page: &PageId, psid: &Psid) -> Result<Vec<Item>, StoreError> {
        self.query_all(&self.tables.messages, subject_pk(page, psid)).await
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
            .ddb
            .query()
            .table_name(table)
            .set_index_name(index.map(str::to_string))
            .key_condition_expression("#k = :v")
            .expression_attribute_names("#k", attr)
            .expression_attribute_values(":v", s(value))
            .set_projection_expression(projection.map(str::to_string))
            .set_consistent_read(index.is_none().then_some(true))
            .set_exclusive_start_key(start)
            .set_limit(limit)
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        let next = out.last_evaluated_key().filter(|k| !k.is_empty()).cloned();
        Ok((out.items.unwrap_or_default(), next))
    }

    /// Commits one event: the marker (only if absent), the subscriber (only if
    /// unchanged since read), the consent record and the message.
    #[tracing::instrument(skip_all, fields(kind = %commit.marker.kind))]
    pub async fn commit(&self, commit: &EventCommit) -> Result<CommitOutcome, StoreError> {
        let m = &commit.marker;
        let mut marker = Item::new();
        marker.insert("pk".into(), s(event_pk(&m.page_id, m.subject.as_ref(), &m.key)));
        marker.insert("kind".into(), s(&m.kind));
        marker.insert("received_at_ms".into(), n(m.received_at_ms));
        marker.insert("expires_at".into(), n(m.expires_at_s));
        marker.insert("age_pk".into(), s(age_pk(&m.page_id, &m.key)));
        marker.insert("at_ms".into(), n(m.received_at_ms));
        let mut items = vec![put(
            &self.tables.events,
            marker,
            Some("attribute_not_exists(pk)"),
            None,
        )?];

        if let Some(sub) = &commit.subscriber {
            let item = subscriber_to_item(sub, sub.version + 1);
            let p = if sub.version == 0 {
                let mut key = Item::new();
                key.insert("pk".into(), s(subject_pk(&sub.page_id, &sub.psid)));
                key.insert("data_key".into(), b(&sub.data_key));
                key.insert("created_at_ms".into(), n(sub.created_at_ms));
                items.push(put(
                    &self.tables.subject_keys,
                    key,
                    Some("attribute_not_exists(pk)"),
                    None,
                )?);
                put(&self.tables.subscribers, item, Some("attribute_not_exists(pk)"), None)?
            } else {
                put(
                    &self.tables.subscribers,
                    item,
                    Some("version = :v"),
                    Some((":v", n(sub.version))),
                )?
            };
            items.push(p);
            let pk = subject_pk(&sub.page_id, &sub.psid);
            if let Some(c) = &commit.consent {
                let mut item = Item::new();
                item.insert("pk".into(), s(&pk));
                item.insert("sk".into(), s(format!("{:013}#{}", c.at_ms.max(0), c.proof.event_key)));
                if let Some(from) = c.change.from {
                    item.insert("from".into(), s(from.as_str()));
                }
                item.insert("to".into(), s(c.change.to.as_str()));
                item.insert("reason".into(), s(c.change.reason.as_str()));
                item.insert("at_ms".into(), n(c.at_ms));
                proof_to_item("", &c.proof, &mut item);
                items.push(put(
                    &self.tables.consent_log,
                    item,
                    Some("attribute_not_exists(pk)"),
                    None,
                )?);
            }
            if let Some(write) = &commit.message {
                items.push(messages::transact_item(
                    &self.tables.messages,
                    &sub.page_id,
                    &pk,
                    write,
                )?);
            }
        }

        match self
            .ddb
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(CommitOutcome::Applied),
            Err(err) => {
                let Some(aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(cancel)) = err.as_service_error() else {
                    return Err(StoreError::dynamo(err));
                };
                let reasons = cancel.cancellation_reasons();
                let failed = |i: usize| reasons.get(i).and_then(|r| r.code()) == Some("ConditionalCheckFailed");
                if failed(0) {
                    return Ok(CommitOutcome::Duplicate);
                }
                if reasons.is_empty() && self.event_seen(&m.page_id, m.subject.as_ref(), &m.key).await? {
                    return Ok(CommitOutcome::Duplicate);
                }
                Ok(CommitOutcome::Conflict)
            }
        }
    }
}

pub(crate) fn put(
    table: &str,
    item: Item,
    condition: Option<&str>,
    value: Option<(&str, AttributeValue)>,
) -> Result<TransactWriteItem, StoreError> {
    let mut p = Put::builder().table_name(table).set_item(Some(item));
    if let Some(c) = condition {
        p = p.condition_expression(c);
    }
    if let Some((k, v)) = value {
        p = p.expression_attribute_values(k, v);
    }
    let p = p.build().map_err(|_| StoreError::Corrupt("transaction item"))?;
    Ok(TransactWriteItem::builder().put(p).build())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(status: SubscriberStatus) -> Subscriber {
        Subscriber {
            page_id: PageId::parse("1000000000000001").unwrap(),
            psid: Psid::parse("2000000000000001").unwrap(),
            platform: Platform::Instagram,
            status,
            consent_changed_at_ms: 5,
            opted_in: Some(Proof {
                event_key: "m_1".into(),
                event_time_ms: 5,
                event_sha256: "a".into(),
                delivery_sha256: "b".into(),
            }),
            last_inbound_at_ms: Some(6),
            data_key: Vec::new(),
            marketing: Some(MarketingToken {
                sealed: vec![9],
                expires_at_ms: Some(7),
                stopped: true,
                timezone: Some("Europe/Paris".into()),
            }),
            tags: ["camp7".to_string()].into(),
            delivered_watermark: 3,
            read_watermark: 4,
            last_marketing_sent_at_ms: Some(8),
            marketing_hold_until_ms: Some(9),
            consent_intent_at_ms: 10,
            consent_intent_clamped: true,
            created_at_ms: 1,
            version: 2,
        }
    }

    #[test]
    fn a_subscriber_round_trips_through_its_item() {
        let original = sub(SubscriberStatus::Subscribed);
        let item = subscriber_to_item(&original, 2);
        assert_eq!(subscriber_from_item(&item).unwrap(), original);
    }

    #[test]
    fn the_data_key_is_never_in_the_subscriber_item() {
        let mut lead = sub(SubscriberStatus::Subscribed);
        lead.data_key = vec![7; 40];
        let item = subscriber_to_item(&lead, 1);
        assert!(!item.contains_key("data_key"));
        assert!(!item.values().any(|v| v.as_b().is_ok_and(|b| b.as_ref() == [7; 40])));
    }

    #[test]
    fn only_unsubscribed_leads_are_in_the_purge_index() {
        assert!(subscriber_to_item(&sub(SubscriberStatus::Unsubscribed), 1).contains_key("unsub_pk"));
        for status in [
            SubscriberStatus::Subscribed,
            SubscriberStatus::Unreachable,
            SubscriberStatus::Erased,
        ] {
            assert!(!subscriber_to_item(&sub(status), 1).contains_key("unsub_pk"));
        }
    }

    #[test]
    fn only_subscribed_leads_are_in_the_audience_index() {
        assert!(subscriber_to_item(&sub(SubscriberStatus::Subscribed), 1).contains_key("audience_pk"));
        for status in [
            SubscriberStatus::Unsubscribed,
            SubscriberStatus::Unreachable,
            SubscriberStatus::Erased,
        ] {
            assert!(!subscriber_to_item(&sub(status), 1).contains_key("audience_pk"));
        }
    }

    #[test]
    fn audience_shards_spread_and_stay_in_range() {
        let shards: BTreeSet<u32> = (0..500)
            .map(|i| audience_shard(&Psid::parse(format!("20000000000{i:05}")).unwrap()))
            .collect();
        assert!(shards.iter().all(|s| *s < AUDIENCE_SHARDS));
        assert_eq!(shards.len() as u32, AUDIENCE_SHARDS);
    }
}
