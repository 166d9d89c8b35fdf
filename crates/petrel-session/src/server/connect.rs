//! CONNECT handling on the server: validation, version negotiation, CONNACK.

use std::time::Instant;

use petrel_codec::{
    ByteString, ConnAck, Connect, Packet, Properties, Property, ProtocolVersion, QoS, ReasonCode,
};

use super::{Phase, ServerEvent, ServerSession};
use crate::alias::{InboundAliases, OutboundAliases};
use crate::error::{CloseReason, ProtocolViolation, SendError};
use crate::ids::IdCursor;
use crate::qos_in::InFlightIn;
use crate::state::ServerSessionState;
use crate::validate::is_valid_topic_name;

/// The broker's answer to a CONNECT.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AcceptParams {
    /// The saved session to resume, if the broker has one for this client id (and the
    /// CONNECT did not ask for a clean start). Session Present is set from it.
    pub state: Option<ServerSessionState>,
    /// The client identifier assigned by the broker when the CONNECT carried an empty one
    /// (MQTT 5 sends it as Assigned Client Identifier).
    pub assigned_client_id: Option<ByteString>,
    /// Extra CONNACK properties (reason string, response information, authentication data,
    /// user properties); the limits are added by the session.
    pub properties: Properties,
}

impl AcceptParams {
    /// Accept with a fresh session.
    pub fn new() -> Self {
        Self::default()
    }

    /// Accept resuming `state`.
    pub fn resume(state: ServerSessionState) -> Self {
        Self {
            state: Some(state),
            ..Self::default()
        }
    }

    /// Sets the assigned client identifier.
    pub fn with_assigned_client_id(mut self, id: ByteString) -> Self {
        self.assigned_client_id = Some(id);
        self
    }

    /// Sets extra CONNACK properties.
    pub fn with_properties(mut self, properties: Properties) -> Self {
        self.properties = properties;
        self
    }
}

/// Maps a CONNACK reason to one an MQTT 3 CONNACK can carry.
fn v3_connack_reason(r: ReasonCode) -> ReasonCode {
    match r {
        ReasonCode::Success
        | ReasonCode::UnsupportedProtocolVersion
        | ReasonCode::ClientIdentifierNotValid
        | ReasonCode::BadUserNameOrPassword
        | ReasonCode::NotAuthorized => r,
        ReasonCode::Banned | ReasonCode::BadAuthenticationMethod => ReasonCode::NotAuthorized,
        _ => ReasonCode::ServerUnavailable,
    }
}

/// The protocol level byte of a CONNECT at the start of `b` (0 if not there yet): fixed
/// header, remaining length, protocol name (2 + len bytes), level.
pub(super) fn connect_level(b: &[u8]) -> u8 {
    let mut i = 1;
    while b.get(i).is_some_and(|x| x & 0x80 != 0) && i < 5 {
        i += 1;
    }
    let name_len = match (b.get(i + 1), b.get(i + 2)) {
        (Some(h), Some(l)) => usize::from(u16::from_be_bytes([*h, *l])),
        _ => 0,
    };
    b.get(i + 3 + name_len).copied().unwrap_or(0)
}

impl ServerSession {
    /// An unsupported protocol level in CONNECT: CONNACK 0x01 (MQTT 3 form) or 0x84 (MQTT 5
    /// form, for levels above 5), then close (MQTT-3.1.2-2).
    pub(super) fn unsupported_version(
        &mut self,
        v: ProtocolViolation,
        level: u8,
    ) -> ProtocolViolation {
        self.version = if level > 5 {
            ProtocolVersion::V5
        } else {
            ProtocolVersion::V3_1_1
        };
        self.close(CloseReason::Protocol(v.clone()), false, false);
        self.transmits.push_back(Packet::ConnAck(ConnAck {
            session_present: false,
            reason: ReasonCode::UnsupportedProtocolVersion,
            properties: Properties::new(),
        }));
        v
    }

    /// Refuses a CONNECT during validation with a CONNACK (when the version has a code for
    /// it) and closes.
    pub(super) fn refuse_connect(
        &mut self,
        v: ProtocolViolation,
        connack: bool,
    ) -> ProtocolViolation {
        if connack {
            let reason = if self.version.is_v5() {
                v.reason
            } else {
                v3_connack_reason(v.reason)
            };
            self.transmits.push_back(Packet::ConnAck(ConnAck {
                session_present: false,
                reason,
                properties: Properties::new(),
            }));
        }
        self.close(CloseReason::Protocol(v.clone()), true, false);
        v
    }

