//! End-to-end figures on the local stack: signed deliveries per second
//! accepted on `POST /webhook`, and deliveries per second fully ingested,
//! with the emulator's share of the CPU stated. Needs the emulator running
//! (`infra/emulator.sh`). Usage: `stack-bench [deliveries] [concurrency]`.
//!
//! `stack-bench large [items]` (default 10,000) instead sends one signed
//! delivery of `items` text messages (from items/5 people, five each; over
//! 200 KiB, about 1,400 items, it is claim-checked through S3), then right
//! after its 200 a STOP from a lead seeded before, and halfway through a
//! first message from a new lead, and shows that both are applied within
//! seconds while the large delivery's chunks are still being ingested. It
//! prints the time to accept, to split into chunk jobs, to apply each small
//! delivery, and to ingest every item (confirmed in DynamoDB), the
//! emulator's share of the CPU, and ingest's AWS requests per item by
//! service (counted on the wire by a proxy in front of the emulator; SQS
//! polling, which Lambda's event source mapping does in AWS, is not
//! counted). `POLLERS` (default 2) pollers per queue, the chunk queue
//! included. Stock moto deep-copies every table a transaction writes, so its
//! time per item grows with the tables, and keeps every copy (it tracks all
//! model instances for its dashboard: about 7 GB by 2,000 items). Run 10,000
//! against `infra/bench/moto_server`, which does neither (150 s instead of
//! hours): `.venv/bin/python infra/bench/moto_server -H 127.0.0.1 -p 4567`,
//! then this bench with `AWS_ENDPOINT_URL=http://127.0.0.1:4567`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use aws_sdk_dynamodb::types::{AttributeValue, Select};
use aws_sdk_sqs::types::QueueAttributeName;
use optcast_local::cpu::{self, CpuMeter};
use optcast_local::{counting_proxy, start, StackOptions};
use tokio::sync::Semaphore;

const SECRET: &str = "bench-secret";
const PAGE: &str = "1000000000000001";
/// Messages per person in the large delivery (so lanes have several events).
const PER_PERSON: usize = 5;
/// The lead seeded first, whose STOP is the delivery sent after the large one.
const STOPPER: &str = "2000000000000001";
/// The new lead whose first message is sent halfway through.
const NEWCOMER: &str = "2000000000000002";

