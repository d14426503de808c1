//! Erasure tombstones: what an erasure leaves in the consent log (hashed
//! subject, when and why, the consent history with hashed proofs), written
//! by erasure and read by ingest (an erased lead is not brought back by an
//! event of untrusted time, a purged one's STOP stands).

use aws_sdk_dynamodb::types::AttributeValue;

use super::item::{n, opt_n, opt_s, s, Item};
use super::keys::{tombstone_pk, tombstone_pk_of};
use super::{Store, StoreError};
use crate::consent::SubscriberStatus;
use crate::crypto::subject_digest;
use crate::ids::{PageId, Psid};
use crate::lead::ErasureReason;
use crate::lead::{Tombstone, TombstoneKey};
use crate::queue::sha256_hex;

/// A tombstone keeps at most this many consent changes (item size limit).
pub(crate) const TOMBSTONE_HISTORY_LIMIT: usize = 1000;

impl Store {
    /// When the subject was last erased (from its tombstone), if ever.
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a DynamoDB call fails ([`StoreError::is_retryable`]
    /// says whether to try again).
    pub async fn last_erased_at(&self, page: &PageId, psid: &Psid) -> Result<Option<i64>, StoreError> {
        Ok(self.last_tombstone(page, psid).await?.map(|t| t.erased_at_ms))
    }

    /// The subject's latest erasure tombstone, if ever erased. Tombstones
    /// are keyed by the subject's pseudonym, so each key of the set (and the
    /// legacy digest) is queried, side by side, and the latest erasure under
    /// any of them wins (during a key rotation an instance still on the old
    /// set writes under the old key). Only leads without a record get here.
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a query fails.
    pub async fn last_tombstone(&self, page: &PageId, psid: &Psid) -> Result<Option<Tombstone>, StoreError> {
        let lookups = crate::pseudonym::keys().subject_lookups(page, psid);
        let found = futures_util::future::try_join_all(lookups.iter().map(|p| self.last_tombstone_of(page, p))).await?;
        Ok(found.into_iter().flatten().max_by_key(|t| t.erased_at_ms))
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
                    key: TombstoneKey {
                        pk: opt_s(i, "pk")?,
                        sk: opt_s(i, "sk")?,
                    },
                    erased_at_ms: opt_n(i, "erased_at_ms")?,
                    reason: opt_s(i, "reason").unwrap_or_default(),
                    status_before: opt_s(i, "status_before").and_then(|st| SubscriberStatus::parse(&st)),
                    consent_changed_at_ms: opt_n(i, "consent_changed_at_ms").unwrap_or(0),
                })
            })
            .max_by_key(|t| t.erased_at_ms))
    }
}

/// The tombstone: hashed subject, when and why it was erased, and the consent
/// history with its hashed proofs (never the PSID, the mids or any text).
pub(crate) fn tombstone_item(
    page: &PageId,
    psid: &Psid,
    sub: &Item,
    history: &[Item],
    reason: ErasureReason,
    now_ms: i64,
) -> Item {
    let mut item = Item::new();
    item.insert("pk".into(), s(tombstone_pk(page, psid)));
    let created = opt_n(sub, "created_at_ms").unwrap_or(0);
    // One tombstone per stored lifetime of the subject: a repeated erasure of
    // the same record writes the same key.
    item.insert("sk".into(), s(format!("ERASED#{created:013}")));
    item.insert("page_id".into(), s(page.as_str()));
    item.insert("subject_digest".into(), s(subject_digest(page, psid)));
    item.insert("erased_at_ms".into(), n(now_ms));
    item.insert("reason".into(), s(reason.as_str()));
    if let Some(status) = opt_s(sub, "status") {
        item.insert("status_before".into(), s(status));
    }
    if let Some(at) = opt_n(sub, "consent_changed_at_ms") {
        item.insert("consent_changed_at_ms".into(), n(at));
    }
    let skip = history.len().saturating_sub(TOMBSTONE_HISTORY_LIMIT);
    if skip > 0 {
        item.insert("history_dropped".into(), n(skip));
    }
    let entries = history
        .iter()
        .skip(skip)
        .map(|h| {
            let mut e = Item::new();
            for k in ["from", "to", "reason", "event_sha256", "delivery_sha256"] {
                if let Some(v) = opt_s(h, k) {
                    e.insert(k.into(), s(v));
                }
            }
            if let Some(at) = opt_n(h, "at_ms") {
                e.insert("at_ms".into(), n(at));
            }
            if let Some(key) = opt_s(h, "event_key") {
                e.insert("event_key_sha256".into(), s(sha256_hex(key.as_bytes())));
            }
            AttributeValue::M(e)
        })
        .collect();
    item.insert("history".into(), AttributeValue::L(entries));
    item
}

