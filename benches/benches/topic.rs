//! petrel-topic benchmarks: matching one topic against 10k, 100k and 1M subscriptions
//! (trie index vs a naive linear scan), against one exact subscription and 10k wildcard
//! filters, memory per subscription (counting allocator),
//! subscribe/unsubscribe throughput at 1M, retained lookups among 1M names, and matching
//! under concurrent subscribe churn.
//!
//! Run: `cargo bench -p petrel-benches --bench topic`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use petrel_topic::{
    filter_matches, MatchParams, Matched, Matches, RetainedIndex, SharedSubscriptionIndex,
    SubscriptionIndex, SubscriptionOptions, TopicFilter, TopicName,
};

/// Counts live heap bytes so the benchmark can report memory per subscription.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every method forwards to the system allocator with the caller's arguments
// unchanged; the counter is only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live_bytes() -> isize {
    LIVE.load(Ordering::Relaxed)
}

const SIZES: [usize; 3] = [10_000, 100_000, 1_000_000];

/// The realistic mix: subscription `i` of `n`. Mostly exact device topics, 9% with one
/// `+` level, 1% ending in `#`.
fn filter_for(i: usize) -> String {
    let (site, dev) = (i / 1000, i % 1000);
    match i % 100 {
        0 => format!("site/{site}/device/{dev}/#"),
        1..=4 => format!("site/+/device/{dev}/temp"),
        5..=9 => format!("site/{site}/device/+/temp"),
        _ => format!("site/{site}/device/{dev}/temp"),
    }
}

fn opts() -> SubscriptionOptions {
    SubscriptionOptions {
        qos: 1,
        ..Default::default()
    }
}

/// Topic names spread over the populated sites and devices, used round robin.
fn topics(n: usize) -> Vec<TopicName> {
    let sites = n.div_ceil(1000);
    (0..1024usize)
        .map(|k| {
            let x = k.wrapping_mul(2_654_435_761) % (sites * 1000);
            TopicName::new(format!("site/{}/device/{}/temp", x / 1000, x % 1000)).unwrap()
        })
        .collect()
}

fn build_index(n: usize) -> SubscriptionIndex<u64> {
    let mut index = SubscriptionIndex::new();
    for i in 0..n {
        let f = TopicFilter::new(filter_for(i)).unwrap();
        index.insert(&f, None, i as u64, opts());
    }
    index
}

type Linear = Vec<(TopicFilter, u64, SubscriptionOptions)>;

fn build_linear(n: usize) -> Linear {
    (0..n)
        .map(|i| (TopicFilter::new(filter_for(i)).unwrap(), i as u64, opts()))
        .collect()
}

fn linear_match(subs: &Linear, topic: &TopicName, out: &mut Vec<Matched<u64>>) {
    out.clear();
    for (f, key, options) in subs {
        if filter_matches(f, topic) {
            out.push(Matched {
                key: *key,
                options: *options,
            });
        }
    }
}

/// Builds with `build`, printing the net heap bytes per item it keeps.
fn measured<T>(what: &str, n: usize, build: impl FnOnce() -> T) -> T {
    let before = live_bytes();
    let start = Instant::now();
    let value = build();
    let bytes = live_bytes() - before;
    println!(
        "memory: {what} n={n}: {:.1} bytes/subscription ({:.1} MiB total), built in {:.2?}",
        bytes as f64 / n as f64,
        bytes as f64 / (1024.0 * 1024.0),
        start.elapsed()
    );
    value
}

fn bench_match(c: &mut Criterion) {
    let mut group = c.benchmark_group("topic/match");
    group.throughput(Throughput::Elements(1));
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    for n in SIZES {
        let topics = topics(n);
        let index = measured("trie index", n, || build_index(n));
        let mut out = Matches::new();
        let params = MatchParams::default();
        let mut k = 0;
        index.matches(&topics[0], &params, &mut out);
        println!(
            "match: n={n}: {} subscriptions match a sample topic",
            out.len()
        );
        group.bench_with_input(BenchmarkId::new("trie", n), &n, |b, _| {
            b.iter(|| {
                k = (k + 1) & 1023;
                index.matches(black_box(&topics[k]), &params, &mut out);
                black_box(out.len())
            })
        });
        drop(index);
        let linear = measured("linear list", n, || build_linear(n));
        let mut out = Vec::new();
        if n >= 1_000_000 {
            group.sample_size(10);
        }
        group.bench_with_input(BenchmarkId::new("linear", n), &n, |b, _| {
            b.iter(|| {
                k = (k + 1) & 1023;
                linear_match(&linear, black_box(&topics[k]), &mut out);
                black_box(out.len())
            })
        });
    }
    group.finish();
}

