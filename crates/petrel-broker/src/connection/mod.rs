//! One task per connection. The task owns a `petrel_session::ServerSession`, which owns
//! every protocol rule (handshake checks, packet ids, QoS 1/2 flows, receive maximum,
//! topic aliases, keep-alive, maximum packet size). The task does what is not
//! per-connection protocol: it feeds the bytes it reads to the session, answers the
//! session's events (authentication, routing through the shared index, retained
//! messages, store commits before acknowledgements, ACLs), moves messages from the
//! session's shared queue into the session, and writes what the session produces.

mod access;
mod buffers;
mod handshake;
mod inbound;
mod outbound;

pub(crate) use handshake::server_config;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use bytes::BytesMut;
use petrel_codec::{Packet, PacketId, Properties, Property, QoS, ReasonCode};
use petrel_session::{CloseReason, PendingAck, ServerCounters, ServerSession, SessionError};
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use crate::core::Core;
use crate::metrics::{DropReason, Metrics};
use crate::session::{Delivery, Saved, Session};
use crate::slot::SlotHold;
use crate::transport::{Admitted, Peer, Stream};

/// How the broker closes a connection on its own initiative.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Close {
    /// The broker closes with this reason (sent as DISCONNECT to MQTT 5 clients).
    Server(ReasonCode),
}

/// Tracks how many received bytes a connection holds in the broker-wide gauge.
struct BufGauge<'a> {
    metrics: &'a Metrics,
    reported: i64,
}

impl BufGauge<'_> {
    /// Reports the bytes the session holds undecoded (read buffers are pooled, see
    /// [`buffers`]).
    fn update(&mut self, server: &ServerSession) {
        let now = server.buffered_input() as i64;
        Metrics::gauge(&self.metrics.buffered_bytes, now - self.reported);
        self.reported = now;
    }
}

impl Drop for BufGauge<'_> {
    fn drop(&mut self) {
        Metrics::gauge(&self.metrics.buffered_bytes, -self.reported);
    }
}

/// The current time as the sans-IO session takes it (tokio's clock, so paused time works).
fn now() -> std::time::Instant {
    Instant::now().into_std()
}

/// Feeds bytes to the session, counting a protocol violation.
fn feed(server: &mut ServerSession, bytes: &[u8], metrics: &Metrics) {
    // Held-back input (no bytes) is dated by the read that brought it: no clock read.
    let fed = if bytes.is_empty() {
        server.resume_input()
    } else {
        server.handle_bytes(now(), bytes)
    };
    if let Err(SessionError::Protocol(v)) = fed {
        tracing::debug!(error = %v, "protocol violation");
        Metrics::add(&metrics.protocol_errors, 1);
    }
}

/// Encodes every packet the session wants to send into `out`.
fn encode_all(server: &mut ServerSession, out: &mut BytesMut) {
    if let Err(e) = server.encode_transmits(out) {
        tracing::warn!(client = %server.client_id(), error = %e, "cannot encode packet");
    }
}

/// Writes `out` (flushing TLS and WebSocket buffers) and gives its buffer back to the
/// pool.
async fn write_out(wr: &mut Stream, out: &mut BytesMut, metrics: &Metrics) -> bool {
    if out.is_empty() {
        return true;
    }
    let n = out.len();
    let ok = wr.write_all(out).await.is_ok() && wr.flush().await.is_ok();
    buffers::give_back(out);
    if ok {
        Metrics::add(&metrics.bytes_sent, n as u64);
    }
    ok
}

/// State of an established connection.
pub(crate) struct Conn {
    core: Arc<Core>,
    conn_id: std::num::NonZeroU64,
    /// The authenticated user name, for authorisation.
    username: Option<Box<str>>,
    /// MQTT 5 enhanced authentication state, for re-authentication.
    reauth: access::Reauth,
    session: Arc<Session>,
    /// The protocol state machine of this connection.
    server: ServerSession,
    /// Held from CONNACK until the protocol state is put back (see [`crate::slot`]).
    slot: Option<SlotHold>,
    out: BytesMut,
    /// Store message id and QoS of each durable in-flight message, by packet id (boxed,
    /// allocated for the first one: most connections hold none, issue 8).
    #[allow(clippy::box_collection)] // 8 bytes instead of 48 while empty
    stored: Option<Box<HashMap<PacketId, (u64, QoS)>>>,
    /// The CONNECT carried a will (stored for a persistent session).
    has_will: bool,
    /// The delivery last handed to the session and not yet sent (window full).
    pending: Option<Delivery>,
    /// The session's drop counters already added to the metrics.
    counted: ServerCounters,
    /// Set once the session reported `Closed` (boxed: set once, at the end, and every
    /// connection holds this struct).
    closed: Option<Box<(CloseReason, bool)>>,
    /// Store operations of this connection's session, committed before the next write
    /// (see `crate::persist`).
    persist: petrel_store::Batch,
    /// Store operations that need not be durable before the next write (QoS 1 packet
    /// ids and completions), sent with the next write without waiting.
    persist_later: petrel_store::Batch,
    /// PUBLISHes routed and waiting for their store commit, in arrival order.
    publishes: VecDeque<PendingPublish>,
}

