//! One task per connection: it reads bytes, decodes packets, applies them to its session,
//! drains the session queue into one write buffer per wake-up and writes it at once.

mod access;
mod handshake;
mod inbound;
mod outbound;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use bytestring::ByteString;
use petrel_codec::{Disconnect, Packet, Properties, Property, ProtocolVersion, ReasonCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::core::Core;
use crate::message::Message;
use crate::metrics::Metrics;
use crate::session::Session;
use crate::transport::{ConnRead as OwnedReadHalf, ConnWrite as OwnedWriteHalf, Peer, Stream};

/// Read size per `read` call; the buffer grows only as bytes arrive.
const READ_CHUNK: usize = 8 * 1024;

/// Why a connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Close {
    /// The client sent DISCONNECT; `will` is true for reason 0x04.
    Client { will: bool },
    /// The socket closed or failed.
    Network,
    /// The broker closes with this reason (sent as DISCONNECT to MQTT 5 clients).
    Server(ReasonCode),
}

/// Tracks how many bytes a read buffer holds in the broker-wide gauge.
struct BufGauge<'a> {
    metrics: &'a Metrics,
    reported: i64,
}

impl BufGauge<'_> {
    fn update(&mut self, buf: &BytesMut) {
        let now = buf.capacity() as i64;
        Metrics::gauge(&self.metrics.buffered_bytes, now - self.reported);
        self.reported = now;
    }
}

impl Drop for BufGauge<'_> {
    fn drop(&mut self) {
        Metrics::gauge(&self.metrics.buffered_bytes, -self.reported);
    }
}

/// Reads more bytes into `buf`, growing it by at most [`READ_CHUNK`]. Returns 0 at EOF.
async fn read_more(rd: &mut OwnedReadHalf, buf: &mut BytesMut, metrics: &Metrics) -> usize {
    if buf.capacity() - buf.len() < READ_CHUNK / 2 {
        buf.reserve(READ_CHUNK);
    }
    match rd.read_buf(buf).await {
        Ok(n) => {
            Metrics::add(&metrics.bytes_received, n as u64);
            n
        }
        Err(_) => 0,
    }
}

/// State of an established connection.
pub(crate) struct Conn {
    core: Arc<Core>,
    conn_id: u64,
    version: ProtocolVersion,
    client_id: ByteString,
    /// The authenticated user name, for authorisation.
    username: Option<ByteString>,
    /// MQTT 5 enhanced authentication state, for re-authentication.
    reauth: access::Reauth,
    session: Arc<Session>,
    out: BytesMut,
    keep_alive: Duration,
    client_receive_max: u16,
    client_max_packet: u32,
    client_alias_max: u16,
    in_aliases: HashMap<u16, ByteString>,
    out_aliases: HashMap<ByteString, u16>,
    will: Option<(Arc<Message>, u32)>,
    connect_expiry: u32,
    close: Option<Close>,
    /// Store operations of this connection's session, committed before the next write
    /// (see `crate::persist`).
    persist: petrel_store::Batch,
    /// Store operations that need not be durable before the next write (QoS 1 packet
    /// ids and completions), sent with the next write without waiting.
    persist_later: petrel_store::Batch,
    /// PUBLISHes routed and waiting for their store commit, in arrival order.
    publishes: std::collections::VecDeque<PendingPublish>,
}

/// A received PUBLISH waiting for its store commit before it is delivered and
/// acknowledged.
struct PendingPublish {
    /// The routed message (`None`: nothing to deliver, only the acknowledgement).
    routed: Option<crate::core::Routed>,
    qos: petrel_codec::QoS,
    pid: Option<petrel_codec::PacketId>,
    /// Published to `$SYS` (refused).
    sys: bool,
    /// The reason decided before storing.
    reason: ReasonCode,
}

/// Serves one connection (any transport) until it closes.
pub(crate) async fn serve(core: Arc<Core>, stream: Stream, peer: Peer) {
    let ip = peer.ip;
    let Some(pending) = core.pending_guard(ip) else {
        tracing::debug!(%ip, "too many connections pending CONNECT from this address");
        Metrics::add(&core.metrics.connections_refused, 1);
        return;
    };
    let (mut rd, mut wr) = stream.into_split();
    let mut inbuf = BytesMut::new();
    let mut gauge = BufGauge {
        metrics: &core.metrics,
        reported: 0,
    };
    let Some((mut conn, kick)) =
        handshake::accept(&core, &peer, &mut rd, &mut wr, &mut inbuf, &mut gauge).await
    else {
        return;
    };
    drop(pending);
    Metrics::gauge(&core.metrics.clients_connected, 1);
    conn.run(&mut rd, &mut wr, &mut inbuf, &mut gauge, kick)
        .await;
    Metrics::gauge(&core.metrics.clients_connected, -1);
}

impl Conn {
    fn send(&mut self, packet: Packet) {
        if let Err(e) = packet.encode(self.version, &mut self.out) {
            tracing::warn!(client = %self.client_id, error = %e, "cannot encode packet");
        }
    }

    fn close_with(&mut self, close: Close) {
        if self.close.is_none() {
            self.close = Some(close);
        }
    }

    fn protocol_error(&mut self, reason: ReasonCode, rule: &str) {
        tracing::debug!(client = %self.client_id, ?reason, rule, "closing connection");
        Metrics::add(&self.core.metrics.protocol_errors, 1);
        self.close_with(Close::Server(reason));
    }

