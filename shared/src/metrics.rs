//! CloudWatch metrics as Embedded Metric Format (EMF) lines on stdout:
//! Lambda ships stdout to CloudWatch Logs, which turns each EMF line into
//! metric datapoints (no PutMetricData call, no extra permission, no latency
//! on the hot path). The dashboard and alarms in `template.yaml` read them.
//! Format: docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/
//! CloudWatch_Embedded_Metric_Format_Specification.html
//!
//! Why our own few lines and not `metrics_cloudwatch_embedded` (with the
//! `metrics` facade): that crate installs one process-wide recorder and
//! flushes whatever it holds. The local stack runs every function in one
//! process, several invocations side by side, so a global recorder would mix
//! their counts and could not tell which invocation (or which test's stack)
//! a datapoint belongs to. Here each function owns its [`Sink`], and each
//! invocation builds one [`Document`] and publishes it once: one line per
//! SQS batch, never one per item.
//!
//! The vocabulary is closed and low-cardinality: one namespace
//! ([`NAMESPACE`]), one dimension (`Function`, [`Function`]), and the metric
//! names of [`Metric`]. EMF takes one value per dimension per document, so a
//! batch with sends of several outcomes cannot name them in an `Outcome`
//! dimension and stay one document; the outcome and the reason code are
//! therefore part of the metric name (`Sent`, `Skipped.outside_window`),
//! from fixed codes only (`&'static str` constants, never input). No page
//! id, PSID, text or token is ever a dimension or a value.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use crate::broadcast::DeliveryState;

/// The namespace every optcast metric is published under.
pub const NAMESPACE: &str = "optcast";
/// The one dimension of every metric: the publishing function.
pub const DIMENSION: &str = "Function";
/// EMF accepts at most this many values in one metric's array.
pub const MAX_SAMPLES: usize = 100;

/// The functions that publish metrics (the values of [`DIMENSION`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Sender,
    Ingest,
}

impl Function {
    /// The dimension value (the function's folder under `functions/`).
    pub fn name(self) -> &'static str {
        match self {
            Function::Sender => "sender",
            Function::Ingest => "ingest",
        }
    }
}

