//! Metrics as the functions publish them: CloudWatch Embedded Metric Format
//! lines, one per SQS batch, recorded by the local stack (`make dev` prints
//! the same lines on stdout). A broadcast, its receipts, an unsubscribe and
//! a quarantined item run through the real pipeline; the lines must carry
//! exactly the counts the broadcast's own counters show. Also: the reasons
//! a broadcast skipped or failed leads, on `GET /v1/broadcasts/<id>`.

use optcast_local::fake_graph::{FakeError, Rule};
use optcast_shared::ids::BroadcastId;
use optcast_tests::*;
use serde_json::{json, Value};

const PAGE: &str = "1000000000000007";

/// Every EMF document the stack's `function` published.
fn documents(app: &TestApp, function: &str) -> Vec<Value> {
    app.stack
        .metrics
        .lines()
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).expect("each metric line is one JSON document"))
        .filter(|d| d["Function"] == function)
        .collect()
}

/// The sum of `name` over `function`'s documents. Each document that
/// carries a value must declare it (namespace, dimension, name, unit), or
/// CloudWatch would not turn it into a metric.
fn total(app: &TestApp, function: &str, name: &str) -> u64 {
    documents(app, function)
        .iter()
        .filter(|d| !d[name].is_null())
        .map(|d| {
            let directive = &d["_aws"]["CloudWatchMetrics"][0];
            assert_eq!(directive["Namespace"], "optcast", "{d}");
            assert_eq!(directive["Dimensions"], json!([["Function"]]), "{d}");
            assert!(d["_aws"]["Timestamp"].is_i64(), "{d}");
            let declared = directive["Metrics"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["Name"] == name && m["Unit"] == "Count");
            assert!(declared, "{name} is declared in {d}");
            d[name].as_u64().expect("a count")
        })
        .sum()
}

