//! The server (broker) side of one connection.
//!
//! The broker owns one [`ServerSession`] per connection: it feeds the bytes it reads to
//! [`ServerSession::handle_bytes`], writes what [`ServerSession::encode_transmits`] produces,
//! answers the events ([`ServerEvent`]) and hands messages for the client to
//! [`ServerSession::deliver`].
//!
//! ## Lifecycle, as the broker drives it
//!
//! 1. A transport is accepted: `ServerSession::new(now, config)`. Read while
//!    [`ServerSession::wants_input`] is true, feed [`ServerSession::handle_bytes`], then
//!    write [`ServerSession::encode_transmits`], answer events, and arm a timer at
//!    [`ServerSession::poll_timeout`] that calls [`ServerSession::handle_timeout`].
//! 2. [`ServerEvent::Connect`]: authenticate (enhanced authentication goes through
//!    [`ServerSession::send_auth`] and [`ServerEvent::Auth`]). If another connection holds
//!    the client id, call `old.disconnect(now, ReasonCode::SessionTakenOver)` and
//!    `old.take_state()`. Then [`ServerSession::accept`] with
//!    [`AcceptParams::resume`] (the saved state; ignored when the CONNECT asked for a clean
//!    start) or [`AcceptParams::new`], or [`ServerSession::reject`].
//! 3. Traffic: [`ServerEvent::Publish`] (route it, then [`ServerSession::ack_publish`]),
//!    [`ServerEvent::Subscribe`] ([`ServerSession::suback`]), [`ServerEvent::Unsubscribe`],
//!    and [`ServerSession::deliver`] for messages routed to this client.
//! 4. [`ServerEvent::Closed`]: write what is left in the transmits, close the transport,
//!    publish the will (after [`ServerSession::will`]'s delay) when `publish_will` is set,
//!    and keep [`ServerSession::take_state`] if [`ServerSession::session_expiry_interval`]
//!    is not 0. Call [`ServerSession::connection_lost`] when the transport fails first.

mod connect;
mod inbound;
mod outbound;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use petrel_codec::{
    Auth, ByteString, Connect, Disconnect, EncodeError, Packet, PacketId, Properties,
    ProtocolVersion, QoS, ReasonCode, SubscriptionOptions, Will,
};

use crate::alias::{AliasPolicy, InboundAliases, OutboundAliases};
use crate::error::{CloseReason, ProtocolViolation, SendError, SessionError};
use crate::ids::IdCursor;
use crate::keepalive::ServerTimer;
use crate::message::{Message, PendingAck};
use crate::qos_in::InFlightIn;
use crate::qos_out::OutFlight;
use crate::queue::{DeliveryQueue, QueueLimits};
use crate::state::{ServerSessionState, Subscription};
use crate::wire::RxBuffer;

pub use connect::AcceptParams;
pub use outbound::DeliverOutcome;

