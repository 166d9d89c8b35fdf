//! The application message as it travels through the broker: built once per PUBLISH,
//! shared by reference between every subscriber queue (the payload is never copied).

use std::sync::Arc;

use bytes::Bytes;
use bytestring::ByteString;
use petrel_codec::{Properties, PropertyId, QoS};
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
        })
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
