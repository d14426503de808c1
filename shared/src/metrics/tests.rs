//! The EMF documents: their JSON shape, the vocabulary, the sink.

use super::*;
use serde_json::Value as Json;

fn parsed(doc: &Document) -> Json {
    serde_json::from_str(&doc.to_line(7)).unwrap()
}

#[test]
fn a_document_is_one_embedded_metric_format_line_with_every_metric_declared() {
    let mut doc = Document::new(Function::Sender);
    doc.add(Metric::Sent, 3);
    doc.add(Metric::Sent, 2);
    doc.add(Metric::Failed, 0);
    doc.add(Metric::SkippedBecause("outside_window"), 1);
    let line = doc.to_line(7);
    assert!(!line.contains('\n'));
    let v: Json = serde_json::from_str(&line).unwrap();
    assert_eq!(v["_aws"]["Timestamp"], 7);
    let directive = &v["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], "optcast");
    assert_eq!(directive["Dimensions"], serde_json::json!([["Function"]]));
    assert_eq!(v["Function"], "sender");
    assert_eq!((v["Sent"].as_u64(), v["Failed"].as_u64()), (Some(5), Some(0)));
    assert_eq!(v["Skipped.outside_window"], 1);
    let declared: Vec<(&str, &str)> = directive["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["Name"].as_str().unwrap(), m["Unit"].as_str().unwrap()))
        .collect();
    assert_eq!(
        declared,
        [
            ("Sent", "Count"),
            ("Failed", "Count"),
            ("Skipped.outside_window", "Count")
        ]
    );
}

#[test]
fn a_send_job_counts_under_its_outcome_and_a_skip_or_failure_under_its_reason_too() {
    let mut doc = Document::new(Function::Sender);
    doc.count_delivery(DeliveryState::Sent, None);
    doc.count_delivery(DeliveryState::SkippedPolicy, Some("outside_window"));
    doc.count_delivery(DeliveryState::SkippedPolicy, Some("outside_window"));
    doc.count_delivery(DeliveryState::SkippedUnsubscribed, Some("unsubscribed"));
    doc.count_delivery(DeliveryState::Failed, Some("blocked"));
    doc.count_delivery(DeliveryState::Claimed, None);
    let v = parsed(&doc);
    assert_eq!(v["Sent"], 1);
    assert_eq!(
        (v["SkippedPolicy"].as_u64(), v["Skipped.outside_window"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(
        (v["SkippedUnsubscribed"].as_u64(), v["Skipped.unsubscribed"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!((v["Failed"].as_u64(), v["Failed.blocked"].as_u64()), (Some(1), Some(1)));
    assert_eq!(
        v["_aws"]["CloudWatchMetrics"][0]["Metrics"].as_array().unwrap().len(),
        7
    );
}

#[test]
fn ingest_lag_is_an_array_of_millisecond_samples_capped_at_the_emf_limit() {
    let mut doc = Document::new(Function::Ingest);
    for i in 0..150 {
        doc.sample(Metric::IngestLag, i);
    }
    doc.add(Metric::QuarantinedItems, 2);
    let v = parsed(&doc);
    assert_eq!(v["Function"], "ingest");
    assert_eq!(v["IngestLag"].as_array().unwrap().len(), MAX_SAMPLES);
    assert_eq!(v["IngestLag"][99], 99);
    let metrics = &v["_aws"]["CloudWatchMetrics"][0]["Metrics"];
    assert!(metrics
        .as_array()
        .unwrap()
        .contains(&serde_json::json!({"Name": "IngestLag", "Unit": "Milliseconds"})));
    assert_eq!(v["QuarantinedItems"], 2);
}

#[test]
fn metric_names_come_from_the_vocabulary_and_reasons_are_part_of_the_name() {
    assert_eq!(Metric::SkippedUnsubscribed.name(), "SkippedUnsubscribed");
    assert_eq!(Metric::FailedBecause("blocked").name(), "Failed.blocked");
    assert_eq!(Metric::QuarantinedItems.name(), "QuarantinedItems");
    assert_eq!(Metric::IngestLag.unit(), Unit::Milliseconds);
}

#[test]
fn a_recording_sink_keeps_each_published_document_and_skips_empty_ones() {
    let recorder = Recorder::default();
    let sink = Sink::recording(recorder.clone(), false);
    sink.publish(&Document::new(Function::Ingest));
    let mut doc = Document::new(Function::Ingest);
    doc.add(Metric::Read, 1);
    sink.publish(&doc);
    let lines = recorder.lines();
    assert_eq!(lines.len(), 1);
    assert_eq!(serde_json::from_str::<Json>(&lines[0]).unwrap()["Read"], 1);
}
