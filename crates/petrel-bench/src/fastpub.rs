//! A minimal parse of the PUBLISH frames a subscriber receives, for the hot path.
//!
//! [`peek`] looks at the front of the read buffer and recognises only the plain case: a
//! complete PUBLISH frame with valid flags, a canonical remaining length, a non-zero packet
//! identifier at QoS 1 and 2, and (MQTT 5) no properties. It borrows the topic and payload
//! in place: no allocation, no reference counting, nothing consumed. Anything else (another
//! packet type, properties, an incomplete frame, a malformed one) gives `None`, and the
//! caller decodes the frame with `petrel-codec` as before, so errors and unusual frames are
//! handled exactly as the full decoder handles them. The caller also falls back to the full
//! decoder when the topic is not the one it expects, since only the full decoder checks a
//! topic's UTF-8; the expected topics are valid, so a frame accepted here is one the full
//! decoder would accept with the same topic, QoS, packet identifier and payload.

use std::ops::Range;

use petrel_codec::{PacketId, QoS};

/// A PUBLISH frame found at the front of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FastPublish {
    /// Bytes the whole frame takes (fixed header included).
    pub len: usize,
    /// The frame's QoS.
    pub qos: QoS,
    /// Packet identifier (QoS 1 and 2).
    pub packet_id: Option<PacketId>,
    /// Where the topic name lies in the buffer.
    pub topic: Range<usize>,
    /// Where the payload lies in the buffer.
    pub payload: Range<usize>,
}

/// Reads the remaining length at `buf[1..]`: (value, bytes taken). `None` when incomplete,
/// longer than 4 bytes, or not in its shortest form (left to the full decoder).
fn remaining_length(buf: &[u8]) -> Option<(usize, usize)> {
    let b1 = *buf.get(1)?;
    if b1 & 0x80 == 0 {
        // The common case: a frame under 128 bytes.
        return Some((usize::from(b1), 1));
    }
    let mut value = 0usize;
    for (i, &b) in buf.iter().skip(1).take(4).enumerate() {
        value |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            if b == 0 && i > 0 {
                return None;
            }
            return Some((value, i + 1));
        }
    }
    None
}

