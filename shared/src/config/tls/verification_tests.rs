//! Certificate verification stays on with the compiled-in roots: both
//! outbound HTTPS clients refuse a server whose certificate no trusted root
//! issued (here one for `localhost` from a test CA), while a client that
//! trusts that CA gets an answer from the same server.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A test CA no trusted root knows, and a `localhost` certificate it issued.
const TEST_CA_CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBmzCCAUGgAwIBAgIUI2IZGWqrGukmgVtThZ1FtzwW5bswCgYIKoZIzj0EAwIw
GjEYMBYGA1UEAwwPb3B0Y2FzdCB0ZXN0IENBMCAXDTI2MTIwMTEzMjY1NFoYDzIx
MjYxMTA3MTMyNjU0WjAaMRgwFgYDVQQDDA9vcHRjYXN0IHRlc3QgQ0EwWTATBgcq
hkjOPQIBBggqhkjOPQMBBwNCAATDzUMu3Qq4+YJIDOWQjytkflt+Ad7voxC1NqUP
8opwPII0LUksHCvZir3Ii6ZizRGkrNVfGKgOt3CbZH2bQamro2MwYTAdBgNVHQ4E
FgQUOGE+F2fDi8MnA/1jz/1Phk4bYT0wHwYDVR0jBBgwFoAUOGE+F2fDi8MnA/1j
z/1Phk4bYT0wDwYDVR0TAQH/BAUwAwEB/zAOBgNVHQ8BAf8EBAMCAgQwCgYIKoZI
zj0EAwIDSAAwRQIhAOzCWSMCpebM2LNxJQwWRRhgFjuc8B8YV/PMKTB8g2ewAiB2
SA9oawnohQ6YN4uSQRiSGrv68JHt5K7FJYcQvlMakQ==
-----END CERTIFICATE-----
";
const SERVER_CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBwDCCAWWgAwIBAgIUB0M82KpsRDdNp8vsSeb6S/1gn0cwCgYIKoZIzj0EAwIw
GjEYMBYGA1UEAwwPb3B0Y2FzdCB0ZXN0IENBMCAXDTI2MTIwMTEzMjY1NFoYDzIx
MjYxMTA3MTMyNjU0WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIB
BggqhkjOPQMBBwNCAASJZ8h1EwqwGahQgEiq7xZmyET9lk/Vsx94AIeH1X98ZDne
ky13Xn5SquN+ni3mNM3xamgzyD+/pK2DQusrhBcyo4GMMIGJMBQGA1UdEQQNMAuC
CWxvY2FsaG9zdDAMBgNVHRMBAf8EAjAAMA4GA1UdDwEB/wQEAwIHgDATBgNVHSUE
DDAKBggrBgEFBQcDATAdBgNVHQ4EFgQUwiiMjKia5IEUgiTNB8SrgQRRdMAwHwYD
VR0jBBgwFoAUOGE+F2fDi8MnA/1jz/1Phk4bYT0wCgYIKoZIzj0EAwIDSQAwRgIh
ANCpnG+Ik11yPL/nyfUGJYkbzGn/nTTrKDX1rwkL04VhAiEA6FKNdo03iplxl/9M
cIZ32ICpT+yYwkAe2KpgfUTSXSk=
-----END CERTIFICATE-----
";
const SERVER_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgWV6zBGKji1CzfjtG
Jon08OpuM3p7ZGS+KJ4bkAyeycihRANCAASJZ8h1EwqwGahQgEiq7xZmyET9lk/V
sx94AIeH1X98ZDneky13Xn5SquN+ni3mNM3xamgzyD+/pK2DQusrhBcy
-----END PRIVATE KEY-----
";

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// An HTTPS server on `localhost` with the test CA's certificate that
/// answers every request `200 {}`; its port.
async fn self_signed_server() -> u16 {
    let cert = CertificateDer::from_pem_slice(SERVER_CERT.as_bytes()).expect("cert");
    let key = PrivateKeyDer::from_pem_slice(SERVER_KEY.as_bytes()).expect("key");
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = [0u8; 4096];
                let _ = tls.read(&mut buf).await;
                let _ = tls
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}")
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    port
}

#[tokio::test]
async fn the_test_server_answers_a_client_that_trusts_its_ca() {
    let port = self_signed_server().await;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(TEST_CA_CERT.as_bytes()).expect("cert"))
        .expect("root");
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let answer = reqwest::Client::builder()
        .use_preconfigured_tls(config)
        .build()
        .expect("client")
        .get(format!("https://localhost:{port}/"))
        .send()
        .await
        .expect("a trusted certificate is accepted");
    assert_eq!(answer.status(), 200);
}

#[tokio::test]
async fn the_sdk_clients_refuse_a_certificate_no_trusted_root_issued() {
    let port = self_signed_server().await;
    let aws = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-west-2"))
        .credentials_provider(aws_sdk_sqs::config::SharedCredentialsProvider::new(
            aws_sdk_sqs::config::Credentials::new("test", "test", None, None, "test"),
        ))
        .endpoint_url(format!("https://localhost:{port}"))
        .http_client(super::super::https_client())
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .build();
    let err = aws_sdk_sqs::Client::new(&aws)
        .list_queues()
        .send()
        .await
        .expect_err("an untrusted certificate is refused");
    assert!(
        matches!(err, aws_sdk_sqs::error::SdkError::DispatchFailure(_)),
        "{}",
        aws_sdk_sqs::error::DisplayErrorContext(&err)
    );
}

#[tokio::test]
async fn the_graph_client_refuses_a_certificate_no_trusted_root_issued() {
    let port = self_signed_server().await;
    let err = reqwest::Client::builder()
        .use_preconfigured_tls(super::rustls_client_config())
        .build()
        .expect("client")
        .get(format!("https://localhost:{port}/"))
        .send()
        .await
        .expect_err("an untrusted certificate is refused");
    assert!(err.is_connect(), "{err:?}");
}
