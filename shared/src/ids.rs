//! Parse-once identifiers: raw strings stop at the handler edge.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid {kind}: {reason}")]
pub struct IdError {
    pub kind: &'static str,
    pub reason: &'static str,
}

/// Most digits a Meta id has: Meta's ids are 64-bit integers (`u64::MAX`
/// has 20 digits).
pub const META_ID_MAX_DIGITS: usize = 20;

/// Meta's ids (a Page, an Instagram account, a PSID or IGSID, an app-scoped
/// user id) are decimal numbers: 1 to [`META_ID_MAX_DIGITS`] ASCII digits
/// without a leading zero, so one id has one spelling. Nothing else can
/// reach a storage key, a path or a log as an id.
///
/// # Errors
/// [`IdError`] naming `kind` and why: `empty`, `not digits`, `too long` or
/// `leading zero`.
pub fn check_meta_id(kind: &'static str, raw: &str) -> Result<(), IdError> {
    let reason = if raw.is_empty() {
        "empty"
    } else if !raw.bytes().all(|b| b.is_ascii_digit()) {
        "not digits"
    } else if raw.len() > META_ID_MAX_DIGITS {
        "too long"
    } else if raw.starts_with('0') {
        "leading zero"
    } else {
        return Ok(());
    };
    Err(IdError { kind, reason })
}

