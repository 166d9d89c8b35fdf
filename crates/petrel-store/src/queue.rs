//! Records of the per-message state of sessions: queued and in-flight deliveries, wills.

use bytestring::ByteString;
use petrel_codec::{PacketId, QoS};

use crate::StoredMessage;

/// Identifies one stored message, chosen by the broker. Ids increase over time: a session's
/// queue is delivered in ascending id order. One message queued for many sessions is
/// stored once under its id.
pub type MessageId = u64;

/// Where a queued message stands in its delivery to one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum DeliveryState {
    /// Waiting to be sent; no packet identifier yet.
    #[default]
    Queued,
    /// PUBLISH sent with a packet identifier; waiting for PUBACK (QoS 1) or PUBREC (QoS 2).
    Sent,
    /// QoS 2: PUBREC received and PUBREL sent; waiting for PUBCOMP. After a restart only
    /// the PUBREL is sent again, never the PUBLISH, so the message is not duplicated.
    Released,
}

impl DeliveryState {
    /// A stable number for storage.
    pub const fn code(self) -> u8 {
        match self {
            Self::Queued => 0,
            Self::Sent => 1,
            Self::Released => 2,
        }
    }

    /// The state of a number returned by [`DeliveryState::code`].
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Self::Queued),
            1 => Some(Self::Sent),
            2 => Some(Self::Released),
            _ => None,
        }
    }
}

/// One session that receives a message in [`crate::Op::Enqueue`], with its delivery
/// parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueTarget {
    /// Client identifier of the session.
    pub client_id: ByteString,
    /// QoS granted for this delivery (at most the message's QoS).
    pub qos: QoS,
    /// RETAIN flag as delivered to this session.
    pub retain: bool,
    /// MQTT 5 subscription identifiers of the matching subscriptions.
    pub subscription_ids: Vec<u32>,
}

impl QueueTarget {
    /// A target without subscription identifiers and with RETAIN=0.
    pub fn new(client_id: impl Into<ByteString>, qos: QoS) -> Self {
        Self {
            client_id: client_id.into(),
            qos,
            retain: false,
            subscription_ids: Vec::new(),
        }
    }

    /// Builder: sets the RETAIN flag of the delivery.
    pub fn with_retain(mut self, retain: bool) -> Self {
        self.retain = retain;
        self
    }

    /// Builder: sets the subscription identifiers.
    pub fn with_subscription_ids(mut self, ids: Vec<u32>) -> Self {
        self.subscription_ids = ids;
        self
    }
}

/// A message queued for, or in flight to, one session, as read back by
/// [`crate::Store::load`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PendingDelivery {
    /// The message id given in [`crate::Op::Enqueue`].
    pub message_id: MessageId,
    /// The message (its payload shared by every session it was queued for).
    pub message: StoredMessage,
    /// QoS of this delivery.
    pub qos: QoS,
    /// RETAIN flag of this delivery.
    pub retain: bool,
    /// Subscription identifiers of this delivery.
    pub subscription_ids: Vec<u32>,
    /// The packet identifier, once the message was sent.
    pub packet_id: Option<PacketId>,
    /// Progress of the delivery.
    pub state: DeliveryState,
}

impl PendingDelivery {
    /// A delivery record.
    pub fn new(message_id: MessageId, message: StoredMessage, target: &QueueTarget) -> Self {
        Self {
            message_id,
            message,
            qos: target.qos,
            retain: target.retain,
            subscription_ids: target.subscription_ids.clone(),
            packet_id: None,
            state: DeliveryState::Queued,
        }
    }
}

/// A will message kept with its session, published when the client goes away without a
/// normal DISCONNECT (after the delay) unless it comes back first.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredWill {
    /// The will message.
    pub message: StoredMessage,
    /// Will delay interval in seconds.
    pub delay_interval: u32,
}

impl StoredWill {
    /// A will record.
    pub fn new(message: StoredMessage, delay_interval: u32) -> Self {
        Self {
            message,
            delay_interval,
        }
    }
}
