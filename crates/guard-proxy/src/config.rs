//! What the proxy is told at start-up.

use std::path::PathBuf;
use std::time::Duration;

use crate::ProxyError;

/// How the proxy tells the API server who the user is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityMode {
    /// The API server's request-header authenticator: the proxy presents a
    /// client certificate signed by `--requestheader-client-ca-file` (with a
    /// CN in `--requestheader-allowed-names`) and sends `X-Remote-User`,
    /// `X-Remote-Uid`, `X-Remote-Group` and `X-Remote-Extra-*`.
    FrontProxy,
    /// Impersonation: the proxy authenticates as itself (a service-account
    /// token or a client certificate) and sends `Impersonate-User`,
    /// `Impersonate-Uid`, `Impersonate-Group` and `Impersonate-Extra-*`.
    /// Works where API server flags cannot be set (managed clusters).
    Impersonation,
}

impl IdentityMode {
    /// `front-proxy` or `impersonation`, for logs and messages.
    pub fn name(self) -> &'static str {
        match self {
            IdentityMode::FrontProxy => "front-proxy",
            IdentityMode::Impersonation => "impersonation",
        }
    }
}

/// How the proxy authenticates itself to the API server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamCredential {
    /// A client certificate and its key (PEM). Re-read when they change.
    ClientCertificate {
        /// The certificate, optionally followed by its chain.
        cert: PathBuf,
        /// The private key.
        key: PathBuf,
    },
    /// A bearer token read from a file (a projected service-account token)
    /// and re-read when the kubelet rotates it.
    TokenFile(PathBuf),
}

/// Where the API server is and how to trust it.
#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    /// `https://HOST[:PORT][/PREFIX]`.
    pub url: String,
    /// CA bundle the API server's certificate must chain to.
    pub ca_file: PathBuf,
    /// The proxy's own credential.
    pub credential: UpstreamCredential,
}

/// Where Kubernetes mounts a pod's service-account credentials.
pub const IN_CLUSTER_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

impl UpstreamConfig {
    /// The API server URL a pod sees (`KUBERNETES_SERVICE_HOST` and
    /// `_PORT`), if it runs in a cluster.
    pub fn in_cluster_url() -> Option<String> {
        let host = std::env::var("KUBERNETES_SERVICE_HOST").ok()?;
        let port = std::env::var("KUBERNETES_SERVICE_PORT").ok()?;
        if host.is_empty() || port.is_empty() {
            return None;
        }
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host
        };
        Some(format!("https://{host}:{port}"))
    }
}

/// One provider of the ordered list, with the name it checks tokens for
/// (what a webhook client certificate's CN carries: the GitHub
/// organisation, the Google domain, or any name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainEntry {
    /// The provider.
    pub provider: &'static str,
    /// The organisation or domain.
    pub org: String,
}

/// The providers a credential is tried against, in order. The first that
/// authenticates it wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderChain(Vec<ChainEntry>);

impl ProviderChain {
    /// A chain of at least one entry, each provider at most once.
    pub fn new(entries: Vec<ChainEntry>) -> Result<Self, ProxyError> {
        if entries.is_empty() {
            return Err(ProxyError::Config(
                "no provider to authenticate users with".into(),
            ));
        }
        for (i, e) in entries.iter().enumerate() {
            if entries[..i].iter().any(|o| o.provider == e.provider) {
                return Err(ProxyError::Config(format!(
                    "provider {} is listed twice",
                    e.provider
                )));
            }
            if e.org.trim().is_empty() {
                return Err(ProxyError::Config(format!(
                    "provider {} has an empty organisation name",
                    e.provider
                )));
            }
        }
        Ok(ProviderChain(entries))
    }

    /// The entries, in the order they are tried.
    pub fn entries(&self) -> &[ChainEntry] {
        &self.0
    }

    /// Whether any provider accepts HTTP Basic credentials.
    pub fn takes_basic(&self) -> bool {
        self.0.iter().any(|e| takes_basic(e.provider))
    }
}

/// Whether `provider` checks HTTP Basic credentials: LDAP, whose token is
/// `base64(user:password)`, the very value of a Basic header.
pub fn takes_basic(provider: &str) -> bool {
    provider == "ldap"
}

/// Limits and deadlines.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Time to complete the TLS handshake and to receive a request head.
    pub read_timeout: Duration,
    /// Time an HTTP/2 connection may go without a request in progress
    /// before it is closed; `None`: never.
    pub idle_timeout: Option<Duration>,
    /// Time a request that is not long-running (not a watch, log, exec,
    /// attach, port-forward or proxy) may take from head to the end of its
    /// answer; also the time any request may wait for the API server's
    /// response head.
    pub request_timeout: Duration,
    /// Largest request head (request line and headers), in bytes.
    pub max_header_bytes: usize,
    /// Most headers in one request.
    pub max_headers: usize,
    /// Most client connections served at once.
    pub max_connections: usize,
    /// How long in-flight requests may take to finish after SIGTERM.
    pub shutdown_grace: Duration,
    /// How often certificate, key, CA and token files are checked for changes.
    pub reload_interval: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            read_timeout: Duration::from_secs(10),
            idle_timeout: Some(Duration::from_secs(60)),
            request_timeout: Duration::from_secs(60),
            max_header_bytes: 64 << 10,
            max_headers: 100,
            max_connections: 4096,
            shutdown_grace: Duration::from_secs(20),
            reload_interval: Duration::from_secs(10),
        }
    }
}

/// Everything `guard proxy` runs with.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// The proxy's serving certificate (from `guard init server`).
    pub serving_cert: PathBuf,
    /// Its private key.
    pub serving_key: PathBuf,
    /// How identities are handed over.
    pub mode: IdentityMode,
    /// The API server.
    pub upstream: UpstreamConfig,
    /// The providers users are authenticated with.
    pub chain: ProviderChain,
    /// Whether `kubectl --as` (incoming `Impersonate-*` headers) is allowed,
    /// after the API server confirms the user may impersonate.
    pub allow_impersonation: bool,
    /// Limits and deadlines.
    pub limits: Limits,
}

impl ProxyConfig {
    /// Checks that the parts fit together.
    pub fn validate(&self) -> Result<(), ProxyError> {
        if self.mode == IdentityMode::FrontProxy
            && !matches!(
                self.upstream.credential,
                UpstreamCredential::ClientCertificate { .. }
            )
        {
            return Err(ProxyError::Config(
                "front-proxy mode needs a client certificate the API server's --requestheader-client-ca-file accepts: set --apiserver-client-cert-file and --apiserver-client-key-file (`guard init front-proxy-client` issues one)".into(),
            ));
        }
        if self.limits.request_timeout.is_zero() {
            return Err(ProxyError::Config(
                "--request-timeout must be above 0".into(),
            ));
        }
        Ok(())
    }
}
