//! The webhook hot path against the Python handler it is measured by, side
//! by side in one run: CPU per 10-event delivery to verify the signature,
//! parse every item and classify it (STOP keywords included), on the same
//! delivery bytes the Python baseline builds. Prints both figures and the
//! ratio, in five rounds of each side in turn, each timed over about the
//! same seconds (the median of the rounds' ratios is the figure). Usage: `webhook-bench [iterations per round]
//! [path to webhook_baseline.py]`
//! (default 20,000 and `../shared/bench/webhook_baseline.py`; `make bench`);
//! `webhook-bench --print-body` prints the delivery; `--split` times each
//! part alone; `--rust-only [iterations]` runs only the Rust side (to
//! profile it, e.g. under `perf record`).
//! CPU time is the thread's own (`/proc/thread-self/schedstat`, ns).
//! Where the Rust side's time goes: the signature (the `sha2` crate's
//! SHA-256 on SHA-NI), the one-pass read of the delivery (sonic-rs, see
//! `shared/src/meta/fast.rs`) and the keyword check; under `valgrind
//! --tool=callgrind webhook-bench --rust-only 2000` count instructions per
//! delivery (valgrind runs SHA-256 without SHA-NI, so leave the signature
//! out of that count).

use std::process::Command;

use optcast_local::stats::median;
use optcast_shared::meta;
use optcast_shared::signature::{self, SignatureKey};

// The allocator the webhook and ingest functions run with.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SECRET: &[u8] = b"bench-secret";

/// The baseline's delivery, byte for byte: `json.dumps(ensure_ascii=True,
/// separators=(",", ":"))` with `/` escaped as Meta does.
fn baseline_delivery(n: usize) -> Vec<u8> {
    let escape = |s: &str| {
        let mut out = String::new();
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '/' => out.push_str("\\/"),
                c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
                c => {
                    let mut buf = [0u16; 2];
                    for u in c.encode_utf16(&mut buf) {
                        out.push_str(&format!("\\u{u:04x}"));
                    }
                }
            }
        }
        out
    };
    let items: Vec<String> = (0..n)
        .map(|i| {
            let text = format!("Grüße, ça va? I'd like to know more about the offer 🎉 #{i}");
            format!(
                r#"{{"sender":{{"id":"6{i:015}"}},"recipient":{{"id":"1234567890"}},"timestamp":{},"message":{{"mid":"m_{i:032x}","text":"{}"}}}}"#,
                1_700_000_000_000_i64 + i as i64,
                escape(&text)
            )
        })
        .collect();
    format!(
        r#"{{"object":"page","entry":[{{"id":"1234567890","time":1700000000000,"messaging":[{}]}}]}}"#,
        items.join(",")
    )
    .into_bytes()
}

fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// What the Python handler does: verify, parse every item, and look for a
/// STOP/START keyword in each message's text. Returns (events, keywords).
/// The key is built once, as the webhook builds it at cold start.
fn handle(key: &SignatureKey, body: &[u8], header: &str) -> (usize, usize) {
    key.verify(Some(header), body).expect("signed");
    let delivery = meta::parse_delivery(body, 1_700_000_060_000).expect("a delivery");
    let (mut events, mut keywords) = (0, 0);
    for event in delivery.events() {
        events += 1;
        if let meta::EventKind::Message(m) = &event.kind {
            keywords += usize::from(m.text.as_deref().and_then(optcast_shared::keywords::classify).is_some());
        }
    }
    (events, keywords)
}

