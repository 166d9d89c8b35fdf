//! [`SharedSubscriptionIndex`]: the subscription index shared by every connection task.
//!
//! # Scheme: sharded reader-writer locks by first level
//!
//! Filters are spread over `N` shards by a hash of their first level; filters whose first
//! level is `+` or `#` live in one extra wildcard shard. Every shard is a plain
//! [`SubscriptionIndex`] behind a [`std::sync::RwLock`].
//!
//! Matching a topic read-locks two shards: the one its first level hashes to and the
//! wildcard shard (skipped for `$` names, which leading wildcards never match,
//! MQTT-4.7.2-1). Readers never block each other. A SUBSCRIBE or UNSUBSCRIBE write-locks one
//! shard for a single trie insertion or removal (about a microsecond), so a PUBLISH waits
//! at most that long, and only if it needs that very shard; the other shards carry on.
//!
//! Why not copy-on-write (e.g. an atomically swapped `Arc` of the whole index): each write
//! would copy an index of up to millions of filters, or need a persistent trie whose reads
//! chase more pointers. Short, sharded write locks keep matching at full single-threaded
//! speed, and the `concurrent` benchmark measures match throughput while a writer thread
//! subscribes and unsubscribes in a loop.

use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::{MatchParams, Matches, SubscriptionIndex, SubscriptionOptions, TopicFilter, TopicName};

/// Default number of literal shards.
pub const DEFAULT_SHARDS: usize = 16;

/// A thread-safe [`SubscriptionIndex`]: `&self` for everything, matching read-mostly.
/// See the module documentation for the locking scheme.
#[derive(Debug)]
pub struct SharedSubscriptionIndex<K> {
    shards: Box<[RwLock<SubscriptionIndex<K>>]>,
    wildcard: RwLock<SubscriptionIndex<K>>,
    hasher: RandomState,
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
            hasher: RandomState::new(),
        }
    }

    fn shard(&self, first_level: &str) -> &RwLock<SubscriptionIndex<K>> {
        let i = self.hasher.hash_one(first_level) as usize % self.shards.len();
        &self.shards[i]
    }

    fn shard_for(&self, filter: &TopicFilter) -> &RwLock<SubscriptionIndex<K>> {
        match filter.levels().next() {
            Some("+" | "#") => &self.wildcard,
            Some(first) => self.shard(first),
            None => &self.wildcard,
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
        write(self.shard_for(filter)).insert(filter, share, key, options)
    }

    /// Unsubscribes; see [`SubscriptionIndex::remove`].
    pub fn remove(
        &self,
        filter: &TopicFilter,
        share: Option<&str>,
        key: &K,
    ) -> Option<SubscriptionOptions> {
        write(self.shard_for(filter)).remove(filter, share, key)
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
        let first = topic.levels().next().unwrap_or("");
        read(self.shard(first)).collect(topic, params, out);
        if !topic.is_sys() {
            read(&self.wildcard).collect(topic, params, out);
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
