//! The plain-HTTP probe port: `/healthz`, `/readyz` and `/metrics` for
//! kubelet probes and Prometheus, which present no client certificate.
//!
//! It serves nothing else (no reviews without TLS) and has its own
//! connection limit so that it can never take slots from the review port;
//! each connection serves one request (probes and scrapes open one per
//! request anyway).
//!
//! Anyone who can reach the port can open connections and send nothing. So
//! that they cannot keep kubelet's probes out (and have the pod restarted),
//! a connection must send its request within [`PROBE_FIRST_REQUEST`] (kubelet
//! and Prometheus send theirs at once), the limit is large (a silent
//! connection costs a socket and a small task), and at the limit a new
//! connection is not made to wait: the oldest connection that has not sent a
//! complete request head yet is closed to make room. That accept loop,
//! [`accept_probes`], is shared with `guard proxy`'s metrics port.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hyper::Request;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::accept::{PROBE_FIRST_REQUEST, accept_probes};
use crate::connection::{Activity, Clock, TrackedBody, drive};
use crate::request_body::{self, Watched};
use crate::server::{Shared, expects_continue};

/// Largest request body read (and thrown away) on the probe port.
const MAX_PROBE_BODY: usize = 64 << 10;

/// Serves the probe port until `stopping` turns true.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    stopping: watch::Receiver<bool>,
) {
    let stopped = {
        let mut stopping = stopping.clone();
        async move {
            let _ = stopping.changed().await;
        }
    };
    tokio::pin!(stopped);
    accept_probes(&listener, stopped.as_mut(), |tcp, probe| {
        let (shared, mut stopping) = (shared.clone(), stopping.clone());
        tokio::spawn(async move {
            let mut deadlines = shared.deadlines;
            deadlines.idle = Some(Duration::ZERO);
            deadlines.first_request = deadlines.first_request.min(PROBE_FIRST_REQUEST);
            let clock = Clock::start(Instant::now(), &deadlines);
            let activity = Arc::new(Activity::default());
            let service = {
                let (state, activity) = (shared.state.clone(), activity.clone());
                let arrival = probe.arrival();
                service_fn(move |req: Request<Incoming>| {
                    arrival.arrived();
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
            // Dropping the connection (evicted) closes it.
            probe
                .serve(drive(conn, &activity, &deadlines, &clock, &mut stopping))
                .await;
        });
    })
    .await;
}
