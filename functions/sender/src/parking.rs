//! Jobs of a paused broadcast are parked, not dropped: the job is kept
//! (`BroadcastStore::park`, only while the lead's lane is paused) and sent
//! again by the planner when the broadcast is resumed.

use optcast_shared::broadcast::BroadcastState;
use optcast_shared::queue::SendTask;
use optcast_shared::retention;
use optcast_shared::store::Park;

use super::{JobOutcome, SendError, Sender};

impl Sender {
    /// A job that met a broadcast in `state` (as last read) that may not
    /// send: parked if the broadcast is paused; nothing if it is cancelled or
    /// done; tried again later if it was resumed meanwhile.
    pub(crate) async fn park_if_paused(
        &self,
        task: &SendTask,
        state: BroadcastState,
        now: i64,
    ) -> Result<JobOutcome, SendError> {
        if matches!(state, BroadcastState::Cancelled | BroadcastState::Done) {
            return Ok(JobOutcome::Nothing);
        }
        // Whatever happens next, the next job reads the state afresh.
        self.definitions.lock().expect("definitions").remove(&task.broadcast_id);
        let page = self.page(&task.page_id).await?;
        let expires_at_s = retention::expires_at_s(now, page.retention_days);
        match self.store.park(task, now, expires_at_s).await? {
            Park::Parked => Ok(JobOutcome::Parked),
            // Erased since it was planned: skipped as erased, by digest,
            // as their parked jobs were.
            Park::LeadGone => self.skip_refused(task, false, now, expires_at_s).await,
            // Not paused now: resumed (the retry sends), or cancelled or
            // done (the retry reads that and does nothing).
            Park::NotPaused => Err(SendError::RetryLater("broadcast no longer paused")),
        }
    }
}