/// Unit of a metric as CloudWatch names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// Every metric optcast publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    /// Sender: send jobs by outcome. Sent: Meta accepted the message.
    Sent,
    /// Sender: skipped, the lead no longer subscribed (unsubscribed,
    /// unreachable, erased).
    SkippedUnsubscribed,
    /// Sender: skipped by Meta's policy (window, marketing rules, a hold,
    /// Meta's policy refusal).
    SkippedPolicy,
    /// Sender: failed for good (blocked, Meta refused the request, a stale claim).
    Failed,
    /// Sender: jobs parked because their broadcast is paused.
    Parked,
    /// Sender: jobs deferred to a later retry (rate limits, a claim in
    /// flight); they come back, so they are not outcomes.
    Deferred,
    /// Sender: jobs that failed on our side (AWS, crypto, a malformed job)
    /// and went back to the queue (after `maxReceiveCount`, to the DLQ).
    JobErrors,
    /// Sender: skipped sends by reason code
    /// ([`crate::broadcast::PolicySkip::code`], [`crate::outcomes::reason`]).
    SkippedBecause(&'static str),
    /// Sender: failed sends by reason code ([`crate::outcomes::reason`]).
    FailedBecause(&'static str),
    /// Ingest: sends newly covered by a delivery (or read) watermark.
    Delivered,
    /// Ingest: sends newly covered by a read watermark.
    Read,
    /// Ingest: unsubscribes attributed to a broadcast (its Unsubscribe
    /// control, or a STOP within 48 hours of its send).
    Unsubscribed,
    /// Ingest: ms from the webhook's receipt of a delivery (the job's
    /// `received_at_ms`) to the moment ingest finished its queue record.
    IngestLag,
    /// Ingest: signed items (or whole bodies) put in the quarantine.
    QuarantinedItems,
}

impl Metric {
    /// The CloudWatch metric name.
    pub fn name(self) -> String {
        match self {
            Metric::SkippedBecause(code) => format!("Skipped.{code}"),
            Metric::FailedBecause(code) => format!("Failed.{code}"),
            Metric::Sent => "Sent".into(),
            Metric::SkippedUnsubscribed => "SkippedUnsubscribed".into(),
            Metric::SkippedPolicy => "SkippedPolicy".into(),
            Metric::Failed => "Failed".into(),
            Metric::Parked => "Parked".into(),
            Metric::Deferred => "Deferred".into(),
            Metric::JobErrors => "JobErrors".into(),
            Metric::Delivered => "Delivered".into(),
            Metric::Read => "Read".into(),
            Metric::Unsubscribed => "Unsubscribed".into(),
            Metric::IngestLag => "IngestLag".into(),
            Metric::QuarantinedItems => "QuarantinedItems".into(),
        }
    }

    /// The whole vocabulary, reason metrics included (the dashboard shows
    /// each; a template test holds it to this list).
    pub fn all() -> Vec<Metric> {
        use crate::outcomes::reason;
        let mut all = vec![
            Metric::Sent,
            Metric::SkippedUnsubscribed,
            Metric::SkippedPolicy,
            Metric::Failed,
            Metric::Parked,
            Metric::Deferred,
            Metric::JobErrors,
        ];
        all.extend(reason::SKIPPED.iter().map(|c| Metric::SkippedBecause(c)));
        all.extend(reason::FAILED.iter().map(|c| Metric::FailedBecause(c)));
        all.extend([
            Metric::Delivered,
            Metric::Read,
            Metric::Unsubscribed,
            Metric::IngestLag,
            Metric::QuarantinedItems,
        ]);
        all
    }

    /// The function that publishes it.
    pub fn function(self) -> Function {
        match self {
            Metric::Delivered | Metric::Read | Metric::Unsubscribed | Metric::IngestLag | Metric::QuarantinedItems => {
                Function::Ingest
            }
            _ => Function::Sender,
        }
    }

    pub fn unit(self) -> Unit {
        match self {
            Metric::IngestLag => Unit::Milliseconds,
            _ => Unit::Count,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Count(u64),
    Samples(Vec<i64>),
}

/// The metrics of one invocation, published as one EMF document.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    function: Function,
    values: BTreeMap<Metric, Value>,
}

impl Document {
    pub fn new(function: Function) -> Self {
        Self {
            function,
            values: BTreeMap::new(),
        }
    }

    /// Adds `n` to a count metric (a count added as 0 is still published:
    /// alarms that divide two counts need both).
    pub fn add(&mut self, metric: Metric, n: u64) {
        match self.values.entry(metric).or_insert(Value::Count(0)) {
            Value::Count(c) => *c += n,
            Value::Samples(_) => {}
        }
    }

    /// Records one sample of a distribution metric (CloudWatch computes its
    /// percentiles). At most [`MAX_SAMPLES`] per document; more are dropped.
    pub fn sample(&mut self, metric: Metric, value: i64) {
        if let Value::Samples(v) = self.values.entry(metric).or_insert(Value::Samples(Vec::new())) {
            if v.len() < MAX_SAMPLES {
                v.push(value);
            }
        }
    }

    /// Counts one send job recorded in its final `state` with its reason
    /// code (skipped and failed ones), the codes the delivery record keeps.
    pub fn count_delivery(&mut self, state: DeliveryState, reason: Option<&'static str>) {
        let (outcome, by_reason): (Metric, fn(&'static str) -> Metric) = match state {
            DeliveryState::Sent => (Metric::Sent, Metric::SkippedBecause),
            DeliveryState::SkippedUnsubscribed => (Metric::SkippedUnsubscribed, Metric::SkippedBecause),
            DeliveryState::SkippedPolicy => (Metric::SkippedPolicy, Metric::SkippedBecause),
            DeliveryState::Failed => (Metric::Failed, Metric::FailedBecause),
            DeliveryState::Claimed => return,
        };
        self.add(outcome, 1);
        if let (Some(code), false) = (reason, state == DeliveryState::Sent) {
            self.add(by_reason(code), 1);
        }
    }

    /// The count of `metric` so far (0 if none).
    pub fn count(&self, metric: Metric) -> u64 {
        match self.values.get(&metric) {
            Some(Value::Count(c)) => *c,
            _ => 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The EMF document as one JSON line, dated `now_ms`: `_aws.Timestamp`,
    /// `_aws.CloudWatchMetrics[{Namespace, Dimensions: [["Function"]],
    /// Metrics[{Name, Unit}]}]`, `Function`, and each metric's value (a
    /// number, or an array of samples).
    pub fn to_line(&self, now_ms: i64) -> String {
        let mut root = serde_json::Map::new();
        let mut definitions = Vec::new();
        for (metric, value) in &self.values {
            let name = metric.name();
            definitions.push(serde_json::json!({"Name": name, "Unit": metric.unit().as_str()}));
            let v = match value {
                Value::Count(c) => serde_json::json!(c),
                Value::Samples(s) => serde_json::json!(s),
            };
            root.insert(name, v);
        }
        root.insert(DIMENSION.into(), self.function.name().into());
        root.insert(
            "_aws".into(),
            serde_json::json!({
                "Timestamp": now_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [[DIMENSION]],
                    "Metrics": definitions,
                }],
            }),
        );
        serde_json::Value::Object(root).to_string()
    }
}

/// Lines kept by a [`Recorder`]; older ones are dropped first.
pub const RECORDER_MAX_LINES: usize = 10_000;

/// The EMF lines a sink published, for the local stack and its tests (the
/// last [`RECORDER_MAX_LINES`]).
#[derive(Debug, Clone, Default)]
pub struct Recorder(Arc<Mutex<VecDeque<String>>>);

impl Recorder {
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().expect("metric lines").iter().cloned().collect()
    }

    fn push(&self, line: String) {
        let mut lines = self.0.lock().expect("metric lines");
        if lines.len() == RECORDER_MAX_LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }
}

/// Where a function's documents go: stdout (Lambda, `make dev`), and a
/// [`Recorder`] when the local stack asks for one. The default is stdout.
#[derive(Debug, Clone)]
pub struct Sink {
    stdout: bool,
    recorder: Option<Recorder>,
}

impl Default for Sink {
    fn default() -> Self {
        Self {
            stdout: true,
            recorder: None,
        }
    }
}

impl Sink {
    /// Publishes to `recorder`, and to stdout too if `stdout`.
    pub fn recording(recorder: Recorder, stdout: bool) -> Self {
        Self {
            stdout,
            recorder: Some(recorder),
        }
    }

    /// Publishes `doc` (one line), dated now; an empty document is not published.
    pub fn publish(&self, doc: &Document) {
        if doc.is_empty() {
            return;
        }
        let line = doc.to_line(crate::http::now_ms());
        if self.stdout {
            println!("{line}");
        }
        if let Some(r) = &self.recorder {
            r.push(line);
        }
    }
}

#[cfg(test)]
mod tests;