/// Limits and capabilities the server announces and enforces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Our Receive Maximum: QoS 1/2 PUBLISH packets the client may have unacknowledged
    /// (0x93 when exceeded). Also bounds the QoS 2 state of MQTT 3 clients.
    pub receive_maximum: u16,
    /// Largest packet we accept (0x95 when exceeded, decided from the fixed header).
    pub max_packet_size: u32,
    /// Highest topic alias the client may use (0 = none).
    pub topic_alias_maximum: u16,
    /// Cap on our outgoing in-flight window (also bounded by the client's Receive Maximum).
    pub max_inflight: u16,
    /// Highest keep-alive accepted; MQTT 5 clients asking for more (or 0) are told this
    /// value as Server Keep Alive. MQTT 3 clients cannot be told, so asking for more (or 0)
    /// is refused with CONNACK return code 2 (identifier rejected, the only code that fits).
    pub max_keep_alive: Option<u16>,
    /// Highest Session Expiry Interval granted (MQTT 5).
    pub max_session_expiry: Option<u32>,
    /// Time allowed from the connection start until the CONNECT is accepted.
    pub connect_timeout: Duration,
    /// Maximum QoS of PUBLISH packets the client may send.
    pub maximum_qos: QoS,
    /// Whether retained messages are supported.
    pub retain_available: bool,
    /// Whether wildcard subscriptions are supported.
    pub wildcard_subscription_available: bool,
    /// Whether subscription identifiers are supported.
    pub subscription_identifiers_available: bool,
    /// Whether shared subscriptions are supported.
    pub shared_subscription_available: bool,
    /// How outgoing topic aliases are assigned.
    pub alias_policy: AliasPolicy,
    /// Outgoing queue limits and overflow policy.
    pub queue: QueueLimits,
    /// Most SUBSCRIBE/UNSUBSCRIBE packets awaiting the broker's answer at once.
    pub max_pending_subscribes: usize,
    /// Most control packets (acks, PINGRESP, ...) waiting to be written. Above it
    /// [`ServerSession::wants_input`] turns false; at twice it the connection is closed
    /// (QuotaExceeded): a peer that sends without reading cannot grow memory.
    pub max_pending_transmits: usize,
    /// Most filters in one SUBSCRIBE; the ones after it are refused (QuotaExceeded).
    pub max_filters_per_subscribe: usize,
    /// Most levels in a topic name or filter: a longer PUBLISH topic closes the connection
    /// (TopicNameInvalid), a longer filter is refused (TopicFilterInvalid).
    pub max_topic_levels: usize,
    /// Most user properties in one packet (and in the will): above it the connection is
    /// closed (QuotaExceeded).
    pub max_user_properties: usize,
    /// Most events waiting for the broker: decoding stops there (input stays buffered and
    /// [`ServerSession::wants_input`] turns false) until the broker drained them and feeds
    /// more input (an empty [`ServerSession::handle_bytes`] resumes the buffered bytes).
    pub max_pending_events: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            receive_maximum: 1024,
            max_packet_size: 1 << 20,
            topic_alias_maximum: 64,
            max_inflight: 1024,
            max_keep_alive: None,
            max_session_expiry: None,
            connect_timeout: Duration::from_secs(10),
            maximum_qos: QoS::ExactlyOnce,
            retain_available: true,
            wildcard_subscription_available: true,
            subscription_identifiers_available: true,
            shared_subscription_available: true,
            alias_policy: AliasPolicy::LeastRecentlyUsed,
            queue: QueueLimits::default(),
            max_pending_subscribes: 64,
            max_pending_transmits: 1024,
            max_filters_per_subscribe: 64,
            max_topic_levels: 64,
            max_user_properties: 64,
            max_pending_events: 64,
        }
    }
}

/// One filter of a SUBSCRIBE, as the broker sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribeRequest {
    /// The topic filter.
    pub filter: ByteString,
    /// Requested options.
    pub options: SubscriptionOptions,
    /// Subscription identifier of the SUBSCRIBE (MQTT 5).
    pub identifier: Option<u32>,
    /// Set when the session already refused this filter (invalid filter 0x8F, wildcards or
    /// shared subscriptions not supported); the broker's reason for it is ignored.
    pub rejected: Option<ReasonCode>,
}

/// Counters of messages the session dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServerCounters {
    /// Dropped because the queue was full.
    pub dropped_queue_full: u64,
    /// Dropped because their Message Expiry Interval passed while queued.
    pub dropped_expired: u64,
    /// Dropped because they exceed the client's Maximum Packet Size (MQTT-3.1.2-25).
    pub dropped_too_large: u64,
    /// QoS 2 duplicates not delivered again (MQTT-4.3.3-10).
    pub duplicates: u64,
}

