//! How long a call's request took to arrive: from its headers to the last frame of its body, the time its
//! inline data (a payload, a workflow's edge) spent on the wire into the function. Every request's body
//! is timed on its way in (`time_body`, an axum middleware in front of the gRPC and HTTP routes), and the
//! function reads the figure once it has the body ([`Received::transfer`]).

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Request;
use bytes::Bytes;

/// When a request's headers arrived, and (once read) its body's last data frame.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    /// The headers' arrival: the call's arrival at the function.
    pub(crate) at: Instant,
    /// Nanoseconds from `at` to the latest data frame with bytes, plus one (0: none yet).
    last_frame_ns: Arc<AtomicU64>,
}

impl Received {
    /// The time from the headers to the body's last data frame read so far; `None` when no byte of
    /// body came.
    pub(crate) fn transfer(&self) -> Option<Duration> {
        match self.last_frame_ns.load(Ordering::Relaxed) {
            0 => None,
            n => Some(Duration::from_nanos(n - 1)),
        }
    }
}

/// The axum middleware: stamps the request's arrival and times its body's frames.
pub(crate) async fn time_body(request: Request) -> Request {
    let received = Received {
        at: Instant::now(),
        last_frame_ns: Arc::new(AtomicU64::new(0)),
    };
    let (mut parts, body) = request.into_parts();
    let timed = TimedBody {
        inner: body,
        received: received.clone(),
    };
    parts.extensions.insert(received);
    Request::from_parts(parts, Body::new(timed))
}

/// A body that notes when each of its data frames arrives.
struct TimedBody {
    inner: Body,
    received: Received,
}

impl http_body::Body for TimedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if frame.data_ref().is_some_and(|d| !d.is_empty()) {
                let r = &self.received;
                let ns = r.at.elapsed().as_nanos().min(u128::from(u64::MAX - 1)) as u64;
                r.last_frame_ns.store(ns + 1, Ordering::Relaxed);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
