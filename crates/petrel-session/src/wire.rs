//! Byte-level plumbing shared by both sides: the receive buffer and the encoding of
//! queued packets within the peer's maximum packet size.

use bytes::BytesMut;
use petrel_codec::{EncodeError, Packet, Properties, ProtocolVersion};

use crate::error::ProtocolViolation;

/// The receive buffer of one connection.
#[derive(Debug, Default)]
pub(crate) struct RxBuffer {
    buf: BytesMut,
}

impl RxBuffer {
    pub(crate) fn extend(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn clear(&mut self) {
        self.buf = BytesMut::new();
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Decodes the next complete packet, if any.
    pub(crate) fn next(
        &mut self,
        version: ProtocolVersion,
        max_packet_size: u32,
    ) -> Result<Option<Packet>, ProtocolViolation> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        petrel_codec::decode(&mut self.buf, version, max_packet_size)
            .map_err(|e| ProtocolViolation::new(e.reason_code(), e.normative_id(), e.to_string()))
    }
}

/// Makes `packet` fit in `max` bytes if it can: properties that may be left out (reason
/// string, user properties) are removed (MQTT-3.1.2-24/-25 for PUBLISH are handled by the
/// callers). Returns `None` when it cannot fit.
pub(crate) fn fit(packet: Packet, version: ProtocolVersion, max: u32) -> Option<Packet> {
    let max = usize::try_from(max).unwrap_or(usize::MAX);
    if packet.encoded_len(version).ok()? <= max {
        return Some(packet);
    }
    let mut p = packet;
    let props: Option<&mut Properties> = match &mut p {
        Packet::ConnAck(c) => Some(&mut c.properties),
        Packet::PubAck(r) | Packet::PubRec(r) | Packet::PubRel(r) | Packet::PubComp(r) => {
            Some(&mut r.properties)
        }
        Packet::SubAck(s) => Some(&mut s.properties),
        Packet::UnsubAck(u) => Some(&mut u.properties),
        Packet::Disconnect(d) => Some(&mut d.properties),
        Packet::Auth(a) => Some(&mut a.properties),
        _ => None,
    };
    let props = props?;
    props.remove(petrel_codec::PropertyId::ReasonString);
    props.remove(petrel_codec::PropertyId::UserProperty);
    (p.encoded_len(version).ok()? <= max).then_some(p)
}

/// The client asked for no problem information (Request Problem Information 0): no Reason
/// String or User Property in packets other than PUBLISH, CONNACK and DISCONNECT
/// (MQTT-3.1.2-29).
pub(crate) fn strip_problem_info(p: &mut Packet) {
    let props = match p {
        Packet::PubAck(r) | Packet::PubRec(r) | Packet::PubRel(r) | Packet::PubComp(r) => {
            &mut r.properties
        }
        Packet::SubAck(s) => &mut s.properties,
        Packet::UnsubAck(u) => &mut u.properties,
        Packet::Auth(a) => &mut a.properties,
        _ => return,
    };
    props.remove(petrel_codec::PropertyId::ReasonString);
    props.remove(petrel_codec::PropertyId::UserProperty);
}

/// Encodes packets pulled from `next` into `buf`; returns how many were written. With
/// `trusted_publish`, PUBLISH packets are written without checking their content again
/// (`Packet::encode_trusted`): the server builds them from messages whose topic and
/// properties were checked when they arrived.
pub(crate) fn encode_all(
    version: ProtocolVersion,
    buf: &mut BytesMut,
    trusted_publish: bool,
    mut next: impl FnMut() -> Option<Packet>,
) -> Result<usize, EncodeError> {
    let mut n = 0;
    while let Some(p) = next() {
        match &p {
            Packet::Publish(_) if trusted_publish => p.encode_trusted(version, buf)?,
            _ => p.encode(version, buf)?,
        }
        n += 1;
    }
    Ok(n)
}
