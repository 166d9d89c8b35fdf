//! Under steady load the data directory stays bounded: delivered and expired messages are
//! deleted and their pages reused or returned.

mod common;

use std::path::Path;

use common::{block_on, pid, TempDir};
use petrel_codec::QoS;
use petrel_store::{
    Batch, Op, QueueTarget, SqliteOptions, SqliteStore, Store, StoredMessage, StoredSession,
};

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .expect("dir")
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum()
}

#[test]
fn steady_qos1_load_keeps_the_directory_bounded() {
    let dir = TempDir::new("growth");
    let options = SqliteOptions::default().with_reclaim_every(100);
    let store = SqliteStore::open(dir.path(), options).expect("open");
    let mut b = Batch::new();
    b.push(Op::PutSession(StoredSession::new("a", u32::MAX)));
    b.push(Op::PutSession(StoredSession::new("b", u32::MAX)));
    block_on(store.commit(b)).expect("sessions");
    let window = 100u64;
    let mut sizes = Vec::new();
    for id in 1..=2_400u64 {
        let mut b = Batch::new();
        b.push(Op::Enqueue {
            message_id: id,
            message: StoredMessage::new("t", vec![1u8; 1024], QoS::AtLeastOnce).with_expiry(Some(
                if id.is_multiple_of(7) {
                    1
                } else {
                    u64::MAX / 2
                },
            )),
            targets: vec![
                QueueTarget::new("a", QoS::AtLeastOnce),
                QueueTarget::new("b", QoS::AtLeastOnce),
            ],
        });
        let expires = id.is_multiple_of(7);
        if !expires {
            for client in ["a", "b"] {
                b.push(Op::MarkSent {
                    client_id: client.into(),
                    message_id: id,
                    packet_id: pid((id % 60_000 + 1) as u16),
                });
            }
        }
        if id > window && !(id - window).is_multiple_of(7) {
            // Acknowledged a while later.
            let old = id - window;
            for client in ["a", "b"] {
                b.push(Op::Complete {
                    client_id: client.into(),
                    packet_id: pid((old % 60_000 + 1) as u16),
                });
            }
        }
        if id.is_multiple_of(250) {
            // Messages never sent expire (in-flight ones must be completed first).
            b.push(Op::Expire { now_ms: 10 });
        }
        block_on(store.commit(b)).expect("commit");
        if id.is_multiple_of(300) {
            sizes.push(dir_size(dir.path()));
        }
    }
    let snap = block_on(store.load()).expect("load");
    let queued = snap.sessions[0].queue.len();
    // In flight: the window; queued: the expiring messages since the last expiry pass.
    assert!(queued <= window as usize + 250 / 7 + 1, "{queued} queued");
    eprintln!("directory sizes: {sizes:?}");
    // After warm-up (the queue window filled), the size stops growing.
    let (early, late) = sizes.split_at(sizes.len() / 2);
    let early_max = early.iter().copied().max().unwrap_or(0);
    let late_max = late.iter().copied().max().unwrap_or(0);
    assert!(
        late_max <= early_max * 3 / 2 + 128 * 1024,
        "the directory keeps growing: {sizes:?}"
    );
    // 2.4 MB of payload went through; far less than that is on disk.
    assert!(late_max < 1024 * 1024, "{sizes:?}");
}
