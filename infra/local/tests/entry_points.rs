//! Every Lambda binary started as Lambda starts it: exec'd with the
//! environment `template.yaml` gives it, against a fake Runtime API, its
//! first request answered (`coldstart-bench --check`). The rest of the suite
//! runs the handlers' library code on the test runtime; this runs each
//! `main.rs`, with the runtime it builds (one thread), its configuration
//! loading and its wiring to the handler.
//!
//! The function binaries are the ones next to `coldstart-bench` in
//! `target/debug`: `make test` builds every target first (`cargo build
//! --workspace --all-targets`); run alone, build them with `cargo build
//! --workspace --bins`.

use std::process::Command;

const FUNCTIONS: [&str; 8] = [
    "webhook",
    "api",
    "ingest",
    "planner",
    "sender",
    "eraser",
    "scheduler",
    "sweeper",
];

#[test]
fn every_function_binary_starts_against_the_runtime_api_and_answers_its_first_request_twice() {
    let out = Command::new(env!("CARGO_BIN_EXE_coldstart-bench"))
        .arg("--check")
        .output()
        .expect("coldstart-bench runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for function in FUNCTIONS {
        assert!(
            stdout
                .lines()
                .any(|l| l.split_whitespace().take(3).eq([function, "ok", "warm"])),
            "{function} did not answer as a working function:\n{stdout}"
        );
    }
}

/// `coldstart-bench --check api` run from a directory of its own where
/// `api` is the binary `api_from` (a path); its output, if it failed.
fn check_api_as(name: &str, api_from: &std::path::Path) -> Option<String> {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("entry-points-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a directory of its own");
    let bench = dir.join("coldstart-bench");
    std::fs::copy(env!("CARGO_BIN_EXE_coldstart-bench"), &bench).expect("copy the bench");
    std::fs::copy(api_from, dir.join("api")).expect("copy the binary");
    let out = Command::new(&bench)
        .args(["--check", "api"])
        .output()
        .expect("coldstart-bench runs");
    (!out.status.success()).then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn a_function_that_answers_another_way_fails_the_check() {
    // The webhook, started as the api, answers the api's first request 404
    // too ("no such route"), without the subscriber read: caught.
    let webhook = std::path::Path::new(env!("CARGO_BIN_EXE_coldstart-bench"))
        .parent()
        .expect("a directory")
        .join("webhook");
    let failed = check_api_as("another-way", &webhook).expect("the check fails");
    assert!(failed.contains("api        FAILED"), "{failed}");
}

#[test]
fn a_function_that_exits_at_start_fails_the_check_by_its_exit() {
    // A binary that exits before answering (as on a panic at start) is
    // reported by its exit, not after the answer's timeout.
    let started = std::time::Instant::now();
    let failed = check_api_as("exits", std::path::Path::new("/bin/false")).expect("the check fails");
    assert!(failed.contains("exited before its answers"), "{failed}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}
