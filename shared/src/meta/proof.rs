//! The consent proof of an item: SHA-256 (hex) of its canonical JSON — keys
//! in byte order, as serde_json writes a `Value` — so the same event hashes
//! the same however a delivery spelled it.

use std::sync::{Arc, OnceLock};

use serde_json::Value;
use sha2::{Digest, Sha256};

/// An item's proof hash, computed when first asked for: an event keyed by
/// its mid (most of them) needs it only if it changes consent, and then it
/// is hashed from the item's raw text exactly as the parser would have.
#[derive(Clone)]
pub struct ProofHash {
    raw: Arc<str>,
    hex: OnceLock<String>,
}

impl ProofHash {
    /// A hash already computed for `raw`.
    pub(super) fn computed(raw: Arc<str>, hex: String) -> Self {
        Self {
            raw,
            hex: OnceLock::from(hex),
        }
    }

    /// The hash of `raw`, computed on first use.
    pub(super) fn deferred(raw: Arc<str>) -> Self {
        Self {
            raw,
            hex: OnceLock::new(),
        }
    }

    /// A given hash (tests and fixtures, where no item text exists).
    pub fn known(hex: impl Into<String>) -> Self {
        Self::computed(Arc::from(""), hex.into())
    }

    /// The 64 lowercase hex digits.
    pub fn as_str(&self) -> &str {
        self.hex.get_or_init(|| of_item(&self.raw))
    }
}

impl PartialEq for ProofHash {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl std::fmt::Debug for ProofHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The canonical hash of an item's raw JSON. An event's item always parsed
/// (a lone surrogate repaired, as the parser does); were it not to, the raw
/// bytes are hashed rather than nothing.
fn of_item(raw: &str) -> String {
    serde_json::from_str::<Value>(raw)
        .ok()
        .or_else(|| super::lenient::repair_lone_surrogates(raw).and_then(|fixed| serde_json::from_str(&fixed).ok()))
        .map_or_else(
            || hex_digest(Sha256::new_with_prefix(raw.as_bytes())),
            |v| canonical_sha256(&v),
        )
}

/// SHA-256 (hex) of `value`'s serialisation, written straight into the hash.
pub(super) fn canonical_sha256(value: &Value) -> String {
    let mut h = HashWriter(Sha256::new());
    // Writing into a hash cannot fail, nor can serialising a `Value`.
    let _ = serde_json::to_writer(&mut h, value);
    hex_digest(h.0)
}

/// The digest as 64 lowercase hex digits, in one allocation (`hex::encode`
/// grows its string a character at a time: a tenth of the hot path).
pub(super) fn hex_digest(h: Sha256) -> String {
    let mut out = [0u8; 64];
    // 32 bytes always fit 64 digits, which are ASCII.
    let _ = hex::encode_to_slice(h.finalize(), &mut out);
    std::str::from_utf8(&out).map(str::to_owned).unwrap_or_default()
}

/// Streams what is written into a SHA-256.
struct HashWriter(Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
