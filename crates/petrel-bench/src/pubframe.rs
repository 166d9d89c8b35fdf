//! The PUBLISH frame a publisher sends, encoded once and patched per message.
//!
//! Every message of a publisher has the same topic, QoS, flags and payload length, so its
//! whole frame is the same but for the packet identifier and the payload header. The
//! template is encoded by `petrel-codec` once; each message copies it to the write buffer
//! and overwrites those two fields in place, instead of building a `Publish` (with its
//! reference-counted topic and payload) and validating and encoding it again.

use bytes::{BufMut, Bytes, BytesMut};
use petrel_codec::{ByteString, Packet, PacketId, Properties, ProtocolVersion, Publish, QoS};

use crate::payload::{Header, HEADER_LEN};

/// One publisher's encoded PUBLISH frame, ready to be patched.
pub(crate) struct FrameTemplate {
    frame: Vec<u8>,
    /// Where the packet identifier lies (QoS 1 and 2).
    packet_id_at: Option<usize>,
    /// Where the payload starts.
    payload_at: usize,
}

impl FrameTemplate {
    /// Encodes the frame of a `payload_len`-byte message on `topic` at `qos`.
    pub fn new(
        version: ProtocolVersion,
        topic: &str,
        qos: QoS,
        payload_len: usize,
    ) -> Result<Self, petrel_codec::EncodeError> {
        let packet_id = if qos == QoS::AtMostOnce {
            None
        } else {
            PacketId::new(1)
        };
        let mut buf = BytesMut::new();
        Packet::Publish(Publish {
            dup: false,
            qos,
            retain: false,
            topic: ByteString::from(topic),
            packet_id,
            properties: Properties::new(),
            payload: Bytes::from(vec![b'.'; payload_len]),
        })
        .encode(version, &mut buf)?;
        let frame = buf.to_vec();
        let payload_at = frame.len() - payload_len;
        // The packet identifier comes just before the properties (MQTT 5: one byte, their
        // length, 0 here) and the payload.
        let props = usize::from(version.is_v5());
        let packet_id_at = packet_id.map(|_| payload_at - props - 2);
        Ok(Self {
            frame,
            packet_id_at,
            payload_at,
        })
    }

    /// Appends the frame of one message to `out`: `packet_id` (ignored at QoS 0) and the
    /// payload header patched in.
    pub fn put(&self, out: &mut BytesMut, packet_id: Option<PacketId>, header: &Header) {
        let start = out.len();
        out.put_slice(&self.frame);
        let frame = &mut out[start..];
        if let (Some(at), Some(id)) = (self.packet_id_at, packet_id) {
            if let Some(slot) = frame.get_mut(at..at + 2) {
                slot.copy_from_slice(&id.get().to_be_bytes());
            }
        }
        if let Some(payload) = frame.get_mut(self.payload_at..) {
            if payload.len() >= HEADER_LEN {
                header.write(payload);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patched_frames_decode_to_the_message_meant() {
        for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
            for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
                for len in [HEADER_LEN, 64, 200, 20_000] {
                    let t = FrameTemplate::new(version, "bench/x/3", qos, len).expect("encodes");
                    let mut out = BytesMut::new();
                    let mut wanted = Vec::new();
                    for (i, id) in [7u16, 65_535].into_iter().enumerate() {
                        let h = Header {
                            run_id: 42,
                            publisher: 3,
                            seq: i as u64,
                            sent_ns: 1_000 + i as u64,
                        };
                        let id = PacketId::new(id).filter(|_| qos != QoS::AtMostOnce);
                        t.put(&mut out, id, &h);
                        wanted.push((id, h));
                    }
                    for (id, h) in wanted {
                        let Some(Packet::Publish(p)) =
                            petrel_codec::decode(&mut out, version, u32::MAX).expect("valid")
                        else {
                            panic!("not a PUBLISH");
                        };
                        assert_eq!((p.qos, p.packet_id, &*p.topic), (qos, id, "bench/x/3"));
                        assert_eq!(p.payload.len(), len);
                        assert_eq!(Header::parse(&p.payload), Some(h));
                        assert!(p.payload[HEADER_LEN..].iter().all(|&b| b == b'.'));
                    }
                    assert!(out.is_empty());
                }
            }
        }
    }
}
