//! DynamoDB storage for sending: registered pages (token sealed), broadcasts
//! (state, counters, per-shard planning checkpoints) and per-recipient
//! deliveries, whose `(broadcast, psid)` key is the idempotency key of a send.
//!
//! A broadcast is one definition item plus [`SEND_LANES`] lane items. Every
//! send both checks the broadcast is active and counts its outcome; done on
//! one item, that is two transactional writes per send on a single key, over
//! DynamoDB's per-item limit (1,000 WCU/s) at Meta's 300 sends/s, and every
//! send would conflict with every other. So each lead's sends check and count
//! on its own lane (its audience shard), which mirrors the state; a state
//! change writes the definition and all lanes in one transaction.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, KeysAndAttributes, Put, TransactWriteItem, Update};

use crate::broadcast::{BroadcastMessage, BroadcastState};
use crate::ids::{BroadcastId, PageId, Psid};
use crate::store::{audience_shard, subscriber_pk, subscriber_sk, StoreError, AUDIENCE_SHARDS};

type Item = HashMap<String, AttributeValue>;

pub const CURSOR_DONE: &str = "#done";
pub const DUE_INDEX: &str = "due";
const DUE_PK: &str = "DUE";

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}
fn get_s(item: &Item, k: &'static str) -> Option<String> {
    item.get(k).and_then(|v| v.as_s().ok()).cloned()
}
fn get_n(item: &Item, k: &str) -> i64 {
    item.get(k)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[derive(Debug, Clone)]
pub struct SendTables {
    pub pages: String,
    pub broadcasts: String,
    pub deliveries: String,
    pub subscribers: String,
}

impl SendTables {
    pub fn from_source(src: &dyn crate::config::Source) -> Result<Self, crate::config::ConfigError> {
        use crate::config::required;
        Ok(Self {
            pages: required(src, "PAGES_TABLE")?,
            broadcasts: required(src, "BROADCASTS_TABLE")?,
            deliveries: required(src, "DELIVERIES_TABLE")?,
            subscribers: required(src, "SUBSCRIBERS_TABLE")?,
        })
    }
}

/// A registered page. The access token is sealed under the page's data key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub page_id: PageId,
    pub sealed_token: Vec<u8>,
    pub data_key: Vec<u8>,
    pub retention_days: u32,
    /// Business region, for marketing-messages availability (AU, EU, JP, KR, UK).
    pub region: Option<String>,
    pub updated_at_ms: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub queued: i64,
    pub sent: i64,
    pub skipped_unsubscribed: i64,
    pub skipped_policy: i64,
    pub failed: i64,
}

impl Counts {
    pub fn processed(&self) -> i64 {
        self.sent + self.skipped_unsubscribed + self.skipped_policy + self.failed
    }
    pub fn is_zero(&self) -> bool {
        *self == Counts::default()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Broadcast {
    pub id: BroadcastId,
    pub page_id: PageId,
    pub name: Option<String>,
    pub message: BroadcastMessage,
    pub audience_tags: Vec<String>,
    pub send_at_ms: Option<i64>,
    pub state: BroadcastState,
    pub created_at_ms: i64,
    pub counts: Counts,
    pub shards_done: u32,
    pub cursors: BTreeMap<u32, String>,
    pub paused_reason: Option<String>,
}

/// A marketing-messages claim's hold on its lead: no other marketing claim
/// for the lead passes while it lasts, and none within 48 hours of the last
/// marketing send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarketingHold {
    /// A marketing send after this is too recent.
    pub cutoff_ms: i64,
    pub until_ms: i64,
}

impl MarketingHold {
    /// Longer than a sender invocation can live (Lambda stops at 15 minutes),
    /// so a hold outlives its send; one left by a dead sender lapses.
    pub const LENGTH_MS: i64 = 15 * 60_000;

