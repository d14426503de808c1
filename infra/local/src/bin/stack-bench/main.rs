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

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use aws_sdk_dynamodb::types::Select;
use optcast_local::cpu::CpuMeter;
use optcast_local::{start, StackOptions};
use tokio::sync::Semaphore;

mod large;
mod large_report;
mod logs;
mod probes;

use large::large;

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
