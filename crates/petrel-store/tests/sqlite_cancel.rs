//! Deliveries that are over before the writer gets to them are never written: an
//! `Enqueue` whose entry is sent and removed (or dequeued) in the same group commit
//! cancels out, the batches still resolve, and what is left on disk is exactly what
//! writing every operation would have left.

mod common;

use common::{block_on, pid, TempDir};
use petrel_codec::QoS;
use petrel_store::{
    Batch, MemoryStore, Op, QueueTarget, SqliteOptions, SqliteStore, Store, StoredMessage,
    StoredSession,
};

fn enqueue(id: u64, clients: &[&str]) -> Op {
    Op::Enqueue {
        message_id: id,
        message: StoredMessage::new("t/x", format!("m{id}"), QoS::AtLeastOnce),
        targets: clients
            .iter()
            .map(|c| QueueTarget::new(*c, QoS::AtLeastOnce))
            .collect(),
    }
}

fn sessions() -> Batch {
    Batch::from_iter([
        Op::PutSession(StoredSession::new("a", u32::MAX)),
        Op::PutSession(StoredSession::new("b", u32::MAX)),
    ])
}

/// Enqueued, sent and removed in one batch (so in one group): nothing is written, the
/// commit resolves, and the store reads back empty queues, after a reopen too.
#[test]
fn enqueue_then_remove_in_one_group_leaves_nothing_on_disk_and_resolves() {
    let dir = TempDir::new("cancel");
    {
        let store = SqliteStore::open(dir.path(), SqliteOptions::default()).expect("open");
        block_on(async {
            store.commit(sessions()).await.expect("sessions");
            let before = store.transactions();
            let batch = Batch::from_iter([
                enqueue(1, &["a"]),
                Op::MarkSent {
                    client_id: "a".into(),
                    message_id: 1,
                    packet_id: pid(1),
                },
                Op::Dequeue {
                    client_id: "a".into(),
                    message_id: 1,
                },
            ]);
            store.commit(batch).await.expect("resolves");
            assert_eq!(store.cancelled(), 1);
            assert_eq!(
                store.transactions(),
                before,
                "an all-cancelled group writes no transaction"
            );
        });
    }
    let store = SqliteStore::open(dir.path(), SqliteOptions::default()).expect("reopen");
    let snap = block_on(store.load()).expect("load");
    assert_eq!(snap.max_message_id, 0, "no message row was written");
    assert!(snap.sessions.iter().all(|s| s.queue.is_empty()));
}

/// A fan-out where one target acknowledged in time and the other did not, and a QoS 2
/// delivery (never cancelled): the disk holds the same as a store that wrote everything.
#[test]
fn partly_cancelled_groups_leave_what_writing_everything_leaves() {
    let batches = || {
        vec![
            sessions(),
            Batch::from_iter([
                enqueue(1, &["a", "b"]),
                Op::MarkSent {
                    client_id: "a".into(),
                    message_id: 1,
                    packet_id: pid(4),
                },
                Op::MarkSent {
                    client_id: "b".into(),
                    message_id: 1,
                    packet_id: pid(9),
                },
                Op::Complete {
                    client_id: "a".into(),
                    packet_id: pid(4),
                },
                enqueue(2, &["b"]),
                Op::MarkSent {
                    client_id: "b".into(),
                    message_id: 2,
                    packet_id: pid(10),
                },
                Op::MarkReleased {
                    client_id: "b".into(),
                    packet_id: pid(10),
                },
            ]),
        ]
    };
    let expected = {
        let memory = MemoryStore::new();
        block_on(async {
            for b in batches() {
                memory.commit(b).await.expect("commit");
            }
            memory.load().await.expect("load")
        })
    };
    let dir = TempDir::new("cancel-part");
    {
        let store = SqliteStore::open(dir.path(), SqliteOptions::default()).expect("open");
        block_on(async {
            for b in batches() {
                store.commit(b).await.expect("commit");
            }
        });
        assert_eq!(store.cancelled(), 1, "only a's entry of message 1");
    }
    let store = SqliteStore::open(dir.path(), SqliteOptions::default()).expect("reopen");
    let snap = block_on(store.load()).expect("load");
    assert_eq!(snap, expected);
    let b = snap
        .sessions
        .iter()
        .find(|s| s.client_id == "b")
        .expect("b");
    assert_eq!(b.queue.len(), 2);
}
