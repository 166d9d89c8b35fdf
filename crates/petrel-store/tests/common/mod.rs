//! Helpers shared by the store tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use petrel_codec::{PacketId, Properties, Property, QoS, SubscriptionOptions};
use petrel_store::{
    Batch, Op, QueueTarget, StoredMessage, StoredSession, StoredSubscription, StoredWill,
};

/// A directory removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("petrel-store-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn block_on<F: core::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

pub fn pid(n: u16) -> PacketId {
    PacketId::new(n).expect("non-zero")
}

/// A message with properties, to check they survive.
pub fn rich_message(topic: &str, payload: &str, qos: QoS) -> StoredMessage {
    let props = Properties::new()
        .with(Property::ContentType("text/plain".into()))
        .with(Property::UserProperty("k".into(), "v".into()))
        .with(Property::CorrelationData(bytes::Bytes::from_static(
            b"\x00\x01",
        )));
    StoredMessage::new(topic, payload.to_owned(), qos).with_properties(props)
}

/// A batch exercising every kind of operation; the resulting state is the same in every
/// correct store.
pub fn workload() -> Vec<Batch> {
    let opts = SubscriptionOptions {
        qos: QoS::ExactlyOnce,
        no_local: true,
        retain_as_published: true,
        retain_handling: petrel_codec::RetainHandling::SendIfNew,
    };
    let mut s = StoredSession::new("alice", 3600);
    s.subscriptions
        .push(StoredSubscription::new("a/#", opts, Some(9)));
    s.pending
        .push(StoredMessage::new("legacy", "p", QoS::AtLeastOnce));
    let mut batches = vec![
        Batch::from(Op::PutSession(s)),
        Batch::from(Op::PutSession(StoredSession::new("bob", u32::MAX))),
        Batch::from(Op::Subscribe {
            client_id: "bob".into(),
            subscription: StoredSubscription::new("a/+", SubscriptionOptions::default(), None),
        }),
        Batch::from(Op::PutRetained(
            rich_message("a/r", "retained", QoS::AtLeastOnce).with_retain(true),
        )),
    ];
    // One message for two sessions (and one unknown session, skipped).
    batches.push(Batch::from(Op::Enqueue {
        message_id: 1,
        message: rich_message("a/1", "one", QoS::ExactlyOnce),
        targets: vec![
            QueueTarget::new("alice", QoS::ExactlyOnce).with_subscription_ids(vec![9]),
            QueueTarget::new("bob", QoS::AtMostOnce).with_retain(true),
            QueueTarget::new("nobody", QoS::AtLeastOnce),
        ],
    }));
    for id in 2..=5u64 {
        batches.push(Batch::from(Op::Enqueue {
            message_id: id,
            message: StoredMessage::new(format!("a/{id}"), format!("m{id}"), QoS::AtLeastOnce),
            targets: vec![QueueTarget::new("alice", QoS::AtLeastOnce)],
        }));
    }
    let mut b = Batch::new();
    b.push(Op::MarkSent {
        client_id: "alice".into(),
        message_id: 1,
        packet_id: pid(10),
    });
    b.push(Op::MarkReleased {
        client_id: "alice".into(),
        packet_id: pid(10),
    });
    b.push(Op::MarkSent {
        client_id: "alice".into(),
        message_id: 2,
        packet_id: pid(11),
    });
    b.push(Op::MarkSent {
        client_id: "alice".into(),
        message_id: 3,
        packet_id: pid(12),
    });
    b.push(Op::Complete {
        client_id: "alice".into(),
        packet_id: pid(12),
    });
    b.push(Op::Dequeue {
        client_id: "alice".into(),
        message_id: 4,
    });
    b.push(Op::AddIncomingQos2 {
        client_id: "alice".into(),
        packet_id: pid(7),
    });
    b.push(Op::AddIncomingQos2 {
        client_id: "alice".into(),
        packet_id: pid(3),
    });
    b.push(Op::AddIncomingQos2 {
        client_id: "alice".into(),
        packet_id: pid(5),
    });
    b.push(Op::RemoveIncomingQos2 {
        client_id: "alice".into(),
        packet_id: pid(5),
    });
    b.push(Op::SetWill {
        client_id: "alice".into(),
        will: StoredWill::new(rich_message("will/a", "gone", QoS::AtLeastOnce), 30),
    });
    b.push(Op::SetWill {
        client_id: "bob".into(),
        will: StoredWill::new(StoredMessage::new("will/b", "x", QoS::AtMostOnce), 0),
    });
    b.push(Op::ClearWill("bob".into()));
    b.push(Op::SetSessionExpiry {
        client_id: "alice".into(),
        expiry_interval: 60,
        expires_at_ms: Some(5_000_000),
    });
    batches.push(b);
    // Rewriting a session keeps its queue, incoming ids and will.
    let mut again = StoredSession::new("alice", 60);
    again.expires_at_ms = Some(5_000_000);
    again
        .subscriptions
        .push(StoredSubscription::new("a/#", opts, Some(9)));
    again.subscriptions.push(StoredSubscription::new(
        "z",
        SubscriptionOptions::default(),
        None,
    ));
    batches.push(Batch::from(Op::PutSession(again)));
    batches
}
