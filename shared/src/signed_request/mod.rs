//! Meta's Data Deletion Request Callback (meta-platform.md §7): the
//! `signed_request=<sig>.<payload>` form field, both parts base64url. The
//! signature is HMAC-SHA256 with the app secret over the *encoded* payload.

use std::fmt;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::handshake::constant_time_eq;

type HmacSha256 = Hmac<Sha256>;

/// Meta sends no padding; a proxy or a hand-made request may add it.
const URL_SAFE_ANY_PAD: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Real requests are a few hundred bytes; anything far larger is not Meta's.
const MAX_LEN: usize = 8 * 1024;

/// Each variant is its own 400 code. The Display text never names the user
/// or the secret, so it can be logged and returned as is.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
pub enum SignedRequestError {
    #[error("signed_request is missing")]
    Missing,
    #[error("signed_request is not <sig>.<payload> in base64url")]
    Malformed,
    #[error("signed_request signature does not match")]
    BadSignature,
    #[error("signed_request algorithm is not HMAC-SHA256")]
    UnsupportedAlgorithm,
    #[error("signed_request payload is not valid")]
    BadPayload,
    /// `issued_at` missing, older than [`MAX_REQUEST_AGE_MS`] or more than
    /// [`MAX_ISSUED_AHEAD_MS`] ahead of our clock: a replayed or forged
    /// request is not a new erasure.
    #[error("signed_request issued_at is missing or outside the accepted window (24 hours old to 5 minutes ahead)")]
    OutsideWindow,
}

/// How old a deletion request may be when it arrives (ms): 24 hours. Meta
/// calls the URL when the person removes the app; a day covers its retries
/// and a delayed delivery, and a captured request cannot be replayed later.
pub const MAX_REQUEST_AGE_MS: i64 = 24 * 60 * 60 * 1000;
/// How far ahead of our clock `issued_at` may be (ms): five minutes of skew.
pub const MAX_ISSUED_AHEAD_MS: i64 = 5 * 60 * 1000;

impl SignedRequestError {
    /// A stable machine code for the JSON error body.
    pub fn code(self) -> &'static str {
        match self {
            SignedRequestError::Missing => "missing_signed_request",
            SignedRequestError::Malformed => "malformed_signed_request",
            SignedRequestError::BadSignature => "bad_signature",
            SignedRequestError::UnsupportedAlgorithm => "unsupported_algorithm",
            SignedRequestError::BadPayload => "bad_payload",
            SignedRequestError::OutsideWindow => "issued_at_outside_window",
        }
    }
}

/// A verified deletion request. `user_id` is an app-scoped id (ASID), not a
/// PSID: map it with `GET /{asid}/ids_for_pages` before erasing leads.
#[derive(Clone, PartialEq, Eq)]
pub struct DeletionRequest {
    pub user_id: String,
    /// Seconds since the Unix epoch, as Meta sends it.
    pub issued_at: Option<i64>,
    pub expires: Option<i64>,
    /// 32 hex characters derived from the request's signature: the same
    /// request sent again has the same code, so a replay is answered with
    /// the first request's confirmation instead of starting a new erasure.
    pub confirmation_code: String,
}

impl DeletionRequest {
    /// # Errors
    /// [`SignedRequestError::OutsideWindow`] unless `issued_at` is present and
    /// within [`MAX_REQUEST_AGE_MS`] before `now_ms` to [`MAX_ISSUED_AHEAD_MS`]
    /// after it.
    pub fn check_issued_at(&self, now_ms: i64) -> Result<(), SignedRequestError> {
        let issued_ms = self
            .issued_at
            .and_then(|s| s.checked_mul(1000))
            .ok_or(SignedRequestError::OutsideWindow)?;
        let window = now_ms.saturating_sub(MAX_REQUEST_AGE_MS)..=now_ms.saturating_add(MAX_ISSUED_AHEAD_MS);
        if window.contains(&issued_ms) {
            Ok(())
        } else {
            Err(SignedRequestError::OutsideWindow)
        }
    }
}

impl fmt::Debug for DeletionRequest {
    // Debug output ends up in logs; the ASID is personal data.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeletionRequest")
            .field(
                "user_id",
                &format_args!("#{}", crate::telemetry::subject_hash(&self.user_id)),
            )
            .field("issued_at", &self.issued_at)
            .field("expires", &self.expires)
            .field("confirmation_code", &self.confirmation_code)
            .finish()
    }
}

