//! The AWS SDK configuration every function builds once per cold start, the
//! one HTTPS client all its SDK clients share, the DynamoDB client with its
//! extra retry rule, and the other SDK clients, built on first use.

use std::sync::{Arc, LazyLock};

use aws_smithy_runtime_api::client::http::SharedHttpClient;

/// The AWS SDK configuration: region defaults to us-west-2 (Oregon), and
/// `AWS_ENDPOINT_URL` (the emulator locally) is honoured by the SDK itself.
/// Every client made from it shares one [`https_client`], so the TLS setup
/// happens once, on the first AWS request, not once per client at start-up.
///
/// Where Lambda puts the region and the function's credentials, in the
/// environment (`AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_SESSION_TOKEN`), they are taken from there directly, as the SDK's
/// default chains would take them first anyway: the chains' other sources
/// are then never built (the web-identity provider's STS client and the
/// instance-metadata clients cost about 0.8 M instructions of a cold start).
/// Elsewhere (a developer's profile, SSO, an instance role) the default
/// chains are used.
pub async fn aws() -> aws_config::SdkConfig {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(https_client());
    loader = match env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION")) {
        Some(region) => loader.region(aws_config::Region::new(region)),
        None => loader.region(aws_config::meta::region::RegionProviderChain::default_provider().or_else("us-west-2")),
    };
    if env("AWS_ACCESS_KEY_ID").is_some() && env("AWS_SECRET_ACCESS_KEY").is_some() {
        loader = loader
            .credentials_provider(aws_config::environment::credentials::EnvironmentVariableCredentialsProvider::new());
    }
    loader.load().await
}

/// An AWS SDK client built on first use, shared by its clones. Making the
/// first client of an SDK crate parses that crate's endpoint partitions
/// and compiles their patterns (about 0.4 M instructions each for S3, SQS
/// and KMS): a function whose first request does not call a service does
/// not pay for its client at start-up (issue 15). Derefs to the client.
pub struct Lazy<C>(Arc<LazyLock<C, Box<dyn FnOnce() -> C + Send>>>);

impl<C> Lazy<C> {
    /// A client `make` builds when it is first used.
    pub fn new(make: impl FnOnce() -> C + Send + 'static) -> Self {
        Self(Arc::new(LazyLock::new(Box::new(make))))
    }
}

impl<C> Clone for Lazy<C> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<C> std::ops::Deref for Lazy<C> {
    type Target = C;
    fn deref(&self) -> &C {
        &self.0
    }
}

/// A client built already (tests, tools).
impl<C: Send + 'static> From<C> for Lazy<C> {
    fn from(client: C) -> Self {
        Self::new(move || client)
    }
}

impl<C> std::fmt::Debug for Lazy<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Lazy(AWS client)")
    }
}

/// An S3 client, built on first use.
pub type S3 = Lazy<aws_sdk_s3::Client>;
/// An SQS client, built on first use.
pub type Sqs = Lazy<aws_sdk_sqs::Client>;
/// A KMS client, built on first use.
pub type Kms = Lazy<aws_sdk_kms::Client>;

/// The S3 client of `aws`, built on first use.
pub fn s3(aws: &aws_config::SdkConfig) -> S3 {
    lazy(aws, aws_sdk_s3::Client::new)
}

/// The SQS client of `aws`, built on first use.
pub fn sqs(aws: &aws_config::SdkConfig) -> Sqs {
    lazy(aws, aws_sdk_sqs::Client::new)
}

/// The KMS client of `aws`, built on first use.
pub fn kms(aws: &aws_config::SdkConfig) -> Kms {
    lazy(aws, aws_sdk_kms::Client::new)
}

/// The client `new` makes from `aws`, made on first use.
fn lazy<C: 'static>(aws: &aws_config::SdkConfig, new: fn(&aws_config::SdkConfig) -> C) -> Lazy<C> {
    let aws = aws.clone();
    Lazy::new(move || new(&aws))
}

/// The HTTPS client of every SDK client: the SDK's own (hyper 1, rustls
/// with aws-lc, certificates verified, proxies from the environment), with
/// two changes that keep TLS set-up off the cold start:
///
/// - it trusts the compiled-in Mozilla roots ([`super::tls`]) instead of
///   reading and parsing the system trust store, which the stock client
///   does on its first connection (on the build machines 220 KB of PEM plus
///   290 directory entries: most of the cold start of a function whose first
///   request calls AWS);
/// - its connector is built on the first request, not when an SDK client is
///   constructed: the stock client builds a TLS connector for each client
///   only to drop it ("so that native certs load at client
///   initialization"), which a function constructing four clients paid four
///   times before its first request, even when that request (a webhook
///   handshake) calls no AWS service. The connector is then cached, one per
///   timeout setting, for every client sharing this HTTP client.
pub fn https_client() -> SharedHttpClient {
    use aws_smithy_http_client::{proxy::ProxyConfig, tls, Builder, ConnectorBuilder};
    // What `aws-smithy-runtime`'s `default_https_client` builds for the
    // latest behavior version, with the compiled-in roots.
    let stock = Builder::new().build_with_connector_fn(|settings, components| {
        let mut conn = ConnectorBuilder::default()
            .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc))
            .tls_context(super::tls::aws_tls_context());
        conn.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            conn.set_sleep_impl(components.sleep_impl());
        }
        conn.set_proxy_config(Some(ProxyConfig::from_env()));
        conn.build()
    });
    SharedHttpClient::new(LazyHttps(stock))
}

/// An HTTP client whose connectors are made only when a request needs one
/// (see [`https_client`]).
#[derive(Debug)]
struct LazyHttps(SharedHttpClient);

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
