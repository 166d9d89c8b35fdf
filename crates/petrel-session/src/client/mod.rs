//! The client side of a connection, and the client session that survives reconnects.
//!
//! One [`ClientSession`] lives as long as the client's MQTT session: call
//! [`ClientSession::connect`] for each new transport, [`ClientSession::connection_lost`]
//! when it breaks; in-flight messages are resent in order after the next CONNACK.

mod connect;
mod flow;

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use petrel_codec::{
    Auth, ByteString, EncodeError, Packet, PacketId, Properties, ProtocolVersion, QoS, ReasonCode,
    Will,
};

use crate::alias::{AliasPolicy, InboundAliases, OutboundAliases};
use crate::error::{CloseReason, ProtocolViolation, SendError, SessionError};
use crate::ids::IdAllocator;
use crate::keepalive::ClientTimer;
use crate::message::{Message, PendingAck};
use crate::qos_in::InFlightIn;
use crate::qos_out::OutFlight;
use crate::state::ClientSessionState;
use crate::wire::RxBuffer;

pub use connect::ConnectionInfo;

/// Client settings; most map to CONNECT fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Protocol version to speak.
    pub version: ProtocolVersion,
    /// Client identifier (may be empty for MQTT 5 / clean 3.1.1 sessions).
    pub client_id: ByteString,
    /// Clean Start for the first CONNECT; later CONNECTs resume (clean start off).
    pub clean_start: bool,
    /// Keep-alive in seconds (0: off).
    pub keep_alive: u16,
    /// How long to wait for PINGRESP before giving up.
    pub ping_timeout: Duration,
    /// How long to wait for CONNACK.
    pub connect_timeout: Duration,
    /// User name.
    pub username: Option<ByteString>,
    /// Password.
    pub password: Option<Bytes>,
    /// Will message.
    pub will: Option<Will>,
    /// Session Expiry Interval (MQTT 5).
    pub session_expiry_interval: u32,
    /// Our Receive Maximum (incoming QoS 1/2 window; 0x93 when the server exceeds it).
    pub receive_maximum: u16,
    /// Largest packet we accept.
    pub max_packet_size: u32,
    /// Highest topic alias the server may use.
    pub topic_alias_maximum: u16,
    /// Cap on our outgoing in-flight window (also bounded by the server's Receive Maximum).
    pub max_inflight: u16,
    /// When true, QoS 1/2 messages are acknowledged only when the application calls
    /// [`ClientSession::ack`].
    pub manual_acks: bool,
    /// How outgoing topic aliases are assigned.
    pub alias_policy: AliasPolicy,
    /// Authentication Method for enhanced authentication (MQTT 5).
    pub auth_method: Option<ByteString>,
    /// Initial Authentication Data.
    pub auth_data: Option<Bytes>,
    /// Further CONNECT properties (user properties, request problem information, ...).
    pub properties: Properties,
}

impl ClientConfig {
    /// Defaults for `client_id` speaking `version`.
    pub fn new(client_id: impl Into<ByteString>, version: ProtocolVersion) -> Self {
        Self {
            version,
            client_id: client_id.into(),
            clean_start: true,
            keep_alive: 60,
            ping_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            username: None,
            password: None,
            will: None,
            session_expiry_interval: 0,
            receive_maximum: 1024,
            max_packet_size: 1 << 20,
            topic_alias_maximum: 16,
            max_inflight: 1024,
            manual_acks: false,
            alias_policy: AliasPolicy::Disabled,
            auth_method: None,
            auth_data: None,
            properties: Properties::new(),
        }
    }
}

