//! Broadcast figures on the local stack: N subscribed leads (seeded with
//! batch writes), one broadcast planned and sent into the fake Graph API.
//! Prints wall time, the emulator's share of the CPU, and AWS requests per
//! message by service, counted on the wire by a proxy in front of the
//! emulator (planner and sender separately; SQS polling, which Lambda's event
//! source mapping does in AWS, is not counted).
//! Usage: `broadcast-bench [leads] [plan_page_size] [plan-only | pages=K] [receipts]`
//! with the emulator running. `plan-only` holds the sender and has the bench
//! purge the send queue as the planner fills it (moto's SQS slows with queue
//! depth, so a 10,000-job backlog would measure the emulator, not the
//! planner); it reports planning only and then cancels the broadcast.
//! `pages=K` spreads the leads over K pages and sends one broadcast per page,
//! one after another, so every lead is sent to while moto's send queue never
//! holds more than leads/K jobs.
//! `receipts` then posts, for every message sent, Meta's delivery and read
//! watermarks as signed webhooks (one delivery per lead holding both
//! events) through `/webhook`, waits until every send is counted delivered
//! and read, and reports the webhook's and ingest's requests per delivered
//! message as well.

use std::time::{Duration, Instant};

use anyhow::Context;
use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use optcast_local::cpu::CpuMeter;
use optcast_local::{counting_proxy, start, StackOptions};
use optcast_shared::ids::{PageId, Psid};
use optcast_shared::lead::Subscriber;
use optcast_shared::meta::Platform;
use optcast_shared::store::subscriber_to_item;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let page_size: u32 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(100);
    let plan_only = args.get(3).is_some_and(|a| a == "plan-only");
    let pages: usize = args
        .get(3)
        .and_then(|a| a.strip_prefix("pages="))
        .and_then(|k| k.parse().ok())
        .unwrap_or(1)
        .clamp(1, n.max(1));
    anyhow::ensure!(!plan_only || pages == 1, "plan-only is for one page");
    let receipts = args.iter().any(|a| a == "receipts");
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:4566".into());
    let aws = optcast_shared::config::aws().await;
    let (plan_url, plan_counts) = counting_proxy::start(endpoint.clone()).await?;
    let (send_url, send_counts) = counting_proxy::start(endpoint.clone()).await?;
    let (ingest_url, ingest_counts) = counting_proxy::start(endpoint.clone()).await?;
    let root = std::env::var("OPTCAST_ROOT").unwrap_or_else(|_| ".".into());
    let mut opts = StackOptions::new(format!("bb{}", std::process::id()), format!("{root}/template.yaml"));
    opts.addr = "127.0.0.1:0".parse()?;
    opts.fire_schedules = false;
    opts.pollers_per_queue = 2;
    opts.metrics_to_stdout = false; // the figures are the output
    if plan_only {
        opts.held_functions = vec!["sender".into()];
    }
    for (k, v) in [
        ("META_APP_SECRET", "bench"),
        ("META_VERIFY_TOKEN", "bench"),
        ("OPTCAST_ADMIN_TOKEN", "bench-admin"),
        ("SEND_RATE_PER_SECOND", "100000"),
        ("PLAN_PAGE_SIZE", &page_size.to_string()),
    ] {
        opts.overrides.insert(k.into(), v.into());
    }
    opts.function_aws
        .insert("planner".into(), counting_proxy::routed_through(&aws, &plan_url));
    opts.function_aws
        .insert("sender".into(), counting_proxy::routed_through(&aws, &send_url));
    for f in ["webhook", "ingest"] {
        opts.function_aws
            .insert(f.into(), counting_proxy::routed_through(&aws, &ingest_url));
    }
    let stack = start(&opts, &aws).await.context("is the emulator running?")?;
    let http = reqwest::Client::new();
    let page_ids: Vec<String> = match pages {
        1 => vec!["1000000000000001".to_string()],
        k => (0..k).map(|p| format!("10000000000{:05}", p + 1)).collect(),
    };
    for page in &page_ids {
        let put = http
            .put(stack.url(&format!("/v1/pages/{page}")))
            .bearer_auth("bench-admin")
            .json(&serde_json::json!({"access_token": "bench-token"}))
            .send()
            .await?;
        anyhow::ensure!(put.status() == 200, "page registration failed");
    }

    // Seed N subscribed leads, inside the 24-hour window, with batch writes.
    let ddb = aws_sdk_dynamodb::Client::new(&aws);
    let table = stack.provisioned.get("SubscribersTable")?.reference.clone();
    let seeded = Instant::now();
    let now = optcast_shared::http::now_ms();
    let subs: Vec<Subscriber> = (0..n)
        .map(|i| Subscriber {
            consent_changed_at_ms: now - 7_200_000,
            last_inbound_at_ms: Some(now - 3_600_000),
            version: 1,
            ..Subscriber::new(
                PageId::parse(&page_ids[i % pages]).unwrap(),
                Psid::parse(format!("{}", 7_000_000_000u64 + i as u64)).unwrap(),
                Platform::Messenger,
                vec![0; 184],
                now - 7_200_000,
            )
        })
        .collect();
    if receipts {
        // Leads as ingest makes them (with their subject keys), so that
        // ingest applies their receipts: each writes once, through /webhook.
        for chunk in subs.chunks(50) {
            let items: Vec<serde_json::Value> = chunk
                .iter()
                .map(|s| {
                    serde_json::json!({"sender":{"id":s.psid.as_str()},"recipient":{"id":s.page_id.as_str()},
                        "timestamp":now - 3_600_000,"message":{"mid":format!("m_seed_{}", s.psid),"text":"hello"}})
                })
                .collect();
            let body = serde_json::json!({"object":"page","entry":[{"id":chunk[0].page_id.as_str(),"time":now,"messaging":items}]})
                .to_string();
            anyhow::ensure!(
                chunk.iter().all(|s| s.page_id == chunk[0].page_id),
                "receipts is for one page"
            );
            let resp = http
                .post(stack.url("/webhook"))
                .header(
                    "x-hub-signature-256",
                    optcast_shared::signature::sign(b"bench", body.as_bytes()),
                )
                .body(body)
                .send()
                .await?;
            anyhow::ensure!(resp.status() == 200, "webhook answered {}", resp.status());
        }
        loop {
            let mut count = 0;
            let mut start = None;
            loop {
                let out = ddb
                    .scan()
                    .table_name(&table)
                    .select(aws_sdk_dynamodb::types::Select::Count)
                    .set_exclusive_start_key(start)
                    .send()
                    .await?;
                count += out.count() as usize;
                match out.last_evaluated_key() {
                    Some(k) if !k.is_empty() => start = Some(k.clone()),
                    _ => break,
                }
            }
            if count >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    for chunk in subs.chunks(25).filter(|_| !receipts) {
        let writes = chunk
            .iter()
            .map(|s| {
                WriteRequest::builder()
                    .put_request(
                        PutRequest::builder()
                            .set_item(Some(subscriber_to_item(s, 1)))
                            .build()
                            .unwrap(),
                    )
                    .build()
            })
            .collect();
        ddb.batch_write_item().request_items(&table, writes).send().await?;
    }
    println!("seeded {n} leads in {:.1} s", seeded.elapsed().as_secs_f64());

    let drained = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    if plan_only {
        let sqs = aws_sdk_sqs::Client::new(&aws);
        let url = stack.provisioned.get("SendQueue")?.reference.clone();
        let drained = drained.clone();
        tokio::spawn(async move {
            // Purging is one cheap call in moto; receiving and deleting the
            // jobs one batch at a time could not keep up with the planner.
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let depth = sqs
                    .get_queue_attributes()
                    .queue_url(&url)
                    .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
                    .send()
                    .await
                    .ok()
                    .and_then(|o| {
                        o.attributes()?
                            .get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)?
                            .parse::<u64>()
                            .ok()
                    })
                    .unwrap_or(0);
                if depth > 0 && sqs.purge_queue().queue_url(&url).send().await.is_ok() {
                    drained.fetch_add(depth, std::sync::atomic::Ordering::Relaxed);
                }
            }
        });
    }
    let cpu = CpuMeter::start();
    plan_counts.reset();
    send_counts.reset();
    let t0 = Instant::now();
    let mut planning = Duration::ZERO;
    let mut states = Vec::new();
    for (p, page) in page_ids.iter().enumerate() {
        let audience = (n / pages + usize::from(p < n % pages)) as u64;
        let started = Instant::now();
        let created: serde_json::Value = http
            .post(stack.url("/v1/broadcasts"))
            .bearer_auth("bench-admin")
            .json(&serde_json::json!({"page_id": page, "message": {"text": "Benchmark broadcast"}}))
            .send()
            .await?
            .json()
            .await?;
        let id = created["id"].as_str().context("no id")?.to_string();
        let mut planned = false;
        let state = loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let b: serde_json::Value = http
                .get(stack.url(&format!("/v1/broadcasts/{id}")))
                .bearer_auth("bench-admin")
                .send()
                .await?
                .json()
                .await?;
            if !planned && b["counts"]["queued"].as_u64() == Some(audience) {
                planned = true;
                planning += started.elapsed();
                if plan_only {
                    break b;
                }
            }
            if b["state"] == "done" || b["state"] == "paused" {
                break b;
            }
        };
        if pages > 1 {
            println!(
                "  {page}: {} after {:.1} s, counts {}",
                state["state"],
                started.elapsed().as_secs_f64(),
                state["counts"]
            );
        }
        states.push((id, state));
    }
    let total = t0.elapsed();
    if plan_only {
        let id = &states[0].0;
        let cancel = http
            .post(stack.url(&format!("/v1/broadcasts/{id}/cancel")))
            .bearer_auth("bench-admin")
            .send()
            .await?;
        anyhow::ensure!(cancel.status() == 200, "cancel failed");
        println!(
            "plan-only: {n} leads planned in {:.1} s ({:.0} jobs/s; the bench purged about {} jobs meanwhile)",
            total.as_secs_f64(),
            n as f64 / total.as_secs_f64(),
            drained.load(std::sync::atomic::Ordering::Relaxed)
        );
        println!("{}", cpu.report());
        println!("planner AWS requests: {:?}", plan_counts.snapshot());
        for (svc, v) in plan_counts.by_service() {
            println!("  planner {svc}: {v} ({:.4} per lead)", v as f64 / n as f64);
        }
        stack.stop().await;
        return Ok(());
    }
    let sent: u64 = states
        .iter()
        .map(|(_, st)| st["counts"]["sent"].as_u64().unwrap_or(0))
        .sum();
    let all_done = states.iter().all(|(_, st)| st["state"] == "done");
    println!(
        "{} broadcast(s) to {n} leads: all done {all_done}, {sent} sent",
        states.len()
    );
    println!("fake Graph API received {} sends", stack.graph.sends().len());
    println!(
        "wall: planning {:.1} s (summed over broadcasts), all sent in {:.1} s ({:.1} sends/s end to end)",
        planning.as_secs_f64(),
        total.as_secs_f64(),
        sent as f64 / total.as_secs_f64()
    );
    println!("{}", cpu.report());
    let per = |v: u64| v as f64 / n as f64;
    println!("planner AWS requests: {:?}", plan_counts.snapshot());
    for (svc, v) in plan_counts.by_service() {
        println!("  planner {svc}: {v} ({:.3} per lead)", per(v));
    }
    println!("sender AWS requests: {:?}", send_counts.snapshot());
    for (svc, v) in send_counts.by_service() {
        println!("  sender {svc}: {v} ({:.3} per message)", per(v));
    }
    let mut total_by: std::collections::BTreeMap<String, u64> = plan_counts.by_service();
    for (k, v) in send_counts.by_service() {
        *total_by.entry(k).or_insert(0) += v;
    }
    for (svc, v) in total_by {
        println!(
            "  total {svc}: {:.3} per delivered message",
            v as f64 / sent.max(1) as f64
        );
    }
    if receipts {
        post_receipts(&stack, &http, &states, &ingest_counts, sent).await?;
    }
    stack.stop().await;
    Ok(())
}