#[tokio::test]
async fn the_metric_lines_count_each_send_by_outcome_and_reason_and_each_receipt_unsubscribe_and_quarantined_item() {
    let app = spawn_app().await;
    app.register_page(PAGE).await;
    let (a, b, blocked, quiet) = (
        "2107000000000001",
        "2107000000000002",
        "2107000000000003",
        "2107000000000004",
    );
    app.seed_leads(PAGE, &[a.to_string(), b.to_string(), blocked.to_string()])
        .await;
    // Wrote three days ago: outside the 24-hour window, no marketing token.
    let three_days_ago = optcast_shared::http::now_ms() - 3 * optcast_shared::retention::DAY_MS;
    app.say_at(PAGE, quiet, "m_q_old", "hello", three_days_ago).await;
    app.stack.graph.script(Rule {
        recipient: Some(blocked.to_string()),
        error: FakeError::Blocked,
        times: 1,
    });
    let id = app
        .create_broadcast(json!({"page_id": PAGE, "message": {"text": "Spring sale 7"}}))
        .await;
    let done = app.wait_state(&id, "done").await;

    // The broadcast says why: skipped_policy 1 is outside_window, failed 1 is blocked.
    let counts = &done["counts"];
    assert_eq!(
        (
            counts["sent"].as_i64(),
            counts["skipped_policy"].as_i64(),
            counts["failed"].as_i64()
        ),
        (Some(2), Some(1), Some(1)),
        "{done}"
    );
    assert_eq!(counts["skipped_by_reason"], json!({"outside_window": 1}), "{done}");
    assert_eq!(counts["failed_by_reason"], json!({"blocked": 1}), "{done}");

    // The sender's lines: one document per batch, counts by outcome and reason.
    assert_eq!(total(&app, "sender", "Sent"), 2);
    assert_eq!(total(&app, "sender", "SkippedPolicy"), 1);
    assert_eq!(total(&app, "sender", "Skipped.outside_window"), 1);
    assert_eq!(total(&app, "sender", "SkippedUnsubscribed"), 0);
    assert_eq!(total(&app, "sender", "Failed"), 1);
    assert_eq!(total(&app, "sender", "Failed.blocked"), 1);

    // Receipts and an unsubscribe through the webhook and ingest: a delivery
    // watermark for a, a read for b (read implies delivered), then a taps
    // the broadcast's Unsubscribe control; and one item ingest cannot read.
    let sends = app.stack.graph.sends();
    let at = |psid: &str| sends.iter().find(|s| s.recipient["id"] == psid).unwrap().at_ms;
    let (at_a, at_b) = (at(a), at(b));
    let control = optcast_shared::consent::unsubscribe_payload(&BroadcastId::parse(&id).unwrap());
    app.post_items(
        "page",
        PAGE,
        vec![
            json!({"sender":{"id":a},"recipient":{"id":PAGE},"timestamp":at_a + 1_000,
                "delivery":{"mids":[],"watermark":at_a + 1_000}}),
            json!({"sender":{"id":b},"recipient":{"id":PAGE},"timestamp":at_b + 2_000,
                "read":{"watermark":at_b + 2_000}}),
            json!({"sender":{"id":"2107000000000099"},"recipient":{"id":PAGE},"timestamp":at_b,
                "brand_new_event":{"x":1}}),
        ],
    )
    .await;
    app.drain_ingest().await;
    app.post_items(
        "page",
        PAGE,
        vec![
            json!({"sender":{"id":a},"recipient":{"id":PAGE},"timestamp":optcast_shared::http::now_ms(),
            "message":{"mid":"m_m_tap","text":"Unsubscribe","quick_reply":{"payload":control}}}),
        ],
    )
    .await;
    eventually("the unsubscribe counted", || async {
        total(&app, "ingest", "Unsubscribed") >= 1
    })
    .await;
    app.drain_ingest().await;
    let outcomes = app.broadcast(&id).await["outcomes"].clone();
    assert_eq!(
        (
            outcomes["delivered"].as_i64(),
            outcomes["read"].as_i64(),
            outcomes["unsubscribed"].as_i64()
        ),
        (Some(2), Some(1), Some(1)),
        "{outcomes}"
    );
    assert_eq!(total(&app, "ingest", "Delivered"), 2);
    assert_eq!(total(&app, "ingest", "Read"), 1);
    assert_eq!(total(&app, "ingest", "Unsubscribed"), 1);
    assert_eq!(total(&app, "ingest", "QuarantinedItems"), 1);
    // One line per batch, not per item: the receipts' delivery (three items)
    // is one document.
    assert!(
        documents(&app, "ingest")
            .iter()
            .any(|d| d["Delivered"] == 2 && d["Read"] == 1 && d["QuarantinedItems"] == 1),
        "{:?}",
        documents(&app, "ingest")
    );

    // Ingest lag: one sample (ms since the webhook received the delivery)
    // per queue record that applied something, declared in milliseconds.
    let lags: Vec<i64> = documents(&app, "ingest")
        .iter()
        .filter(|d| !d["IngestLag"].is_null())
        .inspect(|d| {
            let declared = &d["_aws"]["CloudWatchMetrics"][0]["Metrics"];
            assert!(
                declared
                    .as_array()
                    .unwrap()
                    .contains(&json!({"Name": "IngestLag", "Unit": "Milliseconds"})),
                "{d}"
            );
        })
        .flat_map(|d| d["IngestLag"].as_array().unwrap().clone())
        .map(|v| v.as_i64().expect("whole ms"))
        .collect();
    // Seed delivery, the old message, two receipt deliveries and the tap:
    // at least 4 records applied something (drains may batch them).
    assert!(lags.len() >= 4 && lags.iter().all(|l| *l >= 0), "{lags:?}");

    // No PSID, text or token in any line.
    let lines = app.stack.metrics.lines().join("\n");
    for secret in [a, b, blocked, quiet, "Spring sale", "hello", PAGE_TOKEN] {
        assert!(!lines.contains(secret), "{secret} in the metric lines");
    }
    app.stack.stop().await;
}
