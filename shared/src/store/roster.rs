//! A page's leads as the management API manages them: listed by consent
//! status and tag (ids, status and tags only), read whole page by page for
//! a broadcast preview, and tagged or untagged one at a time. Tag writes bump the lead's `version`, so an ingest commit
//! racing them reads the lead again instead of writing old tags back.

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::ReturnValue;

use super::item::{n, opt_n, opt_s, s, Item};
use super::keys::{subscriber_pk, subscriber_sk};
use super::leads::subscriber_from_item;
use super::{Cursor, Store, StoreError};
use crate::consent::SubscriberStatus;
use crate::ids::{PageId, Psid};
use crate::lead::Subscriber;
use crate::tags::MAX_TAGS;

/// Query pages one listing call reads at most before it answers with what
/// it found and a cursor (filters can skip many leads).
const MAX_LIST_READS: usize = 10;

/// A lead as listed: no name, no message, no token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadSummary {
    pub psid: Psid,
    pub status: SubscriberStatus,
    pub tags: BTreeSet<String>,
    /// When its consent last changed (ms).
    pub consent_changed_at_ms: i64,
}

/// One page of a page's leads, in PSID order.
#[derive(Debug, Clone)]
pub struct LeadList {
    pub leads: Vec<LeadSummary>,
    /// Where the next page starts; `None` at the end.
    pub next: Option<Cursor>,
}

/// One page of a page's leads, whole, in PSID order (every status).
#[derive(Debug, Clone)]
pub struct LeadBatch {
    pub leads: Vec<Subscriber>,
    /// Items read that do not decode as a lead (the planner skips those too).
    pub unreadable: usize,
    /// Where the next page starts; `None` at the end.
    pub next: Option<Cursor>,
}

/// What a tag write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagWrite {
    /// The lead's tags changed.
    Changed,
    /// They already were as asked (adding a tag it has, removing one it lacks).
    Unchanged,
    /// No such lead (never seen, or erased).
    NoLead,
    /// The lead already carries [`MAX_TAGS`] other tags.
    TooManyTags,
}

impl Store {
    /// Up to `limit` leads of `page` in PSID order, with `status` and
    /// carrying `tag` where given, after `cursor` (from [`LeadList::next`]).
    ///
    /// # Errors
    /// [`StoreError::Corrupt`]`("cursor")` when the cursor is not one of this
    /// page's listing; [`StoreError::Dynamo`] when a query fails.
    pub async fn page_leads(
        &self,
        page: &PageId,
        status: Option<SubscriberStatus>,
        tag: Option<&str>,
        cursor: Option<Cursor>,
        limit: usize,
    ) -> Result<LeadList, StoreError> {
        let pk = subscriber_pk(page);
        check_cursor(&pk, cursor.as_ref())?;
        let mut filters = Vec::new();
        if status.is_some() {
            filters.push("#s = :st");
        }
        if tag.is_some() {
            filters.push("contains(tags, :tag)");
        }
        let mut start = cursor.map(|c| c.0);
        let mut leads = Vec::new();
        for _ in 0..MAX_LIST_READS {
            let want = limit.saturating_sub(leads.len()).max(1);
            let mut query = self
                .ddb
                .query()
                .table_name(&self.tables.subscribers)
                .key_condition_expression("pk = :p AND begins_with(sk, :sub)")
                .expression_attribute_values(":p", s(&pk))
                .expression_attribute_values(":sub", s("SUB#"))
                .projection_expression("pk, sk, psid, #s, tags, consent_changed_at_ms")
                .expression_attribute_names("#s", "status")
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .limit(want as i32);
            if !filters.is_empty() {
                query = query.filter_expression(filters.join(" AND "));
            }
            if let Some(st) = status {
                query = query.expression_attribute_values(":st", s(st.as_str()));
            }
            if let Some(t) = tag {
                query = query.expression_attribute_values(":tag", s(t));
            }
            let out = query.send().await.map_err(StoreError::dynamo)?;
            leads.extend(out.items().iter().filter_map(summary));
            start = out.last_evaluated_key().filter(|k| !k.is_empty()).cloned();
            if start.is_none() || leads.len() >= limit {
                break;
            }
        }
        Ok(LeadList {
            leads,
            next: start.map(Cursor),
        })
    }