    pub(super) fn on_connect(&mut self, c: Box<Connect>) -> Result<(), ProtocolViolation> {
        self.version = c.protocol;
        let v5 = c.protocol.is_v5();
        if c.client_id.is_empty() && (!v5 && !c.clean_start || c.protocol == ProtocolVersion::V3_1)
        {
            let v = ProtocolViolation::new(
                ReasonCode::ClientIdentifierNotValid,
                Some("MQTT-3.1.3-8"),
                "empty client id without clean session",
            );
            return Err(self.refuse_connect(v, true));
        }
        if let Some(w) = &c.will {
            let bad_response = w
                .properties
                .response_topic()
                .is_some_and(|t| !is_valid_topic_name(&t));
            if !is_valid_topic_name(&w.topic) || bad_response {
                let v = ProtocolViolation::new(
                    ReasonCode::TopicNameInvalid,
                    Some("MQTT-3.1.3-11"),
                    "invalid will topic",
                );
                return Err(self.refuse_connect(v, v5));
            }
            if w.qos > self.config.maximum_qos || (w.retain && !self.config.retain_available) {
                let reason = if w.retain && !self.config.retain_available {
                    ReasonCode::RetainNotSupported
                } else {
                    ReasonCode::QoSNotSupported
                };
                let v = ProtocolViolation::new(reason, Some("MQTT-3.2.2-12"), "will not supported");
                return Err(self.refuse_connect(v, v5));
            }
        }
        if let Some(max) = self.config.max_keep_alive {
            if !v5 && (c.keep_alive == 0 || c.keep_alive > max) {
                let v = ProtocolViolation::new(
                    ReasonCode::ClientIdentifierNotValid,
                    None,
                    "keep-alive above the server's maximum",
                );
                return Err(self.refuse_connect(v, true));
            }
        }
        let will_props = c
            .will
            .as_ref()
            .map_or(0, |w| w.properties.user_properties().count());
        if c.properties.user_properties().count().max(will_props) > self.config.max_user_properties
        {
            let v = super::inbound::too_many_user_properties();
            return Err(self.refuse_connect(v, v5));
        }
        let p = &c.properties;
        if p.receive_maximum() == Some(0) || p.maximum_packet_size() == Some(0) {
            let v =
                ProtocolViolation::protocol("MQTT-3.1.2-20", "receive maximum or packet size 0");
            return Err(self.refuse_connect(v, v5));
        }
        if p.authentication_data().is_some() && p.authentication_method().is_none() {
            let v =
                ProtocolViolation::protocol("MQTT-3.1.2-20", "authentication data without method");
            return Err(self.refuse_connect(v, v5));
        }
        self.phase = Phase::Authenticating;
        self.auth_method = c.properties.authentication_method();
        self.connect = Some(c.clone());
        self.events.push_back(ServerEvent::Connect(c));
        Ok(())
    }

