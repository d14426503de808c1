//! The monitoring the template declares (dashboard, alarms) held to the
//! metric vocabulary the functions publish (`optcast_shared::metrics`).

use serde_json::Value;

use super::test_support::project_template;
use super::Template;

/// The dashboard's body with `${...}` substituted by placeholders, as JSON.
fn dashboard_widgets(t: &Template) -> Vec<Value> {
    let body = t.resources["Dashboard"].properties["DashboardBody"]["Fn::Sub"]
        .as_str()
        .expect("DashboardBody is a !Sub string")
        .to_string();
    let substituted = fill_subs(&body);
    let v: Value = serde_json::from_str(&substituted).expect("the dashboard body is JSON");
    v["widgets"].as_array().unwrap().clone()
}

/// Replaces each `${...}` with `x` (the values CloudFormation fills in).
fn fill_subs(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        out.push('x');
        rest = &rest[start + rest[start..].find('}').unwrap() + 1..];
    }
    out.push_str(rest);
    out
}

#[test]
fn the_dashboard_shows_every_metric_the_functions_publish_and_no_other() {
    use optcast_shared::metrics::{Metric, NAMESPACE};
    let t = project_template();
    let mut on_dashboard = std::collections::BTreeSet::new();
    for w in dashboard_widgets(&t) {
        for m in w["properties"]["metrics"].as_array().into_iter().flatten() {
            if m[0] == NAMESPACE {
                assert_eq!(m[2], "Function", "{m}");
                on_dashboard.insert((m[1].as_str().unwrap().to_string(), m[3].as_str().unwrap().to_string()));
            }
        }
    }
    let vocabulary: std::collections::BTreeSet<_> = Metric::all()
        .into_iter()
        .map(|m| (m.name(), m.function().name().to_string()))
        .collect();
    assert_eq!(on_dashboard, vocabulary);
}

#[test]
fn alarms_watch_ingest_lag_send_failures_function_errors_and_every_dead_letter_queue() {
    use optcast_shared::metrics::{Metric, NAMESPACE};
    let t = project_template();
    let names: std::collections::BTreeSet<String> = Metric::all().into_iter().map(|m| m.name()).collect();
    let mut watched_dlqs = std::collections::BTreeSet::new();
    for (name, alarm) in t.of_type("AWS::CloudWatch::Alarm") {
        let p = &alarm.properties;
        // Every alarm notifies the stack's topic (and the optional one).
        assert!(p["AlarmActions"].to_string().contains("AlarmTopic"), "{name}");
        let single = std::iter::once(p.clone());
        let stats = p["Metrics"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| m["MetricStat"]["Metric"].clone());
        for metric in single.chain(stats) {
            if metric["Namespace"] == NAMESPACE {
                let metric_name = metric["MetricName"].as_str().unwrap();
                assert!(names.contains(metric_name), "{name} watches unknown {metric_name}");
            }
            if metric["MetricName"] == "ApproximateNumberOfMessagesVisible" {
                watched_dlqs.insert(
                    metric["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
                        .as_str()
                        .unwrap()
                        .to_string(),
                );
            }
        }
    }
    let lag = &t.resources["IngestLagAlarm"].properties;
    assert_eq!(
        (lag["MetricName"].as_str(), lag["ExtendedStatistic"].as_str()),
        (Some("IngestLag"), Some("p99"))
    );
    assert!(t.resources["SendFailuresAlarm"].properties["Metrics"]
        .to_string()
        .contains("\"Failed\""));
    assert_eq!(
        t.resources["FunctionErrorsAlarm"].properties["Metrics"]
            .as_array()
            .unwrap()
            .len(),
        8,
        "seven functions and their sum"
    );
    let dlqs: std::collections::BTreeSet<String> = t
        .of_type("AWS::SQS::Queue")
        .map(|(n, _)| n.clone())
        .filter(|n| n.ends_with("DeadLetterQueue"))
        .collect();
    assert_eq!(watched_dlqs, dlqs);
}
