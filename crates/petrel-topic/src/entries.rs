//! Subscriber lists stored at one filter: a `Vec` for fast iteration, plus a key-to-position
//! map once the list grows, so subscribing many clients to one filter stays O(1) each.

use std::collections::HashMap;
use std::hash::Hash;
use std::num::NonZeroU32;

/// Lists longer than this get a position map.
const INDEX_AT: usize = 16;

/// The options of one subscription, as given in SUBSCRIBE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SubscriptionOptions {
    /// Maximum QoS granted for this subscription (0, 1 or 2).
    pub qos: u8,
    /// MQTT 5 No Local: do not deliver the subscriber's own publications (ignored for
    /// shared subscriptions, where setting it is a protocol error, MQTT-3.8.3-4).
    pub no_local: bool,
    /// MQTT 5 Retain As Published: keep the RETAIN flag when forwarding.
    pub retain_as_published: bool,
    /// MQTT 5 subscription identifier, if the SUBSCRIBE carried one.
    pub identifier: Option<NonZeroU32>,
}

/// One subscription found by a match: who, and with which options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched<K> {
    /// The subscriber (client id, session id, ...).
    pub key: K,
    /// The options of the matching subscription.
    pub options: SubscriptionOptions,
}

#[derive(Debug)]
pub(crate) struct EntryList<K> {
    items: Vec<Matched<K>>,
    /// Boxed on purpose: most lists are short and pay 8 bytes, not a whole map header.
    #[allow(clippy::box_collection)]
    positions: Option<Box<HashMap<K, u32>>>,
}

impl<K> Default for EntryList<K> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            positions: None,
        }
    }
}

impl<K> EntryList<K> {
    /// The subscriptions, in no particular order.
    #[inline]
    pub(crate) fn raw_items(&self) -> &[Matched<K>] {
        &self.items
    }
}

impl<K: Clone + Eq + Hash> EntryList<K> {
    #[inline]
    pub(crate) fn items(&self) -> &[Matched<K>] {
        &self.items
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    fn position(&self, key: &K) -> Option<usize> {
        match &self.positions {
            Some(map) => map.get(key).map(|&i| i as usize),
            None => self.items.iter().position(|m| &m.key == key),
        }
    }

    /// Adds or replaces the subscription of `key`, returning the replaced options.
    pub(crate) fn upsert(
        &mut self,
        key: K,
        options: SubscriptionOptions,
    ) -> Option<SubscriptionOptions> {
        if let Some(i) = self.position(&key) {
            return Some(core::mem::replace(&mut self.items[i].options, options));
        }
        let index = self.items.len() as u32;
        if let Some(map) = &mut self.positions {
            map.insert(key.clone(), index);
        }
        if self.items.capacity() == 0 {
            // Most filters have one subscriber: do not let `Vec` round up to four.
            self.items.reserve_exact(1);
        }
        self.items.push(Matched { key, options });
        if self.positions.is_none() && self.items.len() > INDEX_AT {
            let map = self
                .items
                .iter()
                .enumerate()
                .map(|(i, m)| (m.key.clone(), i as u32))
                .collect();
            self.positions = Some(Box::new(map));
        }
        None
    }

    /// Removes the subscription of `key`, returning its options.
    pub(crate) fn remove(&mut self, key: &K) -> Option<SubscriptionOptions> {
        let i = self.position(key)?;
        let removed = self.items.swap_remove(i);
        if let Some(map) = &mut self.positions {
            map.remove(key);
            if let Some(moved) = self.items.get(i) {
                map.insert(moved.key.clone(), i as u32);
            }
            if self.items.len() < INDEX_AT / 2 {
                self.positions = None;
            }
        }
        if self.items.is_empty() {
            self.items = Vec::new();
        }
        Some(removed.options)
    }
}
