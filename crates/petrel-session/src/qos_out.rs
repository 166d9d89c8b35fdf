//! Outgoing QoS 1 and 2 flows (sections 4.3.2 and 4.3.3, sender side): the ordered in-flight
//! window and what each acknowledgement does to it.

use std::collections::VecDeque;

use petrel_codec::{PacketId, PubResp, QoS, ReasonCode};

use crate::error::ProtocolViolation;
use crate::ids::IdMap;
use crate::message::Message;

/// Where an outgoing QoS 1/2 message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutState {
    /// PUBLISH sent (or to be sent), awaiting PUBACK (QoS 1) or PUBREC (QoS 2).
    Published,
    /// PUBREC received and PUBREL sent, awaiting PUBCOMP (QoS 2).
    Released,
}

/// One outgoing QoS 1/2 message holding a packet identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InFlight {
    /// Its packet identifier.
    pub packet_id: PacketId,
    /// The message (full topic, no alias).
    pub message: Message,
    /// Its state.
    pub state: OutState,
    /// True once it went out on the current connection; resent entries start false.
    pub sent: bool,
    /// True once it went out on any connection: a PUBLISH sent again carries DUP.
    pub transmitted: bool,
}

/// What an acknowledgement did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AckOutcome {
    /// The message is complete (PUBACK success, PUBCOMP).
    Delivered(PacketId),
    /// The peer refused it (reason code >= 0x80 in PUBACK or PUBREC).
    Failed(PacketId, ReasonCode),
    /// PUBREC accepted: send this PUBREL.
    SendPubRel(PubResp),
    /// Nothing to do (unknown id, duplicate).
    Ignored,
}

/// The ordered window of outgoing messages holding packet identifiers: a ring of slots in
/// sending order (a completed entry leaves a hole until the ones before it complete) and an
/// index from packet identifier to slot. Nothing is allocated per message once the ring
/// has grown to the window.
#[derive(Debug, Clone, Default)]
pub(crate) struct OutFlight {
    /// Sequence number of `entries[0]`.
    base: u64,
    entries: VecDeque<Option<InFlight>>,
    index: IdMap<PacketId, u64>,
    live: usize,
    sent: usize,
}

impl OutFlight {
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// Entries sent on this connection and not yet complete (what counts against the
    /// peer's Receive Maximum).
    pub(crate) fn sent_count(&self) -> usize {
        self.sent
    }

    pub(crate) fn push(&mut self, entry: InFlight) {
        if entry.sent {
            self.sent += 1;
        }
        self.live += 1;
        let seq = self.base + self.entries.len() as u64;
        self.index.insert(entry.packet_id, seq);
        self.entries.push_back(Some(entry));
    }

    fn slot(&self, seq: u64) -> usize {
        usize::try_from(seq - self.base).unwrap_or(usize::MAX)
    }

    fn get_mut(&mut self, id: PacketId) -> Option<&mut InFlight> {
        let i = self.slot(*self.index.get(&id)?);
        self.entries.get_mut(i)?.as_mut()
    }

    /// True when `id` is held by an entry.
    pub(crate) fn contains(&self, id: PacketId) -> bool {
        self.index.contains_key(&id)
    }

    pub(crate) fn remove(&mut self, id: PacketId) -> Option<InFlight> {
        let seq = self.index.remove(&id)?;
        self.take_slot(seq)
    }

    /// Takes the entry at sequence number `seq`, whose index entry is already removed.
    fn take_slot(&mut self, seq: u64) -> Option<InFlight> {
        let i = self.slot(seq);
        let e = self.entries.get_mut(i)?.take()?;
        self.live -= 1;
        if e.sent {
            self.sent -= 1;
        }
        while let Some(None) = self.entries.front() {
            self.entries.pop_front();
            self.base += 1;
        }
        // A peer acknowledging all but the oldest message would leave ever more holes:
        // close them once they outnumber the entries (amortised O(1) per message).
        if self.entries.len() > 2 * self.live + 32 {
            self.compact();
        }
        Some(e)
    }

    /// Drops the holes and renumbers the entries from `base`.
    fn compact(&mut self) {
        self.entries.retain(Option::is_some);
        for (i, e) in self.entries.iter().flatten().enumerate() {
            self.index.insert(e.packet_id, self.base + i as u64);
        }
    }

    /// Marks every entry unsent (connection lost): they are resent in order on the next one.
    pub(crate) fn mark_all_unsent(&mut self) {
        for e in self.entries.iter_mut().flatten() {
            e.sent = false;
        }
        self.sent = 0;
    }

    /// The oldest entry not yet sent on this connection, marked sent. The copy returned has
    /// `transmitted` as it was before: true means a resend (MQTT-4.4.0-1: DUP set, original
    /// id, original order).
    pub(crate) fn next_unsent(&mut self) -> Option<InFlight> {
        if !self.has_unsent() {
            return None;
        }
        let e = self.entries.iter_mut().flatten().find(|e| !e.sent)?;
        let copy = e.clone();
        e.sent = true;
        e.transmitted = true;
        self.sent += 1;
        Some(copy)
    }

