//! What ingest publishes per SQS batch (one EMF document, see
//! [`optcast_shared::metrics`]): quarantined items, the sends its receipts
//! and unsubscribes newly counted, and each record's ingest lag.

use optcast_shared::metrics::{self, Metric};
use optcast_shared::quarantine;
use optcast_shared::queue::{self, DeliveryBody};

use crate::RecordReport;

impl RecordReport {
    /// Adds this record to the batch's metrics: quarantined items (always,
    /// 0 included, for the quarantine alarm), the sends it newly counted, its lag.
    pub(crate) fn add_to(&self, doc: &mut metrics::Document) {
        doc.add(Metric::QuarantinedItems, self.quarantined as u64);
        for (metric, n) in [
            (Metric::Delivered, self.delivered),
            (Metric::Read, self.read),
            (Metric::Unsubscribed, self.unsubscribed),
        ] {
            if n > 0 {
                doc.add(metric, n as u64);
            }
        }
        if let Some(lag) = self.lag_ms {
            doc.sample(Metric::IngestLag, lag);
        }
    }
}

/// Ingest lag of a record, ms: `now_ms` minus the time the webhook received
/// the delivery (`received_at_ms`, stamped before it was queued; a chunk
/// keeps its delivery's), i.e. how long a delivery waited in our own
/// pipeline (queue, retries, chunking) until its events were applied. Not
/// Meta's event timestamp: that adds Meta's own retry delays and the
/// sender's clock, which no alarm of ours can act on. None for a record that
/// applied nothing here (split into chunks: they report their own) and for a
/// replayed quarantine record (late on purpose).
pub fn ingest_lag_ms(job: &queue::DeliveryJob, report: &RecordReport, now_ms: i64) -> Option<i64> {
    let replay = matches!(&job.body, DeliveryBody::Claim { key, .. } if key.starts_with(quarantine::PREFIX));
    let handled = report.applied + report.duplicates + report.recorded + report.quarantined;
    (!replay && handled > 0).then(|| (now_ms - job.received_at_ms).max(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(body: DeliveryBody) -> queue::DeliveryJob {
        queue::DeliveryJob {
            received_at_ms: 1_000,
            body_sha256: "0".repeat(64),
            body,
        }
    }

    #[test]
    fn ingest_lag_runs_from_the_webhooks_receipt_to_the_end_of_the_record() {
        let inline = job(DeliveryBody::Inline { text: "{}".into() });
        let applied = RecordReport {
            items: 2,
            applied: 1,
            quarantined: 1,
            ..RecordReport::default()
        };
        assert_eq!(ingest_lag_ms(&inline, &applied, 4_500), Some(3_500));
        // A clock behind the receipt never reports a negative lag.
        assert_eq!(ingest_lag_ms(&inline, &applied, 900), Some(0));
    }

    #[test]
    fn a_split_record_and_a_replayed_quarantine_record_report_no_lag() {
        let inline = job(DeliveryBody::Inline { text: "{}".into() });
        let split = RecordReport {
            items: 500,
            deferred: 500,
            chunks: 5,
            ..RecordReport::default()
        };
        assert_eq!(ingest_lag_ms(&inline, &split, 9_000), None);
        let replay = job(DeliveryBody::Claim {
            bucket: "b".into(),
            key: quarantine::object_key("abc"),
        });
        let applied = RecordReport {
            items: 1,
            applied: 1,
            ..RecordReport::default()
        };
        assert_eq!(ingest_lag_ms(&replay, &applied, 9_000), None);
    }

    #[test]
    fn a_batch_document_counts_quarantined_items_always_and_receipts_when_there_are_some() {
        let mut doc = metrics::Document::new(metrics::Function::Ingest);
        RecordReport::default().add_to(&mut doc);
        RecordReport {
            delivered: 2,
            read: 1,
            quarantined: 1,
            lag_ms: Some(40),
            ..RecordReport::default()
        }
        .add_to(&mut doc);
        assert_eq!(doc.count(Metric::QuarantinedItems), 1);
        assert_eq!((doc.count(Metric::Delivered), doc.count(Metric::Read)), (2, 1));
        let line: serde_json::Value = serde_json::from_str(&doc.to_line(0)).unwrap();
        assert!(line.get("Unsubscribed").is_none(), "{line}");
        assert_eq!(line["IngestLag"], serde_json::json!([40]));
    }
}
