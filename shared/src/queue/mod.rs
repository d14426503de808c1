//! The one message contract of the ingest queue, and the claim check that
//! carries a delivery too large for SQS through S3 (encrypted, never plain).

use std::collections::BTreeMap;

use aws_sdk_s3::primitives::ByteStream;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::crypto::{self, CryptoError, KeyRing};

/// SQS accepts 256 KiB per message; leave room for the envelope and escaping.
pub const INLINE_LIMIT: usize = 200 * 1024;

/// Everything that crosses the ingest queue. Tagged and versioned so a new
/// shape can be added without breaking messages already in flight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum IngestJob {
    /// A signed delivery as the webhook received it.
    #[serde(rename = "delivery.v1")]
    DeliveryV1(DeliveryJob),
    /// Some items of a delivery (a chunk of a large one, the rest of one that
    /// ran out of time, or a quarantined item replayed), rebuilt as a Meta
    /// delivery. `body_sha256` stays the original signed body's hash, the
    /// consent proof. Never split again.
    #[serde(rename = "chunk.v1")]
    ChunkV1(DeliveryJob),
}

impl IngestJob {
    pub fn delivery(&self) -> &DeliveryJob {
        match self {
            IngestJob::DeliveryV1(job) | IngestJob::ChunkV1(job) => job,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryJob {
    pub received_at_ms: i64,
    /// SHA-256 (hex) of the signed raw body: consent proof ties back to it.
    pub body_sha256: String,
    pub body: DeliveryBody,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DeliveryBody {
    /// The raw body as received (valid UTF-8; JSON escaping keeps it SQS-safe).
    Inline { text: String },
    /// Raw bytes that are not UTF-8.
    InlineBase64 { data: String },
    /// Stored encrypted in S3 under `key`.
    Claim { bucket: String, key: String },
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("SQS send failed: {0}")]
    Sqs(String),
    #[error("S3 call failed: {0}")]
    S3(String),
    #[error("claim check object missing: {0}")]
    ClaimMissing(String),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("malformed queue message: {0}")]
    BadJob(String),
}

/// An SQS call's failure, with the SDK's whole context.
pub(crate) fn sqs_err<E: std::error::Error + Send + Sync + 'static, R: std::fmt::Debug>(
    e: aws_sdk_sqs::error::SdkError<E, R>,
) -> QueueError {
    QueueError::Sqs(aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn claim_context(object_key: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("purpose".to_string(), "claim-check".to_string()),
        ("object".to_string(), object_key.to_string()),
    ])
}

/// Where a delivery too large for an SQS message goes instead: sealed in S3
/// (never plain), the message carrying only its key. The ingest queues'
/// producer ([`Producer<IngestJob>`]: the webhook's deliveries, ingest's
/// chunks, the eraser's rewritten dead letters) takes one.
#[derive(Clone, Copy)]
pub struct ClaimCheck<'a> {
    pub s3: &'a aws_sdk_s3::Client,
    pub keys: &'a KeyRing,
    pub bucket: &'a str,
}

impl Producer<IngestJob> {
    /// Durably enqueues a verified raw body as a delivery job. Returns only
    /// once SQS (and S3, for a claim check) accepted it; any error means
    /// "not stored".
    ///
    /// # Errors
    /// [`QueueError`] when S3, KMS or SQS refuses.
    #[tracing::instrument(skip_all, fields(bytes = body.len()))]
    pub async fn enqueue(&self, claims: &ClaimCheck<'_>, body: &[u8], received_at_ms: i64) -> Result<(), QueueError> {
        let message = claims
            .message(IngestJob::DeliveryV1, body, received_at_ms, &sha256_hex(body))
            .await?;
        self.send_encoded(message).await
    }

    /// Enqueues rebuilt deliveries as chunk jobs of the delivery whose signed
    /// body hashed to `delivery_sha256`, ten to a request.
    ///
    /// # Errors
    /// [`QueueError`] when any of them could not be stored (the caller fails
    /// and is retried; chunks are idempotent).
    pub async fn enqueue_chunks(
        &self,
        claims: &ClaimCheck<'_>,
        bodies: &[String],
        received_at_ms: i64,
        delivery_sha256: &str,
    ) -> Result<(), QueueError> {
        let mut messages = Vec::with_capacity(bodies.len());
        for body in bodies {
            messages.push(
                claims
                    .message(IngestJob::ChunkV1, body.as_bytes(), received_at_ms, delivery_sha256)
                    .await?,
            );
        }
        self.send_encoded_batch(messages).await
    }
}

