//! Serving connections ourselves (instead of `axum::serve`) so that a handler can close its TCP
//! connection without answering ([`ConnCtl::abort`]), and so that shutdown can end requests that
//! never finish.
//!
//! Each accepted connection gets a [`ConnCtl`], put into every request's extensions. Its task
//! drives hyper's HTTP/1 connection and drops it (closing the socket, with nothing more written)
//! as soon as a handler calls [`ConnCtl::abort`]. On shutdown the accept loop stops, every
//! connection is asked to finish gracefully, and handlers waiting in [`ConnCtl::until_shutdown`]
//! abort theirs.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::response::Response;
use axum::Router;
use http_body::Frame;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch, Notify};
use tokio::task::JoinSet;
use tower_service::Service as _;

/// Per-connection controls, available to handlers as a request extension.
#[derive(Debug)]
pub(crate) struct ConnCtl {
    abort: Notify,
    shutdown: watch::Receiver<bool>,
}

impl ConnCtl {
    /// Closes this request's connection at once: nothing more is written to it.
    pub(crate) fn abort(&self) {
        self.abort.notify_one();
    }

    /// Resolves when the emulator shuts down.
    pub(crate) async fn until_shutdown(&self) {
        let mut shutdown = self.shutdown.clone();
        // An error means the server task is gone: that is a shutdown too.
        let _ = shutdown.wait_for(|stopping| *stopping).await;
    }
}

/// Accepts connections until `stop` fires (or its sender is dropped), then shuts every
/// connection down gracefully and returns when they are all closed.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    stop: oneshot::Receiver<()>,
) -> io::Result<()> {
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve_connection(stream, router.clone(), shutdown_rx.clone()));
                }
                // Out of file descriptors and the like: back off briefly, keep serving.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let _ = shutdown_tx.send(true);
    while connections.join_next().await.is_some() {}
    Ok(())
}

async fn serve_connection(stream: TcpStream, router: Router, shutdown: watch::Receiver<bool>) {
    let _ = stream.set_nodelay(true);
    let ctl = Arc::new(ConnCtl {
        abort: Notify::new(),
        shutdown: shutdown.clone(),
    });
    let service = {
        let ctl = ctl.clone();
        hyper::service::service_fn(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(ctl.clone());
            let mut router = router.clone();
            async move { router.call(req).await }
        })
    };
    let conn =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let mut shutdown = shutdown;
    let mut stopping = false;
    loop {
        tokio::select! {
            // Done, or failed (client went away, body error): either way the socket closes.
            _ = conn.as_mut() => return,
            // Dropping the connection drops the socket and the in-flight request with it.
            () = ctl.abort.notified() => return,
            changed = shutdown.wait_for(|stopping| *stopping), if !stopping => {
                let _ = changed;
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// A body that yields `head`, then (after a pause that lets the connection flush it) fails, so
/// hyper closes the connection short of the announced `Content-Length`.
struct TruncatedBody {
    head: Option<Bytes>,
    pause: Pin<Box<tokio::time::Sleep>>,
}

impl http_body::Body for TruncatedBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if let Some(head) = self.head.take() {
            return Poll::Ready(Some(Ok(Frame::data(head))));
        }
        match self.pause.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => Poll::Ready(Some(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "emulator: truncated response",
            )))),
        }
    }
}

/// `resp` with its full `Content-Length` announced but only the first half of its body sent.
pub(crate) async fn truncate(resp: Response) -> Response {
    let (mut parts, body) = resp.into_parts();
    let full = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let head = full.slice(..full.len() / 2);
    parts.headers.insert(
        axum::http::header::CONTENT_LENGTH,
        axum::http::HeaderValue::from(full.len()),
    );
    let body = TruncatedBody {
        head: Some(head),
        pause: Box::pin(tokio::time::sleep(Duration::from_millis(50))),
    };
    Response::from_parts(parts, Body::new(body))
}

/// Never resolves; spelled out so the intent reads at the call site.
pub(crate) async fn forever() -> Infallible {
    std::future::pending().await
}
