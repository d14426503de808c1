//! Envelope encryption: one KMS data key per subject (so erasure can shred
//! it), AES-256-GCM locally, with the record's context bound as associated
//! data so a ciphertext moved to another record fails to decrypt. Unwrapped
//! keys are cached in the warm function, bounded in size and age, so a burst
//! does not become one KMS call per message.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use aws_sdk_kms::primitives::Blob;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::ids::{PageId, Psid};

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

/// The KMS encryption context of a new subject key. It appears in
/// CloudTrail, so it holds the subject's keyed pseudonym, never the PSID.
pub fn subject_key_context(page: &PageId, psid: &Psid) -> BTreeMap<String, String> {
    subject_key_context_with(page, subject_digest(page, psid))
}

fn subject_key_context_with(page: &PageId, pseudonym: String) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("purpose".to_string(), "subject".to_string()),
        ("page".to_string(), page.to_string()),
        ("subject".to_string(), pseudonym),
    ])
}

/// The KMS encryption context of a page's data key (its access token).
pub fn page_key_context(page: &PageId) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("purpose".to_string(), "page".to_string()),
        ("page".to_string(), page.to_string()),
    ])
}

/// Associated data of a page's sealed access token.
pub fn page_token_aad(page: &PageId) -> Vec<u8> {
    associated_data(&["page-token", page.as_str()])
}

/// The keyed pseudonym naming a subject in new records (`<key id>.<hex>`,
/// [`crate::pseudonym`]); records are found again with
/// [`crate::pseudonym::Pseudonyms::subject_lookups`].
pub fn subject_digest(page: &PageId, psid: &Psid) -> String {
    crate::pseudonym::keys().subject(page, psid)
}

/// Associated data binding a ciphertext to its record.
pub fn associated_data(parts: &[&str]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.len() + 4).sum());
    for p in parts {
        out.extend_from_slice(&(p.len() as u32).to_be_bytes());
        out.extend_from_slice(p.as_bytes());
    }
    out
}

/// Associated data of a lead's sealed field: purpose, page, psid, record id.
pub fn field_aad(purpose: &str, page: &PageId, psid: &Psid, id: &str) -> Vec<u8> {
    associated_data(&[purpose, page.as_str(), psid.as_str(), id])
}

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

/// Bounded cache of unwrapped keys, keyed by a digest of the wrapped key.
struct KeyCache {
    entries: HashMap<[u8; 32], (Arc<[u8; 32]>, Instant)>,
    max_entries: usize,
    max_age: Duration,
}

impl KeyCache {
    fn get(&mut self, id: &[u8; 32]) -> Option<Arc<[u8; 32]>> {
        match self.entries.get(id) {
            Some((key, at)) if at.elapsed() < self.max_age => Some(key.clone()),
            Some(_) => {
                self.entries.remove(id);
                None
            }
            None => None,
        }
    }

    fn insert(&mut self, id: [u8; 32], key: Arc<[u8; 32]>) {
        if self.entries.len() >= self.max_entries && !self.entries.contains_key(&id) {
            // Drop expired entries first, then the oldest one.
            let max_age = self.max_age;
            self.entries.retain(|_, (_, at)| at.elapsed() < max_age);
            if self.entries.len() >= self.max_entries {
                if let Some(oldest) = self.entries.iter().min_by_key(|(_, (_, at))| *at).map(|(k, _)| *k) {
                    self.entries.remove(&oldest);
                }
            }
        }
        self.entries.insert(id, (key, Instant::now()));
    }
}

/// Creates and unwraps data keys with KMS, with a warm-function cache.
pub struct KeyRing {
    kms: aws_sdk_kms::Client,
    key_id: String,
    cache: Mutex<KeyCache>,
}

impl KeyRing {
    pub fn new(kms: aws_sdk_kms::Client, key_id: impl Into<String>) -> Self {
        Self::with_cache_limits(kms, key_id, 10_000, Duration::from_secs(300))
    }

    pub fn with_cache_limits(
        kms: aws_sdk_kms::Client,
        key_id: impl Into<String>,
        max_entries: usize,
        max_age: Duration,
    ) -> Self {
        Self {
            kms,
            key_id: key_id.into(),
            cache: Mutex::new(KeyCache {
                entries: HashMap::new(),
                max_entries: max_entries.max(1),
                max_age,
            }),
        }
    }

    fn cache_id(wrapped: &[u8]) -> [u8; 32] {
        Sha256::digest(wrapped).into()
    }

