//! The privacy table: erasure requests (`ERASURE#<id>`) and the audit trail
//! of privileged calls (`AUDIT#<at_ms>#<random>`). Both expire after
//! [`crate::erasure::PRIVACY_RECORD_RETENTION_DAYS`] through DynamoDB's TTL.

use super::item::{get_item, n, opt_n, opt_s, s};
use super::keys::{audit_pk, erasure_request_pk as request_pk};
use super::StoreError;
use crate::audit::Entry;
use crate::erasure::{
    privacy_record_expiry_s, ErasureReason, ErasureReport, ErasureRequest, MetaErrorCodes, RequestStatus,
};
use crate::ids::PageId;

/// Erasure requests and their status (the privacy table).
#[derive(Clone)]
pub struct Requests {
    pub ddb: aws_sdk_dynamodb::Client,
    pub table: String,
}

impl Requests {
    /// Records a new request; `subject_digest` names who it is about.
    /// Returns `false`, changing nothing, when a request with this id
    /// exists (a replayed deletion callback has its first request's id).
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when DynamoDB fails.
    pub async fn create(
        &self,
        id: &str,
        reason: ErasureReason,
        page: Option<&PageId>,
        subject_digest: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut put = self
            .ddb
            .put_item()
            .table_name(&self.table)
            .item("pk", s(request_pk(id)))
            .item("reason", s(reason.as_str()))
            .item("status", s(RequestStatus::Pending.as_str()))
            .item("subject_digest", s(subject_digest))
            .item("created_at_ms", n(now_ms))
            .item("expires_at", n(privacy_record_expiry_s(now_ms)))
            .condition_expression("attribute_not_exists(pk)");
        // The page decides who may read the request; Meta's callback names
        // none (an app-scoped id spans pages).
        if let Some(page) = page {
            put = put.item("page_id", s(page.as_str()));
        }
        let out = put.send().await;
        match out {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(StoreError::dynamo(e)),
        }
    }

