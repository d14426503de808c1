//! The TLS trust roots of every outbound HTTPS client: Mozilla's root
//! program as compiled into the binary by the rustls project's crates
//! (`webpki-root-certs` for the AWS SDK, `webpki-roots` for the Graph API
//! client: the same list, generated from the same CCADB data), and one
//! crypto provider, aws-lc, for both.
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

/// The compiled-in roots as one PEM bundle, the form the SDK's
/// [`TrustStore`] takes (about 200 KB; built once, on the first connection).
static ROOTS_PEM: LazyLock<Vec<u8>> = LazyLock::new(|| {
    use base64::Engine;
    let mut pem = Vec::with_capacity(webpki_root_certs::TLS_SERVER_ROOT_CERTS.len() * 2048);
    for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        let b64 = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
        pem.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.extend_from_slice(line);
            pem.push(b'\n');
        }
        pem.extend_from_slice(b"-----END CERTIFICATE-----\n");
    }
    pem
});

/// The SDK clients' TLS context: the compiled-in roots only (no system
/// store).
pub(crate) fn aws_tls_context() -> TlsContext {
    TlsContext::builder()
        .with_trust_store(TrustStore::empty().with_pem_certificate(ROOTS_PEM.as_slice()))
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
        let ders = CertificateDer::pem_slice_iter(&ROOTS_PEM)
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
    fn the_aws_roots_are_among_them() {
        // Amazon Root CA 1, which AWS service endpoints chain to.
        let amazon = webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().any(|c| {
            let der = c.as_ref();
            der.windows(b"Amazon Root CA 1".len()).any(|w| w == b"Amazon Root CA 1")
        });
        assert!(amazon);
        assert!(webpki_roots::TLS_SERVER_ROOTS.iter().any(|a| a
            .subject
            .as_ref()
            .windows(16)
            .any(|w| w == b"Amazon Root CA 1")));
    }
}

#[cfg(test)]
mod verification_tests;
