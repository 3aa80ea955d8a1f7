//! Finishing a request body the handler did not read, so that a refusal
//! reaches the client.
//!
//! A handler that answers before reading the body (415, 401, 403, 404, or a
//! 413 half way through) leaves the client still sending. Over HTTP/2 the
//! stream then ends with a RST_STREAM, which curl (and others) report as a
//! failed transfer instead of the answer; over HTTP/1.1 the connection is
//! closed with unread data, and the kernel's reset can destroy the answer in
//! flight. So after the handler, whatever is left of the body is read and
//! thrown away, up to a budget and a deadline: past those the client is
//! misbehaving and gets the reset.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};

/// A borrowed request body that notes whether the handler read from it.
pub(crate) struct Watched<'a, B> {
    inner: &'a mut B,
    read: &'a AtomicBool,
}

impl<'a, B> Watched<'a, B> {
    pub(crate) fn new(inner: &'a mut B, read: &'a AtomicBool) -> Self {
        Watched { inner, read }
    }
}

impl<B: Body<Data = Bytes> + Unpin> Body for Watched<'_, B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.read.store(true, Ordering::Relaxed);
        Pin::new(&mut *self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Reads and discards the rest of `body`: at most `budget` bytes, for at
/// most `limit`.
///
/// A client that asked `Expect: 100-continue` and whose body was never
/// read has not sent it and waits for our word: the final answer tells it
/// not to send, so there is nothing to finish (reading would make hyper
/// invite the body first).
pub(crate) async fn finish<B>(
    body: &mut B,
    already_read: bool,
    expects_continue: bool,
    budget: usize,
    limit: Duration,
) where
    B: Body<Data = Bytes> + Unpin,
{
    if body.is_end_stream() || (expects_continue && !already_read) {
        return;
    }
    let discard = async {
        let mut seen = 0usize;
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { return };
            if let Some(data) = frame.data_ref() {
                seen = seen.saturating_add(data.len());
                if seen > budget {
                    return;
                }
            }
        }
    };
    let _ = tokio::time::timeout(limit, discard).await;
}

#[cfg(test)]
mod tests {
    use http_body_util::Full;

    use super::*;

    /// `left` frames of 100 bytes.
    struct Chunks {
        left: usize,
    }

    impl Body for Chunks {
        type Data = Bytes;
        type Error = std::convert::Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            if self.left == 0 {
                return Poll::Ready(None);
            }
            self.left -= 1;
            Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![0u8; 100])))))
        }
    }

    #[tokio::test]
    async fn the_rest_is_read_up_to_the_budget() {
        let mut body = Chunks { left: 10 };
        finish(&mut body, false, false, 450, Duration::from_secs(5)).await;
        // 5 frames read (the fifth crosses the budget), 5 left.
        assert_eq!(body.left, 5);

        let mut body = Chunks { left: 10 };
        finish(&mut body, false, false, 10_000, Duration::from_secs(5)).await;
        assert_eq!(body.left, 0);
    }

    #[tokio::test]
    async fn an_unread_body_that_waits_for_100_continue_is_left_alone() {
        let mut full = Full::new(Bytes::from_static(b"abc"));
        finish(&mut full, false, true, 10, Duration::from_secs(5)).await;
        assert!(!full.is_end_stream());
        finish(&mut full, true, true, 10, Duration::from_secs(5)).await;
        assert!(full.is_end_stream());
    }
}