fn mac(app_secret: &[u8], encoded_payload: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(app_secret).expect("HMAC accepts any key length");
    mac.update(encoded_payload);
    mac
}

/// Verifies `signed_request` with the app secret and returns its payload.
/// The payload JSON is read only after the signature matches, so unsigned
/// input never reaches the JSON parser. `expires` is returned, not enforced:
/// the caller owns the clock.
///
/// # Errors
/// [`SignedRequestError`] when it is missing, malformed, signed with another
/// algorithm or key, or its payload is not a deletion request.
pub fn verify(signed_request: &str, app_secret: &[u8]) -> Result<DeletionRequest, SignedRequestError> {
    if signed_request.is_empty() {
        return Err(SignedRequestError::Missing);
    }
    if signed_request.len() > MAX_LEN {
        return Err(SignedRequestError::Malformed);
    }
    let (sig_b64, payload_b64) = signed_request.split_once('.').ok_or(SignedRequestError::Malformed)?;
    if sig_b64.is_empty() || payload_b64.is_empty() {
        return Err(SignedRequestError::Malformed);
    }
    let sig = URL_SAFE_ANY_PAD
        .decode(sig_b64)
        .map_err(|_| SignedRequestError::Malformed)?;
    if sig.len() != 32 {
        return Err(SignedRequestError::Malformed);
    }
    let payload = URL_SAFE_ANY_PAD
        .decode(payload_b64)
        .map_err(|_| SignedRequestError::Malformed)?;

    // Meta signs the encoded string, not the decoded JSON. No key, no
    // match: a blank secret would let anyone sign.
    if app_secret.trim_ascii().is_empty() {
        return Err(SignedRequestError::BadSignature);
    }
    let expected = mac(app_secret, payload_b64.as_bytes()).finalize().into_bytes();
    if !constant_time_eq(&expected, &sig) {
        return Err(SignedRequestError::BadSignature);
    }

    let v: Value = serde_json::from_slice(&payload).map_err(|_| SignedRequestError::BadPayload)?;
    if !v.is_object() {
        return Err(SignedRequestError::BadPayload);
    }
    if v["algorithm"].as_str() != Some("HMAC-SHA256") {
        return Err(SignedRequestError::UnsupportedAlgorithm);
    }
    let user_id = v["user_id"].as_str().ok_or(SignedRequestError::BadPayload)?;
    // An app-scoped id is one of Meta's decimal ids, like a PSID.
    crate::ids::check_meta_id("user_id", user_id).map_err(|_| SignedRequestError::BadPayload)?;
    let code = {
        use sha2::Digest;
        Sha256::new()
            .chain_update(b"optcast-deletion-request:")
            .chain_update(&sig)
            .finalize()
    };
    Ok(DeletionRequest {
        user_id: user_id.to_string(),
        issued_at: optional_i64(&v["issued_at"])?,
        expires: optional_i64(&v["expires"])?,
        confirmation_code: hex::encode(&code[..16]),
    })
}

/// Absent or null is `None`; anything but an integer is a bad payload.
fn optional_i64(v: &Value) -> Result<Option<i64>, SignedRequestError> {
    match v {
        Value::Null => Ok(None),
        v => v.as_i64().map(Some).ok_or(SignedRequestError::BadPayload),
    }
}

/// The `signed_request` value of an `application/x-www-form-urlencoded`
/// body, percent-decoded; `None` when absent or empty. The first occurrence
/// wins (the signature decides whether it is any good).
pub fn form_field(body: &[u8]) -> Option<String> {
    form_urlencoded::parse(body)
        .find(|(k, _)| k == "signed_request")
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty())
}

/// The `signed_request` Meta would send for `payload_json` (tests and the
/// local demo).
pub fn sign(payload_json: &[u8], app_secret: &[u8]) -> String {
    let payload_b64 = URL_SAFE_NO_PAD.encode(payload_json);
    let sig = mac(app_secret, payload_b64.as_bytes()).finalize().into_bytes();
    format!("{}.{}", URL_SAFE_NO_PAD.encode(sig), payload_b64)
}

#[cfg(test)]
mod tests;
