//! Applying a delivery lane by lane: a lane is one person's items (or a
//! page's, or the unattributable ones), applied in event-time order; lanes
//! run side by side. What the deadline leaves undone, and every item of a
//! delivery too large for one invocation, is queued as chunk jobs.

use std::time::Instant;

use futures_util::StreamExt;
use optcast_shared::ids::PageId;
use optcast_shared::meta::{self, Delivery, DeliveryItem, Quarantined, UnitRef};
use optcast_shared::quarantine;
use optcast_shared::queue::{ClaimCheck, DeliveryJob};
use optcast_shared::store::{EventCommit, EventMarker};

use crate::{EventOutcome, Ingest, IngestError, RecordReport, CHUNK_ITEMS, LANE_CONCURRENCY};

/// One lane's result: what it did, what it left for a chunk (item indices),
/// its error.
struct LaneResult {
    report: RecordReport,
    leftovers: Vec<usize>,
    error: Option<IngestError>,
    quarantined: Vec<String>,
}

impl Ingest {
    /// Applies a delivery lane by lane, side by side; what the deadline left
    /// undone is queued as chunks. One person's failing event holds back only
    /// that person's later events (until the retry); the record then fails.
    pub(crate) async fn apply_delivery(
        &self,
        job: &DeliveryJob,
        delivery: &Delivery,
        deadline: Instant,
        report: &mut RecordReport,
        quarantined: &mut Vec<String>,
    ) -> Result<(), IngestError> {
        let results: Vec<LaneResult> = futures_util::stream::iter(lanes(delivery).into_iter().enumerate())
            .map(|(i, lane): (usize, Vec<usize>)| self.run_lane(job, delivery, lane, deadline, i == 0))
            .buffered(LANE_CONCURRENCY)
            .collect()
            .await;
        let mut leftovers = Vec::new();
        let mut first_error = None;
        for result in results {
            report.add(&result.report);
            quarantined.extend(result.quarantined);
            if !result.leftovers.is_empty() {
                leftovers.push(result.leftovers);
            }
            if let Some(e) = result.error {
                first_error.get_or_insert(e);
            }
        }
        if let Some(e) = first_error {
            // The retry redoes everything (what was applied is a duplicate).
            return Err(e);
        }
        if !leftovers.is_empty() {
            report.items += leftovers.iter().map(Vec::len).sum::<usize>();
            report.deferred += leftovers.iter().map(Vec::len).sum::<usize>();
            report.chunks += self.enqueue_chunks(job, delivery, leftovers).await?;
        }
        Ok(())
    }

    /// One person's items (or a page's, or the unattributable ones), in
    /// order. Stops at the first error, or at the deadline once it has made
    /// progress (`must_progress`: the first lane applies at least one item).
    async fn run_lane(
        &self,
        job: &DeliveryJob,
        delivery: &Delivery,
        lane: Vec<usize>,
        deadline: Instant,
        must_progress: bool,
    ) -> LaneResult {
        let mut result = LaneResult {
            report: RecordReport::default(),
            leftovers: Vec::new(),
            error: None,
            quarantined: Vec::new(),
        };
        for (i, index) in lane.iter().enumerate() {
            if Instant::now() >= deadline && !(must_progress && i == 0) {
                result.leftovers = lane[i..].to_vec();
                break;
            }
            result.report.items += 1;
            match self.apply_item(job, &delivery.object, &delivery.items[*index]).await {
                Ok(ItemOutcome::Event(outcome)) => result.report.count(outcome),
                Ok(ItemOutcome::Quarantined(key)) => {
                    result.report.quarantined += 1;
                    result.quarantined.push(key);
                }
                Err(e) => {
                    result.error = Some(e);
                    break;
                }
            }
        }
        result
    }

    async fn apply_item(
        &self,
        job: &DeliveryJob,
        object: &str,
        item: &DeliveryItem,
    ) -> Result<ItemOutcome, IngestError> {
        if let (Some(page), _) = item.lane() {
            self.note_page(page).await?;
        }
        // Only a marker, without the person: the item's key and kind.
        let marker_only = |page_id: &PageId, key: String, kind: String| EventCommit {
            marker: EventMarker {
                page_id: page_id.clone(),
                subject: None,
                key,
                kind,
                received_at_ms: job.received_at_ms,
                expires_at_s: optcast_shared::retention::expires_at_s(job.received_at_ms, self.retention_days),
            },
            subscriber: None,
            consent: None,
            message: None,
            attributions: Vec::new(),
            tombstone: None,
            tombstone_stop: None,
        };
        Ok(match item.unit() {
            UnitRef::Event(event) => ItemOutcome::Event(self.apply(event, &job.body_sha256, job.received_at_ms).await?),
            UnitRef::Ignored(ignored) => {
                let commit = marker_only(
                    &ignored.page_id,
                    ignored.key.clone(),
                    format!("ignored:{}", ignored.kind),
                );
                ItemOutcome::Event(self.record_only(&commit).await?)
            }
            UnitRef::Quarantined(q) => {
                if let Some(stop) = &q.stop {
                    // Its stop honoured now (an erased person's, recorded only).
                    self.apply(stop, &job.body_sha256, job.received_at_ms).await?;
                }
                if let Some(page) = self.erased_after(q).await? {
                    // Not kept: as with their events, what an erased person
                    // sent before the erasure must not bring their words
                    // back. Recorded, without them.
                    tracing::info!(reason = q.reason, "item of an erased person recorded, not kept");
                    let commit = marker_only(page, q.key(), format!("erased:{}", q.reason));
                    return Ok(ItemOutcome::Event(self.record_only(&commit).await?));
                }
                let id = quarantine::id_for(&job.body_sha256, Some(&q.sha256));
                let body = meta::rebuild_delivery(object, [item]);
                self.quarantine
                    .put(
                        &self.keys,
                        &id,
                        body.as_bytes(),
                        q.reason,
                        q.page_id.as_ref(),
                        q.subject.as_ref(),
                        &job.body_sha256,
                        job.received_at_ms,
                    )
                    .await?;
                tracing::warn!(reason = q.reason, quarantine = %id, "item quarantined");
                ItemOutcome::Quarantined(quarantine::object_key(&id))
            }
        })
    }

