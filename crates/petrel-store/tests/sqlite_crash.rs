//! A process writing through `SqliteStore` is killed with SIGKILL while batches are in
//! flight, with queue entries being enqueued and removed (many of them cancelled out in
//! the writer's groups). Reopened, the store has every entry whose commit resolved and
//! that no resolved batch removed, and none that a resolved batch removed.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{block_on, pid, TempDir};
use petrel_codec::QoS;
use petrel_store::{
    Batch, Op, QueueTarget, SqliteOptions, SqliteStore, Store, StoredMessage, StoredSession,
};

const CHILD_DIR: &str = "PETREL_STORE_CRASH_CHILD_DIR";
const BATCHES_BEFORE_KILL: u64 = 3000;

/// Batch `i` enqueues message `i` for session "a"; an odd message is sent and removed by
/// batch `i + 1`, so that it often cancels out in the same group.
fn batch(i: u64) -> Batch {
    let mut b = Batch::from(Op::Enqueue {
        message_id: i,
        message: StoredMessage::new("t", format!("m{i}"), QoS::AtLeastOnce),
        targets: vec![QueueTarget::new("a", QoS::AtLeastOnce)],
    });
    let prev = i - 1;
    if prev % 2 == 1 {
        let packet_id = pid(u16::try_from(prev % 60_000 + 1).expect("fits"));
        b.push(Op::MarkSent {
            client_id: "a".into(),
            message_id: prev,
            packet_id,
        });
        b.push(Op::Dequeue {
            client_id: "a".into(),
            message_id: prev,
        });
    }
    b
}

/// The child: commits batches 2, 3, ... in windows of 64 without waiting for each, and
/// prints the number of every batch whose commit resolved.
fn child(dir: &str) {
    let store = SqliteStore::open(dir, SqliteOptions::default()).expect("open");
    block_on(async {
        store
            .commit(Op::PutSession(StoredSession::new("a", u32::MAX)).into())
            .await
            .expect("session");
        let mut next = 2u64;
        loop {
            let window: Vec<_> = (next..next + 64)
                .map(|i| (i, store.commit(batch(i))))
                .collect();
            next += 64;
            for (i, commit) in window {
                commit.await.expect("commit");
                println!("{i}");
            }
        }
    });
}

#[test]
fn sigkill_while_committing_loses_nothing_acknowledged() {
    if let Ok(dir) = std::env::var(CHILD_DIR) {
        child(&dir);
        return;
    }
    let dir = TempDir::new("crash");
    let mut proc = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "sigkill_while_committing_loses_nothing_acknowledged",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the child");
    let out = proc.stdout.take().expect("stdout");
    let mut acked = Vec::new();
    for line in BufReader::new(out).lines() {
        let Ok(line) = line else { break };
        if let Ok(i) = line.trim().parse::<u64>() {
            acked.push(i);
            if acked.len() as u64 >= BATCHES_BEFORE_KILL {
                break;
            }
        }
    }
    // SIGKILL: no destructor, no close, the writer stops wherever it is.
    proc.kill().expect("kill");
    let _ = proc.wait();
    assert_eq!(
        acked.len() as u64,
        BATCHES_BEFORE_KILL,
        "the child made progress"
    );

    let store = SqliteStore::open(dir.path(), SqliteOptions::default()).expect("reopen");
    let snap = block_on(store.load()).expect("load");
    let a = snap
        .sessions
        .iter()
        .find(|s| s.client_id == "a")
        .expect("the session survived");
    let held: std::collections::HashSet<u64> = a.queue.iter().map(|p| p.message_id).collect();
    let resolved: std::collections::HashSet<u64> = acked.iter().copied().collect();
    let mut checked = 0;
    for &i in &acked {
        let removed_by_resolved = i % 2 == 1 && resolved.contains(&(i + 1));
        if removed_by_resolved {
            assert!(
                !held.contains(&i),
                "message {i} was removed by a resolved batch"
            );
        } else if i % 2 == 0 {
            assert!(held.contains(&i), "acknowledged message {i} lost");
        }
        checked += 1;
    }
    assert!(checked > 0);
}
