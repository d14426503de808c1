//! Keyed pseudonyms: how optcast names a person without their id. Meta's ids
//! are 15–17 digits, so an unkeyed hash of one is reversed by trying them
//! all; a pseudonym is HMAC-SHA256 under a secret key instead, written
//! `<key id>.<64 hex>` so the key can rotate: new records use the current
//! key, lookups try every key (current first), and records written under an
//! older key still match while it stays in the key set. Records from before
//! keyed pseudonyms (plain 64-hex SHA-256) are still found
//! ([`Pseudonyms::subject_lookups`] includes that form) until they age out.
//!
//! The key set comes from Secrets Manager in AWS (`PSEUDONYM_SECRET_ARN`)
//! or `OPTCAST_PSEUDONYM_KEYS` locally, as JSON
//! `{"current": "k2", "keys": {"k1": "<base64>", "k2": "<base64>"}}` (each
//! key at least 32 random bytes), and is installed once per cold start
//! ([`install`]). Without one, a fixed development key (id `dev`) is used
//! and every function running in Lambda refuses to start
//! ([`crate::config::install_pseudonyms`]).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::ids::{PageId, Psid};

type HmacSha256 = Hmac<Sha256>;

/// Shortest key accepted (bytes).
pub const MIN_KEY_BYTES: usize = 32;
/// The key id of the development key used when none is installed.
pub const DEV_KEY_ID: &str = "dev";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PseudonymError {
    #[error("pseudonym keys are not valid JSON of the documented shape")]
    Shape,
    #[error("pseudonym key ids are 1 to 16 characters a-z, 0-9 or -")]
    KeyId,
    #[error("a pseudonym key is not base64 of at least 32 bytes")]
    KeyBytes,
    #[error("the current pseudonym key is not in the key set")]
    NoCurrent,
}

/// A key set: the current key and the older ones still matched.
#[derive(Clone)]
pub struct Pseudonyms {
    current: String,
    keys: BTreeMap<String, Vec<u8>>,
}

impl std::fmt::Debug for Pseudonyms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pseudonyms")
            .field("current", &self.current)
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct KeySetJson {
    current: String,
    keys: BTreeMap<String, String>,
}