impl ClaimCheck<'_> {
    /// The job's queue message (serialised once); a body too large for SQS
    /// goes to S3 first.
    async fn message(
        &self,
        kind: fn(DeliveryJob) -> IngestJob,
        body: &[u8],
        received_at_ms: i64,
        body_sha256: &str,
    ) -> Result<Encoded<IngestJob>, QueueError> {
        let inline = match std::str::from_utf8(body) {
            Ok(text) => DeliveryBody::Inline { text: text.to_owned() },
            Err(_) => {
                use base64::Engine;
                DeliveryBody::InlineBase64 {
                    data: base64::engine::general_purpose::STANDARD.encode(body),
                }
            }
        };
        let job = |body| {
            kind(DeliveryJob {
                received_at_ms,
                body_sha256: body_sha256.to_string(),
                body,
            })
        };
        let message = Encoded::new(&job(inline))?;
        if message.len() <= INLINE_LIMIT {
            return Ok(message);
        }
        // One object per message, even for the same body (Meta retries):
        // deleting one once ingested must not take another's with it.
        let key = format!(
            "claims/{}/{}-{}",
            received_at_ms / 86_400_000,
            sha256_hex(body),
            crate::ids::new_request_id()
        );
        put_sealed(self.s3, self.keys, self.bucket, &key, body, &[]).await?;
        let claim = DeliveryBody::Claim {
            bucket: self.bucket.to_string(),
            key,
        };
        Encoded::new(&job(claim))
    }
}

/// Stores `body` in S3 under `key`, sealed under a fresh data key whose
/// encryption context names the object (never plain), with user metadata.
///
/// # Errors
/// [`QueueError::S3`] or [`QueueError::Crypto`].
pub async fn put_sealed(
    s3: &aws_sdk_s3::Client,
    keys: &KeyRing,
    bucket: &str,
    key: &str,
    body: &[u8],
    metadata: &[(&str, String)],
) -> Result<(), QueueError> {
    let ctx = claim_context(key);
    let data_key = keys.generate(&ctx).await?;
    let sealed = crypto::seal(&data_key, key.as_bytes(), body);
    let mut object = Vec::with_capacity(2 + data_key.wrapped.len() + sealed.len());
    object.extend_from_slice(&(data_key.wrapped.len() as u16).to_be_bytes());
    object.extend_from_slice(&data_key.wrapped);
    object.extend_from_slice(&sealed);
    let mut put = s3.put_object().bucket(bucket).key(key).body(ByteStream::from(object));
    for (k, v) in metadata {
        put = put.metadata(*k, v);
    }
    put.send()
        .await
        .map_err(|e| QueueError::S3(aws_sdk_s3::error::DisplayErrorContext(e).to_string()))?;
    Ok(())
}

/// Reads and opens an object written by [`put_sealed`].
///
/// # Errors
/// [`QueueError::ClaimMissing`] when there is no such object, else S3 or
/// crypto errors.
pub async fn get_sealed(
    s3: &aws_sdk_s3::Client,
    keys: &KeyRing,
    bucket: &str,
    key: &str,
) -> Result<Vec<u8>, QueueError> {
    let out = s3.get_object().bucket(bucket).key(key).send().await.map_err(|e| {
        let text = aws_sdk_s3::error::DisplayErrorContext(&e).to_string();
        if e.into_service_error().is_no_such_key() {
            QueueError::ClaimMissing(key.to_string())
        } else {
            QueueError::S3(text)
        }
    })?;
    let bytes = out
        .body
        .collect()
        .await
        .map_err(|e| QueueError::S3(e.to_string()))?
        .into_bytes();
    if bytes.len() < 2 {
        return Err(QueueError::Crypto(CryptoError::Malformed));
    }
    let wrapped_len = u16::from_be_bytes([bytes[0], bytes[1]]) as usize;
    let wrapped = bytes.get(2..2 + wrapped_len).ok_or(CryptoError::Malformed)?;
    let data_key = keys.unwrap(wrapped, &claim_context(key)).await?;
    Ok(crypto::open(&data_key, key.as_bytes(), &bytes[2 + wrapped_len..])?)
}

