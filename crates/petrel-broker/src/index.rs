//! The shared, read-mostly subscription index: `petrel-topic`'s sharded
//! [`SharedSubscriptionIndex`], keyed by session. Publishing tasks match under read locks;
//! SUBSCRIBE and UNSUBSCRIBE write-lock one shard.

use std::cell::Cell;
use std::hash::{Hash, Hasher};
use std::num::NonZeroU32;
use std::sync::Arc;

use petrel_codec::QoS;
#[cfg(test)]
use petrel_codec::SubscriptionOptions;
use petrel_topic::{
    MatchParams, Matched, Matches, SharedSubscriptionIndex, SubscriptionFilter, TopicName,
};

use crate::session::{Session, SubInfo};

/// A session as an index key: equal when it is the same session object.
#[derive(Debug, Clone)]
struct Key(Arc<Session>);

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Key {}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (Arc::as_ptr(&self.0) as usize).hash(state);
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
    /// Identifiers of every matching subscription (MQTT-3.3.4-3).
    pub sub_ids: Vec<u32>,
}

fn qos_u8(q: QoS) -> u8 {
    q as u8
}

fn qos_from(q: u8) -> QoS {
    QoS::from_u8(q).unwrap_or(QoS::AtMostOnce)
}

fn topic_options(info: SubInfo) -> petrel_topic::SubscriptionOptions {
    petrel_topic::SubscriptionOptions {
        qos: qos_u8(info.options.qos),
        no_local: info.options.no_local,
        retain_as_published: info.options.retain_as_published,
        identifier: info.id.and_then(NonZeroU32::new),
    }
}

/// The subscription index.
#[derive(Debug, Default)]
pub(crate) struct SubscriptionIndex {
    inner: SharedSubscriptionIndex<Key>,
}

impl SubscriptionIndex {
    /// Number of subscriptions held.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Adds or replaces a subscription. Returns true when it already existed.
    pub fn subscribe(
        &self,
        filter: &SubscriptionFilter,
        session: &Arc<Session>,
        info: SubInfo,
    ) -> bool {
        let key = Key(session.clone());
        self.inner
            .insert(
                filter.filter(),
                filter.share_name(),
                key,
                topic_options(info),
            )
            .is_some()
    }

    /// Removes a subscription. Returns true when it existed.
    pub fn unsubscribe(&self, filter: &SubscriptionFilter, session: &Arc<Session>) -> bool {
        let key = Key(session.clone());
        self.inner
            .remove(filter.filter(), filter.share_name(), &key)
            .is_some()
    }

    /// Every session that should receive a message on `topic`, one target per session
    /// for ordinary subscriptions plus one per matching shared group (preferring connected
    /// members). `origin` is the publisher's client id, for No Local (MQTT-3.8.3-3).
    #[cfg(test)]
    pub fn route(&self, topic: &TopicName, qos: QoS, origin: Option<&str>) -> Vec<Target> {
        let mut targets = Vec::new();
        self.route_each(topic, qos, origin, |t| targets.push(t));
        targets
    }

    /// [`Self::route`] handing each target to `each` as it is found: no list of targets
    /// is built per message. `each` runs after the index's locks are released.
    #[inline]
    pub fn route_each(
        &self,
        topic: &TopicName,
        qos: QoS,
        origin: Option<&str>,
        each: impl FnMut(Target),
    ) {
        let online = |k: &Key| k.0.is_online();
        let params = MatchParams {
            available: Some(&online),
            ..MatchParams::default()
        };
        // The match buffer of this thread, reused: no allocation per message once it
        // has grown to the largest fan-out seen. Taken out of the cell while in use, so
        // `each` may route too (it then uses a fresh buffer).
        MATCHES.with(|cell| {
            let mut found = cell.take();
            self.inner.matches(topic, &params, &mut found);
            Self::targets(&mut found, qos, origin, each);
            // Drops the session references now, keeps the capacity.
            found.clear();
            cell.set(found);
        });
    }

