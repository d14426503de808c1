//! Running the real `optcast` binary against a test stack (shared by the
//! CLI's integration tests).

#![allow(dead_code)] // each test binary uses its own share of these

use std::process::Command;

use optcast_tests::*;
use serde_json::Value;

/// What one `optcast` run printed and how it ended.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }
}

/// Runs `optcast args…` against `app` with the admin token, no profile
/// file and nothing of the caller's environment that could change it.
pub async fn optcast(app: &TestApp, args: &[&str]) -> Run {
    optcast_with(app, ADMIN_TOKEN, args).await
}

pub async fn optcast_with(app: &TestApp, token: &str, args: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_optcast"));
    cmd.args(args)
        .env("OPTCAST_ENDPOINT", app.url(""))
        .env("OPTCAST_ADMIN_TOKEN", token)
        .env("OPTCAST_CONFIG", "/nonexistent/optcast.toml")
        .env_remove("OPTCAST_PAGE")
        .env_remove("OPTCAST_PROFILE");
    // The stack runs on this test's runtime: wait for the child off it.
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("optcast runs"))
        .await
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).trim_end().to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).trim_end().to_string(),
    }
}

pub fn leads(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i:012}")).collect()
}
