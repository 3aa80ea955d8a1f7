//! The client's request body on its way to the API server, watched so that
//! the client's own failure (a malformed chunked body, a connection gone
//! mid-body, a body that stops arriving) is answered as the client's 4xx
//! and not taken for an API server outage.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::Poll;

use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::inspect::{Inspect, Polled};
use crate::upstream::ProxyBody;

/// What became of a request body being forwarded.
#[derive(Debug, Default)]
pub(crate) struct BodyWatch {
    /// Why reading it failed, if it did.
    error: OnceLock<String>,
    /// The last read found nothing from the client yet (it has more to send).
    waiting: AtomicBool,
}

/// How the client's body stopped a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ClientFault {
    /// It could not be read: malformed, or the client went away mid-body.
    Unreadable(String),
    /// The rest of it did not arrive while the API server waited for it.
    Stalled,
}

impl BodyWatch {
    /// The client's part in a failed exchange with the API server, if the
    /// body is why it failed.
    pub(crate) fn fault(&self) -> Option<ClientFault> {
        if let Some(error) = self.error.get() {
            return Some(ClientFault::Unreadable(error.clone()));
        }
        self.waiting
            .load(Ordering::SeqCst)
            .then_some(ClientFault::Stalled)
    }
}

/// `body`, to be sent on, and what will be known of how reading it went.
pub(crate) fn watch(body: Incoming) -> (ProxyBody, Arc<BodyWatch>) {
    let watch = Arc::new(BodyWatch::default());
    let seen = watch.clone();
    let body = Inspect::new(body, move |poll: &Polled<hyper::Error>| {
        seen.waiting.store(poll.is_pending(), Ordering::SeqCst);
        if let Poll::Ready(Some(Err(e))) = poll {
            let _ = seen.error.set(guard_auth::ErrorChain(e).to_string());
        }
    });
    (body.boxed(), watch)
}
