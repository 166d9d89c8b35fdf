//! What a match returns: a reusable output buffer, per-call parameters, and the grouping of
//! overlapping subscriptions into one delivery per subscriber.

use std::num::NonZeroU32;

use crate::Matched;

/// How a shared-subscription group picks the member that receives a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ShareChoice {
    /// Each group hands messages to its members in turn (a per-group atomic counter, so it
    /// works under a read lock).
    #[default]
    RoundRobin,
    /// Start from the member at this random number modulo the group size; pass a fresh
    /// random number per message.
    Random(u64),
    /// Start from the member at this hash modulo the group size; pass a hash of the
    /// publisher (client id) so one publisher's messages stick to one member.
    Sticky(u64),
}

/// Per-call matching parameters.
pub struct MatchParams<'a, K> {
    /// The publishing subscriber, if it is one: its own No Local subscriptions are skipped
    /// (MQTT-3.8.3-3).
    pub publisher: Option<&'a K>,
    /// How shared groups pick a member.
    pub share: ShareChoice,
    /// Whether a shared-group member can take a message now (online, queue not full). A
    /// member for which this returns false is skipped and the next one is tried; a group
    /// with no available member yields nothing. `None` accepts everyone.
    pub available: Option<&'a dyn Fn(&K) -> bool>,
}

impl<K> Default for MatchParams<'_, K> {
    fn default() -> Self {
        Self {
            publisher: None,
            share: ShareChoice::RoundRobin,
            available: None,
        }
    }
}

impl<K> core::fmt::Debug for MatchParams<'_, K> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MatchParams")
            .field("publisher", &self.publisher.is_some())
            .field("share", &self.share)
            .field("available", &self.available.is_some())
            .finish()
    }
}

/// The result of matching one topic name: reuse one per task to avoid allocating on the
/// hot path (matching clears it first and keeps its capacity).
#[derive(Debug)]
pub struct Matches<K> {
    pub(crate) direct: Vec<Matched<K>>,
    pub(crate) shared: Vec<Matched<K>>,
    /// Interned level ids of the topic in the index being walked, looked up on demand.
    pub(crate) levels: Vec<u32>,
    pub(crate) stack: Vec<(u32, u32)>,
    /// Byte ranges of the topic's levels: the topic is split once per match.
    pub(crate) spans: Vec<(u32, u32)>,
}

impl<K> Default for Matches<K> {
    fn default() -> Self {
        Self {
            direct: Vec::new(),
            shared: Vec::new(),
            levels: Vec::new(),
            stack: Vec::new(),
            spans: Vec::new(),
        }
    }
}

impl<K> Matches<K> {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Empties the results, keeping the capacity.
    pub fn clear(&mut self) {
        self.direct.clear();
        self.shared.clear();
    }

    /// Every matching non-shared subscription, one entry per subscription: a subscriber
    /// with overlapping filters appears once per filter. See [`Matches::deliveries`].
    pub fn subscriptions(&self) -> &[Matched<K>] {
        &self.direct
    }

    /// One chosen member per matching shared-subscription group.
    pub fn shared(&self) -> &[Matched<K>] {
        &self.shared
    }

    /// True when nothing matched.
    pub fn is_empty(&self) -> bool {
        self.direct.is_empty() && self.shared.is_empty()
    }

    /// Total number of entries (non-shared subscriptions plus shared picks).
    pub fn len(&self) -> usize {
        self.direct.len() + self.shared.len()
    }

    /// The non-shared matches grouped by subscriber: one [`Delivery`] per subscriber,
    /// carrying all its overlapping subscriptions, so the caller sends one copy at the
    /// maximum QoS with every subscription identifier (MQTT-3.3.4-2, MQTT-3.3.4-3).
    /// Sorts the entries by key.
    pub fn deliveries(&mut self) -> Deliveries<'_, K>
    where
        K: Ord,
    {
        self.direct.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        Deliveries { rest: &self.direct }
    }

    /// Like [`Matches::deliveries`] for keys that are not `Ord` (an `Arc` of a session, say):
    /// entries are sorted by `sort_key`, which must give equal values exactly for equal keys
    /// (e.g. `|s| Arc::as_ptr(s) as usize`, or the client id).
    pub fn deliveries_by_key<T: Ord>(
        &mut self,
        mut sort_key: impl FnMut(&K) -> T,
    ) -> Deliveries<'_, K> {
        self.direct.sort_unstable_by_key(|m| sort_key(&m.key));
        Deliveries { rest: &self.direct }
    }
}

/// Iterator over [`Delivery`] values, from [`Matches::deliveries`].
#[derive(Debug)]
pub struct Deliveries<'a, K> {
    rest: &'a [Matched<K>],
}

impl<'a, K: Eq> Iterator for Deliveries<'a, K> {
    type Item = Delivery<'a, K>;
    fn next(&mut self) -> Option<Delivery<'a, K>> {
        let first = self.rest.first()?;
        let run = self
            .rest
            .iter()
            .position(|m| m.key != first.key)
            .unwrap_or(self.rest.len());
        let (group, rest) = self.rest.split_at(run);
        self.rest = rest;
        Some(Delivery {
            subscriptions: group,
        })
    }
}

/// All matching subscriptions of one subscriber for one message.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a, K> {
    subscriptions: &'a [Matched<K>],
}

impl<'a, K> Delivery<'a, K> {
    /// The subscriber's matching subscriptions (at least one, all with the same key).
    pub fn subscriptions(&self) -> &'a [Matched<K>] {
        self.subscriptions
    }

    /// The subscriber.
    pub fn key(&self) -> &'a K {
        &self.subscriptions[0].key
    }

    /// The maximum QoS over the overlapping subscriptions (MQTT-3.3.4-2).
    pub fn qos(&self) -> u8 {
        self.subscriptions
            .iter()
            .map(|m| m.options.qos)
            .max()
            .unwrap_or(0)
    }

    /// True when any overlapping subscription asked for Retain As Published.
    pub fn retain_as_published(&self) -> bool {
        self.subscriptions
            .iter()
            .any(|m| m.options.retain_as_published)
    }

    /// Every subscription identifier of the overlapping subscriptions (MQTT-3.3.4-3).
    pub fn identifiers(&self) -> impl Iterator<Item = NonZeroU32> + 'a {
        self.subscriptions
            .iter()
            .filter_map(|m| m.options.identifier)
    }
}
