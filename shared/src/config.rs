//! Typed configuration, read once per cold start. In Lambda the values come
//! from the environment `template.yaml` sets; the local runner passes the same
//! names through a lookup so several functions can share one process.
//!
//! Each function reads every name it uses into one typed value
//! (`SenderConfig`, `ApiConfig`, …) with [`required`] and [`bounded`] before
//! it builds a client, so a wrong or missing setting stops the cold start
//! with an error naming the variable, not a request later.

use std::fmt::Display;
use std::ops::RangeInclusive;
use std::str::FromStr;

use secrecy::SecretString;

mod clients;
pub mod refusals;
mod tls;
pub use clients::{aws, dynamodb, https_client, kms, s3, sqs, Kms, Lazy, Sqs, S3};
pub use tls::rustls_client_config;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("missing configuration: {0}")]
    Missing(&'static str),
    #[error("invalid configuration {0}: {1}")]
    Invalid(&'static str, String),
    /// A number outside the bounds its variable allows.
    #[error("invalid configuration {name}: {value} is outside {min}..={max}")]
    OutOfRange {
        name: &'static str,
        value: String,
        min: String,
        max: String,
    },
    #[error("could not read secret {0}: {1}")]
    Secret(&'static str, String),
    /// A client that could not be built at start-up (e.g. the Graph API's
    /// HTTP client without a TLS provider).
    #[error("could not build the {0} client: {1}")]
    Client(&'static str, String),
}

/// Where configuration values come from.
pub trait Source: Send + Sync {
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment (Lambda).
pub struct Env;

impl Source for Env {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

impl<F: Fn(&str) -> Option<String> + Send + Sync> Source for F {
    fn get(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// The value of `name`.
///
/// # Errors
/// [`ConfigError::Missing`] when it is unset (or empty, for [`Env`]).
pub fn required(src: &dyn Source, name: &'static str) -> Result<String, ConfigError> {
    src.get(name).ok_or(ConfigError::Missing(name))
}

/// The number `name` holds, `default` when it is unset; it must lie in
/// `range` (both ends included). A value outside the bounds is refused, not
/// clamped: a setting that does not mean what it says stops the cold start
/// with an error naming the variable and the bound.
///
/// # Errors
/// [`ConfigError::Invalid`] when the value is not a number of type `T`
/// (a whole number for the integer types); [`ConfigError::OutOfRange`] when
/// it is one but outside `range`.
pub fn bounded<T>(src: &dyn Source, name: &'static str, default: T, range: RangeInclusive<T>) -> Result<T, ConfigError>
where
    T: FromStr + PartialOrd + Display + Copy,
{
    debug_assert!(
        range.contains(&default),
        "{name}: default {default} outside {}..={}",
        range.start(),
        range.end()
    );
    let Some(raw) = src.get(name) else {
        return Ok(default);
    };
    let value: T = raw.trim().parse().map_err(|_| {
        ConfigError::Invalid(
            name,
            format!("{raw:?} is not a number in {}..={}", range.start(), range.end()),
        )
    })?;
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::OutOfRange {
            name,
            value: value.to_string(),
            min: range.start().to_string(),
            max: range.end().to_string(),
        })
    }
}

/// Meta app credentials. `Debug` never prints them.
#[derive(Debug, Clone)]
pub struct MetaSecrets {
    pub app_secret: SecretString,
    pub verify_token: SecretString,
    /// The app secret as the deliveries' HMAC key, built here once.
    pub signature_key: crate::signature::SignatureKey,
}

impl MetaSecrets {
    /// The credentials, refused when either is blank (empty or only
    /// whitespace): an HMAC key of nothing would let anyone sign
    /// deliveries and deletion callbacks (`openssl dgst -hmac ''`).
    /// `source` names where they came from, in the error; the values are
    /// never shown.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] when the app secret or the verify token is
    /// blank.
    pub fn new(source: &'static str, app_secret: String, verify_token: String) -> Result<Self, ConfigError> {
        for (value, what) in [(&app_secret, "the app secret"), (&verify_token, "the verify token")] {
            if value.trim().is_empty() {
                return Err(ConfigError::Invalid(source, format!("{what} is blank")));
            }
        }
        let signature_key = crate::signature::SignatureKey::new(app_secret.as_bytes())
            .ok_or_else(|| ConfigError::Invalid(source, "the app secret is blank".into()))?;
        Ok(Self {
            app_secret: app_secret.into(),
            verify_token: verify_token.into(),
            signature_key,
        })
    }

    /// Reads the secrets where [`MetaSecretsSource::from_source`] says they are.
    ///
    /// # Errors
    /// As [`MetaSecretsSource::from_source`] and [`MetaSecretsSource::load`].
    pub async fn load(src: &dyn Source, aws: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        MetaSecretsSource::from_source(src)?.load(aws).await
    }
}

/// Where the Meta app credentials come from, read with the rest of a
/// function's configuration; [`MetaSecretsSource::load`] fetches them.
#[derive(Debug, Clone)]
pub enum MetaSecretsSource {
    /// `META_APP_SECRET` and `META_VERIFY_TOKEN` (local runs).
    Inline(MetaSecrets),
    /// The JSON secret `{"app_secret","verify_token"}` in AWS Secrets Manager
    /// named by `META_SECRET_ARN`, so no secret sits in plain Lambda
    /// configuration.
    SecretsManager { arn: String },
}

impl MetaSecretsSource {
    /// # Errors
    /// [`ConfigError::Missing`] with neither both variables nor the ARN;
    /// [`ConfigError::Invalid`] when an inline one is blank.
    pub fn from_source(src: &dyn Source) -> Result<Self, ConfigError> {
        if let (Some(secret), Some(token)) = (src.get("META_APP_SECRET"), src.get("META_VERIFY_TOKEN")) {
            return Ok(Self::Inline(MetaSecrets::new("META_APP_SECRET", secret, token)?));
        }
        src.get("META_SECRET_ARN")
            .map(|arn| Self::SecretsManager { arn })
            .ok_or(ConfigError::Missing("META_APP_SECRET or META_SECRET_ARN"))
    }

    /// The credentials (one Secrets Manager call for an ARN).
    ///
    /// # Errors
    /// [`ConfigError::Secret`] when Secrets Manager fails or the secret is
    /// not the expected JSON; [`ConfigError::Invalid`] when a value in it is
    /// blank.
    pub async fn load(self, aws: &aws_config::SdkConfig) -> Result<MetaSecrets, ConfigError> {
        let arn = match self {
            Self::Inline(secrets) => return Ok(secrets),
            Self::SecretsManager { arn } => arn,
        };
        #[derive(serde::Deserialize)]
        struct Stored {
            app_secret: String,
            verify_token: String,
        }
        let raw = secret_string(aws, "META_SECRET_ARN", arn).await?;
        let stored: Stored = serde_json::from_str(&raw)
            .map_err(|_| ConfigError::Secret("META_SECRET_ARN", "not the expected JSON".into()))?;
        MetaSecrets::new("META_SECRET_ARN", stored.app_secret, stored.verify_token)
    }
}

/// The value of `name` as a `u32`, `default` when unset, unbounded (prefer
/// [`bounded`], which also says what values make sense).
///
/// # Errors
/// [`ConfigError::Invalid`] when it is set but not a `u32`.
pub fn parse_u32(src: &dyn Source, name: &'static str, default: u32) -> Result<u32, ConfigError> {
    match src.get(name) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| ConfigError::Invalid(name, v)),
    }
}

/// Installs this process's pseudonym key set ([`crate::pseudonym`]) once per
/// cold start: `OPTCAST_PSEUDONYM_KEYS` (JSON, local runs) or the Secrets
/// Manager secret named by `PSEUDONYM_SECRET_ARN` (AWS). With neither, the
/// development key is used, except in Lambda, where starting is refused.
///
/// # Errors
/// [`ConfigError`] when the key set is missing in Lambda, cannot be read, or
/// is not a valid key set.
pub async fn install_pseudonyms(src: &dyn Source, aws: &aws_config::SdkConfig) -> Result<(), ConfigError> {
    use crate::pseudonym::{self, Pseudonyms};
    let (name, json) = if let Some(json) = src.get("OPTCAST_PSEUDONYM_KEYS") {
        ("OPTCAST_PSEUDONYM_KEYS", json)
    } else if let Some(arn) = src.get("PSEUDONYM_SECRET_ARN") {
        (
            "PSEUDONYM_SECRET_ARN",
            secret_string(aws, "PSEUDONYM_SECRET_ARN", arn).await?,
        )
    } else if src.get("AWS_LAMBDA_FUNCTION_NAME").is_some() {
        return Err(ConfigError::Missing("PSEUDONYM_SECRET_ARN"));
    } else {
        return Ok(());
    };
    let keys = Pseudonyms::parse(&json).map_err(|e| ConfigError::Invalid(name, e.to_string()))?;
    pseudonym::install(keys);
    Ok(())
}

/// The string value of the Secrets Manager secret `arn`, named in errors by
/// the variable `name` that gave it.
///
/// # Errors
/// [`ConfigError::Secret`] when it cannot be read or is not a string secret.
async fn secret_string(aws: &aws_config::SdkConfig, name: &'static str, arn: String) -> Result<String, ConfigError> {
    let out = aws_sdk_secretsmanager::Client::new(aws)
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| ConfigError::Secret(name, aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string()))?;
    out.secret_string()
        .map(str::to_string)
        .ok_or(ConfigError::Secret(name, "not a string secret".into()))
}

#[cfg(test)]
mod tests;
