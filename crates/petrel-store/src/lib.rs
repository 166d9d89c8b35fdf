//! Persistence for the Petrel MQTT broker.
//!
//! The broker never writes to disk itself: it describes what must survive a restart as
//! [`Op`]erations, groups them into a [`Batch`] and hands the batch to a [`Store`]. The
//! future returned by [`Store::commit`] completes once the whole batch is durable, and only
//! then does the broker acknowledge what the batch describes (a PUBACK, a PUBREC, a SUBACK
//! of a persistent session). Because every caller passes whole batches, a disk store can
//! merge batches from many connections into one write (group commit).
//!
//! This crate ships [`MemoryStore`], which keeps everything in memory and commits at once.
//!
//! ```
//! use petrel_store::{Batch, MemoryStore, Op, Store, StoredMessage};
//! use petrel_codec::QoS;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let store = MemoryStore::new();
//! let mut batch = Batch::new();
//! batch.push(Op::PutRetained(StoredMessage::new("a/b", "hello", QoS::AtLeastOnce)));
//! store.commit(batch).await.unwrap();
//! let snapshot = store.load().await.unwrap();
//! assert_eq!(snapshot.retained.len(), 1);
//! # });
//! ```
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod batch;
mod memory;
mod queue;
mod record;
mod sqlite;

use core::future::Future;
use core::pin::Pin;

pub use batch::{Batch, Op};
pub use memory::MemoryStore;
pub use queue::{DeliveryState, MessageId, PendingDelivery, QueueTarget, StoredWill};
pub use record::{Snapshot, StoredMessage, StoredSession, StoredSubscription};
pub use sqlite::{Durability, FaultSwitch, SqliteOptions, SqliteStore, DATABASE_FILE};

/// The future returned by [`Store`] methods. Boxed so that the trait can be used as
/// `Arc<dyn Store>`.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The medium is full; nothing of the batch was committed.
    #[error("store is full")]
    Full,
    /// An I/O error; nothing of the batch was committed.
    #[error("store I/O error: {0}")]
    Io(String),
    /// Stored data could not be read back.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The store was closed.
    #[error("store is closed")]
    Closed,
}

/// A place where the broker's durable state lives.
///
/// Implementations must apply each batch atomically (all operations or none) and in the
/// order batches were passed to [`Store::commit`] by one caller. The future of `commit`
/// resolves only after the batch is as durable as the store promises to be.
///
/// A batch takes its place in that order when `commit` is called, not when the returned
/// future is first polled: a caller that does not need to wait may drop the future, and
/// the batch is still applied before any batch it commits later.
pub trait Store: Send + Sync + core::fmt::Debug {
    /// Commits a batch of operations. Resolves once the batch is durable. The future
    /// does not borrow the store, so a caller may keep it while doing other work.
    fn commit(&self, batch: Batch) -> StoreFuture<'static, ()>;

    /// Reads everything back, for example at start-up.
    fn load(&self) -> StoreFuture<'_, Snapshot>;

    /// False while the store is known to be failing (its last commit failed, or a
    /// failure is injected). The broker then delivers messages only after their commits,
    /// so that a message it refuses is not delivered either; while it is true, QoS 0/1
    /// messages are delivered as their commits start. Only the group that first meets a
    /// failure can hold messages both delivered and refused.
    fn is_healthy(&self) -> bool {
        true
    }
}
