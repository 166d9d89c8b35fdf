//! Operations and batches of operations.

use bytestring::ByteString;

use petrel_codec::PacketId;

use crate::{MessageId, QueueTarget, StoredMessage, StoredSession, StoredSubscription, StoredWill};

/// One change to the stored state.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Op {
    /// Creates or replaces a session: its expiry, subscriptions and `pending` list. The
    /// message queue, incoming QoS 2 identifiers and will of an existing session are kept
    /// (they are changed by their own operations); those fields of the record are ignored.
    PutSession(StoredSession),
    /// Deletes a session and everything it holds.
    DeleteSession(ByteString),
    /// Adds a subscription to a session, replacing one with the same filter. Creates the
    /// session with expiry 0 when it does not exist.
    Subscribe {
        /// Client identifier.
        client_id: ByteString,
        /// The subscription.
        subscription: StoredSubscription,
    },
    /// Removes a subscription from a session.
    Unsubscribe {
        /// Client identifier.
        client_id: ByteString,
        /// The filter, exactly as subscribed.
        filter: ByteString,
    },
    /// Sets the retained message of the message's topic.
    PutRetained(StoredMessage),
    /// Deletes the retained message of a topic.
    DeleteRetained(ByteString),
    /// Stores a message once and queues it for each target session that exists (targets
    /// without a stored session are skipped). A message queued for nobody is not kept.
    Enqueue {
        /// Id of the message; must not be in use.
        message_id: MessageId,
        /// The message.
        message: StoredMessage,
        /// The sessions that receive it.
        targets: Vec<QueueTarget>,
    },
    /// Records that a queued message was sent to a session with a packet identifier
    /// (state [`crate::DeliveryState::Sent`]).
    MarkSent {
        /// Client identifier.
        client_id: ByteString,
        /// The message.
        message_id: MessageId,
        /// Packet identifier of the PUBLISH.
        packet_id: PacketId,
    },
    /// QoS 2: records that PUBREC was received and PUBREL sent for an outgoing packet
    /// identifier (state [`crate::DeliveryState::Released`]).
    MarkReleased {
        /// Client identifier.
        client_id: ByteString,
        /// Packet identifier of the PUBLISH.
        packet_id: PacketId,
    },
    /// Removes an outgoing message when its PUBACK (QoS 1) or PUBCOMP (QoS 2) arrives.
    Complete {
        /// Client identifier.
        client_id: ByteString,
        /// Packet identifier of the PUBLISH.
        packet_id: PacketId,
    },
    /// Removes a message from a session's queue without an acknowledgement (QoS 0 sent,
    /// expired, dropped by a queue limit).
    Dequeue {
        /// Client identifier.
        client_id: ByteString,
        /// The message.
        message_id: MessageId,
    },
    /// Records an incoming QoS 2 packet identifier whose PUBREL has not arrived yet.
    AddIncomingQos2 {
        /// Client identifier.
        client_id: ByteString,
        /// Packet identifier.
        packet_id: PacketId,
    },
    /// Forgets an incoming QoS 2 packet identifier (PUBREL received).
    RemoveIncomingQos2 {
        /// Client identifier.
        client_id: ByteString,
        /// Packet identifier.
        packet_id: PacketId,
    },
    /// Sets the will of an existing session.
    SetWill {
        /// Client identifier.
        client_id: ByteString,
        /// The will.
        will: StoredWill,
    },
    /// Removes the will of a session.
    ClearWill(ByteString),
    /// Changes the expiry of an existing session.
    SetSessionExpiry {
        /// Client identifier.
        client_id: ByteString,
        /// Session expiry interval in seconds.
        expiry_interval: u32,
        /// Absolute expiry time (milliseconds since the Unix epoch), `None` while a client
        /// is connected or when the session never expires.
        expires_at_ms: Option<u64>,
    },
    /// Removes what has expired at `now_ms` (milliseconds since the Unix epoch): sessions
    /// whose `expires_at_ms` has passed (with everything they hold), queued messages not
    /// yet sent whose expiry has passed, and expired retained messages.
    Expire {
        /// The current time.
        now_ms: u64,
    },
}

/// Operations committed together, atomically and in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Batch {
    ops: Vec<Op>,
}

impl Batch {
    /// An empty batch.
    pub const fn new() -> Self {
        Self { ops: Vec::new() }
    }

    /// Appends an operation.
    pub fn push(&mut self, op: Op) {
        self.ops.push(op);
    }

    /// Appends every operation of another batch (used to merge batches for group commit).
    pub fn append(&mut self, other: Batch) {
        self.ops.extend(other.ops);
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True when the batch holds no operation.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The operations, in order.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// The operations, to be changed in place (the writer's cancellations).
    pub(crate) fn ops_mut(&mut self) -> &mut Vec<Op> {
        &mut self.ops
    }

    /// Consumes the batch, returning its operations.
    pub fn into_ops(self) -> Vec<Op> {
        self.ops
    }
}

impl From<Op> for Batch {
    fn from(op: Op) -> Self {
        Self { ops: vec![op] }
    }
}

impl FromIterator<Op> for Batch {
    fn from_iter<I: IntoIterator<Item = Op>>(iter: I) -> Self {
        Self {
            ops: iter.into_iter().collect(),
        }
    }
}
