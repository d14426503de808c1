//! Leads: the subscriber item (its encoding, with the sparse audience and
//! purge index keys), the subject's data key, its consent log and
//! tombstones.

use aws_sdk_dynamodb::types::AttributeValue;

use super::item::{b, get_item, get_n, get_s, n, opt_b, opt_n, opt_s, s, Item};
use super::keys::{
    audience_pk, audience_shard, subject_pk, subscriber_pk, subscriber_sk, unreachable_pk, unsubscribed_pk,
};
use super::{Store, StoreError};
use crate::broadcast::LeadStanding;
use crate::consent::SubscriberStatus;
use crate::ids::{PageId, Psid};
use crate::lead::{ConsentEntry, MarketingToken, Proof, Subscriber};
use crate::meta::Platform;

pub(crate) fn proof_to_item(prefix: &str, p: &Proof, item: &mut Item) {
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
    // Sparse too, apart from `unsub_pk` so each purge knows its reason: the
    // sender sets it with the status (`mark_unreachable`), and every write
    // of the whole item keeps it while they stay unreachable.
    if sub.status == SubscriberStatus::Unreachable {
        item.insert("unreachable_pk".into(), s(unreachable_pk(&sub.page_id)));
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
    if !sub.recent_sends.is_empty() {
        item.insert(
            "recent_sends".into(),
            AttributeValue::L(
                sub.recent_sends
                    .iter()
                    .map(super::outcomes::recent_send_to_attr)
                    .collect(),
            ),
        );
    }
    item.insert("created_at_ms".into(), n(sub.created_at_ms));
    if let Some(at) = sub.prior_erasure_at_ms {
        item.insert("prior_erasure_at_ms".into(), n(at));
    }
    if let Some(g) = &sub.generation {
        item.insert("generation".into(), s(g));
    }
    item.insert("version".into(), n(version));
    item
}

/// The condition that a lead's stored record is still the one a writer
/// read, `version` of the lifetime `generation` (`None`: a record stored
/// before generations), with its values: a version alone repeats once the
/// lead is erased and begun again.
pub(crate) fn unchanged_since_read(
    version: u64,
    generation: Option<&str>,
) -> (&'static str, Vec<(&'static str, AttributeValue)>) {
    match generation {
        Some(g) => (
            "version = :v AND generation = :g",
            vec![(":v", n(version)), (":g", s(g))],
        ),
        None => (
            "version = :v AND attribute_not_exists(generation)",
            vec![(":v", n(version))],
        ),
    }
}

/// A subscriber as stored.
///
/// # Errors
/// [`StoreError::Corrupt`] naming the first attribute missing or unreadable.
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
        recent_sends: super::outcomes::recent_sends_from_item(item),
        consent_intent_at_ms: opt_n(item, "consent_intent_at_ms").unwrap_or(0),
        consent_intent_clamped: item
            .get("consent_intent_clamped")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false),
        created_at_ms: get_n(item, "created_at_ms")?,
        prior_erasure_at_ms: opt_n(item, "prior_erasure_at_ms"),
        generation: opt_s(item, "generation"),
        version: get_n(item, "version")? as u64,
    })
}

impl Store {
    /// A lead's stored record as is (consistent read).
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a DynamoDB call fails ([`StoreError::is_retryable`]
    /// says whether to try again).
    pub async fn subscriber_item(&self, page: &PageId, psid: &Psid) -> Result<Option<Item>, StoreError> {
        get_item(
            &self.ddb,
            &self.tables.subscribers,
            subscriber_pk(page),
            Some(subscriber_sk(psid)),
        )
        .await
    }

    /// The lead with its wrapped data key (consistent reads); `None` when there
    /// is none, or an erasure removed its key since the read.
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a read fails; [`StoreError::Corrupt`] when
    /// the stored item does not decode.
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

    /// A lead's standing: consent status and whether their marketing token
    /// is stopped (one read, no key); `None` when there is no lead, or when
    /// `generation` names a lifetime of theirs that an erasure ended (the
    /// lead there now is one they began since).
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a DynamoDB call fails ([`StoreError::is_retryable`]
    /// says whether to try again).
    pub async fn standing(
        &self,
        page: &PageId,
        psid: &Psid,
        generation: Option<&str>,
    ) -> Result<Option<LeadStanding>, StoreError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.tables.subscribers)
            .key("pk", s(subscriber_pk(page)))
            .key("sk", s(subscriber_sk(psid)))
            .projection_expression("#s, generation, marketing_stopped")
            .expression_attribute_names("#s", "status")
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        let Some(item) = out
            .item()
            .filter(|i| generation.is_none_or(|g| opt_s(i, "generation").as_deref() == Some(g)))
        else {
            return Ok(None);
        };
        Ok(opt_s(item, "status")
            .and_then(|st| SubscriberStatus::parse(&st))
            .map(|status| LeadStanding {
                status,
                marketing_stopped: matches!(item.get("marketing_stopped"), Some(AttributeValue::Bool(true))),
            }))
    }

    /// A subject's wrapped data key.
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a DynamoDB call fails ([`StoreError::is_retryable`]
    /// says whether to try again).
    pub async fn subject_key(&self, page: &PageId, psid: &Psid) -> Result<Option<Vec<u8>>, StoreError> {
        let item = get_item(&self.ddb, &self.tables.subject_keys, subject_pk(page, psid), None).await?;
        Ok(item.as_ref().and_then(|i| opt_b(i, "data_key")))
    }

    /// The consent log of one lead, oldest first.
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a DynamoDB call fails ([`StoreError::is_retryable`]
    /// says whether to try again).
    pub async fn consent_history(&self, page: &PageId, psid: &Psid) -> Result<Vec<Item>, StoreError> {
        self.query_all(&self.tables.consent_log, subject_pk(page, psid)).await
    }

    /// The consent log of one lead, oldest first, typed.
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a query fails.
    pub async fn consent_entries(&self, page: &PageId, psid: &Psid) -> Result<Vec<ConsentEntry>, StoreError> {
        Ok(self
            .consent_history(page, psid)
            .await?
            .iter()
            .map(super::records::consent_entry)
            .collect())
    }

    /// The stored (sealed) messages of one lead, oldest first.
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a DynamoDB call fails ([`StoreError::is_retryable`]
    /// says whether to try again).
    pub async fn messages(&self, page: &PageId, psid: &Psid) -> Result<Vec<Item>, StoreError> {
        self.query_all(&self.tables.messages, subject_pk(page, psid)).await
    }
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
            recent_sends: vec![crate::outcomes::RecentSend::new(
                crate::ids::BroadcastId::parse("ab").unwrap(),
                11,
                Some("m_2".into()),
            )],
            consent_intent_at_ms: 10,
            consent_intent_clamped: true,
            created_at_ms: 1,
            prior_erasure_at_ms: Some(12),
            generation: Some("0123456789abcdef".into()),
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
}
