//! [`SubscriptionIndex`]: every subscription of a broker, exact filters in a hash map and
//! wildcard filters in a level trie.

use std::collections::HashMap;
use std::hash::Hash;

use crate::intern::{StrHasherBuilder, NIL};
use crate::name::level_spans;
use crate::subs::Subs;
use crate::trie::{Trie, ROOT};
use crate::{MatchParams, Matches, SubscriptionOptions, TopicFilter, TopicName};

/// A level of the topic not looked up yet (interned ids are far below it).
const UNSEEN: u32 = u32::MAX - 3;

/// All subscriptions, keyed by subscriber `K` (a client id, a session number...).
///
/// A filter without wildcards matches only the identical name, so such filters are kept
/// in a hash map by their text: one probe finds them all. Filters with a wildcard are
/// stored in a trie by level, so matching a topic name visits only the branches that can
/// match: for a name of `L` levels it costs about `L` hash probes per live wildcard branch,
/// independent of the number of subscriptions, and nothing when there is no wildcard
/// filter at all.
///
/// One subscriber has at most one subscription per (filter, share name); inserting again
/// replaces the options. This type is single-threaded (`&mut self` to change); the broker
/// shares it through [`SharedSubscriptionIndex`](crate::SharedSubscriptionIndex).
#[derive(Debug)]
pub struct SubscriptionIndex<K> {
    /// Filters with a `+` or `#` level.
    trie: Trie<Box<Subs<K>>>,
    /// Filters without wildcards, by their text (a randomly keyed hasher: the text comes
    /// from peers).
    exact: HashMap<Box<str>, Subs<K>, StrHasherBuilder>,
    len: usize,
}

impl<K> Default for SubscriptionIndex<K> {
    fn default() -> Self {
        Self {
            trie: Trie::default(),
            exact: HashMap::default(),
            len: 0,
        }
    }
}

impl<K: Clone + Eq + Hash> SubscriptionIndex<K> {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of subscriptions (shared members included).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there are no subscriptions.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of live trie nodes (the root included) plus one per exact filter, for
    /// statistics.
    pub fn node_count(&self) -> usize {
        self.trie.node_count() + self.exact.len()
    }

    /// Subscribes `key` to `filter` (in shared group `share`, if given). Returns the options
    /// it replaces when the same subscriber already had this subscription.
    pub fn insert(
        &mut self,
        filter: &TopicFilter,
        share: Option<&str>,
        key: K,
        options: SubscriptionOptions,
    ) -> Option<SubscriptionOptions> {
        let subs = if filter.has_wildcards() {
            let node = self.trie.insert_path(filter.levels(), true);
            let data = &mut self.trie.node_mut(node).data;
            &mut **data.get_or_insert_with(Default::default)
        } else {
            self.exact.entry(filter.as_str().into()).or_default()
        };
        let replaced = subs.upsert(share, key, options);
        if replaced.is_none() {
            self.len += 1;
        }
        replaced
    }

    /// Unsubscribes `key` from `filter` (in shared group `share`, if given). Returns the
    /// removed options, or `None` when there was no such subscription.
    pub fn remove(
        &mut self,
        filter: &TopicFilter,
        share: Option<&str>,
        key: &K,
    ) -> Option<SubscriptionOptions> {
        let removed;
        if filter.has_wildcards() {
            let node = self.trie.find_path(filter.levels(), true);
            if node == NIL {
                return None;
            }
            let subs = self.trie.node_mut(node).data.as_mut()?;
            removed = subs.remove(share, key)?;
            if subs.is_empty() {
                self.trie.node_mut(node).data = None;
                self.trie.prune(node);
            }
        } else {
            let subs = self.exact.get_mut(filter.as_str())?;
            removed = subs.remove(share, key)?;
            if subs.is_empty() {
                self.exact.remove(filter.as_str());
            }
        }
        self.len -= 1;
        Some(removed)
    }

    /// The options of one subscription, if it exists.
    pub fn get(
        &self,
        filter: &TopicFilter,
        share: Option<&str>,
        key: &K,
    ) -> Option<SubscriptionOptions> {
        if !filter.has_wildcards() {
            return self.exact.get(filter.as_str())?.get(share, key);
        }
        let node = self.trie.find_path(filter.levels(), true);
        if node == NIL {
            return None;
        }
        self.trie.node(node).data.as_ref()?.get(share, key)
    }

