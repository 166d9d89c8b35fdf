//! Fuzzes petrel-topic: validation of names, filters and `$share/` filters never panics,
//! and the subscription and retained indexes agree with the plain level-by-level matcher
//! (`TopicFilter::matches`) on whatever names and filters the input holds, before and
//! after removals.
#![no_main]

use std::collections::BTreeSet;

use libfuzzer_sys::fuzz_target;
use petrel_topic::{
    ByteString, MatchParams, Matches, RetainedIndex, SubscriptionFilter, SubscriptionIndex,
    SubscriptionOptions, TopicFilter, TopicName,
};

fuzz_target!(|data: &[u8]| {
    let mut index = SubscriptionIndex::new();
    let mut retained = RetainedIndex::new();
    let mut subs: Vec<(SubscriptionFilter, u32)> = Vec::new();
    let mut names: BTreeSet<TopicName> = BTreeSet::new();
    for (i, line) in data.split(|&b| b == b'\n').take(64).enumerate() {
        let Ok(text) = ByteString::try_from(line) else {
            continue;
        };
        if let Err(e) = TopicFilter::new(text.clone()) {
            let _ = e.normative_id();
        }
        if let Ok(sub) = SubscriptionFilter::parse(text.clone()) {
            index.insert(
                sub.filter(),
                sub.share_name(),
                i as u32,
                SubscriptionOptions::default(),
            );
            subs.push((sub, i as u32));
        }
        if let Ok(name) = TopicName::new(text) {
            retained.insert(name.clone(), i);
            names.insert(name);
        }
    }
    let mut out = Matches::new();
    let check = |index: &SubscriptionIndex<u32>,
                 subs: &[(SubscriptionFilter, u32)],
                 out: &mut Matches<u32>| {
        for name in &names {
            index.matches(name, &MatchParams::default(), out);
            let mut want: Vec<u32> = subs
                .iter()
                .filter(|(s, _)| !s.is_shared() && s.filter().matches(name))
                .map(|(_, k)| *k)
                .collect();
            let mut got: Vec<u32> = out.subscriptions().iter().map(|m| m.key).collect();
            want.sort_unstable();
            got.sort_unstable();
            assert_eq!(got, want, "subscriptions matching {name}");
            let groups: BTreeSet<(&str, &str)> = subs
                .iter()
                .filter_map(|(s, _)| Some((s.share_name()?, s.filter().as_str())))
                .filter(|(_, f)| TopicFilter::new(*f).is_ok_and(|f| f.matches(name)))
                .collect();
            assert_eq!(
                out.shared().len(),
                groups.len(),
                "shared groups matching {name}"
            );
        }
    };
    check(&index, &subs, &mut out);
    for (sub, _) in &subs {
        let want = names.iter().filter(|n| sub.filter().matches(n)).count();
        assert_eq!(
            retained.matches(sub.filter()).len(),
            want,
            "retained for {:?}",
            sub
        );
    }
    // Remove every other subscription and check again, then remove the rest.
    let (gone, kept): (Vec<_>, Vec<_>) =
        subs.into_iter().enumerate().partition(|(i, _)| i % 2 == 0);
    for (_, (sub, key)) in &gone {
        assert!(index.remove(sub.filter(), sub.share_name(), key).is_some());
    }
    let kept: Vec<_> = kept.into_iter().map(|(_, s)| s).collect();
    check(&index, &kept, &mut out);
    for (sub, key) in &kept {
        assert!(index.remove(sub.filter(), sub.share_name(), key).is_some());
    }
    assert!(index.is_empty());
    assert_eq!(index.node_count(), 1);
});
