use super::*;

fn only(name: &'static str, value: &'static str) -> impl Fn(&str) -> Option<String> + Send + Sync {
    move |n: &str| (n == name).then(|| value.to_string())
}

#[test]
fn a_bounded_number_is_its_default_when_unset() {
    assert_eq!(bounded(&|_: &str| None, "N", 25u32, 1..=100).unwrap(), 25);
}

#[test]
fn a_bounded_number_accepts_both_ends_of_its_range() {
    assert_eq!(bounded(&only("N", "1"), "N", 25u32, 1..=100).unwrap(), 1);
    assert_eq!(bounded(&only("N", "100"), "N", 25u32, 1..=100).unwrap(), 100);
    assert_eq!(bounded(&only("N", " 7 "), "N", 25u32, 1..=100).unwrap(), 7);
}

#[test]
fn a_bounded_number_outside_its_range_is_refused_naming_the_variable_and_the_bound() {
    let err = bounded(
        &only("SEND_RATE_PER_SECOND", "0"),
        "SEND_RATE_PER_SECOND",
        25u32,
        1..=100,
    )
    .unwrap_err();
    assert!(matches!(
        &err,
        ConfigError::OutOfRange { name: "SEND_RATE_PER_SECOND", value, min, max }
            if value == "0" && min == "1" && max == "100"
    ));
    assert_eq!(
        err.to_string(),
        "invalid configuration SEND_RATE_PER_SECOND: 0 is outside 1..=100"
    );
    assert!(matches!(
        bounded(&only("N", "101"), "N", 25u32, 1..=100),
        Err(ConfigError::OutOfRange { name: "N", .. })
    ));
}

#[test]
fn a_bounded_number_that_is_not_a_number_is_refused_naming_the_variable() {
    for garbage in ["fast", "-1", "2.5", "1e3", "99999999999"] {
        let err = bounded(&only("N", garbage), "N", 25u32, 1..=100).unwrap_err();
        assert!(matches!(err, ConfigError::Invalid("N", _)), "{garbage}: {err}");
        assert!(err.to_string().contains("N:"), "{err}");
        assert!(err.to_string().contains("1..=100"), "{err}");
    }
}

#[test]
fn meta_secrets_come_inline_or_from_the_secret_they_name() {
    let inline = |n: &str| match n {
        "META_APP_SECRET" => Some("s".to_string()),
        "META_VERIFY_TOKEN" => Some("t".to_string()),
        _ => None,
    };
    assert!(matches!(
        MetaSecretsSource::from_source(&inline),
        Ok(MetaSecretsSource::Inline(_))
    ));
    assert!(matches!(
        MetaSecretsSource::from_source(&only("META_SECRET_ARN", "arn:aws:secretsmanager:x")),
        Ok(MetaSecretsSource::SecretsManager { arn }) if arn == "arn:aws:secretsmanager:x"
    ));
    // A secret without its token is not enough.
    assert!(matches!(
        MetaSecretsSource::from_source(&only("META_APP_SECRET", "s")),
        Err(ConfigError::Missing("META_APP_SECRET or META_SECRET_ARN"))
    ));
}

#[test]
fn meta_secrets_never_print() {
    let Ok(MetaSecretsSource::Inline(secrets)) = MetaSecretsSource::from_source(&|n: &str| match n {
        "META_APP_SECRET" => Some("app-secret-value".to_string()),
        "META_VERIFY_TOKEN" => Some("verify-token-value".to_string()),
        _ => None,
    }) else {
        panic!("inline secrets");
    };
    let shown = format!("{secrets:?}");
    assert!(
        !shown.contains("app-secret-value") && !shown.contains("verify-token-value"),
        "{shown}"
    );
}

#[test]
fn a_blank_app_secret_or_verify_token_is_refused_without_being_shown() {
    for (secret, token) in [("", "t"), ("   ", "t"), ("\n", "t"), ("s3cr3t", " ")] {
        let src = |n: &str| match n {
            "META_APP_SECRET" => Some(secret.to_string()),
            "META_VERIFY_TOKEN" => Some(token.to_string()),
            _ => None,
        };
        let err = MetaSecretsSource::from_source(&src).expect_err("blank refused");
        assert!(matches!(err, ConfigError::Invalid("META_APP_SECRET", _)), "{err}");
        assert!(!err.to_string().contains("s3cr3t"), "{err}");
    }
    assert!(MetaSecrets::new("META_SECRET_ARN", "s".into(), "t".into()).is_ok());
}
