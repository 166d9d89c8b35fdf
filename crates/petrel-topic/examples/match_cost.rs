//! Instruction counts of matching, for callgrind (whose counts are steady on a busy
//! machine, unlike times):
//!
//! ```text
//! cargo build --release -p petrel-topic --example match_cost
//! valgrind --tool=callgrind --toggle-collect='*match_loop*' \
//!     target/release/examples/match_cost one_shared 100000
//! ```
//!
//! and divide the reported instructions by the iterations. Cases: `one_shared` (the
//! broker's shape: one exact subscription in a sharded index), `one`, `100k` (the
//! benchmark mix of mostly exact filters), `wild` (10k filters, every one with a wildcard).

use std::hint::black_box;

use petrel_topic::{
    MatchParams, Matches, SharedSubscriptionIndex, SubscriptionIndex, SubscriptionOptions,
    TopicFilter, TopicName,
};

fn opts() -> SubscriptionOptions {
    SubscriptionOptions {
        qos: 1,
        ..Default::default()
    }
}

fn filter(s: &str) -> TopicFilter {
    TopicFilter::new(s).expect("valid filter")
}

/// The benchmark mix: mostly exact device filters, 9% with one `+`, 1% ending in `#`.
fn mixed(i: usize) -> String {
    let (site, dev) = (i / 1000, i % 1000);
    match i % 100 {
        0 => format!("site/{site}/device/{dev}/#"),
        1..=4 => format!("site/+/device/{dev}/temp"),
        5..=9 => format!("site/{site}/device/+/temp"),
        _ => format!("site/{site}/device/{dev}/temp"),
    }
}

/// Every filter has a wildcard, at various levels.
fn wild(i: usize) -> String {
    let (site, dev) = (i / 100 % 100, i % 100);
    match i % 5 {
        0 => format!("site/{site}/device/+/temp"),
        1 => format!("site/+/device/{dev}/temp"),
        2 => format!("site/{site}/#"),
        3 => format!("+/{site}/+/{dev}/#"),
        _ => format!("site/{site}/device/{dev}/+"),
    }
}

/// What to match against: a plain or a sharded index.
enum Index {
    Plain(SubscriptionIndex<u64>),
    Shared(SharedSubscriptionIndex<u64>),
}

#[inline(never)]
fn match_loop(index: &Index, topics: &[TopicName], iterations: usize) -> usize {
    let mut out = Matches::new();
    let params = MatchParams::default();
    let mut total = 0;
    for k in 0..iterations {
        let topic = black_box(&topics[k % topics.len()]);
        match index {
            Index::Plain(i) => i.matches(topic, &params, &mut out),
            Index::Shared(i) => i.matches(topic, &params, &mut out),
        }
        total += out.len();
    }
    total
}

fn main() {
    let mut args = std::env::args().skip(1);
    let case = args.next().unwrap_or_else(|| "one_shared".into());
    let iterations: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let build = |n: usize, f: fn(usize) -> String| {
        let mut index = SubscriptionIndex::new();
        for i in 0..n {
            index.insert(&filter(&f(i)), None, i as u64, opts());
        }
        index
    };
    let devices = |sites: usize, devs: usize| -> Vec<TopicName> {
        (0..1024usize)
            .map(|k| {
                let x = k.wrapping_mul(2_654_435_761) % (sites * devs);
                let name = format!("site/{}/device/{}/temp", x / devs, x % devs);
                TopicName::new(name).expect("valid name")
            })
            .collect()
    };
    let (index, topics) = match case.as_str() {
        "one" | "one_shared" => {
            let topic = "petrel-bench/0000abcd/0";
            let index = if case == "one" {
                let mut index = SubscriptionIndex::new();
                index.insert(&filter(topic), None, 1, opts());
                Index::Plain(index)
            } else {
                let index = SharedSubscriptionIndex::new();
                index.insert(&filter(topic), None, 1, opts());
                Index::Shared(index)
            };
            (index, vec![TopicName::new(topic).expect("valid name")])
        }
        "100k" => (Index::Plain(build(100_000, mixed)), devices(100, 1000)),
        "wild" => (Index::Plain(build(10_000, wild)), devices(100, 100)),
        other => panic!("unknown case {other}: one_shared, one, 100k or wild"),
    };
    let matched = match_loop(&index, &topics, iterations);
    println!("{case}: {iterations} matches, {matched} subscriptions matched");
}
