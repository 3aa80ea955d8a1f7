//! `guard run`'s connection flags: deadlines, client certificates at the
//! handshake, the plain probe port. Kept apart from cli.rs so that they
//! travel as one block.

use std::time::Duration;

use clap::Args;
use guard_server::{ClientAuth, ServerConfig};

use crate::cli::parse_duration;

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

impl ConnectionFlags {
    /// Whether the handshake requires a client certificate.
    pub fn client_auth(&self) -> ClientAuth {
        if self.require_client_cert {
            ClientAuth::Required
        } else {
            ClientAuth::Optional
        }
    }

    /// Sets the connection part of the server's configuration.
    pub fn apply(&self, config: &mut ServerConfig) {
        let never_if_zero = |d: Duration| (!d.is_zero()).then_some(d);
        config.first_request_timeout = self.first_request_timeout;
        config.idle_timeout = never_if_zero(self.idle_timeout);
        config.max_connection_age = never_if_zero(self.max_connection_age);
        config.probe_addr = self.probe_addr.clone().filter(|a| !a.is_empty());
    }
}
