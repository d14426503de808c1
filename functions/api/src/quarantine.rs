//! `GET /v1/quarantine` lists the parts of signed deliveries ingest could not
//! apply (reason, page, delivery hash, when received; never their content);
//! `POST /v1/quarantine/<id>/replay` sends one back through ingest, which
//! deletes the record once applied and keeps it if it fails again.

use lambda_http::{Request, RequestExt};
use optcast_shared::quarantine;
use serde_json::json;

use crate::{bad, Api, ApiError};
use optcast_shared::access::Caller;
use optcast_shared::ids::PageId;

fn visible(caller: &Caller, record: &quarantine::QuarantineRecord) -> bool {
    let page = record.page_id.as_deref().and_then(|p| PageId::parse(p).ok());
    caller.require_optional_page(page.as_ref()).is_ok()
}

/// Records per page of the listing.
const PAGE_SIZE: i32 = 100;

impl Api {
    /// 200 `{"records": [...], "next": <id or null>}`, oldest id first;
    /// `?after=<id>` continues.
    pub(crate) async fn list_quarantine(
        &self,
        caller: &Caller,
        req: &Request,
    ) -> Result<(u16, serde_json::Value), ApiError> {
        let params = req.query_string_parameters();
        let after = params.first("after");
        if after.is_some_and(|a| !quarantine::is_id(a)) {
            return Err(bad("invalid_cursor", "after must be a quarantine id"));
        }
        // Only the caller's pages; records naming no page are for callers of
        // every page. Pages of the listing with none of the caller's are
        // skipped, and the cursor is always one of the caller's own records
        // (never another page's id).
        let mut cursor = after.map(str::to_string);
        loop {
            let (records, next) = self
                .quarantine
                .list(cursor.as_deref(), PAGE_SIZE)
                .await
                .map_err(|e| ApiError::Queue(e.to_string()))?;
            let records: Vec<_> = records.into_iter().filter(|r| visible(caller, r)).collect();
            match (records.last(), next) {
                (_, None) => return Ok((200, json!({ "records": records, "next": null }))),
                (Some(last), Some(_)) => {
                    let next = last.id.clone();
                    return Ok((200, json!({ "records": records, "next": next })));
                }
                (None, Some(next)) => cursor = Some(next),
            }
        }
    }

    /// 202 `{"id", "replaying": true}`: the record is queued for ingest.
    pub(crate) async fn replay_quarantine(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<(u16, serde_json::Value), ApiError> {
        if !quarantine::is_id(id) {
            return Err(ApiError::NotFound("quarantine record"));
        }
        let record = self
            .quarantine
            .get(id)
            .await
            .map_err(|e| ApiError::Queue(e.to_string()))?
            .filter(|r| visible(caller, r))
            .ok_or(ApiError::NotFound("quarantine record"))?;
        self.ingest_chunks
            .send(&self.quarantine.replay_job(&record))
            .await
            .map_err(|e| ApiError::Queue(e.to_string()))?;
        tracing::info!(quarantine = %id, "quarantine record queued for replay");
        Ok((202, json!({ "id": id, "replaying": true })))
    }
}