    pub(crate) fn has_unsent(&self) -> bool {
        self.sent < self.live
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &InFlight> {
        self.entries.iter().flatten()
    }

    /// Removes every entry, in order.
    pub(crate) fn drain(&mut self) -> Vec<InFlight> {
        self.index.clear();
        self.sent = 0;
        self.live = 0;
        self.base = 0;
        std::mem::take(&mut self.entries)
            .into_iter()
            .flatten()
            .collect()
    }

    /// PUBACK received (QoS 1 complete, section 4.3.2).
    pub(crate) fn on_puback(&mut self, ack: &PubResp) -> Result<AckOutcome, ProtocolViolation> {
        let id = ack.packet_id;
        // One index lookup for the common case: the entry is taken out, or put back
        // when the acknowledgement does not fit it.
        let Some(seq) = self.index.remove(&id) else {
            return Ok(AckOutcome::Ignored);
        };
        let qos = self
            .entries
            .get(self.slot(seq))
            .and_then(Option::as_ref)
            .map(|e| e.message.qos);
        if qos != Some(QoS::AtLeastOnce) {
            self.index.insert(id, seq);
            return match qos {
                None => Ok(AckOutcome::Ignored),
                Some(_) => Err(ProtocolViolation::protocol(
                    "MQTT-4.3.2-1",
                    "PUBACK for a message that is not QoS 1",
                )),
            };
        }
        self.take_slot(seq);
        Ok(if ack.reason.is_error() {
            AckOutcome::Failed(id, ack.reason)
        } else {
            AckOutcome::Delivered(id)
        })
    }

    /// PUBREC received (QoS 2 first half, section 4.3.3, MQTT-4.3.3-3/-4).
    pub(crate) fn on_pubrec(&mut self, rec: &PubResp) -> Result<AckOutcome, ProtocolViolation> {
        let id = rec.packet_id;
        match self.get_mut(id) {
            None => Ok(AckOutcome::SendPubRel(PubResp {
                reason: ReasonCode::PacketIdentifierNotFound,
                ..PubResp::new(id)
            })),
            Some(e) if e.message.qos != QoS::ExactlyOnce => Err(ProtocolViolation::protocol(
                "MQTT-4.3.3-1",
                "PUBREC for a message that is not QoS 2",
            )),
            Some(_) if rec.reason.is_error() => {
                self.remove(id);
                Ok(AckOutcome::Failed(id, rec.reason))
            }
            Some(e) => {
                e.state = OutState::Released;
                Ok(AckOutcome::SendPubRel(PubResp::new(id)))
            }
        }
    }

    /// PUBCOMP received (QoS 2 complete, MQTT-4.3.3-5).
    pub(crate) fn on_pubcomp(&mut self, comp: &PubResp) -> AckOutcome {
        let id = comp.packet_id;
        match self.get_mut(id) {
            Some(e) if e.state == OutState::Released => {
                self.remove(id);
                AckOutcome::Delivered(id)
            }
            _ => AckOutcome::Ignored,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u16) -> PacketId {
        PacketId::new(n).unwrap_or(PacketId::MIN)
    }

    fn entry(n: u16) -> InFlight {
        InFlight {
            packet_id: id(n),
            message: Message::new(
                "t",
                vec![u8::try_from(n % 256).unwrap_or(0)],
                QoS::AtLeastOnce,
            ),
            state: OutState::Published,
            sent: true,
            transmitted: true,
        }
    }

    fn puback(n: u16) -> PubResp {
        PubResp::new(id(n))
    }

    // MQTT-4.6.0-1: resent in the original order, whatever order the acknowledgements came in.
    #[test]
    fn out_of_order_acks_keep_order_mqtt_4_6_0_1() {
        let mut w = OutFlight::default();
        for n in 1..=5 {
            w.push(entry(n));
        }
        assert_eq!(w.on_puback(&puback(3)), Ok(AckOutcome::Delivered(id(3))));
        assert_eq!(w.on_puback(&puback(1)), Ok(AckOutcome::Delivered(id(1))));
        assert_eq!(w.on_puback(&puback(1)), Ok(AckOutcome::Ignored));
        assert_eq!((w.len(), w.sent_count()), (3, 3));
        w.mark_all_unsent();
        let order: Vec<u16> = std::iter::from_fn(|| w.next_unsent())
            .map(|e| e.packet_id.get())
            .collect();
        assert_eq!(order, vec![2, 4, 5]);
        let ids: Vec<u16> = w.drain().iter().map(|e| e.packet_id.get()).collect();
        assert_eq!(ids, vec![2, 4, 5]);
        assert_eq!(w.len(), 0);
    }

    /// A peer that never acknowledges the oldest message while acknowledging every later
    /// one must not make the window grow: the holes are closed.
    #[test]
    fn holes_behind_an_unacknowledged_message_stay_bounded() {
        let mut w = OutFlight::default();
        w.push(entry(1));
        for round in 0..10_000u32 {
            let n = u16::try_from(round % 60_000).unwrap_or(0) + 2;
            w.push(entry(n));
            assert_eq!(w.on_puback(&puback(n)), Ok(AckOutcome::Delivered(id(n))));
            assert!(w.entries.len() <= 2 * w.len() + 33);
        }
        assert_eq!(w.len(), 1);
        w.push(entry(7));
        assert_eq!(w.on_puback(&puback(1)), Ok(AckOutcome::Delivered(id(1))));
        let ids: Vec<u16> = w.iter().map(|e| e.packet_id.get()).collect();
        assert_eq!(ids, vec![7]);
    }
}
