//! Parse-once identifiers: raw strings stop at the handler edge.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid {kind}: {reason}")]
pub struct IdError {
    pub kind: &'static str,
    pub reason: &'static str,
}

fn check(kind: &'static str, raw: &str, max: usize) -> Result<(), IdError> {
    if raw.is_empty() {
        return Err(IdError { kind, reason: "empty" });
    }
    if raw.len() > max {
        return Err(IdError {
            kind,
            reason: "too long",
        });
    }
    // Meta ids are ASCII tokens; anything else (spaces, '#', control chars) would
    // also break our composite keys, so it is refused here.
    if !raw
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':' | b'=' | b'+' | b'/'))
    {
        return Err(IdError {
            kind,
            reason: "unexpected character",
        });
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $max:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: impl Into<String>) -> Result<Self, IdError> {
                let raw = raw.into();
                check($kind, &raw, $max)?;
                Ok(Self(raw))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(raw: String) -> Result<Self, IdError> {
                Self::parse(raw)
            }
        }
        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// A Facebook Page id or an Instagram account id (`entry[].id`).
    PageId, "page id", 64
);
id_type!(
    /// A page-scoped user id (PSID, or IGSID on Instagram). Personal data:
    /// never log it raw, use [`crate::telemetry::subject_hash`].
    Psid, "psid", 64
);
/// Meta's message id (`message.mid`, `postback.mid`), in whatever format
/// Meta used when it was issued (`m_…`, the older `mid.$cAA…`, Instagram's
/// long base64 ids). Any non-empty string is accepted: a mid is never a
/// reason to drop an event. Where it becomes part of a storage key,
/// [`Mid::key`] hashes the ones that could break the key.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Mid(String);

/// Longest mid used verbatim in a key (bytes); longer ones are hashed.
pub const MID_KEY_MAX: usize = 256;

impl Mid {
    /// # Errors
    /// [`IdError`] when `raw` is empty.
    pub fn parse(raw: impl Into<String>) -> Result<Self, IdError> {
        let raw = raw.into();
        if raw.is_empty() {
            return Err(IdError {
                kind: "mid",
                reason: "empty",
            });
        }
        Ok(Self(raw))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The mid as a key part: itself when it is printable ASCII without `#`
    /// (our key separator) and at most [`MID_KEY_MAX`] bytes, else `h:` and
    /// 40 hex digits of its SHA-256. Deterministic, so a retry finds it.
    pub fn key(&self) -> String {
        let safe = self.0.len() <= MID_KEY_MAX && self.0.bytes().all(|b| b.is_ascii_graphic() && b != b'#');
        if safe {
            self.0.clone()
        } else {
            use sha2::{Digest, Sha256};
            format!("h:{}", &hex::encode(Sha256::digest(self.0.as_bytes()))[..40])
        }
    }
}

impl fmt::Display for Mid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

id_type!(
    /// A broadcast's id (random, 32 hex characters).
    BroadcastId, "broadcast id", 64
);

impl BroadcastId {
    pub fn generate() -> Self {
        use rand::RngCore;
        let mut bytes = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut bytes);
        Self(hex::encode(bytes))
    }
}

impl fmt::Debug for BroadcastId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BroadcastId({})", self.0)
    }
}

impl fmt::Debug for PageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PageId({})", self.0)
    }
}
impl fmt::Debug for Mid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mid({})", self.0)
    }
}
impl fmt::Debug for Psid {
    // Debug output ends up in logs; a PSID is personal data.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Psid(#{})", crate::telemetry::subject_hash(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_refuse_empty_long_and_key_breaking_input() {
        assert!(PageId::parse("").is_err());
        assert!(PageId::parse("1".repeat(65)).is_err());
        assert!(Psid::parse("12#34").is_err());
        assert!(Psid::parse("12 34").is_err());
        assert!(Mid::parse("m_abc-DEF_12").is_ok());
    }

    #[test]
    fn any_mid_is_accepted_and_only_key_breaking_ones_are_hashed() {
        assert_eq!(Mid::parse("mid.$cAAJs1x").unwrap().key(), "mid.$cAAJs1x");
        assert_eq!(Mid::parse("m_abc").unwrap().key(), "m_abc");
        for odd in ["a#b", "with space", "é", &"x".repeat(MID_KEY_MAX + 1)] {
            let key = Mid::parse(odd).unwrap().key();
            assert!(key.starts_with("h:") && key.len() == 42, "{odd:?} -> {key}");
        }
        assert_ne!(Mid::parse("a#b").unwrap().key(), Mid::parse("a#c").unwrap().key());
        assert!(Mid::parse("").is_err());
    }

    #[test]
    fn psid_debug_never_shows_the_raw_id() {
        let psid = Psid::parse("1234567890").unwrap();
        assert!(!format!("{psid:?}").contains("1234567890"));
    }
}
