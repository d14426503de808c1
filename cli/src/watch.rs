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

/// Polls `GET /v1/broadcasts/<id>` every `interval_ms` until its state is
/// one of [`FINAL_STATES`]; shows a progress bar on stderr when `bar` (it
/// hides itself when stderr is not a terminal). The last answer.
///
/// # Errors
/// The API's error (404 for an unknown broadcast) or a network failure;
/// a failed poll ends the watch.
pub async fn broadcast(api: &Api, id: &str, interval_ms: u64, bar: bool) -> Result<Value, CliError> {
    let pb = if bar {
        ProgressBar::new(0)
    } else {
        ProgressBar::hidden()
    };
    pb.set_style(
        ProgressStyle::with_template("{spinner} [{bar:40}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    loop {
        let v = api.call(Method::GET, &["v1", "broadcasts", id], &[], None).await?;
        let (done, of) = progress(&v["counts"]);
        let c = &v["counts"];
        pb.set_length(of);
        pb.set_position(done);
        pb.set_message(format!(
            "{} · sent {} · skipped {} · failed {}",
            v["state"].as_str().unwrap_or("-"),
            c["sent"].as_u64().unwrap_or(0),
            c["skipped_unsubscribed"].as_u64().unwrap_or(0) + c["skipped_policy"].as_u64().unwrap_or(0),
            c["failed"].as_u64().unwrap_or(0),
        ));
        if FINAL_STATES.contains(&v["state"].as_str().unwrap_or_default()) {
            pb.finish_and_clear();
            return Ok(v);
        }
        tokio::time::sleep(Duration::from_millis(interval_ms)).await;
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
    fn progress_never_runs_past_its_length_while_planning() {
        let c = json!({"audience":0,"queued":3,"sent":5,"skipped_unsubscribed":0,"skipped_policy":0,"failed":0});
        assert_eq!(progress(&c), (5, 5));
    }
}