fn main() {
    let mut args: Vec<String> = std::env::args().collect();
    let rust_only = args.get(1).map(String::as_str) == Some("--rust-only");
    if rust_only {
        args.remove(1);
    }
    let n: u32 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let script = args
        .get(2)
        .cloned()
        .unwrap_or_else(|| "../shared/bench/webhook_baseline.py".into());
    if !rust_only && !std::path::Path::new(&script).is_file() && args.get(1).is_none_or(|a| !a.starts_with("--")) {
        // The baseline is kept beside the repository, not in it: a clone
        // elsewhere has none at the default path. The Rust side still runs
        // (`make bench` goes on to coldstart-bench).
        eprintln!(
            "webhook-bench: the Python baseline {script} is not there, so no ratio; it is kept outside this \
             repository (../shared/bench/ beside it): pass its path, `webhook-bench [iterations] <path>`"
        );
    }
    let body = baseline_delivery(10);
    if args.get(1).map(String::as_str) == Some("--print-body") {
        // To check it against the baseline's bytes.
        println!("{}", String::from_utf8_lossy(&body));
        return;
    }
    let header = signature::sign(SECRET, &body);
    let key = SignatureKey::new(SECRET).expect("a secret that is not blank");
    if args.get(1).map(String::as_str) == Some("--split") {
        split(&key, &body, &header);
        return;
    }
    assert_eq!(
        handle(&key, &body, &header),
        (10, 0),
        "every item is an event, none a keyword"
    );
    for _ in 0..1_000 {
        std::hint::black_box(handle(&key, &body, &header));
    }
    let rust = |n: u32| {
        let start = thread_cpu_ns();
        for _ in 0..n {
            std::hint::black_box(handle(&key, std::hint::black_box(&body), &header));
        }
        (thread_cpu_ns() - start) as f64 / 1_000.0 / f64::from(n)
    };
    if rust_only {
        let rust_us = rust(n);
        println!(
            "rust: {rust_us:.1} us CPU per 10-event delivery ({} bytes), {:.0} events/s on one core",
            body.len(),
            10.0 * 1e6 / rust_us
        );
        return;
    }
    // Rounds, each side in turn: the machine's load drifts over seconds, so
    // each round's ratio compares the two under the same conditions.
    let mut rounds = Vec::new();
    for round in 1..=ROUNDS {
        // Ten times the deliveries: both sides timed over about the same
        // seconds, so a burst of other load weighs on each alike.
        let rust_us = rust(n.saturating_mul(RUST_TIMES));
        let Some((version, python_us)) = python(&script, n) else {
            println!("rust: {rust_us:.1} us CPU per 10-event delivery ({} bytes)", body.len());
            println!("python baseline did not run in round {round} ({script}): no ratio");
            return;
        };
        println!(
            "round {round}: rust {rust_us:.1} us, python {version} {python_us:.1} us CPU per 10-event delivery \
             ({} bytes): {:.1}x",
            body.len(),
            python_us / rust_us
        );
        rounds.push((rust_us, python_us));
    }
    let rust_us = median(rounds.iter().map(|r| r.0).collect());
    let python_us = median(rounds.iter().map(|r| r.1).collect());
    println!(
        "rust: {rust_us:.1} us CPU per 10-event delivery, {:.0} events/s on one core; python: {python_us:.1} us \
         (medians of {ROUNDS} rounds; \
         {} and {n} deliveries a round)",
        10.0 * 1e6 / rust_us,
        n.saturating_mul(RUST_TIMES)
    );
    let ratios: Vec<f64> = rounds.iter().map(|(r, p)| p / r).collect();
    let (low, high) = ratios
        .iter()
        .fold((f64::MAX, f64::MIN), |(l, h), r| (l.min(*r), h.max(*r)));
    println!(
        "ratio: the Rust hot path uses {:.1}x less CPU than the Python handler (median of the rounds' ratios; \
         {low:.1}-{high:.1}x)",
        median(ratios)
    );
}

/// Rounds of the two sides in turn, each of `iterations` deliveries
/// (the Rust side `RUST_TIMES` as many).
const ROUNDS: u32 = 5;
const RUST_TIMES: u32 = 10;

/// The Python baseline run for `n` deliveries: its version and CPU per
/// delivery (µs), as it prints them; `None` when it cannot run.
fn python(script: &str, n: u32) -> Option<(String, f64)> {
    let out = Command::new("python3").arg(script).arg(n.to_string()).output().ok()?;
    if !out.status.success() {
        return None;
    }
    // "python 3.11.7: 91.9 us CPU per 10-event delivery (…)"
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let (name, rest) = line.split_once(": ")?;
    let us = rest.split_whitespace().next()?.parse().ok()?;
    Some((name.trim_start_matches("python ").to_string(), us))
}

/// CPU per delivery of each part of the hot path, measured alone.
fn split(key: &SignatureKey, body: &[u8], header: &str) {
    let per = |name: &str, f: &dyn Fn()| {
        for _ in 0..1_000 {
            f();
        }
        let n = 20_000;
        let start = thread_cpu_ns();
        for _ in 0..n {
            f();
        }
        println!(
            "{name}: {:.2} us",
            (thread_cpu_ns() - start) as f64 / 1_000.0 / f64::from(n)
        );
    };
    let texts: Vec<String> = meta::parse_delivery(body, 1_700_000_060_000)
        .unwrap()
        .events()
        .filter_map(|e| match &e.kind {
            optcast_shared::meta::EventKind::Message(m) => m.text.clone(),
            _ => None,
        })
        .collect();
    per("signature", &|| {
        key.verify(Some(header), std::hint::black_box(body)).unwrap()
    });
    per("serde_json Value of the whole body", &|| {
        std::hint::black_box(serde_json::from_slice::<serde_json::Value>(body).unwrap());
    });
    per("parse_delivery", &|| {
        std::hint::black_box(meta::parse_delivery(body, 1_700_000_060_000).unwrap());
    });
    per("keywords of 10 texts", &|| {
        for t in &texts {
            std::hint::black_box(optcast_shared::keywords::classify(std::hint::black_box(t)));
        }
    });
}
