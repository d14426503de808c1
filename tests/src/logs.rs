//! The functions' logs, captured for the whole test binary: tests check
//! that no personal data reaches them.

/// Everything the functions log during the test run (JSON lines), so tests
/// can check that no personal data reaches the logs.
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned()
}

/// Whether `logs` hold the Meta id `id` (digits) as a number of its own:
/// not where it is only part of a longer run of digits, such as a
/// millisecond timestamp of the whole test binary's logs (a 7-digit
/// app-scoped id is inside about one in a million of them).
pub fn logs_hold_id(logs: &str, id: &str) -> bool {
    let bytes = logs.as_bytes();
    logs.match_indices(id).any(|(at, _)| {
        let before = at.checked_sub(1).map(|i| bytes[i]);
        let after = bytes.get(at + id.len()).copied();
        !before.is_some_and(|b| b.is_ascii_digit()) && !after.is_some_and(|b| b.is_ascii_digit())
    })
}

static LOGS: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

struct CaptureWriter;

impl std::io::Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the capturing JSON log subscriber (once per test binary), at
/// debug level so even verbose logs are checked.
pub fn capture_logs() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(|| CaptureWriter)
            .try_init();
    });
}

#[cfg(test)]
mod tests {
    use super::logs_hold_id;

    #[test]
    fn an_id_inside_a_longer_number_is_not_named_but_one_anywhere_else_is() {
        assert!(!logs_hold_id(r#"{"now_ms":1796285550001}"#, "5550001"));
        assert!(logs_hold_id(r#"{"asid":"5550001"}"#, "5550001"));
        assert!(logs_hold_id("asid=5550001x", "5550001"));
        assert!(logs_hold_id("5550001", "5550001"));
    }
}
