//! Sending: moving messages from the session's shared queue into the `ServerSession` while
//! its in-flight window has room, and writing what it produces with the store operations
//! each packet needs committed first.

use petrel_codec::{Packet, Property, QoS, ReasonCode};
use petrel_store::Op;
use tokio::time::Instant;

use super::{reason_text, Close, Conn};
use crate::metrics::{DropReason, Metrics};
use crate::session::Delivery;

/// Deliveries handed to the session per lock of the shared queue.
const PUMP_BATCH: usize = 64;

impl Conn {
    /// Moves queued messages into the session while it can send them at once, and encodes
    /// everything it wants to send into the write buffer. `at` is the time of this loop
    /// turn (one clock read per turn, not per message).
    ///
    /// Returns true when the session was taken over by a newer connection (`Core::attach`
    /// wakes this one for it): nothing more is handed over, the session is told to send
    /// DISCONNECT 0x8E and close (MQTT-3.1.4-3).
    pub(super) fn pump(&mut self, at: Instant) -> bool {
        let session = self.session.clone();
        let mut st = session.lock();
        if !st.owned_by(self.conn_id) && self.server.is_connected() {
            drop(st);
            self.close_with(Close::Server(ReasonCode::SessionTakenOver));
            self.drain_transmits();
            return true;
        }
        if st.overflowed && self.server.is_connected() {
            st.overflowed = false;
            drop(st);
            self.protocol_error(ReasonCode::QuotaExceeded, "queue overflow");
            st = session.lock();
        }
        drop(st);
        self.drain_transmits();
        let now = at.into_std();
        let mut popped = 0;
        'batches: loop {
            // A batch of deliveries is handed over under one lock of the shared queue;
            // nothing below takes that lock again. The batch is bounded so that
            // publishers on other threads do not wait behind a long encode.
            let mut st = session.lock();
            for _ in 0..PUMP_BATCH {
                if self.server.queued() == 0 {
                    // Handed over and not sent: dropped by the session (expired, or
                    // larger than the client's Maximum Packet Size, MQTT-3.1.2-25).
                    if let Some(d) = self.pending.take() {
                        self.unstore(&d);
                    }
                }
                if self.pending.is_some() {
                    break 'batches;
                }
                let Some(qos) = st.queue.front().map(|d| d.qos) else {
                    break 'batches;
                };
                if !self.server.ready_for_delivery(qos) {
                    break 'batches;
                }
                let Some(d) = st.queue.pop_front() else {
                    break 'batches;
                };
                st.queued_bytes -= d.msg.cost();
                popped += 1;
                if d.msg.expired(at) {
                    self.core.metrics.dropped(DropReason::Expired, 1);
                    self.unstore(&d);
                    continue;
                }
                if !self.may_deliver(&d.msg.topic) {
                    // CHECKLIST 19: ACLs are checked at every delivery.
                    self.core.metrics.dropped(DropReason::NotAuthorized, 1);
                    self.unstore(&d);
                    continue;
                }
                if qos == QoS::AtMostOnce && !self.server.version().is_v5() {
                    if let Some(wire) = d.msg.v3_qos0(d.retain) {
                        // MQTT 3 at QoS 0: the same bytes for every subscriber, encoded
                        // once per message; the session has nothing to track for them.
                        self.out.extend_from_slice(wire);
                        self.core.metrics.sent(QoS::AtMostOnce, d.msg.payload.len());
                        continue;
                    }
                }
                let _ = self.server.deliver(now, d.to_outgoing());
                self.pending = Some(d);
                self.drain_transmits();
            }
        }
        if popped > 0 {
            Metrics::gauge(&self.core.metrics.queued_messages, -popped);
        }
        self.count_drops();
        false
    }

    /// Encodes the session's packets, queueing before each the store operation that must
    /// be committed before it is written.
    fn drain_transmits(&mut self) {
        let version = self.server.version();
        let persistent = self.server.session_expiry_interval() > 0;
        while let Some(mut packet) = self.server.poll_transmit() {
            match &mut packet {
                Packet::Publish(p) => {
                    self.core.metrics.sent(p.qos, p.payload.len());
                    if let (Some(pid), false) = (p.packet_id, p.dup) {
                        // A first transmission is the message just handed over.
                        Metrics::gauge(&self.core.metrics.queued_messages, 1);
                        if let Some(id) = self.pending.take().and_then(|d| d.stored) {
                            let stored = self.stored.get_or_insert_with(Default::default);
                            stored.insert(pid, (id, p.qos));
                            let op = Op::MarkSent {
                                client_id: self.session.client_id.clone(),
                                message_id: id,
                                packet_id: pid,
                            };
                            if p.qos == QoS::ExactlyOnce {
                                // QoS 2: the id is durable before the PUBLISH is written,
                                // so a resend after a crash is not a second message.
                                self.persist.push(op);
                            } else {
                                // QoS 1: without the id a crash only makes the message be
                                // sent again as a new PUBLISH (at least once).
                                self.persist_later.push(op);
                            }
                        }
                    } else if p.packet_id.is_none() {
                        self.pending = None;
                    }
                }
                Packet::PubRel(r)
                    if self
                        .stored
                        .as_ref()
                        .is_some_and(|s| s.contains_key(&r.packet_id)) =>
                {
                    // "PUBREC received, PUBREL sent": committed before the PUBREL.
                    self.persist.push(Op::MarkReleased {
                        client_id: self.session.client_id.clone(),
                        packet_id: r.packet_id,
                    });
                }
                Packet::PubComp(r) if persistent && !r.reason.is_error() => {
                    // Forgotten before the PUBCOMP is written: the id may then be reused.
                    self.persist.push(Op::RemoveIncomingQos2 {
                        client_id: self.session.client_id.clone(),
                        packet_id: r.packet_id,
                    });
                }
                Packet::Disconnect(d) if d.properties.reason_string().is_none() => {
                    d.properties
                        .set(Property::ReasonString(reason_text(d.reason).into()));
                }
                _ => {}
            }
            // A PUBLISH is built from a checked message (a decoded PUBLISH, a validated
            // will or a broker message) plus the session's own fields: only its sizes
            // are checked again.
            let encoded = if let Packet::Publish(_) = packet {
                packet.encode_trusted(version, &mut self.out)
            } else {
                packet.encode(version, &mut self.out)
            };
            if let Err(e) = encoded {
                tracing::warn!(client = %self.session.client_id, error = %e, "cannot encode packet");
            }
        }
    }

    /// An outgoing QoS 1/2 message completed (or was refused by the client).
    pub(super) fn completed(&mut self, packet_id: petrel_codec::PacketId) {
        Metrics::gauge(&self.core.metrics.queued_messages, -1);
        // Most sessions hold no durable message: no hashing per acknowledgement then.
        let stored = match &mut self.stored {
            Some(s) if !s.is_empty() => s.remove(&packet_id),
            _ => None,
        };
        if let Some((id, qos)) = stored {
            if qos == QoS::ExactlyOnce {
                self.persist.push(Op::Complete {
                    client_id: self.session.client_id.clone(),
                    packet_id,
                });
            } else {
                // QoS 1: removed by message id (a primary-key delete, and cancelled with
                // its enqueue when that was not written yet); losing this only sends the
                // message once more.
                self.persist_later.push(Op::Dequeue {
                    client_id: self.session.client_id.clone(),
                    message_id: id,
                });
            }
        }
    }

    /// Removes a durable delivery that will not be sent from the store.
    fn unstore(&mut self, d: &Delivery) {
        if let Some(id) = d.stored {
            self.persist.push(Op::Dequeue {
                client_id: self.session.client_id.clone(),
                message_id: id,
            });
        }
    }

    /// Adds the session's new drops to the metrics.
    fn count_drops(&mut self) {
        let c = self.server.counters();
        let counts = [
            (
                DropReason::TooLarge,
                c.dropped_too_large - self.counted.dropped_too_large,
            ),
            (
                DropReason::QueueFull,
                c.dropped_queue_full - self.counted.dropped_queue_full,
            ),
            (
                DropReason::Expired,
                c.dropped_expired - self.counted.dropped_expired,
            ),
        ];
        for (reason, n) in counts {
            if n > 0 {
                tracing::debug!(client = %self.session.client_id, n, ?reason, "messages dropped by the session");
                self.core.metrics.dropped(reason, n);
            }
        }
        self.counted = c;
    }
}