fn options(prefix: &str) -> StackOptions {
    let root = std::env::var("OPTCAST_ROOT").unwrap_or_else(|_| ".".into());
    let mut opts = StackOptions::new(prefix, format!("{root}/template.yaml"));
    opts.addr = "127.0.0.1:0".parse().expect("static address");
    opts.metrics_to_stdout = false; // the figures are the output
    opts.overrides.insert("META_APP_SECRET".into(), SECRET.into());
    opts.overrides.insert("META_VERIFY_TOKEN".into(), "bench".into());
    opts.pollers_per_queue = std::env::var("POLLERS").ok().and_then(|v| v.parse().ok()).unwrap_or(2);
    opts
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("large") {
        let items: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(10_000);
        return large(items.max(1)).await;
    }
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let concurrency: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(16);
    let opts = options(&format!("bench{}", std::process::id()));
    let aws = optcast_shared::config::aws().await;
    let stack = start(&opts, &aws).await.context("is the emulator running?")?;
    let table = stack.provisioned.get("SubscribersTable")?.reference.clone();
    let ddb = aws_sdk_dynamodb::Client::new(&aws);
    let http = reqwest::Client::new();
    let url = stack.url("/webhook");
    let cpu = CpuMeter::start();

    let started = Instant::now();
    let permits = Arc::new(Semaphore::new(concurrency));
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let body = serde_json::json!({"object":"page","entry":[{"id":PAGE,"time":1,"messaging":[{
            "sender":{"id":format!("2100000000{i:06}")},"recipient":{"id":PAGE},"timestamp":1_718_000_000_000i64 + i as i64,
            "message":{"mid":format!("m_bench_{i}"),"text":"Hello, is this still available? \\u00e9"}}]}]})
        .to_string();
        let sig = optcast_shared::signature::sign(SECRET.as_bytes(), body.as_bytes());
        let (http, url, permits) = (http.clone(), url.clone(), permits.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = permits.acquire_owned().await.expect("semaphore open");
            let resp = http
                .post(url)
                .header("x-hub-signature-256", sig)
                .body(body)
                .send()
                .await;
            resp.map(|r| r.status().as_u16()).unwrap_or(0)
        }));
    }
    let mut ok = 0;
    for t in tasks {
        if t.await? == 200 {
            ok += 1;
        }
    }
    let accepted = started.elapsed();
    loop {
        let count = ddb
            .scan()
            .table_name(&table)
            .select(Select::Count)
            .send()
            .await?
            .count() as usize;
        if count >= ok {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let ingested = started.elapsed();
    let (emu_cpu, own_cpu) = cpu.used();
    println!(
        "deliveries: {n} ({ok} accepted with 200), concurrency {concurrency}, pollers {}",
        opts.pollers_per_queue
    );
    println!(
        "accept:  {:.2} s wall, {:.0} deliveries/s",
        accepted.as_secs_f64(),
        ok as f64 / accepted.as_secs_f64()
    );
    println!(
        "ingest:  {:.2} s wall to the last stored subscriber, {:.0} deliveries/s",
        ingested.as_secs_f64(),
        ok as f64 / ingested.as_secs_f64()
    );
    if let (Some(e), Some(o)) = (emu_cpu, own_cpu) {
        println!(
            "cpu:     emulator {e:.1} s, optcast (handlers + runner + load generator) {o:.1} s; emulator share of CPU {:.0}%",
            100.0 * e / (e + o)
        );
    }
    stack.stop().await;
    Ok(())
}

/// One signed delivery of `items` messages, then a STOP right after it.
async fn large(items: usize) -> anyhow::Result<()> {
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

fn message(sender: &str, mid: &str, at_ms: i64, text: &str) -> serde_json::Value {
    serde_json::json!({"sender":{"id":sender},"recipient":{"id":PAGE},"timestamp":at_ms,
        "message":{"mid":mid,"text":text}})
}

fn delivery(time_ms: i64, messaging: &[serde_json::Value]) -> String {
    serde_json::json!({"object":"page","entry":[{"id":PAGE,"time":time_ms,"messaging":messaging}]}).to_string()
}

async fn post(http: &reqwest::Client, url: &str, body: String) -> anyhow::Result<u16> {
    let sig = optcast_shared::signature::sign(SECRET.as_bytes(), body.as_bytes());
    let resp = http
        .post(url)
        .header("x-hub-signature-256", sig)
        .body(body)
        .timeout(Duration::from_secs(120))
        .send()
        .await?;
    Ok(resp.status().as_u16())
}

/// The lead's status, if the lead is stored.
async fn status(ddb: &aws_sdk_dynamodb::Client, table: &str, psid: &str) -> anyhow::Result<Option<String>> {
    let out = ddb
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(format!("PAGE#{PAGE}")))
        .key("sk", AttributeValue::S(format!("SUB#{psid}")))
        .consistent_read(true)
        .send()
        .await?;
    Ok(out
        .item()
        .map(|i| i.get("status").and_then(|s| s.as_s().ok()).cloned().unwrap_or_default()))
}

async fn count_subscribers(ddb: &aws_sdk_dynamodb::Client, table: &str) -> anyhow::Result<u64> {
    let mut total = 0;
    let mut start = None;
    loop {
        let out = ddb
            .query()
            .table_name(table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :sub)")
            .expression_attribute_values(":pk", AttributeValue::S(format!("PAGE#{PAGE}")))
            .expression_attribute_values(":sub", AttributeValue::S("SUB#".into()))
            .select(Select::Count)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await?;
        total += out.count() as u64;
        match out.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => return Ok(total),
        }
    }
}

async fn count_all(ddb: &aws_sdk_dynamodb::Client, table: &str) -> anyhow::Result<u64> {
    let mut total = 0;
    let mut start = None;
    loop {
        let out = ddb
            .scan()
            .table_name(table)
            .select(Select::Count)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await?;
        total += out.count() as u64;
        match out.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => return Ok(total),
        }
    }
}

