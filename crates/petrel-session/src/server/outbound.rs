//! Messages to the client: the bounded queue, the in-flight window (the client's Receive
//! Maximum, MQTT-3.3.4-9), expiry, topic aliases and the client's maximum packet size.

use std::time::Instant;

use petrel_codec::{Packet, PacketId, PropertyId, PubResp, Publish, QoS};

use super::{Phase, ServerSession};
use crate::alias::{AliasPlan, OutboundAliases};
use crate::error::CloseReason;
use crate::message::{Message, OutgoingMessage};
use crate::qos_out::{InFlight, OutState};
use crate::queue::Pushed;

/// What [`ServerSession::deliver`] did with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeliverOutcome {
    /// Queued for sending.
    Queued,
    /// Queued; this many older messages were dropped (`DropOldest`).
    QueuedDroppingOldest(usize),
    /// The message was dropped (`DropNewest`, or already expired).
    Dropped,
    /// The queue overflowed under the `Disconnect` policy: the session is closing.
    Disconnected,
}

impl ServerSession {
    /// Hands a message for the client to the session. It waits in the bounded queue until
    /// the writer pulls it (`poll_transmit`) and, for QoS 1/2, until the in-flight window
    /// has room. The broker sets the QoS (the minimum of the publication and the
    /// subscription), the RETAIN flag and subscription identifiers.
    ///
    /// The message's topic must be a valid topic name and its properties valid PUBLISH
    /// properties, as they are in every message of a [`ServerEvent::Publish`] and in a
    /// will: the PUBLISH built from it is written without checking them again
    /// (`Packet::encode_trusted`, which checks them in debug builds). This saves a scan
    /// of the topic per subscriber.
    ///
    /// [`ServerEvent::Publish`]: super::ServerEvent::Publish
    pub fn deliver(&mut self, now: Instant, msg: OutgoingMessage) -> DeliverOutcome {
        self.now = now;
        if msg.is_expired(now) {
            self.counters.dropped_expired += 1;
            return DeliverOutcome::Dropped;
        }
        self.enqueue(msg)
    }

    pub(super) fn enqueue(&mut self, msg: OutgoingMessage) -> DeliverOutcome {
        match self.queue.push(msg) {
            Pushed::Queued(0) => DeliverOutcome::Queued,
            Pushed::Queued(n) => {
                self.counters.dropped_queue_full += n as u64;
                DeliverOutcome::QueuedDroppingOldest(n)
            }
            Pushed::DroppedNewest => {
                self.counters.dropped_queue_full += 1;
                DeliverOutcome::Dropped
            }
            Pushed::Overflow => {
                self.counters.dropped_queue_full += 1;
                if self.phase == Phase::Connected {
                    self.close(CloseReason::QueueOverflow, true, true);
                }
                DeliverOutcome::Disconnected
            }
        }
    }

    /// True when a message handed to [`Self::deliver`] now would go out at once: connected,
    /// nothing queued ahead of it and, for QoS 1/2, room in the in-flight window. A broker
    /// that keeps its own queue moves messages into the session only while this holds.
    pub fn ready_for_delivery(&self, qos: QoS) -> bool {
        self.phase == Phase::Connected
            && self.queue.len() == 0
            && (qos == QoS::AtMostOnce || self.out.len() < self.window())
    }

    fn window(&self) -> usize {
        usize::from(self.client_receive_max.min(self.config.max_inflight).max(1))
    }

    /// The next packet to write: control packets first, then resent in-flight messages,
    /// then queued messages as the window allows.
    pub fn poll_transmit(&mut self) -> Option<Packet> {
        loop {
            if let Some(mut p) = self.transmits.pop_front() {
                if !self.version.is_v5() {
                    return Some(p);
                }
                if !self.problem_info {
                    crate::wire::strip_problem_info(&mut p);
                }
                match crate::wire::fit(p, self.version, self.client_max_packet) {
                    Some(p) => return Some(p),
                    None => continue,
                }
            }
            if self.phase != Phase::Connected {
                return None;
            }
            return self.next_publish();
        }
    }

    fn next_publish(&mut self) -> Option<Packet> {
        loop {
            if self.out.has_unsent() {
                if self.out.sent_count() >= self.window() {
                    return None;
                }
                let e = self.out.next_unsent()?;
                match e.state {
                    OutState::Released => {
                        return Some(Packet::PubRel(PubResp::new(e.packet_id)));
                    }
                    OutState::Published => {
                        let m = e.message.clone();
                        match self.build_publish(m, Some(e.packet_id), e.transmitted) {
                            Some(p) => return Some(Packet::Publish(p)),
                            None => self.drop_in_flight(e.packet_id),
                        }
                    }
                }
                continue;
            }
            // Expired messages leave from the front; most messages have no expiry.
            if self.queue.front()?.expires_at.is_some() {
                self.counters.dropped_expired += self.queue.drop_expired_front(self.now) as u64;
            }
            let front = self.queue.front()?;
            let qos = front.message.qos;
            if qos != QoS::AtMostOnce && self.out.sent_count() >= self.window() {
                return None;
            }
            let m = self.queue.pop_front()?.into_message_at(self.now);
            if qos == QoS::AtMostOnce {
                // Nothing is kept: the message's parts move into the PUBLISH.
                match self.build_publish(m, None, false) {
                    Some(p) => return Some(Packet::Publish(p)),
                    None => continue,
                }
            }
            let out = &self.out;
            let Some(id) = self.ids.alloc(out.len(), |id| out.contains(id)) else {
                self.counters.dropped_queue_full += 1;
                continue;
            };
            // The id is held once the entry is in the window; a message that does not fit
            // leaves it free.
            if let Some(p) = self.build_publish(m.clone(), Some(id), false) {
                let e = InFlight {
                    packet_id: id,
                    message: m,
                    state: OutState::Published,
                    sent: true,
                    transmitted: true,
                };
                self.out.push(e);
                return Some(Packet::Publish(p));
            }
        }
    }

    /// A message the client cannot accept is dropped as if sent (MQTT-3.1.2-25).
    fn drop_in_flight(&mut self, id: PacketId) {
        self.out.remove(id);
    }

    /// Builds the PUBLISH for `m` with an alias when the policy gives one, within the
    /// client's Maximum Packet Size (MQTT-3.1.2-24); `None` (counted) when it cannot fit.
    /// Sizes come from `Publish::encoded_len`, which builds no `Packet`.
    fn build_publish(&mut self, m: Message, id: Option<PacketId>, dup: bool) -> Option<Publish> {
        let v5 = self.version.is_v5();
        let max = usize::try_from(self.client_max_packet).unwrap_or(usize::MAX);
        let version = self.version;
        let fits = |p: &Publish| p.encoded_len(version).is_ok_and(|l| l <= max);
        let plan = if v5 {
            self.out_alias.plan(&m.topic)
        } else {
            AliasPlan::None
        };
        let mut p = m.into_publish(id, dup, v5);
        if plan == AliasPlan::None {
            if fits(&p) {
                return Some(p);
            }
        } else {
            let topic = p.topic.clone();
            OutboundAliases::apply(plan, &mut p);
            if fits(&p) {
                self.out_alias.commit(&topic, plan);
                return Some(p);
            }
            // Without the alias (a new alias carries the full topic, so this only helps
            // when the alias property itself was too much).
            p.topic = topic;
            p.properties.remove(PropertyId::TopicAlias);
            if fits(&p) {
                return Some(p);
            }
        }
        self.counters.dropped_too_large += 1;
        None
    }
}