    /// The page of `q`, an item of a known person, when that person was
    /// erased after sending it (a tombstone, or the lead they began after
    /// the erasure, that covers the item's time: no later than the erasure,
    /// or a time not to be trusted); `None` otherwise, and for an item of
    /// no known person.
    async fn erased_after<'q>(&self, q: &'q Quarantined) -> Result<Option<&'q PageId>, IngestError> {
        let (Some(page), Some(psid), Some(time)) = (&q.page_id, &q.subject, q.time) else {
            return Ok(None);
        };
        let covered = match self.lead_or_tombstone(page, psid).await? {
            (Some(lead), _) => lead.erasure_covers(time),
            (None, tombstone) => tombstone.is_some_and(|t| t.covers(time)),
        };
        Ok(covered.then_some(page))
    }

    /// Queues `lanes` as chunk jobs of at most [`CHUNK_ITEMS`] items (a
    /// longer lane is one chunk of its own); returns how many.
    pub(crate) async fn enqueue_chunks(
        &self,
        job: &DeliveryJob,
        delivery: &Delivery,
        lanes: Vec<Vec<usize>>,
    ) -> Result<usize, IngestError> {
        let rebuild =
            |chunk: &[usize]| meta::rebuild_delivery(&delivery.object, chunk.iter().map(|i| &delivery.items[*i]));
        let mut bodies = Vec::new();
        let mut chunk: Vec<usize> = Vec::new();
        for lane in lanes {
            if !chunk.is_empty() && chunk.len() + lane.len() > CHUNK_ITEMS {
                bodies.push(rebuild(&chunk));
                chunk.clear();
            }
            chunk.extend(lane);
        }
        if !chunk.is_empty() {
            bodies.push(rebuild(&chunk));
        }
        let claims = ClaimCheck {
            s3: &self.s3,
            keys: &self.keys,
            bucket: &self.quarantine.bucket,
        };
        self.chunks
            .enqueue_chunks(&claims, &bodies, job.received_at_ms, &job.body_sha256)
            .await?;
        Ok(bodies.len())
    }
}

enum ItemOutcome {
    Event(EventOutcome),
    /// Kept in the quarantine under this object key.
    Quarantined(String),
}

/// The delivery's items (indices) grouped by (page, person), in first-seen
/// order; each lane's events sorted by event time (Meta may batch and reorder).
pub(crate) fn lanes(delivery: &Delivery) -> Vec<Vec<usize>> {
    let mut order = Vec::new();
    let mut lanes: std::collections::HashMap<_, Vec<usize>> = Default::default();
    for (i, item) in delivery.items.iter().enumerate() {
        let lane = lanes.entry(item.lane()).or_default();
        if lane.is_empty() {
            order.push(item.lane());
        }
        lane.push(i);
    }
    order
        .into_iter()
        .filter_map(|key| lanes.remove(&key))
        .map(|mut lane| {
            lane.sort_by_key(|i| match delivery.items[*i].unit() {
                UnitRef::Event(e) => e.timestamp_ms,
                _ => i64::MIN,
            });
            lane
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_keep_each_persons_events_together_and_in_time_order() {
        let body = r#"{"object":"page","entry":[{"id":"1","messaging":[
            {"sender":{"id":"2000000000000001"},"recipient":{"id":"1"},"timestamp":1764547200003,"message":{"mid":"a3","text":"x"}},
            {"sender":{"id":"2000000000000002"},"recipient":{"id":"1"},"timestamp":1764547200001,"message":{"mid":"b1","text":"x"}},
            {"sender":{"id":"2000000000000001"},"recipient":{"id":"1"},"timestamp":1764547200001,"message":{"mid":"a1","text":"x"}},
            {"sender":{"id":"2000000000000001"},"recipient":{"id":"1"},"timestamp":1764547200002,"message":{"mid":"a2","text":"x"}}
        ]}]}"#;
        let delivery = meta::parse_delivery(body.as_bytes(), 1_764_547_300_000).unwrap();
        let keys: Vec<Vec<&str>> = lanes(&delivery)
            .iter()
            .map(|lane| {
                lane.iter()
                    .map(|i| match delivery.items[*i].unit() {
                        UnitRef::Event(e) => &*e.key,
                        _ => "?",
                    })
                    .collect()
            })
            .collect();
        assert_eq!(keys, vec![vec!["a1", "a2", "a3"], vec!["b1"]]);
    }
}
