//! `stack-bench large`: one signed delivery of many items, a STOP right
//! after it and a newcomer halfway through, each timed while the large
//! delivery's chunks are ingested.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use optcast_local::cpu;
use optcast_local::{counting_proxy, start};

use crate::large_report::{print_report, Outcome};
use crate::logs::Logs;
use crate::probes::{count_all, count_subscribers, delivery, emulator_pid, message, post, queue_depth, status};
use crate::{options, NEWCOMER, PER_PERSON, STOPPER};

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

    let body = large_delivery(items, people);
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

    print_report(Outcome {
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
    });
    stack.stop().await;
    Ok(())
}

/// The large delivery: `items` messages from `people` people, person p's
/// k-th message being item k * people + p, so each person's events are
/// spread over the body as Meta batches them.
fn large_delivery(items: usize, people: usize) -> String {
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
    delivery(optcast_shared::http::now_ms(), &messaging)
}
