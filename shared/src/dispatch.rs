//! Starting a broadcast: scheduled → planning, then one plan job per
//! audience shard. Used by the API (send now) and the scheduler (send_at).

use crate::broadcast::BroadcastState;
use crate::ids::BroadcastId;
use crate::queue::{PlanJob, Producer, QueueError};
use crate::store::BroadcastStore;
use crate::store::{StoreError, AUDIENCE_SHARDS};

#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Starts a scheduled broadcast, or finishes the start of one whose plan jobs
/// could not all be queued. Returns false if there was nothing to start (it
/// started already, or was cancelled). Until every plan job is queued the
/// broadcast stays among the due ones, so the next scheduler run queues them
/// all again: a plan job is idempotent (a shard's planner resumes from its
/// checkpoint, and a planned shard does nothing), so shards whose job got
/// through are not planned twice, and none is left out.
///
/// # Errors
/// [`DispatchError`] when DynamoDB or SQS fails; the broadcast stays due and
/// the next scheduler run finishes its start.
pub async fn start(store: &BroadcastStore, plans: &Producer<PlanJob>, id: &BroadcastId) -> Result<bool, DispatchError> {
    if !store.transition(id, BroadcastState::Planning, None).await? && !store.start_unfinished(id).await? {
        return Ok(false);
    }
    let jobs: Vec<PlanJob> = (0..AUDIENCE_SHARDS)
        .map(|shard| PlanJob::PlanV1 {
            broadcast_id: id.clone(),
            shard,
        })
        .collect();
    plans.send_batch(&jobs).await?;
    store.started(id).await?;
    Ok(true)
}
