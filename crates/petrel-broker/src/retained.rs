//! Retained messages: one per topic, replaced by a newer one, deleted by an empty payload
//! (MQTT-3.3.1-5, MQTT-3.3.1-6, MQTT-3.3.1-7). Stored in `petrel-topic`'s
//! [`RetainedIndex`], whose wildcard look-ups skip `$` topics (MQTT-4.7.2-1).

use std::sync::{Arc, RwLock};

use petrel_store::{Op, StoredMessage};
use petrel_topic::{RetainedIndex as TopicRetained, TopicFilter, TopicName};
use tokio::time::Instant;

use crate::message::Message;

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
#[derive(Debug)]
pub(crate) struct RetainedIndex {
    inner: RwLock<TopicRetained<Arc<Message>>>,
}

impl Default for RetainedIndex {
    fn default() -> Self {
        Self {
            inner: RwLock::new(TopicRetained::new()),
        }
    }
}

impl RetainedIndex {
    /// Number of retained messages.
    pub fn len(&self) -> usize {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Applies a PUBLISH with RETAIN=1 and returns the store operation that persists it.
    pub fn apply(
        &self,
        name: &TopicName,
        msg: &Arc<Message>,
        max: usize,
    ) -> (RetainOutcome, Option<Op>) {
        let mut map = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if msg.payload.is_empty() {
            // MQTT-3.3.1-6/-7: an empty payload deletes and is not stored itself.
            let op = map
                .remove(name)
                .map(|_| Op::DeleteRetained(msg.topic.clone()));
            return (RetainOutcome::Deleted, op);
        }
        if map.len() >= max && map.get(name).is_none() {
            return (RetainOutcome::Full, None);
        }
        map.insert(name.clone(), msg.clone());
        (RetainOutcome::Stored, Some(Op::PutRetained(to_stored(msg))))
    }

    /// Inserts a message loaded from the store.
    pub fn restore(&self, msg: Arc<Message>) {
        if let Ok(name) = TopicName::new(msg.topic.clone()) {
            self.inner
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(name, msg);
        }
    }

    /// Retained messages whose topic matches `filter`, dropping expired ones.
    pub fn matching(&self, filter: &TopicFilter, now: Instant) -> Vec<Arc<Message>> {
        let map = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        map.for_each_match(filter, |_, m| {
            if !m.expired(now) {
                out.push(m.clone());
            }
        });
        out
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
