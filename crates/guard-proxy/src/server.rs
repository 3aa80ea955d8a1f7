//! The listeners: TLS for users (with the same connection limits and
//! deadlines as `guard run`), and a plain one for `/metrics` and probes.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use guard_server::accept::{PROBE_FIRST_REQUEST, accept_probes};
use http_body_util::Full;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::handler::{Proxy, handle};
use crate::idle;
use crate::metrics::ProxyMetrics;
use crate::tls::ServingTls;

/// Serves users on `listener` until `shutdown` completes, then lets
/// in-flight requests finish (up to the grace period).
pub(crate) async fn serve_users(
    listener: TcpListener,
    tls: Arc<ServingTls>,
    proxy: Arc<Proxy>,
    shutdown: impl Future<Output = ()>,
) {
    let limits = proxy.limits.clone();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.read_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .max_headers(limits.max_headers)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(250)
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(10));
    // ALPN decides the protocol, so hyper never waits to sniff it.
    let http1 = Arc::new(builder.clone().http1_only());
    let http2 = Arc::new(builder.http2_only());
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);

    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    guard_server::accept::accept_until(
        &listener,
        &slots,
        limits.max_connections,
        || proxy.metrics.connection_limit_reached(),
        shutdown.as_mut(),
        |tcp, peer, slot| {
            let acceptor = tokio_rustls::TlsAcceptor::from(tls.current());
            let (proxy, watcher) = (proxy.clone(), graceful.watcher());
            let (http1, http2) = (http1.clone(), http2.clone());
            let (read_timeout, idle_timeout) = (limits.read_timeout, limits.idle_timeout);
            let open = proxy.metrics.open_connection();
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
                let http2_conn = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                let builder = if http2_conn { http2 } else { http1 };
                let activity = idle::Activity::new();
                let service = {
                    let activity = activity.clone();
                    service_fn(move |req| {
                        let busy = activity.begin();
                        let answer = handle(proxy.clone(), peer, req);
                        async move {
                            Ok::<_, Infallible>(answer.await?.map(|b| idle::track(b, busy)))
                        }
                    })
                };
                // HTTP/1.1 idles under hyper's header read timeout; an upgraded
                // connection (exec, port-forward) must not be cut for silence.
                let io = idle::IdleIo::new(
                    stream,
                    read_timeout,
                    activity,
                    idle_timeout.filter(|_| http2_conn),
                );
                let conn = builder
                    .serve_connection_with_upgrades(TokioIo::new(io), service)
                    .into_owned();
                if let Err(e) = watcher.watch(conn).await {
                    tracing::debug!(%peer, "connection ended: {e}");
                }
            });
        },
    )
    .await;

    drop(listener);
    tracing::info!("shutting down: finishing in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(limits.shutdown_grace) => {
            tracing::warn!("grace period of {:?} over; closing the remaining connections", limits.shutdown_grace);
        }
    }
}

/// Serves `/metrics`, `/healthz` and `/readyz` over plain HTTP/1.1, one
/// request per connection, with `guard run`'s probe-port protection
/// ([`guard_server::accept::accept_probes`]): at most
/// [`MAX_PROBE_CONNECTIONS`](guard_server::accept::MAX_PROBE_CONNECTIONS) at once, a request head within
/// [`PROBE_FIRST_REQUEST`], and at the limit the oldest silent connection
/// makes room for a new one, so that silent connections cannot keep
/// kubelet's probes out.
pub(crate) async fn serve_probes(listener: TcpListener, metrics: Arc<ProxyMetrics>) {
    let never = std::future::pending::<()>();
    tokio::pin!(never);
    accept_probes(&listener, never.as_mut(), |tcp, probe| {
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let arrival = probe.arrival();
            let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                arrival.arrived();
                let metrics = metrics.clone();
                async move {
                    let (status, content_type, body) = match (req.method(), req.uri().path()) {
                        (&Method::GET, "/metrics") => (
                            StatusCode::OK,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                            metrics.render(),
                        ),
                        (&Method::GET | &Method::HEAD, "/healthz" | "/readyz") => (
                            StatusCode::OK,
                            "application/json",
                            format!(
                                "{{\"status\":\"ok\",\"version\":\"{}\"}}",
                                env!("CARGO_PKG_VERSION")
                            ),
                        ),
                        _ => (
                            StatusCode::NOT_FOUND,
                            "text/plain; charset=utf-8",
                            "404 page not found\n".to_owned(),
                        ),
                    };
                    let mut resp = Response::new(Full::new(Bytes::from(body)));
                    *resp.status_mut() = status;
                    resp.headers_mut()
                        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
                    Ok::<_, std::convert::Infallible>(resp)
                }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(PROBE_FIRST_REQUEST)
                .keep_alive(false)
                .serve_connection(TokioIo::new(tcp), service);
            let _ = probe.serve(conn).await;
        });
    })
    .await;
}
