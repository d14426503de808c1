//! Cold start of every function against a Rust hello-world Lambda
//! (`coldstart-hello`, same `lambda_runtime`, tokio and release profile,
//! written as `lambda_runtime`'s example is: a multi-thread runtime):
//! wall time from exec to the first response posted to a fake Lambda Runtime
//! API, and the process's peak RSS (`VmHWM`) once it asks for its second
//! event. Median of `runs` cold starts per function, interleaved, with the
//! ratio to hello-world. The same event is then handed out once more, warm:
//! its time is the request's own work (its AWS calls), and cold minus warm
//! is what starting the function cost, shown beside hello-world's. Two
//! more columns split a cold start: `init ms`, exec to the function's first
//! request for an event (its start-up before any request), and `cpu ms`,
//! the CPU time the process (every thread) had used when its first
//! response arrived (a
//! cold start close to its wall time is bound by its own work, not by
//! waiting on the blank AWS).
//! Usage: `coldstart-bench [--cold-only | --warm N] [runs] [function…]`
//! (default 20, every function; `make bench`; `--cold-only` hands each event
//! out once, for a profiler wrapped around a function; `--warm N` hands it
//! out N times more and prints the mean time of those warm answers). It runs the release binaries
//! next to itself: `cargo build --release --workspace --bin webhook … --bin
//! coldstart-hello --bin coldstart-bench`.
//!
//! Each function gets the environment `template.yaml` gives it, with local
//! stand-ins for what AWS would resolve: the Meta and pseudonym secrets
//! inline (in AWS they are read from Secrets Manager at start-up) and AWS at a
//! blank endpoint served here, which answers every request with an empty
//! success (DynamoDB and SQS `{}`, S3 an empty listing or body) and KMS with
//! a data key, so a first request that reads AWS pays for its client's
//! connection set-up but not for an emulator.
//!
//! Each function's first request is one it gets in production: the webhook
//! Meta's subscription handshake (no AWS call); the API a lead's consent
//! state (DynamoDB, answered 404 by the blank AWS); the scheduler and the
//! sweeper their scheduled run (DynamoDB; the sweeper also lists S3 object
//! versions and writes its report); each SQS consumer a batch of one job of
//! its queue's contract: ingest a signed delivery of one text message,
//! the planner a plan job, the sender a send job, the eraser an erasure
//! request. Against the blank AWS those find nothing stored (the sender and
//! the planner skip a broadcast that does not exist; ingest stores a new
//! lead under a data key the blank KMS hands out): each answer is printed.
//!
//! `coldstart-bench --check [function…]` starts each binary once (any
//! build: the test suite runs it on the debug binaries) and fails unless each
//! answers its first request as a working function does (`Case::answer`),
//! with the AWS calls that path makes (`Case::calls`), and answers it again
//! warm the same way: every `main.rs` wired to its handler, on the runtime
//! it starts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use optcast_local::stats::median;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use cases::{cases, environment, Case};
use fake_lambda::{blank_aws, next_answer, runtime_api, serve, AwsCalls, Report, Runtime};

mod cases;
mod check;
mod fake_lambda;

const RATIO_TARGET: f64 = 2.0;
const RSS_TARGET_MB: f64 = 32.0;

struct Sample {
    ms: f64,
    /// `--warm N`: the mean time of N more answers to the same request, one
    /// after another in the warm process (NaN without `--warm`).
    warm_loop_ms: f64,
    /// Exec to its first request for an event: its start-up before the
    /// first request (NaN when it never asked).
    init_ms: f64,
    /// CPU time the process had used when its first answer arrived (user
    /// and system, every thread: [`cpu_ms`]): exec to the first response,
    /// less any waiting.
    cpu_ms: f64,
    /// The same request answered again by the warm process.
    warm_ms: f64,
    rss_kb: u64,
    kind: &'static str,
    /// The AWS operations the first request called.
    aws_calls: Vec<String>,
    body: Bytes,
    /// The warm answer's kind and body.
    warm: Option<(&'static str, Bytes)>,
}

/// Peak resident set size of `pid` in KiB (`VmHWM`).
fn peak_rss_kb(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM in /proc status")
}

/// CPU time the process `pid` has run for, every thread of it, in ms (the
/// first field of each `/proc/<pid>/task/<tid>/schedstat`, ns: a task's own;
/// the hello-world's handler runs on tokio's worker threads); NaN where
/// there is none to read.
fn cpu_ms(pid: u32) -> f64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return f64::NAN;
    };
    let ns: f64 = tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .sum();
    if ns > 0.0 {
        ns / 1e6
    } else {
        f64::NAN
    }
}

