//! [`MemoryStore`]: everything in memory, committed at once, lost at exit.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use bytestring::ByteString;

use crate::{
    Batch, DeliveryState, Op, PendingDelivery, Snapshot, Store, StoreError, StoreFuture,
    StoredMessage, StoredSession,
};

#[derive(Debug, Default)]
struct State {
    sessions: BTreeMap<ByteString, StoredSession>,
    retained: BTreeMap<ByteString, StoredMessage>,
    commits: u64,
}

impl State {
    fn apply(&mut self, op: Op) {
        match op {
            Op::PutSession(mut session) => {
                session.queue.clear();
                session.incoming_qos2.clear();
                session.will = None;
                if let Some(old) = self.sessions.remove(&session.client_id) {
                    session.queue = old.queue;
                    session.incoming_qos2 = old.incoming_qos2;
                    session.will = old.will;
                }
                self.sessions.insert(session.client_id.clone(), session);
            }
            Op::DeleteSession(client_id) => {
                self.sessions.remove(&client_id);
            }
            Op::Subscribe {
                client_id,
                subscription,
            } => {
                let session = self
                    .sessions
                    .entry(client_id.clone())
                    .or_insert_with(|| StoredSession::new(client_id, 0));
                match session
                    .subscriptions
                    .iter_mut()
                    .find(|s| s.filter == subscription.filter)
                {
                    Some(slot) => *slot = subscription,
                    None => session.subscriptions.push(subscription),
                }
            }
            Op::Unsubscribe { client_id, filter } => {
                if let Some(session) = self.sessions.get_mut(&client_id) {
                    session.subscriptions.retain(|s| s.filter != filter);
                }
            }
            Op::PutRetained(message) => {
                self.retained.insert(message.topic.clone(), message);
            }
            Op::DeleteRetained(topic) => {
                self.retained.remove(&topic);
            }
            other => self.apply_message_op(other),
        }
    }

    /// The per-message operations (queues, in-flight state, wills, expiry).
    fn apply_message_op(&mut self, op: Op) {
        match op {
            Op::Enqueue {
                message_id,
                message,
                targets,
            } => {
                for target in &targets {
                    if let Some(session) = self.sessions.get_mut(&target.client_id) {
                        let entry = PendingDelivery::new(message_id, message.clone(), target);
                        let at = session
                            .queue
                            .partition_point(|p| p.message_id <= message_id);
                        session.queue.insert(at, entry);
                    }
                }
            }
            Op::MarkSent {
                client_id,
                message_id,
                packet_id,
            } => {
                if let Some(entry) = self.entry_by(&client_id, |p| p.message_id == message_id) {
                    entry.packet_id = Some(packet_id);
                    entry.state = DeliveryState::Sent;
                }
            }
            Op::MarkReleased {
                client_id,
                packet_id,
            } => {
                if let Some(entry) = self.entry_by(&client_id, |p| p.packet_id == Some(packet_id)) {
                    entry.state = DeliveryState::Released;
                }
            }
            Op::Complete {
                client_id,
                packet_id,
            } => self.remove_by(&client_id, |p| p.packet_id == Some(packet_id)),
            Op::Dequeue {
                client_id,
                message_id,
            } => self.remove_by(&client_id, |p| p.message_id == message_id),
            Op::AddIncomingQos2 {
                client_id,
                packet_id,
            } => {
                if let Some(session) = self.sessions.get_mut(&client_id) {
                    if let Err(at) = session.incoming_qos2.binary_search(&packet_id) {
                        session.incoming_qos2.insert(at, packet_id);
                    }
                }
            }
            Op::RemoveIncomingQos2 {
                client_id,
                packet_id,
            } => {
                if let Some(session) = self.sessions.get_mut(&client_id) {
                    session.incoming_qos2.retain(|p| *p != packet_id);
                }
            }
            Op::SetWill { client_id, will } => {
                if let Some(session) = self.sessions.get_mut(&client_id) {
                    session.will = Some(will);
                }
            }
            Op::ClearWill(client_id) => {
                if let Some(session) = self.sessions.get_mut(&client_id) {
                    session.will = None;
                }
            }
            Op::SetSessionExpiry {
                client_id,
                expiry_interval,
                expires_at_ms,
            } => {
                if let Some(session) = self.sessions.get_mut(&client_id) {
                    session.expiry_interval = expiry_interval;
                    session.expires_at_ms = expires_at_ms;
                }
            }
            Op::Expire { now_ms } => self.expire(now_ms),
            // The session and retained operations are handled by `apply`.
            _ => {}
        }
    }

    fn entry_by(
        &mut self,
        client_id: &ByteString,
        pred: impl Fn(&PendingDelivery) -> bool,
    ) -> Option<&mut PendingDelivery> {
        self.sessions
            .get_mut(client_id)?
            .queue
            .iter_mut()
            .find(|p| pred(p))
    }

    fn remove_by(&mut self, client_id: &ByteString, pred: impl Fn(&PendingDelivery) -> bool) {
        if let Some(session) = self.sessions.get_mut(client_id) {
            session.queue.retain(|p| !pred(p));
        }
    }

