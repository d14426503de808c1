//! Logging setup and the one way personal ids may appear in logs: hashed.

use sha2::{Digest, Sha256};

/// A short, stable, non-reversible tag for a PSID or other personal id, so
/// log lines about the same person can be correlated without naming them.
pub fn subject_hash(raw: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"optcast-log:")
        .chain_update(raw.as_bytes())
        .finalize();
    hex::encode(&digest[..6])
}

/// JSON logs for Lambda (CloudWatch); `RUST_LOG` sets the level.
pub fn init() {
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_current_span(false)
        .without_time()
        .try_init();
}
