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

#[test]
fn a_function_that_does_not_answer_as_it_should_fails_the_check() {
    // The api answers its first request 404 (no subscriber in the blank
    // AWS); the check holds it to that answer, so a binary answering
    // another way is caught. Here: the webhook started as the api.
    let dir = tempdir();
    let bench = dir.join("coldstart-bench");
    std::fs::copy(env!("CARGO_BIN_EXE_coldstart-bench"), &bench).expect("copy the bench");
    let real = std::path::Path::new(env!("CARGO_BIN_EXE_coldstart-bench"))
        .parent()
        .expect("a directory")
        .join("webhook");
    std::fs::copy(real, dir.join("api")).expect("copy a function binary");
    let out = Command::new(&bench)
        .args(["--check", "api"])
        .output()
        .expect("coldstart-bench runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains("api        FAILED"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("optcast-entry-points-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}
