//! Client traffic once connected: publishing with the in-flight window, incoming messages
//! and acknowledgements, subscribe bookkeeping.

use std::time::Instant;

use petrel_codec::{
    ByteString, Packet, PacketId, Properties, PubResp, Publish, QoS, ReasonCode, SubAck, Subscribe,
    SubscriptionOptions, UnsubAck, Unsubscribe,
};

use super::{ClientEvent, ClientSession, Phase};
use crate::alias::{AliasPlan, OutboundAliases};
use crate::error::{ProtocolViolation, SendError};
use crate::message::{Message, PendingAck};
use crate::qos_in::Inbound;
use crate::qos_out::{AckOutcome, InFlight, OutState};
use crate::validate::{is_valid_topic_filter, is_valid_topic_name};

/// Most QoS 0 packets waiting to be written before `publish` answers `Backpressure`.
const MAX_QUEUED_QOS0: usize = 1024;

impl ClientSession {
    fn window(&self) -> usize {
        usize::from(self.config.max_inflight.min(self.server_receive_max).max(1))
    }

    /// Publishes a message. QoS 0 needs a connection; QoS 1/2 messages get a packet id and
    /// are kept until acknowledged (sent at the next CONNACK when not connected). Answers
    /// `Backpressure` when the in-flight window is full; wait for `Delivered`/`Failed`.
    pub fn publish(&mut self, now: Instant, msg: Message) -> Result<Option<PacketId>, SendError> {
        self.now = Some(now);
        if !is_valid_topic_name(&msg.topic) || msg.topic.len() > usize::from(u16::MAX) {
            return Err(SendError::InvalidTopic);
        }
        if self.phase == Phase::Connected {
            if msg.qos > self.server_max_qos {
                return Err(SendError::QoSNotSupported);
            }
            if msg.retain && !self.retain_available {
                return Err(SendError::RetainNotSupported);
            }
        }
        let v5 = self.config.version.is_v5();
        let probe_id = if msg.qos == QoS::AtMostOnce {
            None
        } else {
            PacketId::new(1)
        };
        let probe = Packet::Publish(msg.to_publish(probe_id, false, v5));
        let len = probe
            .encoded_len(self.config.version)
            .map_err(|_| SendError::PacketTooLarge)?;
        if len > usize::try_from(self.server_max_packet).unwrap_or(usize::MAX) {
            return Err(SendError::PacketTooLarge);
        }
        if msg.qos == QoS::AtMostOnce {
            if self.phase != Phase::Connected {
                return Err(SendError::NotConnected);
            }
            if self.transmits.len() >= MAX_QUEUED_QOS0 {
                return Err(SendError::Backpressure);
            }
            let p = self.build_publish(&msg, None, false);
            self.transmits.push_back(Packet::Publish(p));
            return Ok(None);
        }
        if self.out.len() >= self.window() {
            return Err(SendError::Backpressure);
        }
        let id = self.ids.alloc().ok_or(SendError::NoPacketId)?;
        self.out.push(InFlight {
            packet_id: id,
            message: msg,
            state: OutState::Published,
            sent: false,
            transmitted: false,
        });
        if self.phase == Phase::Connected {
            self.flush_out();
        }
        Ok(Some(id))
    }

    /// Queues in-flight entries not yet sent on this connection, in order, within the
    /// server's Receive Maximum (MQTT-4.4.0-1, MQTT-3.3.4-7).
    pub(super) fn flush_out(&mut self) {
        let window = usize::from(self.server_receive_max.max(1));
        while self.out.sent_count() < window {
            let Some(e) = self.out.next_unsent() else {
                break;
            };
            let p = match e.state {
                OutState::Released => Packet::PubRel(PubResp::new(e.packet_id)),
                OutState::Published => Packet::Publish(self.build_publish(
                    &e.message,
                    Some(e.packet_id),
                    e.transmitted,
                )),
            };
            self.transmits.push_back(p);
        }
    }

    fn build_publish(&mut self, m: &Message, id: Option<PacketId>, dup: bool) -> Publish {
        let v5 = self.config.version.is_v5();
        let mut p = m.to_publish(id, dup, v5);
        if !v5 {
            return p;
        }
        let plan = self.out_alias.plan(&m.topic);
        let mut aliased = p.clone();
        OutboundAliases::apply(plan, &mut aliased);
        let max = usize::try_from(self.server_max_packet).unwrap_or(usize::MAX);
        let fits = Packet::Publish(aliased.clone())
            .encoded_len(self.config.version)
            .is_ok_and(|l| l <= max);
        if fits || plan == AliasPlan::None {
            self.out_alias.commit(&m.topic, plan);
            p = aliased;
        }
        p
    }