/// Returns the raw signed body a job carries, fetching and decrypting a claim.
/// `s3` is built (on first use) only for a claim: a job with its body inline,
/// ingest's usual first request, costs no S3 client.
///
/// # Errors
/// [`QueueError::BadJob`] for invalid base64; [`get_sealed`]'s errors for a claim.
pub async fn load_body(job: &DeliveryJob, s3: &crate::config::S3, keys: &KeyRing) -> Result<Vec<u8>, QueueError> {
    match &job.body {
        DeliveryBody::Inline { text } => Ok(text.as_bytes().to_vec()),
        DeliveryBody::InlineBase64 { data } => {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD
                .decode(data)
                .map_err(|e| QueueError::BadJob(e.to_string()))
        }
        DeliveryBody::Claim { bucket, key } => get_sealed(s3, keys, bucket, key).await,
    }
}

/// Deletes an ingested claim check with every version of it: in a versioned
/// bucket a plain delete would leave the raw payload behind as a noncurrent
/// version.
///
/// # Errors
/// [`QueueError::S3`] when a version could not be deleted.
pub async fn delete_claim(job: &DeliveryJob, s3: &crate::config::S3) -> Result<(), QueueError> {
    let DeliveryBody::Claim { bucket, key } = &job.body else {
        return Ok(());
    };
    crate::objects::delete_all_versions(s3, bucket, key, true)
        .await
        .map_err(QueueError::S3)?;
    Ok(())
}

mod jobs;
mod producer;
mod redrive;
pub use jobs::{ErasureJob, ErasureTarget, PlanJob, SendJob, SendTask};
use producer::Encoded;
pub use producer::{parse_job, to_body, Job, Producer};
pub use redrive::{redrive, Redriven, MAX_REDRIVES, REDRIVES_ATTRIBUTE};

#[cfg(test)]
mod tests;

/// Sends one message body with `SendMessage`.
///
/// # Errors
/// [`QueueError::Sqs`] when SQS refuses or cannot be reached.
pub(crate) async fn send_one(sqs: &aws_sdk_sqs::Client, queue_url: &str, body: String) -> Result<(), QueueError> {
    sqs.send_message()
        .queue_url(queue_url)
        .message_body(body)
        .send()
        .await
        .map_err(sqs_err)?;
    Ok(())
}

/// Most bytes of message bodies in one `SendMessageBatch` (SQS refuses a
/// batch whose messages add up to more than its message size limit; 256 KiB
/// is the limit queues have had by default, so it holds everywhere).
pub const BATCH_BYTES: usize = 256 * 1024;

/// `bodies` split into `SendMessageBatch` requests: at most 10 messages and
/// [`BATCH_BYTES`] each (a larger single message goes alone).
pub fn batches(bodies: &[String]) -> Vec<&[String]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, body) in bodies.iter().enumerate() {
        if i > start && (i - start == 10 || bytes + body.len() > BATCH_BYTES) {
            out.push(&bodies[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += body.len();
    }
    if start < bodies.len() {
        out.push(&bodies[start..]);
    }
    out
}

/// Sends `bodies` with `SendMessageBatch`, in [`batches`]. Fails if any
/// entry failed, so the caller retries (receivers are idempotent). Callers
/// outside this module send typed jobs through [`Producer::send_batch`].
pub(crate) async fn send_batch(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    bodies: &[String],
) -> Result<(), QueueError> {
    use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
    for chunk in batches(bodies) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, b)| {
                SendMessageBatchRequestEntry::builder()
                    .id(format!("e{i}"))
                    .message_body(b)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| QueueError::Sqs(e.to_string()))?;
        let out = sqs
            .send_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(sqs_err)?;
        if !out.failed().is_empty() {
            return Err(QueueError::Sqs(format!(
                "{} of {} entries failed",
                out.failed().len(),
                chunk.len()
            )));
        }
    }
    Ok(())
}
