//! Property tests: the subscription and retained indexes against a naive reference that
//! splits filter and name into levels and compares them level by level.

use std::collections::{BTreeMap, BTreeSet};

use petrel_topic::{
    MatchParams, Matches, RetainedIndex, ShareChoice, SharedSubscriptionIndex, SubscriptionIndex,
    SubscriptionOptions, TopicFilter, TopicName,
};
use proptest::prelude::*;

/// The reference matcher, written independently of the crate: MQTT-4.7.2-1 plus a
/// level-by-level comparison.
fn reference_matches(filter: &str, name: &str) -> bool {
    let f: Vec<&str> = filter.split('/').collect();
    let n: Vec<&str> = name.split('/').collect();
    if name.starts_with('$') && (f[0] == "+" || f[0] == "#") {
        return false;
    }
    for (i, level) in f.iter().enumerate() {
        if *level == "#" {
            return true; // matches the parent level and everything below it
        }
        match n.get(i) {
            Some(l) if *level == "+" || level == l => {}
            _ => return false,
        }
    }
    f.len() == n.len()
}

/// A small alphabet so that random filters and names overlap often.
fn level() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_string()),
        Just("b".to_string()),
        Just("".to_string()),
        Just("$SYS".to_string()),
        Just("c d".to_string()),
        "[a-c]{1,2}",
    ]
}

fn name() -> impl Strategy<Value = String> {
    prop::collection::vec(level(), 1..5)
        .prop_map(|l| l.join("/"))
        .prop_filter("names are non-empty", |n| !n.is_empty())
}

fn filter() -> impl Strategy<Value = String> {
    let lvl = prop_oneof![3 => level(), 1 => Just("+".to_string())];
    (prop::collection::vec(lvl, 1..5), any::<bool>())
        .prop_map(|(mut l, hash)| {
            if hash {
                l.push("#".to_string());
            }
            l.join("/")
        })
        .prop_filter("filters are non-empty", |f| !f.is_empty())
}

#[derive(Debug, Clone)]
enum Op {
    Insert {
        filter: String,
        share: Option<u8>,
        key: u8,
        qos: u8,
    },
    Remove {
        filter: String,
        share: Option<u8>,
        key: u8,
    },
}

fn op(filters: Vec<String>) -> impl Strategy<Value = Op> {
    let pick = prop::sample::select(filters);
    let share = prop_oneof![3 => Just(None), 1 => (0u8..2).prop_map(Some)];
    prop_oneof![
        2 => (pick.clone(), share.clone(), 0u8..6, 0u8..3)
            .prop_map(|(filter, share, key, qos)| Op::Insert { filter, share, key, qos }),
        1 => (pick, share, 0u8..6).prop_map(|(filter, share, key)| Op::Remove { filter, share, key }),
    ]
}

fn scenario() -> impl Strategy<Value = (Vec<Op>, Vec<String>)> {
    prop::collection::vec(filter(), 1..12).prop_flat_map(|filters| {
        (
            prop::collection::vec(op(filters), 1..60),
            prop::collection::vec(name(), 1..12),
        )
    })
}

type Model = BTreeMap<(String, Option<u8>, u8), u8>;
/// Matching shared groups, by (filter, group), with their member keys.
type Groups = BTreeMap<(String, u8), BTreeSet<u8>>;

fn apply(
    model: &mut Model,
    index: &mut SubscriptionIndex<u8>,
    shared: &SharedSubscriptionIndex<u8>,
    op: &Op,
) {
    match op {
        Op::Insert {
            filter,
            share,
            key,
            qos,
        } => {
            let f = TopicFilter::new(filter.as_str()).unwrap();
            let g = share.map(|s| format!("g{s}"));
            let opts = SubscriptionOptions {
                qos: *qos,
                ..Default::default()
            };
            let expected = model.insert((filter.clone(), *share, *key), *qos);
            let got = index.insert(&f, g.as_deref(), *key, opts).map(|o| o.qos);
            assert_eq!(got, expected);
            shared.insert(&f, g.as_deref(), *key, opts);
        }
        Op::Remove { filter, share, key } => {
            let f = TopicFilter::new(filter.as_str()).unwrap();
            let g = share.map(|s| format!("g{s}"));
            let expected = model.remove(&(filter.clone(), *share, *key));
            let got = index.remove(&f, g.as_deref(), key).map(|o| o.qos);
            assert_eq!(got, expected);
            assert_eq!(
                shared.remove(&f, g.as_deref(), key).map(|o| o.qos),
                expected
            );
        }
    }
}

