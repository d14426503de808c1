//! `stack-bench large`: one signed delivery of many items, a STOP right
//! after it and a newcomer halfway through, each timed while the large
//! delivery's chunks are ingested.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use optcast_local::cpu;
use optcast_local::{counting_proxy, start};

use crate::logs::Logs;
use crate::probes::{
    count_all, count_subscribers, delivery, emulator_pid, fmt_depth, message, post, queue_depth, status,
};
use crate::{options, NEWCOMER, PAGE, PER_PERSON, STOPPER};

/// One signed delivery of `items` messages, then a STOP right after it.
pub(crate) async fn large(items: usize) -> anyhow::Result<()> {
    let logs = Logs::default();
    tracing::subscriber::set_global_default(logs.clone()).context("installing the log watcher")?;
    let aws = optcast_shared::config::aws().await;
    let endpoint = aws
        .endpoint_url()
        .map(str::to_string)
        .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
        .unwrap_or_else(|| "http://127.0.0.1:4566".into());
    let (ingest_url, ingest_counts) = counting_proxy::start(endpoint.clone()).await?;
    let (webhook_url, webhook_counts) = counting_proxy::start(endpoint.clone()).await?;
    // The bench's own counts pass through a proxy too, so its Scans wait
    // their turn like every DynamoDB request (moto is not thread safe).
    let (bench_url, _) = counting_proxy::start(endpoint.clone()).await?;
    let mut opts = options(&format!("large{}", std::process::id()));
    // Only ingest's work on the emulator: no scheduler or sweeper runs.
    opts.fire_schedules = false;
    opts.function_aws
        .insert("ingest".into(), counting_proxy::routed_through(&aws, &ingest_url));
    opts.function_aws
        .insert("webhook".into(), counting_proxy::routed_through(&aws, &webhook_url));
    let stack = start(&opts, &aws).await.context("is the emulator running?")?;
    let subscribers = stack.provisioned.get("SubscribersTable")?.reference.clone();
    let events = stack.provisioned.get("EventsTable")?.reference.clone();
    let chunk_queue = stack.provisioned.get("IngestChunkQueue")?.reference.clone();
    let ddb = aws_sdk_dynamodb::Client::new(&aws);
    let bench_ddb = aws_sdk_dynamodb::Client::new(&counting_proxy::routed_through(&aws, &bench_url));
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let http = reqwest::Client::new();
    let url = stack.url("/webhook");
    let people = items.div_ceil(PER_PERSON);

    // The lead who will say STOP: a first message, applied before the bench.
    let now = optcast_shared::http::now_ms();
    let seed = delivery(
        now,
        &[message(STOPPER, "m_seed", now - 600_000, "Hi, do you ship to Lyon?")],
    );
    anyhow::ensure!(post(&http, &url, seed).await? == 200, "seed delivery refused");
    let seeded = Instant::now();
    while status(&ddb, &subscribers, STOPPER).await?.is_none() {
        anyhow::ensure!(seeded.elapsed() < Duration::from_secs(120), "seed lead never stored");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "seed lead {STOPPER} stored in {:.2} s; pollers {} per queue (chunk queue included)",
        seeded.elapsed().as_secs_f64(),
        opts.pollers_per_queue
    );

    // The large delivery: person p's k-th message is item k * people + p, so
    // each person's events are spread over the body as Meta batches them.
    const TEXTS: [&str; 5] = [
        "Hello, is this still available?",
        "What sizes do you have?",
        "Can you deliver on Saturday? \u{e9}t\u{e9}",
        "How much is shipping to Berlin?",
        "Thanks, I'll take two.",
    ];
    let base = optcast_shared::http::now_ms() - 300_000;
    let messaging: Vec<serde_json::Value> = (0..items)
        .map(|i| {
            let person = format!("2200000000{:06}", i % people);
            message(
                &person,
                &format!("m_large_{i}"),
                base + i as i64,
                TEXTS[i % TEXTS.len()],
            )
        })
        .collect();
    let body = delivery(optcast_shared::http::now_ms(), &messaging);
    drop(messaging);
    let body_kb = body.len() as f64 / 1024.0;

    let chunk_depth = Arc::new(Mutex::new((0u64, 0u64)));
    let watcher = {
        let (sqs, chunk_queue, depth) = (sqs.clone(), chunk_queue.clone(), chunk_depth.clone());
        tokio::spawn(async move {
            loop {
                if let Some(now) = queue_depth(&sqs, &chunk_queue).await {
                    let mut d = depth.lock().expect("depth");
                    *d = (now, d.1.max(now));
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };
    logs.reset();
    ingest_counts.reset();
    webhook_counts.reset();
    let emulator = emulator_pid(&endpoint);
    let cpu_at = (emulator.as_deref().and_then(cpu::cpu_seconds), cpu::cpu_seconds("self"));
    let t0 = Instant::now();
    let large_status = post(&http, &url, body).await?;
    let accepted = t0.elapsed();
    anyhow::ensure!(large_status == 200, "large delivery answered {large_status}");
    let webhook_requests = webhook_counts.snapshot();

    // Right after its 200: a normal one-message delivery, the lead's STOP.
    let stop_sent = Instant::now();
    let stop_ms = optcast_shared::http::now_ms();
    let stop = delivery(stop_ms, &[message(STOPPER, "m_stop", stop_ms, "STOP")]);
    let stop_status = post(&http, &url, stop).await?;
    let stop_answered = stop_sent.elapsed();
    anyhow::ensure!(stop_status == 200, "STOP delivery answered {stop_status}");

    // Halfway through, a first message from a new lead: applied while every
    // DynamoDB call is slowest (moto's tables are large by then). Progress
    // is read from ingest's DynamoDB transactions (one per applied item) as
    // they pass the proxy; its logs only report whole jobs.
    let transactions = || {
        ingest_counts
            .snapshot()
            .get("dynamodb:TransactWriteItems")
            .copied()
            .unwrap_or(0)
    };
    let mut midway: Option<(Instant, u64)> = None;
    let mut midway_applied: Option<(Duration, u64)> = None;
    let limit = Duration::from_secs(600 + 2 * items as u64);
    let mut stop_applied: Option<(Duration, u64)> = None;
    let mut done: Option<Duration> = None;
    let (mut last_db, mut last_progress) = (Instant::now(), Instant::now());
    let mut db_counts = (0u64, 0u64);
    while t0.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let seen = logs.snapshot();
        let small = u64::from(stop_applied.is_some()) + u64::from(midway_applied.is_some());
        let written = transactions().saturating_sub(small);
        if stop_applied.is_none() && status(&ddb, &subscribers, STOPPER).await?.as_deref() == Some("unsubscribed") {
            stop_applied = Some((stop_sent.elapsed(), written.saturating_sub(1)));
        }
        if let (Some((sent, _)), None) = (midway, midway_applied) {
            if status(&ddb, &subscribers, NEWCOMER).await?.is_some() {
                midway_applied = Some((sent.elapsed(), written.saturating_sub(1)));
            }
        }
        if midway.is_none() && written >= items as u64 / 2 {
            let at = optcast_shared::http::now_ms();
            let text = "Hi! Is the blue one back in stock?";
            let hello = delivery(at, &[message(NEWCOMER, "m_newcomer", at, text)]);
            let sent = Instant::now();
            anyhow::ensure!(post(&http, &url, hello).await? == 200, "midway delivery refused");
            midway = Some((sent, written));
        }
        let large_settled = seen.settled().saturating_sub(small);
        let db_every = match large_settled >= items as u64 {
            true => Duration::from_secs(2),
            false => Duration::from_secs(30),
        };
        if last_db.elapsed() >= db_every {
            last_db = Instant::now();
            db_counts = (
                count_subscribers(&bench_ddb, &subscribers).await?,
                count_all(&bench_ddb, &events).await?,
            );
            let smalls_done = stop_applied.is_some() && midway_applied.is_some();
            if smalls_done && db_counts.0 >= people as u64 + 2 && db_counts.1 >= items as u64 + 3 {
                done = Some(t0.elapsed());
                break;
            }
        }
        if last_progress.elapsed() >= Duration::from_secs(30) {
            last_progress = Instant::now();
            let depth = chunk_depth.lock().expect("depth").0;
            eprintln!(
                "  [{:>4.0} s] about {written}/{items} large items written, {large_settled} in finished jobs; DynamoDB at last look: {} subscribers, {} event markers; chunk queue {depth}; failed records {}",
                t0.elapsed().as_secs_f64(),
                db_counts.0,
                db_counts.1,
                seen.failed_records
            );
        }
    }
    let wall = t0.elapsed();
    let cpu_used = (
        emulator
            .as_deref()
            .and_then(cpu::cpu_seconds)
            .zip(cpu_at.0)
            .map(|(a, b)| a - b),
        cpu::cpu_seconds("self").zip(cpu_at.1).map(|(a, b)| a - b),
    );
    let requests = ingest_counts.snapshot();
    let by_service = ingest_counts.by_service();
    let seen = logs.snapshot();
    watcher.abort();
    let max_depth = chunk_depth.lock().expect("depth").1;
    let dlq = |name: &str| {
        let url = stack
            .provisioned
            .get(name)
            .map(|r| r.reference.clone())
            .unwrap_or_default();
        let sqs = sqs.clone();
        async move { queue_depth(&sqs, &url).await }
    };
    let (ingest_dlq, chunk_dlq, chunks_left) = (
        dlq("IngestDeadLetterQueue").await,
        dlq("IngestChunkDeadLetterQueue").await,
        queue_depth(&sqs, &chunk_queue).await,
    );

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
    stack.stop().await;
    Ok(())
}
