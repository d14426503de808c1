//! The functions under test: each one's first request, as it gets it in
//! production, and the environment `template.yaml` gives it.

use std::net::SocketAddr;

use optcast_shared::broadcast::LeadSnapshot;
use optcast_shared::ids::{BroadcastId, PageId, Psid};
use optcast_shared::meta::Platform;
use optcast_shared::queue::{
    self, DeliveryBody, DeliveryJob, ErasureJob, ErasureTarget, IngestJob, PlanJob, SendJob, SendTask,
};
use serde_json::{json, Value};

pub(crate) const REQUEST_ID: &str = "coldstart-0001";
const VERIFY_TOKEN: &str = "bench-verify-token";

/// One function under test and its first request.
pub(crate) struct Case {
    pub(crate) name: &'static str,
    pub(crate) first_request: &'static str,
    pub(crate) event: Value,
    /// What its first response must hold (`--check`): the answer a
    /// working function gives against the blank AWS.
    pub(crate) answer: &'static [&'static str],
    /// AWS operations its first request must call (`--check`), as
    /// [`crate::fake_lambda::AwsCalls`] names them: what shows the request
    /// went the way a working function takes.
    pub(crate) calls: &'static [&'static str],
}

/// An SQS consumer's answer when its one record succeeded.
const NO_FAILURES: &[&str] = &[r#"{"batchItemFailures":[]}"#];

pub(crate) fn cases() -> Vec<Case> {
    let http = |method: &str, path: &str, query: &str, claims: Option<Value>| {
        let params: serde_json::Map<String, Value> = form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect();
        let mut context = json!({
            "accountId": "123456789012", "apiId": "bench", "domainName": "bench.execute-api.us-west-2.amazonaws.com",
            "domainPrefix": "bench",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "bench"},
            "requestId": "bench-1", "routeKey": format!("{method} {path}"), "stage": "$default",
            "time": "01/Dec/2026:00:00:00 +0000", "timeEpoch": 1_764_547_200_000_i64
        });
        if let Some(claims) = claims {
            context["authorizer"] = json!({"jwt": {"claims": claims, "scopes": null}});
        }
        json!({
            "version": "2.0", "routeKey": format!("{method} {path}"), "rawPath": path, "rawQueryString": query,
            "headers": {"host": "bench.execute-api.us-west-2.amazonaws.com", "user-agent": "bench"},
            "queryStringParameters": params, "requestContext": context, "isBase64Encoded": false
        })
    };
    // A batch of one message carrying `body` from the queue `queue`.
    let sqs = |queue: &str, body: String| {
        json!({"Records": [{
            "messageId": "0b5e3e4e-1d1c-4f5a-9c5e-000000000001", "receiptHandle": "bench-receipt",
            "body": body, "md5OfBody": "", "eventSource": "aws:sqs",
            "eventSourceARN": format!("arn:aws:sqs:us-west-2:123456789012:optcast-{queue}"), "awsRegion": "us-west-2",
            "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1764547200000",
                "SenderId": "AROAEXAMPLE", "ApproximateFirstReceiveTimestamp": "1764547200001"},
            "messageAttributes": {}
        }]})
    };
    let page = PageId::parse("1000000000000001").expect("a page id");
    let psid = Psid::parse("2000000000000001").expect("a psid");
    let broadcast = BroadcastId::parse("0123456789abcdef0123456789abcdef").expect("a broadcast id");
    let delivery = json!({"object": "page", "entry": [{"id": page, "time": 1_764_547_200_000_i64, "messaging": [{
        "sender": {"id": psid}, "recipient": {"id": page}, "timestamp": 1_764_547_200_000_i64,
        "message": {"mid": "m_coldstart_1", "text": "hello"}}]}]})
    .to_string();
    let ingest_job = IngestJob::DeliveryV1(DeliveryJob {
        received_at_ms: 1_764_547_200_000,
        body_sha256: queue::sha256_hex(delivery.as_bytes()),
        body: DeliveryBody::Inline { text: delivery },
    });
    let plan_job = PlanJob::PlanV1 {
        broadcast_id: broadcast.clone(),
        shard: 0,
    };
    let send_job = SendJob::SendV1(SendTask {
        broadcast_id: broadcast,
        page_id: page.clone(),
        psid: psid.clone(),
        lead: LeadSnapshot {
            platform: Platform::Messenger,
            last_inbound_at_ms: Some(1_764_547_000_000),
            marketing: None,
            generation: None,
        },
    });
    let erasure_job = ErasureJob::ErasureV1 {
        request_id: "0123456789abcdef0123456789abcdef".into(),
        target: ErasureTarget::Subject { page_id: page, psid },
        found_before: false,
        shredded_at_ms: None,
    };
    let body = |job: Result<String, queue::QueueError>| job.expect("a job serialises");
    let schedule = json!({
        "version": "0", "id": "bench", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-12-01T00:00:00Z", "region": "us-west-2",
        "resources": ["arn:aws:events:us-west-2:123456789012:rule/bench"], "detail": {}
    });
    vec![
        Case {
            name: "hello",
            first_request: "echo",
            event: json!({"hello": "world"}),
            answer: &[r#"{"hello":"world"}"#],
            calls: &[],
        },
        Case {
            name: "webhook",
            first_request: "GET handshake",
            event: http(
                "GET",
                "/webhook",
                &format!("hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=42"),
                None,
            ),
            answer: &[r#""statusCode":200"#, r#""body":"42""#],
            calls: &[],
        },
        Case {
            name: "api",
            first_request: "GET subscriber (DynamoDB)",
            event: http(
                "GET",
                "/v1/pages/1000000000000001/subscribers/2000000000000001",
                "",
                Some(json!({"sub": "bench", "scope": "subscribers:read", "optcast_pages": "*"})),
            ),
            answer: &[r#""statusCode":404"#, "subscriber not found"],
            calls: &["DynamoDB_20120810.GetItem"],
        },
        Case {
            name: "ingest",
            first_request: "delivery job (DDB, KMS)",
            event: sqs("ingest", body(queue::to_body(&ingest_job))),
            answer: NO_FAILURES,
            calls: &["TrentService.GenerateDataKey", "DynamoDB_20120810.TransactWriteItems"],
        },
        Case {
            name: "planner",
            first_request: "plan job (DynamoDB)",
            event: sqs("plan", body(queue::to_body(&plan_job))),
            answer: NO_FAILURES,
            calls: &["DynamoDB_20120810.BatchGetItem"],
        },
        Case {
            name: "sender",
            first_request: "send job (DynamoDB)",
            event: sqs("send", body(queue::to_body(&send_job))),
            answer: NO_FAILURES,
            calls: &["DynamoDB_20120810.BatchGetItem"],
        },
        Case {
            name: "eraser",
            first_request: "erasure job (DDB, SQS, S3)",
            event: sqs("erasure", body(queue::to_body(&erasure_job))),
            answer: NO_FAILURES,
            calls: &["AmazonSQS.ReceiveMessage", "S3 GET", "DynamoDB_20120810.UpdateItem"],
        },
        Case {
            name: "scheduler",
            first_request: "schedule (DynamoDB)",
            event: schedule.clone(),
            answer: &[r#""errors":0"#],
            calls: &["DynamoDB_20120810.Query"],
        },
        Case {
            name: "sweeper",
            first_request: "schedule (DDB, S3)",
            event: schedule,
            answer: &[r#""run_id":"#, r#""errors":[]"#, r#""complete":true"#],
            calls: &["DynamoDB_20120810.Scan", "S3 PUT"],
        },
    ]
}

/// The environment `template.yaml` sets on the functions (the union: each
/// reads only its own), with the secrets inline and AWS at `aws`.
pub(crate) fn environment(function: &str, runtime_api: SocketAddr, aws: SocketAddr) -> Vec<(String, String)> {
    let aws_url = format!("http://{aws}");
    let queue = |name: &str| format!("{aws_url}/123456789012/optcast-{name}");
    let mut env: Vec<(String, String)> = [
        ("AWS_LAMBDA_FUNCTION_NAME", format!("optcast-{function}")),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".into()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/optcast-{function}")),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/12/01/[$LATEST]bench".into()),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into()),
        ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_string()),
        ("_HANDLER", "bootstrap".into()),
        ("TZ", ":UTC".into()),
        ("AWS_REGION", "us-west-2".into()),
        ("AWS_DEFAULT_REGION", "us-west-2".into()),
        ("AWS_ACCESS_KEY_ID", "bench".into()),
        ("AWS_SECRET_ACCESS_KEY", "bench".into()),
        ("AWS_SESSION_TOKEN", "bench".into()),
        ("AWS_ENDPOINT_URL", aws_url.clone()),
        ("RUST_LOG", "info".into()),
        // The webhook's and ingest's (mimalloc's first arena, lazily committed).
        ("MIMALLOC_ARENA_EAGER_COMMIT", "0".into()),
        ("SUBSCRIBERS_TABLE", "optcast-SubscribersTable".into()),
        ("CONSENT_LOG_TABLE", "optcast-ConsentLogTable".into()),
        ("MESSAGES_TABLE", "optcast-MessagesTable".into()),
        ("EVENTS_TABLE", "optcast-EventsTable".into()),
        ("SUBJECT_KEYS_TABLE", "optcast-SubjectKeysTable".into()),
        ("PAGES_TABLE", "optcast-PagesTable".into()),
        ("BROADCASTS_TABLE", "optcast-BroadcastsTable".into()),
        ("DELIVERIES_TABLE", "optcast-DeliveriesTable".into()),
        ("PRIVACY_TABLE", "optcast-PrivacyTable".into()),
        (
            "OPTCAST_PSEUDONYM_KEYS",
            r#"{"current":"k1","keys":{"k1":"YmVuY2gtcHNldWRvbnltLWtleS0zMi1ieXRlcy1sb25nIQ=="}}"#.into(),
        ),
        ("META_APP_SECRET", "bench-app-secret".into()),
        ("META_VERIFY_TOKEN", VERIFY_TOKEN.into()),
        ("META_APP_ID", "1000000000000009".into()),
        ("GRAPH_API_URL", format!("{aws_url}/graph")),
        ("DATA_BUCKET", "optcast-data".into()),
        ("KMS_KEY_ID", "alias/optcast".into()),
        ("DEFAULT_RETENTION_DAYS", "365".into()),
        ("UNSUBSCRIBED_PURGE_DAYS", "30".into()),
        ("SWEEP_MAX_DELETES_PER_RUN", "200000".into()),
        ("SEND_RATE_PER_SECOND", "20".into()),
        ("ADMIN_AUTH", "api-gateway-jwt".into()),
        ("PAGES_CLAIM", "optcast_pages".into()),
        ("INGEST_QUEUE_URL", queue("ingest")),
        ("INGEST_CHUNK_QUEUE_URL", queue("ingest-chunks")),
        ("INGEST_DLQ_URL", queue("ingest-dlq")),
        ("INGEST_CHUNK_DLQ_URL", queue("ingest-chunks-dlq")),
        ("ERASURE_QUEUE_URL", queue("erasure")),
        ("ERASURE_DEAD_LETTER_QUEUE_URL", queue("erasure-dlq")),
        ("PLAN_QUEUE_URL", queue("plan")),
        ("SEND_QUEUE_URL", queue("send")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    env.sort();
    env
}
