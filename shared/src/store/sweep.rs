//! What the retention sweep reads, deletes and checkpoints: pages with data,
//! expired records through each table's `by_age` index, leads unsubscribed
//! or unreachable before a cutoff through the sparse `unsubscribed` and
//! `unreachable` indexes, and the sweep's
//! place in each partition (a checkpoint in the privacy table). A send job
//! parked past retention is not dropped: it is counted as it goes
//! ([`BroadcastStore::settle_parked`], reason `retention_expired`), so its
//! broadcast, once resumed, still finishes.

use aws_sdk_dynamodb::types::AttributeValue;

use super::item::{base_key, get_item, n, opt_n, opt_s, s, unless_condition_failed, Item};
use super::keys::{
    age_shard_pk, subject_pk, subscriber_sk, sweep_checkpoint_pk, unreachable_pk, unsubscribed_pk, AGE_INDEX,
    AGE_SHARDS, PARKED_SK_PREFIX, UNREACHABLE_INDEX, UNSUBSCRIBED_INDEX,
};
use super::{BroadcastStore, Cursor, SendTables, Store, StoreError, Tables};
use crate::broadcast::ParkedEnd;
use crate::consent::SubscriberStatus;
use crate::ids::{PageId, Psid};
use crate::retention::{Category, Purge};

/// One expired record, as the `by_age` index shows it.
#[derive(Debug, Clone)]
pub struct ExpiredRecord {
    item: Item,
}

impl ExpiredRecord {
    /// How many attachments it held (messages only; 0 otherwise).
    pub fn attachments(&self) -> u64 {
        self.item
            .get("attachments")
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    }
}

/// One query's worth of expired records, oldest first.
#[derive(Debug, Clone)]
pub struct ExpiredPage {
    pub records: Vec<ExpiredRecord>,
    /// DynamoDB says the partition has nothing after these.
    pub last: bool,
}

/// A page of leads due for a purge (unsubscribed or unreachable before a
/// cutoff).
#[derive(Debug, Clone, Default)]
pub struct PurgeablePage {
    /// Index entries read (what the query cost), parsable or not.
    pub seen: usize,
    pub leads: Vec<Psid>,
}

/// The sweep's view of the tables (the lead tables, the deliveries table
/// and the privacy table, where checkpoints are kept), and the sending
/// side's store that counts parked jobs on their broadcasts.
#[derive(Clone)]
pub struct SweepStore {
    ddb: aws_sdk_dynamodb::Client,
    tables: Tables,
    deliveries: String,
    privacy: String,
    sending: BroadcastStore,
}

impl SweepStore {
    pub fn new(ddb: aws_sdk_dynamodb::Client, tables: Tables, send: &SendTables, privacy: impl Into<String>) -> Self {
        Self {
            sending: BroadcastStore::new(ddb.clone(), send.clone()),
            ddb,
            tables,
            deliveries: send.deliveries.clone(),
            privacy: privacy.into(),
        }
    }

    fn table(&self, category: Category) -> &str {
        match category {
            Category::Messages => &self.tables.messages,
            Category::Deliveries => &self.deliveries,
            _ => &self.tables.events,
        }
    }

