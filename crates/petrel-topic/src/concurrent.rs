//! [`SharedSubscriptionIndex`]: the subscription index shared by every connection task.
//!
//! # Scheme: sharded reader-writer locks by the first two levels
//!
//! Filters whose first two levels are literal (`site/7/...`, or a one-level `status`) are
//! spread over `N` shards by a hash of those levels; filters with a wildcard in their first
//! two levels (`+/x`, `site/+/temp`, `site/#`, `#`) live in one extra wildcard shard.
//! Two levels rather than one because real deployments put almost everything under one
//! first level (`site/...`, `tenant/...`), which would leave one busy shard. Every shard is
//! a plain [`SubscriptionIndex`] behind a [`std::sync::RwLock`].
//!
//! Matching a topic read-locks two shards in turn: the one its first two levels hash to,
//! and the wildcard shard (only while it holds a subscription: its size is also kept in an
//! atomic counter, so a broker without such filters does not have every publishing thread
//! touch that one lock). Readers never block each other. A SUBSCRIBE or UNSUBSCRIBE
//! write-locks one shard for a single trie insertion or removal (about a microsecond), so a
//! PUBLISH waits at most that long, and only if it needs that very shard; the other shards
//! carry on.
//!
//! Why not copy-on-write (e.g. an atomically swapped `Arc` of the whole index): each write
//! would copy an index of up to millions of filters, or need a persistent trie whose reads
//! chase more pointers. Short, sharded write locks keep matching at full single-threaded
//! speed, and the `concurrent` benchmark measures match throughput while a writer thread
//! subscribes and unsubscribes in a loop.

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::intern::StrHasherBuilder;
use crate::name::Slashes;
use crate::{MatchParams, Matches, SubscriptionIndex, SubscriptionOptions, TopicFilter, TopicName};

/// Default number of literal shards.
pub const DEFAULT_SHARDS: usize = 16;

/// A thread-safe [`SubscriptionIndex`]: `&self` for everything, matching read-mostly.
/// See the module documentation for the locking scheme.
#[derive(Debug)]
pub struct SharedSubscriptionIndex<K> {
    shards: Box<[RwLock<SubscriptionIndex<K>>]>,
    wildcard: RwLock<SubscriptionIndex<K>>,
    /// Number of subscriptions in `wildcard`, stored under its write lock.
    wildcard_len: AtomicUsize,
    hasher: StrHasherBuilder,
}

impl<K: Clone + Eq + Hash> Default for SharedSubscriptionIndex<K> {
    fn default() -> Self {
        Self::with_shards(DEFAULT_SHARDS)
    }
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    // A panic while holding the lock cannot leave the trie half-updated in a way that
    // breaks matching, so a poisoned lock is used as is.
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

impl<K: Clone + Eq + Hash> SharedSubscriptionIndex<K> {
    /// An empty index with [`DEFAULT_SHARDS`] literal shards.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty index with `shards` literal shards (at least one).
    pub fn with_shards(shards: usize) -> Self {
        Self {
            shards: (0..shards.max(1))
                .map(|_| RwLock::new(SubscriptionIndex::new()))
                .collect(),
            wildcard: RwLock::new(SubscriptionIndex::new()),
            wildcard_len: AtomicUsize::new(0),
            hasher: StrHasherBuilder::default(),
        }
    }

    /// The literal shard for names or filters starting with `prefix`: their first two
    /// levels (or only level) and the `/` between them, hashed in one go.
    fn shard(&self, prefix: &str) -> &RwLock<SubscriptionIndex<K>> {
        let mut h = self.hasher.build_hasher();
        h.write(prefix.as_bytes());
        let i = h.finish() as usize % self.shards.len();
        &self.shards[i]
    }

    fn shard_for(&self, filter: &TopicFilter) -> &RwLock<SubscriptionIndex<K>> {
        let mut levels = filter.levels();
        match (levels.next(), levels.next()) {
            (Some("+" | "#"), _) | (_, Some("+" | "#")) | (None, _) => &self.wildcard,
            (Some(first), second) => {
                let len = first.len() + second.map_or(0, |s| 1 + s.len());
                self.shard(filter.as_str().get(..len).unwrap_or_default())
            }
        }
    }

    /// Subscribes; see [`SubscriptionIndex::insert`].
    pub fn insert(
        &self,
        filter: &TopicFilter,
        share: Option<&str>,
        key: K,
        options: SubscriptionOptions,
    ) -> Option<SubscriptionOptions> {
        self.write_shard(filter, |index| index.insert(filter, share, key, options))
    }

    /// Unsubscribes; see [`SubscriptionIndex::remove`].
    pub fn remove(
        &self,
        filter: &TopicFilter,
        share: Option<&str>,
        key: &K,
    ) -> Option<SubscriptionOptions> {
        self.write_shard(filter, |index| index.remove(filter, share, key))
    }

    /// Runs `change` on the shard of `filter` under its write lock, keeping the wildcard
    /// shard's counter in step.
    fn write_shard<R>(
        &self,
        filter: &TopicFilter,
        change: impl FnOnce(&mut SubscriptionIndex<K>) -> R,
    ) -> R {
        let lock = self.shard_for(filter);
        let mut index = write(lock);
        let result = change(&mut index);
        if std::ptr::eq(lock, &self.wildcard) {
            self.wildcard_len.store(index.len(), Ordering::Release);
        }
        result
    }

    /// The options of one subscription; see [`SubscriptionIndex::get`].
    pub fn get(
        &self,
        filter: &TopicFilter,
        share: Option<&str>,
        key: &K,
    ) -> Option<SubscriptionOptions> {
        read(self.shard_for(filter)).get(filter, share, key)
    }

    /// Matches `topic` into `out` (cleared first); see [`SubscriptionIndex::matches`].
    pub fn matches(&self, topic: &TopicName, params: &MatchParams<'_, K>, out: &mut Matches<K>) {
        out.clear();
        // The first shard that needs the levels splits the topic, the second reuses them.
        out.spans.clear();
        let text = topic.as_str();
        // The prefix ends with the second level (or is the whole one-level name).
        let end = Slashes::new(text).nth(1).unwrap_or(text.len());
        let prefix = text.get(..end).unwrap_or_default();
        read(self.shard(prefix)).collect_split(topic, params, out);
        // A subscription that completed before this match began has been counted.
        if self.wildcard_len.load(Ordering::Acquire) != 0 {
            read(&self.wildcard).collect_split(topic, params, out);
        }
    }

    /// Number of subscriptions (takes each shard's read lock in turn).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| read(s).len()).sum::<usize>() + read(&self.wildcard).len()
    }

    /// True when there are no subscriptions.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
