use super::*;
use base64::engine::general_purpose::URL_SAFE;

const SECRET: &[u8] = b"app-secret";
const PAYLOAD: &[u8] = br#"{"algorithm":"HMAC-SHA256","expires":1291840400,"issued_at":1291836800,"user_id":"218471"}"#;

fn expected() -> DeletionRequest {
    use sha2::Digest;
    let mut m = Hmac::<Sha256>::new_from_slice(SECRET).unwrap();
    m.update(URL_SAFE_NO_PAD.encode(PAYLOAD).as_bytes());
    let sig = m.finalize().into_bytes();
    let code = Sha256::digest([b"optcast-deletion-request:".as_slice(), &sig].concat());
    DeletionRequest {
        user_id: "218471".into(),
        issued_at: Some(1291836800),
        expires: Some(1291840400),
        confirmation_code: hex::encode(&code[..16]),
    }
}

#[test]
fn the_same_request_has_the_same_code_and_another_request_another() {
    let first = verify(&sign(PAYLOAD, SECRET), SECRET).unwrap();
    let again = verify(&sign(PAYLOAD, SECRET), SECRET).unwrap();
    assert_eq!(first.confirmation_code, again.confirmation_code);
    assert_eq!(first.confirmation_code.len(), 32);
    let later = br#"{"algorithm":"HMAC-SHA256","issued_at":1291836801,"user_id":"218471"}"#;
    let other = verify(&sign(later, SECRET), SECRET).unwrap();
    assert_ne!(first.confirmation_code, other.confirmation_code);
}

#[test]
fn issued_at_must_be_within_a_day_before_to_five_minutes_after_the_clock() {
    let issued = expected();
    let at = 1291836800 * 1000;
    assert_eq!(issued.check_issued_at(at), Ok(()));
    assert_eq!(issued.check_issued_at(at + MAX_REQUEST_AGE_MS), Ok(()));
    assert_eq!(issued.check_issued_at(at - MAX_ISSUED_AHEAD_MS), Ok(()));
    for now in [
        at + MAX_REQUEST_AGE_MS + 1,
        at - MAX_ISSUED_AHEAD_MS - 1,
        i64::MAX,
        i64::MIN,
    ] {
        assert_eq!(
            issued.check_issued_at(now),
            Err(SignedRequestError::OutsideWindow),
            "{now}"
        );
    }
    let missing = DeletionRequest {
        issued_at: None,
        ..expected()
    };
    assert_eq!(missing.check_issued_at(at), Err(SignedRequestError::OutsideWindow));
    let absurd = DeletionRequest {
        issued_at: Some(i64::MAX),
        ..expected()
    };
    assert_eq!(absurd.check_issued_at(at), Err(SignedRequestError::OutsideWindow));
}

/// Builds `<sig>.<payload>` with hmac and base64 directly, not via `sign()`.
fn independently_signed(payload_b64: &str, secret: &[u8], sig_engine: &GeneralPurpose) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    m.update(payload_b64.as_bytes());
    format!("{}.{}", sig_engine.encode(m.finalize().into_bytes()), payload_b64)
}

#[test]
fn a_signed_request_round_trips() {
    assert_eq!(verify(&sign(PAYLOAD, SECRET), SECRET), Ok(expected()));
}

#[test]
fn a_known_vector_verifies() {
    // Computed outside Rust (Python hmac + base64.urlsafe_b64encode, padding stripped).
    const VECTOR: &str = "jrp12ZijqTy2-9NDSsFcrvW7Yz9HUqinb-TuSFEekhs.eyJhbGdvcml0aG0iOiJITUFDLVNIQTI1NiIsImV4cGlyZXMiOjEyOTE4NDA0MDAsImlzc3VlZF9hdCI6MTI5MTgzNjgwMCwidXNlcl9pZCI6IjIxODQ3MSJ9";
    let built = independently_signed(&URL_SAFE_NO_PAD.encode(PAYLOAD), SECRET, &URL_SAFE_NO_PAD);
    assert_eq!(built, VECTOR);
    assert_eq!(sign(PAYLOAD, SECRET), VECTOR);
    assert_eq!(verify(VECTOR, SECRET), Ok(expected()));
}

