//! Handling packets received from an established client.

use bytestring::ByteString;
use petrel_codec::{
    Packet, Properties, Property, PubResp, Publish, QoS, ReasonCode, RetainHandling, SubAck,
    Subscribe, UnsubAck, Unsubscribe,
};
use petrel_store::{Batch, Op, StoredSubscription};
use tokio::time::Instant;

use super::{Close, Conn, PendingPublish};
use crate::message::Message;
use crate::metrics::Metrics;
use crate::security::config::Mqtt3PublishDenied::Disconnect;
use crate::session::{Phase, SubInfo};
use crate::topic::{parse_filter, validate_name, TopicError};

impl Conn {
    /// Applies one packet.
    pub(super) async fn handle(&mut self, packet: Packet) {
        match packet {
            Packet::Publish(p) => self.on_publish(p).await,
            Packet::PubAck(r) => self.on_ack(r.packet_id, Phase::Puback),
            Packet::PubRec(r) => self.on_pubrec(r),
            Packet::PubRel(r) => self.on_pubrel(r),
            Packet::PubComp(r) => self.on_ack(r.packet_id, Phase::Pubcomp),
            Packet::Subscribe(s) => self.on_subscribe(s).await,
            Packet::Unsubscribe(u) => self.on_unsubscribe(u).await,
            Packet::PingReq => self.send(Packet::PingResp),
            Packet::Disconnect(d) => {
                if let Some(e) = d.properties.session_expiry_interval() {
                    if self.connect_expiry == 0 && e != 0 {
                        // MQTT-3.14.2-2
                        self.protocol_error(ReasonCode::ProtocolError, "MQTT-3.14.2-2");
                        return;
                    }
                    self.session.lock().expiry_interval =
                        e.min(self.core.config.limits.max_session_expiry_secs);
                }
                let will = d.reason == ReasonCode::DisconnectWithWillMessage;
                self.close_with(Close::Client { will });
            }
            // MQTT-3.1.0-2: a second CONNECT is a protocol error.
            Packet::Connect(_) => self.protocol_error(ReasonCode::ProtocolError, "MQTT-3.1.0-2"),
            Packet::Auth(a) => self.on_auth(a).await,
            Packet::ConnAck(_) | Packet::SubAck(_) | Packet::UnsubAck(_) | Packet::PingResp => {
                self.protocol_error(ReasonCode::ProtocolError, "client sent a server packet")
            }
        }
    }

    fn too_many_user_properties(&mut self, props: &Properties) -> bool {
        if props.user_properties().count() > self.core.config.limits.max_user_properties {
            self.protocol_error(ReasonCode::QuotaExceeded, "too many user properties");
            return true;
        }
        false
    }

    /// Resolves the topic alias of an incoming PUBLISH (MQTT-3.3.2-7 .. -12).
    fn resolve_topic(&mut self, p: &Publish) -> Option<ByteString> {
        let mut topic = p.topic.clone();
        if self.version.is_v5() {
            if let Some(alias) = p.properties.topic_alias() {
                if alias == 0 || alias > self.core.config.limits.topic_alias_maximum {
                    // MQTT-3.3.2-8, MQTT-3.3.2-9
                    self.protocol_error(ReasonCode::TopicAliasInvalid, "MQTT-3.3.2-9");
                    return None;
                }
                if topic.is_empty() {
                    match self.in_aliases.get(&alias) {
                        Some(t) => topic = t.clone(),
                        None => {
                            self.protocol_error(ReasonCode::ProtocolError, "unknown topic alias");
                            return None;
                        }
                    }
                } else {
                    self.in_aliases.insert(alias, topic.clone());
                }
            }
        }
        match validate_name(&topic, self.core.config.limits.max_topic_levels) {
            Ok(_) => Some(topic),
            Err(TopicError::Empty) => {
                self.protocol_error(ReasonCode::ProtocolError, "MQTT-4.7.3-1");
                None
            }
            Err(_) => {
                self.protocol_error(ReasonCode::TopicNameInvalid, "MQTT-3.3.2-2");
                None
            }
        }
    }

