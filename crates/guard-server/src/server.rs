use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use guard_auth::Authenticator;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;

use crate::connection::{Activity, Clock, CloseReason, Deadlines, TrackedBody, drive};
use crate::handler::{AppState, Limits};
use crate::handshake::{Refusal, RefusalLog};
use crate::request_body::{self, Watched};
use crate::{ClientIdentity, Metrics, TlsReloader};

/// Why the server cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A TLS file is missing or unusable.
    #[error("TLS file {path}: {reason}")]
    Tls {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A listening address is not `HOST:PORT`.
    #[error("invalid {flag} {addr:?}: expected HOST:PORT or :PORT")]
    BadAddr {
        /// The flag that gave it.
        flag: &'static str,
        /// The address.
        addr: String,
    },
    /// A listening address cannot be bound. The message has the cause and
    /// what to do, in one line (the cause is not repeated as a source).
    #[error("cannot listen on {addr}: {cause}; {}", bind_advice(cause.kind(), flag))]
    Bind {
        /// The flag that gave it.
        flag: &'static str,
        /// The address.
        addr: String,
        /// Why not.
        cause: std::io::Error,
    },
}

/// What to do when binding failed with `kind`, naming the flag to change.
fn bind_advice(kind: std::io::ErrorKind, flag: &str) -> String {
    use std::io::ErrorKind;
    match kind {
        ErrorKind::AddrInUse => {
            format!("another program listens there: stop it, or pass a free address with {flag}")
        }
        ErrorKind::PermissionDenied => format!(
            "ports below 1024 need root or CAP_NET_BIND_SERVICE: pass a higher port with {flag}"
        ),
        ErrorKind::AddrNotAvailable => format!(
            "this host has no such address: pass one of its own (or :PORT for all) with {flag}"
        ),
        _ => format!("pass another address with {flag}"),
    }
}

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Time to receive a request body.
    pub read_timeout: Duration,
    /// Time to answer a request once received.
    pub write_timeout: Duration,
    /// Largest request body.
    pub max_body: usize,
    /// How often the TLS files are checked for changes.
    pub reload_interval: Duration,
    /// How long in-flight requests may take to finish after SIGTERM.
    pub shutdown_grace: Duration,
    /// Most connections served at once; further ones wait in the listen
    /// backlog until a slot frees (the deadlines below make sure slots do
    /// free).
    pub max_connections: usize,
    /// From accept to the first complete request head: TLS handshake,
    /// protocol detection, HTTP/2 preface and SETTINGS, the head itself.
    pub first_request_timeout: Duration,
    /// A connection with no request in progress for this long is closed
    /// gracefully (HTTP/2: GOAWAY). `None`: never.
    pub idle_timeout: Option<Duration>,
    /// A connection older than this is closed gracefully (less up to 10 %
    /// jitter). `None`: never.
    pub max_connection_age: Option<Duration>,
    /// Where `/healthz`, `/readyz` and `/metrics` are also served over
    /// plain HTTP (`HOST:PORT` or `:PORT`). `None`: not served.
    pub probe_addr: Option<String>,
    /// The authorization webhook (`POST /subjectaccessreviews`), if enabled.
    pub authorizer: Option<Arc<guard_authz::Authorizer>>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            read_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
            max_body: 1 << 20,
            reload_interval: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(20),
            max_connections: 4096,
            first_request_timeout: Duration::from_secs(5),
            idle_timeout: Some(Duration::from_secs(60)),
            max_connection_age: Some(Duration::from_secs(30 * 60)),
            probe_addr: None,
            authorizer: None,
        }
    }
}

impl ServerConfig {
    pub(crate) fn deadlines(&self) -> Deadlines {
        Deadlines {
            first_request: self.first_request_timeout,
            idle: self.idle_timeout,
            max_age: self.max_connection_age,
            // Requests already received are answered within the write timeout.
            grace: self.write_timeout,
        }
    }
}

