//! SQS partial batch responses: every consumer reports the records that
//! failed, by message id, so Lambda returns only those to the queue (their
//! receive count grows, and after `maxReceiveCount` they go to the DLQ); the
//! others are deleted. A record without a message id is reported with an
//! empty one, which Lambda treats as the whole batch failing: never lost.
//!
//! (Not in `dispatch`, which starts broadcasts.)

use std::future::Future;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsMessage};

/// How many times SQS has handed out `record`, this time included
/// (`ApproximateReceiveCount`; 1 when absent). A consumer compares it with
/// its queue's `maxReceiveCount` to know a record's last try.
pub fn receive_count(record: &SqsMessage) -> i32 {
    record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1)
}

/// The failure entry of one record.
pub fn item_failure(record: &SqsMessage) -> BatchItemFailure {
    let mut failure = BatchItemFailure::default();
    failure.item_identifier = record.message_id.clone().unwrap_or_default();
    failure
}

/// The response that returns exactly `failed` to the queue (in that order).
pub fn response<'a>(failed: impl IntoIterator<Item = &'a SqsMessage>) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed.into_iter().map(item_failure).collect();
    response
}

/// Processes `records` one after another (in queue order) and reports those
/// whose `process` failed. Logging a failure is `process`'s own business.
pub async fn in_order<'a, T, E, F, Fut>(records: &'a [SqsMessage], mut process: F) -> SqsBatchResponse
where
    F: FnMut(&'a SqsMessage) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut failed = Vec::new();
    for record in records {
        if process(record).await.is_err() {
            failed.push(record);
        }
    }
    response(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: Option<&str>) -> SqsMessage {
        let mut m = SqsMessage::default();
        m.message_id = id.map(str::to_string);
        m
    }

    fn ids(r: &SqsBatchResponse) -> Vec<&str> {
        r.batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect()
    }

    #[tokio::test]
    async fn only_the_records_that_failed_go_back_to_the_queue() {
        let records = [record(Some("a")), record(Some("b")), record(Some("c"))];
        let out = in_order(&records, |r| {
            let fail = r.message_id.as_deref() == Some("b");
            async move {
                if fail {
                    Err("no")
                } else {
                    Ok(())
                }
            }
        })
        .await;
        assert_eq!(ids(&out), ["b"]);
    }

    #[tokio::test]
    async fn a_batch_without_failures_reports_none() {
        let records = [record(Some("a"))];
        let out = in_order(&records, |_| async { Ok::<_, ()>(()) }).await;
        assert!(out.batch_item_failures.is_empty());
    }

    #[test]
    fn a_record_without_an_id_fails_with_an_empty_identifier() {
        assert_eq!(ids(&response([&record(None)])), [""]);
    }
}
