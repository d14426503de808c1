//! Envelope encryption: one KMS data key per subject (so erasure can shred
//! it), AES-256-GCM locally, with the record's context bound as associated
//! data so a ciphertext moved to another record fails to decrypt.
//!
//! Here: the data key and the local cipher ([`seal`], [`open`]).
//! `crypto/context.rs` holds the contexts that bind a key or a ciphertext
//! to its record ([`subject_key_context`], [`field_aad`], …);
//! `crypto/keyring.rs` the [`KeyRing`], which makes and unwraps keys with
//! KMS and caches unwrapped keys in the warm function, bounded in size and
//! age, so a burst does not become one KMS call per message.

use std::sync::Arc;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;

mod context;
mod keyring;
pub use context::{associated_data, field_aad, page_key_context, page_token_aad, subject_digest, subject_key_context};
pub use keyring::KeyRing;

const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("KMS call failed: {0}")]
    Kms(String),
    #[error("ciphertext is malformed")]
    Malformed,
    #[error("ciphertext does not decrypt under this key and context")]
    Undecryptable,
}

impl CryptoError {
    /// KMS outages are worth retrying; a ciphertext that does not open is not.
    pub fn is_retryable(&self) -> bool {
        matches!(self, CryptoError::Kms(_))
    }
}

/// A plaintext data key. `Debug` never prints it.
#[derive(Clone)]
pub struct DataKey {
    plain: Arc<[u8; 32]>,
    /// The KMS-wrapped form, stored beside the data.
    pub wrapped: Vec<u8>,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey([redacted])")
    }
}

impl DataKey {
    /// A key from raw bytes (tests and benchmarks; production keys come from KMS).
    pub fn from_parts(plain: [u8; 32], wrapped: Vec<u8>) -> Self {
        Self {
            plain: Arc::new(plain),
            wrapped,
        }
    }
}

/// Seals `plaintext` under `key` with AES-256-GCM and a fresh random nonce,
/// binding `aad` (the record's associated data): `[format 1][nonce 12
/// bytes][ciphertext and 16-byte tag]`.
pub fn seal(key: &DataKey, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let cipher = Aes256Gcm::new_from_slice(key.plain.as_slice()).expect("32-byte key");
    let mut nonce = [0u8; NONCE_LEN];
    rand::thread_rng().fill_bytes(&mut nonce);
    let ct = cipher
        .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad })
        .expect("AES-GCM encryption does not fail for in-memory buffers");
    let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
    out.push(FORMAT_V1);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    out
}

/// Opens what [`seal`] sealed under `key` with the same `aad`.
///
/// # Errors
/// [`CryptoError::Malformed`] for an unknown format or a too short input;
/// [`CryptoError::Undecryptable`] when authentication fails (wrong key, wrong
/// `aad`, tampered).
pub fn open(key: &DataKey, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if sealed.len() < 1 + NONCE_LEN + 16 || sealed[0] != FORMAT_V1 {
        return Err(CryptoError::Malformed);
    }
    let cipher = Aes256Gcm::new_from_slice(key.plain.as_slice()).expect("32-byte key");
    cipher
        .decrypt(
            Nonce::from_slice(&sealed[1..1 + NONCE_LEN]),
            Payload {
                msg: &sealed[1 + NONCE_LEN..],
                aad,
            },
        )
        .map_err(|_| CryptoError::Undecryptable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> DataKey {
        DataKey::from_parts([b; 32], vec![b])
    }

    #[test]
    fn sealed_text_opens_with_the_same_key_and_context() {
        let aad = associated_data(&["message", "page", "psid", "m_1"]);
        let sealed = seal(&key(1), &aad, b"hello");
        assert_eq!(open(&key(1), &aad, &sealed).unwrap(), b"hello");
        assert!(!sealed.windows(5).any(|w| w == b"hello"));
    }

    #[test]
    fn another_context_or_key_cannot_open_it() {
        let sealed = seal(
            &key(1),
            &associated_data(&["message", "page", "psid-a", "m_1"]),
            b"hello",
        );
        assert!(matches!(
            open(
                &key(1),
                &associated_data(&["message", "page", "psid-b", "m_1"]),
                &sealed
            ),
            Err(CryptoError::Undecryptable)
        ));
        assert!(matches!(
            open(
                &key(2),
                &associated_data(&["message", "page", "psid-a", "m_1"]),
                &sealed
            ),
            Err(CryptoError::Undecryptable)
        ));
    }

    #[test]
    fn truncated_or_foreign_bytes_are_malformed() {
        assert!(matches!(open(&key(1), b"", b"short"), Err(CryptoError::Malformed)));
        let mut sealed = seal(&key(1), b"", b"x");
        sealed[0] = 9;
        assert!(matches!(open(&key(1), b"", &sealed), Err(CryptoError::Malformed)));
    }

    #[test]
    fn associated_data_is_unambiguous() {
        assert_ne!(associated_data(&["ab", "c"]), associated_data(&["a", "bc"]));
    }
}
