//! Client handshake: CONNECT, CONNACK (all its properties), enhanced authentication, and
//! the connection lifecycle around a session that survives it.

use std::time::Instant;

use bytes::Bytes;
use petrel_codec::{
    ByteString, ConnAck, Connect, Disconnect, Packet, Properties, Property, QoS, ReasonCode,
};

use super::{ClientEvent, ClientSession, Phase};
use crate::alias::{InboundAliases, OutboundAliases};
use crate::error::{CloseReason, ProtocolViolation, SendError};
use crate::keepalive::ClientTimer;
use crate::qos_in::InFlightIn;
use crate::qos_out::OutState;

/// What the server's CONNACK said, with MQTT 5 defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionInfo {
    /// Session Present.
    pub session_present: bool,
    /// Assigned Client Identifier, when the server chose one.
    pub assigned_client_id: Option<ByteString>,
    /// Keep-alive in effect (Server Keep Alive when given).
    pub keep_alive: u16,
    /// The server's Receive Maximum (bounds our in-flight window).
    pub receive_maximum: u16,
    /// The server's Maximum Packet Size.
    pub maximum_packet_size: u32,
    /// The server's Topic Alias Maximum.
    pub topic_alias_maximum: u16,
    /// Maximum QoS the server accepts.
    pub maximum_qos: QoS,
    /// Whether retained messages are available.
    pub retain_available: bool,
    /// Whether wildcard subscriptions are available.
    pub wildcard_subscription_available: bool,
    /// Whether subscription identifiers are available.
    pub subscription_identifiers_available: bool,
    /// Whether shared subscriptions are available.
    pub shared_subscription_available: bool,
    /// Session Expiry Interval set by the server, if any.
    pub session_expiry_interval: Option<u32>,
    /// Response Information.
    pub response_information: Option<ByteString>,
    /// Server Reference.
    pub server_reference: Option<ByteString>,
    /// Reason String.
    pub reason_string: Option<ByteString>,
    /// Authentication Data (enhanced authentication).
    pub authentication_data: Option<Bytes>,
    /// All CONNACK properties as received.
    pub properties: Properties,
}

impl ConnectionInfo {
    fn from_connack(c: &ConnAck, keep_alive: u16) -> Self {
        let p = &c.properties;
        let flag = |v: Option<u8>| v.is_none_or(|x| x != 0);
        Self {
            session_present: c.session_present,
            assigned_client_id: p.assigned_client_identifier(),
            keep_alive: p.server_keep_alive().unwrap_or(keep_alive),
            receive_maximum: p.receive_maximum().unwrap_or(u16::MAX).max(1),
            maximum_packet_size: p.maximum_packet_size().unwrap_or(u32::MAX),
            topic_alias_maximum: p.topic_alias_maximum().unwrap_or(0),
            maximum_qos: p
                .maximum_qos()
                .and_then(QoS::from_u8)
                .unwrap_or(QoS::ExactlyOnce),
            retain_available: flag(p.retain_available()),
            wildcard_subscription_available: flag(p.wildcard_subscription_available()),
            subscription_identifiers_available: flag(p.subscription_identifier_available()),
            shared_subscription_available: flag(p.shared_subscription_available()),
            session_expiry_interval: p.session_expiry_interval(),
            response_information: p.response_information(),
            server_reference: p.server_reference(),
            reason_string: p.reason_string(),
            authentication_data: p.authentication_data(),
            properties: p.clone(),
        }
    }
}

impl ClientSession {
    /// Starts a connection on a fresh transport: queues CONNECT. The first CONNECT uses
    /// the configured Clean Start; later ones resume the session.
    pub fn connect(&mut self, now: Instant) -> Result<(), SendError> {
        if self.phase != Phase::Disconnected {
            return Err(SendError::InvalidState);
        }
        self.now = Some(now);
        self.reset_connection();
        let cfg = &self.config;
        let v5 = cfg.version.is_v5();
        let mut props = if v5 {
            cfg.properties.clone()
        } else {
            Properties::new()
        };
        if v5 {
            if cfg.session_expiry_interval != 0 {
                props.set(Property::SessionExpiryInterval(cfg.session_expiry_interval));
            }
            if cfg.receive_maximum != u16::MAX {
                props.set(Property::ReceiveMaximum(cfg.receive_maximum.max(1)));
            }
            props.set(Property::MaximumPacketSize(cfg.max_packet_size.max(1)));
            if cfg.topic_alias_maximum > 0 {
                props.set(Property::TopicAliasMaximum(cfg.topic_alias_maximum));
            }
            if let Some(m) = &cfg.auth_method {
                props.set(Property::AuthenticationMethod(m.clone()));
                if let Some(d) = &cfg.auth_data {
                    props.set(Property::AuthenticationData(d.clone()));
                }
            }
        }
        let connect = Connect {
            protocol: cfg.version,
            clean_start: cfg.clean_start && !self.connected_once,
            keep_alive: cfg.keep_alive,
            client_id: cfg.client_id.clone(),
            will: cfg.will.clone(),
            username: cfg.username.clone(),
            password: cfg.password.clone(),
            properties: props,
        };
        self.transmits.push_back(Packet::Connect(Box::new(connect)));
        self.connack_deadline = Some(now + cfg.connect_timeout);
        self.phase = Phase::Connecting;
        Ok(())
    }

