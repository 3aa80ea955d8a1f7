//! `guard run`

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use guard_providers::ProviderFlags;

use super::parse_duration;

/// `guard run`
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Address to listen on: HOST:PORT, or :PORT for every interface.
    #[arg(long, value_name = "ADDR", default_value = ":8443")]
    pub secure_addr: String,

    /// CA certificate(s) that client certificates must chain to (ca.crt).
    #[arg(long, alias = "ca-cert-file", value_name = "FILE")]
    pub tls_ca_file: Option<PathBuf>,

    /// The server certificate, optionally followed by its chain (server.crt).
    #[arg(long, alias = "cert-file", value_name = "FILE")]
    pub tls_cert_file: Option<PathBuf>,

    /// The server's private key (server.key).
    #[arg(long, alias = "key-file", value_name = "FILE")]
    pub tls_private_key_file: Option<PathBuf>,

    /// The providers and their options.
    #[command(flatten)]
    pub providers: ProviderFlags,

    /// Time allowed to receive a request body.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub server_read_timeout: Duration,

    /// Time allowed to answer a request. A review is given up (and answered
    /// with an error) one second before this.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub server_write_timeout: Duration,

    /// How long a successful review is reused; 0 disables.
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = parse_duration)]
    pub cache_ttl: Duration,

    /// How long a denied review is reused; 0 disables.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub cache_failure_ttl: Duration,

    /// Maximum number of cached reviews; 0 disables the cache.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub cache_size: usize,

    /// How often the token file and the TLS files are checked for changes.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub reload_interval: Duration,

    /// After SIGTERM, how long in-flight requests may take to finish.
    #[arg(long, value_name = "DURATION", default_value = "20s", value_parser = parse_duration)]
    pub shutdown_grace_period: Duration,

    /// Most client connections served at once (TLS handshakes included);
    /// more wait in the listen backlog until slow or idle ones time out.
    #[arg(long, value_name = "N", default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// Deadlines, client certificates at the handshake, the probe port.
    #[command(flatten)]
    pub connections: ConnectionFlags,

    /// Accepted for compatibility with Go Guard; guard does not query NTP.
    #[arg(long, value_name = "DURATION", hide = true)]
    pub clock_check_interval: Option<String>,

    /// Accepted for compatibility with Go Guard; guard does not query NTP.
    #[arg(long, value_name = "DURATION", hide = true)]
    pub max_clock_skew: Option<String>,

    /// Accepted for compatibility with Go Guard; guard does not query NTP.
    #[arg(long, value_name = "HOST", hide = true)]
    pub ntp_server: Option<String>,

    // Last: its help heading covers the flags that follow it.
    /// The authorization webhook (`--authz-providers`).
    #[command(flatten)]
    pub authz: guard_authz::AuthzArgs,
}

/// How `guard run` treats connections.
#[derive(Debug, Clone, Args)]
pub struct ConnectionFlags {
    /// Time from accepting a connection to its first complete request head
    /// (TLS handshake, HTTP/2 preface and SETTINGS, the head itself). A
    /// client that has not sent one by then is disconnected.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = not_zero)]
    pub first_request_timeout: Duration,

    /// Close a connection that has no request in progress for this long
    /// (HTTP/2: GOAWAY; HTTP/1.1: between keep-alive requests); 0 never.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub idle_timeout: Duration,

    /// Close a connection gracefully once it is this old (up to 10 % sooner),
    /// so that the API servers' long-lived HTTP/2 connections spread over new
    /// replicas; 0 never.
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = parse_duration)]
    pub max_connection_age: Duration,

    /// Require a client certificate from --tls-ca-file at the TLS handshake.
    /// `false` is Go Guard's behaviour: connections without one are served
    /// /healthz, /readyz and /metrics on the TLS port (reviews still need a
    /// certificate).
    #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set, num_args = 0..=1, default_value_t = true, default_missing_value = "true")]
    pub require_client_cert: bool,

    /// Also serve /healthz, /readyz and /metrics over plain HTTP on this
    /// address (HOST:PORT, or :PORT for every interface), for kubelet probes
    /// and Prometheus. Reviews are never served there. Off by default.
    #[arg(long, value_name = "ADDR")]
    pub probe_addr: Option<String>,
}

/// A duration that must not be 0 (it would close every connection at once).
fn not_zero(s: &str) -> Result<Duration, String> {
    match parse_duration(s)? {
        d if d.is_zero() => Err("must be above 0 (it would close every connection at once)".into()),
        d => Ok(d),
    }
}
