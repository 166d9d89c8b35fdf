//! Idle connections hold no receive buffer (issue 8: memory per idle connection): bytes
//! are read into a buffer lent per read, and the session keeps only an undecoded tail.

mod common;

use bytes::BytesMut;
use common::*;
use petrel_codec::{Packet, ProtocolVersion, QoS};

const V5: ProtocolVersion = ProtocolVersion::V5;

/// The buffered-bytes gauge counts a partly received packet, and returns to 0 once a large
/// packet was read and decoded, although both connections stay open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffered_bytes_return_to_zero_after_a_large_packet() {
    let broker = start().await;
    let addr = broker.local_addr();
    let mut s = Raw::connect(addr, V5, "idle-sub").await;
    s.subscribe("big", QoS::AtLeastOnce).await;
    let mut p = Raw::connect(addr, V5, "idle-pub").await;
    assert_eq!(broker.metrics().buffered_bytes, 0);

    let payload = "x".repeat(300 * 1024);
    let mut bytes = BytesMut::new();
    Packet::Publish(publish("big", &payload, QoS::AtLeastOnce, 1))
        .encode(V5, &mut bytes)
        .expect("encodes");
    // Half of the packet: the session holds it, undecoded, and the gauge says so.
    let half = bytes.len() / 2;
    p.send_bytes(&bytes[..half]).await;
    eventually(|| broker.metrics().buffered_bytes >= half as i64).await;

    // The rest: the packet is decoded (PUBACK) and nothing stays buffered.
    p.send_bytes(&bytes[half..]).await;
    match p.recv().await {
        Some(Packet::PubAck(a)) => assert_eq!(a.packet_id, pid(1)),
        other => panic!("expected PUBACK, got {other:?}"),
    }
    let got = s.next_publish().await.expect("delivered");
    assert_eq!(got.payload.len(), payload.len());
    p.sync().await;
    s.sync().await;
    assert_eq!(broker.metrics().buffered_bytes, 0);
}