/// What the client session tells the application.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// CONNACK accepted the connection.
    Connected(Box<ConnectionInfo>),
    /// An AUTH packet from the server; answer with [`ClientSession::auth`].
    Auth(Auth),
    /// An application message. With manual acks, QoS 1/2 messages carry the pending ack to
    /// pass to [`ClientSession::ack`].
    Message {
        /// The message, topic alias resolved.
        message: Message,
        /// The acknowledgement owed (manual acks only).
        ack: Option<PendingAck>,
    },
    /// An outgoing QoS 1/2 message completed.
    Delivered(PacketId),
    /// The server refused an outgoing QoS 1/2 message.
    Failed {
        /// Its packet identifier.
        packet_id: PacketId,
        /// The server's reason code.
        reason: ReasonCode,
    },
    /// SUBACK: one result per filter, in order (granted QoS or the refusal reason).
    Subscribed {
        /// Packet identifier of the SUBSCRIBE.
        packet_id: PacketId,
        /// Per-filter results.
        results: Vec<(ByteString, Result<QoS, ReasonCode>)>,
    },
    /// UNSUBACK: one reason per filter (all `Success` for MQTT 3).
    Unsubscribed {
        /// Packet identifier of the UNSUBSCRIBE.
        packet_id: PacketId,
        /// Per-filter reasons.
        results: Vec<(ByteString, ReasonCode)>,
    },
    /// A SUBSCRIBE or UNSUBSCRIBE got no answer before the connection ended.
    RequestAborted(PacketId),
    /// The connection ended. The session stays; call `connect` on a new transport.
    Closed(CloseReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Disconnected,
    Connecting,
    Connected,
}

/// The client protocol state machine. See the crate docs for the driving loop.
#[derive(Debug)]
pub struct ClientSession {
    config: ClientConfig,
    phase: Phase,
    connected_once: bool,
    now: Option<Instant>,
    rx: RxBuffer,
    transmits: VecDeque<Packet>,
    events: VecDeque<ClientEvent>,
    timer: ClientTimer,
    connack_deadline: Option<Instant>,
    server_receive_max: u16,
    server_max_packet: u32,
    server_max_qos: QoS,
    retain_available: bool,
    ids: IdAllocator,
    out: OutFlight,
    inn: InFlightIn,
    in_alias: InboundAliases,
    out_alias: OutboundAliases,
    pending_subs: HashMap<PacketId, Vec<ByteString>>,
    pending_unsubs: HashMap<PacketId, Vec<ByteString>>,
}

impl ClientSession {
    /// A new session, not connected.
    pub fn new(config: ClientConfig) -> Self {
        Self::from_state(config, ClientSessionState::default())
    }

