//! One structured log line per request: who, what, the answer, how long and
//! how many bytes. Never a credential; the path is logged without its query.
//!
//! The line is written when the request is over: for a watch, a log stream
//! or an exec session that is when the stream ends, so its duration and
//! byte count are the whole session's.

use std::future::Future as _;
use std::net::IpAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};

use crate::metrics::InFlight;
use crate::upstream::BoxError;

/// What the audit line says about a request.
#[derive(Debug, Clone)]
pub(crate) struct Audit {
    pub remote: IpAddr,
    pub method: hyper::Method,
    pub path: String,
    pub verb: &'static str,
    pub started: Instant,
    pub user: Option<String>,
    pub groups: Vec<String>,
    pub provider: Option<&'static str>,
    /// `kubectl --as`: the identity the request was sent as.
    pub as_user: Option<String>,
}

/// How a request ended.
#[derive(Debug, Clone, Copy)]
pub(crate) enum End {
    /// The whole answer was sent.
    Done,
    /// The proxy answered itself.
    Refused,
    /// The answer was cut off (client gone, API server reset).
    Cut,
    /// The request deadline passed while the answer was streaming.
    Deadline,
}

impl End {
    fn label(self) -> &'static str {
        match self {
            End::Done => "done",
            End::Refused => "refused",
            End::Cut => "cut",
            End::Deadline => "deadline",
        }
    }
}

impl Audit {
    pub fn new(
        remote: IpAddr,
        method: &hyper::Method,
        path: &str,
        verb: &'static str,
        started: Instant,
    ) -> Self {
        Audit {
            remote,
            method: method.clone(),
            path: path.to_owned(),
            verb,
            started,
            user: None,
            groups: Vec::new(),
            provider: None,
            as_user: None,
        }
    }

    /// Writes the line.
    pub fn log(&self, status: u16, bytes: u64, bytes_in: Option<u64>, end: End) {
        let duration_ms = (self.started.elapsed().as_secs_f64() * 1000.0 * 10.0).round() / 10.0;
        // Names come from the providers (a directory, an identity provider's
        // claims): recorded as quoted strings, so that a newline or a quote
        // in a group cannot forge another field or another audit line.
        let groups = self.groups.join(",");
        tracing::info!(
            target: "audit",
            remote = %self.remote,
            user = self.user.as_deref().unwrap_or(""),
            groups = groups.as_str(),
            as_user = self.as_user.as_deref().unwrap_or(""),
            provider = self.provider.unwrap_or(""),
            verb = self.verb,
            method = %self.method,
            path = ?self.path,
            status,
            duration_ms,
            bytes,
            bytes_in = bytes_in.unwrap_or(0),
            end = end.label(),
            "audit"
        );
    }
}

/// The API server's answer body on its way to the client: counts the
/// bytes, enforces the request deadline (not for long-running requests),
/// and writes the audit line when it is done or dropped.
pub(crate) struct TrackedBody {
    inner: Incoming,
    deadline: Option<(Pin<Box<tokio::time::Sleep>>, Duration)>,
    bytes: u64,
    end: End,
    status: u16,
    audit: Audit,
    _in_flight: InFlight,
}

impl TrackedBody {
    pub fn new(
        inner: Incoming,
        deadline: Option<(Instant, Duration)>,
        status: u16,
        audit: Audit,
        in_flight: InFlight,
    ) -> Self {
        TrackedBody {
            inner,
            deadline: deadline.map(|(at, limit)| {
                (
                    Box::pin(tokio::time::sleep_until(tokio::time::Instant::from_std(at))),
                    limit,
                )
            }),
            bytes: 0,
            end: End::Cut,
            status,
            audit,
            _in_flight: in_flight,
        }
    }
}

impl Body for TrackedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if let Some((sleep, limit)) = &mut this.deadline
            && sleep.as_mut().poll(cx).is_ready()
        {
            let limit = *limit;
            this.deadline = None;
            this.end = End::Deadline;
            return Poll::Ready(Some(Err(format!(
                "the answer did not finish within the request timeout ({limit:?})"
            )
            .into())));
        }
        if matches!(this.end, End::Deadline) {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.bytes += data.len() as u64;
                }
                // hyper stops polling once the body says it is at its end.
                if this.inner.is_end_stream() {
                    this.end = End::Done;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => {
                this.end = End::Done;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for TrackedBody {
    fn drop(&mut self) {
        if matches!(self.end, End::Cut) && self.inner.is_end_stream() {
            self.end = End::Done;
        }
        self.audit.log(self.status, self.bytes, None, self.end);
    }
}