    async fn flush(&mut self, wr: &mut OwnedWriteHalf) -> bool {
        if self.out.is_empty() {
            return true;
        }
        let n = self.out.len();
        // TLS and WebSocket streams buffer: flush (a no-op on TCP).
        let ok = wr.write_all(&self.out).await.is_ok() && wr.flush().await.is_ok();
        self.out.clear();
        if ok {
            Metrics::add(&self.core.metrics.bytes_sent, n as u64);
        }
        ok
    }

    async fn run(
        &mut self,
        rd: &mut OwnedReadHalf,
        wr: &mut OwnedWriteHalf,
        inbuf: &mut BytesMut,
        gauge: &mut BufGauge<'_>,
        mut kick: oneshot::Receiver<ReasonCode>,
    ) {
        let mut shutdown = self.core.shutdown.clone();
        let mut last_rx = Instant::now();
        // Packets that arrived together with CONNECT.
        self.decode_all(inbuf).await;
        gauge.update(inbuf);
        loop {
            self.settle_publishes().await;
            self.pump(Instant::now());
            self.commit_persist().await;
            if !self.flush(wr).await {
                self.close_with(Close::Network);
            }
            if self.close.is_some() {
                break;
            }
            if *shutdown.borrow() {
                self.close_with(Close::Server(ReasonCode::ServerShuttingDown));
                continue;
            }
            // MQTT-3.1.2-22: one and a half times the keep-alive.
            let deadline = last_rx + self.keep_alive.mul_f32(1.5);
            tokio::select! {
                r = &mut kick => {
                    let reason = r.unwrap_or(ReasonCode::SessionTakenOver);
                    self.close_with(Close::Server(reason));
                }
                _ = shutdown.changed() => {}
                _ = self.session.notify.notified() => {}
                n = read_more(rd, inbuf, &self.core.metrics) => {
                    if n == 0 {
                        self.close_with(Close::Network);
                    } else {
                        last_rx = Instant::now();
                        self.decode_all(inbuf).await;
                    }
                    gauge.update(inbuf);
                }
                _ = tokio::time::sleep_until(deadline), if !self.keep_alive.is_zero() => {
                    self.protocol_error(ReasonCode::KeepAliveTimeout, "MQTT-3.1.2-22");
                }
            }
        }
        self.finish(wr).await;
    }

    /// Commits the session's pending store operations before what they describe is
    /// written. On failure nothing pending is sent: the connection closes and the
    /// session keeps its state for a resume.
    async fn commit_persist(&mut self) {
        self.core.forget(std::mem::take(&mut self.persist_later));
        if self.persist.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.persist);
        if let Err(e) = self.core.store.commit(batch).await {
            tracing::warn!(client = %self.client_id, error = %e, "store commit failed");
            self.out.clear();
            self.protocol_error(ReasonCode::UnspecifiedError, "store failure");
        }
    }

    /// Decodes and handles every complete packet in `inbuf`.
    async fn decode_all(&mut self, inbuf: &mut BytesMut) {
        while self.close.is_none() {
            match petrel_codec::decode(inbuf, self.version, self.core.config.limits.max_packet_size)
            {
                Ok(Some(packet)) => self.handle(packet).await,
                Ok(None) => break,
                Err(e) => {
                    let rule = e.normative_id_for(self.version).unwrap_or("");
                    tracing::debug!(client = %self.client_id, error = %e, rule, "bad packet");
                    self.protocol_error(e.reason_code(), rule);
                    inbuf.clear();
                }
            }
        }
    }

    /// Sends the final DISCONNECT, publishes the will if due, detaches from the session.
    async fn finish(&mut self, wr: &mut OwnedWriteHalf) {
        let close = self.close.unwrap_or(Close::Network);
        if let Close::Server(reason) = close {
            if self.version.is_v5() {
                let properties =
                    Properties::new().with(Property::ReasonString(reason_text(reason).into()));
                self.send(Packet::Disconnect(Disconnect { reason, properties }));
            }
        }
        let taken_over = close == Close::Server(ReasonCode::SessionTakenOver);
        let expiry = self.session.lock().expiry_interval;
        self.settle_publishes().await;
        self.commit_persist().await;
        self.core.detach(&self.session, self.conn_id).await;
        self.flush(wr).await;
        let _ = wr.shutdown().await;
        let will = match close {
            // MQTT-3.14.4-3: no will after a normal DISCONNECT.
            Close::Client { will } => will,
            _ => true,
        };
        if !will && !taken_over && self.will.is_some() {
            // Normal DISCONNECT: the stored will is discarded.
            self.core
                .forget(petrel_store::Op::ClearWill(self.client_id.clone()).into());
        }
        if let (true, Some((msg, delay))) = (will, self.will.take()) {
            let delay = delay.min(expiry);
            // A takeover is a reconnect: a delayed will is cancelled by it.
            if !(taken_over && delay > 0) {
                self.core.schedule_will(&self.client_id, msg, delay);
            }
        }
    }
}

/// The reason string sent with a server-side DISCONNECT. (Always sending one also keeps
/// the property length on the wire, which some clients require.)
fn reason_text(reason: ReasonCode) -> &'static str {
    match reason {
        ReasonCode::ServerShuttingDown => "server shutting down",
        ReasonCode::SessionTakenOver => "session taken over by another connection",
        ReasonCode::KeepAliveTimeout => "keep alive timeout",
        ReasonCode::QuotaExceeded => "quota exceeded",
        ReasonCode::PacketTooLarge => "packet too large",
        ReasonCode::TopicNameInvalid => "topic name invalid",
        ReasonCode::TopicAliasInvalid => "topic alias invalid",
        ReasonCode::ReceiveMaximumExceeded => "receive maximum exceeded",
        ReasonCode::MalformedPacket => "malformed packet",
        ReasonCode::NotAuthorized => "not authorized",
        _ => "protocol error",
    }
}
