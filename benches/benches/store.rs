//! petrel-store benchmarks: commit throughput of QoS 1-like work from many concurrent
//! callers. Each message is two batches, as in the broker: enqueue it for a persistent
//! session (committed before the PUBACK to the publisher), then remove it when the
//! subscriber's PUBACK arrives. Compares `MemoryStore` with `SqliteStore` at both
//! durability levels; the SQLite figures divided by the memory figure give the ratio.
//!
//! Run: `cargo bench -p petrel-benches --bench store`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use petrel_codec::QoS;
use petrel_store::{
    Batch, Durability, MemoryStore, Op, QueueTarget, SqliteOptions, SqliteStore, Store,
    StoredMessage, StoredSession,
};

const CALLERS: u64 = 64;
const PAYLOAD: usize = 256;

fn sessions() -> Batch {
    (0..CALLERS)
        .map(|c| Op::PutSession(StoredSession::new(format!("sub-{c}"), u32::MAX)))
        .collect()
}

/// Runs `messages` QoS 1 flows spread over [`CALLERS`] tasks; returns the elapsed time.
fn run(
    rt: &tokio::runtime::Runtime,
    store: &Arc<dyn Store>,
    ids: &AtomicU64,
    messages: u64,
) -> Duration {
    let per_caller = messages.div_ceil(CALLERS);
    let start = Instant::now();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for c in 0..CALLERS {
            let store = store.clone();
            let first = ids.fetch_add(per_caller, Ordering::Relaxed);
            tasks.push(tokio::spawn(async move {
                let client = format!("sub-{c}");
                for id in first..first + per_caller {
                    let enqueue = Op::Enqueue {
                        message_id: id,
                        message: StoredMessage::new(
                            "bench/t",
                            vec![0u8; PAYLOAD],
                            QoS::AtLeastOnce,
                        ),
                        targets: vec![QueueTarget::new(client.clone(), QoS::AtLeastOnce)],
                    };
                    store.commit(enqueue.into()).await.expect("enqueue");
                    let remove = Op::Dequeue {
                        client_id: client.clone().into(),
                        message_id: id,
                    };
                    store.commit(remove.into()).await.expect("remove");
                }
            }));
        }
        for t in tasks {
            t.await.expect("caller");
        }
    });
    start.elapsed()
}

fn qos1(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    let dir = std::env::temp_dir().join(format!("petrel-store-bench-{}", std::process::id()));
    let mut g = c.benchmark_group("store_qos1_concurrent");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(5));
    g.sample_size(20);
    let mut stores: Vec<(&str, Arc<dyn Store>)> = vec![("memory", Arc::new(MemoryStore::new()))];
    for (name, durability) in [
        ("sqlite_process", Durability::Process),
        ("sqlite_power", Durability::Power),
    ] {
        let path = dir.join(name);
        let _ = std::fs::remove_dir_all(&path);
        let options = SqliteOptions::default().with_durability(durability);
        stores.push((
            name,
            Arc::new(SqliteStore::open(&path, options).expect("open")),
        ));
    }
    for (name, store) in &stores {
        rt.block_on(store.commit(sessions())).expect("sessions");
        let ids = AtomicU64::new(1);
        g.bench_function(*name, |b| b.iter_custom(|n| run(&rt, store, &ids, n)));
    }
    g.finish();
    drop(stores);
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, qos1);
criterion_main!(benches);
