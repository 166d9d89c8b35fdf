//! Durable session state: converting between the broker's in-memory messages and the
//! store's records, and rebuilding a session's queue and in-flight window at start-up.
//!
//! What the broker writes, and when (see also `Core::route` and the connection's
//! `persist` batch):
//! - a QoS 1/2 message routed to a persistent session is enqueued in the store, and the
//!   PUBACK/PUBREC goes to the publisher only after that commit (an incoming QoS 2 packet
//!   id is committed in the same batch, so a resent PUBLISH is never routed twice);
//! - a QoS 0/1 message is queued for its subscribers as soon as its commit has started,
//!   not after it: a subscriber may get it before the publisher's PUBACK. A crash before
//!   the commit loses nothing acknowledged (the publisher resends; at least once). A QoS 2
//!   message is queued only after its commit, and so is every message while the store is
//!   failing (`Store::is_healthy`), so that a refused message is not delivered;
//! - a QoS 2 PUBLISH to a subscriber goes on the wire only after its packet id is
//!   committed (`MarkSent`), a PUBREL only after `MarkReleased`, a PUBCOMP only after the
//!   incoming id is forgotten; PUBCOMP from a subscriber removes the message (`Complete`);
//! - QoS 1 packet ids (`MarkSent`) and removals after PUBACK (`Dequeue`, by message id)
//!   go to the store without waiting. The store orders them after the message's
//!   `Enqueue`; when all three reach its writer before the enqueue was written they
//!   cancel out and nothing is written (`petrel_store`'s group commit), which is what
//!   keeps the disk store close to the memory store for online subscribers.

use std::sync::Arc;
use std::time::Duration;

use petrel_session::{InFlight, OutState};
use petrel_store::{DeliveryState, PendingDelivery, StoredMessage, StoredSession};
use tokio::time::Instant;

use crate::config::{StorageBackend, StorageConfig, StorageDurability};
use crate::message::Message;
use crate::metrics::Metrics;
use crate::session::{Delivery, Saved, Session};

/// Milliseconds since the Unix epoch.
pub(crate) fn wall_ms() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(now.as_millis()).unwrap_or(u64::MAX)
}

/// The store record of a message (its expiry as wall-clock time).
pub(crate) fn stored_message(msg: &Message) -> StoredMessage {
    let expires_at_ms = msg.expires_at.map(|at| {
        let left = at.saturating_duration_since(Instant::now());
        wall_ms().saturating_add(u64::try_from(left.as_millis()).unwrap_or(u64::MAX))
    });
    StoredMessage::new(msg.topic.clone(), msg.payload.clone(), msg.qos)
        .with_retain(msg.retain)
        .with_properties(msg.properties.clone())
        .with_expiry(expires_at_ms)
}

/// A message read back from the store; `None` when it has expired.
pub(crate) fn restored_message(m: &StoredMessage, now: Instant, wall: u64) -> Option<Arc<Message>> {
    let expires_at = match m.expires_at_ms {
        Some(at) if at <= wall => return None,
        Some(at) => Some(now + Duration::from_millis(at - wall)),
        None => None,
    };
    let mut msg = Message::new(
        m.topic.clone(),
        m.payload.clone(),
        m.qos,
        m.retain,
        &m.properties,
        now,
        None,
    );
    Arc::make_mut(&mut msg).expires_at = expires_at;
    Some(msg)
}

/// Puts a stored session's queue, in-flight messages and incoming QoS 2 ids back into
/// `session` (in-flight ones as `petrel_session` state, resent with DUP on resume).
/// Expired messages that were never sent are left out (the caller removes them from the
/// store).
pub(crate) fn restore_queue(session: &Session, record: &StoredSession, metrics: &Metrics) {
    let now = Instant::now();
    let wall = wall_ms();
    let mut saved = Saved::default();
    let mut st = session.lock();
    for p in &record.queue {
        let Some(msg) = restored_message(&p.message, now, wall).or_else(|| {
            // A message in flight is completed even after it expired.
            (p.state != DeliveryState::Queued)
                .then(|| restored_message(&p.message.clone().with_expiry(None), now, wall))
                .flatten()
        }) else {
            continue;
        };
        let delivery = delivery_of(p, msg);
        match (p.state, p.packet_id) {
            (DeliveryState::Queued, _) | (_, None) => {
                st.queued_bytes += delivery.msg.cost();
                st.queue.push_back(delivery);
            }
            (state, Some(packet_id)) => {
                let state = match state {
                    DeliveryState::Released => OutState::Released,
                    _ => OutState::Published,
                };
                saved.stored.insert(packet_id, (p.message_id, delivery.qos));
                saved.state.outgoing.push(InFlight {
                    packet_id,
                    message: delivery.to_message(),
                    state,
                    sent: false,
                    transmitted: true,
                });
            }
        }
        Metrics::gauge(&metrics.queued_messages, 1);
    }
    drop(st);
    saved.state.incoming_qos2 = record.incoming_qos2.clone();
    saved.state.next_packet_id = saved
        .state
        .outgoing
        .iter()
        .map(|e| e.packet_id.get())
        .max()
        .map_or(1, |m| m.wrapping_add(1).max(1));
    session.lock().slot.restore(saved);
}

fn delivery_of(p: &PendingDelivery, msg: Arc<Message>) -> Delivery {
    Delivery {
        msg,
        qos: p.qos,
        retain: p.retain,
        sub_ids: p.subscription_ids.clone(),
        stored: Some(p.message_id),
    }
}

impl StorageConfig {
    /// Opens the store this section describes. A damaged data directory, or one in use by
    /// another broker, is refused with an error that names it.
    pub fn open(&self) -> Result<Arc<dyn petrel_store::Store>, petrel_store::StoreError> {
        match self.backend {
            StorageBackend::Memory => Ok(Arc::new(petrel_store::MemoryStore::new())),
            StorageBackend::Disk => {
                let durability = match self.durability {
                    StorageDurability::Process => petrel_store::Durability::Process,
                    StorageDurability::Power => petrel_store::Durability::Power,
                };
                let options = petrel_store::SqliteOptions::default().with_durability(durability);
                Ok(Arc::new(petrel_store::SqliteStore::open(
                    &self.dir, options,
                )?))
            }
        }
    }
}