/// Binds `addr` (`HOST:PORT`, or Go's `:PORT` for every interface), given
/// by the command-line flag `flag` (named in the errors). `guard run` and
/// `guard proxy` bind all their ports with it.
pub async fn bind(addr: &str, flag: &'static str) -> Result<TcpListener, ServerError> {
    let bind_err = |cause| ServerError::Bind {
        flag,
        addr: addr.to_owned(),
        cause,
    };
    let bad = || ServerError::BadAddr {
        flag,
        addr: addr.to_owned(),
    };
    if let Some(port) = addr.strip_prefix(':') {
        let port: u16 = port.parse().map_err(|_| bad())?;
        // Every interface: IPv6 (dual stack) when the host has it, else IPv4.
        return match TcpListener::bind(SocketAddr::from(([0u16; 8], port))).await {
            Ok(l) => Ok(l),
            Err(_) => TcpListener::bind(SocketAddr::from(([0u8; 4], port)))
                .await
                .map_err(bind_err),
        };
    }
    let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    TcpListener::bind((host, port)).await.map_err(bind_err)
}

/// Serves reviews on `listener` (and probes on `config.probe_addr`) until
/// `shutdown` completes, then lets in-flight requests finish (up to the
/// grace period).
pub async fn serve(
    listener: TcpListener,
    tls: Arc<TlsReloader>,
    authenticator: Arc<Authenticator>,
    metrics: Arc<Metrics>,
    config: ServerConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    let state = Arc::new(AppState {
        authenticator,
        metrics,
        limits: Limits {
            max_body: config.max_body,
            read_timeout: config.read_timeout,
        },
        authorizer: config.authorizer.clone(),
    });
    let shared = Arc::new(Shared {
        state: state.clone(),
        builder: http_builder(),
        deadlines: config.deadlines(),
        write_timeout: config.write_timeout,
        refusals: RefusalLog::default(),
    });
    let (stop, stopping) = watch::channel(false);
    let _probes = match &config.probe_addr {
        Some(addr) => {
            let probe_listener = bind(addr, "--probe-addr").await?;
            if let Ok(local) = probe_listener.local_addr() {
                tracing::info!(
                    "probes and metrics (/healthz, /readyz, /metrics) over plain HTTP on {local}"
                );
            }
            Some(AbortOnDrop(tokio::spawn(crate::probe::serve(
                probe_listener,
                shared.clone(),
                stopping.clone(),
            ))))
        }
        None => None,
    };
    let _reloader = AbortOnDrop(tls.spawn_reloader(config.reload_interval));
    tokio::pin!(shutdown);

    let max_connections = config.max_connections.clamp(1, Semaphore::MAX_PERMITS) as u32;
    let slots = Arc::new(Semaphore::new(max_connections as usize));
    crate::accept::accept_until(
        &listener,
        &slots,
        config.max_connections,
        || state.metrics.connection_limit_reached(),
        shutdown.as_mut(),
        |tcp, peer, slot| {
            let acceptor = tokio_rustls::TlsAcceptor::from(tls.current());
            let (shared, stopping) = (shared.clone(), stopping.clone());
            let open = state.metrics.open_connection();
            tokio::spawn(async move {
                let _slot = (slot, open);
                tls_connection(tcp, peer, acceptor, &shared, stopping).await;
            });
        },
    )
    .await;

    drop(listener);
    tracing::info!("shutting down: finishing in-flight requests");
    let _ = stop.send(true);
    tokio::select! {
        _ = slots.acquire_many(max_connections) => tracing::info!("all connections closed"),
        () = tokio::time::sleep(config.shutdown_grace) => {
            tracing::warn!("grace period of {:?} over; closing the remaining connections", config.shutdown_grace);
        }
    }
    Ok(())
}

/// What every connection task shares.
pub(crate) struct Shared {
    pub(crate) state: Arc<AppState>,
    pub(crate) builder: auto::Builder<TokioExecutor>,
    pub(crate) deadlines: Deadlines,
    pub(crate) write_timeout: Duration,
    refusals: RefusalLog,
}

