//! The same operations give the same state in the memory store and the SQLite store.

mod common;

use common::{block_on, pid, workload, TempDir};
use petrel_codec::QoS;
use petrel_store::{
    Batch, DeliveryState, MemoryStore, Op, QueueTarget, Snapshot, SqliteOptions, SqliteStore,
    Store, StoredMessage, StoredSession,
};

fn run(store: &dyn Store, batches: Vec<Batch>) -> Snapshot {
    block_on(async {
        for b in batches {
            store.commit(b).await.expect("commit");
        }
        store.load().await.expect("load")
    })
}

#[test]
fn workload_state_is_as_expected_in_memory() {
    let snap = run(&MemoryStore::new(), workload());
    check_workload(&snap);
}

#[test]
fn workload_state_is_the_same_on_disk() {
    let dir = TempDir::new("ops");
    let disk = SqliteStore::open(dir.path(), SqliteOptions::default()).expect("open");
    let on_disk = run(&disk, workload());
    let in_memory = run(&MemoryStore::new(), workload());
    assert_eq!(on_disk, in_memory);
    check_workload(&on_disk);
}

fn check_workload(snap: &Snapshot) {
    assert_eq!(snap.sessions.len(), 2);
    let alice = &snap.sessions[0];
    let bob = &snap.sessions[1];
    assert_eq!(alice.client_id, "alice");
    assert_eq!(alice.expiry_interval, 60);
    assert_eq!(alice.expires_at_ms, Some(5_000_000));
    assert_eq!(alice.subscriptions.len(), 2);
    assert_eq!(
        alice.pending.len(),
        0,
        "PutSession replaced the pending list"
    );
    let queue: Vec<(u64, Option<u16>, DeliveryState)> = alice
        .queue
        .iter()
        .map(|p| (p.message_id, p.packet_id.map(|p| p.get()), p.state))
        .collect();
    assert_eq!(
        queue,
        vec![
            (1, Some(10), DeliveryState::Released),
            (2, Some(11), DeliveryState::Sent),
            (5, None, DeliveryState::Queued),
        ]
    );
    assert_eq!(alice.queue[0].subscription_ids, vec![9]);
    assert_eq!(
        alice.queue[0].message.properties.content_type().as_deref(),
        Some("text/plain")
    );
    assert_eq!(alice.incoming_qos2, vec![pid(3), pid(7)]);
    let will = alice.will.as_ref().expect("will kept");
    assert_eq!(will.delay_interval, 30);
    assert_eq!(&will.message.payload[..], b"gone");
    assert_eq!(bob.queue.len(), 1);
    assert_eq!(bob.queue[0].qos, QoS::AtMostOnce);
    assert!(bob.queue[0].retain);
    assert!(bob.will.is_none());
    assert_eq!(snap.retained.len(), 1);
    assert!(snap.retained[0].retain);
    assert_eq!(snap.max_message_id, 5);
}

fn expiry_batches() -> Vec<Batch> {
    let mut s = StoredSession::new("gone", 10);
    s.expires_at_ms = Some(1_000);
    let keep = StoredSession::new("kept", 10);
    let mut b = Batch::new();
    b.push(Op::PutSession(s));
    b.push(Op::PutSession(keep));
    b.push(Op::PutRetained(
        StoredMessage::new("r/old", "x", QoS::AtMostOnce).with_expiry(Some(1_500)),
    ));
    b.push(Op::PutRetained(StoredMessage::new(
        "r/new",
        "y",
        QoS::AtMostOnce,
    )));
    for (id, expiry) in [(1, Some(500)), (2, Some(9_000)), (3, Some(800))] {
        b.push(Op::Enqueue {
            message_id: id,
            message: StoredMessage::new("t", "p", QoS::AtLeastOnce).with_expiry(expiry),
            targets: vec![
                QueueTarget::new("gone", QoS::AtLeastOnce),
                QueueTarget::new("kept", QoS::AtLeastOnce),
            ],
        });
    }
    // Message 3 is in flight: it must be completed even though it has expired.
    b.push(Op::MarkSent {
        client_id: "kept".into(),
        message_id: 3,
        packet_id: pid(1),
    });
    b.push(Op::Expire { now_ms: 2_000 });
    vec![b]
}

#[test]
fn expire_removes_sessions_messages_and_retained() {
    let dir = TempDir::new("expire");
    let disk = SqliteStore::open(dir.path(), SqliteOptions::default()).expect("open");
    let snap = run(&disk, expiry_batches());
    assert_eq!(snap, run(&MemoryStore::new(), expiry_batches()));
    assert_eq!(snap.sessions.len(), 1);
    let ids: Vec<u64> = snap.sessions[0]
        .queue
        .iter()
        .map(|p| p.message_id)
        .collect();
    assert_eq!(ids, vec![2, 3]);
    assert_eq!(snap.retained.len(), 1);
    assert_eq!(snap.retained[0].topic, "r/new");
}

#[test]
fn delete_session_drops_unshared_payloads() {
    let dir = TempDir::new("delete");
    let disk = SqliteStore::open(dir.path(), SqliteOptions::default()).expect("open");
    let mut b = Batch::new();
    b.push(Op::PutSession(StoredSession::new("a", 10)));
    b.push(Op::PutSession(StoredSession::new("b", 10)));
    b.push(Op::Enqueue {
        message_id: 1,
        message: StoredMessage::new("t", "shared", QoS::AtLeastOnce),
        targets: vec![
            QueueTarget::new("a", QoS::AtLeastOnce),
            QueueTarget::new("b", QoS::AtLeastOnce),
        ],
    });
    b.push(Op::DeleteSession("a".into()));
    let snap = run(&disk, vec![b]);
    assert_eq!(snap.sessions.len(), 1);
    assert_eq!(&snap.sessions[0].queue[0].message.payload[..], b"shared");
    block_on(disk.commit(Op::DeleteSession("b".into()).into())).expect("delete");
    let snap = block_on(disk.load()).expect("load");
    assert!(snap.sessions.is_empty());
    assert_eq!(snap.max_message_id, 0, "no message row is left behind");
}

#[test]
fn message_queued_for_nobody_is_not_kept() {
    let dir = TempDir::new("nobody");
    let disk = SqliteStore::open(dir.path(), SqliteOptions::default()).expect("open");
    let op = Op::Enqueue {
        message_id: 42,
        message: StoredMessage::new("t", "p", QoS::AtLeastOnce),
        targets: vec![QueueTarget::new("missing", QoS::AtLeastOnce)],
    };
    let snap = run(&disk, vec![op.into()]);
    assert_eq!(snap.max_message_id, 0);
}
