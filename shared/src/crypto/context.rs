//! The contexts that bind key material and ciphertexts to their record:
//! KMS encryption contexts (which appear in CloudTrail, so they name a
//! subject by its keyed pseudonym, never by PSID) and the AES-GCM
//! associated data of sealed fields.

use std::collections::BTreeMap;

use crate::ids::{PageId, Psid};

/// The KMS encryption context of a new subject key. It appears in
/// CloudTrail, so it holds the subject's keyed pseudonym, never the PSID.
pub fn subject_key_context(page: &PageId, psid: &Psid) -> BTreeMap<String, String> {
    subject_key_context_with(page, subject_digest(page, psid))
}

pub(super) fn subject_key_context_with(page: &PageId, pseudonym: String) -> BTreeMap<String, String> {
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
