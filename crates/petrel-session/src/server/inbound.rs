//! Packets from the client once connected: PUBLISH and its acknowledgements, SUBSCRIBE,
//! UNSUBSCRIBE, PINGREQ, DISCONNECT, AUTH.

use std::time::Instant;

use petrel_codec::{
    Disconnect, Packet, PacketId, Properties, Property, PubResp, Publish, QoS, ReasonCode, SubAck,
    Subscribe, UnsubAck, Unsubscribe,
};

use super::{Phase, ServerEvent, ServerSession, SubscribeRequest};
use crate::error::{CloseReason, ProtocolViolation, SendError, SessionError};
use crate::message::Message;
use crate::qos_in::Inbound;
use crate::qos_out::AckOutcome;
use crate::state::Subscription;
use crate::validate::{has_wildcard, is_shared_filter, is_valid_topic_filter, is_valid_topic_name};

fn granted_qos(r: ReasonCode) -> Option<QoS> {
    match r {
        ReasonCode::Success => Some(QoS::AtMostOnce),
        ReasonCode::GrantedQoS1 => Some(QoS::AtLeastOnce),
        ReasonCode::GrantedQoS2 => Some(QoS::ExactlyOnce),
        _ => None,
    }
}

/// User properties carried by a packet from a client.
fn user_properties(p: &Packet) -> usize {
    let props = match p {
        Packet::Publish(p) => &p.properties,
        Packet::PubAck(r) | Packet::PubRec(r) | Packet::PubRel(r) | Packet::PubComp(r) => {
            &r.properties
        }
        Packet::Subscribe(s) => &s.properties,
        Packet::Unsubscribe(u) => &u.properties,
        Packet::Disconnect(d) => &d.properties,
        Packet::Auth(a) => &a.properties,
        _ => return 0,
    };
    props.user_properties().count()
}

pub(super) fn too_many_user_properties() -> ProtocolViolation {
    ProtocolViolation::new(ReasonCode::QuotaExceeded, None, "too many user properties")
}

impl ServerSession {
    /// Handles one packet from the client. `decoded` says it came from the codec's
    /// decoder here, so the rules the decoder enforces (topic names and Response Topics
    /// without wildcards, MQTT-3.3.2-2) need no second look.
    pub(super) fn dispatch(
        &mut self,
        now: Instant,
        p: Packet,
        decoded: bool,
    ) -> Result<(), SessionError> {
        let r = match self.phase {
            Phase::Closed => return Err(SessionError::Closed),
            Phase::AwaitConnect => match p {
                Packet::Connect(c) => self.on_connect(c),
                _ => Err(ProtocolViolation::protocol(
                    "MQTT-3.1.0-1",
                    "first packet is not CONNECT",
                )),
            },
            Phase::Authenticating => match p {
                Packet::Connect(_) => Err(ProtocolViolation::protocol(
                    "MQTT-3.1.0-2",
                    "second CONNECT",
                )),
                Packet::Auth(a) if self.auth_method.is_some() => {
                    self.events.push_back(ServerEvent::Auth(a));
                    Ok(())
                }
                other => {
                    self.held = Some(Box::new(other));
                    Ok(())
                }
            },
            Phase::Connected => {
                self.timer.on_receive(now);
                self.on_packet(p, decoded)
            }
        };
        r.map_err(|v| {
            if self.phase == Phase::Closed {
                v.into()
            } else {
                self.violation(v).into()
            }
        })
    }

    fn on_packet(&mut self, p: Packet, decoded: bool) -> Result<(), ProtocolViolation> {
        if user_properties(&p) > self.config.max_user_properties {
            return Err(too_many_user_properties());
        }
        match p {
            Packet::Connect(_) => {
                return Err(ProtocolViolation::protocol(
                    "MQTT-3.1.0-2",
                    "second CONNECT",
                ))
            }
            Packet::Publish(p) => return self.on_publish(p, decoded),
            Packet::PubAck(r) => {
                let o = self.out.on_puback(&r)?;
                self.on_ack_outcome(o);
            }
            Packet::PubRec(r) => {
                let o = self.out.on_pubrec(&r)?;
                self.on_ack_outcome(o);
            }
            Packet::PubComp(r) => {
                let o = self.out.on_pubcomp(&r);
                self.on_ack_outcome(o);
            }
            Packet::PubRel(r) => {
                let comp = self.inn.on_pubrel(r.packet_id);
                self.transmits
                    .push_back(Packet::PubComp(self.v3_strip(comp)));
            }
            Packet::Subscribe(s) => return self.on_subscribe(s),
            Packet::Unsubscribe(u) if u.filters.is_empty() => {
                return Err(ProtocolViolation::protocol(
                    "MQTT-3.10.3-2",
                    "UNSUBSCRIBE without filters",
                ))
            }
            Packet::Unsubscribe(u) => self.on_unsubscribe(u),
            Packet::PingReq => self.transmits.push_back(Packet::PingResp),
            Packet::Disconnect(d) => return self.on_disconnect(d),
            Packet::Auth(a) if self.auth_method.is_some() => {
                self.events.push_back(ServerEvent::Auth(a));
            }
            Packet::Auth(_) => {
                return Err(ProtocolViolation::new(
                    ReasonCode::ProtocolError,
                    None,
                    "AUTH without an authentication method in CONNECT",
                ))
            }
            Packet::ConnAck(_) | Packet::SubAck(_) | Packet::UnsubAck(_) | Packet::PingResp => {
                return Err(ProtocolViolation::new(
                    ReasonCode::ProtocolError,
                    None,
                    "packet type a client must not send",
                ))
            }
        }
        Ok(())
    }