/// Meta's delivery and read watermarks for every message sent, one signed
/// delivery per lead (both events), then the requests the webhook and
/// ingest made until every send counted delivered and read.
async fn post_receipts(
    stack: &optcast_local::RunningStack,
    http: &reqwest::Client,
    states: &[(String, serde_json::Value)],
    counts: &counting_proxy::Counts,
    sent: u64,
) -> anyhow::Result<()> {
    counts.reset();
    let started = Instant::now();
    let sends = stack.graph.sends();
    for send in &sends {
        let (page, psid) = (&send.page_id, send.recipient["id"].as_str().context("recipient")?);
        let w = send.at_ms + 1_000;
        let body = serde_json::json!({"object":"page","entry":[{"id":page,"time":w,"messaging":[
            {"sender":{"id":psid},"recipient":{"id":page},"timestamp":w,"delivery":{"mids":[send.message_id],"watermark":w}},
            {"sender":{"id":psid},"recipient":{"id":page},"timestamp":w + 1,"read":{"watermark":w + 1}}]}]})
        .to_string();
        let resp = http
            .post(stack.url("/webhook"))
            .header(
                "x-hub-signature-256",
                optcast_shared::signature::sign(b"bench", body.as_bytes()),
            )
            .body(body)
            .send()
            .await?;
        anyhow::ensure!(resp.status() == 200, "webhook answered {}", resp.status());
    }
    loop {
        let mut delivered = 0;
        let mut read = 0;
        for (id, _) in states {
            let b: serde_json::Value = http
                .get(stack.url(&format!("/v1/broadcasts/{id}")))
                .bearer_auth("bench-admin")
                .send()
                .await?
                .json()
                .await?;
            delivered += b["outcomes"]["delivered"].as_u64().unwrap_or(0);
            read += b["outcomes"]["read"].as_u64().unwrap_or(0);
        }
        if delivered >= sent && read >= sent {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(900),
            "receipts not attributed: {delivered}/{read} of {sent}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!(
        "receipts: {} deliveries (delivery + read each) posted and attributed in {:.1} s",
        sends.len(),
        started.elapsed().as_secs_f64()
    );
    println!("webhook + ingest AWS requests: {:?}", counts.snapshot());
    for (svc, v) in counts.by_service() {
        println!(
            "  receipts {svc}: {:.3} per delivered message",
            v as f64 / sent.max(1) as f64
        );
    }
    Ok(())
}
