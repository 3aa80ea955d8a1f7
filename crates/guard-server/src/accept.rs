//! The accept loop `guard run` and `guard proxy` share: at most
//! `max_connections` connections at once (new ones wait, with a warning at
//! most once a minute), accept errors survived, until shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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
