//! Typed configuration, read once per cold start. In Lambda the values come
//! from the environment `template.yaml` sets; the local runner passes the same
//! names through a lookup so several functions can share one process.

use secrecy::SecretString;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("missing configuration: {0}")]
    Missing(&'static str),
    #[error("invalid configuration {0}: {1}")]
    Invalid(&'static str, String),
    #[error("could not read secret {0}: {1}")]
    Secret(&'static str, String),
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

/// Meta app credentials. `Debug` never prints them.
#[derive(Debug, Clone)]
pub struct MetaSecrets {
    pub app_secret: SecretString,
    pub verify_token: SecretString,
}

impl MetaSecrets {
    /// `META_APP_SECRET` / `META_VERIFY_TOKEN` if set (local runs); otherwise
    /// the JSON secret `{"app_secret","verify_token"}` named by `META_SECRET_ARN`
    /// in AWS Secrets Manager, so no secret sits in plain Lambda configuration.
    ///
    /// # Errors
    /// [`ConfigError::Missing`] with neither the variables nor the ARN;
    /// [`ConfigError::Secret`] when Secrets Manager fails or the secret is not
    /// the expected JSON.
    pub async fn load(src: &dyn Source, aws: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        if let (Some(secret), Some(token)) = (src.get("META_APP_SECRET"), src.get("META_VERIFY_TOKEN")) {
            return Ok(Self {
                app_secret: secret.into(),
                verify_token: token.into(),
            });
        }
        let arn = src
            .get("META_SECRET_ARN")
            .ok_or(ConfigError::Missing("META_APP_SECRET or META_SECRET_ARN"))?;
        #[derive(serde::Deserialize)]
        struct Stored {
            app_secret: String,
            verify_token: String,
        }
        let raw = secret_string(aws, "META_SECRET_ARN", arn).await?;
        let stored: Stored = serde_json::from_str(&raw)
            .map_err(|_| ConfigError::Secret("META_SECRET_ARN", "not the expected JSON".into()))?;
        Ok(Self {
            app_secret: stored.app_secret.into(),
            verify_token: stored.verify_token.into(),
        })
    }
}

/// The AWS SDK configuration: region defaults to us-west-2 (Oregon), and
/// `AWS_ENDPOINT_URL` (the emulator locally) is honoured by the SDK itself.
/// Every client made from it shares one [`https_client`], so the TLS setup
/// happens once, on the first AWS request, not once per client at start-up.
pub async fn aws() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::meta::region::RegionProviderChain::default_provider().or_else("us-west-2"))
        .http_client(https_client())
        .load()
        .await
}

/// The SDK's default HTTPS client (hyper 1, rustls with aws-lc, the system's
/// trust store, certificates verified, proxies from the environment), built
/// lazily.
///
/// The stock client builds a TLS connector each time an SDK client is
/// constructed, only to drop it ("so that native certs load at client
/// initialization"): reading and parsing the system trust store, once per
/// client. A function constructing four clients paid that four times before
/// its first request, which was most of its cold start, even when the first
/// request (a webhook handshake) calls no AWS service. This wrapper skips that
/// eager build; the connector is made on the first request and cached, one per
/// timeout setting, for every client sharing this HTTP client.
pub fn https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::{proxy::ProxyConfig, tls, Builder, ConnectorBuilder};
    // What `aws-smithy-runtime`'s `default_https_client` builds for the
    // latest behavior version.
    let stock = Builder::new().build_with_connector_fn(|settings, components| {
        let mut conn =
            ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc));
        conn.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            conn.set_sleep_impl(components.sleep_impl());
        }
        conn.set_proxy_config(Some(ProxyConfig::from_env()));
        conn.build()
    });
    aws_smithy_runtime_api::client::http::SharedHttpClient::new(LazyHttps(stock))
}

/// An HTTP client whose connectors are made only when a request needs one
/// (see [`https_client`]).
#[derive(Debug)]
struct LazyHttps(aws_smithy_runtime_api::client::http::SharedHttpClient);

impl aws_smithy_runtime_api::client::http::HttpClient for LazyHttps {
    fn http_connector(
        &self,
        settings: &aws_smithy_runtime_api::client::http::HttpConnectorSettings,
        components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
    ) -> aws_smithy_runtime_api::client::http::SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    // `validate_base_client_config` is deliberately the trait's no-op: the
    // inner client's builds and drops a TLS connector.

    fn validate_final_config(
        &self,
        components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        self.0.validate_final_config(components, cfg)
    }

    fn connector_metadata(&self) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

/// A DynamoDB client for `aws` that also retries single-item writes DynamoDB
/// rejects with `TransactionConflictException` (the SDK does not by default).
pub fn dynamodb(aws: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(aws)
            .retry_classifier(RetryTransactionConflicts)
            .build(),
    )
}

/// DynamoDB refuses a `PutItem`, `UpdateItem` or `DeleteItem` on an item a
/// transaction holds at that moment. Concurrent sends hold broadcast lanes
/// and leads in transactions all the time, so a single-item write meeting one
/// (a planner checkpoint, the marketing-send record after a message went out)
/// is tried again like any transient error, not failed.
#[derive(Debug)]
struct RetryTransactionConflicts;

impl aws_smithy_runtime_api::client::retries::classifiers::ClassifyRetry for RetryTransactionConflicts {
    fn classify_retry(
        &self,
        ctx: &aws_smithy_runtime_api::client::interceptors::context::InterceptorContext,
    ) -> aws_smithy_runtime_api::client::retries::classifiers::RetryAction {
        use aws_sdk_dynamodb::error::ProvideErrorMetadata;
        use aws_sdk_dynamodb::operation::{
            delete_item::DeleteItemError, put_item::PutItemError, update_item::UpdateItemError,
        };
        use aws_smithy_runtime_api::client::retries::classifiers::RetryAction;
        let Some(Err(err)) = ctx.output_or_error() else {
            return RetryAction::NoActionIndicated;
        };
        let Some(op) = err.as_operation_error() else {
            return RetryAction::NoActionIndicated;
        };
        let code = op
            .downcast_ref::<UpdateItemError>()
            .and_then(|e| e.code())
            .or_else(|| op.downcast_ref::<PutItemError>().and_then(|e| e.code()))
            .or_else(|| op.downcast_ref::<DeleteItemError>().and_then(|e| e.code()));
        if code == Some("TransactionConflictException") {
            RetryAction::transient_error()
        } else {
            RetryAction::NoActionIndicated
        }
    }

    fn name(&self) -> &'static str {
        "TransactionConflictException"
    }
}

/// The value of `name` as a `u32`, `default` when unset.
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
    let json = if let Some(json) = src.get("OPTCAST_PSEUDONYM_KEYS") {
        json
    } else if let Some(arn) = src.get("PSEUDONYM_SECRET_ARN") {
        secret_string(aws, "PSEUDONYM_SECRET_ARN", arn).await?
    } else if src.get("AWS_LAMBDA_FUNCTION_NAME").is_some() {
        return Err(ConfigError::Missing("PSEUDONYM_SECRET_ARN"));
    } else {
        return Ok(());
    };
    let keys = Pseudonyms::parse(&json).map_err(|e| ConfigError::Invalid("pseudonym keys", e.to_string()))?;
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
