use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use guard_auth::Authenticator;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::handler::{AppState, Limits};
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
    /// `--secure-addr` is not `HOST:PORT`.
    #[error("invalid --secure-addr {0:?}: expected HOST:PORT or :PORT")]
    BadAddr(String),
    /// The address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Time to complete the TLS handshake, the request head and the body.
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
    /// backlog until a slot frees (slow and idle clients are dropped after
    /// `read_timeout`, so slots do free).
    pub max_connections: usize,
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
        }
    }
}

/// Binds `addr` (`HOST:PORT`, or Go's `:PORT` for every interface).
pub async fn bind(addr: &str) -> Result<TcpListener, ServerError> {
    let bind_err = |source| ServerError::Bind {
        addr: addr.to_owned(),
        source,
    };
    if let Some(port) = addr.strip_prefix(':') {
        let port: u16 = port
            .parse()
            .map_err(|_| ServerError::BadAddr(addr.to_owned()))?;
        // Every interface: IPv6 (dual stack) when the host has it, else IPv4.
        return match TcpListener::bind(SocketAddr::from(([0u16; 8], port))).await {
            Ok(l) => Ok(l),
            Err(_) => TcpListener::bind(SocketAddr::from(([0u8; 4], port)))
                .await
                .map_err(bind_err),
        };
    }
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| ServerError::BadAddr(addr.to_owned()))?;
    port.parse::<u16>()
        .map_err(|_| ServerError::BadAddr(addr.to_owned()))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    TcpListener::bind((host, port.parse::<u16>().unwrap_or_default()))
        .await
        .map_err(bind_err)
}

/// Serves reviews on `listener` until `shutdown` completes, then lets
/// in-flight requests finish (up to the grace period).
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
    });
    let _reloader = AbortOnDrop(tls.spawn_reloader(config.reload_interval));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(config.read_timeout)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(250)
        .keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(10));
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);

    let slots = Arc::new(tokio::sync::Semaphore::new(config.max_connections.max(1)));
    let mut warned_at: Option<std::time::Instant> = None;
    loop {
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                state.metrics.connection_limit_reached();
                if warned_at.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
                    tracing::warn!(
                        "{} connections open, the most --max-connections allows; new ones wait",
                        config.max_connections
                    );
                    warned_at = Some(std::time::Instant::now());
                }
                tokio::select! {
                    slot = slots.clone().acquire_owned() => match slot {
                        Ok(slot) => slot,
                        Err(_) => break,
                    },
                    () = &mut shutdown => break,
                }
            }
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: log, pause, go on.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = tokio_rustls::TlsAcceptor::from(tls.current());
        let (state, builder, watcher) = (state.clone(), builder.clone(), graceful.watcher());
        let (read_timeout, write_timeout) = (config.read_timeout, config.write_timeout);
        let open = state.metrics.open_connection();
        tokio::spawn(async move {
            let _slot = (slot, open);
            let stream = match tokio::time::timeout(read_timeout, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, "TLS handshake failed: {e}");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let client =
                ClientIdentity::from_peer(stream.get_ref().1.peer_certificates()).map(Arc::new);
            let service = service_fn(move |req| {
                let (state, client) = (state.clone(), client.clone());
                async move {
                    match tokio::time::timeout(
                        write_timeout,
                        crate::handler::handle(state, client, req),
                    )
                    .await
                    {
                        Ok(resp) => resp,
                        Err(_) => Ok(crate::handler::timed_out(write_timeout)),
                    }
                }
            });
            let conn = builder
                .serve_connection(TokioIo::new(stream), service)
                .into_owned();
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(%peer, "connection ended: {e}");
            }
        });
    }

    drop(listener);
    tracing::info!("shutting down: finishing in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(config.shutdown_grace) => {
            tracing::warn!("grace period of {:?} over; closing the remaining connections", config.shutdown_grace);
        }
    }
    Ok(())
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
