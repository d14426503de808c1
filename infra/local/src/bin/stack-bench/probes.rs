//! Speaking to the stack and reading the emulator: signed deliveries, a
//! lead's status, item counts, queue depths, and the emulator's process.

use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, Select};
use aws_sdk_sqs::types::QueueAttributeName;

use optcast_local::cpu;

use crate::{PAGE, SECRET};

pub(crate) fn message(sender: &str, mid: &str, at_ms: i64, text: &str) -> serde_json::Value {
    serde_json::json!({"sender":{"id":sender},"recipient":{"id":PAGE},"timestamp":at_ms,
        "message":{"mid":mid,"text":text}})
}

pub(crate) fn delivery(time_ms: i64, messaging: &[serde_json::Value]) -> String {
    serde_json::json!({"object":"page","entry":[{"id":PAGE,"time":time_ms,"messaging":messaging}]}).to_string()
}

pub(crate) async fn post(http: &reqwest::Client, url: &str, body: String) -> anyhow::Result<u16> {
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
pub(crate) async fn status(ddb: &aws_sdk_dynamodb::Client, table: &str, psid: &str) -> anyhow::Result<Option<String>> {
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

pub(crate) async fn count_subscribers(ddb: &aws_sdk_dynamodb::Client, table: &str) -> anyhow::Result<u64> {
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

pub(crate) async fn count_all(ddb: &aws_sdk_dynamodb::Client, table: &str) -> anyhow::Result<u64> {
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
pub(crate) async fn queue_depth(sqs: &aws_sdk_sqs::Client, url: &str) -> Option<u64> {
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

pub(crate) fn fmt_depth(depth: Option<u64>) -> String {
    depth.map_or_else(|| "?".into(), |d| d.to_string())
}

/// The moto server started with the endpoint's port, the most recently
/// started one if several; else any ([`cpu::emulator_pid_on`]).
pub(crate) fn emulator_pid(endpoint: &str) -> Option<String> {
    let port = endpoint.trim_end_matches('/').rsplit(':').next()?;
    cpu::emulator_pid_on(port).or_else(cpu::emulator_pid)
}
