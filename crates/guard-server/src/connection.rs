//! One client connection from accept to close, and the deadlines that keep
//! a client doing nothing from holding a connection slot.
//!
//! * **First request**: from accept to the first complete request head —
//!   TLS handshake, protocol detection, the HTTP/2 preface and SETTINGS, the
//!   head itself — one deadline. Missed: the connection is closed (an
//!   HTTP/2 client gets a GOAWAY first, and one second to take it).
//! * **Idle**: no request in progress for this long (HTTP/2: no open
//!   stream; HTTP/1.1: between keep-alive requests) and the connection is
//!   closed gracefully (HTTP/2 GOAWAY). A connection without a client
//!   certificate (probes) is closed as soon as its request is answered.
//! * **Age**: a connection older than this is closed gracefully even when
//!   busy, so long-lived HTTP/2 connections spread over new replicas.
//! * After a graceful close starts (idle, age, shutdown), requests already
//!   received finish; whatever is still open after the grace is dropped.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use hyper_util::server::graceful::GracefulConnection;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

/// After the first-request deadline, time for the GOAWAY to go out before
/// the connection is dropped.
const FIRST_REQUEST_GRACE: Duration = Duration::from_secs(1);

/// The deadlines of one connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadlines {
    /// From accept to the first complete request head.
    pub first_request: Duration,
    /// No request in progress for this long: close gracefully.
    pub idle: Option<Duration>,
    /// Close gracefully after this long (less up to 10 % jitter, so that
    /// connections opened together do not all reconnect at once).
    pub max_age: Option<Duration>,
    /// After a graceful close starts, time left to finish.
    pub grace: Duration,
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CloseReason {
    /// The client closed it, or it broke.
    Peer,
    /// The TLS handshake failed.
    HandshakeFailed,
    /// No complete request within the first-request deadline.
    FirstRequestTimeout,
    /// Idle for the idle timeout.
    IdleTimeout,
    /// Older than the maximum age.
    MaxAge,
    /// The server is shutting down.
    Shutdown,
}

impl CloseReason {
    /// The metric label.
    pub(crate) fn label(self) -> &'static str {
        match self {
            CloseReason::Peer => "peer",
            CloseReason::HandshakeFailed => "handshake_failed",
            CloseReason::FirstRequestTimeout => "first_request_timeout",
            CloseReason::IdleTimeout => "idle_timeout",
            CloseReason::MaxAge => "max_age",
            CloseReason::Shutdown => "shutdown",
        }
    }
}

/// What the requests of one connection are doing, as the deadlines need it.
///
/// Requests starting and ending wake the connection's task only when that
/// changes its next deadline: when the connection turns idle while no idle
/// deadline is armed. Otherwise the armed deadline, when it fires, finds the
/// state as it is then (so a busy keep-alive connection costs no wake-ups).
#[derive(Debug, Default)]
pub(crate) struct Activity {
    state: Mutex<ActivityState>,
    changed: Notify,
}

#[derive(Debug, Default, Clone, Copy)]
struct ActivityState {
    /// Requests received so far.
    started: u64,
    /// Requests received and not yet answered.
    in_flight: usize,
    /// When the last request in flight was answered.
    idle_since: Option<Instant>,
    /// The connection's task is waiting for an idle deadline.
    idle_armed: bool,
}

impl Activity {
    /// A request head arrived; the returned guard marks it answered when
    /// dropped (with the response body, once hyper has written it).
    pub(crate) fn request_started(self: &Arc<Self>) -> RequestInFlight {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.started += 1;
        s.in_flight += 1;
        RequestInFlight(self.clone())
    }

    /// Runs `plan` on the current state and records whether the deadline it
    /// chose is the idle one, in one step (so no transition is missed).
    fn plan<T>(&self, plan: impl FnOnce(&ActivityState) -> (T, bool)) -> T {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (next, idle_armed) = plan(&s);
        s.idle_armed = idle_armed;
        next
    }
}

/// A request being answered; see [`Activity::request_started`].
#[derive(Debug)]
pub(crate) struct RequestInFlight(Arc<Activity>);

impl Drop for RequestInFlight {
    fn drop(&mut self) {
        let wake = {
            let mut s = self.0.state.lock().unwrap_or_else(|p| p.into_inner());
            s.in_flight = s.in_flight.saturating_sub(1);
            if s.in_flight == 0 {
                s.idle_since = Some(Instant::now());
            }
            s.in_flight == 0 && !s.idle_armed
        };
        if wake {
            self.0.changed.notify_one();
        }
    }
}

