//! The rustls configuration, rebuilt when the certificate, key or CA file
//! changes on disk (Kubernetes rotates Secret volumes in place).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use guard_auth::ErrorChain;
use guard_auth::reload::Reloading;

use rustls::ServerConfig as TlsConfig;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::ServerError;

/// The three files of the server's TLS setup.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// CA bundle that client certificates must chain to (`--tls-ca-file`).
    pub ca: PathBuf,
    /// The server certificate, optionally followed by its chain (`--tls-cert-file`).
    pub cert: PathBuf,
    /// The server's private key (`--tls-private-key-file`).
    pub key: PathBuf,
    /// Whether the handshake requires a client certificate.
    pub client_auth: ClientAuth,
}

/// Whether a client must present a certificate to complete the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// No certificate, no connection: a client that cannot prove it holds a
    /// certificate from the CA never gets past the handshake, so it cannot
    /// hold a connection slot beyond it either. Probes and Prometheus use
    /// the plain probe port.
    #[default]
    Required,
    /// Go Guard's behaviour: a certificate is verified when presented, and
    /// connections without one reach `/healthz`, `/readyz` and `/metrics`
    /// (reviews still need one: 401).
    Optional,
}

impl TlsFiles {
    /// Builds a rustls configuration from the files.
    pub fn load(&self) -> Result<TlsConfig, ServerError> {
        let tls_err = |path: &Path, reason: String| ServerError::Tls {
            path: path.to_owned(),
            reason,
        };
        let read_certs = |path: &Path| -> Result<Vec<CertificateDer<'static>>, ServerError> {
            let data = std::fs::read(path).map_err(|e| tls_err(path, e.to_string()))?;
            let certs = CertificateDer::pem_slice_iter(&data)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| tls_err(path, format!("not a PEM certificate file ({e})")))?;
            if certs.is_empty() {
                return Err(tls_err(path, "holds no PEM certificate".into()));
            }
            Ok(certs)
        };
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());

        let mut roots = rustls::RootCertStore::empty();
        for cert in read_certs(&self.ca)? {
            roots
                .add(cert)
                .map_err(|e| tls_err(&self.ca, format!("not a usable CA certificate ({e})")))?;
        }
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
        let verifier = match self.client_auth {
            ClientAuth::Required => verifier,
            ClientAuth::Optional => verifier.allow_unauthenticated(),
        }
        .build()
        .map_err(|e| tls_err(&self.ca, e.to_string()))?;

        let chain = read_certs(&self.cert)?;
        let key_data = std::fs::read(&self.key).map_err(|e| tls_err(&self.key, e.to_string()))?;
        let key = PrivateKeyDer::from_pem_slice(&key_data)
            .map_err(|_| tls_err(&self.key, "holds no PEM private key".into()))?;

        let mut config = TlsConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| tls_err(&self.cert, e.to_string()))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .map_err(|e| {
                tls_err(
                    &self.key,
                    format!("cannot be used with {} ({e})", self.cert.display()),
                )
            })?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }
}

/// The TLS configuration in use, swapped when the files change.
pub struct TlsReloader {
    config: Arc<Reloading<TlsConfig, ServerError>>,
}

impl TlsReloader {
    /// Loads the files; fails when they are missing or unusable.
    pub fn new(files: TlsFiles) -> Result<Arc<Self>, ServerError> {
        let paths = vec![files.ca.clone(), files.cert.clone(), files.key.clone()];
        let config = Reloading::load(paths, move || files.load())?;
        Ok(Arc::new(TlsReloader { config }))
    }

    /// The configuration for the next connection.
    pub fn current(&self) -> Arc<TlsConfig> {
        self.config.current()
    }

    /// Rebuilds the configuration if a file changed. A broken new set keeps
    /// the old configuration and returns the error.
    pub fn reload_if_changed(&self) -> Result<bool, ServerError> {
        Ok(self.config.reload_if_changed()?.is_some())
    }

    /// Checks for changes every `interval` while the reloader is alive.
    pub fn spawn_reloader(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        self.config
            .spawn_reloader(interval, |_, result| match result {
                Ok(_) => tracing::info!("TLS certificate, key or CA reloaded"),
                Err(e) => {
                    tracing::error!("{}; keeping the previous TLS configuration", ErrorChain(e))
                }
            })
    }
}
