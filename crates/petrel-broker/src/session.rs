//! The per-client session state that outlives connections: subscriptions, the bounded
//! outgoing queue, messages in flight and incoming QoS 2 packet ids.
//!
//! Publishing tasks push into the queue of each matching session under its mutex and wake
//! the owning connection task with [`Session::notify`]. The connection task moves queued
//! messages into its `petrel_session::ServerSession`, which owns every protocol rule
//! (packet ids, the in-flight window, acknowledgements); between connections that state
//! waits in [`SessionState::slot`].

use std::collections::{HashMap, VecDeque};
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytestring::ByteString;
use petrel_codec::Property;
use petrel_codec::{PacketId, QoS, SubscriptionOptions};
use petrel_session::{OutgoingMessage, ServerSessionState};
use tokio::sync::Notify;

use crate::config::{DropPolicy, Limits};
use crate::message::Message;
use crate::metrics::{DropReason, Metrics};
use crate::slot::Slot;

/// Options of one subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SubInfo {
    /// Options from SUBSCRIBE.
    pub options: SubscriptionOptions,
    /// MQTT 5 subscription identifier.
    pub id: Option<u32>,
}

/// One message on its way to one session.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    /// The shared message.
    pub msg: Arc<Message>,
    /// QoS granted for this delivery.
    pub qos: QoS,
    /// RETAIN flag to send.
    pub retain: bool,
    /// Subscription identifiers of every matching subscription.
    pub sub_ids: Vec<u32>,
    /// The message id in the store when this delivery is durable (persistent session).
    pub stored: Option<u64>,
}

impl Delivery {
    /// The message as this subscriber receives it: granted QoS, RETAIN as decided at
    /// routing, the shared properties plus the subscription identifiers (MQTT-3.3.4-3).
    pub fn to_message(&self) -> petrel_session::Message {
        let mut properties = self.msg.properties.clone();
        for id in &self.sub_ids {
            properties.0.push(Property::SubscriptionIdentifier(*id));
        }
        petrel_session::Message {
            topic: self.msg.topic.clone(),
            payload: self.msg.payload.clone(),
            qos: self.qos,
            retain: self.retain,
            properties,
        }
    }

    /// [`Self::to_message`] with the message's expiry, for `ServerSession::deliver` (which
    /// sends the time left as Message Expiry Interval, MQTT-3.3.2-6).
    pub fn to_outgoing(&self) -> OutgoingMessage {
        OutgoingMessage {
            message: self.to_message(),
            expires_at: self.msg.expires_at.map(|t| t.into_std()),
        }
    }
}

/// The protocol state of a session between connections: what `petrel_session` hands over
/// with `take_state` (in-flight messages, incoming QoS 2 ids, packet ids), plus the store
/// ids of its durable in-flight messages.
#[derive(Debug, Default)]
pub(crate) struct Saved {
    /// The sans-IO session state.
    pub state: ServerSessionState,
    /// Store message id and QoS of each durable in-flight message, by packet id.
    pub stored: HashMap<PacketId, (u64, QoS)>,
}

/// The connection currently attached to a session. A connection that finds it is no
/// longer the owner was taken over and closes (see `Core::attach`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Owner {
    /// Connection number.
    pub conn_id: NonZeroU64,
}

/// Mutable session state.
#[derive(Debug, Default)]
pub(crate) struct SessionState {
    /// Subscriptions by the filter string the client sent.
    pub subscriptions: HashMap<ByteString, SubInfo>,
    /// Messages waiting for the in-flight window.
    pub queue: VecDeque<Delivery>,
    /// Bytes held by `queue`.
    pub queued_bytes: usize,
    /// The attached connection.
    pub owner: Option<Owner>,
    /// Session expiry interval in seconds.
    pub expiry_interval: u32,
    /// Set when the queue overflowed under the `disconnect` policy.
    pub overflowed: bool,
    /// Set once the session was discarded; nothing may be queued any more.
    pub ended: bool,
    /// Incremented each time the session goes offline, so that an expiry timer started
    /// for an earlier disconnection does nothing.
    pub offline_epoch: u64,
    /// The protocol state between connections (see [`crate::slot`]).
    pub slot: Slot,
}

impl SessionState {
    /// True when `conn_id` is the attached connection.
    pub fn owned_by(&self, conn_id: NonZeroU64) -> bool {
        self.owner.as_ref().is_some_and(|o| o.conn_id == conn_id)
    }
}

