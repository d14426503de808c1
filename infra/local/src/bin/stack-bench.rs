//! End-to-end figures on the local stack: signed deliveries per second
//! accepted on `POST /webhook`, and deliveries per second fully ingested,
//! with the emulator's share of the CPU stated. Needs the emulator running
//! (`infra/emulator.sh`). Usage: `stack-bench [deliveries] [concurrency]`.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use aws_sdk_dynamodb::types::Select;
use optcast_local::cpu::CpuMeter;
use optcast_local::{start, StackOptions};
use tokio::sync::Semaphore;

const SECRET: &str = "bench-secret";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let concurrency: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(16);
    let root = std::env::var("OPTCAST_ROOT").unwrap_or_else(|_| ".".into());
    let prefix = format!("bench{}", std::process::id());
    let mut opts = StackOptions::new(&prefix, format!("{root}/template.yaml"));
    opts.addr = "127.0.0.1:0".parse()?;
    opts.overrides.insert("META_APP_SECRET".into(), SECRET.into());
    opts.overrides.insert("META_VERIFY_TOKEN".into(), "bench".into());
    opts.pollers_per_queue = std::env::var("POLLERS").ok().and_then(|v| v.parse().ok()).unwrap_or(2);
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
        let body = serde_json::json!({"object":"page","entry":[{"id":"PAGE1","time":1,"messaging":[{
            "sender":{"id":format!("B{i}")},"recipient":{"id":"PAGE1"},"timestamp":1_718_000_000_000i64 + i as i64,
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
