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