/// Every filter has a wildcard, at various levels: `wild_for(i)` of 10k.
fn wild_for(i: usize) -> String {
    let (site, dev) = (i / 100 % 100, i % 100);
    match i % 5 {
        0 => format!("site/{site}/device/+/temp"),
        1 => format!("site/+/device/{dev}/temp"),
        2 => format!("site/{site}/#"),
        3 => format!("+/{site}/+/{dev}/#"),
        _ => format!("site/{site}/device/{dev}/+"),
    }
}

/// Matching in small and wildcard-only indexes: one exact subscription (plain, and in
/// the broker's sharded index), and 10k filters that all have a wildcard.
fn bench_match_shapes(c: &mut Criterion) {
    let mut group = c.benchmark_group("topic/match_shapes");
    group.throughput(Throughput::Elements(1));
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    let params = MatchParams::default();
    let mut out = Matches::new();
    let one = TopicName::new("petrel-bench/0000abcd/0").unwrap();
    let mut plain = SubscriptionIndex::new();
    plain.insert(&TopicFilter::from(one.clone()), None, 1u64, opts());
    group.bench_function("one_exact", |b| {
        b.iter(|| {
            plain.matches(black_box(&one), &params, &mut out);
            black_box(out.len())
        })
    });
    let sharded = SharedSubscriptionIndex::new();
    sharded.insert(&TopicFilter::from(one.clone()), None, 1u64, opts());
    group.bench_function("one_exact_sharded", |b| {
        b.iter(|| {
            sharded.matches(black_box(&one), &params, &mut out);
            black_box(out.len())
        })
    });
    let mut wild = SubscriptionIndex::new();
    for i in 0..10_000 {
        wild.insert(
            &TopicFilter::new(wild_for(i)).unwrap(),
            None,
            i as u64,
            opts(),
        );
    }
    let topics: Vec<TopicName> = (0..1024usize)
        .map(|k| {
            let x = k.wrapping_mul(2_654_435_761) % 10_000;
            TopicName::new(format!("site/{}/device/{}/temp", x / 100, x % 100)).unwrap()
        })
        .collect();
    let mut k = 0;
    group.bench_function("wild_10k", |b| {
        b.iter(|| {
            k = (k + 1) & 1023;
            wild.matches(black_box(&topics[k]), &params, &mut out);
            black_box(out.len())
        })
    });
    group.finish();
}

fn bench_churn(c: &mut Criterion) {
    let n = 1_000_000;
    let mut index = build_index(n);
    let mut group = c.benchmark_group("topic/churn_1M");
    group.throughput(Throughput::Elements(1));
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    let mut next = 0u64;
    let fresh = |i: u64| {
        TopicFilter::new(format!("site/{}/device/{}/humidity", i % 1000, i / 1000)).unwrap()
    };
    group.bench_function("insert", |b| {
        b.iter_custom(|iters| {
            let filters: Vec<_> = (0..iters).map(|i| fresh(next + i)).collect();
            let start = Instant::now();
            for (i, f) in filters.iter().enumerate() {
                index.insert(f, None, next + i as u64, opts());
            }
            let took = start.elapsed();
            for (i, f) in filters.iter().enumerate() {
                index.remove(f, None, &(next + i as u64));
            }
            next += iters;
            took
        })
    });
    group.bench_function("remove", |b| {
        b.iter_custom(|iters| {
            let filters: Vec<_> = (0..iters).map(|i| fresh(next + i)).collect();
            for (i, f) in filters.iter().enumerate() {
                index.insert(f, None, next + i as u64, opts());
            }
            let start = Instant::now();
            for (i, f) in filters.iter().enumerate() {
                index.remove(f, None, &(next + i as u64));
            }
            next += iters;
            start.elapsed()
        })
    });
    group.finish();
}