/// A received PUBLISH waiting for its store commit before it is delivered and
/// acknowledged.
struct PendingPublish {
    /// The routed message (`None`: nothing to deliver, only the acknowledgement).
    routed: Option<crate::core::Routed>,
    /// The acknowledgement owed (QoS 1 and 2).
    ack: Option<PendingAck>,
    /// The reason decided before storing.
    reason: ReasonCode,
}

/// Serves one connection (any transport) until it closes; `admitted` is dropped last.
///
/// The task's future stays allocated for the connection's lifetime, so it is kept small
/// (issue 8: memory per idle connection): not an `async fn`, which keeps a second copy of
/// its arguments in its future (the arguments, then the locals they are moved into), while
/// the block below uses its captured arguments in place; and `peer`, needed only until
/// CONNACK, is boxed.
#[allow(clippy::manual_async_fn)] // see above
pub(crate) fn serve(
    mut stream: Stream,
    peer: Box<Peer>,
    admitted: Admitted,
) -> impl std::future::Future<Output = ()> + Send {
    async move {
        let core = admitted.core();
        let ip = peer.ip;
        let Some(pending) = core.pending_guard(ip) else {
            tracing::debug!(%ip, "too many connections pending CONNECT from this address");
            core.metrics
                .refused(crate::metrics::RefuseReason::PendingConnects);
            return;
        };
        let mut gauge = BufGauge {
            metrics: &core.metrics,
            reported: 0,
        };
        // Boxed: the handshake's state is large and needed only until CONNACK.
        let accept = handshake::accept(core, &peer, &mut stream, &mut gauge);
        let Some(mut conn) = Box::pin(accept).await else {
            return;
        };
        drop((pending, peer));
        Metrics::gauge(&core.metrics.clients_connected, 1);
        conn.run(&mut stream, &mut gauge).await;
        Metrics::gauge(&core.metrics.clients_connected, -1);
    }
}

impl Conn {
    /// Sends an AUTH packet (enhanced re-authentication); other packets are the session's.
    fn send(&mut self, packet: Packet) {
        if let Packet::Auth(auth) = packet {
            if let Err(e) = self.server.send_auth(auth) {
                tracing::debug!(client = %self.session.client_id, error = %e, "cannot send AUTH");
            }
        }
    }

    fn close_with(&mut self, close: Close) {
        let Close::Server(reason) = close;
        let properties = Properties::new().with(Property::ReasonString(reason_text(reason).into()));
        self.server.disconnect_with(now(), reason, properties);
    }

    fn protocol_error(&mut self, reason: ReasonCode, rule: &str) {
        tracing::debug!(client = %self.session.client_id, ?reason, rule, "closing connection");
        Metrics::add(&self.core.metrics.protocol_errors, 1);
        self.close_with(Close::Server(reason));
    }

    async fn flush(&mut self, wr: &mut Stream) -> bool {
        write_out(wr, &mut self.out, &self.core.metrics).await
    }

