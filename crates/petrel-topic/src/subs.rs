//! Everything subscribed at one filter: the direct subscribers and the shared groups, and
//! how a match reports them.

use std::hash::Hash;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::entries::EntryList;
use crate::{MatchParams, Matched, ShareChoice, SubscriptionOptions};

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
pub(crate) struct Subs<K> {
    direct: EntryList<K>,
    /// Boxed on purpose: shared groups are rare, so most filters pay 8 bytes, not 24.
    #[allow(clippy::box_collection)]
    shared: Option<Box<Vec<Group<K>>>>,
}

impl<K> Default for Subs<K> {
    fn default() -> Self {
        Self {
            direct: EntryList::default(),
            shared: None,
        }
    }
}

impl<K: Clone + Eq + Hash> Subs<K> {
    /// True when nobody is subscribed here any more.
    pub(crate) fn is_empty(&self) -> bool {
        self.direct.is_empty() && self.shared.is_none()
    }

    fn groups(&self) -> &[Group<K>] {
        self.shared.as_deref().map_or(&[], |g| g.as_slice())
    }

    /// Adds or replaces the subscription of `key` (in group `share`, if given), returning
    /// the replaced options.
    pub(crate) fn upsert(
        &mut self,
        share: Option<&str>,
        key: K,
        options: SubscriptionOptions,
    ) -> Option<SubscriptionOptions> {
        let Some(name) = share else {
            return self.direct.upsert(key, options);
        };
        let groups = self.shared.get_or_insert_with(Default::default);
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
        groups[i].members.upsert(key, options)
    }

    /// Removes the subscription of `key` (in group `share`, if given), returning its
    /// options. An emptied group is dropped.
    pub(crate) fn remove(&mut self, share: Option<&str>, key: &K) -> Option<SubscriptionOptions> {
        let Some(name) = share else {
            return self.direct.remove(key);
        };
        let groups = self.shared.as_mut()?;
        let i = groups.iter().position(|g| &*g.name == name)?;
        let removed = groups[i].members.remove(key)?;
        if groups[i].members.is_empty() {
            groups.swap_remove(i);
            if groups.is_empty() {
                self.shared = None;
            }
        }
        Some(removed)
    }

    /// The options of the subscription of `key` (in group `share`, if given).
    pub(crate) fn get(&self, share: Option<&str>, key: &K) -> Option<SubscriptionOptions> {
        let list = match share {
            None => &self.direct,
            Some(name) => &self.groups().iter().find(|g| &*g.name == name)?.members,
        };
        list.items()
            .iter()
            .find(|m| &m.key == key)
            .map(|m| m.options)
    }

    /// Reports this filter's subscriptions for one message: every direct subscriber (but
    /// the publisher's own No Local ones) into `direct`, one member per group into `shared`.
    pub(crate) fn emit(
        &self,
        params: &MatchParams<'_, K>,
        direct: &mut Vec<Matched<K>>,
        shared: &mut Vec<Matched<K>>,
    ) {
        let items = self.direct.items();
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
        for group in self.groups() {
            if let Some(m) = pick(group, params) {
                shared.push(m.clone());
            }
        }
    }
}

/// One member of `group` for this message, or `None` when no member is available.
fn pick<'g, K>(group: &'g Group<K>, params: &MatchParams<'_, K>) -> Option<&'g Matched<K>> {
    let members = group.members.raw_items();
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