#[test]
fn metas_documented_example_passes_the_signature_check() {
    // developers.facebook.com signed_request example, secret "secret":
    // payload {"algorithm":"HMAC-SHA256","0":"payload"} has no user_id.
    let sr = "vlXgu64BQGFSQrY0ZcJBZASMvYvTHu9GQ0YM9rjPSso.eyJhbGdvcml0aG0iOiJITUFDLVNIQTI1NiIsIjAiOiJwYXlsb2FkIn0";
    assert_eq!(verify(sr, b"secret"), Err(SignedRequestError::BadPayload));
    assert_eq!(verify(sr, b"other"), Err(SignedRequestError::BadSignature));
}

#[test]
fn a_tampered_payload_fails() {
    let sr = sign(PAYLOAD, SECRET);
    let (sig, _) = sr.split_once('.').unwrap();
    let other = URL_SAFE_NO_PAD.encode(
        PAYLOAD
            .iter()
            .map(|&b| if b == b'1' { b'2' } else { b })
            .collect::<Vec<_>>(),
    );
    assert_eq!(
        verify(&format!("{sig}.{other}"), SECRET),
        Err(SignedRequestError::BadSignature)
    );
}

#[test]
fn a_tampered_signature_fails() {
    let sr = sign(PAYLOAD, SECRET);
    let (sig, payload) = sr.split_once('.').unwrap();
    let mut raw = URL_SAFE_NO_PAD.decode(sig).unwrap();
    raw[0] ^= 1;
    let tampered = format!("{}.{payload}", URL_SAFE_NO_PAD.encode(raw));
    assert_eq!(verify(&tampered, SECRET), Err(SignedRequestError::BadSignature));
}

#[test]
fn a_wrong_secret_fails() {
    assert_eq!(
        verify(&sign(PAYLOAD, b"other-secret"), SECRET),
        Err(SignedRequestError::BadSignature)
    );
}

#[test]
fn another_or_missing_algorithm_is_refused_even_when_signed() {
    for payload in [
        br#"{"algorithm":"HMAC-SHA1","user_id":"218471"}"#.as_slice(),
        br#"{"algorithm":"hmac-sha256","user_id":"218471"}"#,
        br#"{"user_id":"218471"}"#,
        br#"{"algorithm":null,"user_id":"218471"}"#,
    ] {
        assert_eq!(
            verify(&sign(payload, SECRET), SECRET),
            Err(SignedRequestError::UnsupportedAlgorithm),
            "{}",
            String::from_utf8_lossy(payload)
        );
    }
}

