//! Closing connections that carry no request: one whose first bytes do
//! not arrive within the read timeout, and an HTTP/2 one idle too long.
//!
//! An HTTP/2 client can open a connection, answer the proxy's pings and
//! never send a request: without an idle limit, a few thousand of those
//! hold every `--max-connections` slot, and the proxy stops accepting
//! anyone (HTTP/1.1 connections are covered by hyper's header read timeout,
//! which also runs between keep-alive requests). A connection with no
//! request in progress for `--idle-timeout` is closed (without a GOAWAY: it
//! has no stream to finish); one with a request, a watch or a log stream in
//! progress never is.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::inspect::{Inspect, Polled};
use crate::upstream::{BoxError, ProxyBody};

/// The requests in progress on one connection, and since when there are
/// none.
#[derive(Debug)]
pub(crate) struct Activity {
    in_flight: AtomicUsize,
    idle_since: Mutex<Instant>,
}

impl Activity {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Activity {
            in_flight: AtomicUsize::new(0),
            idle_since: Mutex::new(Instant::now()),
        })
    }

    /// A request starts; it is over when the returned value is dropped.
    pub(crate) fn begin(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        Busy(self.clone())
    }

    /// When the connection may be closed, if it is idle now.
    fn idle_deadline(&self, limit: Duration) -> Option<Instant> {
        let since = *self.idle_since.lock().unwrap_or_else(|p| p.into_inner());
        (self.in_flight.load(Ordering::SeqCst) == 0).then_some(since + limit)
    }
}

/// One request in progress (until its answer's body is done or dropped).
#[derive(Debug)]
pub(crate) struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        let mut since = self.0.idle_since.lock().unwrap_or_else(|p| p.into_inner());
        if self.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            *since = Instant::now();
        }
    }
}

/// An answer body that keeps its request counted until it ends.
pub(crate) fn track(body: ProxyBody, busy: Busy) -> ProxyBody {
    let mut busy = Some(busy);
    http_body_util::BodyExt::boxed(Inspect::new(body, move |poll: &Polled<BoxError>| {
        if let Poll::Ready(None | Some(Err(_))) = poll {
            drop(busy.take());
        }
    }))
}

/// The connection's I/O: reading fails when the client has sent nothing
/// within the first-read deadline (a client that completes the TLS
/// handshake and then says nothing is let go; for HTTP/1.1 hyper's header
/// timeout takes over from the first request on), and once the connection
/// has been idle for the idle limit, which ends it.
pub(crate) struct IdleIo<IO> {
    io: IO,
    /// Until the first bytes arrive.
    first_read: Option<Pin<Box<Sleep>>>,
    activity: Arc<Activity>,
    limit: Option<Duration>,
    timer: Pin<Box<Sleep>>,
}

impl<IO> IdleIo<IO> {
    /// `io` of a connection whose first bytes must arrive within
    /// `first_read`, whose requests `activity` counts, closed after `limit`
    /// without one; `None`: never.
    pub(crate) fn new(
        io: IO,
        first_read: Duration,
        activity: Arc<Activity>,
        limit: Option<Duration>,
    ) -> Self {
        IdleIo {
            io,
            first_read: Some(Box::pin(tokio::time::sleep(first_read))),
            activity,
            limit,
            timer: Box::pin(tokio::time::sleep(limit.unwrap_or_default())),
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for IdleIo<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let poll = Pin::new(&mut this.io).poll_read(cx, buf);
        if poll.is_ready() {
            if buf.filled().len() > before {
                this.first_read = None;
            }
            return poll;
        }
        let first_read_missed = this
            .first_read
            .as_mut()
            .is_some_and(|d| d.as_mut().poll(cx).is_ready());
        if first_read_missed {
            return Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no request within the read timeout",
            )));
        }
        let Some(limit) = this.limit else {
            return Poll::Pending;
        };
        // Busy: look again one limit from now (or when the last request
        // ends and a read is polled). Idle: close at the deadline.
        let deadline = this
            .activity
            .idle_deadline(limit)
            .unwrap_or_else(|| Instant::now() + limit);
        if deadline <= Instant::now() {
            return Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no request on this HTTP/2 connection within the idle timeout",
            )));
        }
        if this.timer.deadline() != deadline {
            this.timer.as_mut().reset(deadline);
        }
        // Registers the wake-up; when it fires, the next poll_read checks
        // again.
        if this.timer.as_mut().poll(cx).is_ready() {
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for IdleIo<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}
