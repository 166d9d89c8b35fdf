//! The records a store keeps: messages, subscriptions and sessions.

use bytes::Bytes;
use bytestring::ByteString;
use petrel_codec::{Properties, QoS, SubscriptionOptions};

use crate::queue::{PendingDelivery, StoredWill};

/// An application message as the broker stores it (retained, queued or in flight).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredMessage {
    /// Topic name.
    pub topic: ByteString,
    /// Payload; shared, not copied.
    pub payload: Bytes,
    /// QoS the message is delivered at.
    pub qos: QoS,
    /// RETAIN flag.
    pub retain: bool,
    /// MQTT 5 properties that travel with the message.
    pub properties: Properties,
    /// Absolute expiry time in milliseconds since the Unix epoch, if the message expires.
    pub expires_at_ms: Option<u64>,
}

impl StoredMessage {
    /// A message without properties or expiry.
    pub fn new(topic: impl Into<ByteString>, payload: impl Into<Bytes>, qos: QoS) -> Self {
        Self {
            topic: topic.into(),
            payload: payload.into(),
            qos,
            retain: false,
            properties: Properties::new(),
            expires_at_ms: None,
        }
    }

    /// Builder: sets the RETAIN flag.
    pub fn with_retain(mut self, retain: bool) -> Self {
        self.retain = retain;
        self
    }

    /// Builder: sets the properties.
    pub fn with_properties(mut self, properties: Properties) -> Self {
        self.properties = properties;
        self
    }

    /// Builder: sets the absolute expiry time (milliseconds since the Unix epoch).
    pub fn with_expiry(mut self, expires_at_ms: Option<u64>) -> Self {
        self.expires_at_ms = expires_at_ms;
        self
    }
}

/// One subscription of a persistent session.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredSubscription {
    /// The topic filter as the client sent it (including any `$share/group/` prefix).
    pub filter: ByteString,
    /// Subscription options.
    pub options: SubscriptionOptions,
    /// MQTT 5 subscription identifier.
    pub identifier: Option<u32>,
}

impl StoredSubscription {
    /// A subscription record.
    pub fn new(
        filter: impl Into<ByteString>,
        options: SubscriptionOptions,
        identifier: Option<u32>,
    ) -> Self {
        Self {
            filter: filter.into(),
            options,
            identifier,
        }
    }
}

/// A persistent session.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct StoredSession {
    /// Client identifier.
    pub client_id: ByteString,
    /// Session expiry interval in seconds (`u32::MAX` never expires).
    pub expiry_interval: u32,
    /// Subscriptions, in the order they were made.
    pub subscriptions: Vec<StoredSubscription>,
    /// Messages waiting for delivery or acknowledgement, oldest first. Written whole by
    /// [`crate::Op::PutSession`]; the per-message operations use [`StoredSession::queue`].
    pub pending: Vec<StoredMessage>,
    /// Absolute time (milliseconds since the Unix epoch) at which the session expires while
    /// no client is connected; `None` while connected or when it never expires.
    pub expires_at_ms: Option<u64>,
    /// The will of the session, if one is pending.
    pub will: Option<StoredWill>,
    /// Queued and in-flight outgoing messages, ordered by message id (oldest first).
    /// Managed by [`crate::Op::Enqueue`] and the operations that follow a delivery.
    pub queue: Vec<PendingDelivery>,
    /// Incoming QoS 2 packet identifiers whose PUBREL has not arrived yet, ascending.
    pub incoming_qos2: Vec<petrel_codec::PacketId>,
}

impl StoredSession {
    /// An empty session record.
    pub fn new(client_id: impl Into<ByteString>, expiry_interval: u32) -> Self {
        Self {
            client_id: client_id.into(),
            expiry_interval,
            subscriptions: Vec::new(),
            pending: Vec::new(),
            expires_at_ms: None,
            will: None,
            queue: Vec::new(),
            incoming_qos2: Vec::new(),
        }
    }
}

/// Everything a store holds, as returned by [`crate::Store::load`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Snapshot {
    /// Persistent sessions, ordered by client identifier.
    pub sessions: Vec<StoredSession>,
    /// Retained messages, ordered by topic.
    pub retained: Vec<StoredMessage>,
    /// The highest message id held in any queue (0 when none): after a restart the broker
    /// numbers new messages above it.
    pub max_message_id: u64,
}
