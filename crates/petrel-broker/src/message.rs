//! The application message as it travels through the broker: built once per PUBLISH,
//! shared by reference between every subscriber queue (the payload is never copied).

use std::sync::{Arc, OnceLock};

use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use petrel_codec::{Packet, Properties, PropertyId, ProtocolVersion, Publish, QoS};
use tokio::time::Instant;

/// One published message.
#[derive(Debug, Clone)]
pub(crate) struct Message {
    /// Topic name.
    pub topic: ByteString,
    /// Payload, shared.
    pub payload: Bytes,
    /// QoS it was published with.
    pub qos: QoS,
    /// RETAIN flag it was published with.
    pub retain: bool,
    /// Properties forwarded to subscribers (payload format, content type, response topic,
    /// correlation data, user properties). Never topic alias, subscription ids or expiry.
    pub properties: Properties,
    /// When the message expires (MQTT 5 Message Expiry Interval).
    pub expires_at: Option<Instant>,
    /// Client id of the publisher, for No Local; `None` for broker messages.
    pub origin: Option<ByteString>,
    /// The MQTT 3 QoS 0 PUBLISH of this message, by RETAIN flag: see [`Self::v3_qos0`].
    v3_qos0: [OnceLock<Option<Bytes>>; 2],
}

impl Message {
    /// Builds a message from a PUBLISH's parts, keeping only properties that travel.
    pub fn new(
        topic: ByteString,
        payload: Bytes,
        qos: QoS,
        retain: bool,
        props: &Properties,
        now: Instant,
        origin: Option<ByteString>,
    ) -> Arc<Self> {
        let expires_at = props
            .message_expiry_interval()
            .map(|s| now + std::time::Duration::from_secs(u64::from(s)));
        let mut properties = Properties::new();
        for p in &props.0 {
            match p.id() {
                PropertyId::PayloadFormatIndicator
                | PropertyId::ContentType
                | PropertyId::ResponseTopic
                | PropertyId::CorrelationData
                | PropertyId::UserProperty => properties.0.push(p.clone()),
                _ => {}
            }
        }
        Arc::new(Self {
            topic,
            payload,
            qos,
            retain,
            properties,
            expires_at,
            origin,
            v3_qos0: Default::default(),
        })
    }

    /// This message as an MQTT 3.1/3.1.1 QoS 0 PUBLISH with the given RETAIN flag, encoded
    /// on first use and then copied as is to every subscriber that receives it that way:
    /// such a packet has no packet id, properties, alias or any other per-subscriber field.
    /// `None` when it cannot be encoded (the caller then goes through the session).
    pub fn v3_qos0(&self, retain: bool) -> Option<&Bytes> {
        self.v3_qos0[usize::from(retain)]
            .get_or_init(|| {
                let publish = Publish {
                    dup: false,
                    qos: QoS::AtMostOnce,
                    retain,
                    topic: self.topic.clone(),
                    packet_id: None,
                    properties: Properties::new(),
                    payload: self.payload.clone(),
                };
                // Fixed header (at most 5 bytes), topic length (2), topic, payload.
                let len = 7 + self.topic.len() + self.payload.len();
                let mut buf = BytesMut::with_capacity(len);
                // The topic and payload are those of a checked message.
                Packet::Publish(publish)
                    .encode_trusted(ProtocolVersion::V3_1_1, &mut buf)
                    .ok()?;
                Some(buf.freeze())
            })
            .as_ref()
    }

    /// True when the message has expired at `now`.
    pub fn expired(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }

    /// Bytes this message is charged for in a queue.
    pub fn cost(&self) -> usize {
        self.payload.len() + self.topic.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use petrel_codec::{Packet, ProtocolVersion, QoS};

    /// The shared MQTT 3 QoS 0 bytes decode to the message with DUP 0 (MQTT-3.3.1-2), no
    /// packet id and the RETAIN flag asked for, for both MQTT 3.1 and 3.1.1.
    #[test]
    fn v3_qos0_wire_is_the_publish_mqtt_3_3_1_2() {
        let msg = Message::new(
            "a/b".into(),
            Bytes::from_static(b"hello"),
            QoS::AtLeastOnce,
            true,
            &Properties::new(),
            Instant::now(),
            None,
        );
        for retain in [false, true] {
            let wire = msg.v3_qos0(retain).expect("encodes").clone();
            assert!(std::ptr::eq(
                msg.v3_qos0(retain).unwrap(),
                msg.v3_qos0(retain).unwrap()
            ));
            for version in [ProtocolVersion::V3_1, ProtocolVersion::V3_1_1] {
                let mut buf = BytesMut::from(&wire[..]);
                let Some(Packet::Publish(p)) =
                    petrel_codec::decode(&mut buf, version, u32::MAX).expect("decodes")
                else {
                    panic!("not a PUBLISH");
                };
                assert!(buf.is_empty());
                assert_eq!(&*p.topic, "a/b");
                assert_eq!(&p.payload[..], b"hello");
                assert_eq!(p.qos, QoS::AtMostOnce);
                assert!(!p.dup);
                assert_eq!(p.retain, retain);
                assert_eq!(p.packet_id, None);
            }
        }
    }
}