    pub fn at(now_ms: i64) -> Self {
        Self {
            cutoff_ms: now_ms - crate::broadcast::MARKETING_GAP_MS,
            until_ms: now_ms + Self::LENGTH_MS,
        }
    }
}

/// Lanes per broadcast: a lead's lane is its audience shard.
pub const SEND_LANES: u32 = AUDIENCE_SHARDS;

fn broadcast_pk(id: &BroadcastId) -> String {
    format!("BCAST#{id}")
}

fn lane_pk(id: &BroadcastId, lane: u32) -> String {
    format!("BCAST#{id}#LANE#{lane}")
}

type TransactError = aws_sdk_dynamodb::error::SdkError<
    aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
    aws_sdk_dynamodb::config::http::HttpResponse,
>;

/// Tries of a transaction DynamoDB keeps cancelling for conflicts.
const CONFLICT_ATTEMPTS: u32 = 10;

fn is_conflict(err: &aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError) -> bool {
    matches!(err, aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c)
        if c.cancellation_reasons().iter().any(|r| r.code() == Some("TransactionConflict")))
}

/// The code of a transaction's `i`-th cancellation reason.
fn cancelled_because(err: &TransactError, i: usize) -> Option<&str> {
    match err.as_service_error() {
        Some(
            aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c),
        ) => c.cancellation_reasons().get(i).and_then(|r| r.code()),
        _ => None,
    }
}

fn broadcast_from_item(item: &Item) -> Result<Broadcast, StoreError> {
    let id = BroadcastId::parse(get_s(item, "id").unwrap_or_default()).map_err(|_| StoreError::Corrupt("id"))?;
    let page_id =
        PageId::parse(get_s(item, "page_id").unwrap_or_default()).map_err(|_| StoreError::Corrupt("page_id"))?;
    let message = serde_json::from_str(&get_s(item, "message").unwrap_or_default())
        .map_err(|_| StoreError::Corrupt("message"))?;
    let state = BroadcastState::parse(&get_s(item, "state").unwrap_or_default()).ok_or(StoreError::Corrupt("state"))?;
    let cursors = item
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("cursor_")?.parse().ok()?, v.as_s().ok()?.clone())))
        .collect();
    Ok(Broadcast {
        id,
        page_id,
        name: get_s(item, "name"),
        message,
        audience_tags: item
            .get("tags")
            .and_then(|v| v.as_ss().ok())
            .cloned()
            .unwrap_or_default(),
        send_at_ms: item.get("send_at_ms").map(|_| get_n(item, "send_at_ms")),
        state,
        created_at_ms: get_n(item, "created_at_ms"),
        // Outcome counters are summed from the lanes by the caller.
        counts: Counts {
            queued: get_n(item, "queued"),
            ..Counts::default()
        },
        shards_done: get_n(item, "shards_done") as u32,
        cursors,
        paused_reason: get_s(item, "paused_reason"),
    })
}

/// Outcome of the atomic check-and-claim before a send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    Claimed,
    /// The lead is no longer subscribed (or, for a marketing send, was sent
    /// one within 48 hours).
    LeadNotEligible,
    /// The broadcast was cancelled or paused.
    BroadcastInactive,
    /// A delivery record exists: this job ran before.
    AlreadyClaimed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    Claimed,
    Sent,
    SkippedUnsubscribed,
    SkippedPolicy,
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Claimed => "claimed",
            DeliveryState::Sent => "sent",
            DeliveryState::SkippedUnsubscribed => "skipped_unsubscribed",
            DeliveryState::SkippedPolicy => "skipped_policy",
            DeliveryState::Failed => "failed",
        }
    }
}

#[derive(Clone)]
pub struct BroadcastStore {
    pub ddb: aws_sdk_dynamodb::Client,
    pub tables: SendTables,
}

impl BroadcastStore {
    pub fn new(ddb: aws_sdk_dynamodb::Client, tables: SendTables) -> Self {
        Self { ddb, tables }
    }