#[test]
fn bad_payloads_are_refused_after_the_signature_check() {
    for payload in [
        b"not json".as_slice(),
        br#"["HMAC-SHA256"]"#,
        br#"{"algorithm":"HMAC-SHA256"}"#,
        br#"{"algorithm":"HMAC-SHA256","user_id":""}"#,
        br#"{"algorithm":"HMAC-SHA256","user_id":218471}"#,
        br#"{"algorithm":"HMAC-SHA256","user_id":"12a4"}"#,
        br#"{"algorithm":"HMAC-SHA256","user_id":"../1"}"#,
        br#"{"algorithm":"HMAC-SHA256","user_id":"abc/../x"}"#,
        br#"{"algorithm":"HMAC-SHA256","user_id":"1=2"}"#,
        br#"{"algorithm":"HMAC-SHA256","user_id":"0218471"}"#,
        br#"{"algorithm":"HMAC-SHA256","user_id":"123456789012345678901"}"#,
        br#"{"algorithm":"HMAC-SHA256","user_id":"1","expires":"soon"}"#,
    ] {
        assert_eq!(
            verify(&sign(payload, SECRET), SECRET),
            Err(SignedRequestError::BadPayload),
            "{}",
            String::from_utf8_lossy(payload)
        );
    }
    let long = format!(r#"{{"algorithm":"HMAC-SHA256","user_id":"{}"}}"#, "1".repeat(65));
    assert_eq!(
        verify(&sign(long.as_bytes(), SECRET), SECRET),
        Err(SignedRequestError::BadPayload)
    );
    let bare = verify(&sign(br#"{"algorithm":"HMAC-SHA256","user_id":"7"}"#, SECRET), SECRET).unwrap();
    assert_eq!((bare.issued_at, bare.expires), (None, None));
}

#[test]
fn malformed_input_is_refused() {
    let sr = sign(PAYLOAD, SECRET);
    let (sig, payload) = sr.split_once('.').unwrap();
    assert_eq!(verify("", SECRET), Err(SignedRequestError::Missing));
    for bad in [
        sr.replace('.', ""),
        format!("{sig}."),
        format!(".{payload}"),
        ".".to_string(),
        format!("{sig}.{payload}.extra"),
        format!("{sig}!.{payload}"),
        format!("{sig}.{payload}*"),
        // Standard base64 alphabet is not base64url.
        format!("{}.{payload}", sig.replace('-', "+").replace('_', "/")),
        // A SHA-1 sized signature.
        format!("{}.{payload}", URL_SAFE_NO_PAD.encode([0u8; 20])),
        format!("{sig}.{}", "A".repeat(MAX_LEN)),
    ] {
        assert_eq!(verify(&bad, SECRET), Err(SignedRequestError::Malformed), "{bad}");
    }
}

#[test]
fn padded_base64_is_accepted() {
    // 91 bytes of JSON: the padded encoding ends in "==". The signature is
    // over the payload exactly as sent, padding included.
    let payload = br#"{"algorithm":"HMAC-SHA256","expires":1291840400,"issued_at":1291836800,"user_id":"2184712"}"#;
    let padded_payload = URL_SAFE.encode(payload);
    assert!(padded_payload.ends_with("=="));
    let sr = independently_signed(&padded_payload, SECRET, &URL_SAFE);
    assert!(sr.contains("=.") && sr.ends_with("=="), "{sr}");
    assert_eq!(verify(&sr, SECRET).map(|r| r.user_id), Ok("2184712".to_string()));
    // Padding on the signature only; the payload stays as Meta signed it.
    let sr = independently_signed(&URL_SAFE_NO_PAD.encode(PAYLOAD), SECRET, &URL_SAFE);
    assert!(sr.contains("=."));
    assert_eq!(verify(&sr, SECRET), Ok(expected()));
}

#[test]
fn errors_never_name_the_user_or_the_secret() {
    let r = verify(&sign(PAYLOAD, SECRET), SECRET).unwrap();
    assert!(!format!("{r:?}").contains("218471"));
    for e in [
        SignedRequestError::Missing,
        SignedRequestError::Malformed,
        SignedRequestError::BadSignature,
        SignedRequestError::UnsupportedAlgorithm,
        SignedRequestError::BadPayload,
    ] {
        let text = format!("{e} {e:?} {}", e.code());
        assert!(!text.contains("218471") && !text.contains("app-secret"), "{text}");
    }
}

#[test]
fn the_form_field_is_found_and_percent_decoded() {
    let sr = sign(PAYLOAD, SECRET);
    let body = format!(
        "foo=bar&signed_request={}&x=%26y",
        sr.replace('-', "%2D").replace('.', "%2E")
    );
    assert_eq!(form_field(body.as_bytes()), Some(sr.clone()));
    assert_eq!(verify(&form_field(body.as_bytes()).unwrap(), SECRET), Ok(expected()));
    assert_eq!(form_field(b"foo=bar"), None);
    assert_eq!(form_field(b"signed_request="), None);
    assert_eq!(form_field(b""), None);
    assert_eq!(
        form_field(b"signed_request=a%2Eb&signed_request=c.d"),
        Some("a.b".into())
    );
}

proptest::proptest! {
    #[test]
    fn arbitrary_strings_never_panic_and_never_verify(s in "\\PC*") {
        proptest::prop_assert!(verify(&s, SECRET).is_err());
    }

    #[test]
    fn well_shaped_forgeries_never_verify(
        sig in "[A-Za-z0-9_-]{43}",
        payload in "[A-Za-z0-9_-]{0,200}",
    ) {
        let forged = format!("{sig}.{payload}");
        proptest::prop_assert!(verify(&forged, SECRET).is_err());
    }

    #[test]
    fn any_payload_signed_with_another_secret_never_verifies(payload in proptest::collection::vec(proptest::num::u8::ANY, 1..256)) {
        proptest::prop_assert_eq!(verify(&sign(&payload, b"other-secret"), SECRET), Err(SignedRequestError::BadSignature));
    }

    #[test]
    fn arbitrary_form_bodies_never_panic(body in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
        let _ = form_field(&body);
    }
}

#[test]
fn nothing_verifies_under_a_blank_app_secret() {
    for blank in [&b""[..], b" ", b"\n"] {
        assert_eq!(
            verify(&sign(PAYLOAD, blank), blank),
            Err(SignedRequestError::BadSignature)
        );
    }
}