/// Execs `bin` as function `case` against a fresh fake Runtime API and
/// measures one cold start.
async fn cold_start(
    bin: &Path,
    case: &Case,
    aws: SocketAddr,
    aws_calls: &AwsCalls,
    events: usize,
    output: Stdio,
) -> anyhow::Result<Sample> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let runtime_addr = listener.local_addr()?;
    let (reports, mut rx) = mpsc::unbounded_channel();
    let (stop_tx, stop) = watch::channel(false);
    let rt = Arc::new(Runtime {
        event: Bytes::from(case.event.to_string()),
        events,
        function_arn: format!("arn:aws:lambda:us-west-2:123456789012:function:optcast-{}", case.name),
        handed_out: AtomicUsize::new(0),
        reports,
        stop,
    });
    let server = tokio::spawn(serve(listener, move |req| runtime_api(rt.clone(), req)));
    aws_calls.lock().expect("calls").clear();

    let mut cmd = Command::new(bin);
    cmd.env_clear()
        .envs(environment(case.name, runtime_addr, aws))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(output);
    let start = Instant::now();
    let mut child = cmd.spawn().with_context(|| format!("exec {}", bin.display()))?;
    let pid = child.id();
    let answers = async {
        let mut asked = None;
        let (at, kind, body) = next_answer(&mut rx, case.name, &mut asked).await?;
        let cpu_ms = cpu_ms(pid);
        let first_calls = aws_calls.lock().expect("calls").clone();
        // Peak RSS once the first invocation is over: it asks for the next
        // event (or, after an init error, would exit). That next event is
        // the same one, answered warm.
        let (mut rss_kb, mut warm_ms, mut warm, mut warm_loop_ms) = (None, f64::NAN, None, f64::NAN);
        if kind != "init error" {
            if let Ok(Some(Report::Again { at: again })) = tokio::time::timeout(Duration::from_secs(2), rx.recv()).await
            {
                rss_kb = Some(peak_rss_kb(pid)?);
                if let Ok((warm_at, kind, body)) = next_answer(&mut rx, case.name, &mut None).await {
                    warm_ms = warm_at.duration_since(again).as_secs_f64() * 1e3;
                    warm = Some((kind, body));
                    // `--warm`: the same request answered `events - 2` times more.
                    if events > 2 {
                        for _ in 2..events {
                            next_answer(&mut rx, case.name, &mut None).await?;
                        }
                        warm_loop_ms = warm_at.elapsed().as_secs_f64() * 1e3 / (events - 2) as f64;
                    }
                }
            }
        }
        Ok(Sample {
            ms: at.duration_since(start).as_secs_f64() * 1e3,
            warm_loop_ms,
            init_ms: asked.map_or(f64::NAN, |a| a.duration_since(start).as_secs_f64() * 1e3),
            cpu_ms,
            warm_ms,
            rss_kb: match rss_kb {
                Some(kb) => kb,
                None => peak_rss_kb(pid)?,
            },
            kind,
            aws_calls: first_calls,
            body,
            warm,
        })
    };
    // A process that dies (a panic at start) is reported at once, not after
    // the answer's timeout; looked at rarely, not to disturb the timing.
    let exit = async {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if let Ok(Some(status)) = child.try_wait() {
                return status;
            }
        }
    };
    let result = tokio::select! {
        biased;
        sample = answers => sample,
        status = exit => Err(anyhow::anyhow!("{} exited before its answers: {status}", case.name)),
    };
    let _ = child.kill();
    let _ = child.wait();
    let _ = stop_tx.send(true);
    server.abort();
    result
}

/// Where each case's binary is: next to this one. Fails when one is not built.
fn binaries(cases: &[Case]) -> anyhow::Result<impl Fn(&Case) -> PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().context("bench binary has no directory")?.to_path_buf();
    let bin = move |case: &Case| {
        dir.join(if case.name == "hello" {
            "coldstart-hello"
        } else {
            case.name
        })
    };
    for case in cases {
        if !bin(case).is_file() {
            bail!(
                "{} not built: cargo build --workspace --bin {} … (--release for timing)",
                bin(case).display(),
                bin(case).file_name().and_then(|f| f.to_str()).unwrap_or("?")
            );
        }
    }
    Ok(bin)
}