/// The plain PUBLISH frame at the front of `buf`, if there is one (see the module docs).
pub(crate) fn peek(buf: &[u8], v5: bool) -> Option<FastPublish> {
    let first = *buf.first()?;
    if first >> 4 != 3 {
        return None;
    }
    let qos = match (first >> 1) & 3 {
        0 if first & 0x08 == 0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        2 => QoS::ExactlyOnce,
        _ => return None,
    };
    let (remaining, len_bytes) = remaining_length(buf)?;
    let body_start = 1 + len_bytes;
    let len = body_start.checked_add(remaining)?;
    let body = buf.get(body_start..len)?;
    let topic_len = usize::from(u16::from_be_bytes([*body.first()?, *body.get(1)?]));
    let topic = 2..2 + topic_len;
    let mut at = topic.end;
    let packet_id = if qos == QoS::AtMostOnce {
        None
    } else {
        let id = u16::from_be_bytes([*body.get(at)?, *body.get(at + 1)?]);
        at += 2;
        Some(PacketId::new(id)?)
    };
    if v5 {
        if *body.get(at)? != 0 {
            return None;
        }
        at += 1;
    }
    if at > body.len() {
        return None;
    }
    Some(FastPublish {
        len,
        qos,
        packet_id,
        topic: body_start + topic.start..body_start + topic.end,
        payload: body_start + at..len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{Bytes, BytesMut};
    use petrel_codec::{ByteString, Packet, Properties, Property, ProtocolVersion, Publish};

    fn encode(p: &Publish, version: ProtocolVersion) -> BytesMut {
        let mut buf = BytesMut::new();
        Packet::Publish(p.clone())
            .encode(version, &mut buf)
            .expect("encodes");
        buf
    }

    fn publish(qos: QoS, id: u16, payload_len: usize) -> Publish {
        Publish {
            dup: false,
            qos,
            retain: false,
            topic: ByteString::from("bench/t0"),
            packet_id: PacketId::new(id),
            properties: Properties::new(),
            payload: Bytes::from(vec![7u8; payload_len]),
        }
    }

    /// Whatever `peek` accepts, the full decoder decodes to the same fields.
    fn agrees_with_codec(buf: &BytesMut, version: ProtocolVersion) -> Option<FastPublish> {
        let f = peek(buf, version.is_v5())?;
        let mut copy = buf.clone();
        let Some(Packet::Publish(p)) =
            petrel_codec::decode(&mut copy, version, u32::MAX).expect("valid frame")
        else {
            panic!("codec did not decode a PUBLISH");
        };
        assert_eq!(copy.len(), buf.len() - f.len, "same frame length");
        assert_eq!(&buf[f.topic.clone()], p.topic.as_bytes());
        assert_eq!(&buf[f.payload.clone()], &p.payload[..]);
        assert_eq!((f.qos, f.packet_id), (p.qos, p.packet_id));
        Some(f)
    }

    #[test]
    fn plain_frames_match_the_full_decoder() {
        for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
            for (qos, id) in [
                (QoS::AtMostOnce, 0),
                (QoS::AtLeastOnce, 9),
                (QoS::ExactlyOnce, 65_535),
            ] {
                // Payload sizes around the 1-, 2- and 3-byte remaining-length boundaries.
                for n in [0, 28, 100, 117, 118, 200, 16_370, 16_400, 70_000] {
                    let buf = encode(&publish(qos, id, n), version);
                    assert!(agrees_with_codec(&buf, version).is_some(), "{qos:?} {n}");
                }
            }
        }
    }

    #[test]
    fn incomplete_frames_and_other_packets_are_left_to_the_decoder() {
        let buf = encode(&publish(QoS::AtMostOnce, 0, 64), ProtocolVersion::V3_1_1);
        for cut in 0..buf.len() {
            assert_eq!(peek(&buf[..cut], false), None, "cut at {cut}");
        }
        let mut two = buf.clone();
        two.extend_from_slice(&buf);
        assert_eq!(peek(&two, false).map(|f| f.len), Some(buf.len()));
        assert_eq!(peek(&[0xd0, 0x00], false), None, "PINGRESP");
        assert_eq!(peek(&[0x62, 0x02, 0x00, 0x01], false), None, "PUBREL");
    }

    #[test]
    fn unusual_or_malformed_frames_are_left_to_the_decoder() {
        // MQTT-3.3.1-2: DUP must be 0 at QoS 0; MQTT-3.3.1-4: QoS 3 is malformed.
        assert_eq!(peek(&[0x38, 0x03, 0x00, 0x01, b'a'], false), None);
        assert_eq!(peek(&[0x36, 0x03, 0x00, 0x01, b'a'], false), None);
        // MQTT-2.2.1-3: a QoS 1 PUBLISH needs a non-zero packet identifier.
        assert_eq!(peek(&[0x32, 0x05, 0x00, 0x01, b'a', 0, 0], false), None);
        // Remaining length not in its shortest form, or longer than 4 bytes.
        assert_eq!(peek(&[0x30, 0x83, 0x00, 0x00, 0x01, b'a'], false), None);
        assert_eq!(peek(&[0x30, 0xff, 0xff, 0xff, 0xff, 0x01], false), None);
        // Topic length beyond the frame.
        assert_eq!(peek(&[0x30, 0x03, 0x00, 0x05, b'a'], false), None);
        // MQTT 5 with properties: the full decoder handles them.
        let mut p = publish(QoS::AtMostOnce, 0, 40);
        p.properties = Properties::new().with(Property::MessageExpiryInterval(5));
        let buf = encode(&p, ProtocolVersion::V5);
        assert_eq!(peek(&buf, true), None);
        // MQTT 5 frame without the property length byte.
        assert_eq!(peek(&[0x30, 0x03, 0x00, 0x01, b'a'], true), None);
    }
}