    /// A session resuming saved state (in-flight messages are resent after CONNACK).
    pub fn from_state(config: ClientConfig, state: ClientSessionState) -> Self {
        let mut ids = IdAllocator::new(state.next_packet_id);
        let mut out = OutFlight::default();
        for mut e in state.outgoing {
            e.sent = false;
            ids.mark(e.packet_id);
            out.push(e);
        }
        Self {
            phase: Phase::Disconnected,
            connected_once: !state.incoming_qos2.is_empty() || out.len() > 0,
            now: None,
            rx: RxBuffer::default(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            timer: ClientTimer::default(),
            connack_deadline: None,
            server_receive_max: u16::MAX,
            server_max_packet: u32::MAX,
            server_max_qos: QoS::ExactlyOnce,
            retain_available: true,
            ids,
            out,
            inn: InFlightIn::restore(&state.incoming_qos2),
            in_alias: InboundAliases::new(0),
            out_alias: OutboundAliases::new(AliasPolicy::Disabled, 0),
            pending_subs: HashMap::new(),
            pending_unsubs: HashMap::new(),
            config,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// True between a successful CONNACK and the end of the connection.
    pub fn is_connected(&self) -> bool {
        self.phase == Phase::Connected
    }

    /// Outgoing QoS 1/2 messages not yet complete.
    pub fn in_flight(&self) -> usize {
        self.out.len()
    }

    /// Incoming QoS 1/2 messages not yet released.
    pub fn incoming_in_flight(&self) -> usize {
        self.inn.len()
    }

    /// Packets waiting to be written.
    pub fn pending_transmits(&self) -> usize {
        self.transmits.len()
    }

    /// A copy of the state to persist (the session keeps it too).
    pub fn state(&self) -> ClientSessionState {
        let mut outgoing: Vec<_> = self.out.iter().cloned().collect();
        for e in &mut outgoing {
            e.sent = false;
        }
        ClientSessionState {
            outgoing,
            incoming_qos2: self.inn.qos2_ids(),
            next_packet_id: self.ids.next_hint(),
        }
    }

    /// Feeds bytes read from the transport.
    pub fn handle_bytes(&mut self, now: Instant, bytes: &[u8]) -> Result<(), SessionError> {
        self.now = Some(now);
        if self.phase == Phase::Disconnected {
            return Err(SessionError::Closed);
        }
        self.rx.extend(bytes);
        while self.phase != Phase::Disconnected {
            match self
                .rx
                .next(self.config.version, self.config.max_packet_size)
            {
                Ok(Some(p)) => self.handle_packet(now, p)?,
                Ok(None) => break,
                Err(v) => return Err(self.violation(v).into()),
            }
        }
        Ok(())
    }

    /// Feeds one decoded packet.
    pub fn handle_packet(&mut self, now: Instant, packet: Packet) -> Result<(), SessionError> {
        self.now = Some(now);
        let r = match self.phase {
            Phase::Disconnected => return Err(SessionError::Closed),
            Phase::Connecting => self.on_handshake_packet(now, packet),
            Phase::Connected => self.on_packet(packet),
        };
        r.map_err(|v| self.violation(v).into())
    }

    /// Call when [`Self::poll_timeout`]'s instant has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = Some(now);
        match self.phase {
            Phase::Disconnected => {}
            Phase::Connecting => {
                if self.connack_deadline.is_some_and(|d| now >= d) {
                    self.close(CloseReason::ConnectTimeout, false);
                }
            }
            Phase::Connected => match self.timer.tick(now) {
                crate::keepalive::ClientTick::Nothing => {}
                crate::keepalive::ClientTick::SendPing => self.transmits.push_back(Packet::PingReq),
                crate::keepalive::ClientTick::TimedOut => {
                    self.close(CloseReason::KeepAliveTimeout, true);
                }
            },
        }
    }

    /// When [`Self::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Disconnected => None,
            Phase::Connecting => self.connack_deadline,
            Phase::Connected => self.timer.deadline(),
        }
    }

    /// The next packet to write.
    pub fn poll_transmit(&mut self) -> Option<Packet> {
        loop {
            let p = self.transmits.pop_front()?;
            let p = if self.config.version.is_v5() {
                match crate::wire::fit(p, self.config.version, self.server_max_packet) {
                    Some(p) => p,
                    None => continue,
                }
            } else {
                p
            };
            if let Some(now) = self.now {
                self.timer.on_send(now);
            }
            return Some(p);
        }
    }

    /// Encodes every packet ready to go into `buf`.
    pub fn encode_transmits(&mut self, buf: &mut BytesMut) -> Result<usize, EncodeError> {
        let version = self.config.version;
        crate::wire::encode_all(version, buf, false, || self.poll_transmit())
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// Sends an AUTH packet (enhanced authentication or re-authentication, MQTT 5).
    pub fn auth(&mut self, auth: Auth) -> Result<(), SendError> {
        if !self.config.version.is_v5() || self.phase == Phase::Disconnected {
            return Err(SendError::InvalidState);
        }
        self.transmits.push_back(Packet::Auth(auth));
        Ok(())
    }

    fn violation(&mut self, v: ProtocolViolation) -> ProtocolViolation {
        self.close(CloseReason::Protocol(v.clone()), true);
        v
    }

    /// Ends the connection (not the session).
    fn close(&mut self, reason: CloseReason, send_disconnect: bool) {
        if self.phase == Phase::Disconnected {
            return;
        }
        let was_connected = self.phase == Phase::Connected;
        self.reset_connection();
        if send_disconnect && was_connected {
            let reason_code = reason.reason_code();
            let d = petrel_codec::Disconnect {
                reason: reason_code,
                properties: Properties::new(),
            };
            if self.config.version.is_v5() || reason_code == ReasonCode::Success {
                self.transmits.push_back(Packet::Disconnect(d));
            }
        }
        self.events.push_back(ClientEvent::Closed(reason));
    }
}