fn http_builder() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Request heads are bounded by the first-request deadline and, between
    // keep-alive requests, by the idle timeout (crate::connection), so
    // hyper's own header timer stays off.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(250)
        .keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(10));
    builder
}

/// One connection on the review port: handshake, then HTTP until a
/// deadline or the client closes it.
async fn tls_connection(
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    acceptor: tokio_rustls::TlsAcceptor,
    shared: &Shared,
    mut stopping: watch::Receiver<bool>,
) {
    let metrics = &shared.state.metrics;
    let clock = Clock::start(Instant::now(), &shared.deadlines);
    let stream = match tokio::time::timeout_at(clock.first_request_by(), acceptor.accept(tcp)).await
    {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            let refusal = Refusal::of(&e);
            metrics.handshake_failed(refusal.label());
            metrics.connection_closed(CloseReason::HandshakeFailed.label());
            shared.refusals.record(peer, refusal, &e);
            return;
        }
        Err(_) => {
            metrics.handshake_failed(Refusal::Timeout.label());
            metrics.connection_closed(CloseReason::FirstRequestTimeout.label());
            shared
                .refusals
                .record(peer, Refusal::Timeout, &"handshake not finished in time");
            return;
        }
    };
    let client = ClientIdentity::from_peer(stream.get_ref().1.peer_certificates()).map(Arc::new);
    let mut deadlines = shared.deadlines;
    if client.is_none() {
        // Probes (only with optional client certificates): one request.
        deadlines.idle = Some(Duration::ZERO);
    }
    let activity = Arc::new(Activity::default());
    let service = {
        let (state, activity, write_timeout) =
            (shared.state.clone(), activity.clone(), shared.write_timeout);
        service_fn(move |req: Request<Incoming>| {
            let in_flight = activity.request_started();
            let (state, client) = (state.clone(), client.clone());
            async move {
                let response = answer_review_port(state, client, req, write_timeout).await;
                Ok::<_, Infallible>(response.map(|body| TrackedBody::new(body, in_flight)))
            }
        })
    };
    let conn = shared
        .builder
        .serve_connection(TokioIo::new(stream), service);
    let reason = drive(conn, &activity, &deadlines, &clock, &mut stopping).await;
    metrics.connection_closed(reason.label());
    if reason == CloseReason::FirstRequestTimeout {
        tracing::debug!(%peer, "no complete request within the first-request deadline: connection dropped");
    }
}

/// Answers one request on the review port within the write timeout, then
/// finishes reading its body so the client sees the answer.
async fn answer_review_port(
    state: Arc<AppState>,
    client: Option<Arc<ClientIdentity>>,
    req: Request<Incoming>,
    write_timeout: Duration,
) -> Response<Full<Bytes>> {
    let limits = state.limits;
    let (parts, mut body) = req.into_parts();
    let expects_continue = expects_continue(&parts.headers);
    let sar = state.authorizer.is_some() && crate::authz::SAR_PATHS.contains(&parts.uri.path());
    let read = AtomicBool::new(false);
    let handled = tokio::time::timeout(
        write_timeout,
        crate::handler::handle(
            state,
            client,
            Request::from_parts(parts, Watched::new(&mut body, &read)),
        ),
    )
    .await;
    let response = match handled {
        Ok(Ok(response)) => response,
        Ok(Err(never)) => match never {},
        Err(_) if sar => crate::authz::timed_out(write_timeout),
        Err(_) => crate::handler::timed_out(write_timeout),
    };
    request_body::finish(
        &mut body,
        read.load(Ordering::Relaxed),
        expects_continue,
        limits.max_body,
        limits.read_timeout,
    )
    .await;
    response
}

pub(crate) fn expects_continue(headers: &hyper::HeaderMap) -> bool {
    headers
        .get(hyper::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

pub(crate) struct AbortOnDrop(pub(crate) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