    fn v3_strip(&self, mut r: PubResp) -> PubResp {
        if !self.version.is_v5() {
            r.reason = ReasonCode::Success;
            r.properties = Properties::new();
        }
        r
    }

    pub(super) fn on_ack_outcome(&mut self, o: AckOutcome) {
        match o {
            AckOutcome::Delivered(id) => {
                self.events.push_back(ServerEvent::Delivered(id));
            }
            AckOutcome::Failed(id, reason) => {
                self.events.push_back(ServerEvent::Failed {
                    packet_id: id,
                    reason,
                });
            }
            AckOutcome::SendPubRel(r) => {
                let r = self.v3_strip(r);
                self.transmits.push_back(Packet::PubRel(r));
            }
            AckOutcome::Ignored => {}
        }
    }

    fn on_publish(&mut self, mut p: Publish, decoded: bool) -> Result<(), ProtocolViolation> {
        if self.version.is_v5() {
            self.in_alias.resolve(&mut p)?;
        }
        // A decoded topic is not empty (or was an alias, now resolved to a topic that was
        // checked when the alias was set) and has no wildcard.
        if !decoded && !is_valid_topic_name(&p.topic) {
            return Err(ProtocolViolation::new(
                ReasonCode::TopicNameInvalid,
                Some("MQTT-3.3.2-2"),
                "invalid topic name in PUBLISH",
            ));
        }
        // A byte count: `split('/')` searches with memchr level by level.
        let levels = p.topic.bytes().filter(|&b| b == b'/').count() + 1;
        if levels > self.config.max_topic_levels {
            return Err(ProtocolViolation::new(
                ReasonCode::TopicNameInvalid,
                None,
                "more topic levels than the server allows",
            ));
        }
        let bad_response_topic = !decoded
            && p.properties
                .0
                .iter()
                .any(|prop| matches!(prop, Property::ResponseTopic(t) if !is_valid_topic_name(t)));
        if bad_response_topic {
            return Err(ProtocolViolation::new(
                ReasonCode::TopicNameInvalid,
                Some("MQTT-3.3.2-14"),
                "invalid response topic",
            ));
        }
        if p.properties.subscription_identifiers().next().is_some() {
            return Err(ProtocolViolation::protocol(
                "MQTT-3.3.4-6",
                "subscription identifier in a PUBLISH from a client",
            ));
        }
        if p.qos > self.config.maximum_qos {
            return Err(ProtocolViolation::new(
                ReasonCode::QoSNotSupported,
                Some("MQTT-3.2.2-11"),
                "QoS above the server's maximum",
            ));
        }
        if p.retain && !self.config.retain_available {
            return Err(ProtocolViolation::new(
                ReasonCode::RetainNotSupported,
                Some("MQTT-3.2.2-14"),
                "retain not available",
            ));
        }
        let limit = usize::from(self.config.receive_maximum);
        match self.inn.on_publish(p.qos, p.packet_id, limit) {
            Inbound::Deliver(ack) => {
                let message = Message::from_publish(p);
                self.events.push_back(ServerEvent::Publish { message, ack });
            }
            Inbound::Duplicate(rec) => {
                self.counters.duplicates += 1;
                if let Some(r) = rec {
                    self.transmits.push_back(Packet::PubRec(r));
                }
            }
            Inbound::OverLimit => {
                return Err(ProtocolViolation::new(
                    ReasonCode::ReceiveMaximumExceeded,
                    Some("MQTT-3.3.4-7"),
                    "more unacknowledged QoS 1/2 PUBLISH than Receive Maximum",
                ))
            }
        }
        Ok(())
    }