    async fn on_publish(&mut self, p: Publish) {
        Metrics::add(&self.core.metrics.messages_received, 1);
        if self.too_many_user_properties(&p.properties) {
            return;
        }
        let Some(topic) = self.resolve_topic(&p) else {
            return;
        };
        if p.properties
            .response_topic()
            .is_some_and(|t| t.contains(['+', '#']))
        {
            // MQTT-3.3.2-14: no wildcard in a Response Topic.
            self.protocol_error(ReasonCode::TopicNameInvalid, "MQTT-3.3.2-14");
            return;
        }
        if let (QoS::ExactlyOnce, Some(pid)) = (p.qos, p.packet_id) {
            let (dup, full) = {
                let st = self.session.lock();
                (
                    st.incoming_qos2.contains(&pid.get()),
                    st.incoming_qos2.len() >= usize::from(self.core.config.limits.receive_maximum),
                )
            };
            if dup {
                // MQTT-4.3.3-10: same id before PUBREL: answer PUBREC again, deliver once.
                // Behind messages still being stored, in order (MQTT-4.6.0-2).
                self.queue_publish(PendingPublish {
                    routed: None,
                    qos: p.qos,
                    pid: Some(pid),
                    sys: false,
                    reason: ReasonCode::Success,
                })
                .await;
                return;
            }
            if full {
                // MQTT-3.3.4-8: more unacknowledged QoS 2 than our Receive Maximum.
                self.protocol_error(ReasonCode::ReceiveMaximumExceeded, "MQTT-3.3.4-8");
                return;
            }
        }
        let mut reason = ReasonCode::Success;
        let mut routed = None;
        let sys = topic.starts_with("$SYS");
        if sys {
            // Clients cannot publish to $SYS.
            reason = ReasonCode::NotAuthorized;
        } else if !self.may_publish(&topic) {
            // CHECKLIST 19: MQTT 5 gets 0x87; MQTT 3 an ack (message dropped) or a close.
            reason = ReasonCode::NotAuthorized;
            if !self.version.is_v5() && self.core.access.mqtt3_publish_denied == Disconnect {
                self.protocol_error(ReasonCode::NotAuthorized, "publish not authorized");
                return;
            }
        } else {
            let msg = Message::new(
                topic,
                p.payload,
                p.qos,
                p.retain,
                &p.properties,
                Instant::now(),
                Some(self.client_id.clone()),
            );
            // A persistent session's incoming QoS 2 id is stored with the message, so
            // a PUBLISH resent after a crash is recognised and not routed twice.
            let mut extra = Vec::new();
            if let (QoS::ExactlyOnce, Some(pid)) = (p.qos, p.packet_id) {
                let mut st = self.session.lock();
                // Known at once, so that a resend is recognised while the store works.
                st.incoming_qos2.insert(pid.get());
                if st.expiry_interval > 0 {
                    extra.push(Op::AddIncomingQos2 {
                        client_id: self.client_id.clone(),
                        packet_id: pid,
                    });
                }
            }
            routed = Some(self.core.route(msg, extra));
        }
        self.queue_publish(PendingPublish {
            routed,
            qos: p.qos,
            pid: p.packet_id,
            sys,
            reason,
        })
        .await;
    }

    /// Acknowledges a PUBLISH now when nothing is pending, or after the PUBLISHes still
    /// waiting for their store commits (acknowledgements keep the order of the
    /// PUBLISHes, MQTT-4.6.0-2).
    async fn queue_publish(&mut self, pending: PendingPublish) {
        let ready = pending.routed.as_ref().is_none_or(|r| r.is_ready());
        if self.publishes.is_empty() && ready {
            self.finish_publish(pending).await;
        } else {
            self.publishes.push_back(pending);
        }
    }

    /// Waits for the store commits of pending PUBLISHes, delivers them and sends their
    /// acknowledgements, in order.
    pub(super) async fn settle_publishes(&mut self) {
        while let Some(pending) = self.publishes.pop_front() {
            self.finish_publish(pending).await;
        }
    }

