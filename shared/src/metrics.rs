//! CloudWatch metrics as Embedded Metric Format lines on stdout: Lambda ships
//! stdout to CloudWatch Logs, which turns each line into a metric datapoint
//! (no PutMetricData call, no extra permission). Alarms in `template.yaml`
//! watch them. Format: docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/
//! CloudWatch_Embedded_Metric_Format_Specification.html

/// The namespace every optcast metric is published under.
pub const NAMESPACE: &str = "optcast";

/// The EMF line for `value` of the count metric `name`, published by
/// `function` (its one dimension), at `now_ms`.
pub fn count_line(function: &str, name: &str, value: u64, now_ms: i64) -> String {
    serde_json::json!({
        "_aws": {
            "Timestamp": now_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Function"]],
                "Metrics": [{"Name": name, "Unit": "Count"}],
            }],
        },
        "Function": function,
        name: value,
    })
    .to_string()
}

/// Publishes a count (prints its EMF line).
pub fn count(function: &str, name: &str, value: u64) {
    println!("{}", count_line(function, name, value, crate::http::now_ms()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_is_an_embedded_metric_format_line() {
        let line: serde_json::Value = serde_json::from_str(&count_line("ingest", "QuarantinedItems", 3, 7)).unwrap();
        assert_eq!(line["QuarantinedItems"], 3);
        assert_eq!(line["Function"], "ingest");
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], NAMESPACE);
        assert_eq!(directive["Metrics"][0]["Name"], "QuarantinedItems");
        assert_eq!(directive["Dimensions"][0][0], "Function");
        assert_eq!(line["_aws"]["Timestamp"], 7);
    }
}
