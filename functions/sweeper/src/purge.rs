//! The purge of leads unsubscribed, or unreachable (Meta's word), past the
//! page's purge period: each erased keeping the hashed consent proof, and
//! one whose deletes could not finish handed to the eraser.

use optcast_shared::erasure::{self, ErasureReason, Shred};
use optcast_shared::ids::{PageId, Psid};
use optcast_shared::retention::{Budget, Purge, SweepReport};
use optcast_shared::store::{self, sweep as sweep_store};

use super::{SweepError, Sweeper};

impl Sweeper {
    /// Erases leads due for `purge` (of its status since before
    /// `cutoff_ms`), keeping the hashed consent proof (the tombstone).
    /// Erased leads leave the index, so no checkpoint is needed; one that
    /// re-subscribed (or wrote again) meanwhile is left alone.
    pub(crate) async fn purge_leads(
        &self,
        page: &PageId,
        purge: Purge,
        cutoff_ms: i64,
        now_ms: i64,
        budget: &mut Budget,
        report: &mut SweepReport,
    ) -> Result<(), SweepError> {
        loop {
            let limit = budget.take(25);
            if limit == 0 {
                return Ok(());
            }
            let found = self.store.purgeable_before(page, purge, cutoff_ms, limit).await?;
            budget.remaining += limit - found.seen as u64;
            if found.seen == 0 {
                return Ok(());
            }
            let mut progressed = false;
            let (mut erased, mut failed) = (Vec::new(), None);
            for psid in &found.leads {
                let still_expired = |sub: &store::Item| sweep_store::purgeable(sub, purge, cutoff_ms);
                // Their quarantined items are deleted below, once for the batch.
                let reason = purge.reason();
                // Dated when it happens, not at the run's scheduled time: a
                // lead reached minutes into the run (or in a retry of it) may
                // have written since, and that is theirs to erase too.
                let shred_at = self.clock.now_ms().max(now_ms);
                let shred = match self.eraser.shred_if(page, psid, reason, shred_at, still_expired).await {
                    Ok(Shred::Declined) => continue,
                    Ok(shred) => shred,
                    Err(e) => {
                        failed = Some(SweepError::from(e));
                        break;
                    }
                };
                let shredded = u64::from(shred == Shred::Shredded);
                report.add(purge.category(), shredded);
                progressed |= shredded > 0;
                erased.push(psid.clone());
                if let Err(e) = self.eraser.delete_after_shred(page, psid, now_ms, None).await {
                    // Shredded, so no longer in the index this purge reads:
                    // no later run would come back for their consent records
                    // (which have no TTL), messages and deliveries. The
                    // eraser finishes them from its queue, with its retries.
                    tracing::warn!(error = %e, "purge shredded but not finished: handed to the eraser");
                    if let Err(e) = self.hand_to_eraser(page, psid, reason, shred_at).await {
                        failed = Some(e);
                        break;
                    }
                }
            }
            // Their quarantined items: one listing for the batch, taken
            // after every shred of it, not one per lead; also when a later
            // lead's erasure failed, since the erased ones have left the
            // index and no later run would come back for their items.
            self.eraser.delete_quarantined_of(page, &erased).await?;
            if let Some(e) = failed {
                return Err(e);
            }
            // An index that lags could show the same leads again: stop rather
            // than spin; the next run picks up anything left.
            if !progressed {
                return Ok(());
            }
        }
    }

    /// Queues the erasure of a lead this sweep shredded at `shred_at` but
    /// could not finish (a request of the purge's reason, `unsubscribed_purge`
    /// or `unreachable_purge`, found-before: data was held), so the eraser
    /// deletes what is left and dated up to the shred, with its retries and
    /// its dead-letter queue.
    ///
    /// # Errors
    /// [`SweepError::Erasure`] when the request cannot be recorded or queued
    /// (the run reports it; the lead's leftovers then wait for an operator,
    /// as before).
    async fn hand_to_eraser(
        &self,
        page: &PageId,
        psid: &Psid,
        reason: ErasureReason,
        shred_at: i64,
    ) -> Result<(), SweepError> {
        let (requests, erasures) = (&self.requests, &self.erasures);
        erasure::request_subject_erasure(requests, erasures, page, psid, reason, Some(shred_at), shred_at).await?;
        Ok(())
    }
}
