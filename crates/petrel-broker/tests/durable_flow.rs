//! PUBLISHes that wait for their store commits (issue 9): a client that pipelines more
//! QoS 1/2 PUBLISHes than our Receive Maximum before reading its acknowledgements is
//! slowed down, not disconnected, when the limit is only reached because
//! acknowledgements wait for the store (MQTT 3.1.1 clients cannot be told the limit at
//! all); a QoS 1 message reaches an online persistent subscriber without waiting for its
//! commit, while the publisher's PUBACK still waits for it.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::BytesMut;
use common::{connect_packet, publish, start_with, test_config, Raw};
use petrel_broker::Broker;
use petrel_codec::{Packet, Property, ProtocolVersion, PubResp, QoS};
use petrel_store::{Batch, MemoryStore, Snapshot, Store, StoreFuture};
use tokio::sync::watch;

/// A memory store whose commits resolve only while its gate is open (a slow disk).
#[derive(Debug)]
struct GatedStore {
    inner: MemoryStore,
    open: watch::Sender<bool>,
    /// Commits resolved so far.
    resolved: Arc<AtomicU64>,
}

impl Store for GatedStore {
    fn commit(&self, batch: Batch) -> StoreFuture<'static, ()> {
        // Applied (and so ordered) now, resolved once the gate is open.
        let applied = self.inner.commit(batch);
        let mut open = self.open.subscribe();
        let resolved = self.resolved.clone();
        Box::pin(async move {
            let _ = open.wait_for(|o| *o).await;
            applied.await?;
            resolved.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
    }

    fn load(&self) -> StoreFuture<'_, Snapshot> {
        self.inner.load()
    }
}

const V3: ProtocolVersion = ProtocolVersion::V3_1_1;

/// Sends `count` QoS `qos` PUBLISHes in one write and expects every acknowledgement in
/// order, with the connection still open.
async fn pipeline(version: ProtocolVersion, qos: QoS, count: u16) {
    let broker = start_with(|c| c.limits.receive_maximum = 4).await;
    let addr = broker.local_addr();
    // A persistent subscriber: each message is committed to the store before its
    // acknowledgement.
    let mut sub_connect = connect_packet(version, "durable-sub");
    sub_connect.clean_start = false;
    if version.is_v5() {
        sub_connect
            .properties
            .set(petrel_codec::Property::SessionExpiryInterval(600));
    }
    let (mut sub, _) = Raw::connect_with(addr, sub_connect).await;
    sub.subscribe("flow/t", QoS::AtLeastOnce).await;
    let mut p = Raw::connect(addr, version, "pipelining-pub").await;
    let mut bytes = BytesMut::new();
    for i in 1..=count {
        Packet::Publish(publish("flow/t", &format!("m{i}"), qos, i))
            .encode(version, &mut bytes)
            .expect("encode");
    }
    p.send_bytes(&bytes).await;
    for i in 1..=count {
        match p.recv().await {
            Some(Packet::PubAck(a) | Packet::PubRec(a)) => {
                assert_eq!(
                    a.packet_id.get(),
                    i,
                    "acknowledgements keep the PUBLISH order"
                );
                assert!(!a.reason.is_error(), "message {i} refused: {:?}", a.reason);
            }
            other => panic!("expected the acknowledgement of message {i}, got {other:?}"),
        }
    }
    for i in 1..=count {
        let m = sub.next_publish().await.expect("delivered");
        assert_eq!(&m.payload[..], format!("m{i}").as_bytes());
    }
    broker.shutdown(common::WAIT).await;
}

/// Regression: an MQTT 3.1.1 publisher with 20 QoS 1 PUBLISHes outstanding against a
/// Receive Maximum of 4 was closed with "ReceiveMaximumExceeded" (MQTT-3.3.4-7 applied to
/// a client that was never told the limit) because the acknowledgements waited for their
/// store commits while more input was decoded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt3_pipelined_qos1_waits_for_commits_instead_of_closing() {
    pipeline(V3, QoS::AtLeastOnce, 20).await;
}

/// A QoS 1 message is delivered to an online persistent subscriber (and acknowledged by
/// it) while its store commit is held back; the publisher's PUBACK comes only after the
/// commit resolved (issue 9: never acknowledge what was not stored).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos1_reaches_subscribers_before_its_commit_but_puback_waits_for_it() {
    let (open, _) = watch::channel(true);
    let resolved = Arc::new(AtomicU64::new(0));
    let store = Arc::new(GatedStore {
        inner: MemoryStore::new(),
        open,
        resolved: resolved.clone(),
    });
    let broker = Broker::start_with_store(test_config(), store.clone())
        .await
        .expect("broker starts");
    let addr = broker.local_addr();
    let mut sub_connect = connect_packet(ProtocolVersion::V5, "gated-sub");
    sub_connect.clean_start = false;
    sub_connect
        .properties
        .set(Property::SessionExpiryInterval(600));
    let (mut sub, _) = Raw::connect_with(addr, sub_connect).await;
    sub.subscribe("gated/t", QoS::AtLeastOnce).await;
    let mut p = Raw::connect(addr, ProtocolVersion::V5, "gated-pub").await;

    store.open.send_replace(false);
    let before = resolved.load(Ordering::SeqCst);
    p.send(&Packet::Publish(publish(
        "gated/t",
        "early",
        QoS::AtLeastOnce,
        1,
    )))
    .await;
    match sub.recv().await {
        Some(Packet::Publish(m)) => {
            assert_eq!(&m.payload[..], b"early");
            sub.send(&Packet::PubAck(PubResp::new(
                m.packet_id.expect("QoS 1 id"),
            )))
            .await;
        }
        other => panic!("expected the PUBLISH while the commit is held, got {other:?}"),
    }
    assert_eq!(
        resolved.load(Ordering::SeqCst),
        before,
        "delivered before any commit resolved"
    );
    store.open.send_replace(true);
    match p.recv().await {
        Some(Packet::PubAck(a)) => {
            assert_eq!(a.packet_id.get(), 1);
            assert!(!a.reason.is_error());
            assert!(
                resolved.load(Ordering::SeqCst) > before,
                "PUBACK only after the message's commit resolved"
            );
        }
        other => panic!("expected PUBACK, got {other:?}"),
    }
    broker.shutdown(common::WAIT).await;
}
