//! What `stack-bench large` prints: how the large delivery, the STOP after
//! it and the newcomer midway fared, and the AWS requests per item.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::logs::Seen;
use crate::probes::fmt_depth;
use crate::{PAGE, PER_PERSON};

/// What one large run saw, for its report.
pub(crate) struct Outcome {
    pub(crate) items: usize,
    pub(crate) people: usize,
    pub(crate) body_kb: f64,
    /// How long the webhook took to answer the large delivery.
    pub(crate) accepted: Duration,
    pub(crate) webhook_requests: BTreeMap<String, u64>,
    /// When the large delivery was sent.
    pub(crate) t0: Instant,
    pub(crate) stop_answered: Duration,
    /// When the STOP was applied after it was sent, and how many large
    /// items were applied by then.
    pub(crate) stop_applied: Option<(Duration, u64)>,
    /// When the newcomer's message was sent, and at how many large items.
    pub(crate) midway: Option<(Instant, u64)>,
    pub(crate) midway_applied: Option<(Duration, u64)>,
    pub(crate) wall: Duration,
    /// CPU seconds of the emulator and of this process.
    pub(crate) cpu_used: (Option<f64>, Option<f64>),
    pub(crate) done: Option<Duration>,
    /// Subscribers and event markers at the last look.
    pub(crate) db_counts: (u64, u64),
    pub(crate) max_depth: u64,
    pub(crate) chunks_left: Option<u64>,
    pub(crate) ingest_dlq: Option<u64>,
    pub(crate) chunk_dlq: Option<u64>,
    pub(crate) seen: Seen,
    pub(crate) requests: BTreeMap<String, u64>,
    pub(crate) by_service: BTreeMap<String, u64>,
}

/// Prints what the large run saw.
pub(crate) fn print_report(outcome: Outcome) {
    let Outcome {
        items,
        people,
        body_kb,
        accepted,
        webhook_requests,
        t0,
        stop_answered,
        stop_applied,
        midway,
        midway_applied,
        wall,
        cpu_used,
        done,
        db_counts,
        max_depth,
        chunks_left,
        ingest_dlq,
        chunk_dlq,
        seen,
        requests,
        by_service,
    } = outcome;
    println!(
        "large delivery: {items} items from {people} people, {body_kb:.0} KB body, accepted in {:.2} s ({})",
        accepted.as_secs_f64(),
        match webhook_requests.get("s3:PutObject") {
            Some(_) => "claim-checked through S3",
            None => "sent inline, no claim check",
        }
    );
    match seen.split {
        Some((at, deferred)) => println!(
            "split: {deferred} items handed to chunk jobs {:.2} s after the large delivery was sent",
            at.duration_since(t0).as_secs_f64()
        ),
        None => println!("split: not seen in ingest's logs"),
    }
    match stop_applied {
        Some((after, settled)) => println!(
            "normal delivery sent right after it (STOP from an existing lead): 200 in {:.3} s, applied in {:.2} s; about {settled} of the {items} large items were applied by then",
            stop_answered.as_secs_f64(),
            after.as_secs_f64()
        ),
        None => println!("normal delivery sent right after it: NOT applied within {:.0} s", wall.as_secs_f64()),
    }
    match (midway, midway_applied) {
        (Some((_, at)), Some((after, settled))) => println!(
            "normal delivery sent midway (first message from a new lead, at about {at}/{items} large items): applied in {:.2} s; about {settled} large items were applied by then",
            after.as_secs_f64()
        ),
        (Some((_, at)), None) => println!("normal delivery sent midway (at {at}/{items}): NOT applied"),
        _ => println!("normal delivery midway: not sent"),
    }
    let share = match cpu_used {
        (Some(e), Some(o)) => format!(
            "emulator share of CPU {:.0}% (emulator {e:.1} s, optcast handlers + runner + load generator {o:.1} s)",
            100.0 * e / (e + o)
        ),
        _ => "CPU not measured".into(),
    };
    match done {
        Some(took) => println!(
            "all {items} items ingested in {:.1} s ({:.1} items/s end to end); {share}",
            took.as_secs_f64(),
            items as f64 / took.as_secs_f64()
        ),
        None => println!(
            "NOT all ingested within {:.0} s ({} of {items} settled by the logs); {share}",
            wall.as_secs_f64(),
            seen.settled().saturating_sub(2)
        ),
    }
    println!(
        "DynamoDB: {} subscribers for {PAGE} (expected {}), {} event markers (expected {})",
        db_counts.0,
        people + 2,
        db_counts.1,
        items + 3
    );
    println!(
        "chunk jobs: {} ingested ({} planned by the split, {} re-queued the rest of themselves at the work budget, {} items), chunk queue at most {max_depth} deep, {} left",
        seen.jobs.saturating_sub(2),
        people.div_ceil(ingest::CHUNK_ITEMS / PER_PERSON),
        seen.requeued_jobs,
        seen.requeued_items,
        fmt_depth(chunks_left)
    );
    println!(
        "outcomes: {} applied, {} duplicates, {} recorded only, {} quarantined; failed records {}, warnings {}, errors {}; DLQ: ingest {}, chunks {}",
        seen.applied,
        seen.duplicates,
        seen.recorded,
        seen.quarantined,
        seen.failed_records,
        seen.warnings,
        seen.errors,
        fmt_depth(ingest_dlq),
        fmt_depth(chunk_dlq)
    );
    for line in &seen.samples {
        println!("  log: {line}");
    }
    let per_item = |svc: &str| {
        let v = by_service.get(svc).copied().unwrap_or(0) as f64 / items as f64;
        if v >= 0.1 {
            format!("{v:.2}")
        } else {
            format!("{v:.4}")
        }
    };
    println!(
        "requests per item: DynamoDB {}, SQS {}, S3 {}, KMS {} (ingest, the two small deliveries included; emulator 5xx {})",
        per_item("dynamodb"),
        per_item("sqs"),
        per_item("s3"),
        per_item("kms"),
        by_service.get("emulator_5xx").copied().unwrap_or(0)
    );
    println!("ingest AWS requests: {requests:?}");
    println!("webhook AWS requests for the large delivery: {webhook_requests:?}");
}