    fn expire(&mut self, now_ms: u64) {
        let passed = |at: Option<u64>| at.is_some_and(|at| at <= now_ms);
        self.sessions.retain(|_, s| !passed(s.expires_at_ms));
        for session in self.sessions.values_mut() {
            session
                .queue
                .retain(|p| p.state != DeliveryState::Queued || !passed(p.message.expires_at_ms));
        }
        self.retained.retain(|_, m| !passed(m.expires_at_ms));
    }
}

/// A [`Store`] that keeps everything in memory. Commits complete immediately; nothing
/// survives the process. Useful as the default for tests and for brokers that do not need
/// durability.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-applied batch visible in a
        // way that matters more than losing the store, so poisoning is ignored.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Number of batches committed so far.
    pub fn commits(&self) -> u64 {
        self.lock().commits
    }

    /// Number of retained messages held.
    pub fn retained_len(&self) -> usize {
        self.lock().retained.len()
    }

    /// Number of sessions held.
    pub fn sessions_len(&self) -> usize {
        self.lock().sessions.len()
    }
}

impl Store for MemoryStore {
    fn commit(&self, batch: Batch) -> StoreFuture<'static, ()> {
        let mut state = self.lock();
        for op in batch.into_ops() {
            state.apply(op);
        }
        state.commits += 1;
        drop(state);
        Box::pin(async { Ok::<(), StoreError>(()) })
    }

    fn load(&self) -> StoreFuture<'_, Snapshot> {
        let state = self.lock();
        let snapshot = Snapshot {
            sessions: state.sessions.values().cloned().collect(),
            retained: state.retained.values().cloned().collect(),
            max_message_id: state
                .sessions
                .values()
                .flat_map(|s| s.queue.iter().map(|p| p.message_id))
                .max()
                .unwrap_or(0),
        };
        drop(state);
        Box::pin(async move { Ok(snapshot) })
    }
}

#[cfg(test)]
mod tests {
    use petrel_codec::{QoS, SubscriptionOptions};

    use super::*;
    use crate::StoredSubscription;

    fn block_on<F: core::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    #[test]
    fn retained_set_replace_delete() {
        let store = MemoryStore::new();
        block_on(async {
            store
                .commit(Op::PutRetained(StoredMessage::new("a", "1", QoS::AtMostOnce)).into())
                .await
                .unwrap();
            store
                .commit(Op::PutRetained(StoredMessage::new("a", "2", QoS::AtLeastOnce)).into())
                .await
                .unwrap();
            let snap = store.load().await.unwrap();
            assert_eq!(snap.retained.len(), 1);
            assert_eq!(&snap.retained[0].payload[..], b"2");
            store
                .commit(Op::DeleteRetained("a".into()).into())
                .await
                .unwrap();
            assert!(store.load().await.unwrap().retained.is_empty());
        });
        assert_eq!(store.commits(), 3);
    }

    #[test]
    fn batch_applies_in_order() {
        let store = MemoryStore::new();
        let batch: Batch = [
            Op::PutSession(StoredSession::new("c", 60)),
            Op::Subscribe {
                client_id: "c".into(),
                subscription: StoredSubscription::new("x/+", SubscriptionOptions::default(), None),
            },
            Op::Subscribe {
                client_id: "c".into(),
                subscription: StoredSubscription::new(
                    "x/+",
                    SubscriptionOptions::default(),
                    Some(7),
                ),
            },
            Op::Subscribe {
                client_id: "c".into(),
                subscription: StoredSubscription::new("y", SubscriptionOptions::default(), None),
            },
            Op::Unsubscribe {
                client_id: "c".into(),
                filter: "y".into(),
            },
        ]
        .into_iter()
        .collect();
        assert_eq!(batch.len(), 5);
        block_on(store.commit(batch)).unwrap();
        let snap = block_on(store.load()).unwrap();
        assert_eq!(snap.sessions.len(), 1);
        let session = &snap.sessions[0];
        assert_eq!(session.expiry_interval, 60);
        assert_eq!(session.subscriptions.len(), 1);
        assert_eq!(session.subscriptions[0].identifier, Some(7));
        block_on(store.commit(Op::DeleteSession("c".into()).into())).unwrap();
        assert_eq!(store.sessions_len(), 0);
    }

    #[test]
    fn subscribe_creates_missing_session() {
        let store = MemoryStore::new();
        let op = Op::Subscribe {
            client_id: "new".into(),
            subscription: StoredSubscription::new("t", SubscriptionOptions::default(), None),
        };
        block_on(store.commit(op.into())).unwrap();
        let snap = block_on(store.load()).unwrap();
        assert_eq!(snap.sessions[0].client_id, "new");
        assert_eq!(snap.sessions[0].expiry_interval, 0);
    }

    #[test]
    fn batches_merge_for_group_commit() {
        let mut a = Batch::from(Op::DeleteRetained("x".into()));
        let b = Batch::from(Op::PutRetained(StoredMessage::new(
            "x",
            "v",
            QoS::AtMostOnce,
        )));
        a.append(b);
        assert_eq!(a.len(), 2);
        let store = MemoryStore::new();
        block_on(store.commit(a)).unwrap();
        assert_eq!(store.retained_len(), 1);
        assert_eq!(store.commits(), 1);
    }

    #[test]
    fn store_is_object_safe() {
        let store: std::sync::Arc<dyn Store> = std::sync::Arc::new(MemoryStore::new());
        let snap = block_on(store.load()).unwrap();
        assert!(snap.sessions.is_empty() && snap.retained.is_empty());
    }
}
