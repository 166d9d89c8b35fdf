//! The shared, read-mostly subscription index: a trie of filter levels whose nodes hold the
//! sessions subscribed there, plus shared-subscription groups. Publishing tasks take the
//! read lock; SUBSCRIBE and UNSUBSCRIBE take the write lock. (A private adapter until the
//! broker moves onto `petrel-topic`'s index.)

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use bytestring::ByteString;
use petrel_codec::QoS;

use crate::session::{Session, SubInfo};
use crate::topic::ParsedFilter;

#[derive(Debug, Clone)]
struct Entry {
    session: Arc<Session>,
    info: SubInfo,
}

#[derive(Debug, Default)]
struct Group {
    members: Vec<Entry>,
    next: AtomicUsize,
}

#[derive(Debug, Default)]
struct Node {
    children: HashMap<Box<str>, Node>,
    subs: HashMap<ByteString, Entry>,
    shared: HashMap<Box<str>, Group>,
}

impl Node {
    fn is_empty(&self) -> bool {
        self.children.is_empty() && self.subs.is_empty() && self.shared.is_empty()
    }
}

/// Where one message goes: one target per session.
#[derive(Debug)]
pub(crate) struct Target {
    /// The receiving session.
    pub session: Arc<Session>,
    /// Highest QoS over the matching subscriptions (MQTT-3.3.4-2..5).
    pub qos: QoS,
    /// Any matching subscription has Retain As Published.
    pub retain_as_published: bool,
    /// Identifiers of every matching subscription.
    pub sub_ids: Vec<u32>,
}

/// The subscription index.
#[derive(Debug, Default)]
pub(crate) struct SubscriptionIndex {
    root: RwLock<Node>,
    count: AtomicUsize,
}

impl SubscriptionIndex {
    /// Number of subscriptions held.
    pub fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Adds or replaces a subscription. Returns true when it already existed.
    pub fn subscribe(
        &self,
        filter: &ParsedFilter<'_>,
        session: &Arc<Session>,
        info: SubInfo,
    ) -> bool {
        let mut root = self.root.write().unwrap_or_else(|e| e.into_inner());
        let mut node = &mut *root;
        for level in filter.filter.split('/') {
            node = node.children.entry(level.into()).or_default();
        }
        let entry = Entry {
            session: session.clone(),
            info,
        };
        let existed = match filter.group {
            None => node.subs.insert(session.client_id.clone(), entry).is_some(),
            Some(group) => {
                let group = node.shared.entry(group.into()).or_default();
                match group
                    .members
                    .iter_mut()
                    .find(|e| e.session.client_id == session.client_id)
                {
                    Some(slot) => {
                        *slot = entry;
                        true
                    }
                    None => {
                        group.members.push(entry);
                        false
                    }
                }
            }
        };
        if !existed {
            self.count.fetch_add(1, Ordering::Relaxed);
        }
        existed
    }

    /// Removes a subscription. Returns true when it existed.
    pub fn unsubscribe(&self, filter: &ParsedFilter<'_>, client_id: &str) -> bool {
        let mut root = self.root.write().unwrap_or_else(|e| e.into_inner());
        let levels: Vec<&str> = filter.filter.split('/').collect();
        let removed = remove(&mut root, &levels, filter.group, client_id);
        if removed {
            self.count.fetch_sub(1, Ordering::Relaxed);
        }
        removed
    }

    /// Every session that should receive a message on `topic`, one target per session.
    /// `origin` is the publisher, for No Local.
    pub fn route(&self, topic: &str, qos: QoS, origin: Option<&str>) -> Vec<Target> {
        let levels: Vec<&str> = topic.split('/').collect();
        let dollar = topic.starts_with('$');
        let root = self.root.read().unwrap_or_else(|e| e.into_inner());
        let mut nodes = Vec::new();
        collect(&root, &levels, 0, dollar, &mut nodes);
        let mut targets: Vec<Target> = Vec::new();
        let mut by_client: HashMap<&str, usize> = HashMap::new();
        for node in &nodes {
            for entry in node.subs.values() {
                let opts = entry.info.options;
                if opts.no_local && origin == Some(&*entry.session.client_id) {
                    continue;
                }
                let granted = qos.min(opts.qos);
                match by_client.get(&*entry.session.client_id) {
                    Some(&i) => {
                        let t = &mut targets[i];
                        t.qos = t.qos.max(granted);
                        t.retain_as_published |= opts.retain_as_published;
                        t.sub_ids.extend(entry.info.id);
                    }
                    None => {
                        by_client.insert(&entry.session.client_id, targets.len());
                        targets.push(target(entry, granted));
                    }
                }
            }
        }
        // Shared subscriptions: one member per group, preferring connected members; each
        // group delivers separately from ordinary subscriptions (MQTT-4.8.2-?).
        for node in &nodes {
            for group in node.shared.values() {
                if let Some(entry) = pick(group) {
                    targets.push(target(entry, qos.min(entry.info.options.qos)));
                }
            }
        }
        targets
    }
}

fn target(entry: &Entry, qos: QoS) -> Target {
    Target {
        session: entry.session.clone(),
        qos,
        retain_as_published: entry.info.options.retain_as_published,
        sub_ids: entry.info.id.into_iter().collect(),
    }
}