    /// Up to `limit` leads of `page` (1 to 1000; DynamoDB also stops at
    /// 1 MB), every status, in PSID order after `cursor` (from
    /// [`LeadBatch::next`]): one eventually consistent query of the page's
    /// partition (half the read units of a consistent one; a preview may be
    /// a moment behind).
    ///
    /// # Errors
    /// [`StoreError::Corrupt`]`("cursor")` when the cursor is not one of this
    /// page's leads; [`StoreError::Dynamo`] when the query fails.
    pub async fn page_leads_whole(
        &self,
        page: &PageId,
        cursor: Option<Cursor>,
        limit: usize,
    ) -> Result<LeadBatch, StoreError> {
        let pk = subscriber_pk(page);
        check_cursor(&pk, cursor.as_ref())?;
        let out = self
            .ddb
            .query()
            .table_name(&self.tables.subscribers)
            .key_condition_expression("pk = :p AND begins_with(sk, :sub)")
            .expression_attribute_values(":p", s(&pk))
            .expression_attribute_values(":sub", s("SUB#"))
            .set_exclusive_start_key(cursor.map(|c| c.0))
            .limit(limit.clamp(1, 1000) as i32)
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        let mut leads = Vec::with_capacity(out.items().len());
        let mut unreadable = 0;
        for item in out.items() {
            match subscriber_from_item(item) {
                Ok(lead) => leads.push(lead),
                Err(_) => unreadable += 1,
            }
        }
        Ok(LeadBatch {
            leads,
            unreadable,
            next: out.last_evaluated_key().filter(|k| !k.is_empty()).cloned().map(Cursor),
        })
    }

    /// Adds `tag` to a lead (the tag's form is checked by the caller with
    /// [`crate::tags::is_valid`]). Idempotent.
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a DynamoDB call fails.
    pub async fn add_tag(&self, page: &PageId, psid: &Psid, tag: &str) -> Result<TagWrite, StoreError> {
        let out = self
            .ddb
            .update_item()
            .table_name(&self.tables.subscribers)
            .key("pk", s(subscriber_pk(page)))
            .key("sk", s(subscriber_sk(psid)))
            .update_expression("ADD tags :t, version :one")
            .condition_expression(
                "attribute_exists(pk) AND #s <> :erased \
                 AND (attribute_not_exists(tags) OR contains(tags, :tag) OR size(tags) < :max)",
            )
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":t", aws_sdk_dynamodb::types::AttributeValue::Ss(vec![tag.to_string()]))
            .expression_attribute_values(":tag", s(tag))
            .expression_attribute_values(":erased", s(SubscriberStatus::Erased.as_str()))
            .expression_attribute_values(":max", n(MAX_TAGS))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match out {
            Ok(o) => Ok(if had_tag(o.attributes(), tag) {
                TagWrite::Unchanged
            } else {
                TagWrite::Changed
            }),
            Err(e) if is_condition_failed(&e) => Ok(match self.standing(page, psid, None).await?.map(|l| l.status) {
                None | Some(SubscriberStatus::Erased) => TagWrite::NoLead,
                Some(_) => TagWrite::TooManyTags,
            }),
            Err(e) => Err(StoreError::dynamo(e)),
        }
    }

    /// Removes `tag` from a lead. Idempotent.
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a DynamoDB call fails.
    pub async fn remove_tag(&self, page: &PageId, psid: &Psid, tag: &str) -> Result<TagWrite, StoreError> {
        let out = self
            .ddb
            .update_item()
            .table_name(&self.tables.subscribers)
            .key("pk", s(subscriber_pk(page)))
            .key("sk", s(subscriber_sk(psid)))
            .update_expression("DELETE tags :t ADD version :one")
            .condition_expression("attribute_exists(pk) AND #s <> :erased")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":t", aws_sdk_dynamodb::types::AttributeValue::Ss(vec![tag.to_string()]))
            .expression_attribute_values(":erased", s(SubscriberStatus::Erased.as_str()))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match out {
            Ok(o) => Ok(if had_tag(o.attributes(), tag) {
                TagWrite::Changed
            } else {
                TagWrite::Unchanged
            }),
            Err(e) if is_condition_failed(&e) => Ok(TagWrite::NoLead),
            Err(e) => Err(StoreError::dynamo(e)),
        }
    }
}

/// A caller's cursor must name a lead of the partition `pk` being read.
fn check_cursor(pk: &str, cursor: Option<&Cursor>) -> Result<(), StoreError> {
    match cursor {
        Some(c) if c.attr("pk") != Some(pk) || !c.attr("sk").is_some_and(|sk| sk.starts_with("SUB#")) => {
            Err(StoreError::Corrupt("cursor"))
        }
        _ => Ok(()),
    }
}

fn is_condition_failed(
    e: &aws_sdk_dynamodb::error::SdkError<aws_sdk_dynamodb::operation::update_item::UpdateItemError>,
) -> bool {
    e.as_service_error()
        .is_some_and(|se| se.is_conditional_check_failed_exception())
}

fn had_tag(
    old: Option<&std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>>,
    tag: &str,
) -> bool {
    old.and_then(|o| o.get("tags"))
        .and_then(|v| v.as_ss().ok())
        .is_some_and(|t| t.iter().any(|x| x == tag))
}

fn summary(item: &Item) -> Option<LeadSummary> {
    Some(LeadSummary {
        psid: Psid::parse(opt_s(item, "psid")?).ok()?,
        status: SubscriberStatus::parse(&opt_s(item, "status")?)?,
        tags: item
            .get("tags")
            .and_then(|v| v.as_ss().ok())
            .map(|v| v.iter().cloned().collect())
            .unwrap_or_default(),
        consent_changed_at_ms: opt_n(item, "consent_changed_at_ms").unwrap_or(0),
    })
}
