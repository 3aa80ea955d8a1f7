//! TLS on both sides: the certificate users see, and the trust and client
//! certificate towards the API server. Both are rebuilt when their files
//! change (Kubernetes rotates Secret volumes in place).

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use guard_auth::reload::FileStamp;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::ProxyError;

fn tls_err(path: &Path, reason: impl Into<String>) -> ProxyError {
    ProxyError::Tls {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Reads every PEM certificate of `path`.
pub(crate) fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, ProxyError> {
    let data = std::fs::read(path).map_err(|e| tls_err(path, e.to_string()))?;
    let certs = CertificateDer::pem_slice_iter(&data)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_err(path, format!("not a PEM certificate file ({e})")))?;
    if certs.is_empty() {
        return Err(tls_err(path, "holds no PEM certificate"));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, ProxyError> {
    let data = std::fs::read(path).map_err(|e| tls_err(path, e.to_string()))?;
    PrivateKeyDer::from_pem_slice(&data).map_err(|_| tls_err(path, "holds no PEM private key"))
}

/// The stamps of `paths`, to notice a change.
pub(crate) fn stamps(paths: &[&Path]) -> Vec<Option<FileStamp>> {
    paths.iter().map(|p| FileStamp::of(p)).collect()
}

/// The serving side: the certificate and key users' clients see. No client
/// certificate is asked for: users authenticate with tokens.
pub struct ServingTls {
    cert: PathBuf,
    key: PathBuf,
    state: RwLock<(Arc<rustls::ServerConfig>, Vec<Option<FileStamp>>)>,
}

impl ServingTls {
    /// Loads the files; fails when they are missing or unusable.
    pub fn new(cert: PathBuf, key: PathBuf) -> Result<Arc<Self>, ProxyError> {
        let stamps = stamps(&[&cert, &key]);
        let config = Self::load(&cert, &key)?;
        Ok(Arc::new(ServingTls {
            cert,
            key,
            state: RwLock::new((config, stamps)),
        }))
    }

    fn load(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, ProxyError> {
        let chain = read_certs(cert)?;
        let key_der = read_key(key)?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| tls_err(cert, e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain, key_der)
            .map_err(|e| tls_err(key, format!("cannot be used with {} ({e})", cert.display())))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// The configuration for the next connection.
    pub fn current(&self) -> Arc<rustls::ServerConfig> {
        self.state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .clone()
    }

    /// Rebuilds the configuration if a file changed; a broken new pair
    /// keeps the old configuration and returns the error.
    pub fn reload_if_changed(&self) -> Result<bool, ProxyError> {
        let now = stamps(&[&self.cert, &self.key]);
        if self.state.read().unwrap_or_else(|p| p.into_inner()).1 == now {
            return Ok(false);
        }
        let result = Self::load(&self.cert, &self.key);
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        state.1 = now;
        state.0 = result?;
        Ok(true)
    }
}

/// The client side towards the API server: the CA its certificate must
/// chain to, and optionally the proxy's client certificate.
#[derive(Debug, Clone)]
pub struct UpstreamTlsFiles {
    /// CA bundle.
    pub ca: PathBuf,
    /// `(certificate, key)` the proxy presents, if any.
    pub client: Option<(PathBuf, PathBuf)>,
}

impl UpstreamTlsFiles {
    /// Every file, for change detection.
    pub fn paths(&self) -> Vec<&Path> {
        let mut paths = vec![self.ca.as_path()];
        if let Some((c, k)) = &self.client {
            paths.push(c);
            paths.push(k);
        }
        paths
    }

    /// Builds a client configuration (ALPN is set by the connector).
    pub fn load(&self) -> Result<rustls::ClientConfig, ProxyError> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in read_certs(&self.ca)? {
            roots
                .add(cert)
                .map_err(|e| tls_err(&self.ca, format!("not a usable CA certificate ({e})")))?;
        }
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| tls_err(&self.ca, e.to_string()))?
            .with_root_certificates(roots);
        match &self.client {
            Some((cert, key)) => builder
                .with_client_auth_cert(read_certs(cert)?, read_key(key)?)
                .map_err(|e| tls_err(key, format!("cannot be used with {} ({e})", cert.display()))),
            None => Ok(builder.with_no_client_auth()),
        }
    }
}