/// The blank AWS endpoint, served from here, and the calls it gets.
async fn start_blank_aws() -> anyhow::Result<(SocketAddr, AwsCalls)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let aws = listener.local_addr()?;
    let calls = AwsCalls::default();
    let seen = calls.clone();
    tokio::spawn(serve(listener, move |req| blank_aws(seen.clone(), req)));
    Ok((aws, calls))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("--check") {
        args.next();
        return check::check(&args.collect::<Vec<_>>()).await;
    }
    // `--cold-only`: each process gets its event once (no warm answer), so a
    // profiler wrapped around a function sees the cold start alone.
    let events = match args.peek().map(String::as_str) {
        Some("--cold-only") => {
            args.next();
            1
        }
        // `--warm N`: after the cold and the warm answer, the same request N
        // times more, and the mean of those (the request's own cost, warm,
        // without one sample's noise).
        Some("--warm") => {
            args.next();
            let n: usize = args
                .next()
                .and_then(|n| n.parse().ok())
                .filter(|n| *n > 0)
                .context("usage: coldstart-bench --warm <requests> [runs] [function…]")?;
            2 + n
        }
        _ => 2,
    };
    let runs: usize = match args.next() {
        Some(n) => n
            .parse()
            .context("usage: coldstart-bench [--cold-only] [runs] [function…]")?,
        None => 20,
    };
    let only: Vec<String> = args.collect();
    let cases: Vec<Case> = cases()
        .into_iter()
        .filter(|c| c.name == "hello" || only.is_empty() || only.iter().any(|o| o == c.name))
        .collect();
    let bin = binaries(&cases)?;
    let (aws, calls) = start_blank_aws().await?;

    // One unmeasured start each (page cache), then `runs` rounds, interleaved.
    let mut samples: Vec<Vec<Sample>> = cases.iter().map(|_| Vec::new()).collect();
    for case in &cases {
        cold_start(&bin(case), case, aws, &calls, events, Stdio::null()).await?;
    }
    for _ in 0..runs {
        for (case, out) in cases.iter().zip(samples.iter_mut()) {
            out.push(cold_start(&bin(case), case, aws, &calls, events, Stdio::null()).await?);
        }
    }

    println!(
        "cold start: exec -> first response through a fake Lambda Runtime API, median of {runs} (x86_64 release binaries)"
    );
    println!(
        "AWS: calls the first request made; warm ms: the same request again in the same process (its own work); \
         start ms: cold minus warm (what starting cost); init ms: exec to its first request for an event; \
         cpu ms: CPU the process used, exec to the first response"
    );
    println!(
        "{:<10} {:<26} {:>8} {:>7} {:>9} {:>7} {:>5} {:>8} {:>9} {:>7} {:>8} {:>7}  first answer",
        "function",
        "first request",
        "ms",
        "xhello",
        "RSS MB",
        "xhello",
        "AWS",
        "warm ms",
        "start ms",
        "xhello",
        "init ms",
        "cpu ms"
    );
    let hello_ms = median(samples[0].iter().map(|s| s.ms).collect());
    let start_ms = |out: &[Sample]| median(out.iter().map(|s| s.ms - s.warm_ms).collect());
    let hello_start_ms = start_ms(&samples[0]);
    let hello_mb = median(samples[0].iter().map(|s| s.rss_kb as f64 / 1024.0).collect());
    let mut missed = Vec::new();
    for (case, out) in cases.iter().zip(&samples) {
        let ms = median(out.iter().map(|s| s.ms).collect());
        let mb = median(out.iter().map(|s| s.rss_kb as f64 / 1024.0).collect());
        let last = out.last().context("no samples")?;
        let answer = match std::str::from_utf8(&last.body) {
            Ok(b) if b.len() <= 60 => b.to_string(),
            Ok(b) => format!("{}…", &b[..b.char_indices().nth(60).map_or(b.len(), |(i, _)| i)]),
            Err(_) => format!("{} bytes", last.body.len()),
        };
        let warm = median(out.iter().map(|s| s.warm_ms).collect());
        let start = start_ms(out);
        let init = median(out.iter().map(|s| s.init_ms).collect());
        let cpu = median(out.iter().map(|s| s.cpu_ms).collect());
        println!(
            "{:<10} {:<26} {:>8.2} {:>7.2} {:>9.1} {:>7.2} {:>5} {:>8.2} {:>9.2} {:>7.2} {:>8.2} {:>7.2}  {} {}",
            case.name,
            case.first_request,
            ms,
            ms / hello_ms,
            mb,
            mb / hello_mb,
            last.aws_calls.len(),
            warm,
            start,
            start / hello_start_ms,
            init,
            cpu,
            last.kind,
            answer
        );
        if events > 2 {
            let each = median(out.iter().map(|s| s.warm_loop_ms).collect());
            println!(
                "{:<10} warm, {} more requests in a row: {each:.3} ms each (median of the runs' means)",
                case.name,
                events - 2
            );
        }
        if case.name != "hello" && (ms / hello_ms > RATIO_TARGET || mb > RSS_TARGET_MB || last.kind != "response") {
            missed.push(case.name);
        }
    }
    if missed.is_empty() {
        println!("targets (<= {RATIO_TARGET}x hello-world, <= {RSS_TARGET_MB} MB, a response): all met");
    } else {
        println!(
            "targets (<= {RATIO_TARGET}x hello-world, <= {RSS_TARGET_MB} MB, a response): missed by {}",
            missed.join(", ")
        );
    }
    Ok(())
}