/// The expected non-shared (key, qos) multiset and the expected set of matching groups,
/// each with its member keys.
fn expected(model: &Model, name: &str) -> (Vec<(u8, u8)>, Groups) {
    let mut direct = Vec::new();
    let mut groups = Groups::new();
    for ((filter, share, key), qos) in model {
        if reference_matches(filter, name) {
            match share {
                None => direct.push((*key, *qos)),
                Some(g) => {
                    groups.entry((filter.clone(), *g)).or_default().insert(*key);
                }
            }
        }
    }
    direct.sort_unstable();
    (direct, groups)
}

fn check_matches(model: &Model, name: &str, out: &Matches<u8>) {
    let (direct, groups) = expected(model, name);
    let mut got: Vec<(u8, u8)> = out
        .subscriptions()
        .iter()
        .map(|m| (m.key, m.options.qos))
        .collect();
    got.sort_unstable();
    assert_eq!(got, direct, "non-shared matches for {name}");
    // One pick per matching group, each a member of some matching group.
    assert_eq!(
        out.shared().len(),
        groups.len(),
        "one member per group for {name}"
    );
    let members: BTreeSet<u8> = groups.values().flatten().copied().collect();
    for m in out.shared() {
        assert!(
            members.contains(&m.key),
            "shared pick {} not a member for {name}",
            m.key
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// MQTT-4.7.1-2, MQTT-4.7.1-3, MQTT-4.7.2-1: the index agrees with the reference after
    /// random subscribes and unsubscribes (including `$` names and shared groups), and the
    /// sharded concurrent index agrees too.
    #[test]
    fn index_matches_reference((ops, names) in scenario()) {
        let mut model = Model::new();
        let mut index = SubscriptionIndex::new();
        let shared = SharedSubscriptionIndex::with_shards(3);
        let mut out = Matches::new();
        for op in &ops {
            apply(&mut model, &mut index, &shared, op);
        }
        prop_assert_eq!(index.len(), model.len());
        prop_assert_eq!(shared.len(), model.len());
        for n in &names {
            let topic = TopicName::new(n.as_str()).unwrap();
            index.matches(&topic, &MatchParams::default(), &mut out);
            check_matches(&model, n, &out);
            shared.matches(&topic, &MatchParams { share: ShareChoice::Random(7), ..Default::default() }, &mut out);
            check_matches(&model, n, &out);
        }
        // Removing everything prunes the trie back to its root.
        for ((filter, share, key), _) in std::mem::take(&mut model) {
            let g = share.map(|s| format!("g{s}"));
            let f = TopicFilter::new(filter.as_str()).unwrap();
            prop_assert!(index.remove(&f, g.as_deref(), &key).is_some());
        }
        prop_assert!(index.is_empty());
        prop_assert_eq!(index.node_count(), 1);
    }

    /// Exact filters (kept apart from the wildcard trie) and wildcard filters over the same
    /// levels agree with the reference, with names drawn from the exact filters so most
    /// look-ups hit; `$` names still match exact `$` filters but no leading wildcard
    /// (MQTT-4.7.2-1). `get` finds each subscription, and removing everything empties both
    /// stores.
    #[test]
    fn exact_and_wildcard_filters_agree_with_reference(
        (ops, names) in prop::collection::vec(name(), 1..10).prop_flat_map(|exact| {
            let filters = prop::collection::vec(filter(), 0..4).prop_map(move |mut wild| {
                wild.extend(exact.iter().cloned());
                wild
            });
            filters.prop_flat_map(|filters| {
                let names = prop::sample::subsequence(filters.clone(), 1..=filters.len())
                    .prop_map(|f| f.into_iter().filter(|f| !f.contains(['+', '#'])).collect::<Vec<_>>());
                (prop::collection::vec(op(filters), 1..40), names)
            })
        })
    ) {
        let mut model = Model::new();
        let mut index = SubscriptionIndex::new();
        let shared = SharedSubscriptionIndex::with_shards(2);
        let mut out = Matches::new();
        for op in &ops {
            apply(&mut model, &mut index, &shared, op);
        }
        for ((filter, share, key), qos) in &model {
            let f = TopicFilter::new(filter.as_str()).unwrap();
            let g = share.map(|s| format!("g{s}"));
            prop_assert_eq!(index.get(&f, g.as_deref(), key).map(|o| o.qos), Some(*qos));
            prop_assert_eq!(shared.get(&f, g.as_deref(), key).map(|o| o.qos), Some(*qos));
        }
        for n in names.iter().map(String::as_str).chain(["$SYS", "$SYS/a", "a/b"]) {
            let topic = TopicName::new(n).unwrap();
            index.matches(&topic, &MatchParams::default(), &mut out);
            check_matches(&model, n, &out);
            shared.matches(&topic, &MatchParams::default(), &mut out);
            check_matches(&model, n, &out);
        }
        for ((filter, share, key), _) in std::mem::take(&mut model) {
            let g = share.map(|s| format!("g{s}"));
            let f = TopicFilter::new(filter.as_str()).unwrap();
            prop_assert!(index.remove(&f, g.as_deref(), &key).is_some());
            prop_assert!(index.get(&f, g.as_deref(), &key).is_none());
        }
        prop_assert!(index.is_empty());
        prop_assert_eq!(index.node_count(), 1);
    }

    /// The plain matcher agrees with the reference.
    #[test]
    fn filter_matches_reference(f in filter(), n in name()) {
        let tf = TopicFilter::new(f.as_str()).unwrap();
        let tn = TopicName::new(n.as_str()).unwrap();
        prop_assert_eq!(tf.matches(&tn), reference_matches(&f, &n));
    }

    /// The retained index returns exactly the stored names the reference matches, after
    /// random stores and deletes (MQTT-4.7.2-1 for `$` names included).
    #[test]
    fn retained_matches_reference(
        ops in prop::collection::vec((name(), any::<bool>()), 1..60),
        filters in prop::collection::vec(filter(), 1..10),
    ) {
        let mut model = BTreeSet::new();
        let mut index = RetainedIndex::new();
        for (n, store) in &ops {
            let t = TopicName::new(n.as_str()).unwrap();
            if *store {
                prop_assert_eq!(index.insert(t, n.len()).is_some(), !model.insert(n.clone()));
            } else {
                prop_assert_eq!(index.remove(&t).is_some(), model.remove(n));
            }
        }
        prop_assert_eq!(index.len(), model.len());
        for f in &filters {
            let tf = TopicFilter::new(f.as_str()).unwrap();
            let mut got: Vec<String> = index.matches(&tf).into_iter().map(|(n, v)| {
                assert_eq!(*v, n.len());
                n.to_string()
            }).collect();
            got.sort();
            let want: Vec<String> = model.iter().filter(|n| reference_matches(f, n)).cloned().collect();
            prop_assert_eq!(got, want, "filter {}", f);
        }
    }

    /// Validation never panics and accepts exactly what the rules allow.
    #[test]
    fn validation_total(s in "[a+#/\u{0}$]{0,8}") {
        let name_ok = !s.is_empty() && !s.contains(['+', '#', '\0']);
        prop_assert_eq!(TopicName::new(s.as_str()).is_ok(), name_ok);
        let filter_ok = !s.is_empty() && !s.contains('\0') && {
            let levels: Vec<&str> = s.split('/').collect();
            levels.iter().enumerate().all(|(i, l)| {
                (*l == "#" && i == levels.len() - 1) || *l == "+" || !l.contains(['+', '#'])
            })
        };
        prop_assert_eq!(TopicFilter::new(s.as_str()).is_ok(), filter_ok);
    }
}
