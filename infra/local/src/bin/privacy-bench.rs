//! Data-subject figures on the local stack: the retention sweep over N
//! expired messages (seeded with batch writes) and the erasure of one subject
//! with M messages. Prints wall time, items per second, the emulator's share
//! of the CPU, and the AWS requests each needed by service (counted on the
//! wire by a proxy in front of the emulator; KMS should be zero).
//! Usage: `privacy-bench [expired_messages] [subject_messages]` with the
//! emulator running.

use std::time::{Duration, Instant};

use anyhow::Context;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use optcast_local::cpu::CpuMeter;
use optcast_local::{counting_proxy, start, StackOptions};
use optcast_shared::ids::{PageId, Psid};
use optcast_shared::lead::Subscriber;
use optcast_shared::meta::Platform;
use optcast_shared::retention::DAY_MS;
use optcast_shared::store::{age_pk, subject_pk, subscriber_to_item, Item};

fn message(page: &PageId, psid: &Psid, i: usize, at_ms: i64) -> Item {
    let key = format!("m_bench_{i}");
    Item::from([
        ("pk".into(), AttributeValue::S(subject_pk(page, psid))),
        ("sk".into(), AttributeValue::S(format!("MSG#{at_ms:013}#{key}"))),
        ("age_pk".into(), AttributeValue::S(age_pk(page, &key))),
        ("at_ms".into(), AttributeValue::N(at_ms.to_string())),
        ("attachments".into(), AttributeValue::N("0".into())),
        ("kind".into(), AttributeValue::S("message".into())),
        ("body".into(), AttributeValue::B(vec![1u8; 96].into())),
    ])
}

async fn seed(ddb: &aws_sdk_dynamodb::Client, table: &str, items: Vec<Item>) -> anyhow::Result<()> {
    for chunk in items.chunks(25) {
        let writes = chunk
            .iter()
            .map(|i| {
                WriteRequest::builder()
                    .put_request(PutRequest::builder().set_item(Some(i.clone())).build().unwrap())
                    .build()
            })
            .collect();
        ddb.batch_write_item().request_items(table, writes).send().await?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let expired: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let subject_messages: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:4566".into());
    let aws = optcast_shared::config::aws().await;
    let (proxy_url, counts) = counting_proxy::start(endpoint.clone()).await?;
    let root = std::env::var("OPTCAST_ROOT").unwrap_or_else(|_| ".".into());
    let mut opts = StackOptions::new(format!("pb{}", std::process::id()), format!("{root}/template.yaml"));
    opts.addr = "127.0.0.1:0".parse()?;
    opts.fire_schedules = false;
    opts.metrics_to_stdout = false; // the figures are the output
    for (k, v) in [
        ("META_APP_SECRET", "bench"),
        ("META_VERIFY_TOKEN", "bench"),
        ("OPTCAST_ADMIN_TOKEN", "bench-admin"),
        ("SWEEP_MAX_DELETES_PER_RUN", "1000000"),
    ] {
        opts.overrides.insert(k.into(), v.into());
    }
    for f in ["sweeper", "api", "eraser"] {
        opts.function_aws
            .insert(f.into(), counting_proxy::routed_through(&aws, &proxy_url));
    }
    let stack = start(&opts, &aws).await.context("is the emulator running?")?;
    let ddb = aws_sdk_dynamodb::Client::new(&aws);
    let http = reqwest::Client::new();
    let messages_table = stack.provisioned.get("MessagesTable").unwrap().reference.clone();
    let page = PageId::parse("1000000000000001")?;
    let status = http
        .put(stack.url(&format!("/v1/pages/{page}")))
        .bearer_auth("bench-admin")
        .json(&serde_json::json!({"access_token": "t", "retention_days": 30}))
        .send()
        .await?
        .status();
    anyhow::ensure!(status.is_success(), "page registration: {status}");

    // (1) The sweep: `expired` messages 100 days old over 1,000 leads.
    let t = optcast_shared::http::now_ms();
    let seeded = Instant::now();
    let items: Vec<Item> = (0..expired)
        .map(|i| {
            let psid = Psid::parse(format!("2100000000{:06}", i % 1000)).unwrap();
            message(&page, &psid, i, t - 100 * DAY_MS + i as i64)
        })
        .collect();
    seed(&ddb, &messages_table, items).await?;
    println!(
        "seeded {expired} expired messages in {:.1} s",
        seeded.elapsed().as_secs_f64()
    );
    counts.reset();
    let cpu = CpuMeter::start();
    let started = Instant::now();
    let mut runs = 0;
    let mut deleted = 0u64;
    loop {
        runs += 1;
        let report: serde_json::Value = http
            .post(stack.url("/2015-03-31/functions/sweeper/invocations"))
            .json(
                &serde_json::json!({"version":"0","id":"b","detail-type":"Scheduled Event","source":"aws.events",
                "account":"1","time": time_of(t),"region":"us-west-2","resources":[],"detail":{}}),
            )
            .timeout(Duration::from_secs(3600))
            .send()
            .await?
            .json()
            .await?;
        deleted += report["deleted"]["messages"].as_u64().unwrap_or(0);
        anyhow::ensure!(
            report["errors"].as_array().is_some_and(|e| e.is_empty()),
            "sweep errors: {report}"
        );
        if report["complete"] == true {
            break;
        }
    }
    let took = started.elapsed().as_secs_f64();
    println!(
        "sweep: {deleted} messages deleted in {took:.1} s over {runs} run(s): {:.0} items/s end to end",
        deleted as f64 / took
    );
    println!("  {}", cpu.report());
    println!("  AWS requests by service: {:?}", counts.by_service());
    println!("  AWS requests: {:?}", counts.snapshot());

    // (2) Erasure of one subject with `subject_messages` messages.
    let psid = Psid::parse("2000000000000001")?;
    let lead = Subscriber {
        consent_changed_at_ms: t,
        last_inbound_at_ms: Some(t),
        ..Subscriber::new(page.clone(), psid.clone(), Platform::Messenger, Vec::new(), t)
    };
    let subscribers = stack.provisioned.get("SubscribersTable").unwrap().reference.clone();
    seed(&ddb, &subscribers, vec![subscriber_to_item(&lead, 1)]).await?;
    let items: Vec<Item> = (0..subject_messages)
        .map(|i| message(&page, &psid, i, t - DAY_MS + i as i64))
        .collect();
    seed(&ddb, &messages_table, items).await?;
    counts.reset();
    let cpu = CpuMeter::start();
    let started = Instant::now();
    let accepted: serde_json::Value = http
        .post(stack.url("/v1/erasure"))
        .bearer_auth("bench-admin")
        .json(&serde_json::json!({"page_id": page, "psid": psid}))
        .send()
        .await?
        .json()
        .await?;
    let shredded = started.elapsed().as_secs_f64();
    let id = accepted["request_id"].as_str().context("request id")?.to_string();
    let report = loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let r: serde_json::Value = http
            .get(stack.url(&format!("/v1/erasure/{id}")))
            .bearer_auth("bench-admin")
            .send()
            .await?
            .json()
            .await?;
        if r["status"] != "pending" {
            break r;
        }
    };
    let took = started.elapsed().as_secs_f64();
    println!(
        "erasure: {} in {took:.1} s (key shredded and 202 after {:.3} s); report {}",
        report["status"], shredded, report["report"]
    );
    println!("  {}", cpu.report());
    println!("  AWS requests by service: {:?}", counts.by_service());
    println!("  AWS requests: {:?}", counts.snapshot());
    stack.stop().await;
    Ok(())
}

fn time_of(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}
