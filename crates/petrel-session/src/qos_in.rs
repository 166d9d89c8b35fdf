//! Incoming QoS 1 and 2 flows (sections 4.3.2 and 4.3.3, receiver side): acknowledgements
//! owed to the peer and QoS 2 de-duplication until PUBREL.

use petrel_codec::{PacketId, PubResp, QoS, ReasonCode};

use crate::ids::{IdMap, IdSet};
use crate::message::PendingAck;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Qos2 {
    /// Handed to the application, PUBREC not yet sent.
    AckPending,
    /// PUBREC sent, awaiting PUBREL.
    Received,
}

/// What to do with an incoming PUBLISH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Inbound {
    /// A new message: hand it to the application with this pending acknowledgement.
    Deliver(Option<PendingAck>),
    /// A QoS 2 duplicate of a message already delivered (MQTT-4.3.3-10): do not deliver;
    /// send this PUBREC again if there is one.
    Duplicate(Option<PubResp>),
    /// Accepting it would exceed our Receive Maximum (0x93, MQTT-3.3.4-7 ff.).
    OverLimit,
}

/// Incoming acknowledgement bookkeeping.
#[derive(Debug, Clone, Default)]
pub(crate) struct InFlightIn {
    qos1: IdSet<PacketId>,
    qos2: IdMap<PacketId, Qos2>,
}

impl InFlightIn {
    /// Restores QoS 2 ids awaiting PUBREL from saved state (PUBREC counts as sent).
    pub(crate) fn restore(ids: &[PacketId]) -> Self {
        Self {
            qos1: IdSet::default(),
            qos2: ids.iter().map(|id| (*id, Qos2::Received)).collect(),
        }
    }

    /// QoS 2 ids not yet released, for saved state. Ids whose acknowledgement was still
    /// pending are included: the message was delivered, a resend must not deliver it again.
    pub(crate) fn qos2_ids(&self) -> Vec<PacketId> {
        let mut v: Vec<PacketId> = self.qos2.keys().copied().collect();
        v.sort_unstable();
        v
    }

    /// Forgets QoS 1 acknowledgements owed (the connection is gone; the peer resends).
    pub(crate) fn connection_lost(&mut self) {
        self.qos1.clear();
        for s in self.qos2.values_mut() {
            *s = Qos2::Received;
        }
    }

    /// Messages counted against our Receive Maximum.
    pub(crate) fn len(&self) -> usize {
        self.qos1.len() + self.qos2.len()
    }

    pub(crate) fn on_publish(&mut self, qos: QoS, id: Option<PacketId>, limit: usize) -> Inbound {
        let Some(id) = id else {
            return Inbound::Deliver(None);
        };
        match qos {
            QoS::AtMostOnce => Inbound::Deliver(None),
            QoS::AtLeastOnce => {
                if !self.qos1.contains(&id) && self.len() >= limit {
                    return Inbound::OverLimit;
                }
                self.qos1.insert(id);
                Inbound::Deliver(Some(PendingAck { packet_id: id, qos }))
            }
            QoS::ExactlyOnce => match self.qos2.get(&id) {
                Some(Qos2::Received) => Inbound::Duplicate(Some(PubResp::new(id))),
                Some(Qos2::AckPending) => Inbound::Duplicate(None),
                None if self.len() >= limit => Inbound::OverLimit,
                None => {
                    self.qos2.insert(id, Qos2::AckPending);
                    Inbound::Deliver(Some(PendingAck { packet_id: id, qos }))
                }
            },
        }
    }

    /// The application acknowledged a message: the PUBACK or PUBREC to send, if still owed.
    /// A QoS 2 refusal (reason >= 0x80) releases the id at once.
    pub(crate) fn ack(&mut self, ack: PendingAck, reason: ReasonCode) -> Option<PubResp> {
        let id = ack.packet_id;
        let resp = PubResp {
            reason,
            ..PubResp::new(id)
        };
        match ack.qos {
            QoS::AtLeastOnce => self.qos1.remove(&id).then_some(resp),
            QoS::ExactlyOnce => match self.qos2.get(&id) {
                Some(Qos2::AckPending) if reason.is_error() => {
                    self.qos2.remove(&id);
                    Some(resp)
                }
                Some(Qos2::AckPending) => {
                    self.qos2.insert(id, Qos2::Received);
                    Some(resp)
                }
                _ => None,
            },
            QoS::AtMostOnce => None,
        }
    }

    /// PUBREL received: the PUBCOMP to send (0x92 when the id is unknown, MQTT-4.3.3-11 ff.).
    /// After it the id is free: a new PUBLISH with it is a new message.
    pub(crate) fn on_pubrel(&mut self, id: PacketId) -> PubResp {
        match self.qos2.get(&id) {
            Some(Qos2::Received) => {
                self.qos2.remove(&id);
                PubResp::new(id)
            }
            // The application has not acknowledged yet: we never sent PUBREC, so the peer
            // should not release. Keep the message and answer as unknown.
            Some(Qos2::AckPending) | None => PubResp {
                reason: ReasonCode::PacketIdentifierNotFound,
                ..PubResp::new(id)
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u16) -> PacketId {
        PacketId::new(n).unwrap_or(PacketId::MIN)
    }

    #[test]
    fn qos2_dedup_until_pubrel_mqtt_4_3_3_10() {
        let mut s = InFlightIn::default();
        let Inbound::Deliver(Some(ack)) = s.on_publish(QoS::ExactlyOnce, Some(id(7)), 10) else {
            panic!("first copy must be delivered")
        };
        assert_eq!(
            s.on_publish(QoS::ExactlyOnce, Some(id(7)), 10),
            Inbound::Duplicate(None)
        );
        assert!(s.ack(ack, ReasonCode::Success).is_some());
        assert_eq!(
            s.on_publish(QoS::ExactlyOnce, Some(id(7)), 10),
            Inbound::Duplicate(Some(PubResp::new(id(7))))
        );
        assert_eq!(s.on_pubrel(id(7)).reason, ReasonCode::Success);
        assert_eq!(
            s.on_pubrel(id(7)).reason,
            ReasonCode::PacketIdentifierNotFound
        );
        assert!(matches!(
            s.on_publish(QoS::ExactlyOnce, Some(id(7)), 10),
            Inbound::Deliver(_)
        ));
    }

    #[test]
    fn bounded_by_receive_maximum_mqtt_3_3_4_7() {
        let mut s = InFlightIn::default();
        assert!(matches!(
            s.on_publish(QoS::ExactlyOnce, Some(id(1)), 2),
            Inbound::Deliver(_)
        ));
        assert!(matches!(
            s.on_publish(QoS::AtLeastOnce, Some(id(2)), 2),
            Inbound::Deliver(_)
        ));
        assert_eq!(
            s.on_publish(QoS::ExactlyOnce, Some(id(3)), 2),
            Inbound::OverLimit
        );
        assert_eq!(s.len(), 2);
    }
}
