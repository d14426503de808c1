//! The local stack's own measuring tools.

use optcast_local::counting_proxy;

/// The benchmarks count AWS requests per function through a proxy; with
/// `AWS_ENDPOINT_URL` in the environment (as `make test` and `make dev` set
/// it) the SDK would otherwise bypass the proxy and every count would be 0.
#[tokio::test]
async fn a_config_routed_through_the_counting_proxy_is_counted_even_with_an_endpoint_in_the_environment() {
    let aws = optcast_shared::config::aws().await;
    let (url, counts) = counting_proxy::start(optcast_tests::endpoint()).await.unwrap();
    let routed = counting_proxy::routed_through(&aws, &url);
    aws_sdk_dynamodb::Client::new(&routed)
        .list_tables()
        .send()
        .await
        .unwrap();
    aws_sdk_sqs::Client::new(&routed).list_queues().send().await.unwrap();
    aws_sdk_dynamodb::Client::new(&routed)
        .list_tables()
        .send()
        .await
        .unwrap();
    let by_service = counts.by_service();
    assert_eq!(by_service.get("dynamodb"), Some(&2), "{by_service:?}");
    assert_eq!(by_service.get("sqs"), Some(&1), "{by_service:?}");
    assert_eq!(counts.snapshot().get("dynamodb:ListTables"), Some(&2));
}
