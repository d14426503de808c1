//! Starting a broadcast: scheduled → planning, then one plan job per
//! audience shard. Used by the API (send now) and the scheduler (send_at).

use crate::broadcast::BroadcastState;
use crate::broadcast_store::BroadcastStore;
use crate::ids::BroadcastId;
use crate::queue::{self, PlanJob, QueueError};
use crate::store::{StoreError, AUDIENCE_SHARDS};

#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Starts a scheduled broadcast. Returns false if it was not scheduled (it
/// started already, or was cancelled). If the plan jobs cannot be enqueued
/// it goes back to scheduled, so the next scheduler run retries it.
pub async fn start(
    store: &BroadcastStore,
    sqs: &aws_sdk_sqs::Client,
    plan_queue_url: &str,
    id: &BroadcastId,
) -> Result<bool, DispatchError> {
    if !store
        .transition(id, &[BroadcastState::Scheduled], BroadcastState::Planning, None)
        .await?
    {
        return Ok(false);
    }
    let jobs: Vec<String> = (0..AUDIENCE_SHARDS)
        .map(|shard| {
            serde_json::to_string(&PlanJob::PlanV1 {
                broadcast_id: id.clone(),
                shard,
            })
            .expect("plan job serialises")
        })
        .collect();
    if let Err(e) = queue::send_batch(sqs, plan_queue_url, &jobs).await {
        store.reschedule(id).await?;
        return Err(e.into());
    }
    Ok(true)
}
