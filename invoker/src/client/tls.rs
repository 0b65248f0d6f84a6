//! TLS for `https://` endpoints: rustls with the platform's roots (and `--ca-cert`'s), ALPN offering h2
//! then HTTP/1.1, and handshake failures said in words (unknown issuer, expired, name mismatch).

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{CertificateError, ClientConfig, RootCertStore};

use crate::error::ReplayError;

/// The client configuration every https endpoint of a run shares.
pub(crate) fn config(ca_cert: Option<&Path>) -> Result<Arc<ClientConfig>, ReplayError> {
    let mut roots = RootCertStore::empty();
    // A platform without a certificate store still serves endpoints whose root --ca-cert names.
    let native = rustls_native_certs::load_native_certs();
    let (added, _ignored) = roots.add_parsable_certificates(native.certs);
    log::debug!("{added} root certificate(s) from the platform");
    if let Some(path) = ca_cert {
        let bad = |reason: String| ReplayError::CaCert {
            path: path.to_owned(),
            reason,
        };
        let mut found = 0;
        for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(e.to_string()))? {
            let cert = cert.map_err(|e| bad(format!("not PEM certificates: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| bad(format!("a certificate rustls refuses: {e}")))?;
            found += 1;
        }
        if found == 0 {
            return Err(bad(
                "holds no certificate (no `BEGIN CERTIFICATE` block)".into()
            ));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ReplayError::Start(std::io::Error::other(e)))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Why a TLS handshake with `host` failed, in words.
pub(crate) fn handshake_failure(host: &str, e: &std::io::Error) -> String {
    let reason = match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::InvalidCertificate(c)) => match c {
            CertificateError::UnknownIssuer => {
                "unknown issuer: its certificate is not signed by a trusted root (--ca-cert FILE adds one)"
                    .to_owned()
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "its certificate has expired".to_owned()
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "its certificate is not valid yet".to_owned()
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!("name mismatch: its certificate is not for `{host}`")
            }
            other => format!("invalid certificate ({other:?})"),
        },
        Some(other) => other.to_string(),
        None => e.to_string(),
    };
    format!("TLS handshake with {host}: {reason}")
}

/// The TLS of a worker's client for its coordinator: only the certificates in `pem` are trusted (no
/// platform roots: the run's coordinator is not any server a public CA vouches for).
pub(crate) fn trusting_only(pem: &str) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes()) {
        let cert = cert.map_err(|e| format!("not PEM certificates: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("a certificate rustls refuses: {e}"))?;
    }
    if roots.is_empty() {
        return Err("holds no certificate (no `BEGIN CERTIFICATE` block)".into());
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