    /// Finds every subscription matching `topic` into `out` (cleared first).
    ///
    /// Non-shared subscriptions are all reported (see [`Matches::deliveries`] to merge a
    /// subscriber's overlapping ones); each matching shared group contributes one member,
    /// chosen by `params.share` among the members `params.available` accepts. Filters
    /// starting with a wildcard do not match names starting with `$` (MQTT-4.7.2-1).
    pub fn matches(&self, topic: &TopicName, params: &MatchParams<'_, K>, out: &mut Matches<K>) {
        out.clear();
        self.collect(topic, params, out);
    }

    /// Like [`SubscriptionIndex::matches`] but appends to `out` without clearing it.
    pub fn collect(&self, topic: &TopicName, params: &MatchParams<'_, K>, out: &mut Matches<K>) {
        out.spans.clear();
        self.collect_split(topic, params, out);
    }

    /// [`SubscriptionIndex::collect`] with `out.spans` either empty or holding the topic's
    /// levels (split once for several indexes). The exact filters cost one probe; the topic
    /// is split only when there are wildcard filters, and a level is interned only when the
    /// walk reaches a node with literal children at its depth, so branches that end early
    /// cost no look-up.
    pub(crate) fn collect_split(
        &self,
        topic: &TopicName,
        params: &MatchParams<'_, K>,
        out: &mut Matches<K>,
    ) {
        if !self.exact.is_empty() {
            if let Some(subs) = self.exact.get(topic.as_str()) {
                subs.emit(params, &mut out.direct, &mut out.shared);
            }
        }
        if self.trie.is_bare() {
            return;
        }
        if out.spans.is_empty() {
            level_spans(topic.as_str(), &mut out.spans);
        }
        let Matches {
            direct,
            shared,
            levels,
            stack,
            spans,
        } = out;
        let text = topic.as_str();
        levels.clear();
        levels.resize(spans.len(), UNSEEN);
        let depth_end = spans.len() as u32;
        let sys = topic.is_sys();
        stack.clear();
        stack.push((ROOT, 0));
        while let Some((id, depth)) = stack.pop() {
            let node = self.trie.node(id);
            // MQTT-4.7.2-1: no leading wildcard for `$` names.
            let wild = !(sys && depth == 0);
            if wild && node.hash != NIL {
                self.emit(node.hash, params, direct, shared);
            }
            if depth == depth_end {
                self.emit(id, params, direct, shared);
                continue;
            }
            if wild && node.plus != NIL {
                stack.push((node.plus, depth + 1));
            }
            if node.first_child == NIL {
                continue;
            }
            let d = depth as usize;
            let only = self.trie.only_child(node);
            if only != NIL {
                // One literal child: compare levels instead of two hash probes.
                let hit = match levels.get(d).copied() {
                    Some(UNSEEN) => {
                        let (start, end) = spans.get(d).copied().unwrap_or_default();
                        let level = text.get(start as usize..end as usize).unwrap_or_default();
                        self.trie.level_text(only) == level
                    }
                    Some(atom) => self.trie.atom(only) == atom,
                    None => false,
                };
                if hit {
                    stack.push((only, depth + 1));
                }
                continue;
            }
            let atom = match levels.get(d).copied() {
                Some(UNSEEN) => {
                    let (start, end) = spans.get(d).copied().unwrap_or_default();
                    let level = text.get(start as usize..end as usize).unwrap_or_default();
                    let atom = self.trie.lookup_level(level);
                    if let Some(slot) = levels.get_mut(d) {
                        *slot = atom;
                    }
                    atom
                }
                Some(atom) => atom,
                None => NIL,
            };
            let child = self.trie.child(id, atom);
            if child != NIL {
                stack.push((child, depth + 1));
            }
        }
    }

    /// Reports the subscriptions of trie node `id`, if it has any.
    fn emit(
        &self,
        id: u32,
        params: &MatchParams<'_, K>,
        direct: &mut Vec<crate::Matched<K>>,
        shared: &mut Vec<crate::Matched<K>>,
    ) {
        if let Some(subs) = self.trie.node(id).data.as_ref() {
            subs.emit(params, direct, shared);
        }
    }
}
