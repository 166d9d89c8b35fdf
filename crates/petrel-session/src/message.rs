//! Application messages as the session stores and hands them out.

use std::time::{Duration, Instant};

use bytes::Bytes;
use petrel_codec::{ByteString, PacketId, Properties, PropertyId, Publish, QoS};

/// An application message: a PUBLISH without its per-connection parts (packet id, DUP,
/// topic alias). The payload is shared [`Bytes`], never copied per subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Topic name (always the full name, never an alias).
    pub topic: ByteString,
    /// Payload.
    pub payload: Bytes,
    /// Quality of service.
    pub qos: QoS,
    /// RETAIN flag.
    pub retain: bool,
    /// MQTT 5 PUBLISH properties (never a Topic Alias). Stripped for MQTT 3 peers.
    pub properties: Properties,
}

impl Message {
    /// A message without properties and with RETAIN off.
    pub fn new(topic: impl Into<ByteString>, payload: impl Into<Bytes>, qos: QoS) -> Self {
        Self {
            topic: topic.into(),
            payload: payload.into(),
            qos,
            retain: false,
            properties: Properties::new(),
        }
    }

    /// Sets the RETAIN flag.
    pub fn with_retain(mut self, retain: bool) -> Self {
        self.retain = retain;
        self
    }

    /// Replaces the properties.
    pub fn with_properties(mut self, properties: Properties) -> Self {
        self.properties = properties;
        self
    }

    /// Approximate memory held by this message, used by queue byte limits.
    pub fn size_hint(&self) -> usize {
        self.topic.len() + self.payload.len() + 16 * self.properties.0.len() + 32
    }

    pub(crate) fn from_publish(mut p: Publish) -> Self {
        if !p.properties.is_empty() {
            p.properties.remove(PropertyId::TopicAlias);
        }
        Self {
            topic: p.topic,
            payload: p.payload,
            qos: p.qos,
            retain: p.retain,
            properties: p.properties,
        }
    }

    /// The PUBLISH for this message, taking its parts (MQTT 3: without properties).
    pub(crate) fn into_publish(self, packet_id: Option<PacketId>, dup: bool, v5: bool) -> Publish {
        Publish {
            dup,
            qos: self.qos,
            retain: self.retain,
            topic: self.topic,
            packet_id,
            properties: if v5 {
                self.properties
            } else {
                Properties::new()
            },
            payload: self.payload,
        }
    }

    pub(crate) fn to_publish(&self, packet_id: Option<PacketId>, dup: bool, v5: bool) -> Publish {
        Publish {
            dup,
            qos: self.qos,
            retain: self.retain,
            topic: self.topic.clone(),
            packet_id,
            properties: if v5 {
                self.properties.clone()
            } else {
                Properties::new()
            },
            payload: self.payload.clone(),
        }
    }
}

/// A message the broker hands to a server session for delivery, with its expiry deadline
/// computed from the Message Expiry Interval when it entered the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// The message.
    pub message: Message,
    /// When the message expires (from its Message Expiry Interval), if ever.
    pub expires_at: Option<Instant>,
}

impl OutgoingMessage {
    /// Wraps `message`, computing `expires_at` from its Message Expiry Interval as seen at
    /// `now` (use the time the broker received the PUBLISH).
    pub fn new(now: Instant, message: Message) -> Self {
        let expires_at = message
            .properties
            .message_expiry_interval()
            .map(|secs| now + Duration::from_secs(u64::from(secs)));
        Self {
            message,
            expires_at,
        }
    }

    /// Rebuilds a message saved with [`Self::expires_in`] (a store cannot keep an
    /// `Instant` across restarts; it keeps the time left instead).
    pub fn with_time_left(now: Instant, message: Message, left: Option<Duration>) -> Self {
        Self {
            message,
            expires_at: left.map(|d| now + d),
        }
    }

    /// Time left before expiry at `now` (`None`: never expires), for saving.
    pub fn expires_in(&self, now: Instant) -> Option<Duration> {
        self.expires_at.map(|t| t.saturating_duration_since(now))
    }

    /// True if the message has expired at `now`.
    pub fn is_expired(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }

    /// The message as it must be sent at `now`: the Message Expiry Interval rewritten to the
    /// time remaining (section 3.3.2.3.3), rounded up.
    pub fn message_at(&self, now: Instant) -> Message {
        self.clone().into_message_at(now)
    }

    /// [`Self::message_at`] without copying the message.
    pub fn into_message_at(self, now: Instant) -> Message {
        let mut m = self.message;
        if let Some(at) = self.expires_at {
            let left = at.saturating_duration_since(now);
            let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
            let secs = u32::try_from(secs).unwrap_or(u32::MAX).max(1);
            m.properties
                .set(petrel_codec::Property::MessageExpiryInterval(secs));
        }
        m
    }
}

/// A QoS 1 or 2 PUBLISH received and handed to the application, awaiting its
/// acknowledgement (`ack`/`ack_publish`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PendingAck {
    /// Packet identifier of the PUBLISH.
    pub packet_id: PacketId,
    /// QoS of the PUBLISH (1 answers PUBACK, 2 answers PUBREC).
    pub qos: QoS,
}
