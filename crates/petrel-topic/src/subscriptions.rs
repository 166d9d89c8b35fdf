//! [`SubscriptionIndex`]: every subscription of a broker in a level trie.

use std::hash::Hash;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::entries::EntryList;
use crate::intern::NIL;
use crate::name::level_spans;
use crate::trie::{Trie, ROOT};
use crate::{
    MatchParams, Matched, Matches, ShareChoice, SubscriptionOptions, TopicFilter, TopicName,
};

/// A level of the topic not looked up yet (interned ids are far below it).
const UNSEEN: u32 = u32::MAX - 3;

/// A shared-subscription group at one filter.
#[derive(Debug)]
struct Group<K> {
    name: Box<str>,
    members: EntryList<K>,
    /// Round-robin position; atomic so matching needs only `&self`.
    cursor: AtomicUsize,
}

/// Everything subscribed at one filter.
#[derive(Debug)]
struct Subs<K> {
    direct: EntryList<K>,
    /// Boxed on purpose: shared groups are rare, so most filters pay 8 bytes, not 24.
    #[allow(clippy::box_collection)]
    shared: Option<Box<Vec<Group<K>>>>,
}

impl<K: Clone + Eq + Hash> Subs<K> {
    fn is_empty(&self) -> bool {
        self.direct.is_empty() && self.shared.is_none()
    }

    fn groups(&self) -> &[Group<K>] {
        self.shared.as_deref().map_or(&[], |g| g.as_slice())
    }
}

/// All subscriptions, keyed by subscriber `K` (a client id, a session number...).
///
/// Filters are stored in a trie by level, so matching a topic name visits only the
/// branches that can match: for a name of `L` levels it costs about `L` hash probes per
/// live wildcard branch, independent of the number of subscriptions.
///
/// One subscriber has at most one subscription per (filter, share name); inserting again
/// replaces the options. This type is single-threaded (`&mut self` to change); the broker
/// shares it through [`SharedSubscriptionIndex`](crate::SharedSubscriptionIndex).
#[derive(Debug)]
pub struct SubscriptionIndex<K> {
    trie: Trie<Box<Subs<K>>>,
    len: usize,
}

impl<K> Default for SubscriptionIndex<K> {
    fn default() -> Self {
        Self {
            trie: Trie::default(),
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

    /// Number of live trie nodes, for statistics.
    pub fn node_count(&self) -> usize {
        self.trie.node_count()
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
        let node = self.trie.insert_path(filter.levels(), true);
        let subs = self.trie.node_mut(node).data.get_or_insert_with(|| {
            Box::new(Subs {
                direct: EntryList::default(),
                shared: None,
            })
        });
        let replaced = match share {
            None => subs.direct.upsert(key, options),
            Some(name) => {
                let groups = subs.shared.get_or_insert_with(Default::default);
                let i = match groups.iter().position(|g| &*g.name == name) {
                    Some(i) => i,
                    None => {
                        groups.push(Group {
                            name: name.into(),
                            members: EntryList::default(),
                            cursor: AtomicUsize::new(0),
                        });
                        groups.len() - 1
                    }
                };
                let group = &mut groups[i];
                group.members.upsert(key, options)
            }
        };
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
        let node = self.trie.find_path(filter.levels(), true);
        if node == NIL {
            return None;
        }
        let subs = self.trie.node_mut(node).data.as_mut()?;
        let removed = match share {
            None => subs.direct.remove(key)?,
            Some(name) => {
                let groups = subs.shared.as_mut()?;
                let i = groups.iter().position(|g| &*g.name == name)?;
                let removed = groups[i].members.remove(key)?;
                if groups[i].members.is_empty() {
                    groups.swap_remove(i);
                    if groups.is_empty() {
                        subs.shared = None;
                    }
                }
                removed
            }
        };
        self.len -= 1;
        if subs.is_empty() {
            self.trie.node_mut(node).data = None;
            self.trie.prune(node);
        }
        Some(removed)
    }

    /// The options of one subscription, if it exists.
    pub fn get(
        &self,
        filter: &TopicFilter,
        share: Option<&str>,
        key: &K,
    ) -> Option<SubscriptionOptions> {
        let node = self.trie.find_path(filter.levels(), true);
        if node == NIL {
            return None;
        }
        let subs = self.trie.node(node).data.as_ref()?;
        let list = match share {
            None => &subs.direct,
            Some(name) => &subs.groups().iter().find(|g| &*g.name == name)?.members,
        };
        list.items()
            .iter()
            .find(|m| &m.key == key)
            .map(|m| m.options)
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
        level_spans(topic.as_str(), &mut out.spans);
        self.collect_split(topic, params, out);
    }

    /// [`SubscriptionIndex::collect`] with `out.spans` already holding the topic's levels.
    /// A level is interned only when the walk reaches a node with literal children at its
    /// depth, so branches that end early cost no look-up.
    pub(crate) fn collect_split(
        &self,
        topic: &TopicName,
        params: &MatchParams<'_, K>,
        out: &mut Matches<K>,
    ) {
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

    fn emit(
        &self,
        id: u32,
        params: &MatchParams<'_, K>,
        direct: &mut Vec<Matched<K>>,
        shared: &mut Vec<Matched<K>>,
    ) {
        let Some(subs) = self.trie.node(id).data.as_ref() else {
            return;
        };
        let items = subs.direct.items();
        match params.publisher {
            // MQTT-3.8.3-3: No Local subscriptions do not get their own messages.
            Some(p) => direct.extend(
                items
                    .iter()
                    .filter(|m| !(m.options.no_local && &m.key == p))
                    .cloned(),
            ),
            None => direct.extend_from_slice(items),
        }
        for group in subs.groups() {
            if let Some(m) = pick(group, params) {
                shared.push(m.clone());
            }
        }
    }
}

/// One member of `group` for this message, or `None` when no member is available.
fn pick<'g, K>(group: &'g Group<K>, params: &MatchParams<'_, K>) -> Option<&'g Matched<K>> {
    let members = group.members_items();
    let n = members.len();
    if n == 0 {
        return None;
    }
    let start = match params.share {
        ShareChoice::RoundRobin => group.cursor.fetch_add(1, Ordering::Relaxed),
        ShareChoice::Random(r) | ShareChoice::Sticky(r) => (r % n as u64) as usize,
    };
    (0..n)
        .map(|i| &members[(start.wrapping_add(i)) % n])
        .find(|m| params.available.is_none_or(|ok| ok(&m.key)))
}

impl<K> Group<K> {
    fn members_items(&self) -> &[Matched<K>] {
        self.members.raw_items()
    }
}