    /// Every page with data, registered or only seen by ingest, with its
    /// retention in days where one is set (one scan of the pages table).
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when the scan fails.
    pub async fn pages_with_data(&self) -> Result<Vec<(PageId, Option<u32>)>, StoreError> {
        let mut pages = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .ddb
                .scan()
                .table_name(&self.tables.pages)
                .projection_expression("page_id, retention_days")
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(StoreError::dynamo)?;
            for item in out.items() {
                let Some(page) = opt_s(item, "page_id").and_then(|p| PageId::parse(p).ok()) else {
                    continue;
                };
                let days = item
                    .get("retention_days")
                    .and_then(|v| v.as_n().ok())
                    .and_then(|v| v.parse::<u32>().ok());
                pages.push((page, days));
            }
            match out.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(pages),
            }
        }
    }

    /// Where the sweep stopped in `category`'s partition `shard` of `page`:
    /// the index key (base and index attributes) of the last record it deleted.
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when the read fails.
    pub async fn position(&self, category: Category, page: &PageId, shard: u32) -> Result<Option<Cursor>, StoreError> {
        let item = get_item(
            &self.ddb,
            &self.privacy,
            sweep_checkpoint_pk(category, page, shard),
            None,
        )
        .await?;
        Ok(item
            .as_ref()
            .and_then(|i| i.get("cursor"))
            .and_then(|c| c.as_m().ok())
            .cloned()
            .map(Cursor))
    }

    /// Up to `limit` records of `category` on `page` (partition `shard`) older
    /// than `cutoff_ms` (ms), oldest first, after `start`.
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when the query fails.
    pub async fn expired(
        &self,
        category: Category,
        page: &PageId,
        shard: u32,
        cutoff_ms: i64,
        start: Option<&Cursor>,
        limit: u64,
    ) -> Result<ExpiredPage, StoreError> {
        let out = self
            .ddb
            .query()
            .table_name(self.table(category))
            .index_name(AGE_INDEX)
            .key_condition_expression("age_pk = :p AND at_ms < :c")
            .expression_attribute_values(":p", s(age_shard_pk(page, shard)))
            .expression_attribute_values(":c", n(cutoff_ms))
            .set_exclusive_start_key(start.map(|c| c.0.clone()))
            .limit(limit as i32)
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        Ok(ExpiredPage {
            last: out.last_evaluated_key().is_none_or(|k| k.is_empty()),
            records: out
                .items()
                .iter()
                .map(|item| ExpiredRecord { item: item.clone() })
                .collect(),
        })
    }

    /// Deletes `records` (`BatchWriteItem`), then moves the partition's
    /// checkpoint past the last of them; returns that position. A parked
    /// send job among them (`PARK#…`, deliveries only) is settled instead,
    /// counted skipped for `retention_expired` at `now_ms` (ms): deleted
    /// uncounted, its broadcast would stay `sending` once resumed.
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a delete or the checkpoint write fails
    /// (what was deleted stays deleted; the next run re-issues at most these,
    /// and a parked job settled before is not counted again).
    pub async fn delete_expired(
        &self,
        category: Category,
        page: &PageId,
        shard: u32,
        records: &[ExpiredRecord],
        now_ms: i64,
    ) -> Result<Cursor, StoreError> {
        let (parked, rest): (Vec<Item>, Vec<Item>) = records
            .iter()
            .map(|r| base_key(&r.item))
            .partition(|k| category == Category::Deliveries && is_parked(k));
        for key in parked {
            self.sending
                .settle_parked(key, ParkedEnd::RetentionExpired, now_ms)
                .await?;
        }
        super::batch::delete_keys(&self.ddb, self.table(category), rest).await?;
        // Where the next query resumes: after the chunk's last record.
        let resume = records.last().map(|r| index_key(&r.item)).unwrap_or_default();
        self.ddb
            .put_item()
            .table_name(&self.privacy)
            .item("pk", s(sweep_checkpoint_pk(category, page, shard)))
            .item("cursor", AttributeValue::M(resume.clone()))
            .item("updated_at_ms", n(now_ms))
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        Ok(Cursor(resume))
    }

    /// Up to `limit` leads of `page` due for `purge`: of its status since
    /// before `cutoff_ms` (ms), as its sparse index shows them (each purge
    /// has its own: `unsubscribed`, `unreachable`).
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when the query fails.
    pub async fn purgeable_before(
        &self,
        page: &PageId,
        purge: Purge,
        cutoff_ms: i64,
        limit: u64,
    ) -> Result<PurgeablePage, StoreError> {
        let (index, key, partition) = match purge {
            Purge::Unsubscribed => (UNSUBSCRIBED_INDEX, "unsub_pk", unsubscribed_pk(page)),
            Purge::Unreachable => (UNREACHABLE_INDEX, "unreachable_pk", unreachable_pk(page)),
        };
        let out = self
            .ddb
            .query()
            .table_name(&self.tables.subscribers)
            .index_name(index)
            .key_condition_expression(format!("{key} = :p AND consent_changed_at_ms < :c"))
            .expression_attribute_values(":p", s(partition))
            .expression_attribute_values(":c", n(cutoff_ms))
            .limit(limit as i32)
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        Ok(PurgeablePage {
            seen: out.items().len(),
            leads: out
                .items()
                .iter()
                .filter_map(|item| {
                    opt_s(item, "sk")?
                        .strip_prefix("SUB#")
                        .and_then(|p| Psid::parse(p).ok())
                })
                .collect(),
        })
    }
}

/// Whether a subscriber record (as read) is still due for `purge`: the
/// purge's guard, checked again at the erasure's write (a lead who
/// re-subscribed or wrote again since the index was read is left alone).
pub fn purgeable(subscriber: &Item, purge: Purge, cutoff_ms: i64) -> bool {
    let status = opt_s(subscriber, "status").and_then(|s| SubscriberStatus::parse(&s));
    purge.is_due(status, opt_n(subscriber, "consent_changed_at_ms"), cutoff_ms)
}

