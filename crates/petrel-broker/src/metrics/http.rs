//! The optional HTTP listener serving `GET /metrics` (HTTP/1.1 through hyper).
//!
//! It is a separate listener from the MQTT ones, meant for a local or internal network.
//! What a peer can make it hold is bounded: a few connections at once, a small read
//! buffer, a deadline for request headers and a lifetime per connection.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

use super::text::{self, State};
use crate::core::Core;

/// Connections served at once; further ones are closed at once.
const MAX_CONNECTIONS: usize = 16;
/// Time a client has to send a request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest life of one connection (a scraper reconnects).
const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);
/// Read buffer of one connection (hyper's minimum); larger headers are refused.
const MAX_BUF: usize = 8 * 1024;

/// Accepts metrics connections until shutdown.
pub(crate) async fn run(core: Arc<Core>, listener: TcpListener) {
    let shutdown = core.shutdown.clone();
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_BUF)
        .max_headers(64);
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stopped(shutdown.clone()) => return,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "metrics listener: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::debug!("metrics listener: too many connections");
            continue;
        };
        let core = core.clone();
        let conn = http.serve_connection(
            TokioIo::new(stream),
            hyper::service::service_fn(move |req| {
                let core = core.clone();
                async move { Ok::<_, Infallible>(respond(&core, &req)) }
            }),
        );
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            tokio::select! {
                r = tokio::time::timeout(CONNECTION_LIFETIME, conn) => {
                    if let Ok(Err(e)) = r {
                        tracing::debug!(error = %e, "metrics connection closed");
                    }
                }
                _ = stopped(shutdown) => {}
            }
            drop(permit);
        });
    }
}

/// Resolves once the broker shuts down (never, when its handle was dropped without
/// shutting it down: the broker goes on running).
async fn stopped(mut shutdown: watch::Receiver<bool>) {
    while !*shutdown.borrow_and_update() {
        if shutdown.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Answers one request: the metrics for `GET` (or `HEAD`) `/metrics`, 404 elsewhere.
fn respond(core: &Core, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    if req.uri().path() != "/metrics" {
        return plain(
            StatusCode::NOT_FOUND,
            "not found; metrics are at /metrics\n",
        );
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let state = State {
        sessions: core.session_count(),
        max_session_queue: core.max_queue_len(),
        subscriptions: core.index.len(),
        retained: core.retained.len(),
        uptime_secs: core.started.elapsed().as_secs(),
    };
    let body = text::render(&core.metrics.snapshot(), &state);
    let mut r = Response::new(Full::new(Bytes::from(body)));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(text::CONTENT_TYPE));
    r
}

fn plain(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}
