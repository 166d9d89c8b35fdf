//! Behaviour of the subscription index beyond plain matching: overlapping subscriptions,
//! No Local, shared-group member choice, replacement and removal.

use std::collections::BTreeMap;
use std::num::NonZeroU32;

use petrel_topic::{
    MatchParams, Matches, ShareChoice, SharedSubscriptionIndex, SubscriptionIndex,
    SubscriptionOptions, TopicFilter, TopicName,
};

fn f(s: &str) -> TopicFilter {
    TopicFilter::new(s).unwrap()
}

fn t(s: &str) -> TopicName {
    TopicName::new(s).unwrap()
}

fn opts(qos: u8, id: u32) -> SubscriptionOptions {
    SubscriptionOptions {
        qos,
        identifier: NonZeroU32::new(id),
        ..Default::default()
    }
}

#[test]
fn overlapping_subscriptions_give_one_delivery_at_max_qos_mqtt_3_3_4_2() {
    let mut index = SubscriptionIndex::new();
    index.insert(&f("a/+"), None, "c1", opts(0, 1));
    index.insert(&f("a/#"), None, "c1", opts(2, 2));
    index.insert(&f("a/b"), None, "c1", opts(1, 0));
    index.insert(&f("a/b"), None, "c2", opts(1, 7));
    let mut out = Matches::new();
    index.matches(&t("a/b"), &MatchParams::default(), &mut out);
    assert_eq!(out.subscriptions().len(), 4);
    let got: Vec<_> = out
        .deliveries()
        .map(|d| {
            (
                *d.key(),
                d.qos(),
                d.identifiers().map(|i| i.get()).collect::<Vec<_>>(),
            )
        })
        .collect();
    assert_eq!(got.len(), 2);
    let (key, qos, mut ids) = got[0].clone();
    ids.sort_unstable();
    // MQTT-3.3.4-3: every subscription identifier of the overlapping subscriptions.
    assert_eq!((key, qos, ids), ("c1", 2, vec![1, 2]));
    assert_eq!(got[1], ("c2", 1, vec![7]));
}

#[test]
fn no_local_skips_own_publications_mqtt_3_8_3_3() {
    let mut index = SubscriptionIndex::new();
    let no_local = SubscriptionOptions {
        no_local: true,
        ..Default::default()
    };
    index.insert(&f("chat/#"), None, 1u32, no_local);
    index.insert(&f("chat/room"), None, 1u32, SubscriptionOptions::default());
    index.insert(&f("chat/#"), None, 2u32, no_local);
    let mut out = Matches::new();
    let params = MatchParams {
        publisher: Some(&1),
        ..Default::default()
    };
    index.matches(&t("chat/room"), &params, &mut out);
    let mut keys: Vec<_> = out
        .subscriptions()
        .iter()
        .map(|m| (m.key, m.options.no_local))
        .collect();
    keys.sort_unstable();
    // Subscriber 1 still gets it through its other (not No Local) subscription.
    assert_eq!(keys, vec![(1, false), (2, true)]);
}

#[test]
fn insert_replaces_and_remove_returns_options() {
    let mut index = SubscriptionIndex::new();
    assert_eq!(index.insert(&f("x/y"), None, 5u8, opts(0, 1)), None);
    assert_eq!(
        index.insert(&f("x/y"), None, 5u8, opts(2, 3)),
        Some(opts(0, 1))
    );
    assert_eq!(index.len(), 1);
    assert_eq!(index.get(&f("x/y"), None, &5), Some(opts(2, 3)));
    assert_eq!(index.remove(&f("x/y"), Some("g"), &5), None);
    assert_eq!(index.remove(&f("x/+"), None, &5), None);
    assert_eq!(index.remove(&f("x/y"), None, &6), None);
    assert_eq!(index.remove(&f("x/y"), None, &5), Some(opts(2, 3)));
    assert!(index.is_empty());
    assert_eq!(index.node_count(), 1);
}

#[test]
fn many_subscribers_on_one_filter() {
    let mut index = SubscriptionIndex::new();
    for k in 0..1000u32 {
        index.insert(&f("broadcast"), None, k, opts(1, 0));
    }
    for k in (0..1000u32).step_by(2) {
        assert!(index.remove(&f("broadcast"), None, &k).is_some());
    }
    let mut out = Matches::new();
    index.matches(&t("broadcast"), &MatchParams::default(), &mut out);
    let mut keys: Vec<u32> = out.subscriptions().iter().map(|m| m.key).collect();
    keys.sort_unstable();
    assert_eq!(keys, (1..1000).step_by(2).collect::<Vec<u32>>());
}

fn shared_index() -> SubscriptionIndex<u32> {
    let mut index = SubscriptionIndex::new();
    for k in 0..4 {
        index.insert(&f("jobs/+"), Some("workers"), k, opts(1, 0));
    }
    index.insert(&f("jobs/#"), Some("audit"), 9, opts(0, 0));
    index.insert(&f("jobs/+"), None, 4, opts(0, 0));
    index
}

