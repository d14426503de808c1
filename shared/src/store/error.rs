//! The one storage error. It keeps the AWS SDK's error as its source (for
//! the full chain in logs) and knows its retry class, so every function maps
//! it once: a retryable error goes back to the queue (or a 503), anything
//! else is a bug or bad data that a retry would only repeat.

use std::any::Any;
use std::error::Error as StdError;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// DynamoDB error codes worth retrying: throttling, capacity, server-side
/// failures and transaction conflicts.
const DYNAMO_RETRYABLE: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
    "TransactionInProgressException",
    "ReplicatedWriteConflictException",
];

/// Cancellation reasons of a transaction that a retry may get past.
const CANCELLATION_RETRYABLE: &[&str] = &[
    "TransactionConflict",
    "ThrottlingError",
    "ProvisionedThroughputExceeded",
];

/// S3 error codes worth retrying.
const S3_RETRYABLE: &[&str] = &[
    "SlowDown",
    "InternalError",
    "ServiceUnavailable",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "Throttling",
];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A DynamoDB call failed (or kept failing after our own retries).
    /// `detail` is the SDK's full message; `source`, where there is one, the
    /// SDK's error itself.
    #[error("DynamoDB call failed: {detail}")]
    Dynamo {
        detail: String,
        retryable: bool,
        #[source]
        source: Option<BoxError>,
    },
    /// An S3 call failed; as [`StoreError::Dynamo`].
    #[error("S3 call failed: {detail}")]
    S3 {
        detail: String,
        retryable: bool,
        #[source]
        source: Option<BoxError>,
    },
    /// A stored item lacks or garbles the named attribute (or a request we
    /// built was refused by the SDK's builder): a retry fails the same way.
    #[error("stored item is corrupt: {0}")]
    Corrupt(&'static str),
}

impl StoreError {
    /// A failed DynamoDB call, classified: timeouts, dispatch and response
    /// failures, 5xx and 429, throttling and transaction conflicts (also a
    /// transaction cancelled only for a conflict or throttling) are
    /// retryable; validation errors and failed conditions are not.
    pub fn dynamo<E>(err: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        let retryable = sdk_retryable(&err, DYNAMO_RETRYABLE);
        Self::Dynamo {
            detail: DisplayErrorContext(&err).to_string(),
            retryable,
            source: Some(Box::new(err)),
        }
    }

    /// A failed S3 call, classified as [`StoreError::dynamo`] does (with
    /// S3's codes: `SlowDown`, `InternalError`, …).
    pub fn s3<E>(err: aws_sdk_s3::error::SdkError<E, HttpResponse>) -> Self
    where
        E: aws_sdk_s3::error::ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        let retryable = match &err {
            SdkError::ServiceError(ctx) => {
                let status = ctx.raw().status().as_u16();
                status >= 500 || status == 429 || ctx.err().code().is_some_and(|c| S3_RETRYABLE.contains(&c))
            }
            other => transport_retryable(other),
        };
        Self::S3 {
            detail: aws_sdk_s3::error::DisplayErrorContext(&err).to_string(),
            retryable,
            source: Some(Box::new(err)),
        }
    }

    /// An S3 failure known only by its message (from helpers that report
    /// text): taken as retryable, since S3 refuses nothing we build for
    /// reasons a retry could not get past.
    pub fn s3_text(detail: impl Into<String>) -> Self {
        Self::S3 {
            detail: detail.into(),
            retryable: true,
            source: None,
        }
    }

    /// DynamoDB still throttling or contended after our own retries
    /// (unprocessed keys, an item that kept changing): retryable later.
    pub fn exhausted(detail: impl Into<String>) -> Self {
        Self::Dynamo {
            detail: detail.into(),
            retryable: true,
            source: None,
        }
    }

    /// Whether the same call may succeed if tried again later.
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Dynamo { retryable, .. } | StoreError::S3 { retryable, .. } => *retryable,
            StoreError::Corrupt(_) => false,
        }
    }
}

