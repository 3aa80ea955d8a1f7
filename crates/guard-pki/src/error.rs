use std::path::PathBuf;

/// Everything that can go wrong while reading or writing the PKI.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// The CA certificate or key is missing.
    #[error("no CA found in {dir}: run `guard init ca` first (with the same --pki-dir)")]
    CaMissing {
        /// The pki directory that was searched.
        dir: PathBuf,
    },
    /// A file could not be read or written.
    #[error("{action} {path}")]
    Io {
        /// What was being done ("cannot read", "cannot write", ...).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file exists and the caller did not allow replacing it.
    #[error("{path} already exists; pass --force to replace it")]
    AlreadyExists {
        /// The file that would have been replaced.
        path: PathBuf,
    },
    /// A certificate file holds no usable certificate.
    #[error("{path} is not a PEM certificate guard can use: {reason}")]
    BadCertificate {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A key file holds no usable private key.
    #[error("{path} is not a PEM private key guard can use: {reason}")]
    BadKey {
        /// The file.
        path: PathBuf,
        /// What is wrong with it (never the key material).
        reason: String,
    },
    /// The CA key does not belong to the CA certificate.
    #[error("{key} does not match {cert}: the CA key and certificate come from different CAs")]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// The certificate could not be built (bad name, bad SAN, ...).
    #[error("cannot create the certificate: {0}")]
    Generate(String),
}

impl PkiError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        PkiError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

impl From<rcgen::Error> for PkiError {
    fn from(e: rcgen::Error) -> Self {
        PkiError::Generate(e.to_string())
    }
}