fn pick(group: &Group) -> Option<&Entry> {
    let n = group.members.len();
    if n == 0 {
        return None;
    }
    let start = group.next.fetch_add(1, Ordering::Relaxed);
    let chosen = (0..n)
        .map(|k| &group.members[(start + k) % n])
        .find(|e| e.session.is_online())
        .unwrap_or(&group.members[start % n]);
    Some(chosen)
}

fn collect<'a>(node: &'a Node, levels: &[&str], i: usize, dollar: bool, out: &mut Vec<&'a Node>) {
    let Some(level) = levels.get(i) else {
        out.push(node);
        if let Some(hash) = node.children.get("#") {
            out.push(hash);
        }
        return;
    };
    if let Some(child) = node.children.get(*level) {
        collect(child, levels, i + 1, dollar, out);
    }
    // MQTT-4.7.2-1: no wildcard at the first level matches a `$` topic.
    if i == 0 && dollar {
        return;
    }
    if let Some(child) = node.children.get("+") {
        collect(child, levels, i + 1, dollar, out);
    }
    if let Some(hash) = node.children.get("#") {
        out.push(hash);
    }
}

fn remove(node: &mut Node, levels: &[&str], group: Option<&str>, client_id: &str) -> bool {
    let Some((first, rest)) = levels.split_first() else {
        return match group {
            None => node.subs.remove(client_id).is_some(),
            Some(g) => {
                let Some(grp) = node.shared.get_mut(g) else {
                    return false;
                };
                let before = grp.members.len();
                grp.members.retain(|e| &*e.session.client_id != client_id);
                let removed = grp.members.len() != before;
                if grp.members.is_empty() {
                    node.shared.remove(g);
                }
                removed
            }
        };
    };
    let Some(child) = node.children.get_mut(*first) else {
        return false;
    };
    let removed = remove(child, rest, group, client_id);
    if child.is_empty() {
        node.children.remove(*first);
    }
    removed
}

#[cfg(test)]
mod tests {
    use petrel_codec::SubscriptionOptions;

    use super::*;
    use crate::topic::parse_filter;

    fn info(qos: QoS, id: Option<u32>) -> SubInfo {
        SubInfo {
            options: SubscriptionOptions {
                qos,
                ..Default::default()
            },
            id,
        }
    }

    #[test]
    fn overlapping_subscriptions_deliver_once_at_max_qos_mqtt_3_3_4_2() {
        let idx = SubscriptionIndex::default();
        let s = Session::new("c".into(), 0);
        idx.subscribe(
            &parse_filter("a/+", 8).unwrap(),
            &s,
            info(QoS::AtMostOnce, Some(1)),
        );
        idx.subscribe(
            &parse_filter("a/#", 8).unwrap(),
            &s,
            info(QoS::ExactlyOnce, Some(2)),
        );
        let t = idx.route("a/b", QoS::AtLeastOnce, None);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].qos, QoS::AtLeastOnce);
        let mut ids = t[0].sub_ids.clone();
        ids.sort_unstable();
        assert_eq!(ids, vec![1, 2]);
        assert_eq!(idx.len(), 2);
    }

    #[test]
    fn dollar_topics_mqtt_4_7_2_1() {
        let idx = SubscriptionIndex::default();
        let s = Session::new("c".into(), 0);
        idx.subscribe(
            &parse_filter("#", 8).unwrap(),
            &s,
            info(QoS::AtMostOnce, None),
        );
        idx.subscribe(
            &parse_filter("+/x", 8).unwrap(),
            &s,
            info(QoS::AtMostOnce, None),
        );
        assert!(idx.route("$SYS/x", QoS::AtMostOnce, None).is_empty());
        assert_eq!(idx.route("a/x", QoS::AtMostOnce, None).len(), 1);
    }

    #[test]
    fn shared_round_robin_and_unsubscribe() {
        let idx = SubscriptionIndex::default();
        let a = Session::new("a".into(), 0);
        let b = Session::new("b".into(), 0);
        let f = parse_filter("$share/g/t", 8).unwrap();
        idx.subscribe(&f, &a, info(QoS::AtLeastOnce, None));
        idx.subscribe(&f, &b, info(QoS::AtLeastOnce, None));
        let first = idx.route("t", QoS::AtLeastOnce, None);
        let second = idx.route("t", QoS::AtLeastOnce, None);
        assert_eq!(first.len(), 1);
        assert_ne!(first[0].session.client_id, second[0].session.client_id);
        assert!(idx.unsubscribe(&f, "a"));
        assert!(!idx.unsubscribe(&f, "a"));
        assert!(idx.unsubscribe(&f, "b"));
        assert!(idx.route("t", QoS::AtLeastOnce, None).is_empty());
        assert_eq!(idx.len(), 0);
    }

    #[test]
    fn no_local() {
        let idx = SubscriptionIndex::default();
        let s = Session::new("me".into(), 0);
        let mut i = info(QoS::AtMostOnce, None);
        i.options.no_local = true;
        idx.subscribe(&parse_filter("t", 8).unwrap(), &s, i);
        assert!(idx.route("t", QoS::AtMostOnce, Some("me")).is_empty());
        assert_eq!(idx.route("t", QoS::AtMostOnce, Some("other")).len(), 1);
    }
}
