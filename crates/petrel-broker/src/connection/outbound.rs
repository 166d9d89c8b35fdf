//! Sending: draining the session queue into the in-flight window, resending after a
//! resume, outgoing topic aliases and the client's maximum packet size.

use bytestring::ByteString;
use petrel_codec::{Packet, PacketId, Properties, Property, PubResp, Publish, QoS};
use petrel_store::Op;
use tokio::time::Instant;

use super::Conn;
use crate::metrics::Metrics;
use crate::session::{Delivery, Inflight, Phase};

impl Conn {
    /// Size of the outgoing QoS 1/2 window (MQTT-3.3.4-9).
    fn window(&self) -> usize {
        usize::from(
            self.client_receive_max
                .min(self.core.config.limits.max_inflight_messages),
        )
    }

    /// Moves queued messages into the write buffer while the window has room.
    pub(super) fn pump(&mut self, now: Instant) {
        let session = self.session.clone();
        let core = self.core.clone();
        let metrics = &core.metrics;
        let window = self.window();
        let mut st = session.lock();
        if st.overflowed {
            st.overflowed = false;
            drop(st);
            self.protocol_error(petrel_codec::ReasonCode::QuotaExceeded, "queue overflow");
            return;
        }
        while let Some(front) = st.queue.front() {
            if front.qos != QoS::AtMostOnce && st.inflight.len() >= window {
                break;
            }
            let Some(d) = st.queue.pop_front() else { break };
            st.queued_bytes -= d.msg.cost();
            Metrics::gauge(&metrics.queued_messages, -1);
            if d.msg.expired(now) {
                Metrics::add(&metrics.messages_expired, 1);
                self.unstore(&d);
                continue;
            }
            if !self.may_deliver(&d.msg.topic) {
                // CHECKLIST 19: ACLs are checked at every delivery.
                self.unstore(&d);
                continue;
            }
            if d.qos == QoS::AtMostOnce {
                self.encode_publish(&d, None, false, now);
                continue;
            }
            let Some(pid) = st.next_packet_id() else {
                break;
            };
            if self.encode_publish(&d, Some(pid), false, now) {
                if let Some(id) = d.stored {
                    let op = Op::MarkSent {
                        client_id: self.client_id.clone(),
                        message_id: id,
                        packet_id: pid,
                    };
                    if d.qos == QoS::ExactlyOnce {
                        // QoS 2: the id is durable before the PUBLISH is written, so a
                        // resend after a crash carries it and is not a second message.
                        self.persist.push(op);
                    } else {
                        // QoS 1: without the id a crash only makes the message be sent
                        // again as a new PUBLISH (at least once); no need to wait.
                        self.persist_later.push(op);
                    }
                }
                let phase = if d.qos == QoS::AtLeastOnce {
                    Phase::Puback
                } else {
                    Phase::Pubrec
                };
                st.inflight.push_back(Inflight {
                    pid,
                    delivery: d,
                    phase,
                });
                Metrics::gauge(&metrics.queued_messages, 1);
            } else {
                self.unstore(&d);
            }
        }
    }

    /// Removes a durable delivery that will not be sent from the store.
    fn unstore(&mut self, d: &Delivery) {
        if let Some(id) = d.stored {
            self.persist.push(Op::Dequeue {
                client_id: self.client_id.clone(),
                message_id: id,
            });
        }
    }

    /// After a resume: resends unacknowledged PUBLISH (DUP=1) and PUBREL with their
    /// original ids, in order (MQTT-4.4.0-1), within the client's receive maximum
    /// (MQTT-3.3.4-9). Messages beyond the window go back to the queue.
    pub(super) fn resend_inflight(&mut self, now: Instant) {
        let session = self.session.clone();
        let window = self.window();
        let mut st = session.lock();
        let inflight: Vec<Inflight> = st.inflight.drain(..).collect();
        let mut publishes = 0;
        let mut requeue = Vec::new();
        for item in inflight {
            match item.phase {
                Phase::Pubcomp => {
                    self.send(Packet::PubRel(PubResp::new(item.pid)));
                    st.inflight.push_back(item);
                }
                _ if publishes < window => {
                    publishes += 1;
                    self.encode_publish(&item.delivery, Some(item.pid), true, now);
                    st.inflight.push_back(item);
                }
                _ => requeue.push(item.delivery),
            }
        }
        for d in requeue.into_iter().rev() {
            st.queued_bytes += d.msg.cost();
            st.queue.push_front(d);
        }
    }

    /// Encodes one PUBLISH. Returns false when it was dropped because it exceeds the
    /// client's Maximum Packet Size: it then counts as sent (MQTT-3.1.2-24, MQTT-3.1.2-25).
    pub(super) fn encode_publish(
        &mut self,
        d: &Delivery,
        pid: Option<PacketId>,
        dup: bool,
        now: Instant,
    ) -> bool {
        let v5 = self.version.is_v5();
        let mut properties = if v5 {
            d.msg.delivery_properties(now, &d.sub_ids)
        } else {
            Properties::new()
        };
        let mut publish = Publish {
            dup,
            qos: d.qos,
            retain: d.retain,
            topic: d.msg.topic.clone(),
            packet_id: pid,
            properties: Properties::new(),
            payload: d.msg.payload.clone(),
        };
        let mut new_alias = None;
        if v5 && self.client_alias_max > 0 {
            if let Some(&alias) = self.out_aliases.get(&d.msg.topic) {
                properties.0.push(Property::TopicAlias(alias));
                publish.topic = ByteString::new();
            } else if self.out_aliases.len() < usize::from(self.client_alias_max) {
                let alias = self.out_aliases.len() as u16 + 1;
                properties.0.push(Property::TopicAlias(alias));
                new_alias = Some(alias);
            }
        }
        publish.properties = properties;
        let packet = Packet::Publish(publish);
        match packet.encoded_len(self.version) {
            Ok(n) if n as u64 <= u64::from(self.client_max_packet) => {
                if let Some(alias) = new_alias {
                    self.out_aliases.insert(d.msg.topic.clone(), alias);
                }
                self.send(packet);
                Metrics::add(&self.core.metrics.messages_sent, 1);
                true
            }
            _ => {
                tracing::debug!(client = %self.client_id, "message larger than client maximum dropped");
                Metrics::add(&self.core.metrics.messages_dropped, 1);
                false
            }
        }
    }
}