    pub async fn put_page(&self, page: &Page) -> Result<(), StoreError> {
        let mut item = Item::new();
        item.insert("pk".into(), s(format!("PAGE#{}", page.page_id)));
        item.insert("page_id".into(), s(page.page_id.as_str()));
        item.insert("token".into(), AttributeValue::B(Blob::new(page.sealed_token.clone())));
        item.insert("data_key".into(), AttributeValue::B(Blob::new(page.data_key.clone())));
        item.insert("retention_days".into(), n(page.retention_days));
        if let Some(r) = &page.region {
            item.insert("region".into(), s(r));
        }
        item.insert("updated_at_ms".into(), n(page.updated_at_ms));
        self.ddb
            .put_item()
            .table_name(&self.tables.pages)
            .set_item(Some(item))
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        Ok(())
    }

    pub async fn page(&self, page_id: &PageId) -> Result<Option<Page>, StoreError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.tables.pages)
            .key("pk", s(format!("PAGE#{page_id}")))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        // Ingest records pages it has seen (for the sweep) without a token:
        // those are not registered.
        let Some(item) = out.item().filter(|i| i.contains_key("token")) else {
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
            retention_days: get_n(item, "retention_days") as u32,
            region: get_s(item, "region"),
            updated_at_ms: get_n(item, "updated_at_ms"),
        }))
    }

    pub async fn create_broadcast(&self, b: &Broadcast) -> Result<(), StoreError> {
        let mut item = Item::new();
        item.insert("pk".into(), s(broadcast_pk(&b.id)));
        item.insert("id".into(), s(b.id.as_str()));
        item.insert("page_id".into(), s(b.page_id.as_str()));
        if let Some(name) = &b.name {
            item.insert("name".into(), s(name));
        }
        item.insert(
            "message".into(),
            s(serde_json::to_string(&b.message).map_err(|_| StoreError::Corrupt("message"))?),
        );
        if !b.audience_tags.is_empty() {
            item.insert("tags".into(), AttributeValue::Ss(b.audience_tags.clone()));
        }
        if let Some(at) = b.send_at_ms {
            item.insert("send_at_ms".into(), n(at));
        }
        item.insert("state".into(), s(b.state.as_str()));
        if b.state == BroadcastState::Scheduled {
            // Sparse index of broadcasts waiting for their time.
            item.insert("due_pk".into(), s(DUE_PK));
        }
        item.insert("created_at_ms".into(), n(b.created_at_ms));
        for k in ["queued", "shards_done"] {
            item.insert(k.into(), n(0));
        }
        self.ddb
            .put_item()
            .table_name(&self.tables.broadcasts)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        Ok(())
    }

    /// The broadcast with its counters summed over the lanes: one
    /// strongly consistent batch read.
    pub async fn broadcast(&self, id: &BroadcastId) -> Result<Option<Broadcast>, StoreError> {
        let mut keys: Vec<Item> = std::iter::once(broadcast_pk(id))
            .chain((0..SEND_LANES).map(|l| lane_pk(id, l)))
            .map(|pk| Item::from([("pk".to_string(), s(pk))]))
            .collect();
        let mut items = Vec::new();
        // Unprocessed keys (throttling) are read again until none remain.
        for _ in 0..8 {
            if keys.is_empty() {
                break;
            }
            let request = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut keys)))
                .consistent_read(true)
                .build()
                .map_err(|_| StoreError::Corrupt("keys"))?;
            let out = self
                .ddb
                .batch_get_item()
                .request_items(&self.tables.broadcasts, request)
                .send()
                .await
                .map_err(StoreError::dynamo)?;
            if let Some(found) = out.responses().and_then(|r| r.get(&self.tables.broadcasts)) {
                items.extend(found.iter().cloned());
            }
            if let Some(left) = out.unprocessed_keys().and_then(|u| u.get(&self.tables.broadcasts)) {
                keys = left.keys().to_vec();
            }
        }
        if !keys.is_empty() {
            return Err(StoreError::exhausted("broadcast read left unprocessed keys"));
        }
        let main = broadcast_pk(id);
        let Some(definition) = items.iter().find(|i| get_s(i, "pk").as_deref() == Some(main.as_str())) else {
            return Ok(None);
        };
        let mut b = broadcast_from_item(definition)?;
        for lane in items
            .iter()
            .filter(|i| get_s(i, "pk").as_deref() != Some(main.as_str()))
        {
            b.counts.sent += get_n(lane, "sent");
            b.counts.skipped_unsubscribed += get_n(lane, "skipped_unsubscribed");
            b.counts.skipped_policy += get_n(lane, "skipped_policy");
            b.counts.failed += get_n(lane, "failed");
        }
        Ok(Some(b))
    }

    /// Moves a broadcast from one of `from` to `to`; false if it was not in `from`.
    pub async fn transition(
        &self,
        id: &BroadcastId,
        from: &[BroadcastState],
        to: BroadcastState,
        reason: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut extra = Item::new();
        let mut update = "SET #s = :to".to_string();
        if let Some(r) = reason {
            extra.insert(":r".into(), s(r));
            update.push_str(", paused_reason = :r");
        }
        // A broadcast stays among the due ones while it starts (planning,
        // sending) until all its plan jobs are queued: see `started`.
        if !matches!(to, BroadcastState::Planning | BroadcastState::Sending) {
            update.push_str(" REMOVE due_pk");
        }
        // Cancelled and paused broadcasts are never planned again: their
        // cursors (the audience key of a lead, PSID included) go.
        if matches!(to, BroadcastState::Cancelled | BroadcastState::Paused) {
            for shard in 0..crate::store::AUDIENCE_SHARDS {
                update.push_str(&format!(", cursor_{shard}"));
            }
        }
        self.set_state(id, from, to, &update, extra).await
    }

    /// Writes the state on the definition (if it is in one of `from`, with
    /// `definition_update`) and on every lane, in one transaction, so no send
    /// can be claimed against a lane that missed a cancel or pause.
    async fn set_state(
        &self,
        id: &BroadcastId,
        from: &[BroadcastState],
        to: BroadcastState,
        definition_update: &str,
        extra_values: Item,
    ) -> Result<bool, StoreError> {
        let mut values: Item = from
            .iter()
            .enumerate()
            .map(|(i, st)| (format!(":f{i}"), s(st.as_str())))
            .collect();
        values.insert(":to".into(), s(to.as_str()));
        values.extend(extra_values);
        let list = (0..from.len()).map(|i| format!(":f{i}")).collect::<Vec<_>>().join(", ");
        let definition = Update::builder()
            .table_name(&self.tables.broadcasts)
            .key("pk", s(broadcast_pk(id)))
            .update_expression(definition_update)
            .condition_expression(format!("#s IN ({list})"))
            .expression_attribute_names("#s", "state")
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(|_| StoreError::Corrupt("update"))?;
        let mut items = vec![TransactWriteItem::builder().update(definition).build()];
        for lane in 0..SEND_LANES {
            let update = Update::builder()
                .table_name(&self.tables.broadcasts)
                .key("pk", s(lane_pk(id, lane)))
                .update_expression("SET #s = :to")
                .expression_attribute_names("#s", "state")
                .expression_attribute_values(":to", s(to.as_str()))
                .build()
                .map_err(|_| StoreError::Corrupt("update"))?;
            items.push(TransactWriteItem::builder().update(update).build());
        }
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(err) if cancelled_because(&err, 0) == Some("ConditionalCheckFailed") => Ok(false),
            Err(err) => Err(StoreError::dynamo(err)),
        }
    }

    /// Whether a broadcast has started (planning or sending) but not all of
    /// its plan jobs are known to be queued: its start is to be finished.
    pub async fn start_unfinished(&self, id: &BroadcastId) -> Result<bool, StoreError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.tables.broadcasts)
            .key("pk", s(broadcast_pk(id)))
            .projection_expression("#s, due_pk")
            .expression_attribute_names("#s", "state")
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        Ok(out.item().is_some_and(|i| {
            i.contains_key("due_pk")
                && get_s(i, "state")
                    .is_some_and(|st| st == BroadcastState::Planning.as_str() || st == BroadcastState::Sending.as_str())
        }))
    }

    /// Every plan job of a started broadcast is queued: it leaves the due ones.
    pub async fn started(&self, id: &BroadcastId) -> Result<(), StoreError> {
        self.ddb
            .update_item()
            .table_name(&self.tables.broadcasts)
            .key("pk", s(broadcast_pk(id)))
            .update_expression("REMOVE due_pk")
            .condition_expression("attribute_exists(pk)")
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        Ok(())
    }

    /// Scheduled broadcasts whose time has come.
    pub async fn due(&self, now_ms: i64) -> Result<Vec<BroadcastId>, StoreError> {
        let mut ids = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .ddb
                .query()
                .table_name(&self.tables.broadcasts)
                .index_name(DUE_INDEX)
                .key_condition_expression("due_pk = :d AND send_at_ms <= :now")
                .expression_attribute_values(":d", s(DUE_PK))
                .expression_attribute_values(":now", n(now_ms))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(StoreError::dynamo)?;
            // The `due` index projects keys only: the id is in the table key.
            ids.extend(
                out.items()
                    .iter()
                    .filter_map(|i| BroadcastId::parse(get_s(i, "pk")?.strip_prefix("BCAST#")?).ok()),
            );
            match out.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(ids),
            }
        }
    }

    /// Records a planned page: moves the shard's cursor from `prev` to `next`
    /// and adds `queued`, only if nobody else moved it (one planner per shard).
    pub async fn checkpoint(
        &self,
        id: &BroadcastId,
        shard: u32,
        prev: &str,
        next: &str,
        queued: i64,
    ) -> Result<bool, StoreError> {
        let finished = next == CURSOR_DONE;
        let mut update = format!("SET cursor_{shard} = :next ADD queued :q");
        if finished {
            update.push_str(", shards_done :one");
        }
        // Only while the broadcast is active: a cancel or pause drops the
        // cursors (they hold a lead's key), and none comes back after it.
        let condition = if prev.is_empty() {
            format!("(attribute_not_exists(cursor_{shard}) OR cursor_{shard} = :prev) AND #s IN (:planning, :sending)")
        } else {
            format!("cursor_{shard} = :prev AND #s IN (:planning, :sending)")
        };
        let mut req = self
            .ddb
            .update_item()
            .table_name(&self.tables.broadcasts)
            .key("pk", s(broadcast_pk(id)))
            .expression_attribute_names("#s", "state")
            .expression_attribute_values(":planning", s(BroadcastState::Planning.as_str()))
            .expression_attribute_values(":sending", s(BroadcastState::Sending.as_str()))
            .update_expression(update)
            .condition_expression(condition)
            .expression_attribute_values(":next", s(next))
            .expression_attribute_values(":prev", s(prev))
            .expression_attribute_values(":q", n(queued));
        if finished {
            req = req.expression_attribute_values(":one", n(1));
        }
        match req.send().await {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                // The SDK retries a write whose answer was lost (timeout,
                // 500) though DynamoDB applied it; the retry then fails its
                // condition. The cursor already at `next` is that write.
                let attr = format!("cursor_{shard}");
                let out = self
                    .ddb
                    .get_item()
                    .table_name(&self.tables.broadcasts)
                    .key("pk", s(broadcast_pk(id)))
                    .projection_expression("#c")
                    .expression_attribute_names("#c", &attr)
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(StoreError::dynamo)?;
                let cursor = out.item().and_then(|i| i.get(&attr)).and_then(|v| v.as_s().ok());
                Ok(cursor.map(String::as_str) == Some(next))
            }
            Err(e) => Err(StoreError::dynamo(e)),
        }
    }

    /// Marks the broadcast done once every shard is planned and every queued
    /// job is accounted for.
    pub async fn finish_if_complete(&self, b: &Broadcast, shards: u32) -> Result<bool, StoreError> {
        if b.shards_done < shards || b.counts.processed() < b.counts.queued {
            return Ok(false);
        }
        self.transition(
            &b.id,
            &[BroadcastState::Planning, BroadcastState::Sending],
            BroadcastState::Done,
            None,
        )
        .await
    }

    /// One transaction: the lead is still subscribed (and, for a marketing
    /// send, was sent none in 48 hours and none is in flight: the claim takes
    /// the lead's hold), the broadcast is still active, and no delivery exists
    /// yet; then the delivery is claimed.
    pub async fn claim(
        &self,
        task: &crate::queue::SendTask,
        marketing: Option<MarketingHold>,
        expires_at_s: i64,
        now_ms: i64,
    ) -> Result<Claim, StoreError> {
        let lead = match marketing {
            None => TransactWriteItem::builder()
                .condition_check(
                    ConditionCheck::builder()
                        .table_name(&self.tables.subscribers)
                        .key("pk", s(subscriber_pk(&task.page_id)))
                        .key("sk", s(subscriber_sk(&task.psid)))
                        .condition_expression("#s = :subscribed")
                        .expression_attribute_names("#s", "status")
                        .expression_attribute_values(":subscribed", s("subscribed"))
                        .build()
                        .map_err(|_| StoreError::Corrupt("condition"))?,
                )
                .build(),
            Some(hold) => TransactWriteItem::builder()
                .update(
                    Update::builder()
                        .table_name(&self.tables.subscribers)
                        .key("pk", s(subscriber_pk(&task.page_id)))
                        .key("sk", s(subscriber_sk(&task.psid)))
                        .update_expression("SET marketing_hold_until_ms = :until ADD version :one")
                        .condition_expression(
                            "#s = :subscribed \
                             AND (attribute_not_exists(last_marketing_sent_at_ms) OR last_marketing_sent_at_ms <= :cutoff) \
                             AND (attribute_not_exists(marketing_hold_until_ms) OR marketing_hold_until_ms <= :now)",
                        )
                        .expression_attribute_names("#s", "status")
                        .expression_attribute_values(":subscribed", s("subscribed"))
                        .expression_attribute_values(":cutoff", n(hold.cutoff_ms))
                        .expression_attribute_values(":now", n(now_ms))
                        .expression_attribute_values(":until", n(hold.until_ms))
                        .expression_attribute_values(":one", n(1))
                        .build()
                        .map_err(|_| StoreError::Corrupt("update"))?,
                )
                .build(),
        };
        let broadcast_check = ConditionCheck::builder()
            .table_name(&self.tables.broadcasts)
            .key("pk", s(lane_pk(&task.broadcast_id, audience_shard(&task.psid))))
            .condition_expression("#s IN (:planning, :sending)")
            .expression_attribute_names("#s", "state")
            .expression_attribute_values(":planning", s(BroadcastState::Planning.as_str()))
            .expression_attribute_values(":sending", s(BroadcastState::Sending.as_str()))
            .build()
            .map_err(|_| StoreError::Corrupt("condition"))?;
        let put = Put::builder()
            .table_name(&self.tables.deliveries)
            .set_item(Some(delivery_item(
                task,
                DeliveryState::Claimed,
                now_ms,
                expires_at_s,
                false,
            )))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|_| StoreError::Corrupt("put"))?;
        let items = vec![
            lead,
            TransactWriteItem::builder().condition_check(broadcast_check).build(),
            TransactWriteItem::builder().put(put).build(),
        ];
        match self.transact(items).await {
            Ok(()) => Ok(Claim::Claimed),
            Err(err) => {
                let failed = |i: usize| cancelled_because(&err, i) == Some("ConditionalCheckFailed");
                // Most specific first: a delivery that exists means "ran before".
                if failed(2) {
                    Ok(Claim::AlreadyClaimed)
                } else if failed(1) {
                    Ok(Claim::BroadcastInactive)
                } else if failed(0) {
                    Ok(Claim::LeadNotEligible)
                } else {
                    Err(StoreError::dynamo(err))
                }
            }
        }
    }

    /// Counts an outcome on the lead's lane.
    fn count_update(
        &self,
        task: &crate::queue::SendTask,
        state: DeliveryState,
    ) -> Result<TransactWriteItem, StoreError> {
        let counter = match state {
            DeliveryState::Sent => "sent",
            DeliveryState::SkippedUnsubscribed => "skipped_unsubscribed",
            DeliveryState::SkippedPolicy => "skipped_policy",
            DeliveryState::Failed => "failed",
            DeliveryState::Claimed => return Err(StoreError::Corrupt("claimed is not an outcome")),
        };
        let update = Update::builder()
            .table_name(&self.tables.broadcasts)
            .key("pk", s(lane_pk(&task.broadcast_id, audience_shard(&task.psid))))
            .update_expression(format!("ADD {counter} :one"))
            .expression_attribute_values(":one", n(1))
            .build()
            .map_err(|_| StoreError::Corrupt("update"))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Records an outcome for a job that never claimed (a skip), counting it
    /// in the same transaction; false if the job was recorded before. For a
    /// lead erased since planning the record names them only by digest: an
    /// erasure leaves no PSID behind, even in what comes after it.
    pub async fn record_outcome(
        &self,
        task: &crate::queue::SendTask,
        state: DeliveryState,
        now_ms: i64,
        expires_at_s: i64,
        lead_erased: bool,
    ) -> Result<bool, StoreError> {
        let put = Put::builder()
            .table_name(&self.tables.deliveries)
            .set_item(Some(delivery_item(task, state, now_ms, expires_at_s, lead_erased)))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|_| StoreError::Corrupt("put"))?;
        let items = vec![
            TransactWriteItem::builder().put(put).build(),
            self.count_update(task, state)?,
        ];
        self.transact_once(items).await
    }

    /// Moves a claimed delivery to its final state and counts it, atomically:
    /// a job that runs twice can never count twice.
    pub async fn complete(
        &self,
        task: &crate::queue::SendTask,
        state: DeliveryState,
        message_id: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut update = Update::builder()
            .table_name(&self.tables.deliveries)
            .key("pk", s(broadcast_pk(&task.broadcast_id)))
            .key("sk", s(delivery_sk(&task.psid)))
            .update_expression(if message_id.is_some() {
                "SET #s = :st, message_id = :m"
            } else {
                "SET #s = :st"
            })
            .condition_expression("#s = :claimed")
            .expression_attribute_names("#s", "state")
            .expression_attribute_values(":st", s(state.as_str()))
            .expression_attribute_values(":claimed", s(DeliveryState::Claimed.as_str()));
        if let Some(m) = message_id {
            update = update.expression_attribute_values(":m", s(m));
        }
        let update = update.build().map_err(|_| StoreError::Corrupt("update"))?;
        let items = vec![
            TransactWriteItem::builder().update(update).build(),
            self.count_update(task, state)?,
        ];
        self.transact_once(items).await
    }

    /// Runs a transaction whose first item is the idempotency condition.
    async fn transact_once(&self, items: Vec<TransactWriteItem>) -> Result<bool, StoreError> {
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(err) if cancelled_because(&err, 0) == Some("ConditionalCheckFailed") => Ok(false),
            Err(err) => Err(StoreError::dynamo(err)),
        }
    }

    /// Sends a transaction, and sends it again (after a short, jittered
    /// pause) while DynamoDB cancels it for a conflict: another transaction
    /// held one of its items, typically a lane shared by concurrent sends. A
    /// conflict says nothing about the conditions, and a claim, an outcome or
    /// a state change must not be lost to one (a sent message would
    /// otherwise stay claimed and later be counted failed).
    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), TransactError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self
                .ddb
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await
            {
                Ok(_) => return Ok(()),
                Err(err) if attempt < CONFLICT_ATTEMPTS && err.as_service_error().is_some_and(is_conflict) => {
                    let ceiling_ms = (10u64 << attempt.min(6)).min(500);
                    let pause = rand::random::<u64>() % ceiling_ms + 1;
                    tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// Releases a claim whose send certainly did not happen (rate limited,
    /// transient error), and its marketing hold, so a retry may send.
    pub async fn release(
        &self,
        task: &crate::queue::SendTask,
        marketing: Option<MarketingHold>,
    ) -> Result<(), StoreError> {
        if let Some(hold) = marketing {
            let out = self
                .ddb
                .update_item()
                .table_name(&self.tables.subscribers)
                .key("pk", s(subscriber_pk(&task.page_id)))
                .key("sk", s(subscriber_sk(&task.psid)))
                .update_expression("REMOVE marketing_hold_until_ms ADD version :one")
                .condition_expression("marketing_hold_until_ms = :until")
                .expression_attribute_values(":until", n(hold.until_ms))
                .expression_attribute_values(":one", n(1))
                .send()
                .await;
            // Not ours any more (expired and taken, or the lead erased): fine.
            crate::store::unless_condition_failed(out)?;
        }
        let out = self
            .ddb
            .delete_item()
            .table_name(&self.tables.deliveries)
            .key("pk", s(broadcast_pk(&task.broadcast_id)))
            .key("sk", s(delivery_sk(&task.psid)))
            .condition_expression("#s = :claimed")
            .expression_attribute_names("#s", "state")
            .expression_attribute_values(":claimed", s(DeliveryState::Claimed.as_str()))
            .send()
            .await;
        crate::store::unless_condition_failed(out)
    }

    /// A delivery's state and when it was last written.
    pub async fn delivery_state(&self, id: &BroadcastId, psid: &Psid) -> Result<Option<(String, i64)>, StoreError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.tables.deliveries)
            .key("pk", s(broadcast_pk(id)))
            .key("sk", s(delivery_sk(psid)))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        Ok(out.item().and_then(|i| Some((get_s(i, "state")?, get_n(i, "at_ms")))))
    }

    /// Records a marketing-messages send on the lead (the 48-hour rule).
    pub async fn note_marketing_sent(&self, page: &PageId, psid: &Psid, at_ms: i64) -> Result<(), StoreError> {
        self.ddb
            .update_item()
            .table_name(&self.tables.subscribers)
            .key("pk", s(subscriber_pk(page)))
            .key("sk", s(subscriber_sk(psid)))
            .update_expression("SET last_marketing_sent_at_ms = :t REMOVE marketing_hold_until_ms ADD version :one")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":t", n(at_ms))
            .expression_attribute_values(":one", n(1))
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        Ok(())
    }

    /// Meta says the person cannot be reached: out of every audience.
    pub async fn mark_unreachable(&self, page: &PageId, psid: &Psid) -> Result<(), StoreError> {
        let out = self
            .ddb
            .update_item()
            .table_name(&self.tables.subscribers)
            .key("pk", s(subscriber_pk(page)))
            .key("sk", s(subscriber_sk(psid)))
            .update_expression("SET #s = :u REMOVE audience_pk ADD version :one")
            .condition_expression("#s = :subscribed")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":u", s("unreachable"))
            .expression_attribute_values(":subscribed", s("subscribed"))
            .send()
            .await;
        crate::store::unless_condition_failed(out)
    }
}

