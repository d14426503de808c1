use super::s3_action;
use hyper::Method;

#[test]
fn a_bucket_listing_is_list_bucket_with_or_without_the_trailing_slash_the_sdk_sends() {
    let action = |m: Method, uri: &str| s3_action(&m, &uri.parse().unwrap());
    assert_eq!(
        action(Method::GET, "/optcast-data/?list-type=2&prefix=q%2F"),
        "ListBucket"
    );
    assert_eq!(action(Method::GET, "/optcast-data?list-type=2"), "ListBucket");
    assert_eq!(
        action(Method::GET, "/optcast-data/?versions&prefix=x"),
        "ListBucketVersions"
    );
    assert_eq!(action(Method::HEAD, "/optcast-data/quarantine/abc"), "GetObject");
    assert_eq!(
        action(Method::GET, "/optcast-data/quarantine/abc?versionId=1"),
        "GetObjectVersion"
    );
    assert_eq!(action(Method::PUT, "/optcast-data/exports/x.json"), "PutObject");
    assert_eq!(action(Method::DELETE, "/optcast-data/exports/x.json"), "DeleteObject");
}