// A sweep checkpoint is the key of the last record it deleted, which may
// name a subject: an erasure drops those of the subject (the sweep then
// restarts that partition, where everything it deleted is gone already).
impl Store {
    /// Drops the sweep's checkpoints (in `privacy_table`) that name the
    /// subject: all of the page's checkpoints read in one batch, and only
    /// those naming the subject deleted (still on that condition, so a
    /// checkpoint the sweep moved on meanwhile stays).
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when the read or a delete fails.
    pub async fn forget_sweep_positions(
        &self,
        privacy_table: &str,
        page: &PageId,
        psid: &Psid,
    ) -> Result<(), StoreError> {
        let (pk, sk) = (subject_pk(page, psid), subscriber_sk(psid));
        let keys = [Category::Messages, Category::Deliveries]
            .into_iter()
            .flat_map(|category| (0..AGE_SHARDS).map(move |shard| sweep_checkpoint_pk(category, page, shard)))
            .map(|checkpoint| Item::from([("pk".to_string(), s(checkpoint))]))
            .collect();
        for checkpoint in super::batch::get_keys(&self.ddb, privacy_table, keys).await? {
            let names_subject = checkpoint.get("cursor").and_then(|c| c.as_m().ok()).is_some_and(|c| {
                opt_s(c, "pk").as_deref() == Some(pk.as_str()) || opt_s(c, "sk").as_deref() == Some(sk.as_str())
            });
            if !names_subject {
                continue;
            }
            let out = self
                .ddb
                .delete_item()
                .table_name(privacy_table)
                .set_key(Some(base_key(&checkpoint)))
                .condition_expression("#c.pk = :pk OR #c.sk = :sk")
                .expression_attribute_names("#c", "cursor")
                .expression_attribute_values(":pk", s(&pk))
                .expression_attribute_values(":sk", s(&sk))
                .send()
                .await;
            unless_condition_failed(out)?;
        }
        Ok(())
    }
}

/// Whether a deliveries-table key is a parked send job's (`PARK#<lane>#<psid>`).
pub(super) fn is_parked(key: &Item) -> bool {
    opt_s(key, "sk").is_some_and(|sk| sk.starts_with(PARKED_SK_PREFIX))
}

/// A record's key in a `by_age` index (base-table key and index key).
fn index_key(item: &Item) -> Item {
    item.iter()
        .filter(|(k, _)| matches!(k.as_str(), "pk" | "sk" | "age_pk" | "at_ms"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lead::Subscriber;
    use crate::meta::Platform;
    use crate::store::subscriber_to_item;

    fn lead_item(status: SubscriberStatus, since_ms: i64) -> Item {
        let page = PageId::parse("1000000000000001").unwrap();
        let mut lead = Subscriber::new(
            page,
            Psid::parse("2000000000000001").unwrap(),
            Platform::Messenger,
            vec![],
            1,
        );
        lead.status = status;
        lead.consent_changed_at_ms = since_ms;
        subscriber_to_item(&lead, 3)
    }

    #[test]
    fn each_purge_index_holds_only_its_leads_and_whole_item_writes_keep_them_there() {
        let indexed = |status| {
            let item = lead_item(status, 5);
            (item.contains_key("unsub_pk"), item.contains_key("unreachable_pk"))
        };
        assert_eq!(indexed(SubscriberStatus::Unsubscribed), (true, false));
        assert_eq!(indexed(SubscriberStatus::Unreachable), (false, true));
        // Written again subscribed (they wrote again): out of both.
        assert_eq!(indexed(SubscriberStatus::Subscribed), (false, false));
        assert_eq!(indexed(SubscriberStatus::Erased), (false, false));
    }

    #[test]
    fn the_shred_guard_rereads_the_status_and_its_time_on_the_current_item() {
        let unreachable = lead_item(SubscriberStatus::Unreachable, 50);
        assert!(purgeable(&unreachable, Purge::Unreachable, 51));
        assert!(
            !purgeable(&unreachable, Purge::Unreachable, 50),
            "not yet past the period"
        );
        assert!(!purgeable(&unreachable, Purge::Unsubscribed, 51));
        // Subscribed again between the index read and the shred: left alone.
        let back = lead_item(SubscriberStatus::Subscribed, 40);
        assert!(!purgeable(&back, Purge::Unreachable, 51));
        assert!(!purgeable(&back, Purge::Unsubscribed, 51));
        let unsubscribed = lead_item(SubscriberStatus::Unsubscribed, 50);
        assert!(purgeable(&unsubscribed, Purge::Unsubscribed, 51));
        assert!(!purgeable(&unsubscribed, Purge::Unreachable, 51));
        assert!(!purgeable(&Item::new(), Purge::Unreachable, 51));
    }
}