fn bench_retained(c: &mut Criterion) {
    let n = 1_000_000;
    let names: Vec<TopicName> = (0..n)
        .map(|i| TopicName::new(format!("site/{}/device/{}/temp", i / 1000, i % 1000)).unwrap())
        .collect();
    let index = measured("retained index (names shared with caller)", n, || {
        let mut index = RetainedIndex::new();
        for (i, name) in names.iter().enumerate() {
            index.insert(name.clone(), i as u32);
        }
        index
    });
    let mut group = c.benchmark_group("topic/retained_1M");
    group.throughput(Throughput::Elements(1));
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    let filters = [
        ("exact", "site/512/device/77/temp"),
        ("plus_1k", "site/512/device/+/temp"),
        ("hash_1k", "site/512/#"),
        ("leading_plus_1k", "+/+/device/77/temp"),
    ];
    for (label, f) in filters {
        let filter = TopicFilter::new(f).unwrap();
        let mut count = 0;
        index.for_each_match(&filter, |_, _| count += 1);
        println!("retained: {f} matches {count} names");
        group.bench_function(BenchmarkId::new("trie", label), |b| {
            b.iter(|| {
                let mut count = 0usize;
                index.for_each_match(black_box(&filter), |_, v| count += *v as usize & 1);
                black_box(count)
            })
        });
    }
    group.sample_size(10);
    let filter = TopicFilter::new("site/512/#").unwrap();
    group.bench_function(BenchmarkId::new("linear", "hash_1k"), |b| {
        b.iter(|| {
            names
                .iter()
                .filter(|name| filter_matches(&filter, name))
                .count()
        })
    });
    group.finish();
}

/// How the background writer behaves during a concurrent measurement.
#[derive(Clone, Copy)]
enum Writer {
    None,
    /// About 10k subscribe+unsubscribe pairs per second: a busy broker's SUBSCRIBE rate.
    Paced,
    /// Subscribe+unsubscribe in a tight loop: worst case, it also takes a CPU core.
    FlatOut,
}

fn spawn_writer(
    index: &Arc<SharedSubscriptionIndex<u64>>,
    stop: &Arc<AtomicBool>,
    mode: Writer,
) -> Option<std::thread::JoinHandle<u64>> {
    if matches!(mode, Writer::None) {
        return None;
    }
    let (index, stop) = (index.clone(), stop.clone());
    Some(std::thread::spawn(move || {
        // Subscribes and unsubscribes spread over the sites (and so over the shards).
        let mut i = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let f = TopicFilter::new(format!("site/{}/device/{}/temp", i % 100, i % 1000)).unwrap();
            index.insert(&f, None, u64::MAX - i, opts());
            index.remove(&f, None, &(u64::MAX - i));
            i += 1;
            if matches!(mode, Writer::Paced) && i.is_multiple_of(10) {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        i
    }))
}

/// Times single matches and prints latency percentiles: stalls behind a writer show up
/// in the tail, not in the mean.
fn print_latency(label: &str, index: &SharedSubscriptionIndex<u64>, topics: &[TopicName]) {
    let mut out = Matches::new();
    let params = MatchParams::default();
    let mut samples: Vec<u32> = (0..200_000usize)
        .map(|k| {
            let start = Instant::now();
            index.matches(&topics[k & 1023], &params, &mut out);
            black_box(out.len());
            start.elapsed().as_nanos().min(u128::from(u32::MAX)) as u32
        })
        .collect();
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    println!(
        "latency {label}: p50 {} ns, p99 {} ns, p99.9 {} ns, max {} ns",
        at(0.5),
        at(0.99),
        at(0.999),
        at(1.0)
    );
}

fn bench_concurrent(c: &mut Criterion) {
    let n = 100_000;
    let mut group = c.benchmark_group("topic/concurrent_100k");
    group.throughput(Throughput::Elements(1));
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    let topics = topics(n);
    for shards in [1, 16] {
        let index = Arc::new(SharedSubscriptionIndex::with_shards(shards));
        for i in 0..n {
            index.insert(
                &TopicFilter::new(filter_for(i)).unwrap(),
                None,
                i as u64,
                opts(),
            );
        }
        for (mode, name) in [
            (Writer::None, "no_writer"),
            (Writer::Paced, "paced_writer"),
            (Writer::FlatOut, "flat_out_writer"),
        ] {
            let stop = Arc::new(AtomicBool::new(false));
            let writer = spawn_writer(&index, &stop, mode);
            let mut out = Matches::new();
            let params = MatchParams::default();
            let mut k = 0;
            group.bench_function(BenchmarkId::new(format!("shards_{shards}"), name), |b| {
                b.iter(|| {
                    k = (k + 1) & 1023;
                    index.matches(black_box(&topics[k]), &params, &mut out);
                    black_box(out.len())
                })
            });
            print_latency(&format!("shards={shards} {name}"), &index, &topics);
            stop.store(true, Ordering::Relaxed);
            if let Some(w) = writer {
                let churned = w.join().unwrap();
                println!("concurrent: shards={shards} {name}: {churned} subscribe+unsubscribe pairs meanwhile");
            }
        }
    }
    group.finish();
}

criterion_group!(
    benches,
    bench_match,
    bench_match_shapes,
    bench_churn,
    bench_retained,
    bench_concurrent
);
criterion_main!(benches);