    /// A fresh AES-256 data key from KMS under `context` (cached warm).
    ///
    /// # Errors
    /// [`CryptoError::Kms`] when KMS refuses; [`CryptoError::Malformed`] for an
    /// answer without a 32-byte plaintext or a wrapped key.
    #[tracing::instrument(skip_all)]
    pub async fn generate(&self, context: &BTreeMap<String, String>) -> Result<DataKey, CryptoError> {
        let out = self
            .kms
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(aws_sdk_kms::types::DataKeySpec::Aes256)
            .set_encryption_context(Some(context.clone().into_iter().collect()))
            .send()
            .await
            .map_err(|e| CryptoError::Kms(aws_sdk_kms::error::DisplayErrorContext(e).to_string()))?;
        let plain: [u8; 32] = out
            .plaintext()
            .map(|b| b.as_ref())
            .and_then(|b| b.try_into().ok())
            .ok_or(CryptoError::Malformed)?;
        let wrapped = out
            .ciphertext_blob()
            .map(|b| b.as_ref().to_vec())
            .ok_or(CryptoError::Malformed)?;
        let plain = Arc::new(plain);
        self.cache
            .lock()
            .expect("key cache lock")
            .insert(Self::cache_id(&wrapped), plain.clone());
        Ok(DataKey { plain, wrapped })
    }

    /// The unwrapped key if this warm instance has it (no KMS call).
    pub fn cached(&self, wrapped: &[u8]) -> Option<DataKey> {
        let plain = self
            .cache
            .lock()
            .expect("key cache lock")
            .get(&Self::cache_id(wrapped))?;
        Some(DataKey {
            plain,
            wrapped: wrapped.to_vec(),
        })
    }

    /// Puts a key into the warm cache (keys from `generate` are cached already).
    pub fn remember(&self, key: &DataKey) {
        self.cache
            .lock()
            .expect("key cache lock")
            .insert(Self::cache_id(&key.wrapped), key.plain.clone());
    }

    /// The data key `wrapped` under `context`: from the warm cache, else KMS Decrypt.
    ///
    /// # Errors
    /// [`CryptoError::Kms`] when KMS refuses (wrong context, shredded key, AWS
    /// down); [`CryptoError::Malformed`] for an answer that is not a 32-byte key.
    #[tracing::instrument(skip_all)]
    pub async fn unwrap(&self, wrapped: &[u8], context: &BTreeMap<String, String>) -> Result<DataKey, CryptoError> {
        let id = Self::cache_id(wrapped);
        if let Some(plain) = self.cache.lock().expect("key cache lock").get(&id) {
            return Ok(DataKey {
                plain,
                wrapped: wrapped.to_vec(),
            });
        }
        let out = self
            .kms
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(wrapped))
            .set_encryption_context(Some(context.clone().into_iter().collect()))
            .send()
            .await
            .map_err(|e| {
                let err = aws_sdk_kms::error::DisplayErrorContext(&e).to_string();
                match e.into_service_error() {
                    aws_sdk_kms::operation::decrypt::DecryptError::InvalidCiphertextException(_) => {
                        CryptoError::Undecryptable
                    }
                    _ => CryptoError::Kms(err),
                }
            })?;
        let plain: [u8; 32] = out
            .plaintext()
            .map(|b| b.as_ref())
            .and_then(|b| b.try_into().ok())
            .ok_or(CryptoError::Malformed)?;
        let plain = Arc::new(plain);
        self.cache.lock().expect("key cache lock").insert(id, plain.clone());
        Ok(DataKey {
            plain,
            wrapped: wrapped.to_vec(),
        })
    }

    /// Unwraps a subject's data key, whichever pseudonym key named the
    /// subject in its encryption context when it was wrapped: the current
    /// one first, then older ones and the unkeyed form (a rotation costs one
    /// refused KMS call per older key, once per warm instance).
    ///
    /// # Errors
    /// [`CryptoError::Undecryptable`] when no context opens it, else as
    /// [`KeyRing::unwrap`].
    pub async fn unwrap_subject(&self, wrapped: &[u8], page: &PageId, psid: &Psid) -> Result<DataKey, CryptoError> {
        for pseudonym in crate::pseudonym::keys().subject_lookups(page, psid) {
            match self.unwrap(wrapped, &subject_key_context_with(page, pseudonym)).await {
                Err(CryptoError::Undecryptable) => continue,
                other => return other,
            }
        }
        Err(CryptoError::Undecryptable)
    }

    /// Drops a key from this instance's cache (erasure).
    pub fn forget(&self, wrapped: &[u8]) {
        self.cache
            .lock()
            .expect("key cache lock")
            .entries
            .remove(&Self::cache_id(wrapped));
    }

    pub fn cached_keys(&self) -> usize {
        self.cache.lock().expect("key cache lock").entries.len()
    }
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

    #[test]
    fn the_cache_is_bounded_and_ages_out() {
        let mut cache = KeyCache {
            entries: HashMap::new(),
            max_entries: 2,
            max_age: Duration::from_secs(60),
        };
        for i in 0..5u8 {
            cache.insert([i; 32], Arc::new([i; 32]));
        }
        assert_eq!(cache.entries.len(), 2);
        assert!(cache.get(&[4; 32]).is_some());
        let mut stale = KeyCache {
            entries: HashMap::new(),
            max_entries: 2,
            max_age: Duration::ZERO,
        };
        stale.insert([1; 32], Arc::new([1; 32]));
        assert!(stale.get(&[1; 32]).is_none());
    }
}
