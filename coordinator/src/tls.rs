//! TLS for the channel between the coordinator and its workers (`--coordinator-tls CERT,KEY`), for
//! clusters whose pod network is not trusted: the coordinator serves HTTPS with the given certificate
//! chain and key, and the workers trust that chain's certificates only (given to them as PEM in
//! [`CA_ENV`](formats::transfer::CA_ENV), beside the token), so nobody on the path reads the load, the
//! token or the records, or poses as the coordinator.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// A worker that has not finished its handshake in this long is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// `--coordinator-tls CERT,KEY`: PEM files of the coordinator's certificate chain and its private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoordinatorTls {
    /// The certificate chain (the server's certificate first; the certificates the workers trust).
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
}

/// The coordinator's TLS, read and checked: what the server uses, and what the workers trust.
#[derive(Clone)]
pub struct LoadedTls {
    /// The server's configuration.
    pub config: Arc<ServerConfig>,
    /// The certificate chain as PEM: what the workers are given to trust.
    pub trusted_pem: String,
}

impl CoordinatorTls {
    /// Parses `CERT,KEY` (for clap).
    pub fn parse(text: &str) -> Result<CoordinatorTls, String> {
        match text.split_once(',') {
            Some((cert, key)) if !cert.is_empty() && !key.is_empty() && !key.contains(',') => {
                Ok(CoordinatorTls {
                    cert: cert.into(),
                    key: key.into(),
                })
            }
            _ => Err(format!(
                "`{text}` is not CERT,KEY (two PEM files: the certificate chain and its private key)"
            )),
        }
    }

    /// Reads both files; an error names the file and what is wrong with it (unreadable, no
    /// certificate, no key, a key that is not the certificate's).
    pub fn load(&self) -> Result<LoadedTls> {
        let named = |path: &Path| format!("--coordinator-tls: {}", path.display());
        let trusted_pem = std::fs::read_to_string(&self.cert).with_context(|| named(&self.cert))?;
        let chain = CertificateDer::pem_slice_iter(trusted_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow::anyhow!("not PEM certificates: {e}"))
            .with_context(|| named(&self.cert))?;
        if chain.is_empty() {
            bail!(
                "{}: holds no certificate (no `BEGIN CERTIFICATE` block)",
                named(&self.cert)
            );
        }
        let key = PrivateKeyDer::from_pem_file(&self.key)
            .map_err(|e| anyhow::anyhow!("no PEM private key in it ({e})"))
            .with_context(|| named(&self.key))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .with_context(|| {
                format!(
                    "--coordinator-tls: {} and {} do not make a certificate and its key",
                    self.cert.display(),
                    self.key.display()
                )
            })?;
        Ok(LoadedTls {
            config: Arc::new(config),
            trusted_pem,
        })
    }
}

/// A listener that hands axum connections whose TLS handshake is done. Handshakes run in tasks of
/// their own, so a slow or hostile client holds up nobody else; a failed one is logged and dropped.
pub(crate) struct TlsListener {
    local: SocketAddr,
    accepted: tokio::sync::mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
}

impl TlsListener {
    /// Accepts on `tcp` (within a tokio runtime) with `config`.
    pub(crate) fn new(tcp: TcpListener, config: Arc<ServerConfig>) -> std::io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let (tx, accepted) = tokio::sync::mpsc::channel(64);
        let acceptor = TlsAcceptor::from(config);
        tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of descriptors and the like: wait rather than spin.
                        log::warn!("workers' HTTPS server: accepting: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => {
                            log::warn!("workers' HTTPS server: TLS handshake with {peer}: {e}")
                        }
                        Err(_) => log::warn!(
                            "workers' HTTPS server: {peer} did not finish its TLS handshake in {} s",
                            HANDSHAKE_TIMEOUT.as_secs()
                        ),
                    }
                });
            }
        });
        Ok(TlsListener { local, accepted })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.accepted.recv().await {
            Some(connection) => connection,
            // The accepting task holds the sender for as long as the runtime runs.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cert_and_key_are_two_files() {
        assert_eq!(
            CoordinatorTls::parse("a.pem,b.key").unwrap(),
            CoordinatorTls {
                cert: "a.pem".into(),
                key: "b.key".into()
            }
        );
        for bad in ["a.pem", ",b", "a,", "a,b,c"] {
            let e = CoordinatorTls::parse(bad).unwrap_err();
            assert!(e.contains("is not CERT,KEY"), "{e}");
        }
    }
}