/// A session shared between its connection task and publishers.
#[derive(Debug)]
pub(crate) struct Session {
    /// Client identifier.
    pub client_id: ByteString,
    /// Wakes the owning connection when something was queued or changed.
    pub notify: Notify,
    /// True while a connection is attached (read without locking by shared-subscription
    /// selection).
    pub online: AtomicBool,
    state: Mutex<SessionState>,
}

impl Session {
    /// A new empty session.
    pub fn new(client_id: ByteString, expiry_interval: u32) -> Arc<Self> {
        Arc::new(Self {
            client_id,
            notify: Notify::new(),
            online: AtomicBool::new(false),
            state: Mutex::new(SessionState {
                expiry_interval,
                ..SessionState::default()
            }),
        })
    }

    /// Locks the state. A poisoned lock is recovered: the state stays usable.
    pub fn lock(&self) -> MutexGuard<'_, SessionState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True while a connection is attached.
    pub fn is_online(&self) -> bool {
        self.online.load(Ordering::Relaxed)
    }

    /// Queues a delivery, applying the queue limits and drop policy, and wakes the owner.
    /// Returns the store ids of durable deliveries that were dropped (this one or older
    /// ones), which the caller removes from the store.
    pub fn enqueue(&self, delivery: Delivery, limits: &Limits, metrics: &Metrics) -> Vec<u64> {
        let st = self.lock();
        self.enqueue_locked(st, delivery, limits, metrics)
    }

    /// [`Self::enqueue`] for a delivery that is not durable here: one that this session,
    /// persistent and at QoS 1 or 2, must have stored first is handed back untouched
    /// (`Err`). Decided and queued under one lock.
    pub fn enqueue_volatile(
        &self,
        delivery: Delivery,
        limits: &Limits,
        metrics: &Metrics,
    ) -> Result<Vec<u64>, Delivery> {
        let st = self.lock();
        if delivery.qos != QoS::AtMostOnce && st.expiry_interval > 0 {
            return Err(delivery);
        }
        Ok(self.enqueue_locked(st, delivery, limits, metrics))
    }

    fn enqueue_locked(
        &self,
        mut st: MutexGuard<'_, SessionState>,
        delivery: Delivery,
        limits: &Limits,
        metrics: &Metrics,
    ) -> Vec<u64> {
        let mut dropped = Vec::new();
        if st.ended || (st.owner.is_none() && delivery.qos == QoS::AtMostOnce) {
            let reason = if st.ended {
                DropReason::SessionEnded
            } else {
                DropReason::Offline
            };
            metrics.dropped(reason, 1);
            dropped.extend(delivery.stored);
            return dropped;
        }
        let cost = delivery.msg.cost();
        let full = |st: &SessionState| {
            st.queue.len() >= limits.max_queued_messages
                || st.queued_bytes + cost > limits.max_queued_bytes
        };
        if full(&st) {
            match limits.queue_drop_policy {
                DropPolicy::DropOldest => {
                    while full(&st) {
                        let Some(old) = st.queue.pop_front() else {
                            break;
                        };
                        st.queued_bytes -= old.msg.cost();
                        dropped.extend(old.stored);
                        metrics.dropped(DropReason::QueueFull, 1);
                        Metrics::gauge(&metrics.queued_messages, -1);
                    }
                    if full(&st) {
                        metrics.dropped(DropReason::QueueFull, 1);
                        dropped.extend(delivery.stored);
                        return dropped;
                    }
                }
                DropPolicy::DropNewest => {
                    metrics.dropped(DropReason::QueueFull, 1);
                    dropped.extend(delivery.stored);
                    return dropped;
                }
                DropPolicy::Disconnect => {
                    metrics.dropped(DropReason::QueueFull, 1);
                    dropped.extend(delivery.stored);
                    if st.owner.is_some() {
                        st.overflowed = true;
                        drop(st);
                        self.notify.notify_one();
                    }
                    return dropped;
                }
            }
        }
        st.queued_bytes += cost;
        st.queue.push_back(delivery);
        Metrics::gauge(&metrics.queued_messages, 1);
        drop(st);
        self.notify.notify_one();
        dropped
    }

    /// Empties the queue and the saved in-flight messages (session discarded). A connection
    /// still holding the state drops it when it sees `ended`.
    pub fn discard(&self, metrics: &Metrics) {
        let mut st = self.lock();
        st.ended = true;
        let mut n = st.queue.len();
        n += st.slot.discard().map_or(0, |s| s.state.outgoing.len());
        st.queue.clear();
        st.queued_bytes = 0;
        Metrics::gauge(&metrics.queued_messages, -(n as i64));
        metrics.dropped(DropReason::SessionEnded, n as u64);
    }
}
