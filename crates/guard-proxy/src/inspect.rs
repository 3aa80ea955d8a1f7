//! A body passed on unchanged while a callback sees the result of each
//! poll: how the proxy follows a body (its end, its errors, its waits)
//! without writing the pass-through again for each purpose.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

use crate::upstream::BoxError;

/// What a poll of a body gave.
pub(crate) type Polled<E> = Poll<Option<Result<Frame<Bytes>, E>>>;

/// `inner`, with `inspect` called on every poll's result.
pub(crate) struct Inspect<B, F> {
    inner: B,
    inspect: F,
}

impl<B, F> Inspect<B, F> {
    pub(crate) fn new(inner: B, inspect: F) -> Self {
        Inspect { inner, inspect }
    }
}

impl<B, F> Body for Inspect<B, F>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
    F: FnMut(&Polled<B::Error>) + Unpin,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let poll = Pin::new(&mut this.inner).poll_frame(cx);
        (this.inspect)(&poll);
        poll.map_err(Into::into)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