    /// Delivers a routed PUBLISH once stored and sends its PUBACK/PUBREC: only after
    /// the store commit, never for what was not stored.
    async fn finish_publish(&mut self, pending: PendingPublish) {
        let PendingPublish {
            routed,
            qos,
            pid,
            sys,
            mut reason,
        } = pending;
        if let Some(routed) = routed {
            if !self.core.deliver(routed).await {
                reason = ReasonCode::QuotaExceeded;
            }
        }
        if let (QoS::ExactlyOnce, Some(id), true) = (qos, pid, reason.is_error()) {
            self.session.lock().incoming_qos2.remove(&id.get());
        }
        if !self.version.is_v5() && reason == ReasonCode::QuotaExceeded && qos != QoS::AtMostOnce {
            // MQTT 3 has no way to refuse: never acknowledge what was not stored.
            self.protocol_error(ReasonCode::UnspecifiedError, "store failure");
            return;
        }
        if !self.version.is_v5() {
            reason = ReasonCode::Success;
        }
        let properties = if reason.is_error() && self.version.is_v5() {
            let text = if reason == ReasonCode::NotAuthorized && !sys {
                "not authorized"
            } else if reason == ReasonCode::NotAuthorized {
                "$SYS is read-only"
            } else {
                "not stored"
            };
            Properties::new().with(Property::ReasonString(text.into()))
        } else {
            Properties::new()
        };
        match (qos, pid) {
            (QoS::AtLeastOnce, Some(pid)) => self.send(Packet::PubAck(PubResp {
                reason,
                properties,
                ..PubResp::new(pid)
            })),
            (QoS::ExactlyOnce, Some(pid)) => {
                if !reason.is_error() {
                    self.session.lock().incoming_qos2.insert(pid.get());
                }
                self.send(Packet::PubRec(PubResp {
                    reason,
                    properties,
                    ..PubResp::new(pid)
                }));
            }
            _ => {}
        }
    }

    /// PUBACK (`Puback`) or PUBCOMP (`Pubcomp`) for an outgoing message.
    fn on_ack(&mut self, pid: petrel_codec::PacketId, phase: Phase) {
        let mut st = self.session.lock();
        if let Some(i) = st
            .inflight
            .iter()
            .position(|m| m.pid == pid && m.phase == phase)
        {
            let done = st.inflight.remove(i);
            Metrics::gauge(&self.core.metrics.queued_messages, -1);
            drop(st);
            if done.is_some_and(|m| m.delivery.stored.is_some()) {
                let op = Op::Complete {
                    client_id: self.client_id.clone(),
                    packet_id: pid,
                };
                if phase == Phase::Puback {
                    // QoS 1: losing this only sends the message once more.
                    self.persist_later.push(op);
                } else {
                    self.persist.push(op);
                }
            }
        }
    }

    fn on_pubrec(&mut self, r: PubResp) {
        let mut st = self.session.lock();
        let pos = st
            .inflight
            .iter()
            .position(|m| m.pid == r.packet_id && m.phase == Phase::Pubrec);
        let reply = match pos {
            Some(i) if r.reason.is_error() => {
                let done = st.inflight.remove(i);
                Metrics::gauge(&self.core.metrics.queued_messages, -1);
                if done.is_some_and(|m| m.delivery.stored.is_some()) {
                    self.persist.push(Op::Complete {
                        client_id: self.client_id.clone(),
                        packet_id: r.packet_id,
                    });
                }
                None
            }
            Some(i) => {
                if let Some(m) = st.inflight.get_mut(i) {
                    m.phase = Phase::Pubcomp;
                    if m.delivery.stored.is_some() {
                        // "PUBREC received, PUBREL sent": committed before the PUBREL.
                        self.persist.push(Op::MarkReleased {
                            client_id: self.client_id.clone(),
                            packet_id: r.packet_id,
                        });
                    }
                }
                Some(PubResp::new(r.packet_id))
            }
            None => Some(PubResp {
                reason: ReasonCode::PacketIdentifierNotFound,
                ..PubResp::new(r.packet_id)
            }),
        };
        drop(st);
        if let Some(rel) = reply {
            self.send(Packet::PubRel(rel));
        }
    }

    fn on_pubrel(&mut self, r: PubResp) {
        let (known, persistent) = {
            let mut st = self.session.lock();
            (
                st.incoming_qos2.remove(&r.packet_id.get()),
                st.expiry_interval > 0,
            )
        };
        if known && persistent {
            // Forgotten before the PUBCOMP is written: the id may then be reused.
            self.persist.push(Op::RemoveIncomingQos2 {
                client_id: self.client_id.clone(),
                packet_id: r.packet_id,
            });
        }
        // Unknown PUBREL: PUBCOMP 0x92 (MQTT 5).
        let reason = if known || !self.version.is_v5() {
            ReasonCode::Success
        } else {
            ReasonCode::PacketIdentifierNotFound
        };
        self.send(Packet::PubComp(PubResp {
            reason,
            ..PubResp::new(r.packet_id)
        }));
    }

