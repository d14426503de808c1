//! `GET /v1/quarantine` lists the parts of signed deliveries ingest could not
//! apply (reason, page, delivery hash, when received; never their content);
//! `POST /v1/quarantine/<id>/replay` sends one back through ingest, which
//! deletes the record once applied and keeps it if it fails again.

use lambda_http::{Request, RequestExt};
use optcast_shared::quarantine;
use serde_json::json;

use crate::{bad, Api, ApiError};

/// Records per page of the listing.
const PAGE_SIZE: i32 = 100;

impl Api {
    /// 200 `{"records": [...], "next": <id or null>}`, oldest id first;
    /// `?after=<id>` continues.
    pub(crate) async fn list_quarantine(&self, req: &Request) -> Result<(u16, serde_json::Value), ApiError> {
        let params = req.query_string_parameters();
        let after = params.first("after");
        if after.is_some_and(|a| !quarantine::is_id(a)) {
            return Err(bad("invalid_cursor", "after must be a quarantine id"));
        }
        let (records, next) = self
            .quarantine
            .list(after, PAGE_SIZE)
            .await
            .map_err(|e| ApiError::Queue(e.to_string()))?;
        Ok((200, json!({ "records": records, "next": next })))
    }

    /// 202 `{"id", "replaying": true}`: the record is queued for ingest.
    pub(crate) async fn replay_quarantine(&self, id: &str) -> Result<(u16, serde_json::Value), ApiError> {
        if !quarantine::is_id(id) {
            return Err(ApiError::NotFound("quarantine record"));
        }
        let record = self
            .quarantine
            .get(id)
            .await
            .map_err(|e| ApiError::Queue(e.to_string()))?
            .ok_or(ApiError::NotFound("quarantine record"))?;
        let job =
            serde_json::to_string(&self.quarantine.replay_job(&record)).map_err(|e| ApiError::Queue(e.to_string()))?;
        self.sqs
            .send_message()
            .queue_url(&self.ingest_chunk_queue_url)
            .message_body(job)
            .send()
            .await
            .map_err(|e| ApiError::Queue(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
        tracing::info!(quarantine = %id, "quarantine record queued for replay");
        Ok((202, json!({ "id": id, "replaying": true })))
    }
}