fn valid_key_id(id: &str) -> bool {
    (1..=16).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

impl Pseudonyms {
    /// # Errors
    /// [`PseudonymError`] naming what is wrong (never a key).
    pub fn parse(json: &str) -> Result<Self, PseudonymError> {
        let set: KeySetJson = serde_json::from_str(json).map_err(|_| PseudonymError::Shape)?;
        let mut keys = BTreeMap::new();
        for (id, b64) in set.keys {
            if !valid_key_id(&id) {
                return Err(PseudonymError::KeyId);
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|_| PseudonymError::KeyBytes)?;
            if bytes.len() < MIN_KEY_BYTES {
                return Err(PseudonymError::KeyBytes);
            }
            keys.insert(id, bytes);
        }
        if !keys.contains_key(&set.current) {
            return Err(PseudonymError::NoCurrent);
        }
        Ok(Self {
            current: set.current,
            keys,
        })
    }

    /// The development key set (local runs and tests only; its key is in
    /// this source file, so it protects nothing).
    pub fn development() -> Self {
        Self {
            current: DEV_KEY_ID.into(),
            keys: BTreeMap::from([(
                DEV_KEY_ID.into(),
                b"optcast development pseudonym key, never for production".to_vec(),
            )]),
        }
    }

    fn mac(key: &[u8], domain: &str, parts: &[&str]) -> [u8; 32] {
        let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts any key length");
        // Length-prefixed, so ("12","3") and ("1","23") differ.
        for p in std::iter::once(domain).chain(parts.iter().copied()) {
            mac.update(&(p.len() as u32).to_be_bytes());
            mac.update(p.as_bytes());
        }
        mac.finalize().into_bytes().into()
    }

    /// `<key id>.<64 hex>` of `parts` in `domain` under the key `id`.
    pub fn digest_with(&self, id: &str, domain: &str, parts: &[&str]) -> Option<String> {
        let key = self.keys.get(id)?;
        Some(format!("{id}.{}", hex::encode(Self::mac(key, domain, parts))))
    }

    /// The pseudonym under the current key: what new records carry.
    pub fn digest(&self, domain: &str, parts: &[&str]) -> String {
        self.digest_with(&self.current, domain, parts)
            .expect("the current key is in the set")
    }

    /// Every form a record about `page`/`psid` may carry, current first:
    /// the pseudonym under each key, then the unkeyed SHA-256 written
    /// before keyed pseudonyms.
    pub fn subject_lookups(&self, page: &PageId, psid: &Psid) -> Vec<String> {
        let parts = [page.as_str(), psid.as_str()];
        let mut out = vec![self.digest(SUBJECT, &parts)];
        out.extend(
            self.keys
                .keys()
                .filter(|id| **id != self.current)
                .filter_map(|id| self.digest_with(id, SUBJECT, &parts)),
        );
        out.push(legacy_subject_digest(page, psid));
        out
    }

    /// The pseudonym of a lead under the current key.
    pub fn subject(&self, page: &PageId, psid: &Psid) -> String {
        self.digest(SUBJECT, &[page.as_str(), psid.as_str()])
    }
}

/// The domain of a lead's pseudonym (page and PSID).
pub const SUBJECT: &str = "subject";
/// The domain of log tags.
pub const LOG: &str = "log";
/// The domain of an app-scoped id (Meta's deletion callback).
pub const APP_SCOPED: &str = "app-scoped";

/// The unkeyed digest records carried before keyed pseudonyms.
pub fn legacy_subject_digest(page: &PageId, psid: &Psid) -> String {
    hex::encode(
        Sha256::new()
            .chain_update(page.as_str())
            .chain_update([0])
            .chain_update(psid.as_str())
            .finalize(),
    )
}

static INSTALLED: OnceLock<Pseudonyms> = OnceLock::new();

/// Installs the key set for this process (once per cold start; a second
/// call keeps the first). Returns whether this call installed it.
pub fn install(keys: Pseudonyms) -> bool {
    INSTALLED.set(keys).is_ok()
}

/// The installed key set, or the development one.
pub fn keys() -> &'static Pseudonyms {
    static DEV: OnceLock<Pseudonyms> = OnceLock::new();
    INSTALLED
        .get()
        .unwrap_or_else(|| DEV.get_or_init(Pseudonyms::development))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(current: &str) -> Pseudonyms {
        let k = |b: u8| base64::engine::general_purpose::STANDARD.encode([b; 32]);
        Pseudonyms::parse(&format!(
            r#"{{"current":"{current}","keys":{{"k1":"{}","k2":"{}"}}}}"#,
            k(1),
            k(2)
        ))
        .unwrap()
    }

    fn lead() -> (PageId, Psid) {
        (PageId::parse("101").unwrap(), Psid::parse("2001").unwrap())
    }

    #[test]
    fn a_pseudonym_names_its_key_and_depends_on_it() {
        let (page, psid) = lead();
        let under_k1 = set("k1").subject(&page, &psid);
        let under_k2 = set("k2").subject(&page, &psid);
        assert!(under_k1.starts_with("k1.") && under_k1.len() == 3 + 64, "{under_k1}");
        assert_ne!(under_k1[3..], under_k2[3..]);
        assert_ne!(&under_k1[3..], legacy_subject_digest(&page, &psid));
        // Without the key it cannot be recomputed: another key with the same
        // id gives another pseudonym.
        let other = Pseudonyms::parse(&format!(
            r#"{{"current":"k1","keys":{{"k1":"{}"}}}}"#,
            base64::engine::general_purpose::STANDARD.encode([9u8; 32])
        ))
        .unwrap();
        assert_ne!(other.subject(&page, &psid), under_k1);
    }

    #[test]
    fn after_a_rotation_records_of_the_old_key_and_before_keys_still_match() {
        let (page, psid) = lead();
        let written_before = set("k1").subject(&page, &psid);
        let rotated = set("k2");
        let lookups = rotated.subject_lookups(&page, &psid);
        assert_eq!(lookups[0], rotated.subject(&page, &psid), "current first");
        assert!(lookups.contains(&written_before));
        assert!(lookups.contains(&legacy_subject_digest(&page, &psid)));
    }

    #[test]
    fn parts_are_length_prefixed() {
        let keys = set("k1");
        assert_ne!(keys.digest(SUBJECT, &["12", "3"]), keys.digest(SUBJECT, &["1", "23"]));
        assert_ne!(keys.digest(SUBJECT, &["1"]), keys.digest(LOG, &["1"]));
    }

    #[test]
    fn bad_key_sets_are_refused_without_naming_a_key() {
        let good = base64::engine::general_purpose::STANDARD.encode([1u8; 32]);
        let short = base64::engine::general_purpose::STANDARD.encode([1u8; 16]);
        for (json, err) in [
            ("{}".to_string(), PseudonymError::Shape),
            (
                format!(r#"{{"current":"k1","keys":{{"K 1":"{good}"}}}}"#),
                PseudonymError::KeyId,
            ),
            (
                format!(r#"{{"current":"k1","keys":{{"k1":"{short}"}}}}"#),
                PseudonymError::KeyBytes,
            ),
            (
                r#"{"current":"k1","keys":{"k1":"%%%"}}"#.to_string(),
                PseudonymError::KeyBytes,
            ),
            (
                format!(r#"{{"current":"k9","keys":{{"k1":"{good}"}}}}"#),
                PseudonymError::NoCurrent,
            ),
        ] {
            let got = Pseudonyms::parse(&json).unwrap_err();
            assert_eq!(got, err, "{json}");
            assert!(!got.to_string().contains(&good));
        }
    }
}