/// A response body that keeps its request counted as in flight until hyper
/// has taken the last byte of it.
#[derive(Debug)]
pub(crate) struct TrackedBody<B> {
    inner: B,
    _request: RequestInFlight,
}

impl<B> TrackedBody<B> {
    pub(crate) fn new(inner: B, request: RequestInFlight) -> Self {
        TrackedBody {
            inner,
            _request: request,
        }
    }
}

impl<B: Body<Data = Bytes> + Unpin> Body for TrackedBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The first-request deadline and the maximum age of a connection accepted
/// at `accepted`.
pub(crate) struct Clock {
    first_request_by: Instant,
    retire_at: Option<Instant>,
}

impl Clock {
    pub(crate) fn start(accepted: Instant, deadlines: &Deadlines) -> Self {
        let retire_at = deadlines.max_age.map(|age| {
            // 0-10 % earlier, from the std hasher's random keys.
            use std::hash::BuildHasher;
            let random = std::collections::hash_map::RandomState::new().hash_one(accepted);
            accepted + age.mul_f64(1.0 - (random % 1000) as f64 / 10_000.0)
        });
        Clock {
            first_request_by: accepted + deadlines.first_request,
            retire_at,
        }
    }

    /// The end of the first-request deadline (the TLS handshake is part of it).
    pub(crate) fn first_request_by(&self) -> Instant {
        self.first_request_by
    }
}

/// Serves `conn` until it ends or a deadline closes it.
pub(crate) async fn drive<C>(
    conn: C,
    activity: &Activity,
    deadlines: &Deadlines,
    clock: &Clock,
    shutdown: &mut watch::Receiver<bool>,
) -> CloseReason
where
    C: GracefulConnection,
    C::Error: std::fmt::Display,
{
    tokio::pin!(conn);
    // Set once a graceful close has started: why, and when to give up on it.
    let mut closing: Option<(CloseReason, Instant)> = None;
    let begin_close = |conn: Pin<&mut C>, reason, grace| {
        conn.graceful_shutdown();
        Some((reason, Instant::now() + grace))
    };
    if *shutdown.borrow_and_update() {
        closing = begin_close(conn.as_mut(), CloseReason::Shutdown, deadlines.grace);
    }
    loop {
        // The next deadline: when, why, and the grace it leaves (`None`:
        // drop the connection).
        let next = match closing {
            Some((reason, give_up)) => Some((give_up, reason, None)),
            None => activity.plan(|s| {
                let mut next = match (s.started, s.in_flight, s.idle_since, deadlines.idle) {
                    // Nothing is in progress, so there is nothing to wait for
                    // but the GOAWAY to go out.
                    (0, _, _, _) => Some((
                        clock.first_request_by,
                        CloseReason::FirstRequestTimeout,
                        Some(FIRST_REQUEST_GRACE),
                    )),
                    (_, 0, Some(since), Some(idle)) => Some((
                        since + idle,
                        CloseReason::IdleTimeout,
                        Some(deadlines.grace),
                    )),
                    _ => None,
                };
                if let Some(retire_at) = clock.retire_at
                    && next.is_none_or(|(at, _, _)| retire_at < at)
                {
                    next = Some((retire_at, CloseReason::MaxAge, Some(deadlines.grace)));
                }
                // While an idle deadline is armed (or there is none to arm)
                // requests ending need not wake this task; see Activity.
                let armed_for_idle = matches!(next, Some((_, CloseReason::IdleTimeout, _)))
                    || (s.started > 0 && deadlines.idle.is_none());
                (next, armed_for_idle)
            }),
        };
        // A deadline is acted on only once a fresh plan finds it due: the
        // state may have changed since it was armed.
        if let Some((at, reason, grace)) = next
            && at <= Instant::now()
        {
            match grace {
                Some(grace) => {
                    closing = begin_close(conn.as_mut(), reason, grace);
                    continue;
                }
                None => return reason,
            }
        }
        let wake = async {
            match next {
                Some((at, _, _)) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!("connection ended: {e}");
                }
                return closing.map_or(CloseReason::Peer, |(reason, _)| reason);
            }
            () = wake => {}
            () = activity.changed.notified() => {}
            _ = shutdown.changed(), if closing.is_none() => {
                closing = begin_close(conn.as_mut(), CloseReason::Shutdown, deadlines.grace);
            }
        }
    }
}