#[test]
fn shared_group_round_robin_one_member_per_message_4_8_2() {
    let index = shared_index();
    let mut out = Matches::new();
    let mut counts = BTreeMap::new();
    for _ in 0..40 {
        index.matches(&t("jobs/1"), &MatchParams::default(), &mut out);
        // One pick per group (workers and audit), plus the ordinary subscriber.
        assert_eq!(out.shared().len(), 2);
        assert_eq!(out.subscriptions().len(), 1);
        for m in out.shared() {
            *counts.entry(m.key).or_insert(0) += 1;
        }
    }
    assert_eq!(
        counts,
        BTreeMap::from([(0, 10), (1, 10), (2, 10), (3, 10), (9, 40)])
    );
}

#[test]
fn shared_group_sticky_and_random_choice() {
    let index = shared_index();
    let mut out = Matches::new();
    let pick = |out: &Matches<u32>| out.shared().iter().find(|m| m.key != 9).unwrap().key;
    let sticky = MatchParams {
        share: ShareChoice::Sticky(0xdead_beef),
        ..Default::default()
    };
    index.matches(&t("jobs/1"), &sticky, &mut out);
    let first = pick(&out);
    for _ in 0..10 {
        index.matches(&t("jobs/2"), &sticky, &mut out);
        assert_eq!(pick(&out), first);
    }
    let mut seen = std::collections::BTreeSet::new();
    for r in 0..16u64 {
        let random = MatchParams {
            share: ShareChoice::Random(r),
            ..Default::default()
        };
        index.matches(&t("jobs/1"), &random, &mut out);
        seen.insert(pick(&out));
    }
    assert_eq!(seen.len(), 4);
}

#[test]
fn shared_group_skips_unavailable_members() {
    let index = shared_index();
    let mut out = Matches::new();
    let only_two = |k: &u32| *k == 2 || *k == 9;
    let params = MatchParams {
        available: Some(&only_two),
        ..Default::default()
    };
    for _ in 0..8 {
        index.matches(&t("jobs/1"), &params, &mut out);
        let mut keys: Vec<u32> = out.shared().iter().map(|m| m.key).collect();
        keys.sort_unstable();
        assert_eq!(keys, vec![2, 9]);
    }
    let nobody = |_: &u32| false;
    let params = MatchParams {
        available: Some(&nobody),
        ..Default::default()
    };
    index.matches(&t("jobs/1"), &params, &mut out);
    assert!(out.shared().is_empty());
    assert_eq!(out.subscriptions().len(), 1);
}

#[test]
fn shared_groups_are_separate_from_plain_subscriptions() {
    let mut index = shared_index();
    assert_eq!(index.len(), 6);
    // Removing from a group does not touch the plain subscription on the same filter.
    for k in 0..4 {
        assert!(index.remove(&f("jobs/+"), Some("workers"), &k).is_some());
    }
    assert!(index.remove(&f("jobs/+"), Some("workers"), &0).is_none());
    let mut out = Matches::new();
    index.matches(&t("jobs/1"), &MatchParams::default(), &mut out);
    assert_eq!(out.subscriptions().len(), 1);
    assert_eq!(out.shared().len(), 1);
}

#[test]
fn concurrent_index_matches_from_many_threads_while_writing() {
    let index = SharedSubscriptionIndex::new();
    for k in 0..100u32 {
        index.insert(&f(&format!("s/{k}/t")), None, k, opts(0, 0));
    }
    index.insert(&f("+/+/t"), None, 1000, opts(0, 0));
    index.insert(&f("#"), None, 1001, opts(0, 0));
    std::thread::scope(|s| {
        s.spawn(|| {
            for k in 100..400u32 {
                let filter = f(&format!("s/{k}/t"));
                index.insert(&filter, None, k, opts(0, 0));
                index.remove(&filter, None, &k);
            }
        });
        for _ in 0..2 {
            s.spawn(|| {
                let mut out = Matches::new();
                for k in 0..100u32 {
                    index.matches(&t(&format!("s/{k}/t")), &MatchParams::default(), &mut out);
                    let mut keys: Vec<u32> = out.subscriptions().iter().map(|m| m.key).collect();
                    keys.sort_unstable();
                    assert_eq!(keys, vec![k, 1000, 1001]);
                }
            });
        }
    });
    assert_eq!(index.len(), 102);
    let mut out = Matches::new();
    // MQTT-4.7.2-1 through the sharded index as well.
    index.matches(&t("$SYS/x/t"), &MatchParams::default(), &mut out);
    assert!(out.is_empty());
}

#[test]
fn deliveries_by_key_for_keys_without_ord_mqtt_3_3_4_2() {
    use std::sync::Arc;
    #[derive(Debug, PartialEq, Eq, Hash)]
    struct Session(&'static str);
    let (a, b) = (Arc::new(Session("a")), Arc::new(Session("b")));
    let mut index = SubscriptionIndex::new();
    index.insert(&f("x/#"), None, a.clone(), opts(0, 1));
    index.insert(&f("x/y"), None, b.clone(), opts(1, 2));
    index.insert(&f("x/+"), None, a.clone(), opts(2, 3));
    let mut out = Matches::new();
    index.matches(&t("x/y"), &MatchParams::default(), &mut out);
    let mut got: Vec<(&'static str, u8, usize)> = out
        .deliveries_by_key(|s| s.0)
        .map(|d| (d.key().0, d.qos(), d.identifiers().count()))
        .collect();
    got.sort_unstable();
    assert_eq!(got, vec![("a", 2, 2), ("b", 1, 1)]);
}
