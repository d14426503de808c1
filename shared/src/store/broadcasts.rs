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

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};

use super::item::{n, n_or_zero, opt_s, s, Item};
use super::keys::{
    broadcast_created_sk, broadcast_page_pk, broadcast_pk, lane_pk, outcome_pk, AUDIENCE_SHARDS, DUE_INDEX, DUE_PK,
    SEND_LANES,
};
use super::tx::cancelled_because;
use super::StoreError;
use crate::broadcast::{Broadcast, BroadcastState, Counts};
use crate::ids::{BroadcastId, PageId};

pub const CURSOR_DONE: &str = "#done";

#[derive(Debug, Clone)]
pub struct SendTables {
    pub pages: String,
    pub broadcasts: String,
    pub deliveries: String,
    pub subscribers: String,
}

impl SendTables {
    /// The four table names (`PAGES_TABLE`, `BROADCASTS_TABLE`, `DELIVERIES_TABLE`, `SUBSCRIBERS_TABLE`).
    ///
    /// # Errors
    /// [`crate::config::ConfigError::Missing`] naming the first one unset.
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

#[derive(Clone)]
pub struct BroadcastStore {
    pub(crate) ddb: aws_sdk_dynamodb::Client,
    pub(crate) tables: SendTables,
}

impl BroadcastStore {
    pub fn new(ddb: aws_sdk_dynamodb::Client, tables: SendTables) -> Self {
        Self { ddb, tables }
    }

    /// Stores a new broadcast definition (its lanes are written by state changes).
    /// Fails if one with the same id exists.
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when the write fails, also when the id exists
    /// (a failed condition); [`StoreError::Corrupt`] when the message does not
    /// serialise.
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
        // The page's broadcasts, newest first (`by_page` index).
        item.insert("page_pk".into(), s(broadcast_page_pk(&b.page_id)));
        item.insert("created_sk".into(), s(broadcast_created_sk(b.created_at_ms, &b.id)));
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

    /// The broadcast with its counters, outcomes and series summed over the
    /// lanes and outcome items: one strongly consistent batch read.
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when the read fails or keeps leaving keys
    /// unprocessed; [`StoreError::Corrupt`] when the definition does not decode.
    pub async fn broadcast(&self, id: &BroadcastId) -> Result<Option<Broadcast>, StoreError> {
        // 33 keys, one request (BatchGetItem takes up to 100).
        let keys: Vec<Item> = std::iter::once(broadcast_pk(id))
            .chain((0..SEND_LANES).map(|l| lane_pk(id, l)))
            .chain((0..SEND_LANES).map(|l| outcome_pk(id, l)))
            .map(|pk| Item::from([("pk".to_string(), s(pk))]))
            .collect();
        let items = super::batch::get_keys(&self.ddb, &self.tables.broadcasts, keys).await?;
        let main = broadcast_pk(id);
        let Some(definition) = items.iter().find(|i| opt_s(i, "pk").as_deref() == Some(main.as_str())) else {
            return Ok(None);
        };
        let mut b = broadcast_from_item(definition)?;
        for lane in items
            .iter()
            .filter(|i| opt_s(i, "pk").as_deref() != Some(main.as_str()))
        {
            b.counts.sent += n_or_zero(lane, "sent");
            b.counts.skipped_unsubscribed += n_or_zero(lane, "skipped_unsubscribed");
            b.counts.skipped_policy += n_or_zero(lane, "skipped_policy");
            b.counts.failed += n_or_zero(lane, "failed");
            super::outcomes::add_reasons(lane, &mut b.counts);
            super::outcomes::add_outcomes(lane, &mut b.outcomes);
        }
        Ok(Some(b))
    }

