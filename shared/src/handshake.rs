//! Meta's webhook subscribe handshake (`GET /webhook`).

pub use subtle_eq::constant_time_eq;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HandshakeError {
    #[error("hub.mode is not subscribe")]
    WrongMode,
    #[error("hub.verify_token does not match")]
    WrongToken,
    #[error("hub.challenge is missing or malformed")]
    BadChallenge,
}

/// Returns the challenge to echo when the request is a valid subscribe request.
///
/// # Errors
/// [`HandshakeError`]: the mode is not `subscribe`, the token does not
/// match, or the challenge is missing or malformed.
pub fn answer<'a>(
    mode: Option<&str>,
    token: Option<&str>,
    challenge: Option<&'a str>,
    verify_token: &str,
) -> Result<&'a str, HandshakeError> {
    if mode != Some("subscribe") {
        return Err(HandshakeError::WrongMode);
    }
    let token = token.ok_or(HandshakeError::WrongToken)?;
    if verify_token.is_empty() || !constant_time_eq(token.as_bytes(), verify_token.as_bytes()) {
        return Err(HandshakeError::WrongToken);
    }
    // Meta sends an integer; echoing anything else would make us a reflector.
    match challenge {
        Some(c)
            if !c.is_empty()
                && c.len() <= 64
                && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            Ok(c)
        }
        _ => Err(HandshakeError::BadChallenge),
    }
}

mod subtle_eq {
    /// Length leaks, contents do not.
    pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
        if a.len() != b.len() {
            return false;
        }
        a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subscribe_with_the_right_token_echoes_the_challenge() {
        assert_eq!(
            answer(Some("subscribe"), Some("tok"), Some("1158201444"), "tok"),
            Ok("1158201444")
        );
    }

    #[test]
    fn a_wrong_token_is_refused() {
        assert_eq!(
            answer(Some("subscribe"), Some("nope"), Some("1"), "tok"),
            Err(HandshakeError::WrongToken)
        );
        assert_eq!(
            answer(Some("subscribe"), None, Some("1"), "tok"),
            Err(HandshakeError::WrongToken)
        );
    }

    #[test]
    fn an_empty_configured_token_never_matches() {
        assert_eq!(
            answer(Some("subscribe"), Some(""), Some("1"), ""),
            Err(HandshakeError::WrongToken)
        );
    }

    #[test]
    fn a_wrong_or_missing_mode_is_refused() {
        assert_eq!(
            answer(Some("unsubscribe"), Some("tok"), Some("1"), "tok"),
            Err(HandshakeError::WrongMode)
        );
        assert_eq!(
            answer(None, Some("tok"), Some("1"), "tok"),
            Err(HandshakeError::WrongMode)
        );
    }

    #[test]
    fn a_hostile_challenge_is_not_reflected() {
        assert_eq!(
            answer(Some("subscribe"), Some("tok"), Some("<script>"), "tok"),
            Err(HandshakeError::BadChallenge)
        );
        assert_eq!(
            answer(Some("subscribe"), Some("tok"), None, "tok"),
            Err(HandshakeError::BadChallenge)
        );
    }
}