    async fn on_subscribe(&mut self, s: Subscribe) {
        if self.too_many_user_properties(&s.properties) {
            return;
        }
        if s.filters.is_empty() {
            self.protocol_error(ReasonCode::ProtocolError, "MQTT-3.8.3-2");
            return;
        }
        let limits = self.core.config.limits.clone();
        let v5 = self.version.is_v5();
        let refused = |code: ReasonCode| {
            if v5 {
                code
            } else {
                ReasonCode::UnspecifiedError
            }
        };
        let sub_id = s.properties.subscription_identifiers().next();
        let mut reasons = Vec::with_capacity(s.filters.len());
        let mut retained = Vec::new();
        let mut batch = Batch::new();
        let persistent = self.session.lock().expiry_interval > 0;
        for (i, (raw, opts)) in s.filters.iter().enumerate() {
            if i >= limits.max_filters_per_subscribe {
                reasons.push(refused(ReasonCode::QuotaExceeded));
                continue;
            }
            let parsed = match parse_filter(raw, limits.max_topic_levels) {
                Ok(p) => p,
                Err(_) => {
                    // MQTT-4.7.1-1, MQTT-4.7.1-2, MQTT-4.8.2-1
                    reasons.push(refused(ReasonCode::TopicFilterInvalid));
                    continue;
                }
            };
            if !self.may_subscribe(parsed.filter().as_str()) {
                // CHECKLIST 19: SUBACK 0x87 (MQTT 5) or 0x80 (MQTT 3).
                reasons.push(refused(ReasonCode::NotAuthorized));
                continue;
            }
            if parsed.is_shared() && opts.no_local {
                // MQTT-3.8.3-4
                self.protocol_error(ReasonCode::ProtocolError, "MQTT-3.8.3-4");
                return;
            }
            let (count, exists) = {
                let st = self.session.lock();
                (st.subscriptions.len(), st.subscriptions.contains_key(raw))
            };
            if !exists && count >= limits.max_subscriptions_per_client {
                reasons.push(refused(ReasonCode::QuotaExceeded));
                continue;
            }
            let info = SubInfo {
                options: *opts,
                id: sub_id,
            };
            let existed = self.core.subscribe(&self.session, raw, info);
            if persistent {
                batch.push(Op::Subscribe {
                    client_id: self.client_id.clone(),
                    subscription: StoredSubscription::new(raw.clone(), *opts, sub_id),
                });
            }
            reasons.push(match opts.qos {
                QoS::AtMostOnce => ReasonCode::Success,
                QoS::AtLeastOnce => ReasonCode::GrantedQoS1,
                QoS::ExactlyOnce => ReasonCode::GrantedQoS2,
            });
            let send = match opts.retain_handling {
                RetainHandling::SendAtSubscribe => true,
                RetainHandling::SendIfNew => !existed,
                RetainHandling::DoNotSend => false,
            };
            // Shared subscriptions get no retained messages (MQTT-4.8.2-?; section 4.8.2).
            if send && !parsed.is_shared() {
                retained.push((parsed.filter().clone(), opts.qos));
            }
        }
        // Ack only after commit.
        if !batch.is_empty() {
            if let Err(e) = self.core.store.commit(batch).await {
                tracing::warn!(error = %e, "store commit failed");
                for r in &mut reasons {
                    *r = refused(ReasonCode::UnspecifiedError);
                }
                retained.clear();
            }
        }
        self.send(Packet::SubAck(SubAck {
            packet_id: s.packet_id,
            reasons,
            properties: Properties::new(),
        }));
        for (filter, qos) in retained {
            self.core.send_retained(&self.session, &filter, qos, sub_id);
        }
    }

    async fn on_unsubscribe(&mut self, u: Unsubscribe) {
        if self.too_many_user_properties(&u.properties) {
            return;
        }
        let mut reasons = Vec::with_capacity(u.filters.len());
        let mut batch = Batch::new();
        let persistent = self.session.lock().expiry_interval > 0;
        for raw in &u.filters {
            let existed = self.core.unsubscribe(&self.session, raw);
            if persistent && existed {
                batch.push(Op::Unsubscribe {
                    client_id: self.client_id.clone(),
                    filter: raw.clone(),
                });
            }
            reasons.push(if existed {
                ReasonCode::Success
            } else {
                ReasonCode::NoSubscriptionExisted
            });
        }
        if !batch.is_empty() {
            let _ = self.core.store.commit(batch).await;
        }
        if !self.version.is_v5() {
            reasons.clear();
        }
        self.send(Packet::UnsubAck(UnsubAck {
            packet_id: u.packet_id,
            reasons,
            properties: Properties::new(),
        }));
    }
}
