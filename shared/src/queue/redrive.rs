//! Dead-lettered jobs sent back to their queue, as SQS's own redrive
//! (`StartMessageMoveTask`) does, but only for jobs that read as their
//! queue's contract, and a bounded number of times: one that cannot be read,
//! or has come back [`MAX_REDRIVES`] times already, fails for a reason no
//! retry mends, so it stays in the dead-letter queue (visible: its alarm
//! stays on) for an operator. Used for erasure jobs, which must finish
//! however long a passing cause of failure lasts (the job alone holds the
//! subject's PSID; the request names them by digest only).

use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, MessageAttributeValue,
    SendMessageBatchRequestEntry,
};

use super::{parse_job, sqs_err, Job, Producer, QueueError};

/// How long a received dead-lettered job stays hidden while it is moved
/// (seconds); those left are made visible again at the end of the run.
const HOLD_SECS: i32 = 300;

/// The message attribute counting a job's redrives.
pub const REDRIVES_ATTRIBUTE: &str = "optcast_redrives";

/// Most times a job is sent back. An erasure job tries five times an hour
/// apart before each dead-lettering: 28 redrives are about six days of
/// tries, past any outage, before it is left for an operator.
pub const MAX_REDRIVES: u32 = 28;

/// What one redrive did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Redriven {
    /// Jobs sent back to their queue and deleted from the dead-letter queue.
    pub moved: u64,
    /// Messages that do not read as a job: left in the dead-letter queue.
    pub unreadable: u64,
    /// Jobs sent back [`MAX_REDRIVES`] times already: left there too.
    pub exhausted: u64,
}

/// Moves up to about `max` messages' worth (a receive is ten) from the
/// dead-letter queue at `dead_letter_url` back to `to`, each body as it was
/// (unknown fields kept) with its redrive count raised: each is sent, then
/// deleted from the dead-letter queue. A job sent whose delete then fails is
/// sent twice; every consumer is idempotent. What it did is added to `done`
/// as it goes, so a run that fails half-way still reports what it moved.
///
/// # Errors
/// [`QueueError::Sqs`] when SQS refuses a receive, send, delete or release:
/// what was moved stays moved, the rest is moved by the next run.
pub async fn redrive<J: Job>(
    sqs: &crate::config::Sqs,
    dead_letter_url: &str,
    to: &Producer<J>,
    max: u64,
    done: &mut Redriven,
) -> Result<(), QueueError> {
    let mut left = Vec::new();
    let moved = move_all::<J>(sqs, dead_letter_url, to.url(), max, done, &mut left).await;
    // What stays is made visible again at once: the dead-letter queue's
    // alarm (messages visible) stays on while anything waits there.
    let released = release(sqs, dead_letter_url, &left).await;
    moved.and(released)
}

async fn move_all<J: Job>(
    sqs: &crate::config::Sqs,
    dead_letter_url: &str,
    to_url: &str,
    max: u64,
    done: &mut Redriven,
    left: &mut Vec<String>,
) -> Result<(), QueueError> {
    while done.moved + done.unreadable + done.exhausted < max {
        let out = sqs
            .receive_message()
            .queue_url(dead_letter_url)
            .max_number_of_messages(10)
            .visibility_timeout(HOLD_SECS)
            // A short poll of a standard queue may answer empty while
            // messages wait; a second's wait does not.
            .wait_time_seconds(1)
            .message_attribute_names(REDRIVES_ATTRIBUTE)
            .send()
            .await
            .map_err(sqs_err)?;
        if out.messages().is_empty() {
            return Ok(());
        }
        let mut batch = Vec::new();
        for message in out.messages() {
            let receipt = message.receipt_handle().unwrap_or_default().to_string();
            let body = message.body().unwrap_or_default();
            let redrives: u32 = message
                .message_attributes()
                .and_then(|a| a.get(REDRIVES_ATTRIBUTE))
                .and_then(|v| v.string_value())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if parse_job::<J>(body).is_err() {
                done.unreadable += 1;
                tracing::warn!(message_id = ?message.message_id(), "dead-lettered message is no job: left there");
                left.push(receipt);
            } else if redrives >= MAX_REDRIVES {
                done.exhausted += 1;
                tracing::error!(message_id = ?message.message_id(), redrives, "dead-lettered job sent back too often: left there");
                left.push(receipt);
            } else {
                batch.push((body.to_string(), redrives + 1, receipt));
            }
        }
        if batch.is_empty() {
            continue;
        }
        send_back(sqs, to_url, &batch).await?;
        let receipts: Vec<String> = batch.into_iter().map(|(_, _, r)| r).collect();
        let deleted = sqs
            .delete_message_batch()
            .queue_url(dead_letter_url)
            .set_entries(Some(entries(&receipts, |id, r| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(id)
                    .receipt_handle(r)
                    .build()
            })?))
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
        done.moved += receipts.len() as u64;
    }
    Ok(())
}

/// Sends `(body, redrive count, _)`s to `to_url` in one `SendMessageBatch`
/// (a receive's ten at most; each came through SQS, so each fits).
async fn send_back(sqs: &crate::config::Sqs, to_url: &str, batch: &[(String, u32, String)]) -> Result<(), QueueError> {
    let entries = batch
        .iter()
        .enumerate()
        .map(|(i, (body, redrives, _))| {
            let count = MessageAttributeValue::builder()
                .data_type("Number")
                .string_value(redrives.to_string())
                .build()
                .map_err(|e| QueueError::Sqs(e.to_string()))?;
            SendMessageBatchRequestEntry::builder()
                .id(format!("e{i}"))
                .message_body(body)
                .message_attributes(REDRIVES_ATTRIBUTE, count)
                .build()
                .map_err(|e| QueueError::Sqs(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let out = sqs
        .send_message_batch()
        .queue_url(to_url)
        .set_entries(Some(entries))
        .send()
        .await
        .map_err(sqs_err)?;
    if !out.failed().is_empty() {
        return Err(QueueError::Sqs(format!(
            "{} of {} dead-lettered jobs not sent back",
            out.failed().len(),
            batch.len()
        )));
    }
    Ok(())
}

/// Makes the messages left (unreadable or sent back too often) visible again.
async fn release(sqs: &crate::config::Sqs, dead_letter_url: &str, receipts: &[String]) -> Result<(), QueueError> {
    for chunk in receipts.chunks(10) {
        let out = sqs
            .change_message_visibility_batch()
            .queue_url(dead_letter_url)
            .set_entries(Some(entries(chunk, |id, r| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(id)
                    .receipt_handle(r)
                    .visibility_timeout(0)
                    .build()
            })?))
            .send()
            .await
            .map_err(sqs_err)?;
        if !out.failed().is_empty() {
            return Err(QueueError::Sqs(format!(
                "{} of {} dead-lettered messages not made visible again",
                out.failed().len(),
                chunk.len()
            )));
        }
    }
    Ok(())
}

/// One batch entry per receipt handle, with ids `d0`, `d1`, ….
fn entries<E, B>(receipts: &[String], build: B) -> Result<Vec<E>, QueueError>
where
    B: Fn(String, &String) -> Result<E, aws_sdk_sqs::error::BuildError>,
{
    receipts
        .iter()
        .enumerate()
        .map(|(i, r)| build(format!("d{i}"), r).map_err(|e| QueueError::Sqs(e.to_string())))
        .collect()
}