/// What the server session tells the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerEvent {
    /// A valid CONNECT arrived: authenticate it, find or create the session, then call
    /// [`ServerSession::accept`] or [`ServerSession::reject`] (or continue an enhanced
    /// authentication with [`ServerSession::send_auth`]).
    Connect(Box<Connect>),
    /// An AUTH packet from the client (enhanced authentication or re-authentication).
    Auth(Auth),
    /// An application message from the client. For QoS 1/2 call
    /// [`ServerSession::ack_publish`] with `ack` once it is safely stored and routed.
    Publish {
        /// The message, topic alias resolved.
        message: Message,
        /// The acknowledgement owed, for QoS 1 and 2.
        ack: Option<PendingAck>,
    },
    /// A SUBSCRIBE: answer with [`ServerSession::suback`].
    Subscribe {
        /// Its packet identifier.
        packet_id: PacketId,
        /// Its filters, in order.
        requests: Vec<SubscribeRequest>,
        /// Its properties.
        properties: Properties,
    },
    /// An UNSUBSCRIBE, already answered with UNSUBACK; remove the filters from routing.
    Unsubscribe {
        /// The filters that were subscribed and are now removed.
        filters: Vec<ByteString>,
        /// Its properties.
        properties: Properties,
    },
    /// An outgoing QoS 1/2 message was acknowledged.
    Delivered(PacketId),
    /// The client refused an outgoing QoS 1/2 message with this reason.
    Failed {
        /// The packet identifier.
        packet_id: PacketId,
        /// The client's reason code.
        reason: ReasonCode,
    },
    /// The connection is over. Write out the remaining transmits, then close the transport
    /// and keep [`ServerSession::take_state`] if the session persists.
    Closed {
        /// Why.
        reason: CloseReason,
        /// True when the will must be published (subject to its delay): not after a normal
        /// DISCONNECT (MQTT-3.14.4-3), never before the CONNECT was accepted.
        publish_will: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    AwaitConnect,
    Authenticating,
    Connected,
    Closed,
}

/// The server side of one connection. See the crate docs for the driving loop.
#[derive(Debug)]
pub struct ServerSession {
    /// Shared by every connection of a broker (one copy, not one per connection).
    config: Arc<ServerConfig>,
    phase: Phase,
    version: ProtocolVersion,
    now: Instant,
    rx: RxBuffer,
    /// A packet received while authenticating, dispatched once connected (boxed: rare).
    held: Option<Box<Packet>>,
    transmits: VecDeque<Packet>,
    events: VecDeque<ServerEvent>,
    timer: ServerTimer,
    connect: Option<Box<Connect>>,
    auth_method: Option<ByteString>,
    client_id: ByteString,
    keep_alive: u16,
    client_receive_max: u16,
    client_max_packet: u32,
    problem_info: bool,
    /// Packet ids of outgoing messages; those in use are the in-flight window's.
    ids: IdCursor,
    out: OutFlight,
    inn: InFlightIn,
    queue: DeliveryQueue,
    in_alias: InboundAliases,
    out_alias: OutboundAliases,
    subscriptions: Vec<Subscription>,
    pending_subs: HashMap<PacketId, Vec<SubscribeRequest>>,
    /// Boxed: most connections have none, and every connection holds this struct.
    will: Option<Box<Will>>,
    will_delay: u32,
    session_expiry: u32,
    counters: ServerCounters,
}

impl ServerSession {
    /// A session for a new connection accepted at `now`. A server passes one
    /// `Arc<ServerConfig>` to all its sessions; a `ServerConfig` is accepted too.
    pub fn new(now: Instant, config: impl Into<Arc<ServerConfig>>) -> Self {
        let config = config.into();
        Self {
            phase: Phase::AwaitConnect,
            version: ProtocolVersion::V5,
            now,
            rx: RxBuffer::default(),
            held: None,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            timer: ServerTimer::until(now + config.connect_timeout),
            connect: None,
            auth_method: None,
            client_id: ByteString::new(),
            keep_alive: 0,
            client_receive_max: u16::MAX,
            client_max_packet: u32::MAX,
            problem_info: true,
            ids: IdCursor::new(1),
            out: OutFlight::default(),
            inn: InFlightIn::default(),
            queue: DeliveryQueue::new(config.queue),
            in_alias: InboundAliases::new(0),
            out_alias: OutboundAliases::new(AliasPolicy::Disabled, 0),
            subscriptions: Vec::new(),
            pending_subs: HashMap::new(),
            will: None,
            will_delay: 0,
            session_expiry: 0,
            counters: ServerCounters::default(),
            config,
        }
    }

