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
