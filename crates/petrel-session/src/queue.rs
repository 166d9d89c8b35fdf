//! The server's bounded outgoing queue (messages waiting for the in-flight window or for
//! the writer).

use std::collections::VecDeque;
use std::time::Instant;

use crate::message::OutgoingMessage;

/// What to do when a message arrives and the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OverflowPolicy {
    /// Drop the oldest queued message to make room.
    #[default]
    DropOldest,
    /// Drop the new message.
    DropNewest,
    /// Close the connection (QuotaExceeded).
    Disconnect,
}

/// Limits of the outgoing queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    /// Maximum queued messages.
    pub max_messages: usize,
    /// Maximum queued bytes (by [`crate::Message::size_hint`]).
    pub max_bytes: usize,
    /// Policy when full.
    pub policy: OverflowPolicy,
}

impl Default for QueueLimits {
    fn default() -> Self {
        Self {
            max_messages: 1000,
            max_bytes: 16 << 20,
            policy: OverflowPolicy::DropOldest,
        }
    }
}

/// Outcome of [`DeliveryQueue::push`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// Queued; this many older messages were dropped for it.
    Queued(usize),
    /// The new message was dropped.
    DroppedNewest,
    /// The queue is full and the policy says disconnect.
    Overflow,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct DeliveryQueue {
    items: VecDeque<OutgoingMessage>,
    bytes: usize,
    limits: QueueLimits,
}

impl DeliveryQueue {
    pub(crate) fn new(limits: QueueLimits) -> Self {
        Self {
            items: VecDeque::new(),
            bytes: 0,
            limits,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    fn fits(&self, size: usize) -> bool {
        self.items.len() < self.limits.max_messages && self.bytes + size <= self.limits.max_bytes
    }

    pub(crate) fn push(&mut self, msg: OutgoingMessage) -> Pushed {
        let size = msg.message.size_hint();
        if size > self.limits.max_bytes || self.limits.max_messages == 0 {
            return match self.limits.policy {
                OverflowPolicy::Disconnect => Pushed::Overflow,
                _ => Pushed::DroppedNewest,
            };
        }
        let mut dropped = 0;
        while !self.fits(size) {
            match self.limits.policy {
                OverflowPolicy::DropNewest => return Pushed::DroppedNewest,
                OverflowPolicy::Disconnect => return Pushed::Overflow,
                OverflowPolicy::DropOldest => {
                    if self.pop_front().is_none() {
                        return Pushed::DroppedNewest;
                    }
                    dropped += 1;
                }
            }
        }
        self.bytes += size;
        self.items.push_back(msg);
        Pushed::Queued(dropped)
    }

    pub(crate) fn front(&self) -> Option<&OutgoingMessage> {
        self.items.front()
    }

    pub(crate) fn pop_front(&mut self) -> Option<OutgoingMessage> {
        let m = self.items.pop_front()?;
        self.bytes = self.bytes.saturating_sub(m.message.size_hint());
        Some(m)
    }

    /// Removes expired messages from the front; returns how many.
    pub(crate) fn drop_expired_front(&mut self, now: Instant) -> usize {
        let mut n = 0;
        while self.front().is_some_and(|m| m.is_expired(now)) {
            self.pop_front();
            n += 1;
        }
        n
    }

    pub(crate) fn drain(&mut self) -> Vec<OutgoingMessage> {
        self.bytes = 0;
        self.items.drain(..).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Message;
    use petrel_codec::QoS;

    fn msg(now: Instant, n: u8) -> OutgoingMessage {
        OutgoingMessage::new(now, Message::new("t", vec![n], QoS::AtLeastOnce))
    }

    #[test]
    fn policies_bound_the_queue() {
        let now = Instant::now();
        let lim = |policy| QueueLimits {
            max_messages: 2,
            max_bytes: 1 << 20,
            policy,
        };
        let mut q = DeliveryQueue::new(lim(OverflowPolicy::DropOldest));
        for n in 0..5 {
            q.push(msg(now, n));
        }
        assert_eq!(q.len(), 2);
        assert_eq!(q.front().map(|m| m.message.payload[0]), Some(3));
        let mut q = DeliveryQueue::new(lim(OverflowPolicy::DropNewest));
        for n in 0..3 {
            q.push(msg(now, n));
        }
        assert_eq!(q.front().map(|m| m.message.payload[0]), Some(0));
        assert_eq!(q.push(msg(now, 9)), Pushed::DroppedNewest);
        let mut q = DeliveryQueue::new(lim(OverflowPolicy::Disconnect));
        q.push(msg(now, 0));
        q.push(msg(now, 1));
        assert_eq!(q.push(msg(now, 2)), Pushed::Overflow);
        assert!(q.bytes() > 0);
    }
}
