//! Outcomes storage: a lead's recent sends (a list on the subscriber item),
//! the per-lane outcome counters and time series of a broadcast, and the
//! times written on a delivery record. Ingest adds its writes to the event's
//! own transaction and the sender to its completion's, so neither costs a
//! DynamoDB request of its own.
//!
//! Counters: `sent`, `blocked` and `err_<code>` (Meta's errors) live on the
//! broadcast's lanes, which the sender already writes; `delivered`, `read`,
//! `unsubscribed` on separate outcome items (`BCAST#<id>#OUT#<lane>`), which
//! only ingest writes, so receipts never contend with the sender's claims.
//! Series counters are attributes `ts_<s|d|r|u>_<minute>` on the same items.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};

use super::item::{n, opt_n, opt_s, s, Item};
use super::keys::{audience_shard, broadcast_pk, delivery_sk, lane_pk, outcome_pk, subject_pk};
use super::{BroadcastStore, StoreError};
use crate::broadcast::DeliveryState;
use crate::ids::{BroadcastId, PageId, Psid};
use crate::outcomes::{bucket_minute, Attribution, Outcomes, ProtectionBaseline, ProtectionCounts, RecentSend};

/// The series attribute of `kind` (`s`ent, `d`elivered, `r`ead,
/// `u`nsubscribed) in `minute` (minutes since the epoch).
pub(crate) fn series_attr(kind: char, minute: i64) -> String {
    format!("ts_{kind}_{minute}")
}

/// The counter attribute of a Meta error (`code` or `code/subcode`).
pub(crate) fn error_attr(code: &str) -> String {
    format!("err_{code}")
}

/// The lane counter of a skipped (`skip_<code>`) or failed (`fail_<code>`)
/// job's reason code; none for a send.
pub(crate) fn reason_attr(state: DeliveryState, code: &str) -> Option<String> {
    match state {
        DeliveryState::SkippedUnsubscribed | DeliveryState::SkippedPolicy => Some(format!("skip_{code}")),
        DeliveryState::Failed => Some(format!("fail_{code}")),
        DeliveryState::Sent | DeliveryState::Claimed => None,
    }
}

/// Adds a lane's reason counters (`skip_<code>`, `fail_<code>`) to `counts`.
pub(crate) fn add_reasons(item: &Item, counts: &mut crate::broadcast::Counts) {
    for (k, v) in item {
        let Some(value) = v.as_n().ok().and_then(|v| v.parse::<i64>().ok()) else {
            continue;
        };
        let (by_reason, code) = if let Some(code) = k.strip_prefix("skip_") {
            (&mut counts.skipped_by_reason, code)
        } else if let Some(code) = k.strip_prefix("fail_") {
            (&mut counts.failed_by_reason, code)
        } else {
            continue;
        };
        *by_reason.entry(code.to_string()).or_insert(0) += value;
    }
}

/// What a completed job records besides its state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Completion<'a> {
    /// The Send API's `message_id` (a send).
    pub message_id: Option<&'a str>,
    /// Our clock just before the Send API call, ms (a send): the lead's
    /// watermarks are compared with it, and it dates the series.
    pub sent_at_ms: Option<i64>,
    /// Why the job was skipped or failed (a reason code).
    pub reason: Option<&'a str>,
    /// Meta's error, `code` or `code/subcode`, counted per broadcast.
    pub meta_error: Option<&'a str>,
    /// Meta says the person cannot be reached: counted as `blocked`.
    pub blocked: bool,
}

/// One recent send as a list element of the subscriber item.
pub(crate) fn recent_send_to_attr(r: &RecentSend) -> AttributeValue {
    let mut m = HashMap::new();
    m.insert("b".to_string(), s(r.broadcast_id.as_str()));
    m.insert("t".to_string(), n(r.sent_at_ms));
    if let Some(mid) = &r.mid {
        m.insert("m".to_string(), s(mid));
    }
    let flags = u8::from(r.delivered) | (u8::from(r.read) << 1) | (u8::from(r.unsubscribed) << 2);
    m.insert("f".to_string(), n(flags));
    AttributeValue::M(m)
}

