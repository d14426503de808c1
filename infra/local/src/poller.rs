//! Lambda's SQS event source, locally: receive up to a batch, invoke the
//! function, delete what succeeded, leave failures to reappear after the
//! visibility timeout (the emulator redrives them to the DLQ after
//! maxReceiveCount, as SQS does).

use std::collections::HashSet;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use tokio::sync::watch;

use crate::functions::Function;
use crate::provision::QueueSource;

pub struct Poller {
    pub sqs: aws_sdk_sqs::Client,
    pub source: QueueSource,
    pub function: Function,
    pub region: String,
    /// Locally, failed records can be made visible again sooner than the
    /// queue's visibility timeout so retries (and the DLQ) come quickly.
    pub retry_visibility_secs: Option<i32>,
}

impl Poller {
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                return;
            }
            let received = tokio::select! {
                r = self
                    .sqs
                    .receive_message()
                    .queue_url(&self.source.queue_url)
                    .max_number_of_messages(self.source.batch_size)
                    .wait_time_seconds(1)
                    .message_system_attribute_names(MessageSystemAttributeName::All)
                    .send() => r,
                _ = shutdown.changed() => return,
            };
            let messages = match received {
                Ok(out) => out.messages.unwrap_or_default(),
                Err(e) => {
                    tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(e), queue = %self.source.queue_url, "receive failed");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            if messages.is_empty() {
                continue;
            }
            self.invoke(messages).await;
        }
    }

    async fn invoke(&self, messages: Vec<aws_sdk_sqs::types::Message>) {
        let records: Vec<SqsMessage> = messages
            .iter()
            .map(|m| {
                let mut r = SqsMessage::default();
                r.message_id = m.message_id.clone();
                r.receipt_handle = m.receipt_handle.clone();
                r.body = m.body.clone();
                r.md5_of_body = m.md5_of_body.clone();
                r.attributes = m
                    .attributes()
                    .map(|a| a.iter().map(|(k, v)| (k.as_str().to_string(), v.clone())).collect())
                    .unwrap_or_default();
                r.event_source = Some("aws:sqs".into());
                r.event_source_arn = Some(self.source.queue_arn.clone());
                r.aws_region = Some(self.region.clone());
                r
            })
            .collect();
        let mut event = SqsEvent::default();
        event.records = records;
        let failed: HashSet<String> = match self.function.call_sqs(event).await {
            Some(resp) => resp
                .batch_item_failures
                .into_iter()
                .map(|f| f.item_identifier)
                .collect(),
            // A function that cannot take SQS events fails the whole batch.
            None => messages.iter().filter_map(|m| m.message_id.clone()).collect(),
        };
        let done: Vec<_> = messages
            .iter()
            .filter(|m| !m.message_id.as_ref().is_some_and(|id| failed.contains(id)))
            .enumerate()
            .filter_map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(format!("m{i}"))
                    .set_receipt_handle(m.receipt_handle.clone())
                    .build()
                    .ok()
            })
            .collect();
        if !done.is_empty() {
            if let Err(e) = self
                .sqs
                .delete_message_batch()
                .queue_url(&self.source.queue_url)
                .set_entries(Some(done))
                .send()
                .await
            {
                // Not fatal: the messages reappear and the handler is idempotent.
                tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(e), "delete failed");
            }
        }
        // The sender sets its own backoff for deferred jobs; keep it.
        let override_secs = self
            .retry_visibility_secs
            .filter(|_| !matches!(self.function, Function::Sender(_)));
        if let Some(secs) = override_secs {
            for m in messages
                .iter()
                .filter(|m| m.message_id.as_ref().is_some_and(|id| failed.contains(id)))
            {
                if let Some(handle) = &m.receipt_handle {
                    let _ = self
                        .sqs
                        .change_message_visibility()
                        .queue_url(&self.source.queue_url)
                        .receipt_handle(handle)
                        .visibility_timeout(secs)
                        .send()
                        .await;
                }
            }
        }
    }
}
