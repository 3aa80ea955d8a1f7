//! `guard proxy`

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use guard_providers::ProviderFlags;

use super::parse_duration;

/// `guard proxy`
#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// Address users connect to: HOST:PORT, or :PORT for every interface.
    #[arg(long, value_name = "ADDR", default_value = ":8443")]
    pub secure_addr: String,

    /// The proxy's serving certificate, optionally followed by its chain
    /// (server.crt from `guard init server`, valid for the name users dial).
    #[arg(long, alias = "cert-file", value_name = "FILE")]
    pub tls_cert_file: PathBuf,

    /// The serving certificate's private key (server.key).
    #[arg(long, alias = "key-file", value_name = "FILE")]
    pub tls_private_key_file: PathBuf,

    /// How the user's identity reaches the API server: front-proxy
    /// (X-Remote-* headers and a client certificate the API server's
    /// --requestheader-client-ca-file accepts; kubeadm clusters) or
    /// impersonation (Impersonate-* headers sent with the proxy's own
    /// credential, which RBAC lets impersonate; any cluster, managed ones
    /// included).
    #[arg(long, value_name = "MODE")]
    pub mode: Mode,

    /// The API server [default in a pod: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT].
    #[arg(long = "apiserver-url", value_name = "URL")]
    pub apiserver_url: Option<String>,

    /// CA certificate(s) the API server's certificate must chain to
    /// [default: the pod's service-account ca.crt].
    #[arg(long = "apiserver-ca-file", value_name = "FILE")]
    pub apiserver_ca_file: Option<PathBuf>,

    /// Client certificate the proxy presents to the API server: in
    /// front-proxy mode one signed by --requestheader-client-ca-file with a
    /// CN in --requestheader-allowed-names (`guard init front-proxy-client`).
    #[arg(
        long = "apiserver-client-cert-file",
        value_name = "FILE",
        requires = "apiserver_client_key_file"
    )]
    pub apiserver_client_cert_file: Option<PathBuf>,

    /// The client certificate's private key.
    #[arg(
        long = "apiserver-client-key-file",
        value_name = "FILE",
        requires = "apiserver_client_cert_file"
    )]
    pub apiserver_client_key_file: Option<PathBuf>,

    /// Impersonation mode: the proxy's bearer token, re-read when it
    /// changes [default without a client certificate: the pod's
    /// service-account token].
    #[arg(
        long = "apiserver-token-file",
        value_name = "FILE",
        conflicts_with = "apiserver_client_cert_file"
    )]
    pub apiserver_token_file: Option<PathBuf>,

    /// The providers and their options (tried in --auth-providers order).
    #[command(flatten)]
    pub providers: ProviderFlags,

    /// The name tokens are checked for, as a webhook client certificate's
    /// CN carries it: the GitHub organisation, the Google Workspace domain,
    /// the EKS cluster ID. NAME for every provider, or PROVIDER=NAME for
    /// one (repeat). Defaults to the provider's name where the provider
    /// needs none. Providers are tried in --auth-providers order.
    #[arg(long = "org", value_name = "[PROVIDER=]NAME")]
    pub orgs: Vec<String>,

    /// Let users act as someone else (kubectl --as, Impersonate-* headers)
    /// when the API server confirms, with a SelfSubjectAccessReview sent as
    /// the user, that they may impersonate each requested user, group, uid
    /// and extra. The original user travels in an extra. Off: such requests
    /// are refused.
    #[arg(long)]
    pub allow_impersonation: bool,

    /// Time a request that is not long-running (watch, logs, exec, attach,
    /// port-forward, proxy) may take; also the longest wait for the API
    /// server's answer to begin.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub request_timeout: Duration,

    /// Time allowed for the TLS handshake and a request's head.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub server_read_timeout: Duration,

    /// Close an HTTP/2 connection that has had no request in progress for
    /// this long (HTTP/1.1 connections: --server-read-timeout between
    /// requests); 0 never.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub idle_timeout: Duration,

    /// Largest request head (request line and headers) in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 65536, value_parser = clap::value_parser!(u32).range(8192..=1048576))]
    pub max_header_bytes: u32,

    /// How long a successful credential check is reused; 0 disables.
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = parse_duration)]
    pub cache_ttl: Duration,

    /// How long a refused credential is remembered; 0 disables.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub cache_failure_ttl: Duration,

    /// Maximum number of cached checks; 0 disables the cache.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub cache_size: usize,

    /// Time a provider may take to check a credential.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub provider_timeout: Duration,

    /// How often certificate, key, CA, token and provider files are
    /// checked for changes.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub reload_interval: Duration,

    /// After SIGTERM, how long in-flight requests may take to finish.
    #[arg(long, value_name = "DURATION", default_value = "20s", value_parser = parse_duration)]
    pub shutdown_grace_period: Duration,

    /// Most client connections served at once.
    #[arg(long, value_name = "N", default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// Plain-HTTP address for /metrics, /healthz and /readyz; empty to turn off.
    #[arg(long, value_name = "ADDR", default_value = ":8081")]
    pub metrics_addr: String,
}

/// `--mode`
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// X-Remote-* headers and a front-proxy client certificate.
    FrontProxy,
    /// Impersonate-* headers and the proxy's own credential.
    Impersonation,
}