fn sdk_retryable<E: ProvideErrorMetadata + 'static>(err: &SdkError<E, HttpResponse>, codes: &[&str]) -> bool {
    match err {
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status().as_u16();
            if status >= 500 || status == 429 || ctx.err().code().is_some_and(|c| codes.contains(&c)) {
                return true;
            }
            match (ctx.err() as &dyn Any).downcast_ref::<TransactWriteItemsError>() {
                Some(TransactWriteItemsError::TransactionCanceledException(c)) => {
                    let reasons: Vec<&str> = c.cancellation_reasons().iter().filter_map(|r| r.code()).collect();
                    reasons.iter().any(|r| CANCELLATION_RETRYABLE.contains(r))
                        && reasons
                            .iter()
                            .all(|r| *r == "None" || CANCELLATION_RETRYABLE.contains(r))
                }
                _ => false,
            }
        }
        other => transport_retryable(other),
    }
}

/// Failures before or around the service's answer: a timeout, a connection
/// that failed, an answer that did not parse are retryable; a request the
/// SDK could not build, or a connector refusing it as a user error, is not.
fn transport_retryable<E, R>(err: &SdkError<E, R>) -> bool {
    match err {
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => true,
        SdkError::DispatchFailure(d) => !d.is_user(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::error::ErrorMetadata;
    use aws_sdk_dynamodb::operation::get_item::GetItemError;
    use aws_sdk_dynamodb::types::{error::TransactionCanceledException, CancellationReason};
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    fn response(status: u16) -> HttpResponse {
        HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty())
    }

    fn get_item_failure(code: &str, status: u16) -> StoreError {
        let err = GetItemError::generic(ErrorMetadata::builder().code(code).build());
        StoreError::dynamo(SdkError::service_error(err, response(status)))
    }

    fn cancelled(reasons: &[&str]) -> StoreError {
        let cancel = TransactionCanceledException::builder()
            .set_cancellation_reasons(Some(
                reasons
                    .iter()
                    .map(|r| CancellationReason::builder().code(*r).build())
                    .collect(),
            ))
            .meta(ErrorMetadata::builder().code("TransactionCanceledException").build())
            .build();
        StoreError::dynamo(SdkError::service_error(
            TransactWriteItemsError::TransactionCanceledException(cancel),
            response(400),
        ))
    }

    #[test]
    fn throttling_server_errors_and_timeouts_are_retryable() {
        assert!(get_item_failure("ProvisionedThroughputExceededException", 400).is_retryable());
        assert!(get_item_failure("ThrottlingException", 400).is_retryable());
        assert!(get_item_failure("InternalServerError", 500).is_retryable());
        assert!(get_item_failure("Whatever", 503).is_retryable());
        let timeout: SdkError<GetItemError, HttpResponse> = SdkError::timeout_error("took too long");
        assert!(StoreError::dynamo(timeout).is_retryable());
        assert!(StoreError::exhausted("unprocessed keys").is_retryable());
    }

    #[test]
    fn validation_failed_conditions_and_corrupt_items_are_not_retryable() {
        assert!(!get_item_failure("ValidationException", 400).is_retryable());
        assert!(!get_item_failure("ConditionalCheckFailedException", 400).is_retryable());
        assert!(!get_item_failure("ResourceNotFoundException", 400).is_retryable());
        assert!(!StoreError::Corrupt("status").is_retryable());
    }

    #[test]
    fn a_transaction_cancelled_for_a_conflict_is_retryable_one_failing_its_condition_is_not() {
        assert!(cancelled(&["None", "TransactionConflict"]).is_retryable());
        assert!(cancelled(&["ThrottlingError"]).is_retryable());
        assert!(!cancelled(&["ConditionalCheckFailed", "None"]).is_retryable());
        assert!(!cancelled(&["ConditionalCheckFailed", "TransactionConflict"]).is_retryable());
        assert!(!cancelled(&["ValidationError"]).is_retryable());
    }

    #[test]
    fn the_sdk_error_is_the_source_and_its_message_the_text() {
        let err = get_item_failure("ValidationException", 400);
        assert!(err.to_string().starts_with("DynamoDB call failed: "));
        assert!(err.to_string().contains("ValidationException"));
        assert!(err.source().is_some());
    }
}
