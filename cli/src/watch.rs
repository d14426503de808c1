//! Polling until something finishes: a broadcast (with a live progress
//! bar) or an erasure request.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use reqwest::Method;
use serde_json::Value;

use crate::client::Api;
use crate::error::CliError;

/// States a broadcast stays in until someone acts (`watch` stops there).
pub const FINAL_STATES: [&str; 3] = ["done", "cancelled", "paused"];

/// How far a broadcast is: (handled, of) where handled counts every lead
/// the sender recorded (sent, skipped, failed) and `of` the audience (or
/// the jobs queued so far while planning, whichever is larger).
pub fn progress(counts: &Value) -> (u64, u64) {
    let n = |k: &str| counts[k].as_u64().unwrap_or(0);
    let handled = n("sent") + n("skipped_unsubscribed") + n("skipped_policy") + n("failed");
    (handled, n("audience").max(n("queued")).max(handled))
}

/// How `watch` shows progress while it polls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// indicatif's bar on stderr (stderr is a terminal).
    Bar,
    /// A plain line on stderr each time the progress changes (piped, CI
    /// logs): no escape codes, no carriage returns.
    Lines,
    /// Nothing (`--json`: one document on stdout, nothing else).
    Quiet,
}

impl Progress {
    /// The bar on a terminal, plain lines otherwise; nothing with `--json`.
    pub fn for_stderr(json: bool) -> Self {
        use std::io::IsTerminal;
        match (json, std::io::stderr().is_terminal()) {
            (true, _) => Progress::Quiet,
            (false, true) => Progress::Bar,
            (false, false) => Progress::Lines,
        }
    }
}

/// How a watch ended: with the broadcast in one of [`FINAL_STATES`], or
/// with the time given running out first. Either way the last answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Watched {
    Ended(Value),
    TimedOut(Value),
}

/// The progress message: state and counts
/// (`sending · sent 2 · skipped 0 · failed 0`).
pub fn summary(v: &Value) -> String {
    let c = &v["counts"];
    let n = |k: &str| c[k].as_u64().unwrap_or(0);
    format!(
        "{} · sent {} · skipped {} · failed {}",
        v["state"].as_str().unwrap_or("-"),
        n("sent"),
        n("skipped_unsubscribed") + n("skipped_policy"),
        n("failed"),
    )
}

/// One plain progress line (what [`Progress::Lines`] prints).
pub fn line(v: &Value) -> String {
    let (done, of) = progress(&v["counts"]);
    format!("{done}/{of} {}", summary(v))
}

/// Polls `GET /v1/broadcasts/<id>` every `interval_ms` until its state is
/// one of [`FINAL_STATES`] or `timeout` has passed since the first poll,
/// showing progress as `progress` says.
///
/// # Errors
/// The API's error (404 for an unknown broadcast) or a network failure;
/// a failed poll ends the watch.
pub async fn broadcast(
    api: &Api,
    id: &str,
    interval_ms: u64,
    timeout: Option<Duration>,
    progress_as: Progress,
) -> Result<Watched, CliError> {
    let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
    let pb = if progress_as == Progress::Bar {
        ProgressBar::new(0)
    } else {
        ProgressBar::hidden()
    };
    pb.set_style(
        ProgressStyle::with_template("{spinner} [{bar:40}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let mut last_line = String::new();
    loop {
        let v = api.call(Method::GET, &["v1", "broadcasts", id], &[], None).await?;
        let (done, of) = progress(&v["counts"]);
        pb.set_length(of);
        pb.set_position(done);
        pb.set_message(summary(&v));
        if progress_as == Progress::Lines {
            let now = line(&v);
            if now != last_line {
                eprintln!("{now}");
                last_line = now;
            }
        }
        if FINAL_STATES.contains(&v["state"].as_str().unwrap_or_default()) {
            pb.finish_and_clear();
            return Ok(Watched::Ended(v));
        }
        let pause = Duration::from_millis(interval_ms);
        match deadline {
            Some(d) if tokio::time::Instant::now() + pause > d => {
                // One last look at the deadline itself, then give up.
                tokio::time::sleep_until(d).await;
                let v = api.call(Method::GET, &["v1", "broadcasts", id], &[], None).await?;
                pb.finish_and_clear();
                if FINAL_STATES.contains(&v["state"].as_str().unwrap_or_default()) {
                    return Ok(Watched::Ended(v));
                }
                return Ok(Watched::TimedOut(v));
            }
            _ => tokio::time::sleep(pause).await,
        }
    }
}

/// Polls `GET /v1/erasure/<id>` every 500 ms until it is no longer pending.
///
/// # Errors
/// As [`broadcast`].
pub async fn erasure(api: &Api, id: &str) -> Result<Value, CliError> {
    loop {
        let v = api.call(Method::GET, &["v1", "erasure", id], &[], None).await?;
        if v["status"] != "pending" {
            return Ok(v);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn progress_counts_every_recorded_lead_against_the_audience() {
        let c = json!({"audience":10,"queued":10,"sent":4,"skipped_unsubscribed":1,"skipped_policy":2,"failed":1});
        assert_eq!(progress(&c), (8, 10));
    }

    #[test]
    fn a_plain_progress_line_has_the_counts_and_no_escape_codes() {
        let v = json!({"state":"sending","counts":{"audience":10,"queued":10,"sent":4,"skipped_unsubscribed":1,
            "skipped_policy":2,"failed":1}});
        assert_eq!(line(&v), "8/10 sending · sent 4 · skipped 3 · failed 1");
        assert!(!line(&v).contains('\u{1b}') && !line(&v).contains('\r'));
    }

    #[test]
    fn progress_never_runs_past_its_length_while_planning() {
        let c = json!({"audience":0,"queued":3,"sent":5,"skipped_unsubscribed":0,"skipped_policy":0,"failed":0});
        assert_eq!(progress(&c), (5, 5));
    }
}