/// The recent sends of a subscriber item; entries that do not decode are dropped.
pub(crate) fn recent_sends_from_item(item: &Item) -> Vec<RecentSend> {
    let Some(list) = item.get("recent_sends").and_then(|v| v.as_l().ok()) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|v| {
            let m = v.as_m().ok()?;
            let flags = opt_n(m, "f").unwrap_or(0);
            Some(RecentSend {
                broadcast_id: BroadcastId::parse(opt_s(m, "b")?).ok()?,
                sent_at_ms: opt_n(m, "t")?,
                mid: opt_s(m, "m"),
                delivered: flags & 1 != 0,
                read: flags & 2 != 0,
                unsubscribed: flags & 4 != 0,
            })
        })
        .collect()
}

/// The transaction items that record `attributions` for the lead (`page`,
/// `psid`): the times on each delivery record (written if absent: a
/// watermark redelivered never moves them) and the counters and series on
/// each broadcast's outcome item for the lead's lane.
///
/// A delivery record the retention sweep removed is written back only as
/// a stub that expires at `expires_at_s` and stays findable by subject
/// (erasure, export).
pub(crate) fn attribution_items(
    deliveries: &str,
    broadcasts: &str,
    page: &PageId,
    psid: &Psid,
    attributions: &[Attribution],
    expires_at_s: i64,
) -> Result<Vec<TransactWriteItem>, StoreError> {
    let lane = audience_shard(psid);
    let mut items = Vec::new();
    for a in attributions {
        let mut sets = vec![
            "expires_at = if_not_exists(expires_at, :e)",
            "subject_pk = if_not_exists(subject_pk, :sp)",
            "at_ms = if_not_exists(at_ms, :t)",
            "page_id = if_not_exists(page_id, :p)",
        ];
        let mut delivery = Update::builder()
            .table_name(deliveries)
            .key("pk", s(broadcast_pk(&a.broadcast_id)))
            .key("sk", s(delivery_sk(psid)))
            .expression_attribute_values(":e", n(expires_at_s))
            .expression_attribute_values(":sp", s(subject_pk(page, psid)))
            .expression_attribute_values(":t", n(a.sent_at_ms))
            .expression_attribute_values(":p", s(page.as_str()));
        let mut adds = Vec::new();
        let mut names = HashMap::new();
        let mut values = HashMap::new();
        values.insert(":one".to_string(), n(1));
        for (kind, counter, at, attr, placeholder) in [
            ('d', "delivered", a.delivered_at_ms, "delivered_at_ms", ":d"),
            ('r', "read", a.read_at_ms, "read_at_ms", ":r"),
            ('u', "unsubscribed", a.unsubscribed_at_ms, "unsubscribed_at_ms", ":u"),
        ] {
            let Some(at) = at else { continue };
            sets.push(match attr {
                "delivered_at_ms" => "delivered_at_ms = if_not_exists(delivered_at_ms, :d)",
                "read_at_ms" => "read_at_ms = if_not_exists(read_at_ms, :r)",
                _ => "unsubscribed_at_ms = if_not_exists(unsubscribed_at_ms, :u)",
            });
            delivery = delivery.expression_attribute_values(placeholder, n(at));
            // Names by placeholder: `read` is a DynamoDB reserved word.
            adds.push(format!("#c{kind} :one"));
            names.insert(format!("#c{kind}"), counter.to_string());
            if let Some(minute) = bucket_minute(at, a.sent_at_ms) {
                adds.push(format!("#t{kind} :one"));
                names.insert(format!("#t{kind}"), series_attr(kind, minute));
            }
        }
        if adds.is_empty() {
            continue;
        }
        let delivery = delivery
            .update_expression(format!("SET {}", sets.join(", ")))
            .build()
            .map_err(|_| StoreError::Corrupt("update"))?;
        items.push(TransactWriteItem::builder().update(delivery).build());
        let counters = Update::builder()
            .table_name(broadcasts)
            .key("pk", s(outcome_pk(&a.broadcast_id, lane)))
            .update_expression(format!("ADD {}", adds.join(", ")))
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(|_| StoreError::Corrupt("update"))?;
        items.push(TransactWriteItem::builder().update(counters).build());
    }
    Ok(items)
}

