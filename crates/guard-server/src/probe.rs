//! The plain-HTTP probe port: `/healthz`, `/readyz` and `/metrics` for
//! kubelet probes and Prometheus, which present no client certificate.
//!
//! It serves nothing else (no reviews without TLS), has its own small
//! connection limit so that it can never take slots from the review port,
//! and keeps the review port's deadlines; each connection serves one request
//! (probes and scrapes open one per request anyway).

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hyper::Request;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;

use crate::connection::{Activity, Clock, TrackedBody, drive};
use crate::request_body::{self, Watched};
use crate::server::{Shared, expects_continue};

/// Most connections the probe port serves at once.
pub(crate) const MAX_PROBE_CONNECTIONS: usize = 64;

/// Largest request body read (and thrown away) on the probe port.
const MAX_PROBE_BODY: usize = 64 << 10;

/// Serves the probe port until `stopping` turns true.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stopping: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(MAX_PROBE_CONNECTIONS));
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => return,
            },
            _ = stopping.changed() => return,
        };
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    tracing::warn!("probe port: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopping.changed() => return,
        };
        let _ = tcp.set_nodelay(true);
        let (shared, mut stopping) = (shared.clone(), stopping.clone());
        tokio::spawn(async move {
            let _slot = slot;
            let mut deadlines = shared.deadlines;
            deadlines.idle = Some(Duration::ZERO);
            let clock = Clock::start(Instant::now(), &deadlines);
            let activity = Arc::new(Activity::default());
            let service = {
                let (state, activity) = (shared.state.clone(), activity.clone());
                service_fn(move |req: Request<Incoming>| {
                    let in_flight = activity.request_started();
                    let state = state.clone();
                    async move {
                        let (parts, mut body) = req.into_parts();
                        let expects_continue = expects_continue(&parts.headers);
                        let read = AtomicBool::new(false);
                        let response = match crate::handler::handle_probe(
                            state.clone(),
                            Request::from_parts(parts, Watched::new(&mut body, &read)),
                        )
                        .await
                        {
                            Ok(response) => response,
                            Err(never) => match never {},
                        };
                        request_body::finish(
                            &mut body,
                            read.load(Ordering::Relaxed),
                            expects_continue,
                            MAX_PROBE_BODY,
                            state.limits.read_timeout,
                        )
                        .await;
                        Ok::<_, Infallible>(response.map(|body| TrackedBody::new(body, in_flight)))
                    }
                })
            };
            let conn = shared.builder.serve_connection(TokioIo::new(tcp), service);
            drive(conn, &activity, &deadlines, &clock, &mut stopping).await;
        });
    }
}