fn delivery_sk(psid: &Psid) -> String {
    format!("SUB#{psid}")
}

/// A delivery record. One about a lead erased since planning names them only
/// by digest (`SUB#~<digest>`) and stays out of the per-subject index.
fn delivery_item(
    task: &crate::queue::SendTask,
    state: DeliveryState,
    now_ms: i64,
    expires_at_s: i64,
    lead_erased: bool,
) -> Item {
    let recipient = if lead_erased {
        format!("~{}", crate::crypto::subject_digest(&task.page_id, &task.psid))
    } else {
        task.psid.to_string()
    };
    let mut item = Item::new();
    item.insert("pk".into(), s(broadcast_pk(&task.broadcast_id)));
    item.insert("sk".into(), s(format!("SUB#{recipient}")));
    item.insert("page_id".into(), s(task.page_id.as_str()));
    item.insert("state".into(), s(state.as_str()));
    item.insert("at_ms".into(), n(now_ms));
    item.insert("expires_at".into(), n(expires_at_s));
    // For the retention sweep and for erasure/export of one subject.
    let key = format!("{}#{recipient}", task.broadcast_id);
    item.insert("age_pk".into(), s(crate::store::age_pk(&task.page_id, &key)));
    if !lead_erased {
        item.insert(
            "subject_pk".into(),
            s(crate::store::subject_pk(&task.page_id, &task.psid)),
        );
    }
    item
}