    /// The protocol version (MQTT 5 until a CONNECT said otherwise).
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// The client identifier (assigned or from CONNECT), empty before CONNECT.
    pub fn client_id(&self) -> &ByteString {
        &self.client_id
    }

    /// True once the connection is over: only transmits remain to be written.
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// True once the CONNECT was accepted and until the connection ends.
    pub fn is_connected(&self) -> bool {
        self.phase == Phase::Connected
    }

    /// False while the session holds unprocessed input (a packet other than AUTH waiting
    /// for `accept`), has too much waiting for the broker, or is closed: the driver should
    /// stop reading until it turns true. While authenticating it stays true so that AUTH
    /// packets can arrive.
    pub fn wants_input(&self) -> bool {
        matches!(
            self.phase,
            Phase::AwaitConnect | Phase::Authenticating | Phase::Connected
        ) && self.held.is_none()
            && self.transmits.len() < self.config.max_pending_transmits
            && self.events.len() < self.config.max_pending_events
    }

    /// Bytes received and not yet decoded (held back while events wait for the broker).
    pub fn buffered_input(&self) -> usize {
        self.rx.len()
    }

    /// The keep-alive in effect (seconds; after a Server Keep Alive cap).
    pub fn keep_alive(&self) -> u16 {
        self.keep_alive
    }

    /// The will from CONNECT (not yet cancelled by a normal DISCONNECT) and its Will Delay
    /// Interval in seconds.
    pub fn will(&self) -> Option<(&Will, u32)> {
        self.will.as_deref().map(|w| (w, self.will_delay))
    }

    /// The Session Expiry Interval in effect (seconds; updated by DISCONNECT).
    pub fn session_expiry_interval(&self) -> u32 {
        self.session_expiry
    }

    /// Drop counters.
    pub fn counters(&self) -> ServerCounters {
        self.counters
    }

    /// Messages queued (not yet in flight).
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Bytes held by queued messages (by [`Message::size_hint`]).
    pub fn queued_bytes(&self) -> usize {
        self.queue.bytes()
    }

    /// Outgoing QoS 1/2 messages holding packet ids.
    pub fn in_flight(&self) -> usize {
        self.out.len()
    }

    /// Incoming QoS 1/2 messages not yet released (counted against our Receive Maximum).
    pub fn incoming_in_flight(&self) -> usize {
        self.inn.len()
    }

    /// The current subscriptions.
    pub fn subscriptions(&self) -> &[Subscription] {
        &self.subscriptions
    }

    /// Feeds bytes read from the transport.
    pub fn handle_bytes(&mut self, now: Instant, bytes: &[u8]) -> Result<(), SessionError> {
        self.now = now;
        if self.phase == Phase::Closed {
            return Err(SessionError::Closed);
        }
        self.rx.extend(bytes);
        self.process_rx(now)
    }

    /// Decodes input held back earlier (see [`ServerConfig::max_pending_events`]), dated
    /// by the last [`Self::handle_bytes`], which brought it: `handle_bytes(now, &[])`
    /// without the caller reading the clock.
    pub fn resume_input(&mut self) -> Result<(), SessionError> {
        if self.phase == Phase::Closed {
            return Err(SessionError::Closed);
        }
        self.process_rx(self.now)
    }

    /// Feeds one decoded packet (for drivers that decode themselves).
    pub fn handle_packet(&mut self, now: Instant, packet: Packet) -> Result<(), SessionError> {
        self.now = now;
        if self.phase == Phase::Closed {
            return Err(SessionError::Closed);
        }
        self.dispatch(now, packet, false)
    }

