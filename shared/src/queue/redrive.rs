//! Dead-lettered jobs sent back to their queue, as SQS's own redrive
//! (`StartMessageMoveTask`) does, but only for jobs that read as their
//! queue's contract: one that cannot be read would fail again, so it stays
//! in the dead-letter queue for an operator. Used for erasure jobs, which
//! must finish however long their cause of failure lasts (the job alone
//! holds the subject's PSID; the request names them by digest only).

use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;

use super::{parse_job, sqs_err, Job, Producer, QueueError};

/// How long a received dead-lettered job stays hidden while it is moved
/// (seconds); one that is not moved (unreadable, or a failed send) is
/// seen again after it.
const HOLD_SECS: i32 = 300;

/// What one redrive did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Redriven {
    /// Jobs sent back to their queue and deleted from the dead-letter queue.
    pub moved: u64,
    /// Messages that do not read as a job: left in the dead-letter queue.
    pub unreadable: u64,
}

/// Moves up to about `max` jobs (rounded up to a receive of ten) from the
/// dead-letter queue at `dead_letter_url` back to `to`: each is sent, then
/// deleted from the dead-letter queue. A job sent whose delete then fails
/// is sent twice; every consumer is idempotent.
///
/// # Errors
/// [`QueueError::Sqs`] when SQS refuses a receive, send or delete: what was
/// moved before stays moved, the rest is moved by the next run.
pub async fn redrive<J: Job>(
    sqs: &crate::config::Sqs,
    dead_letter_url: &str,
    to: &Producer<J>,
    max: u64,
) -> Result<Redriven, QueueError> {
    let mut done = Redriven::default();
    while done.moved + done.unreadable < max {
        let out = sqs
            .receive_message()
            .queue_url(dead_letter_url)
            .max_number_of_messages(10)
            .visibility_timeout(HOLD_SECS)
            .send()
            .await
            .map_err(sqs_err)?;
        if out.messages().is_empty() {
            break;
        }
        let (mut jobs, mut receipts) = (Vec::new(), Vec::new());
        for message in out.messages() {
            match parse_job::<J>(message.body().unwrap_or_default()) {
                Ok(job) => {
                    jobs.push(job);
                    receipts.push(message.receipt_handle().unwrap_or_default().to_string());
                }
                Err(_) => done.unreadable += 1,
            }
        }
        if jobs.is_empty() {
            continue;
        }
        to.send_batch(&jobs).await?;
        let entries = receipts
            .iter()
            .enumerate()
            .map(|(i, r)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(format!("d{i}"))
                    .receipt_handle(r)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| QueueError::Sqs(e.to_string()))?;
        let deleted = sqs
            .delete_message_batch()
            .queue_url(dead_letter_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(sqs_err)?;
        if !deleted.failed().is_empty() {
            return Err(QueueError::Sqs(format!(
                "{} of {} dead-lettered jobs sent back but not deleted",
                deleted.failed().len(),
                receipts.len()
            )));
        }
        done.moved += jobs.len() as u64;
    }
    Ok(done)
}
