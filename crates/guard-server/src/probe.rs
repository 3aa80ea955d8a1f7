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
//! complete request head yet is closed to make room.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::Request;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot, watch};
use tokio::time::Instant;

use crate::connection::{Activity, Clock, TrackedBody, drive};
use crate::request_body::{self, Watched};
use crate::server::{Shared, expects_continue};

/// Most connections the probe port holds at once.
pub(crate) const MAX_PROBE_CONNECTIONS: usize = 512;

/// Time from accepting a probe connection to its complete request head.
pub(crate) const PROBE_FIRST_REQUEST: Duration = Duration::from_secs(1);

/// The connections that have not sent a complete request head yet, oldest
/// first, each with the means to close it.
#[derive(Default)]
struct Waiting {
    next_id: u64,
    open: BTreeMap<u64, oneshot::Sender<()>>,
}

impl Waiting {
    /// Registers a new connection; its receiver fires when it is evicted.
    fn add(&mut self) -> (u64, oneshot::Receiver<()>) {
        let (tx, rx) = oneshot::channel();
        let id = self.next_id;
        self.next_id += 1;
        self.open.insert(id, tx);
        (id, rx)
    }

    /// Closes the oldest waiting connection; false if there is none.
    fn evict_oldest(&mut self) -> bool {
        while let Some((_, tx)) = self.open.pop_first() {
            if tx.send(()).is_ok() {
                return true;
            }
        }
        false
    }
}

/// Removes a connection from [`Waiting`] when it sends its request or ends.
struct Registered {
    waiting: Arc<Mutex<Waiting>>,
    id: u64,
}

impl Registered {
    fn done(&self) {
        let mut waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        waiting.open.remove(&self.id);
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.done();
    }
}

/// Largest request body read (and thrown away) on the probe port.
const MAX_PROBE_BODY: usize = 64 << 10;

/// Serves the probe port until `stopping` turns true.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stopping: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(MAX_PROBE_CONNECTIONS));
    let waiting = Arc::new(Mutex::new(Waiting::default()));
    let mut warned = false;
    loop {
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
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                let evicted = waiting
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .evict_oldest();
                if !warned {
                    warned = true;
                    tracing::warn!(
                        "probe port: {MAX_PROBE_CONNECTIONS} connections open; \
                         closing the oldest that has sent no request for each new one"
                    );
                }
                if !evicted {
                    tracing::debug!("probe port: every connection is answering a request");
                }
                // The evicted connection frees its slot as it ends; without
                // one, a request being answered frees it soon.
                tokio::select! {
                    slot = slots.clone().acquire_owned() => match slot {
                        Ok(slot) => slot,
                        Err(_) => return,
                    },
                    _ = stopping.changed() => return,
                }
            }
        };
        let (id, evicted) = waiting.lock().unwrap_or_else(|p| p.into_inner()).add();
        let registered = Registered {
            waiting: waiting.clone(),
            id,
        };
        let _ = tcp.set_nodelay(true);
        let (shared, mut stopping) = (shared.clone(), stopping.clone());
        tokio::spawn(async move {
            let _slot = slot;
            let mut deadlines = shared.deadlines;
            deadlines.idle = Some(Duration::ZERO);
            deadlines.first_request = deadlines.first_request.min(PROBE_FIRST_REQUEST);
            let registered = Arc::new(registered);
            let clock = Clock::start(Instant::now(), &deadlines);
            let activity = Arc::new(Activity::default());
            let service = {
                let (state, activity) = (shared.state.clone(), activity.clone());
                let registered = registered.clone();
                service_fn(move |req: Request<Incoming>| {
                    registered.done();
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
            tokio::select! {
                _ = drive(conn, &activity, &deadlines, &clock, &mut stopping) => {}
                // Dropping the connection closes it.
                Ok(()) = evicted => tracing::debug!("probe port: closed a silent connection"),
            }
            drop(registered);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_waiting_connection_is_evicted_and_done_ones_are_not() {
        let waiting = Arc::new(Mutex::new(Waiting::default()));
        let mut receivers = Vec::new();
        let mut registered = Vec::new();
        for _ in 0..3 {
            let (id, rx) = waiting.lock().unwrap().add();
            receivers.push(rx);
            registered.push(Registered {
                waiting: waiting.clone(),
                id,
            });
        }
        // The oldest sent its request: no longer a candidate.
        registered[0].done();
        assert!(waiting.lock().unwrap().evict_oldest());
        assert!(receivers[0].try_recv().is_err());
        assert!(
            receivers[1].try_recv().is_ok(),
            "the oldest silent one goes"
        );
        assert!(receivers[2].try_recv().is_err());
        // A connection that ended is skipped.
        drop(receivers.pop());
        assert!(!waiting.lock().unwrap().evict_oldest());
    }
}