    /// Serves the connection until it closes. (Not an `async fn`, like [`serve`], for the
    /// size of the task's future.)
    #[allow(clippy::manual_async_fn)] // see above
    fn run<'a, 'g>(
        &'a mut self,
        io: &'a mut Stream,
        gauge: &'a mut BufGauge<'g>,
    ) -> impl std::future::Future<Output = ()> + Send + use<'a, 'g> {
        async move {
            loop {
                buffers::lend(&mut self.out);
                // Boxed: answering events awaits deep call chains whose state would
                // otherwise be part of every connection's future, idle or not.
                Box::pin(self.process()).await;
                let taken_over = self.pump(Instant::now());
                self.commit_persist().await;
                if !self.flush(io).await && self.closed.is_none() {
                    self.server.connection_lost(now());
                    continue;
                }
                if self.closed.is_some() {
                    break;
                }
                if taken_over {
                    // The session reports the close it was told to make: next turn.
                    continue;
                }
                // At shutdown every session's connection is woken (`Core::wake_all`); it
                // is not waited for here, which would keep a watch future in every
                // connection's task (issue 8: memory per idle connection).
                if *self.core.shutdown.borrow() {
                    self.close_with(Close::Server(ReasonCode::ServerShuttingDown));
                    continue;
                }
                let deadline = self.server.poll_timeout().map(Instant::from_std);
                let reading = self.server.wants_input();
                // Waiting may last long: what the last turn left in the session's queues
                // goes.
                self.server.release_idle_memory();
                tokio::select! {
                    _ = self.session.notify.notified() => {}
                    n = buffers::read_with(io, &self.core.metrics, |b| feed(&mut self.server, b, &self.core.metrics)), if reading => {
                        if n == 0 {
                            self.server.connection_lost(now());
                        }
                        gauge.update(&self.server);
                    }
                    _ = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                        self.server.handle_timeout(now());
                    }
                }
            }
            // Boxed, like `process`: its state is needed once, the task's future is kept
            // for the connection's lifetime (issue 8: memory per idle connection).
            Box::pin(self.finish(io)).await;
        }
    }

    /// Answers every event of the session, resuming input it held back meanwhile, then
    /// settles the PUBLISHes waiting for their store commits (their acknowledgements may
    /// close the connection, which is one more event).
    ///
    /// Input is not decoded further while the client's unacknowledged QoS 1/2 PUBLISHes
    /// have reached our Receive Maximum and some of them only wait for their store
    /// commits: those are settled (acknowledged) first. An MQTT 3.1.1 client cannot be
    /// told the limit, so this flow control is all that keeps a pipelining client within
    /// it; without it a slow store turned its next PUBLISH into a protocol violation.
    async fn process(&mut self) {
        let mut resume = false;
        loop {
            while let Some(event) = self.server.poll_event() {
                resume = true;
                self.on_event(event).await;
            }
            // Input held back while events waited is decoded now; a partial packet waits
            // for more bytes.
            let input = resume && self.server.buffered_input() > 0 && self.server.wants_input();
            if input && (self.publishes.is_empty() || !self.at_receive_maximum()) {
                resume = false;
                feed(&mut self.server, &[], &self.core.metrics);
                continue;
            }
            if self.publishes.is_empty() {
                break;
            }
            self.settle_publishes().await;
        }
    }

    /// True when the client's unacknowledged QoS 1/2 PUBLISHes fill our Receive Maximum.
    fn at_receive_maximum(&self) -> bool {
        self.server.incoming_in_flight() >= usize::from(self.core.config.limits.receive_maximum)
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
            tracing::warn!(client = %self.session.client_id, error = %e, "store commit failed");
            self.out.clear();
            self.protocol_error(ReasonCode::UnspecifiedError, "store failure");
            encode_all(&mut self.server, &mut self.out);
        }
    }

    /// Hands the session state back, detaches, writes what is left and publishes the
    /// will if due.
    async fn finish(&mut self, wr: &mut Stream) {
        if self.closed.is_none() {
            self.server.connection_lost(now());
            while let Some(event) = self.server.poll_event() {
                self.on_event(event).await;
            }
        }
        self.settle_publishes().await;
        let (reason, publish_will) = self
            .closed
            .as_deref()
            .cloned()
            .unwrap_or((CloseReason::ConnectionLost, false));
        let taken_over = reason == CloseReason::Local(ReasonCode::SessionTakenOver);
        let expiry = self.server.session_expiry_interval();
        let will = self.server.will().map(|(w, delay)| (w.clone(), delay));
        self.save_state();
        self.commit_persist().await;
        self.core.detach(&self.session, self.conn_id).await;
        self.flush(wr).await;
        let _ = wr.shutdown().await;
        let normal = matches!(reason, CloseReason::PeerDisconnect { .. }) && !publish_will;
        if normal && self.has_will {
            // Normal DISCONNECT: the stored will is discarded (MQTT-3.14.4-3).
            self.core
                .forget(petrel_store::Op::ClearWill(self.session.client_id.clone()).into());
        }
        if let (true, Some((w, delay))) = (publish_will, will) {
            let msg = crate::message::Message::new(
                w.topic,
                w.payload,
                w.qos,
                w.retain,
                &w.properties,
                Instant::now(),
                Some(self.session.client_id.clone()),
            );
            let delay = delay.min(expiry);
            // A takeover is a reconnect: a delayed will is cancelled by it.
            if !(taken_over && delay > 0) {
                self.core.schedule_will(
                    &self.session.client_id,
                    msg,
                    std::time::Duration::from_secs(delay.into()),
                );
            }
        }
    }

    /// Puts the protocol state back into the shared session for the next connection. A
    /// message handed to the session but not sent goes back to the front of the queue.
    fn save_state(&mut self) {
        let mut state = self.server.take_state();
        let mut st = self.session.lock();
        if st.ended {
            // The session was discarded meanwhile: its in-flight messages are gone.
            Metrics::gauge(
                &self.core.metrics.queued_messages,
                -(state.outgoing.len() as i64),
            );
            let lost = state.outgoing.len() as u64;
            self.core.metrics.dropped(DropReason::SessionEnded, lost);
            drop(st);
            self.slot = None;
            return;
        }
        state.queue.clear();
        if let Some(d) = self.pending.take() {
            st.queued_bytes += d.msg.cost();
            st.queue.push_front(d);
            Metrics::gauge(&self.core.metrics.queued_messages, 1);
        }
        drop(st);
        if let Some(slot) = self.slot.take() {
            slot.put_back(Saved {
                state,
                stored: self.stored.take().map(|s| *s).unwrap_or_default(),
            });
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