    /// One target per matching session (and per shared group) of `found`, handed to `each`.
    #[inline]
    fn targets(
        found: &mut Matches<Key>,
        qos: QoS,
        origin: Option<&str>,
        mut each: impl FnMut(Target),
    ) {
        let is_origin = |m: &Matched<Key>| origin == Some(&*m.key.0.client_id);
        // MQTT-3.8.3-3: No Local subscriptions of the publisher itself do not count.
        let counts = |m: &&Matched<Key>| !(m.options.no_local && is_origin(m));
        for delivery in found.deliveries_by_key(|k| Arc::as_ptr(&k.0) as usize) {
            let subs = delivery.subscriptions();
            let Some(first) = subs.iter().find(counts) else {
                continue;
            };
            let mut max = 0;
            let mut retain_as_published = false;
            let mut sub_ids = Vec::new();
            for m in subs.iter().filter(counts) {
                max = max.max(m.options.qos);
                retain_as_published |= m.options.retain_as_published;
                sub_ids.extend(m.options.identifier.map(NonZeroU32::get));
            }
            each(Target {
                session: first.key.0.clone(),
                qos: qos.min(qos_from(max)),
                retain_as_published,
                sub_ids,
            });
        }
        for m in found.shared() {
            each(Target {
                session: m.key.0.clone(),
                qos: qos.min(qos_from(m.options.qos)),
                retain_as_published: m.options.retain_as_published,
                sub_ids: m
                    .options
                    .identifier
                    .map(NonZeroU32::get)
                    .into_iter()
                    .collect(),
            });
        }
    }
}

thread_local! {
    /// Per-thread match buffer of [`SubscriptionIndex::route`].
    static MATCHES: Cell<Matches<Key>> = Cell::new(Matches::new());
}

/// Options of a subscription as the codec spells them, for tests.
#[cfg(test)]
fn opts(qos: QoS) -> SubscriptionOptions {
    SubscriptionOptions {
        qos,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topic::parse_filter;

    fn info(qos: QoS, id: Option<u32>) -> SubInfo {
        SubInfo {
            options: opts(qos),
            id,
        }
    }

    fn online(id: &str) -> Arc<Session> {
        let s = Session::new(id.into(), 0);
        s.online.store(true, std::sync::atomic::Ordering::Relaxed);
        s
    }

    fn name(t: &str) -> TopicName {
        TopicName::new(t).unwrap()
    }

    #[test]
    fn overlapping_subscriptions_deliver_once_at_max_qos_mqtt_3_3_4_2() {
        let idx = SubscriptionIndex::default();
        let s = online("c");
        idx.subscribe(
            &parse_filter(&"a/+".into(), 8).unwrap(),
            &s,
            info(QoS::AtMostOnce, Some(1)),
        );
        idx.subscribe(
            &parse_filter(&"a/#".into(), 8).unwrap(),
            &s,
            info(QoS::ExactlyOnce, Some(2)),
        );
        let t = idx.route(&name("a/b"), QoS::AtLeastOnce, None);
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
        let s = online("c");
        idx.subscribe(
            &parse_filter(&"#".into(), 8).unwrap(),
            &s,
            info(QoS::AtMostOnce, None),
        );
        idx.subscribe(
            &parse_filter(&"+/x".into(), 8).unwrap(),
            &s,
            info(QoS::AtMostOnce, None),
        );
        assert!(idx.route(&name("$SYS/x"), QoS::AtMostOnce, None).is_empty());
        assert_eq!(idx.route(&name("a/x"), QoS::AtMostOnce, None).len(), 1);
    }

    #[test]
    fn shared_round_robin_and_unsubscribe() {
        let idx = SubscriptionIndex::default();
        let a = online("a");
        let b = online("b");
        let f = parse_filter(&"$share/g/t".into(), 8).unwrap();
        idx.subscribe(&f, &a, info(QoS::AtLeastOnce, None));
        idx.subscribe(&f, &b, info(QoS::AtLeastOnce, None));
        let first = idx.route(&name("t"), QoS::AtLeastOnce, None);
        let second = idx.route(&name("t"), QoS::AtLeastOnce, None);
        assert_eq!(first.len(), 1);
        assert_ne!(first[0].session.client_id, second[0].session.client_id);
        assert!(idx.unsubscribe(&f, &a));
        assert!(!idx.unsubscribe(&f, &a));
        assert!(idx.unsubscribe(&f, &b));
        assert!(idx.route(&name("t"), QoS::AtLeastOnce, None).is_empty());
        assert_eq!(idx.len(), 0);
    }

    #[test]
    fn no_local_mqtt_3_8_3_3() {
        let idx = SubscriptionIndex::default();
        let s = online("me");
        let mut i = info(QoS::AtMostOnce, None);
        i.options.no_local = true;
        idx.subscribe(&parse_filter(&"t".into(), 8).unwrap(), &s, i);
        assert!(idx
            .route(&name("t"), QoS::AtMostOnce, Some("me"))
            .is_empty());
        assert_eq!(
            idx.route(&name("t"), QoS::AtMostOnce, Some("other")).len(),
            1
        );
    }
}
