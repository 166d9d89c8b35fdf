//! What the SQLite store committed is there after it is closed and opened again.

mod common;

use std::sync::Arc;

use common::{block_on, workload, TempDir};
use petrel_codec::QoS;
use petrel_store::{
    Batch, DeliveryState, Durability, MemoryStore, Op, QueueTarget, SqliteOptions, SqliteStore,
    Store, StoreError, StoredMessage, StoredSession,
};

#[test]
fn sessions_subscriptions_queues_and_retained_survive_reopen() {
    let dir = TempDir::new("restart");
    let expected = {
        let memory = MemoryStore::new();
        block_on(async {
            for b in workload() {
                memory.commit(b).await.expect("commit");
            }
            memory.load().await.expect("load")
        })
    };
    {
        let store = SqliteStore::open(dir.path(), SqliteOptions::default()).expect("open");
        block_on(async {
            for b in workload() {
                store.commit(b).await.expect("commit");
            }
        });
    }
    for durability in [Durability::Process, Durability::Power] {
        let store = SqliteStore::open(
            dir.path(),
            SqliteOptions::default().with_durability(durability),
        )
        .expect("reopen");
        let snap = block_on(store.load()).expect("load");
        assert_eq!(snap, expected);
        let alice = &snap.sessions[0];
        assert_eq!(alice.queue[0].state, DeliveryState::Released);
        assert_eq!(alice.subscriptions[0].identifier, Some(9));
    }
}

#[test]
fn reopening_continues_where_it_stopped() {
    let dir = TempDir::new("continue");
    for round in 1..=3u64 {
        let store = SqliteStore::open(dir.path(), SqliteOptions::default()).expect("open");
        let snap = block_on(store.load()).expect("load");
        assert_eq!(snap.max_message_id, round - 1);
        let mut b = Batch::new();
        if round == 1 {
            b.push(Op::PutSession(StoredSession::new("c", u32::MAX)));
        }
        b.push(Op::Enqueue {
            message_id: snap.max_message_id + 1,
            message: StoredMessage::new("t", format!("m{round}"), QoS::AtLeastOnce),
            targets: vec![QueueTarget::new("c", QoS::AtLeastOnce)],
        });
        block_on(store.commit(b)).expect("commit");
    }
    let store = SqliteStore::open(dir.path(), SqliteOptions::default()).expect("open");
    let snap = block_on(store.load()).expect("load");
    let payloads: Vec<&[u8]> = snap.sessions[0]
        .queue
        .iter()
        .map(|p| &p.message.payload[..])
        .collect();
    assert_eq!(payloads, vec![&b"m1"[..], b"m2", b"m3"]);
}

#[test]
fn second_opener_is_refused_while_open() {
    let dir = TempDir::new("lock");
    let store = SqliteStore::open(dir.path(), SqliteOptions::default()).expect("open");
    block_on(store.commit(Op::PutSession(StoredSession::new("x", 5)).into())).expect("commit");
    let second = SqliteStore::open(dir.path(), SqliteOptions::default());
    match second {
        Err(StoreError::Io(msg)) => assert!(msg.contains("in use"), "{msg}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    store.close();
    assert_eq!(block_on(store.load()), Err(StoreError::Closed));
    let third = SqliteStore::open(dir.path(), SqliteOptions::default()).expect("free again");
    assert_eq!(block_on(third.load()).expect("load").sessions.len(), 1);
}

#[test]
fn concurrent_callers_are_group_committed_and_all_answered() {
    let dir = TempDir::new("group");
    let store = Arc::new(SqliteStore::open(dir.path(), SqliteOptions::default()).expect("open"));
    block_on(store.commit(Op::PutSession(StoredSession::new("s", u32::MAX)).into()))
        .expect("session");
    let callers = 16u64;
    let per_caller = 50u64;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut tasks = Vec::new();
        for c in 0..callers {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..per_caller {
                    let id = c * 1000 + i + 1;
                    let op = Op::Enqueue {
                        message_id: id,
                        message: StoredMessage::new("t", "p", QoS::AtLeastOnce),
                        targets: vec![QueueTarget::new("s", QoS::AtLeastOnce)],
                    };
                    store.commit(op.into()).await.expect("commit");
                }
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
    });
    let snap = block_on(store.load()).expect("load");
    assert_eq!(snap.sessions[0].queue.len() as u64, callers * per_caller);
    let batches = callers * per_caller + 1;
    assert!(
        store.transactions() < batches,
        "{} transactions for {batches} batches: nothing was merged",
        store.transactions()
    );
}

#[test]
fn a_bad_batch_fails_alone() {
    let dir = TempDir::new("badbatch");
    let store = Arc::new(SqliteStore::open(dir.path(), SqliteOptions::default()).expect("open"));
    let enqueue = |id| Op::Enqueue {
        message_id: id,
        message: StoredMessage::new("t", "p", QoS::AtLeastOnce),
        targets: vec![QueueTarget::new("s", QoS::AtLeastOnce)],
    };
    block_on(store.commit(Op::PutSession(StoredSession::new("s", 9)).into())).expect("session");
    block_on(store.commit(enqueue(1).into())).expect("first");
    // The same message id again violates the schema: only that batch fails.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("rt");
    let (dup, fresh) = rt.block_on(async {
        let a = store.commit(enqueue(1).into());
        let b = store.commit(enqueue(2).into());
        (a.await, b.await)
    });
    assert!(matches!(dup, Err(StoreError::Io(_))), "{dup:?}");
    assert_eq!(fresh, Ok(()));
    let ids: Vec<u64> = block_on(store.load()).expect("load").sessions[0]
        .queue
        .iter()
        .map(|p| p.message_id)
        .collect();
    assert_eq!(ids, vec![1, 2]);
}
