//! The TLS trust roots of every outbound HTTPS client: Mozilla's root
//! program as compiled into the binary by the rustls project's crates
//! (`webpki-root-certs` for the AWS SDK, `webpki-roots` for the Graph API
//! client: the same list, generated from the same CCADB data), and one
//! crypto provider, aws-lc, for both. The SDK clients, which talk only to
//! AWS service endpoints, trust only the roots those chain to unless an
//! endpoint override points them at another HTTPS server
//! ([`aws_roots_suffice`]): fewer anchors to decode on the first
//! connection, and no other CA can vouch for an AWS endpoint.
//!
//! Why not the system trust store: reading and parsing it was most of the
//! cold start of a function whose first request calls AWS (2.4 to 2.6 times
//! a hello-world Lambda; issue 15), and a Lambda image's store is not
//! something the function can keep current anyway. Certificate
//! verification is unchanged (WebPKI chain, validity and name checks);
//! only where the anchors come from differs. New roots arrive with a
//! dependency update (`cargo update -p webpki-root-certs -p webpki-roots`).

use std::sync::{Arc, LazyLock};

use aws_smithy_http_client::tls::{TlsContext, TrustStore};

/// The roots AWS service endpoints chain to (Amazon Trust Services, and
/// Starfield's, which cross-signs them), by the name in their certificates.
const AWS_ROOT_NAMES: [&[u8]; 5] = [
    b"Amazon Root CA 1",
    b"Amazon Root CA 2",
    b"Amazon Root CA 3",
    b"Amazon Root CA 4",
    b"Starfield Services Root Certificate Authority - G2",
];

/// The roots among `certs` (DER) that are one of [`AWS_ROOT_NAMES`].
/// Searched with `memmem`, one searcher per name built once: comparing
/// every window of every root (about 200 KB) byte by byte cost about 8
/// million instructions, most of a cold start's first AWS request, and a
/// searcher built per root and name (`memmem::find`) still 0.5 million.
fn aws_roots<'a>(certs: impl Iterator<Item = &'a [u8]>) -> impl Iterator<Item = &'a [u8]> {
    let finders = AWS_ROOT_NAMES.map(memchr::memmem::Finder::new);
    certs.filter(move |der| finders.iter().any(|f| f.find(der).is_some()))
}

/// `certs` as one PEM bundle, the form the SDK's [`TrustStore`] takes.
fn pem_bundle<'a>(certs: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
    use base64::Engine;
    let mut pem = Vec::new();
    for der in certs {
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        pem.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.extend_from_slice(line);
            pem.push(b'\n');
        }
        pem.extend_from_slice(b"-----END CERTIFICATE-----\n");
    }
    pem
}

/// Every compiled-in root (about 200 KB of PEM, which the SDK decodes and
/// parses on the first connection: milliseconds).
static ALL_ROOTS_PEM: LazyLock<Vec<u8>> =
    LazyLock::new(|| pem_bundle(webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().map(|c| c.as_ref())));

/// The five roots AWS endpoints chain to (about 8 KB of PEM).
static AWS_ROOTS_PEM: LazyLock<Vec<u8>> = LazyLock::new(|| {
    pem_bundle(aws_roots(
        webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().map(|c| c.as_ref()),
    ))
});

/// Which roots the SDK clients trust, given the endpoint overrides in the
/// environment (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>`): only
/// AWS's own roots while every HTTPS connection goes to an AWS service
/// endpoint (no override, or plain-HTTP overrides such as the local
/// emulator), every Mozilla root once an override names an HTTPS endpoint
/// that may be anyone's.
fn aws_roots_suffice(endpoint_overrides: impl IntoIterator<Item = String>) -> bool {
    !endpoint_overrides
        .into_iter()
        .any(|url| url.trim().to_ascii_lowercase().starts_with("https://"))
}

/// The SDK clients' TLS context: compiled-in roots only (no system store),
/// as [`aws_roots_suffice`] chooses.
pub(crate) fn aws_tls_context() -> TlsContext {
    let overrides = std::env::vars().filter_map(|(k, v)| k.starts_with("AWS_ENDPOINT_URL").then_some(v));
    let pem = if aws_roots_suffice(overrides) {
        AWS_ROOTS_PEM.as_slice()
    } else {
        ALL_ROOTS_PEM.as_slice()
    };
    TlsContext::builder()
        .with_trust_store(TrustStore::empty().with_pem_certificate(pem))
        .build()
        // `build` cannot fail today; were it to, the stock context (the
        // system store) still verifies certificates.
        .unwrap_or_default()
}

/// A rustls client configuration for HTTPS outside the AWS SDK (the Graph
/// API's `reqwest` client): aws-lc, the SDK's provider, so the binary
/// carries one crypto library, and the compiled-in roots (already parsed
/// trust anchors: nothing to read or parse at start-up).
pub fn rustls_client_config() -> rustls::ClientConfig {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("aws-lc supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;

    #[test]
    fn every_compiled_in_root_reaches_the_sdk_as_a_trust_anchor() {
        let ders = CertificateDer::pem_slice_iter(&ALL_ROOTS_PEM)
            .collect::<Result<Vec<_>, _>>()
            .expect("the bundle is valid PEM");
        assert_eq!(ders.len(), webpki_root_certs::TLS_SERVER_ROOT_CERTS.len());
        assert!(ders.len() > 100, "Mozilla's program has well over 100 roots");
        // The SDK adds each with `RootCertStore::add` and panics on one it
        // cannot parse: every one must parse.
        let mut store = rustls::RootCertStore::empty();
        for der in ders {
            store.add(der).expect("a root the SDK can use");
        }
    }

    #[test]
    fn the_aws_roots_are_the_five_aws_endpoints_chain_to() {
        let ders = CertificateDer::pem_slice_iter(&AWS_ROOTS_PEM)
            .collect::<Result<Vec<_>, _>>()
            .expect("the bundle is valid PEM");
        assert_eq!(ders.len(), AWS_ROOT_NAMES.len(), "each name is one root");
        for name in AWS_ROOT_NAMES {
            assert!(ders.iter().any(|d| d.windows(name.len()).any(|w| w == name)));
        }
        let mut store = rustls::RootCertStore::empty();
        for der in ders {
            store.add(der).expect("a root the SDK can use");
        }
        // The Graph API client's anchors hold Amazon's too.
        assert!(webpki_roots::TLS_SERVER_ROOTS.iter().any(|a| a
            .subject
            .as_ref()
            .windows(16)
            .any(|w| w == b"Amazon Root CA 1")));
    }

    #[test]
    fn every_root_is_trusted_once_an_endpoint_override_is_https() {
        assert!(aws_roots_suffice(Vec::new()));
        assert!(aws_roots_suffice(["http://127.0.0.1:4566".to_string()]));
        assert!(!aws_roots_suffice(["https://localstack.example:4566".to_string()]));
        assert!(!aws_roots_suffice([
            "http://127.0.0.1:4566".to_string(),
            " HTTPS://dynamodb.example".to_string()
        ]));
    }
}

#[cfg(test)]
mod verification_tests;
