//! Typed edges of the queues: each job enum names itself ([`Job`]), a
//! [`Producer`] sends only its queue's job type, and [`parse_job`] is the one
//! way a consumer reads a message body back. No function serialises a job
//! or calls `SendMessage` by hand.

use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{send_batch, send_one, ErasureJob, IngestJob, PlanJob, QueueError, SendJob};

/// A job enum that crosses one queue: tagged and versioned serde.
pub trait Job: Serialize + DeserializeOwned {
    /// What the job is called in errors (`"send job"`).
    const NAME: &'static str;
}

impl Job for IngestJob {
    const NAME: &'static str = "ingest job";
}
impl Job for PlanJob {
    const NAME: &'static str = "plan job";
}
impl Job for SendJob {
    const NAME: &'static str = "send job";
}
impl Job for ErasureJob {
    const NAME: &'static str = "erasure job";
}

/// Reads a queue message body as its job.
///
/// # Errors
/// [`QueueError::BadJob`] when the body is not a `J` (unknown type or
/// version, a field missing, an id that is not a Meta id, …).
pub fn parse_job<J: Job>(body: &str) -> Result<J, QueueError> {
    serde_json::from_str(body).map_err(|e| QueueError::BadJob(format!("not a {}: {e}", J::NAME)))
}

/// The message body of a job.
///
/// # Errors
/// [`QueueError::BadJob`] if it does not serialise (never for our job types).
pub fn to_body<J: Job>(job: &J) -> Result<String, QueueError> {
    serde_json::to_string(job).map_err(|e| QueueError::BadJob(e.to_string()))
}

/// The message body of a `J`, serialised once (the ingest producer sizes it
/// for the claim check, then sends the same bytes).
pub(super) struct Encoded<J> {
    body: String,
    job: PhantomData<fn(&J)>,
}

impl<J: Job> Encoded<J> {
    pub(super) fn new(job: &J) -> Result<Self, QueueError> {
        Ok(Self {
            body: to_body(job)?,
            job: PhantomData,
        })
    }

    /// Bytes of the message body.
    pub(super) fn len(&self) -> usize {
        self.body.len()
    }
}

/// The producer side of one queue, which carries jobs of type `J`.
#[derive(Debug, Clone)]
pub struct Producer<J> {
    sqs: crate::config::Sqs,
    url: String,
    job: PhantomData<fn(&J)>,
}

impl<J: Job> Producer<J> {
    /// The queue at `url` (an SQS queue URL).
    pub fn new(sqs: impl Into<crate::config::Sqs>, url: impl Into<String>) -> Self {
        Self {
            sqs: sqs.into(),
            url: url.into(),
            job: PhantomData,
        }
    }

    /// The queue's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends one job (`SendMessage`); returns once SQS stored it.
    ///
    /// # Errors
    /// [`QueueError::Sqs`] when SQS refuses or cannot be reached.
    pub async fn send(&self, job: &J) -> Result<(), QueueError> {
        send_one(&self.sqs, &self.url, to_body(job)?).await
    }

    /// Sends jobs with `SendMessageBatch`, ten (and at most
    /// [`super::BATCH_BYTES`]) to a request.
    ///
    /// # Errors
    /// [`QueueError::Sqs`] when any of them was not stored (the caller
    /// retries; every consumer is idempotent).
    pub async fn send_batch(&self, jobs: &[J]) -> Result<(), QueueError> {
        let bodies = jobs.iter().map(to_body).collect::<Result<Vec<_>, _>>()?;
        send_batch(&self.sqs, &self.url, &bodies).await
    }

    /// Sends one job already serialised.
    pub(super) async fn send_encoded(&self, message: Encoded<J>) -> Result<(), QueueError> {
        send_one(&self.sqs, &self.url, message.body).await
    }

    /// Sends jobs already serialised, as [`Producer::send_batch`].
    pub(super) async fn send_encoded_batch(&self, messages: Vec<Encoded<J>>) -> Result<(), QueueError> {
        let bodies: Vec<String> = messages.into_iter().map(|m| m.body).collect();
        send_batch(&self.sqs, &self.url, &bodies).await
    }
}
