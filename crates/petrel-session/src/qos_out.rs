//! Outgoing QoS 1 and 2 flows (sections 4.3.2 and 4.3.3, sender side): the ordered in-flight
//! window and what each acknowledgement does to it.

use std::collections::BTreeMap;

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

/// The ordered window of outgoing messages holding packet identifiers.
#[derive(Debug, Clone, Default)]
pub(crate) struct OutFlight {
    seq: u64,
    entries: BTreeMap<u64, InFlight>,
    index: IdMap<PacketId, u64>,
    sent: usize,
}

impl OutFlight {
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Entries sent on this connection and not yet complete (what counts against the
    /// peer's Receive Maximum).
    pub(crate) fn sent_count(&self) -> usize {
        self.sent
    }

    pub(crate) fn push(&mut self, entry: InFlight) {
        self.seq += 1;
        if entry.sent {
            self.sent += 1;
        }
        self.index.insert(entry.packet_id, self.seq);
        self.entries.insert(self.seq, entry);
    }

    fn get_mut(&mut self, id: PacketId) -> Option<&mut InFlight> {
        let seq = self.index.get(&id)?;
        self.entries.get_mut(seq)
    }

    pub(crate) fn remove(&mut self, id: PacketId) -> Option<InFlight> {
        let seq = self.index.remove(&id)?;
        let e = self.entries.remove(&seq)?;
        if e.sent {
            self.sent -= 1;
        }
        Some(e)
    }

    /// Marks every entry unsent (connection lost): they are resent in order on the next one.
    pub(crate) fn mark_all_unsent(&mut self) {
        for e in self.entries.values_mut() {
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
        let e = self.entries.values_mut().find(|e| !e.sent)?;
        let copy = e.clone();
        e.sent = true;
        e.transmitted = true;
        self.sent += 1;
        Some(copy)
    }

    pub(crate) fn has_unsent(&self) -> bool {
        self.sent < self.entries.len()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &InFlight> {
        self.entries.values()
    }

    /// Removes every entry, in order.
    pub(crate) fn drain(&mut self) -> Vec<InFlight> {
        self.index.clear();
        self.sent = 0;
        std::mem::take(&mut self.entries).into_values().collect()
    }

    /// PUBACK received (QoS 1 complete, section 4.3.2).
    pub(crate) fn on_puback(&mut self, ack: &PubResp) -> Result<AckOutcome, ProtocolViolation> {
        let id = ack.packet_id;
        match self.get_mut(id) {
            None => Ok(AckOutcome::Ignored),
            Some(e) if e.message.qos != QoS::AtLeastOnce => Err(ProtocolViolation::protocol(
                "MQTT-4.3.2-1",
                "PUBACK for a message that is not QoS 1",
            )),
            Some(_) => {
                self.remove(id);
                Ok(if ack.reason.is_error() {
                    AckOutcome::Failed(id, ack.reason)
                } else {
                    AckOutcome::Delivered(id)
                })
            }
        }
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