    fn on_subscribe(&mut self, s: Subscribe) -> Result<(), ProtocolViolation> {
        if s.filters.is_empty() {
            return Err(ProtocolViolation::protocol(
                "MQTT-3.8.3-2",
                "SUBSCRIBE without filters",
            ));
        }
        if self.pending_subs.len() >= self.config.max_pending_subscribes {
            return Err(ProtocolViolation::new(
                ReasonCode::QuotaExceeded,
                None,
                "too many SUBSCRIBE packets awaiting an answer",
            ));
        }
        let identifier = s.properties.subscription_identifiers().next();
        if identifier.is_some() && !self.config.subscription_identifiers_available {
            return Err(ProtocolViolation::new(
                ReasonCode::SubscriptionIdentifiersNotSupported,
                None,
                "subscription identifiers not supported",
            ));
        }
        let v5 = self.version.is_v5();
        let mut requests = Vec::with_capacity(s.filters.len());
        for (filter, mut options) in s.filters {
            let shared = is_shared_filter(&filter);
            if v5 && shared && options.no_local {
                return Err(ProtocolViolation::protocol(
                    "MQTT-3.8.3-4",
                    "No Local on a shared subscription",
                ));
            }
            let rejected = if requests.len() >= self.config.max_filters_per_subscribe {
                Some(ReasonCode::QuotaExceeded)
            } else if !is_valid_topic_filter(&filter)
                || filter.split('/').count() > self.config.max_topic_levels
            {
                Some(ReasonCode::TopicFilterInvalid)
            } else if shared && !self.config.shared_subscription_available {
                Some(ReasonCode::SharedSubscriptionsNotSupported)
            } else if has_wildcard(&filter) && !self.config.wildcard_subscription_available {
                Some(ReasonCode::WildcardSubscriptionsNotSupported)
            } else {
                None
            };
            options.qos = options.qos.min(self.config.maximum_qos);
            requests.push(SubscribeRequest {
                filter,
                options,
                identifier,
                rejected,
            });
        }
        self.pending_subs.insert(s.packet_id, requests.clone());
        self.events.push_back(ServerEvent::Subscribe {
            packet_id: s.packet_id,
            requests,
            properties: s.properties,
        });
        Ok(())
    }

    /// Answers a SUBSCRIBE with one reason code per filter (granted QoS or an error), in
    /// order. Filters the session already refused keep their reason; MQTT 3 errors are sent
    /// as 0x80. Granted filters are recorded in the session's subscriptions.
    pub fn suback(
        &mut self,
        packet_id: PacketId,
        reasons: Vec<ReasonCode>,
        properties: Properties,
    ) -> Result<(), SendError> {
        if self.phase != Phase::Connected {
            return Err(SendError::NotConnected);
        }
        let requests = self
            .pending_subs
            .remove(&packet_id)
            .ok_or(SendError::UnknownPacketId)?;
        let v5 = self.version.is_v5();
        let mut out = Vec::with_capacity(requests.len());
        for (i, req) in requests.into_iter().enumerate() {
            let given = reasons
                .get(i)
                .copied()
                .unwrap_or(ReasonCode::UnspecifiedError);
            let mut r = req.rejected.unwrap_or(given);
            match granted_qos(r) {
                Some(qos) => {
                    let mut options = req.options;
                    options.qos = qos;
                    let sub = Subscription {
                        filter: req.filter,
                        options,
                        identifier: req.identifier,
                    };
                    match self
                        .subscriptions
                        .iter_mut()
                        .find(|s| s.filter == sub.filter)
                    {
                        Some(existing) => *existing = sub,
                        None => self.subscriptions.push(sub),
                    }
                }
                None if !v5 || !r.is_error() => r = ReasonCode::UnspecifiedError,
                None => {}
            }
            out.push(r);
        }
        let properties = if v5 { properties } else { Properties::new() };
        self.transmits.push_back(Packet::SubAck(SubAck {
            packet_id,
            reasons: out,
            properties,
        }));
        Ok(())
    }

    fn on_unsubscribe(&mut self, u: Unsubscribe) {
        let mut reasons = Vec::with_capacity(u.filters.len());
        let mut removed = Vec::new();
        for f in u.filters {
            match self.subscriptions.iter().position(|s| s.filter == f) {
                Some(i) => {
                    self.subscriptions.remove(i);
                    removed.push(f);
                    reasons.push(ReasonCode::Success);
                }
                None => reasons.push(ReasonCode::NoSubscriptionExisted),
            }
        }
        if !self.version.is_v5() {
            reasons.clear();
        }
        self.transmits.push_back(Packet::UnsubAck(UnsubAck {
            packet_id: u.packet_id,
            reasons,
            properties: Properties::new(),
        }));
        if !removed.is_empty() {
            self.events.push_back(ServerEvent::Unsubscribe {
                filters: removed,
                properties: u.properties,
            });
        }
    }

    fn on_disconnect(&mut self, d: Disconnect) -> Result<(), ProtocolViolation> {
        if let Some(e) = d.properties.session_expiry_interval() {
            if self.session_expiry == 0 && e != 0 {
                return Err(ProtocolViolation::protocol(
                    "MQTT-3.14.2-2",
                    "session expiry set in DISCONNECT after 0 in CONNECT",
                ));
            }
            self.session_expiry = self.config.max_session_expiry.map_or(e, |m| e.min(m));
        }
        let publish_will = d.reason == ReasonCode::DisconnectWithWillMessage;
        if !publish_will {
            // MQTT-3.14.4-3: a normal DISCONNECT discards the will.
            self.will = None;
        }
        let reason = CloseReason::PeerDisconnect {
            reason: d.reason,
            properties: d.properties,
        };
        self.close(reason, false, publish_will);
        Ok(())
    }
}