/// Messages waiting plus in flight, if the queue answers.
async fn queue_depth(sqs: &aws_sdk_sqs::Client, url: &str) -> Option<u64> {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .ok()?;
    let attrs = out.attributes()?;
    let get = |k: &QueueAttributeName| attrs.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Some(
        get(&QueueAttributeName::ApproximateNumberOfMessages)
            + get(&QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    )
}

fn fmt_depth(depth: Option<u64>) -> String {
    depth.map_or_else(|| "?".into(), |d| d.to_string())
}

/// The moto server started with the endpoint's port (another emulator, such
/// as the test suite's, may be running too), the most recently started one
/// if several (one stopped just before may still be exiting); else any.
fn emulator_pid(endpoint: &str) -> Option<String> {
    let port = endpoint.trim_end_matches('/').rsplit(':').next()?.to_string();
    std::fs::read_dir("/proc")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let pid = e.file_name().to_string_lossy().to_string();
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let args: Vec<String> = String::from_utf8_lossy(&cmd).split('\0').map(str::to_string).collect();
            let moto = args.iter().any(|a| a.rsplit('/').next() == Some("moto_server"));
            let on_port = args
                .windows(2)
                .any(|w| (w[0] == "-p" || w[0] == "--port") && w[1] == port)
                || args.iter().any(|a| *a == format!("--port={port}"));
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let started: u64 = stat.rsplit_once(") ")?.1.split_whitespace().nth(19)?.parse().ok()?;
            (moto && on_port).then_some((started, pid))
        })
        .max()
        .map(|(_, pid)| pid)
        .or_else(cpu::emulator_pid)
}

/// What the functions logged, kept by a minimal tracing subscriber: ingest's
/// report of every job it finished, and every warning or error.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Seen>>);

#[derive(Clone, Default)]
struct Seen {
    /// When the large delivery was split, and how many items it deferred.
    split: Option<(Instant, u64)>,
    /// Jobs ingest finished other than the split (chunks and small deliveries).
    jobs: u64,
    applied: u64,
    duplicates: u64,
    recorded: u64,
    quarantined: u64,
    /// Jobs that ran past the work budget and queued the rest of themselves.
    requeued_jobs: u64,
    requeued_items: u64,
    failed_records: u64,
    warnings: u64,
    errors: u64,
    samples: Vec<String>,
}

impl Seen {
    /// Items done with, one way or another.
    fn settled(&self) -> u64 {
        self.applied + self.duplicates + self.recorded + self.quarantined
    }
}

impl Logs {
    fn snapshot(&self) -> Seen {
        self.0.lock().expect("logs").clone()
    }
    fn reset(&self) {
        *self.0.lock().expect("logs") = Seen::default();
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    numbers: BTreeMap<&'static str, u64>,
    others: Vec<String>,
}

impl tracing::field::Visit for Fields {
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.numbers.insert(field.name(), value);
    }
    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.numbers.insert(field.name(), value.max(0) as u64);
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        match field.name() {
            "message" => self.message = value.to_string(),
            name => self.others.push(format!("{name}={value}")),
        }
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            name => self.others.push(format!("{name}={value:?}")),
        }
    }
}

impl tracing::Subscriber for Logs {
    fn enabled(&self, meta: &tracing::Metadata<'_>) -> bool {
        meta.is_event()
            && (*meta.level() <= tracing::Level::WARN
                || (*meta.level() <= tracing::Level::INFO && meta.target().starts_with("ingest")))
    }
    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::INFO)
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut f = Fields::default();
        event.record(&mut f);
        let level = *event.metadata().level();
        let mut seen = self.0.lock().expect("logs");
        if f.message == "delivery ingested" {
            let n = |k: &str| f.numbers.get(k).copied().unwrap_or(0);
            let (items, deferred) = (n("items"), n("deferred"));
            if deferred == items && n("applied") == 0 && items > ingest::CHUNK_ITEMS as u64 {
                seen.split = Some((Instant::now(), deferred));
            } else {
                seen.jobs += 1;
                seen.applied += n("applied");
                seen.duplicates += n("duplicates");
                seen.recorded += n("recorded");
                seen.quarantined += n("quarantined");
                if deferred > 0 {
                    seen.requeued_jobs += 1;
                    seen.requeued_items += deferred;
                }
            }
        }
        if level <= tracing::Level::WARN {
            match level {
                tracing::Level::ERROR => seen.errors += 1,
                _ => seen.warnings += 1,
            }
            if f.message == "record failed" {
                seen.failed_records += 1;
            }
            if seen.samples.len() < 10 {
                let line = format!(
                    "{level} {}: {} {}",
                    event.metadata().target(),
                    f.message,
                    f.others.join(" ")
                );
                seen.samples.push(line);
            }
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}
