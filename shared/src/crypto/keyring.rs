//! Data keys from KMS, and the warm function's bounded cache of unwrapped
//! keys.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_kms::primitives::Blob;
use sha2::{Digest, Sha256};

use super::context::subject_key_context_with;
use super::{CryptoError, DataKey};
use crate::ids::{PageId, Psid};

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
    kms: crate::config::Kms,
    key_id: String,
    cache: Mutex<KeyCache>,
}

impl KeyRing {
    pub fn new(kms: impl Into<crate::config::Kms>, key_id: impl Into<String>) -> Self {
        Self::with_cache_limits(kms, key_id, 10_000, Duration::from_secs(300))
    }

    pub fn with_cache_limits(
        kms: impl Into<crate::config::Kms>,
        key_id: impl Into<String>,
        max_entries: usize,
        max_age: Duration,
    ) -> Self {
        Self {
            kms: kms.into(),
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

    /// A fresh AES-256 data key from KMS under `context`. Not cached: this
    /// instance opens a key it made through KMS, as any other instance
    /// would, so a role that makes a key but may not open it fails here as
    /// in AWS (the API's test send opened a page token with the key cached
    /// from the connect, never asking KMS, and every test passed while
    /// AWS refused each test send not served by that same warm instance).
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
        Ok(DataKey {
            plain: Arc::new(plain),
            wrapped,
        })
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

    /// Puts a key into the warm cache.
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
