//! A page registered for sending (its access token sealed under the page's
//! own data key).

use crate::ids::PageId;

/// A registered page. The access token is sealed under the page's data key.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub page_id: PageId,
    pub sealed_token: Vec<u8>,
    pub data_key: Vec<u8>,
    pub retention_days: u32,
    /// Business region, for marketing-messages availability (AU, EU, JP, KR, UK).
    pub region: Option<String>,
    /// When its broadcasts pause themselves ([`crate::outcomes::Protection`];
    /// `None`: the defaults).
    pub protection: Option<crate::outcomes::Protection>,
    pub updated_at_ms: i64,
}

impl Page {
    /// The page's access token, opened (one KMS Decrypt of the page's data
    /// key). A secret: never logged.
    ///
    /// # Errors
    /// [`crate::crypto::CryptoError`] when the key cannot be unwrapped or the
    /// token does not open (or is not UTF-8).
    pub async fn open_token(
        &self,
        keys: &crate::crypto::KeyRing,
    ) -> Result<secrecy::SecretString, crate::crypto::CryptoError> {
        use crate::crypto;
        let key = keys
            .unwrap(&self.data_key, &crypto::page_key_context(&self.page_id))
            .await?;
        let token = crypto::open(&key, &crypto::page_token_aad(&self.page_id), &self.sealed_token)?;
        String::from_utf8(token)
            .map(secrecy::SecretString::from)
            .map_err(|_| crypto::CryptoError::Malformed)
    }
}

/// The longest page access token accepted, in bytes. Meta's tokens are a
/// few hundred characters; the bound keeps a sealed token small.
pub const ACCESS_TOKEN_MAX_BYTES: usize = 4096;

/// An access token `PUT /v1/pages/<page>` refuses (`invalid_access_token`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("access_token must be 1 to {ACCESS_TOKEN_MAX_BYTES} visible ASCII characters (a Meta page access token), without spaces or control characters")]
pub struct InvalidAccessToken;

/// A page access token as given, with surrounding whitespace (a pasted
/// line's newline) trimmed. Meta's tokens are printable ASCII without
/// spaces (they travel in a URL's query, `access_token=`); anything else
/// would be stored and then fail every send with Meta's invalid-token error,
/// pausing the page's broadcasts, so it is refused when given.
///
/// # Errors
/// [`InvalidAccessToken`] when the trimmed token is empty, longer than
/// [`ACCESS_TOKEN_MAX_BYTES`], or holds anything but visible ASCII.
pub fn parse_access_token(token: &str) -> Result<&str, InvalidAccessToken> {
    let token = token.trim();
    let visible = token.bytes().all(|b| b.is_ascii_graphic());
    if token.is_empty() || token.len() > ACCESS_TOKEN_MAX_BYTES || !visible {
        return Err(InvalidAccessToken);
    }
    Ok(token)
}

/// One optional field of a partial update: absent keeps what is stored,
/// `null` clears it (back to the default), a value sets it. A `PUT` that
/// omits a field must never change it (issue 13, point 6).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Field<T> {
    /// Absent from the request: keep the stored value.
    #[default]
    Keep,
    /// `null`: clear it (the default applies).
    Clear,
    Set(T),
}

impl<T> From<Option<Option<T>>> for Field<T> {
    /// serde's reading of an optional, nullable field (absent: `None`,
    /// `null`: `Some(None)`).
    fn from(v: Option<Option<T>>) -> Self {
        match v {
            None => Field::Keep,
            Some(None) => Field::Clear,
            Some(Some(v)) => Field::Set(v),
        }
    }
}

/// The settings `PUT /v1/pages/<page>` changes, each a [`Field`], already
/// checked (retention within bounds, region two letters, protection valid).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PageChange<'a> {
    /// Days to keep the page's data; cleared: `default_retention_days`.
    pub retention_days: Field<u32>,
    /// Business region (upper case); cleared: none.
    pub region: Field<&'a str>,
    /// Protection thresholds; cleared: the defaults.
    pub protection: Field<crate::outcomes::Protection>,
}

/// A page's settings after a [`PageChange`] (retention in days; `None`
/// region: none; `None` protection: the defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct PageSettings {
    pub retention_days: u32,
    pub region: Option<String>,
    pub protection: Option<crate::outcomes::Protection>,
}

/// A page as listed (`GET /v1/pages`): what is stored about it that is safe
/// to show. Never the token or the data key: only whether a token is set.
#[derive(Debug, Clone, PartialEq)]
pub struct PageSummary {
    pub page_id: PageId,
    /// An access token is stored (the page was connected with
    /// `PUT /v1/pages/<page>`); false for a page ingest has only seen.
    pub token_set: bool,
    /// Days its data is kept; `None` when never set (the default applies).
    pub retention_days: Option<u32>,
    pub region: Option<String>,
    /// Its own protection thresholds; `None`: the defaults.
    pub protection: Option<crate::outcomes::Protection>,
    /// When it was first connected (Unix ms; `None` before the first `PUT`,
    /// or for pages connected before this was recorded).
    pub connected_at_ms: Option<i64>,
    /// The last `PUT` (Unix ms).
    pub updated_at_ms: Option<i64>,
    /// When ingest first saw data of it (Unix ms).
    pub first_seen_at_ms: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_left_out_is_kept_null_is_cleared_and_a_value_is_set() {
        let absent: Field<u32> = None.into();
        let null: Field<u32> = Some(None).into();
        let value: Field<u32> = Some(Some(90)).into();
        assert_eq!((absent, null, value), (Field::Keep, Field::Clear, Field::Set(90)));
    }

    #[test]
    fn an_access_token_is_visible_ascii_trimmed_of_a_pasted_newline() {
        assert_eq!(parse_access_token("EAAGm0PX4ZCps\n"), Ok("EAAGm0PX4ZCps"));
        assert_eq!(
            parse_access_token(&"a".repeat(ACCESS_TOKEN_MAX_BYTES)).map(str::len),
            Ok(4096)
        );
        for bad in [
            "",
            "  \n",
            "EAAG\nm0PX",
            "EAAG\rm0PX",
            "EAAG\u{0}m0PX",
            "EAAG m0PX",
            "EAAG\tm0PX",
            "EAAG\u{7f}",
            "EAAGé",
            "EAAG\u{200b}m0PX",
        ] {
            assert_eq!(parse_access_token(bad), Err(InvalidAccessToken), "{bad:?}");
        }
        assert!(parse_access_token(&"a".repeat(ACCESS_TOKEN_MAX_BYTES + 1)).is_err());
    }
}
