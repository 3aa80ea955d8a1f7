//! The accept loops `guard run` and `guard proxy` share:
//!
//! * [`accept_until`], for the TLS port: at most `max_connections`
//!   connections at once (new ones wait, with a warning at most once a
//!   minute), accept errors survived, until shutdown;
//! * [`accept_probes`], for the plain probe port: at most
//!   [`MAX_PROBE_CONNECTIONS`], and at that limit the oldest connection that
//!   has sent no request is closed to make room for a new one.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

/// How often, at most, "the connection limit is reached" is logged.
const LIMIT_WARNING_INTERVAL: Duration = Duration::from_secs(60);

/// Accepts connections on `listener` until `shutdown` completes, handing
/// each to `on_accept` with `TCP_NODELAY` set and the slot of `slots` it
/// holds (drop it when the connection ends). When every slot is taken,
/// `on_limit` runs and the loop waits for one; `max_connections` is the
/// limit named in the warning.
pub async fn accept_until<S>(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
    max_connections: usize,
    on_limit: impl Fn(),
    mut shutdown: Pin<&mut S>,
    mut on_accept: impl FnMut(TcpStream, SocketAddr, OwnedSemaphorePermit),
) where
    S: Future<Output = ()> + ?Sized,
{
    let mut warned_at: Option<std::time::Instant> = None;
    loop {
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                on_limit();
                if warned_at.is_none_or(|t| t.elapsed() > LIMIT_WARNING_INTERVAL) {
                    tracing::warn!(
                        "{max_connections} connections open, the most --max-connections allows; new ones wait"
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
        on_accept(tcp, peer, slot);
    }
}

/// Most connections a plain probe port (`guard run --probe-addr`, `guard
/// proxy --metrics-addr`) holds at once.
pub const MAX_PROBE_CONNECTIONS: usize = 512;

/// Time from accepting a probe connection to its complete request head
/// (kubelet and Prometheus send theirs at once).
pub const PROBE_FIRST_REQUEST: Duration = Duration::from_secs(1);

/// The probe connections that have not sent a complete request head yet,
/// oldest first, each with the means to close it.
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

/// A probe connection's place among the [`Waiting`] ones, given up when it
/// sends its request or ends.
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

/// One accepted probe connection: its slot, and whether it may still be
/// closed to make room (until its first request head arrives).
pub struct ProbeConnection {
    _slot: OwnedSemaphorePermit,
    registered: Arc<Registered>,
    evicted: oneshot::Receiver<()>,
}

/// Tells the accept loop that a probe connection has sent a request head,
/// so it is no longer closed to make room; see [`ProbeConnection::arrival`].
#[derive(Clone)]
pub struct Arrival(Arc<Registered>);

impl Arrival {
    /// A complete request head arrived.
    pub fn arrived(&self) {
        self.0.done();
    }
}

impl ProbeConnection {
    /// The handle the connection's service calls when a request arrives.
    pub fn arrival(&self) -> Arrival {
        Arrival(self.registered.clone())
    }

    /// Runs `conn` (the connection being served) until it ends, or until
    /// the connection is closed to make room for a new one (`None`). The
    /// slot is freed when this returns.
    pub async fn serve<F: Future>(self, conn: F) -> Option<F::Output> {
        tokio::select! {
            out = conn => Some(out),
            Ok(()) = self.evicted => {
                tracing::debug!("probe port: closed a silent connection");
                None
            }
        }
    }
}

/// The accept loop of a plain probe port: kubelet's probes and Prometheus
/// present no credential, so anyone who can reach the port can open
/// connections and send nothing. So that they cannot keep the probes out
/// (and have the pod restarted), the port holds at most
/// [`MAX_PROBE_CONNECTIONS`], and at that limit a new connection does not
/// wait: the oldest connection that has not sent a complete request head
/// yet is closed to make room. The connection's server must also close it
/// when no request head arrived within [`PROBE_FIRST_REQUEST`].
///
/// Each accepted connection goes to `on_accept` with its
/// [`ProbeConnection`], until `shutdown` completes.
pub async fn accept_probes<S>(
    listener: &TcpListener,
    mut shutdown: Pin<&mut S>,
    mut on_accept: impl FnMut(TcpStream, ProbeConnection),
) where
    S: Future<Output = ()> + ?Sized,
{
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
            () = &mut shutdown => return,
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
                    () = &mut shutdown => return,
                }
            }
        };
        let (id, evicted) = waiting.lock().unwrap_or_else(|p| p.into_inner()).add();
        let registered = Arc::new(Registered {
            waiting: waiting.clone(),
            id,
        });
        let _ = tcp.set_nodelay(true);
        on_accept(
            tcp,
            ProbeConnection {
                _slot: slot,
                registered,
                evicted,
            },
        );
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