/// Adds what a lane or outcome item holds to `o` (counters, errors, series).
pub(crate) fn add_outcomes(item: &Item, o: &mut Outcomes) {
    for (k, v) in item {
        let Some(value) = v.as_n().ok().and_then(|v| v.parse::<i64>().ok()) else {
            continue;
        };
        match k.as_str() {
            "delivered" => o.delivered += value,
            "read" => o.read += value,
            "unsubscribed" => o.unsubscribed += value,
            "blocked" => o.blocked += value,
            _ => {
                if let Some(code) = k.strip_prefix("err_") {
                    *o.meta_errors.entry(code.to_string()).or_insert(0) += value;
                } else if let Some((kind, minute)) = k.strip_prefix("ts_").and_then(|r| r.split_once('_')) {
                    let Ok(minute) = minute.parse::<i64>() else { continue };
                    let point = o.series.entry(minute).or_default();
                    match kind {
                        "s" => point.sent += value,
                        "d" => point.delivered += value,
                        "r" => point.read += value,
                        "u" => point.unsubscribed += value,
                        _ => {}
                    }
                }
            }
        }
    }
}

impl BroadcastStore {
    /// Counts an outcome on the lead's lane: its counter, and for a send its
    /// minute of the series, for a blocked lead `blocked`, for a Meta error
    /// its code (see [`Completion`]).
    pub(crate) fn count_update(
        &self,
        task: &crate::queue::SendTask,
        state: DeliveryState,
        extra: &Completion<'_>,
    ) -> Result<TransactWriteItem, StoreError> {
        let counter = match state {
            DeliveryState::Sent => "sent",
            DeliveryState::SkippedUnsubscribed => "skipped_unsubscribed",
            DeliveryState::SkippedPolicy => "skipped_policy",
            DeliveryState::Failed => "failed",
            DeliveryState::Claimed => return Err(StoreError::Corrupt("claimed is not an outcome")),
        };
        let mut adds = vec!["#c :one"];
        let mut update = Update::builder()
            .table_name(&self.tables.broadcasts)
            .key("pk", s(lane_pk(&task.broadcast_id, audience_shard(&task.psid))))
            .expression_attribute_names("#c", counter)
            .expression_attribute_values(":one", n(1));
        if let Some(at) = extra.sent_at_ms.filter(|_| state == DeliveryState::Sent) {
            if let Some(minute) = crate::outcomes::bucket_minute(at, at) {
                adds.push("#ts :one");
                update = update.expression_attribute_names("#ts", series_attr('s', minute));
            }
        }
        if extra.blocked {
            adds.push("#b :one");
            update = update.expression_attribute_names("#b", "blocked");
        }
        if let Some(code) = extra.meta_error {
            adds.push("#e :one");
            update = update.expression_attribute_names("#e", error_attr(code));
        }
        // The skip's or failure's reason, in the same update: no request of its own.
        if let Some(attr) = extra.reason.and_then(|r| reason_attr(state, r)) {
            adds.push("#why :one");
            update = update.expression_attribute_names("#why", attr);
        }
        let update = update
            .update_expression(format!("ADD {}", adds.join(", ")))
            .build()
            .map_err(|_| StoreError::Corrupt("update"))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}

/// Definition attributes of the page-protection baseline
/// ([`ProtectionBaseline`]), set by a resume of a protection pause.
const BASELINE_ATTRS: [&str; 4] = [
    "protect_base_at_ms",
    "protect_base_sent",
    "protect_base_unsubscribed",
    "protect_base_blocked",
];

/// The `SET` clause and its values that record `base` on a definition item.
pub(crate) fn baseline_update(base: &ProtectionBaseline) -> (String, Item) {
    let c = base.counts;
    let numbers = [base.resumed_at_ms, c.sent, c.unsubscribed, c.blocked];
    let set = BASELINE_ATTRS
        .iter()
        .enumerate()
        .map(|(i, a)| format!("{a} = :pb{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let values = numbers
        .iter()
        .enumerate()
        .map(|(i, v)| (format!(":pb{i}"), n(*v)))
        .collect();
    (set, values)
}

/// The page-protection baseline a definition item holds, if any.
pub(crate) fn baseline_from_item(item: &Item) -> Option<ProtectionBaseline> {
    let [at, sent, unsubscribed, blocked] = BASELINE_ATTRS.map(|a| opt_n(item, a));
    Some(ProtectionBaseline {
        resumed_at_ms: at?,
        counts: ProtectionCounts {
            sent: sent?,
            unsubscribed: unsubscribed?,
            blocked: blocked?,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_sends_round_trip_through_the_subscriber_item() {
        let mut r = RecentSend::new(BroadcastId::parse("ab").unwrap(), 5, Some("m_1".into()));
        r.read = true;
        r.delivered = true;
        let plain = RecentSend::new(BroadcastId::parse("cd").unwrap(), 6, None);
        let item = Item::from([(
            "recent_sends".to_string(),
            AttributeValue::L(vec![recent_send_to_attr(&r), recent_send_to_attr(&plain)]),
        )]);
        assert_eq!(recent_sends_from_item(&item), vec![r, plain]);
    }

    #[test]
    fn counters_and_series_are_summed_from_lane_and_outcome_items() {
        let lane = Item::from([
            ("sent".to_string(), n(3)),
            ("blocked".to_string(), n(1)),
            (error_attr("551"), n(1)),
            (series_attr('s', 100), n(3)),
            ("state".to_string(), s("sending")),
        ]);
        let out = Item::from([
            ("delivered".to_string(), n(2)),
            ("read".to_string(), n(1)),
            (series_attr('d', 100), n(2)),
            (series_attr('r', 101), n(1)),
        ]);
        let mut o = Outcomes::default();
        add_outcomes(&lane, &mut o);
        add_outcomes(&out, &mut o);
        assert_eq!((o.delivered, o.read, o.blocked), (2, 1, 1));
        assert_eq!(o.meta_errors["551"], 1);
        assert_eq!((o.series[&100].sent, o.series[&100].delivered), (3, 2));
        assert_eq!(o.series[&101].read, 1);
    }

    #[test]
    fn skip_and_failure_reasons_are_summed_per_code_over_the_lanes() {
        let attr = |state, code| reason_attr(state, code).unwrap();
        let lane_a = Item::from([
            (attr(DeliveryState::SkippedPolicy, "outside_window"), n(2)),
            (attr(DeliveryState::SkippedUnsubscribed, "unsubscribed"), n(1)),
            (attr(DeliveryState::Failed, "blocked"), n(1)),
            ("skipped_policy".to_string(), n(2)),
            ("sent".to_string(), n(4)),
        ]);
        let lane_b = Item::from([(attr(DeliveryState::SkippedPolicy, "outside_window"), n(3))]);
        let mut counts = crate::broadcast::Counts::default();
        add_reasons(&lane_a, &mut counts);
        add_reasons(&lane_b, &mut counts);
        assert_eq!(counts.skipped_by_reason["outside_window"], 5);
        assert_eq!(counts.skipped_by_reason["unsubscribed"], 1);
        assert_eq!(counts.skipped_by_reason.len(), 2);
        assert_eq!(counts.failed_by_reason["blocked"], 1);
        assert_eq!(reason_attr(DeliveryState::Sent, "x"), None);
    }
}