    /// Moves a broadcast to `to` if it is in a state the lifecycle table
    /// allows that from, a resume excepted ([`BroadcastState::automatic_from`];
    /// resuming is [`BroadcastStore::resume`]); false if it was not.
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a DynamoDB call fails ([`StoreError::is_retryable`]
    /// says whether to try again).
    pub async fn transition(
        &self,
        id: &BroadcastId,
        to: BroadcastState,
        reason: Option<&str>,
    ) -> Result<bool, StoreError> {
        let from = to.automatic_from();
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
            // Ended (cancelled, done), it is no longer paused: a cancelled
            // broadcast said "paused through the API" still.
            if to != BroadcastState::Paused {
                update.push_str(", paused_reason");
            }
        }
        // Cancelled broadcasts are never planned again: their cursors (the
        // audience key of a lead, PSID included) go. A paused one keeps them:
        // a resume plans on from where it stopped.
        if to == BroadcastState::Cancelled {
            for shard in 0..AUDIENCE_SHARDS {
                update.push_str(&format!(", cursor_{shard}"));
            }
        }
        self.set_state(id, &from, to, &update, extra).await
    }

    /// Writes the state on the definition (if it is in one of `from`, with
    /// `definition_update`) and on every lane, in one transaction, so no send
    /// can be claimed against a lane that missed a cancel or pause.
    pub(crate) async fn set_state(
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
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a DynamoDB call fails ([`StoreError::is_retryable`]
    /// says whether to try again).
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
                && opt_s(i, "state")
                    .as_deref()
                    .and_then(BroadcastState::parse)
                    .is_some_and(BroadcastState::is_active)
        }))
    }

    /// Every plan job of a started broadcast is queued: it leaves the due ones.
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a DynamoDB call fails ([`StoreError::is_retryable`]
    /// says whether to try again).
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
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a DynamoDB call fails ([`StoreError::is_retryable`]
    /// says whether to try again).
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
                    .filter_map(|i| BroadcastId::parse(opt_s(i, "pk")?.strip_prefix("BCAST#")?).ok()),
            );
            match out.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(ids),
            }
        }
    }

    /// Marks the broadcast done once every shard is planned and every queued
    /// job is accounted for.
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a DynamoDB call fails ([`StoreError::is_retryable`]
    /// says whether to try again).
    pub async fn finish_if_complete(&self, b: &Broadcast, shards: u32) -> Result<bool, StoreError> {
        if b.shards_done < shards || b.counts.processed() < b.counts.queued {
            return Ok(false);
        }
        self.transition(&b.id, BroadcastState::Done, None).await
    }
}

pub(crate) fn broadcast_from_item(item: &Item) -> Result<Broadcast, StoreError> {
    let id = BroadcastId::parse(opt_s(item, "id").unwrap_or_default()).map_err(|_| StoreError::Corrupt("id"))?;
    let page_id =
        PageId::parse(opt_s(item, "page_id").unwrap_or_default()).map_err(|_| StoreError::Corrupt("page_id"))?;
    let message = serde_json::from_str(&opt_s(item, "message").unwrap_or_default())
        .map_err(|_| StoreError::Corrupt("message"))?;
    let state = BroadcastState::parse(&opt_s(item, "state").unwrap_or_default()).ok_or(StoreError::Corrupt("state"))?;
    let cursors = item
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("cursor_")?.parse().ok()?, v.as_s().ok()?.clone())))
        .collect();
    Ok(Broadcast {
        id,
        page_id,
        name: opt_s(item, "name"),
        message,
        audience_tags: item
            .get("tags")
            .and_then(|v| v.as_ss().ok())
            .cloned()
            .unwrap_or_default(),
        send_at_ms: item.get("send_at_ms").map(|_| n_or_zero(item, "send_at_ms")),
        state,
        created_at_ms: n_or_zero(item, "created_at_ms"),
        // Outcome counters are summed from the lanes by the caller.
        counts: Counts {
            queued: n_or_zero(item, "queued"),
            ..Counts::default()
        },
        shards_done: n_or_zero(item, "shards_done") as u32,
        cursors,
        paused_reason: opt_s(item, "paused_reason"),
        outcomes: Default::default(),
        resumed_at_ms: item.get("resumed_at_ms").map(|_| n_or_zero(item, "resumed_at_ms")),
        protection_baseline: super::outcomes::baseline_from_item(item),
    })
}
