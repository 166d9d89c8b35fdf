//! Operations and batches of operations.

use bytestring::ByteString;

use crate::{StoredMessage, StoredSession, StoredSubscription};

/// One change to the stored state.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Op {
    /// Creates or replaces a whole session.
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