    fn process_rx(&mut self, now: Instant) -> Result<(), SessionError> {
        while matches!(
            self.phase,
            Phase::AwaitConnect | Phase::Connected | Phase::Authenticating
        ) && self.held.is_none()
            && self.events.len() < self.config.max_pending_events.max(1)
        {
            let max = self.config.max_packet_size;
            let decoded = if self.phase == Phase::AwaitConnect {
                let level = connect::connect_level(self.rx.bytes());
                let first = self.rx.bytes().first().copied();
                match self.rx.next(ProtocolVersion::V5, max) {
                    Err(v) if v.reason == ReasonCode::UnsupportedProtocolVersion => {
                        return Err(self.unsupported_version(v, level).into())
                    }
                    Err(v) if level == 5 && first == Some(0x10) => {
                        // A bad MQTT 5 CONNECT: CONNACK with the reason, then close.
                        self.version = ProtocolVersion::V5;
                        return Err(self.refuse_connect(v, true).into());
                    }
                    other => other,
                }
            } else {
                self.rx.next(self.version, max)
            };
            match decoded {
                Ok(Some(p)) => self.dispatch(now, p, true)?,
                Ok(None) => break,
                Err(v) => return Err(self.violation(v).into()),
            }
            if self.transmits.len() >= self.config.max_pending_transmits.saturating_mul(2) {
                let v = ProtocolViolation::new(
                    ReasonCode::QuotaExceeded,
                    None,
                    "peer sends without reading its answers",
                );
                return Err(self.violation(v).into());
            }
        }
        // Input that cannot be processed yet stays buffered, within a bound.
        let cap = usize::try_from(self.config.max_packet_size).unwrap_or(usize::MAX);
        if self.rx.len() > cap.saturating_add(65_536) && self.phase != Phase::Closed {
            let v = ProtocolViolation::new(
                ReasonCode::QuotaExceeded,
                None,
                "too much input before the CONNECT was accepted",
            );
            return Err(self.violation(v).into());
        }
        Ok(())
    }

