//! WebSocket listeners (RFC 6455, MQTT section 6): the handshake checks the path and
//! selects the `mqtt` subprotocol (MQTT-6.0.0-4); afterwards the connection is a byte
//! stream made of binary frames. A packet may span frames and a frame may hold several
//! packets (MQTT-6.0.0-2); a text frame closes the connection (MQTT-6.0.0-1).

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// Subprotocol names a client may offer: `mqtt`, and `mqttv3.1` used by old clients.
const SUBPROTOCOLS: [&str; 2] = ["mqtt", "mqttv3.1"];

fn reject(status: StatusCode, why: &str) -> ErrorResponse {
    let mut response = ErrorResponse::new(Some(why.to_owned()));
    *response.status_mut() = status;
    response
}

/// Checks the request path and picks the subprotocol. (The error type is tungstenite's.)
#[allow(clippy::result_large_err)]
fn negotiate(
    path: &str,
    request: &Request,
    mut response: Response,
) -> Result<Response, ErrorResponse> {
    if request.uri().path() != path {
        return Err(reject(
            StatusCode::NOT_FOUND,
            "no MQTT endpoint at this path",
        ));
    }
    let offered: Vec<&str> = request
        .headers()
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    if offered.is_empty() {
        // A client that offers nothing still gets MQTT (lenient, like common brokers).
        return Ok(response);
    }
    let Some(chosen) = SUBPROTOCOLS
        .iter()
        .find(|p| offered.iter().any(|o| o.eq_ignore_ascii_case(p)))
    else {
        return Err(reject(StatusCode::BAD_REQUEST, "subprotocol mqtt required"));
    };
    // MQTT-6.0.0-4: the server selects `mqtt`.
    response
        .headers_mut()
        .insert("sec-websocket-protocol", HeaderValue::from_static(chosen));
    Ok(response)
}

/// Runs the server handshake on `stream`.
#[allow(clippy::result_large_err)]
pub(super) async fn accept<S>(stream: S, path: &str, max_size: usize) -> io::Result<WsStream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // A frame may hold several packets: leave room beyond one maximum-size packet.
    let limit = max_size.saturating_add(64 * 1024);
    let config = WebSocketConfig::default()
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit));
    let path = path.to_owned();
    let ws = tokio_tungstenite::accept_hdr_async_with_config(
        stream,
        move |req: &Request, resp: Response| negotiate(&path, req, resp),
        Some(config),
    )
    .await
    .map_err(io::Error::other)?;
    Ok(WsStream {
        ws,
        pending: Bytes::new(),
        eof: false,
    })
}

/// A WebSocket connection as a byte stream.
pub(crate) struct WsStream<S> {
    ws: WebSocketStream<S>,
    /// The unread rest of the last binary frame.
    pending: Bytes,
    eof: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for WsStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.pending.is_empty() {
                let n = this.pending.len().min(buf.remaining());
                buf.put_slice(this.pending.get(..n).unwrap_or_default());
                this.pending.advance(n);
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            match ready!(this.ws.poll_next_unpin(cx)) {
                Some(Ok(Message::Binary(data))) => this.pending = data,
                Some(Ok(Message::Text(_))) => {
                    // MQTT-6.0.0-1: text frames are not MQTT; close the connection.
                    this.eof = true;
                    if let Poll::Ready(Ok(())) = this.ws.poll_ready_unpin(cx) {
                        let _ = this.ws.start_send_unpin(Message::Close(Some(CloseFrame {
                            code: CloseCode::Unsupported,
                            reason: "MQTT needs binary frames".into(),
                        })));
                    }
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "text frame (MQTT-6.0.0-1)",
                    )));
                }
                Some(Ok(Message::Close(_))) | None => this.eof = true,
                Some(Ok(_)) => {} // ping, pong: handled by tungstenite
                Some(Err(e)) => {
                    this.eof = true;
                    return Poll::Ready(Err(io::Error::other(e)));
                }
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WsStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.ws.poll_ready_unpin(cx)).map_err(io::Error::other)?;
        this.ws
            .start_send_unpin(Message::Binary(Bytes::copy_from_slice(buf)))
            .map_err(io::Error::other)?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut()
            .ws
            .poll_flush_unpin(cx)
            .map_err(io::Error::other)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match ready!(self.get_mut().ws.poll_close_unpin(cx)) {
            Ok(()) => Poll::Ready(Ok(())),
            // Closing an already closed WebSocket is fine.
            Err(_) => Poll::Ready(Ok(())),
        }
    }
}
