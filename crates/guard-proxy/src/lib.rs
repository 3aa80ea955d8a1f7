//! `guard proxy`: an authenticating proxy in front of kube-apiserver.
//!
//! Users send their bearer token (or, for LDAP, Basic credentials) to the
//! proxy over TLS. The proxy checks it with the same providers, cache and
//! deadline as a webhook TokenReview ([`guard_auth::Authenticator`]), trying
//! the configured providers in order, and forwards the request to the API
//! server with the user's identity in headers the API server trusts:
//!
//! * [`IdentityMode::FrontProxy`]: a client certificate accepted by
//!   `--requestheader-client-ca-file` and `X-Remote-*` headers (kubeadm
//!   clusters set this up; `guard init front-proxy-client` issues the
//!   certificate);
//! * [`IdentityMode::Impersonation`]: the proxy's own service-account token
//!   or client certificate and `Impersonate-*` headers (managed clusters).
//!
//! The user's credential never reaches the API server; identity headers a
//! client sends itself are refused; `kubectl --as` is refused unless
//! allowed, and then checked with the API server first. Watches and logs
//! stream through unbuffered and without a deadline; WebSocket and SPDY
//! upgrades (exec, attach, port-forward) are tunnelled over HTTP/1.1; the
//! rest may use HTTP/2 on both sides. Every request leaves one audit line
//! (target `audit`), and `/metrics` on the probe port counts them.

mod audit;
mod chain;
mod config;
mod credentials;
mod error;
mod handler;
mod headers;
pub mod identity;
mod idle;
mod impersonation;
mod inspect;
mod metrics;
mod request_body;
mod request_info;
mod server;
mod tls;
mod upstream;

use std::future::Future;
use std::sync::Arc;

use guard_auth::Authenticator;
use guard_auth::reload::spawn_periodic;
use tokio::net::TcpListener;

pub use config::{
    ChainEntry, IN_CLUSTER_DIR, IdentityMode, Limits, ProviderChain, ProxyConfig, UpstreamConfig,
    UpstreamCredential, takes_basic,
};
pub use error::ProxyError;
pub use metrics::ProxyMetrics;
pub use request_info::RequestInfo;

use crate::handler::Proxy;
use crate::tls::ServingTls;
use crate::upstream::Upstream;

/// Files watched for changes while the proxy runs.
struct Reloadable {
    tls: Arc<ServingTls>,
    upstream: Arc<Upstream>,
}

/// A proxy whose files are loaded and checked, ready to serve: the serving
/// certificate and key, the API server URL, CA and the proxy's own
/// credential. Built before the listeners are announced, so a broken file
/// stops the start with one error and nothing ever says "listening".
pub struct LoadedProxy {
    config: ProxyConfig,
    tls: Arc<ServingTls>,
    upstream: Arc<Upstream>,
    metrics: Arc<ProxyMetrics>,
}

impl LoadedProxy {
    /// Checks `config` and loads every file it names. `/metrics` will also
    /// show `counters`, the providers' own (as `guard run`'s does).
    pub fn load(
        config: ProxyConfig,
        counters: Vec<guard_auth::ProviderCounter>,
    ) -> Result<Self, ProxyError> {
        config.validate()?;
        let tls = ServingTls::new(config.serving_cert.clone(), config.serving_key.clone())?;
        let upstream = Upstream::new(&config.upstream)?;
        let mut metrics = ProxyMetrics::new();
        for counter in counters {
            metrics.register_provider_counter(counter);
        }
        Ok(LoadedProxy {
            config,
            tls,
            upstream,
            metrics: Arc::new(metrics),
        })
    }

    /// Runs the proxy: users on `listener`, `/metrics` and probes on
    /// `probes`, until `shutdown` completes.
    pub async fn serve(
        self,
        authenticator: Arc<Authenticator>,
        listener: TcpListener,
        probes: Option<TcpListener>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), ProxyError> {
        let LoadedProxy {
            config,
            tls,
            upstream,
            metrics,
        } = self;
        let reloadable = Arc::new(Reloadable {
            tls: tls.clone(),
            upstream: upstream.clone(),
        });
        let reloader = spawn_periodic(&reloadable, config.limits.reload_interval, |r| {
            match r.tls.reload_if_changed() {
                Ok(true) => tracing::info!("serving certificate reloaded"),
                Ok(false) => {}
                Err(e) => tracing::error!("{e}; keeping the previous serving certificate"),
            }
            match r.upstream.reload_if_changed() {
                Ok(true) => tracing::info!("API server CA, client certificate or token reloaded"),
                Ok(false) => {}
                Err(e) => tracing::error!("{e}; keeping the previous API server credentials"),
            }
        });
        let probe_task = probes.map(|l| tokio::spawn(server::serve_probes(l, metrics.clone())));
        tracing::info!(
            mode = config.mode.name(),
            upstream = %upstream.origin(),
            providers = %config
                .chain
                .entries()
                .iter()
                .map(|e| format!("{}/{}", e.provider, e.org))
                .collect::<Vec<_>>()
                .join(","),
            allow_impersonation = config.allow_impersonation,
            "proxying to the API server"
        );
        let proxy = Arc::new(Proxy {
            authenticator,
            chain: config.chain,
            upstream,
            mode: config.mode,
            allow_impersonation: config.allow_impersonation,
            metrics,
            limits: config.limits,
        });
        server::serve_users(listener, tls, proxy, shutdown).await;
        reloader.abort();
        if let Some(task) = probe_task {
            task.abort();
        }
        Ok(())
    }
}

/// Runs every check the proxy makes on a request head before it needs the
/// network: the request's verb, the credential, the identity-header screen,
/// the `Impersonate-*` request and the headers that would be forwarded, in
/// both modes, for the user `alice`. For the fuzz target: none of it may
/// panic whatever the head holds. Returns how many headers would be sent.
#[doc(hidden)]
pub fn examine_request_head(
    method: &hyper::Method,
    uri: &hyper::Uri,
    headers: &hyper::HeaderMap,
    allow_impersonation: bool,
) -> usize {
    let _ = RequestInfo::parse(method, uri);
    let _ = request_info::has_dot_segment(uri.path());
    let _ = request_info::upgrade_protocol(headers);
    let _ = credentials::from_headers(headers);
    let _ = headers::screen(headers, allow_impersonation);
    let user = identity::ForwardedIdentity::authenticated(guard_auth::Identity {
        username: "alice".into(),
        ..guard_auth::Identity::default()
    });
    let forwarded = match impersonation::ImpersonationRequest::from_headers(headers) {
        Ok(Some(request)) => {
            let _ = request.checks();
            request.into_identity(&user)
        }
        _ => user,
    };
    let peer = std::net::IpAddr::from([127, 0, 0, 1]);
    let mut sent = 0;
    for mode in [IdentityMode::FrontProxy, IdentityMode::Impersonation] {
        let mut out = headers::upstream_headers(headers, peer, true);
        if forwarded.write_headers(mode, &mut out).is_ok() {
            sent += out.len();
        }
    }
    sent
}