    /// Call when [`Self::poll_timeout`]'s instant has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        if self.phase != Phase::Closed && self.timer.expired(now) {
            match self.phase {
                Phase::Connected => {
                    self.close(CloseReason::KeepAliveTimeout, true, true);
                }
                _ => self.close(CloseReason::ConnectTimeout, false, false),
            }
        }
    }

    /// When [`Self::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.phase == Phase::Closed {
            return None;
        }
        self.timer.deadline()
    }

    /// The next event for the broker.
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    /// Frees the memory of empty internal queues that never grew past a few entries, as
    /// their last use left them (a CONNACK, a PINGRESP): a driver calls it before waiting,
    /// so that an idle connection holds none. Queues that grew larger are kept, so a busy
    /// connection does not reallocate them each turn.
    pub fn release_idle_memory(&mut self) {
        const SMALL: usize = 8;
        if self.transmits.is_empty() && self.transmits.capacity() <= SMALL {
            self.transmits = VecDeque::new();
        }
        if self.events.is_empty() && self.events.capacity() <= SMALL {
            self.events = VecDeque::new();
        }
        if self.rx.len() == 0 {
            self.rx.clear();
        }
    }

    /// Encodes every packet ready to go into `buf` (see [`Self::poll_transmit`]).
    /// PUBLISH packets are built from delivered messages, whose topic and properties are
    /// not checked again (see [`Self::deliver`]); every other packet is.
    pub fn encode_transmits(&mut self, buf: &mut BytesMut) -> Result<usize, EncodeError> {
        let version = self.version;
        crate::wire::encode_all(version, buf, true, || self.poll_transmit())
    }

    /// Answers a QoS 1/2 PUBLISH (PUBACK or PUBREC) with `reason` (MQTT 5; for MQTT 3 any
    /// reason is sent as success, refuse by closing instead).
    pub fn ack_publish(&mut self, ack: PendingAck, reason: ReasonCode) -> Result<(), SendError> {
        if self.phase != Phase::Connected {
            return Err(SendError::NotConnected);
        }
        let reason = if self.version.is_v5() {
            reason
        } else {
            ReasonCode::Success
        };
        let resp = self
            .inn
            .ack(ack, reason)
            .ok_or(SendError::UnknownPacketId)?;
        self.transmits.push_back(match ack.qos {
            QoS::ExactlyOnce => Packet::PubRec(resp),
            _ => Packet::PubAck(resp),
        });
        Ok(())
    }

    /// Sends an AUTH packet (enhanced authentication, MQTT 5).
    pub fn send_auth(&mut self, auth: Auth) -> Result<(), SendError> {
        if !self.version.is_v5() || matches!(self.phase, Phase::AwaitConnect | Phase::Closed) {
            return Err(SendError::InvalidState);
        }
        self.transmits.push_back(Packet::Auth(auth));
        Ok(())
    }

    /// Closes the connection from the server side (DISCONNECT with `reason` in MQTT 5),
    /// e.g. `SessionTakenOver` or `ServerShuttingDown`.
    pub fn disconnect(&mut self, now: Instant, reason: ReasonCode) {
        self.disconnect_with(now, reason, Properties::new());
    }

    /// [`Self::disconnect`] with DISCONNECT properties (a reason string, user properties).
    pub fn disconnect_with(&mut self, now: Instant, reason: ReasonCode, properties: Properties) {
        self.now = now;
        let will = self.phase == Phase::Connected;
        let was_open = self.phase != Phase::Closed;
        self.close(CloseReason::Local(reason), true, will);
        if was_open && !properties.0.is_empty() {
            if let Some(Packet::Disconnect(d)) = self.transmits.back_mut() {
                d.properties = properties;
            }
        }
    }

    /// The transport is gone (read error, EOF). The will is due if the client was connected.
    pub fn connection_lost(&mut self, now: Instant) {
        self.now = now;
        let will = self.phase == Phase::Connected;
        self.close(CloseReason::ConnectionLost, false, will);
    }

    /// Takes the session state (for a persistent session or a takeover), leaving this
    /// session empty. In-flight messages will be resent with DUP, in order, by the session
    /// that resumes it (MQTT-4.4.0-1).
    pub fn take_state(&mut self) -> ServerSessionState {
        let mut outgoing = self.out.drain();
        for e in &mut outgoing {
            e.sent = false;
        }
        ServerSessionState {
            client_id: self.client_id.clone(),
            subscriptions: std::mem::take(&mut self.subscriptions),
            outgoing,
            incoming_qos2: self.inn.qos2_ids(),
            queue: self.queue.drain(),
            will: self.will.take().map(|w| *w),
            will_delay: self.will_delay,
            session_expiry_interval: self.session_expiry,
            next_packet_id: self.ids.next_hint(),
        }
    }

    fn violation(&mut self, v: ProtocolViolation) -> ProtocolViolation {
        let will = self.phase == Phase::Connected;
        self.close(CloseReason::Protocol(v.clone()), true, will);
        v
    }

    /// Ends the connection once: queues DISCONNECT (MQTT 5, connected only) and the event.
    fn close(&mut self, reason: CloseReason, send_disconnect: bool, publish_will: bool) {
        if self.phase == Phase::Closed {
            return;
        }
        if send_disconnect && self.phase == Phase::Connected && self.version.is_v5() {
            let d = Disconnect {
                reason: reason.reason_code(),
                properties: Properties::new(),
            };
            self.transmits.push_back(Packet::Disconnect(d));
        }
        if !send_disconnect {
            self.transmits.clear();
        }
        self.phase = Phase::Closed;
        self.held = None;
        self.rx.clear();
        self.timer.stop();
        self.out.mark_all_unsent();
        self.inn.connection_lost();
        self.pending_subs.clear();
        self.events.push_back(ServerEvent::Closed {
            reason,
            publish_will,
        });
    }
}