    /// The transport broke. The session (in-flight messages, QoS 2 state) is kept for the
    /// next [`Self::connect`].
    pub fn connection_lost(&mut self, now: Instant) {
        self.now = Some(now);
        if self.phase == Phase::Disconnected {
            self.reset_connection();
        } else {
            self.close(CloseReason::ConnectionLost, false);
        }
    }

    /// [`Self::connection_lost`] then [`Self::connect`]: for a driver that has just opened a
    /// new transport after the old one broke.
    pub fn reconnect(&mut self, now: Instant) -> Result<(), SendError> {
        self.connection_lost(now);
        self.connect(now)
    }

    /// Sends DISCONNECT with `reason` (MQTT 5; `DisconnectWithWillMessage` asks for the
    /// will) and ends the connection. The session is kept.
    pub fn disconnect(&mut self, now: Instant, reason: ReasonCode, properties: Properties) {
        self.now = Some(now);
        if self.phase == Phase::Disconnected {
            return;
        }
        let was_connected = self.phase == Phase::Connected;
        self.close(CloseReason::Local(reason), false);
        if was_connected {
            let v5 = self.config.version.is_v5();
            let d = Disconnect {
                reason: if v5 { reason } else { ReasonCode::Success },
                properties: if v5 { properties } else { Properties::new() },
            };
            self.transmits.push_back(Packet::Disconnect(d));
        }
    }

    /// Forgets everything tied to the transport.
    pub(super) fn reset_connection(&mut self) {
        self.phase = Phase::Disconnected;
        self.rx.clear();
        self.transmits.clear();
        self.connack_deadline = None;
        self.out.mark_all_unsent();
        self.inn.connection_lost();
        self.in_alias = InboundAliases::new(0);
        self.out_alias = OutboundAliases::new(self.config.alias_policy, 0);
        let mut aborted: Vec<_> = self
            .pending_subs
            .drain()
            .chain(self.pending_unsubs.drain())
            .map(|(id, _)| id)
            .collect();
        aborted.sort_unstable();
        for id in aborted {
            self.ids.release(id);
            self.events.push_back(ClientEvent::RequestAborted(id));
        }
    }

    pub(super) fn on_handshake_packet(
        &mut self,
        now: Instant,
        p: Packet,
    ) -> Result<(), ProtocolViolation> {
        match p {
            Packet::ConnAck(c) => {
                self.on_connack(now, c);
                Ok(())
            }
            Packet::Auth(a) if self.config.version.is_v5() && self.config.auth_method.is_some() => {
                self.events.push_back(ClientEvent::Auth(a));
                Ok(())
            }
            _ => Err(ProtocolViolation::protocol(
                "MQTT-3.2.0-1",
                "first packet is not CONNACK",
            )),
        }
    }

    fn on_connack(&mut self, now: Instant, c: ConnAck) {
        if c.reason.is_error() {
            self.close(CloseReason::Refused(c.reason), false);
            return;
        }
        let info = ConnectionInfo::from_connack(&c, self.config.keep_alive);
        let v5 = self.config.version.is_v5();
        self.connected_once = true;
        self.connack_deadline = None;
        self.phase = Phase::Connected;
        self.server_receive_max = info.receive_maximum;
        self.server_max_packet = info.maximum_packet_size;
        self.server_max_qos = info.maximum_qos;
        self.retain_available = info.retain_available;
        self.in_alias = InboundAliases::new(if v5 {
            self.config.topic_alias_maximum
        } else {
            0
        });
        self.out_alias = OutboundAliases::new(self.config.alias_policy, info.topic_alias_maximum);
        self.timer = ClientTimer::new(now, info.keep_alive, self.config.ping_timeout);
        if !c.session_present {
            self.session_lost();
        }
        self.events
            .push_back(ClientEvent::Connected(Box::new(info)));
        self.flush_out();
    }

    /// The server has no session for us: QoS 2 messages it already acknowledged with
    /// PUBREC are complete; the rest are sent again as new messages; incoming QoS 2 state
    /// is discarded.
    fn session_lost(&mut self) {
        let entries = self.out.drain();
        for mut e in entries {
            if e.state == OutState::Released {
                self.ids.release(e.packet_id);
                self.events.push_back(ClientEvent::Delivered(e.packet_id));
            } else {
                e.transmitted = false;
                self.out.push(e);
            }
        }
        self.inn = InFlightIn::default();
    }
}