/// Our own broadcast ids: 1 to 64 lowercase hex digits ([`BroadcastId::generate`]
/// makes 32).
fn check_broadcast_id(kind: &'static str, raw: &str) -> Result<(), IdError> {
    let reason = if raw.is_empty() {
        "empty"
    } else if raw.len() > 64 {
        "too long"
    } else if !raw.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        "not hex"
    } else {
        return Ok(());
    };
    Err(IdError { kind, reason })
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident($repr:ty), $kind:literal, $check:path) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name($repr);

        impl $name {
            /// `raw` as this id, once its form is checked.
            ///
            /// # Errors
            /// [`IdError`] naming the kind and why, when `raw` is not of
            /// this id's form.
            pub fn parse(raw: impl AsRef<str>) -> Result<Self, IdError> {
                let raw = raw.as_ref();
                $check($kind, raw)?;
                <$repr>::try_from(raw).map(Self).map_err(|_| IdError { kind: $kind, reason: "too long" })
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
                id.0.to_string()
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// A Meta id's digits (at most [`META_ID_MAX_DIGITS`]), held inline: making
/// or cloning one (every event of an entry, every store call holds its
/// page's id) copies 24 bytes, with neither an allocation nor a shared count
/// to update (the webhook hot path, `webhook-bench`).
type MetaIdDigits = arrayvec::ArrayString<META_ID_MAX_DIGITS>;

id_type!(
    /// A Facebook Page id or an Instagram account id (`entry[].id`): Meta's
    /// decimal id ([`check_meta_id`]).
    PageId(MetaIdDigits), "page id", check_meta_id
);
id_type!(
    /// A page-scoped user id (PSID, or IGSID on Instagram): Meta's decimal id
    /// ([`check_meta_id`]). Personal data: never log it raw, use
    /// [`crate::telemetry::subject_hash`].
    Psid(MetaIdDigits), "psid", check_meta_id
);
/// Meta's message id (`message.mid`, `postback.mid`), in whatever format
/// Meta used when it was issued (`m_…`, the older `mid.$cAA…`, Instagram's
/// long base64 ids). Any non-empty string is accepted: a mid is never a
/// reason to drop an event. Where it becomes part of a storage key,
/// [`Mid::key`] hashes the ones that could break the key.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Mid(std::sync::Arc<str>);

/// Longest mid used verbatim in a key (bytes); longer ones are hashed.
pub const MID_KEY_MAX: usize = 256;

impl Mid {
    /// # Errors
    /// [`IdError`] when `raw` is empty.
    pub fn parse(raw: impl AsRef<str>) -> Result<Self, IdError> {
        let raw = raw.as_ref();
        if raw.is_empty() {
            return Err(IdError {
                kind: "mid",
                reason: "empty",
            });
        }
        Ok(Self(raw.into()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The mid as a key part: itself when it is printable ASCII without `#`
    /// (our key separator) and at most [`MID_KEY_MAX`] bytes, else `h:` and
    /// 40 hex digits of its SHA-256. Deterministic, so a retry finds it.
    /// A mid that is its own key shares its text.
    pub fn key(&self) -> std::sync::Arc<str> {
        // Without short-circuiting, so the check runs over many bytes at once.
        let safe = self.0.len() <= MID_KEY_MAX
            && self
                .0
                .bytes()
                .fold(true, |ok, b| ok & (b.is_ascii_graphic() & (b != b'#')));
        if safe {
            self.0.clone()
        } else {
            use sha2::{Digest, Sha256};
            format!("h:{}", &hex::encode(Sha256::digest(self.0.as_bytes()))[..40]).into()
        }
    }
}

impl fmt::Display for Mid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

id_type!(
    /// A broadcast's id (ours, random: 32 lowercase hex characters).
    /// Shared, not copied, when cloned.
    BroadcastId(std::sync::Arc<str>), "broadcast id", check_broadcast_id
);

impl BroadcastId {
    pub fn generate() -> Self {
        use rand::RngCore;
        let mut bytes = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut bytes);
        Self(hex::encode(bytes).into())
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

/// A fresh, unguessable id, 24 hex digits (erasure requests, also Meta's
/// confirmation code; sweep runs; export and chunk object names).
pub fn new_request_id() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A new lead's generation ([`crate::lead::Subscriber::generation`]): 16
/// random hex digits.
pub fn new_generation() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason_page(raw: &str) -> &'static str {
        PageId::parse(raw).map(|_| "ok").unwrap_or_else(|e| e.reason)
    }

    fn reason_psid(raw: &str) -> &'static str {
        Psid::parse(raw).map(|_| "ok").unwrap_or_else(|e| e.reason)
    }

    #[test]
    fn page_ids_and_psids_are_metas_decimal_ids() {
        for ok in [
            "1",
            "9",
            "100000000000011",
            "1784140000000035",
            "2000000000000001",
            "9223372036854775807",
            "18446744073709551615",
            "99999999999999999999",
        ] {
            assert_eq!(PageId::parse(ok).unwrap().as_str(), ok);
            assert_eq!(Psid::parse(ok).unwrap().as_str(), ok);
        }
        assert_eq!(META_ID_MAX_DIGITS, u64::MAX.to_string().len());
    }

    #[test]
    fn anything_but_metas_decimal_ids_is_refused_with_its_reason() {
        let cases: &[(&str, &str)] = &[
            ("", "empty"),
            ("..", "not digits"),
            (".", "not digits"),
            ("PAGE#../x", "not digits"),
            ("abc/../x", "not digits"),
            ("a.b", "not digits"),
            ("1.2", "not digits"),
            ("1/2", "not digits"),
            ("1:2", "not digits"),
            ("1=2", "not digits"),
            ("1+2", "not digits"),
            ("+12", "not digits"),
            ("-12", "not digits"),
            ("1_2", "not digits"),
            ("1-2", "not digits"),
            ("12#34", "not digits"),
            ("12 34", "not digits"),
            (" 1234", "not digits"),
            ("1234\n", "not digits"),
            ("12%2F34", "not digits"),
            ("PAGE1", "not digits"),
            ("PSID", "not digits"),
            ("abc", "not digits"),
            ("1e15", "not digits"),
            ("0x1F", "not digits"),
            ("\u{ff11}\u{ff12}", "not digits"),
            ("\u{0661}\u{0662}", "not digits"),
            ("0", "leading zero"),
            ("00", "leading zero"),
            ("0123", "leading zero"),
            ("012345678901234567", "leading zero"),
            ("123456789012345678901", "too long"),
            ("100000000000000000000", "too long"),
        ];
        for (raw, reason) in cases {
            assert_eq!(reason_page(raw), *reason, "page id {raw:?}");
            assert_eq!(reason_psid(raw), *reason, "psid {raw:?}");
        }
        assert_eq!(reason_page(&"1".repeat(META_ID_MAX_DIGITS + 1)), "too long");
        assert_eq!(reason_page(&"1".repeat(10_000)), "too long");
        assert_eq!(reason_page(&"a".repeat(10_000)), "not digits");
    }

    #[test]
    fn the_error_names_the_kind_and_the_reason() {
        let page = PageId::parse("..").unwrap_err();
        assert_eq!((page.kind, page.reason), ("page id", "not digits"));
        assert_eq!(page.to_string(), "invalid page id: not digits");
        let psid = Psid::parse("0123").unwrap_err();
        assert_eq!(psid.to_string(), "invalid psid: leading zero");
        assert_eq!(
            check_meta_id("asid", "").unwrap_err().to_string(),
            "invalid asid: empty"
        );
    }

    #[test]
    fn ids_in_jobs_and_bodies_are_checked_when_deserialized() {
        let page: PageId = serde_json::from_str("\"1000000000000001\"").unwrap();
        assert_eq!(page.as_str(), "1000000000000001");
        assert_eq!(serde_json::to_string(&page).unwrap(), "\"1000000000000001\"");
        for bad in ["\"..\"", "\"PAGE1\"", "\"0\"", "\"\"", "\"1=2\""] {
            assert!(serde_json::from_str::<PageId>(bad).is_err(), "{bad}");
            assert!(serde_json::from_str::<Psid>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn broadcast_ids_are_ours_lowercase_hex() {
        let generated = BroadcastId::generate();
        assert_eq!(BroadcastId::parse(generated.as_str()).unwrap(), generated);
        assert_eq!(generated.as_str().len(), 32);
        assert!(BroadcastId::parse("abc").is_ok());
        assert!(
            BroadcastId::parse("0123456789abcdef").is_ok(),
            "a hex id may start with 0"
        );
        for (raw, reason) in [
            ("", "empty"),
            ("..", "not hex"),
            ("../x", "not hex"),
            ("ABC", "not hex"),
            ("doesnotexist", "not hex"),
            (&*"a".repeat(65), "too long"),
        ] {
            assert_eq!(BroadcastId::parse(raw).unwrap_err().reason, reason, "{raw:?}");
        }
    }

    #[test]
    fn any_mid_is_accepted_and_only_key_breaking_ones_are_hashed() {
        assert_eq!(&*Mid::parse("mid.$cAAJs1x").unwrap().key(), "mid.$cAAJs1x");
        assert_eq!(&*Mid::parse("m_abc").unwrap().key(), "m_abc");
        // A key breaker anywhere, the last of many bytes included.
        let late_hash = format!("m_{}#", "0".repeat(40));
        for odd in [
            "a#b",
            "with space",
            "é",
            "\u{7f}x",
            "tab\t",
            &late_hash,
            &"x".repeat(MID_KEY_MAX + 1),
        ] {
            let key = Mid::parse(odd).unwrap().key();
            assert!(key.starts_with("h:") && key.len() == 42, "{odd:?} -> {key}");
        }
        assert_ne!(Mid::parse("a#b").unwrap().key(), Mid::parse("a#c").unwrap().key());
        assert!(Mid::parse("").is_err());
    }

    #[test]
    fn psid_debug_never_shows_the_raw_id() {
        let psid = Psid::parse("2000000000000001").unwrap();
        assert!(!format!("{psid:?}").contains("2000000000000001"));
    }
}
