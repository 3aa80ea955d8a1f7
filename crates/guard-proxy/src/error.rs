use std::path::PathBuf;

/// Why the proxy cannot start (or cannot reload a file).
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// A TLS file (serving certificate, API server CA, client certificate)
    /// is missing or unusable.
    #[error("TLS file {path}: {reason}")]
    Tls {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The service-account token file cannot be read or is empty.
    #[error("token file {path}: {reason}")]
    TokenFile {
        /// The file.
        path: PathBuf,
        /// What is wrong (never the token).
        reason: String,
    },
    /// The API server address is not an `https://HOST[:PORT][/PATH]` URL.
    #[error("invalid API server URL {url:?}: {reason}")]
    BadUpstream {
        /// The URL as given.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The configuration contradicts itself.
    #[error("{0}")]
    Config(String),
}