    /// Accepts the CONNECT: sends CONNACK with the server's limits, resumes `params.state`
    /// (resending its in-flight messages with DUP in order, MQTT-4.4.0-1), starts the
    /// keep-alive timer and processes input that was waiting.
    pub fn accept(&mut self, now: Instant, params: AcceptParams) -> Result<(), SendError> {
        self.now = now;
        if self.phase != Phase::Authenticating {
            return Err(SendError::InvalidState);
        }
        let Some(c) = self.connect.take() else {
            return Err(SendError::InvalidState);
        };
        let v5 = self.version.is_v5();
        let cfg = self.config.clone();
        let p = &c.properties;
        self.client_receive_max = if v5 {
            p.receive_maximum().unwrap_or(u16::MAX)
        } else {
            u16::MAX
        };
        self.client_max_packet = if v5 {
            p.maximum_packet_size().unwrap_or(u32::MAX)
        } else {
            u32::MAX
        };
        self.problem_info = !v5 || p.request_problem_information() != Some(0);
        let client_alias_max = if v5 {
            p.topic_alias_maximum().unwrap_or(0)
        } else {
            0
        };
        self.out_alias = OutboundAliases::new(cfg.alias_policy, client_alias_max);
        self.in_alias = InboundAliases::new(if v5 { cfg.topic_alias_maximum } else { 0 });
        self.client_id = params
            .assigned_client_id
            .clone()
            .unwrap_or_else(|| c.client_id.clone());

        let mut props = Properties::new();
        let mut keep_alive = c.keep_alive;
        if let Some(max) = cfg.max_keep_alive {
            if v5 && (keep_alive == 0 || keep_alive > max) {
                keep_alive = max;
                props.set(Property::ServerKeepAlive(max));
            }
        }
        self.keep_alive = keep_alive;
        let mut expiry = if v5 {
            p.session_expiry_interval().unwrap_or(0)
        } else if c.clean_start {
            0
        } else {
            u32::MAX
        };
        if let Some(max) = cfg.max_session_expiry {
            if v5 && expiry > max {
                props.set(Property::SessionExpiryInterval(max));
            }
            expiry = expiry.min(max);
        }
        self.session_expiry = expiry;
        self.will = c.will.clone().map(Box::new);
        self.will_delay = c
            .will
            .as_ref()
            .and_then(|w| w.properties.will_delay_interval())
            .unwrap_or(0);

        let session_present = params.state.is_some() && !c.clean_start;
        self.inn = InFlightIn::default();
        if let Some(state) = params.state.filter(|_| !c.clean_start) {
            self.restore(state);
        }
        if v5 {
            if cfg.receive_maximum != u16::MAX {
                props.set(Property::ReceiveMaximum(cfg.receive_maximum));
            }
            props.set(Property::MaximumPacketSize(cfg.max_packet_size));
            if cfg.topic_alias_maximum > 0 {
                props.set(Property::TopicAliasMaximum(cfg.topic_alias_maximum));
            }
            if cfg.maximum_qos != QoS::ExactlyOnce {
                props.set(Property::MaximumQoS(cfg.maximum_qos as u8));
            }
            for (on, prop) in [
                (cfg.retain_available, Property::RetainAvailable(0)),
                (
                    cfg.wildcard_subscription_available,
                    Property::WildcardSubscriptionAvailable(0),
                ),
                (
                    cfg.subscription_identifiers_available,
                    Property::SubscriptionIdentifierAvailable(0),
                ),
                (
                    cfg.shared_subscription_available,
                    Property::SharedSubscriptionAvailable(0),
                ),
            ] {
                if !on {
                    props.set(prop);
                }
            }
            if let Some(id) = params.assigned_client_id {
                props.set(Property::AssignedClientIdentifier(id));
            }
            for prop in params.properties.0 {
                props.set(prop);
            }
        }
        self.transmits.push_back(Packet::ConnAck(ConnAck {
            session_present,
            reason: ReasonCode::Success,
            properties: props,
        }));
        self.phase = Phase::Connected;
        self.timer.set_keep_alive(now, keep_alive);
        if let Some(p) = self.held.take() {
            if self.dispatch(now, *p, false).is_err() {
                return Ok(());
            }
        }
        // Violations in buffered input close the session and are reported as events.
        let _ = self.process_rx(now);
        Ok(())
    }

    fn restore(&mut self, state: ServerSessionState) {
        self.subscriptions = state.subscriptions;
        self.ids = IdCursor::new(state.next_packet_id);
        for mut e in state.outgoing {
            e.sent = false;
            self.out.push(e);
        }
        self.inn = InFlightIn::restore(&state.incoming_qos2);
        let newer = self.queue.drain();
        for m in state.queue.into_iter().chain(newer) {
            self.enqueue(m);
        }
    }

    /// Refuses the CONNECT with `reason` (mapped to the closest MQTT 3 return code for
    /// MQTT 3 clients) and closes.
    pub fn reject(&mut self, now: Instant, reason: ReasonCode, properties: Properties) {
        self.now = now;
        if self.phase != Phase::Authenticating {
            self.close(CloseReason::Local(reason), true, false);
            return;
        }
        let v5 = self.version.is_v5();
        self.transmits.push_back(Packet::ConnAck(ConnAck {
            session_present: false,
            reason: if v5 {
                reason
            } else {
                v3_connack_reason(reason)
            },
            properties: if v5 { properties } else { Properties::new() },
        }));
        self.close(CloseReason::Local(reason), true, false);
    }
}
