//! Logging setup and the one way personal ids may appear in logs: hashed.

/// A short, stable, non-reversible tag for a PSID or other personal id, so
/// log lines about the same person can be correlated without naming them.
/// Keyed ([`crate::pseudonym`]), so a tag cannot be reversed by hashing
/// every possible id; 12 hex digits, enough to tell people apart in logs.
pub fn subject_hash(raw: &str) -> String {
    let tag = crate::pseudonym::keys().digest(crate::pseudonym::LOG, &[raw]);
    let hex = tag.split_once('.').map_or(tag.as_str(), |(_, h)| h);
    hex[..12].to_string()
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