    /// Subscribes to `filters`; the answer comes as [`ClientEvent::Subscribed`].
    pub fn subscribe(
        &mut self,
        now: Instant,
        filters: Vec<(ByteString, SubscriptionOptions)>,
        properties: Properties,
    ) -> Result<PacketId, SendError> {
        self.now = Some(now);
        if self.phase != Phase::Connected {
            return Err(SendError::NotConnected);
        }
        if filters.is_empty() {
            return Err(SendError::NoFilters);
        }
        if filters.iter().any(|(f, _)| !is_valid_topic_filter(f)) {
            return Err(SendError::InvalidFilter);
        }
        let packet_id = self.ids.alloc().ok_or(SendError::NoPacketId)?;
        let names = filters.iter().map(|(f, _)| f.clone()).collect();
        let properties = if self.config.version.is_v5() {
            properties
        } else {
            Properties::new()
        };
        let packet = Packet::Subscribe(Subscribe {
            packet_id,
            filters,
            properties,
        });
        self.queue_request(packet_id, packet)?;
        self.pending_subs.insert(packet_id, names);
        Ok(packet_id)
    }

    /// Unsubscribes from `filters`; the answer comes as [`ClientEvent::Unsubscribed`].
    pub fn unsubscribe(
        &mut self,
        now: Instant,
        filters: Vec<ByteString>,
        properties: Properties,
    ) -> Result<PacketId, SendError> {
        self.now = Some(now);
        if self.phase != Phase::Connected {
            return Err(SendError::NotConnected);
        }
        if filters.is_empty() {
            return Err(SendError::NoFilters);
        }
        if filters.iter().any(|f| !is_valid_topic_filter(f)) {
            return Err(SendError::InvalidFilter);
        }
        let packet_id = self.ids.alloc().ok_or(SendError::NoPacketId)?;
        let names = filters.clone();
        let properties = if self.config.version.is_v5() {
            properties
        } else {
            Properties::new()
        };
        let packet = Packet::Unsubscribe(Unsubscribe {
            packet_id,
            filters,
            properties,
        });
        self.queue_request(packet_id, packet)?;
        self.pending_unsubs.insert(packet_id, names);
        Ok(packet_id)
    }

    /// Queues a SUBSCRIBE/UNSUBSCRIBE if the server can accept its size; a request the
    /// server could not accept would never be answered.
    fn queue_request(&mut self, packet_id: PacketId, packet: Packet) -> Result<(), SendError> {
        let max = usize::try_from(self.server_max_packet).unwrap_or(usize::MAX);
        match packet.encoded_len(self.config.version) {
            Ok(len) if len <= max => {
                self.transmits.push_back(packet);
                Ok(())
            }
            Ok(_) => {
                self.ids.release(packet_id);
                Err(SendError::PacketTooLarge)
            }
            Err(_) => {
                self.ids.release(packet_id);
                Err(SendError::InvalidFilter)
            }
        }
    }