/// A transaction item that holds only while the tombstone is as `read`:
/// its STOP and that STOP's time, which [`crate::consent::Outcome::StopOnTombstone`]
/// changes. A decision made on a tombstone (a kept STOP, or a new lead
/// begun on it) is committed only against the tombstone it was made on:
/// two events of one erased person decided side by side, a STOP kept on the
/// tombstone and a "hi" making a new lead, each committed on the tombstone
/// as both read it, and the STOP was lost to the new lead.
pub(crate) fn tombstone_unchanged(
    table: &str,
    read: &Tombstone,
) -> Result<aws_sdk_dynamodb::types::TransactWriteItem, StoreError> {
    let (condition, values) = unchanged_condition(read);
    let mut check = aws_sdk_dynamodb::types::ConditionCheck::builder()
        .table_name(table)
        .key("pk", s(&read.key.pk))
        .key("sk", s(&read.key.sk))
        .condition_expression(condition);
    for (k, v) in values {
        check = check.expression_attribute_values(k, v);
    }
    let check = check.build().map_err(|_| StoreError::Corrupt("tombstone check"))?;
    Ok(aws_sdk_dynamodb::types::TransactWriteItem::builder()
        .condition_check(check)
        .build())
}

/// The condition of [`tombstone_unchanged`] and its values (`:t_*`).
pub(crate) fn unchanged_condition(read: &Tombstone) -> (String, Vec<(&'static str, AttributeValue)>) {
    let mut values = vec![(":t_at", n(read.consent_changed_at_ms))];
    let status = match read.status_before {
        Some(st) => {
            values.push((":t_status", s(st.as_str())));
            "status_before = :t_status"
        }
        None => "attribute_not_exists(status_before)",
    };
    // A tombstone without the time reads as 0.
    let at = if read.consent_changed_at_ms == 0 {
        "(attribute_not_exists(consent_changed_at_ms) OR consent_changed_at_ms = :t_at)"
    } else {
        "consent_changed_at_ms = :t_at"
    };
    (format!("attribute_exists(pk) AND {status} AND {at}"), values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(pairs: &[(&str, &str)]) -> Item {
        pairs.iter().map(|(k, v)| (k.to_string(), s(*v))).collect()
    }

    #[test]
    fn a_tombstone_holds_hashes_and_never_the_psid_or_the_mids() {
        let page = PageId::parse("1000000000000001").unwrap();
        let psid = Psid::parse("2000000000000001").unwrap();
        let mut sub = item(&[("status", "unsubscribed"), ("psid", "2000000000000001")]);
        sub.insert("created_at_ms".into(), n(5));
        let mut h = item(&[
            ("from", "subscribed"),
            ("to", "unsubscribed"),
            ("reason", "keyword"),
            ("event_key", "m_SECRET_MID"),
            ("event_sha256", "ab"),
            ("delivery_sha256", "cd"),
            ("pk", "PAGE#1000000000000001#SUB#2000000000000001"),
        ]);
        h.insert("at_ms".into(), n(9));
        let t = tombstone_item(&page, &psid, &sub, &[h], ErasureReason::Request, 10);
        let text = format!("{t:?}");
        assert!(!text.contains("2000000000000001"), "{text}");
        assert!(!text.contains("SECRET_MID"), "{text}");
        assert!(text.contains(&sha256_hex(b"m_SECRET_MID")));
        assert_eq!(t["sk"].as_s().unwrap(), "ERASED#0000000000005");
        assert_eq!(t["history"].as_l().unwrap().len(), 1);
        assert_eq!(t["status_before"].as_s().unwrap(), "unsubscribed");
    }

    #[test]
    fn a_long_history_is_capped_with_a_count_of_what_was_dropped() {
        let page = PageId::parse("1000000000000001").unwrap();
        let psid = Psid::parse("2000000000000002").unwrap();
        let history: Vec<Item> = (0..TOMBSTONE_HISTORY_LIMIT + 3)
            .map(|_| item(&[("to", "subscribed")]))
            .collect();
        let t = tombstone_item(&page, &psid, &Item::new(), &history, ErasureReason::Request, 1);
        assert_eq!(t["history"].as_l().unwrap().len(), TOMBSTONE_HISTORY_LIMIT);
        assert_eq!(t["history_dropped"].as_n().unwrap(), "3");
    }
}
