//! The AWS SDK configuration every function builds once per cold start, the
//! one HTTPS client all its SDK clients share, and the DynamoDB client with
//! its extra retry rule.

use aws_smithy_runtime_api::client::http::SharedHttpClient;

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
