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

impl<T> Field<T> {
    /// The value after the change, from what was `stored`.
    pub fn apply(self, stored: Option<T>) -> Option<T> {
        match self {
            Field::Keep => stored,
            Field::Clear => None,
            Field::Set(v) => Some(v),
        }
    }
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

/// A page's settings after a [`PageChange`].
#[derive(Debug, Clone, PartialEq)]
pub struct PageSettings {
    pub retention_days: u32,
    pub region: Option<String>,
    pub protection: Option<crate::outcomes::Protection>,
}

impl PageChange<'_> {
    /// The settings after this change to the `stored` page (`None`: a page
    /// being connected, which starts from the defaults): what the request
    /// left out stays as stored.
    pub fn apply(&self, stored: Option<&Page>, default_retention_days: u32) -> PageSettings {
        PageSettings {
            retention_days: self
                .retention_days
                .apply(stored.map(|p| p.retention_days))
                .unwrap_or(default_retention_days),
            region: self
                .region
                .map(str::to_string)
                .apply(stored.and_then(|p| p.region.clone())),
            protection: self.protection.apply(stored.and_then(|p| p.protection)),
        }
    }
}

impl<T> Field<T> {
    fn map<U>(self, f: impl FnOnce(T) -> U) -> Field<U> {
        match self {
            Field::Keep => Field::Keep,
            Field::Clear => Field::Clear,
            Field::Set(v) => Field::Set(f(v)),
        }
    }
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
    use crate::outcomes::Protection;

    fn stored() -> Page {
        Page {
            page_id: PageId::parse("1").unwrap(),
            sealed_token: vec![1],
            data_key: vec![2],
            retention_days: 365,
            region: Some("EU".into()),
            protection: Some(Protection::new(0.05, 10).unwrap()),
            updated_at_ms: 1,
        }
    }

    #[test]
    fn a_change_that_leaves_a_field_out_keeps_what_is_stored() {
        let only_protection = PageChange {
            protection: Field::Set(Protection::new(0.02, 200).unwrap()),
            ..PageChange::default()
        };
        let after = only_protection.apply(Some(&stored()), 730);
        assert_eq!(after.retention_days, 365);
        assert_eq!(after.region.as_deref(), Some("EU"));
        assert_eq!(after.protection, Some(Protection::new(0.02, 200).unwrap()));
        assert_eq!(
            PageChange::default().apply(Some(&stored()), 730),
            PageSettings {
                retention_days: 365,
                region: Some("EU".into()),
                protection: stored().protection
            }
        );
    }

    #[test]
    fn a_null_field_goes_back_to_its_default() {
        let clear = PageChange {
            retention_days: Field::Clear,
            region: Field::Clear,
            protection: Field::Clear,
        };
        assert_eq!(
            clear.apply(Some(&stored()), 730),
            PageSettings {
                retention_days: 730,
                region: None,
                protection: None
            }
        );
    }

    #[test]
    fn a_new_page_starts_from_the_defaults_and_takes_what_is_set() {
        let change = PageChange {
            region: Field::Set("UK"),
            ..PageChange::default()
        };
        assert_eq!(
            change.apply(None, 730),
            PageSettings {
                retention_days: 730,
                region: Some("UK".into()),
                protection: None
            }
        );
    }
}
