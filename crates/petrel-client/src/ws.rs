//! MQTT over WebSocket: binary frames carry the byte stream (subprotocol `mqtt`). This
//! adapter turns a tungstenite message stream back into `AsyncRead + AsyncWrite` so the
//! connection driver does not know it is there.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use futures_util::Sink;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;

use crate::error::Error;

/// A WebSocket connection seen as a byte stream.
pub(crate) struct WsByteStream<S> {
    inner: WebSocketStream<S>,
    readable: Bytes,
    eof: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsByteStream<S> {
    /// Runs the WebSocket client handshake over `stream` for `url`, asking for the `mqtt`
    /// subprotocol.
    pub(crate) async fn handshake(stream: S, url: &str) -> Result<Self, Error> {
        let mut req = url
            .into_client_request()
            .map_err(|e| Error::Options(format!("WebSocket URL {url}: {e}")))?;
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("mqtt"));
        let (inner, _resp) = tokio_tungstenite::client_async(req, stream)
            .await
            .map_err(|e| Error::Transport(format!("WebSocket handshake: {e}")))?;
        Ok(Self {
            inner,
            readable: Bytes::new(),
            eof: false,
        })
    }
}

fn to_io(e: tokio_tungstenite::tungstenite::Error) -> io::Error {
    io::Error::other(e)
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for WsByteStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            if !self.readable.is_empty() {
                let n = self.readable.len().min(buf.remaining());
                let chunk = self.readable.split_to(n);
                buf.put_slice(&chunk);
                return Poll::Ready(Ok(()));
            }
            if self.eof {
                return Poll::Ready(Ok(()));
            }
            match ready!(Pin::new(&mut self.inner).poll_next(cx)) {
                Some(Ok(WsMessage::Binary(b))) => self.readable = b,
                Some(Ok(WsMessage::Close(_))) | None => self.eof = true,
                // Pings are answered by tungstenite; text frames are not MQTT.
                Some(Ok(WsMessage::Text(_))) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "text frame on an MQTT WebSocket",
                    )))
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Poll::Ready(Err(to_io(e))),
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WsByteStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut sink = Pin::new(&mut self.inner);
        ready!(sink.as_mut().poll_ready(cx)).map_err(to_io)?;
        sink.as_mut()
            .start_send(WsMessage::binary(buf.to_vec()))
            .map_err(to_io)?;
        // Push the frame out now; if the socket is busy the next flush finishes it.
        let _ = sink.poll_flush(cx).map_err(to_io)?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx).map_err(to_io)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx).map_err(to_io)
    }
}