    /// Marks a request done (idempotent: a second run writes the same), and
    /// returns its status as stored. A request once `completed` stays so: a
    /// run again that finds nothing left (its first run deleted it all)
    /// does not make it `no_data`, which would tell the person we held
    /// nothing about them.
    ///
    /// # Errors
    /// [`StoreError`] when DynamoDB fails ([`StoreError::is_retryable`]).
    pub async fn finish(
        &self,
        id: &str,
        subjects: u64,
        report: &ErasureReport,
        found_before: bool,
        now_ms: i64,
    ) -> Result<RequestStatus, StoreError> {
        let status = if report.held_data() || found_before {
            RequestStatus::Completed
        } else {
            RequestStatus::NoData
        };
        let condition = match status {
            RequestStatus::NoData => "attribute_exists(pk) AND #s <> :completed",
            _ => "attribute_exists(pk)",
        };
        let out = self
            .ddb
            .update_item()
            .table_name(&self.table)
            .key("pk", s(request_pk(id)))
            // Counts add up over runs: a job run again (redelivered, or after
            // a failure past the deletes) finds nothing and must not zero them.
            .update_expression(
                "SET #s = :s, completed_at_ms = if_not_exists(completed_at_ms, :t), subjects = :n \
                 ADD erased_subscribers :sub, erased_messages :m, erased_consent_records :c, erased_deliveries :d, erased_exports :e, \
                 erased_quarantined :q, erased_dead_letter_items :dl",
            )
            .condition_expression(condition)
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":s", s(status.as_str()))
            .expression_attribute_values(":t", n(now_ms))
            .expression_attribute_values(":n", n(subjects))
            .expression_attribute_values(":sub", n(report.subscriber))
            .expression_attribute_values(":m", n(report.messages))
            .expression_attribute_values(":c", n(report.consent_records))
            .expression_attribute_values(":d", n(report.deliveries))
            .expression_attribute_values(":e", n(report.exports))
            .expression_attribute_values(":q", n(report.quarantined))
            .expression_attribute_values(":dl", n(report.dead_letter_items));
        let out = match status {
            RequestStatus::NoData => {
                out.expression_attribute_values(":completed", s(RequestStatus::Completed.as_str()))
            }
            _ => out,
        };
        match out.send().await {
            Ok(_) => Ok(status),
            // Completed by an earlier run: it stays so.
            Err(e)
                if status == RequestStatus::NoData
                    && e.as_service_error()
                        .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(RequestStatus::Completed)
            }
            Err(e) => Err(StoreError::dynamo(e)),
        }
    }

    /// Counts the subject whose record the API's shred destroyed on the
    /// request (the eraser then finds none to count: its report read
    /// `subscriber: 0` for every lead erased through the API). Counts add
    /// up, as [`Requests::finish`]'s do.
    ///
    /// # Errors
    /// [`StoreError`] when DynamoDB fails ([`StoreError::is_retryable`]).
    pub async fn count_shredded_subscriber(&self, id: &str) -> Result<(), StoreError> {
        let out = self
            .ddb
            .update_item()
            .table_name(&self.table)
            .key("pk", s(request_pk(id)))
            .update_expression("ADD erased_subscribers :one")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":one", n(1))
            .send()
            .await;
        super::item::unless_condition_failed(out)
    }

    /// Ends a request Meta's deletion callback made whose app-scoped id
    /// Meta refused to map ([`RequestStatus::Unresolved`], with Meta's
    /// codes). A request already ended is left as it is, so a run of the
    /// job again never changes its answer.
    ///
    /// # Errors
    /// [`StoreError`] when DynamoDB fails ([`StoreError::is_retryable`]).
    pub async fn finish_unresolved(&self, id: &str, meta: MetaErrorCodes, now_ms: i64) -> Result<(), StoreError> {
        let subcode = if meta.subcode.is_some() {
            ", meta_error_subcode = :sub"
        } else {
            ""
        };
        let update = self
            .ddb
            .update_item()
            .table_name(&self.table)
            .key("pk", s(request_pk(id)))
            .update_expression(format!(
                "SET #s = :s, completed_at_ms = :t, subjects = :zero, meta_error_code = :c{subcode}"
            ))
            .condition_expression("#s = :pending")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":s", s(RequestStatus::Unresolved.as_str()))
            .expression_attribute_values(":pending", s(RequestStatus::Pending.as_str()))
            .expression_attribute_values(":t", n(now_ms))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":c", n(meta.code));
        let update = match meta.subcode {
            Some(sub) => update.expression_attribute_values(":sub", n(sub)),
            None => update,
        };
        super::item::unless_condition_failed(update.send().await)
    }

    /// The erasure request `id`, if there is one.
    ///
    /// # Errors
    /// [`StoreError`] when DynamoDB fails or the item is unreadable.
    pub async fn get(&self, id: &str) -> Result<Option<ErasureRequest>, StoreError> {
        let item = get_item(&self.ddb, &self.table, request_pk(id), None).await?;
        let Some(item) = item.as_ref() else { return Ok(None) };
        let num = |k: &'static str| opt_n(item, k).unwrap_or(0) as u64;
        let reason = match opt_s(item, "reason").as_deref() {
            Some("meta_deletion_callback") => ErasureReason::MetaDeletionCallback,
            Some("unsubscribed_purge") => ErasureReason::UnsubscribedPurge,
            Some("unreachable_purge") => ErasureReason::UnreachablePurge,
            _ => ErasureReason::Request,
        };
        Ok(Some(ErasureRequest {
            id: id.to_string(),
            page_id: opt_s(item, "page_id").and_then(|p| PageId::parse(p).ok()),
            reason,
            status: opt_s(item, "status")
                .as_deref()
                .and_then(RequestStatus::parse)
                .ok_or(StoreError::Corrupt("status"))?,
            created_at_ms: opt_n(item, "created_at_ms").unwrap_or(0),
            completed_at_ms: opt_n(item, "completed_at_ms"),
            subjects: num("subjects"),
            report: ErasureReport {
                subscriber: num("erased_subscribers"),
                messages: num("erased_messages"),
                consent_records: num("erased_consent_records"),
                deliveries: num("erased_deliveries"),
                exports: num("erased_exports"),
                quarantined: num("erased_quarantined"),
                dead_letter_items: num("erased_dead_letter_items"),
            },
            meta_error: opt_n(item, "meta_error_code").map(|code| MetaErrorCodes {
                code,
                subcode: opt_n(item, "meta_error_subcode"),
            }),
        }))
    }
}

/// Where entries are written (the privacy table).
#[derive(Clone)]
pub struct AuditTrail {
    pub ddb: aws_sdk_dynamodb::Client,
    pub table: String,
}

impl AuditTrail {
    /// Writes `entry` and logs it (without the subject).
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when DynamoDB fails; the caller then refuses
    /// the call, so nothing privileged happens unrecorded.
    pub async fn record(&self, entry: &Entry<'_>) -> Result<(), StoreError> {
        let id = {
            use rand::RngCore;
            let mut b = [0u8; 8];
            rand::thread_rng().fill_bytes(&mut b);
            hex::encode(b)
        };
        let mut put = self
            .ddb
            .put_item()
            .table_name(&self.table)
            .item("pk", s(audit_pk(entry.at_ms, &id)))
            .item("actor", s(entry.actor))
            .item("action", s(entry.action.as_str()))
            .item("page_id", s(entry.page.as_str()))
            .item("at_ms", n(entry.at_ms))
            .item("expires_at", n(privacy_record_expiry_s(entry.at_ms)));
        if let Some(d) = entry.subject_digest {
            put = put.item("subject_digest", s(d));
        }
        // An entry is written once and never replaced.
        put = put.condition_expression("attribute_not_exists(pk)");
        put.send().await.map_err(StoreError::dynamo)?;
        tracing::info!(
            audit = entry.action.as_str(),
            actor = entry.actor,
            page = %entry.page,
            "privileged call recorded"
        );
        Ok(())
    }
}
