//! Retained messages: one per topic, replaced by a newer one, deleted by an empty payload
//! (MQTT-3.3.1-5, MQTT-3.3.1-6, MQTT-3.3.1-7).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use bytestring::ByteString;
use petrel_store::{Op, StoredMessage};
use tokio::time::Instant;

use crate::message::Message;
use crate::topic::matches;

/// What a retained PUBLISH did to the store.
#[derive(Debug)]
pub(crate) enum RetainOutcome {
    /// Stored or replaced.
    Stored,
    /// Deleted (empty payload).
    Deleted,
    /// Not stored: the retained-message limit is reached.
    Full,
}

/// The retained messages, by topic.
#[derive(Debug, Default)]
pub(crate) struct RetainedIndex {
    map: RwLock<HashMap<ByteString, Arc<Message>>>,
}

impl RetainedIndex {
    /// Number of retained messages.
    pub fn len(&self) -> usize {
        self.map.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Applies a PUBLISH with RETAIN=1 and returns the store operation that persists it.
    pub fn apply(&self, msg: &Arc<Message>, max: usize) -> (RetainOutcome, Option<Op>) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        if msg.payload.is_empty() {
            // MQTT-3.3.1-6/-7: an empty payload deletes and is not stored itself.
            let op = map
                .remove(&msg.topic)
                .map(|_| Op::DeleteRetained(msg.topic.clone()));
            return (RetainOutcome::Deleted, op);
        }
        if map.len() >= max && !map.contains_key(&msg.topic) {
            return (RetainOutcome::Full, None);
        }
        map.insert(msg.topic.clone(), msg.clone());
        (RetainOutcome::Stored, Some(Op::PutRetained(to_stored(msg))))
    }

    /// Inserts a message loaded from the store.
    pub fn restore(&self, msg: Arc<Message>) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        map.insert(msg.topic.clone(), msg);
    }

    /// Retained messages whose topic matches `filter`, dropping expired ones.
    pub fn matching(&self, filter: &str, now: Instant) -> Vec<Arc<Message>> {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        map.values()
            .filter(|m| !m.expired(now) && matches(filter, &m.topic))
            .cloned()
            .collect()
    }
}

fn to_stored(msg: &Message) -> StoredMessage {
    let expires_at_ms = msg.expires_at.map(|at| {
        let left = at.saturating_duration_since(Instant::now());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        u64::try_from((now + left).as_millis()).unwrap_or(u64::MAX)
    });
    StoredMessage::new(msg.topic.clone(), msg.payload.clone(), msg.qos)
        .with_retain(true)
        .with_properties(msg.properties.clone())
        .with_expiry(expires_at_ms)
}
