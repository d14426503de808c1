//! `coldstart-bench --check`: every function answers its first request as
//! a working function does, cold and again warm.

use std::process::Stdio;

use anyhow::bail;

use crate::cases::{cases, Case};
use crate::{binaries, cold_start, start_blank_aws};

/// `--check`: each function (or those named) started once; fails unless
/// it answers its first request as `Case::answer` says, with the AWS calls
/// `Case::calls` names among its own, and answers the same request again,
/// warm, as it should. The functions' stderr (a panic's message) is passed
/// through.
pub(crate) async fn check(only: &[String]) -> anyhow::Result<()> {
    let cases: Vec<Case> = cases()
        .into_iter()
        .filter(|c| only.is_empty() || only.iter().any(|o| o == c.name))
        .collect();
    let bin = binaries(&cases)?;
    let (aws, calls) = start_blank_aws().await?;
    let mut failed = Vec::new();
    for case in &cases {
        let sample = match cold_start(&bin(case), case, aws, &calls, 2, Stdio::inherit()).await {
            Ok(sample) => sample,
            Err(e) => {
                println!("{:<10} FAILED   {e:#}", case.name);
                failed.push(format!("{} ({e})", case.name));
                continue;
            }
        };
        let answered = |kind: &str, body: &[u8]| {
            let body = String::from_utf8_lossy(body);
            kind == "response" && case.answer.iter().all(|a| body.contains(a))
        };
        let first = answered(sample.kind, &sample.body);
        let called = case.calls.iter().all(|c| sample.aws_calls.iter().any(|made| made == c));
        let again = sample.warm.as_ref().is_some_and(|(kind, body)| answered(kind, body));
        let ok = first && called && again;
        println!(
            "{:<10} {:<8} {:<7} AWS {}  {} {}",
            case.name,
            if ok { "ok" } else { "FAILED" },
            if again { "warm ok" } else { "warm no" },
            sample.aws_calls.join(","),
            sample.kind,
            String::from_utf8_lossy(&sample.body),
        );
        if !ok {
            failed.push(format!(
                "{} (wanted a response holding {:?} and calls {:?}, twice)",
                case.name, case.answer, case.calls
            ));
        }
    }
    if !failed.is_empty() {
        bail!("not answered as a working function: {}", failed.join(", "));
    }
    Ok(())
}