    /// Acknowledges a message received with manual acks (PUBACK or PUBREC with `reason`).
    pub fn ack(&mut self, ack: PendingAck, reason: ReasonCode) -> Result<(), SendError> {
        if self.phase != Phase::Connected {
            return Err(SendError::NotConnected);
        }
        let reason = if self.config.version.is_v5() {
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

    pub(super) fn on_packet(&mut self, p: Packet) -> Result<(), ProtocolViolation> {
        match p {
            Packet::Publish(p) => return self.on_publish(p),
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
                let mut comp = self.inn.on_pubrel(r.packet_id);
                if !self.config.version.is_v5() {
                    comp.reason = ReasonCode::Success;
                }
                self.transmits.push_back(Packet::PubComp(comp));
            }
            Packet::SubAck(s) => return self.on_suback(s),
            Packet::UnsubAck(u) => return self.on_unsuback(u),
            Packet::PingResp => self.timer.on_pingresp(),
            Packet::Disconnect(d) => {
                let reason = crate::error::CloseReason::PeerDisconnect {
                    reason: d.reason,
                    properties: d.properties,
                };
                self.close(reason, false);
            }
            Packet::Auth(a) if self.config.version.is_v5() => {
                self.events.push_back(ClientEvent::Auth(a));
            }
            _ => {
                return Err(ProtocolViolation::new(
                    ReasonCode::ProtocolError,
                    None,
                    "packet type a server must not send",
                ))
            }
        }
        Ok(())
    }

    fn on_ack_outcome(&mut self, o: AckOutcome) {
        match o {
            AckOutcome::Delivered(id) => {
                self.ids.release(id);
                self.events.push_back(ClientEvent::Delivered(id));
                self.flush_out();
            }
            AckOutcome::Failed(id, reason) => {
                self.ids.release(id);
                self.events.push_back(ClientEvent::Failed {
                    packet_id: id,
                    reason,
                });
                self.flush_out();
            }
            AckOutcome::SendPubRel(mut r) => {
                if !self.config.version.is_v5() {
                    r.reason = ReasonCode::Success;
                }
                self.transmits.push_back(Packet::PubRel(r));
            }
            AckOutcome::Ignored => {}
        }
    }

    fn on_publish(&mut self, mut p: Publish) -> Result<(), ProtocolViolation> {
        if self.config.version.is_v5() {
            self.in_alias.resolve(&mut p)?;
        }
        if !is_valid_topic_name(&p.topic) {
            return Err(ProtocolViolation::new(
                ReasonCode::TopicNameInvalid,
                Some("MQTT-3.3.2-2"),
                "invalid topic name in PUBLISH",
            ));
        }
        let limit = usize::from(self.config.receive_maximum.max(1));
        match self.inn.on_publish(p.qos, p.packet_id, limit) {
            Inbound::Deliver(ack) => {
                let message = Message::from_publish(p);
                let ack = match ack {
                    Some(a) if !self.config.manual_acks => {
                        if let Some(resp) = self.inn.ack(a, ReasonCode::Success) {
                            self.transmits.push_back(match a.qos {
                                QoS::ExactlyOnce => Packet::PubRec(resp),
                                _ => Packet::PubAck(resp),
                            });
                        }
                        None
                    }
                    other => other,
                };
                self.events.push_back(ClientEvent::Message { message, ack });
            }
            Inbound::Duplicate(rec) => {
                if let Some(r) = rec {
                    self.transmits.push_back(Packet::PubRec(r));
                }
            }
            Inbound::OverLimit => {
                return Err(ProtocolViolation::new(
                    ReasonCode::ReceiveMaximumExceeded,
                    Some("MQTT-3.3.4-9"),
                    "server exceeded our Receive Maximum",
                ))
            }
        }
        Ok(())
    }

    fn on_suback(&mut self, s: SubAck) -> Result<(), ProtocolViolation> {
        let Some(filters) = self.pending_subs.get(&s.packet_id) else {
            return Ok(());
        };
        if filters.len() != s.reasons.len() {
            return Err(ProtocolViolation::protocol(
                "MQTT-3.9.3-1",
                "SUBACK reason count differs from the SUBSCRIBE",
            ));
        }
        let filters = self.pending_subs.remove(&s.packet_id).unwrap_or_default();
        self.ids.release(s.packet_id);
        let results = filters
            .into_iter()
            .zip(s.reasons)
            .map(|(f, r)| {
                let q = match r {
                    ReasonCode::Success => Ok(QoS::AtMostOnce),
                    ReasonCode::GrantedQoS1 => Ok(QoS::AtLeastOnce),
                    ReasonCode::GrantedQoS2 => Ok(QoS::ExactlyOnce),
                    other => Err(other),
                };
                (f, q)
            })
            .collect();
        self.events.push_back(ClientEvent::Subscribed {
            packet_id: s.packet_id,
            results,
        });
        Ok(())
    }

    fn on_unsuback(&mut self, u: UnsubAck) -> Result<(), ProtocolViolation> {
        let Some(filters) = self.pending_unsubs.get(&u.packet_id) else {
            return Ok(());
        };
        let v5 = self.config.version.is_v5();
        if v5 && filters.len() != u.reasons.len() {
            return Err(ProtocolViolation::protocol(
                "MQTT-3.11.3-1",
                "UNSUBACK reason count differs from the UNSUBSCRIBE",
            ));
        }
        let filters = self.pending_unsubs.remove(&u.packet_id).unwrap_or_default();
        self.ids.release(u.packet_id);
        let results = filters
            .into_iter()
            .enumerate()
            .map(|(i, f)| (f, u.reasons.get(i).copied().unwrap_or(ReasonCode::Success)))
            .collect();
        self.events.push_back(ClientEvent::Unsubscribed {
            packet_id: u.packet_id,
            results,
        });
        Ok(())
    }
}
