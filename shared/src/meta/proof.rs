//! The consent proof of an item: SHA-256 (hex) of its canonical JSON — keys
//! in byte order, as serde_json writes a `Value` — so the same event hashes
//! the same however a delivery spelled it.

use std::sync::OnceLock;

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{EventKind, InboundEvent};

/// An event's proof hash ([`InboundEvent::proof_sha256`]). Most events are a
/// person's text message keyed by its mid, read on the fast path: their
/// proof is needed only if the event changes consent, so it is computed then,
/// from the event's own values (their canonical JSON is
/// [`InboundEvent::canonical_text_message`]).
#[derive(Clone)]
pub struct ProofHash(Proof);

#[derive(Clone)]
enum Proof {
    /// Already computed (the general path hashes as it reads).
    Hex(String),
    /// A text message read on the fast path; Meta's `timestamp` as given
    /// (before it is trusted) is the one value the event does not keep.
    TextMessage { timestamp: i64, hex: OnceLock<String> },
}

impl ProofHash {
    /// A hash already computed.
    pub(super) fn computed(hex: String) -> Self {
        Self(Proof::Hex(hex))
    }

    /// The hash of a fast-path text message whose item had `timestamp`.
    pub(super) fn text_message(timestamp: i64) -> Self {
        Self(Proof::TextMessage {
            timestamp,
            hex: OnceLock::new(),
        })
    }

    /// A given hash (tests and fixtures, where no item text exists).
    pub fn known(hex: impl Into<String>) -> Self {
        Self::computed(hex.into())
    }

    /// Meta's timestamp of a fast-path text message, as given.
    pub(super) fn text_message_timestamp(&self) -> Option<i64> {
        match &self.0 {
            Proof::TextMessage { timestamp, .. } => Some(*timestamp),
            Proof::Hex(_) => None,
        }
    }
}

impl std::fmt::Debug for ProofHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Proof::Hex(hex) => f.write_str(hex),
            Proof::TextMessage { hex, .. } => f.write_str(hex.get().map_or("(not yet hashed)", String::as_str)),
        }
    }
}

impl InboundEvent {
    /// SHA-256 (64 lowercase hex digits) of the item's canonical JSON: the
    /// consent proof. Computed on first use for a fast-path text message.
    pub fn proof_sha256(&self) -> &str {
        match &self.sha256.0 {
            Proof::Hex(hex) => hex,
            Proof::TextMessage { hex, .. } => hex.get_or_init(|| {
                let text = self.canonical_text_message().unwrap_or_default();
                hex_digest(Sha256::new_with_prefix(text.as_bytes()))
            }),
        }
    }

    /// The canonical JSON of a text message read on the fast path, rebuilt
    /// from the event: exactly what serde_json writes for the item as a
    /// `Value` (keys sorted), so its hash is the proof and parsing it gives
    /// this event again. `None` for any other event.
    pub(super) fn canonical_text_message(&self) -> Option<String> {
        let timestamp = self.sha256.text_message_timestamp()?;
        let EventKind::Message(m) = &self.kind else { return None };
        #[derive(Serialize)]
        struct Item<'a> {
            message: Message<'a>,
            recipient: Party<'a>,
            sender: Party<'a>,
            timestamp: i64,
        }
        #[derive(Serialize)]
        struct Message<'a> {
            mid: &'a str,
            text: &'a str,
        }
        #[derive(Serialize)]
        struct Party<'a> {
            id: &'a str,
        }
        serde_json::to_string(&Item {
            message: Message {
                mid: m.mid.as_ref()?.as_str(),
                text: m.text.as_deref()?,
            },
            // The fast path reads only items whose recipient is the entry's page.
            recipient: Party {
                id: self.page_id.as_str(),
            },
            sender: Party {
                id: self.subject.as_str(),
            },
            timestamp,
        })
        .ok()
    }
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
