//! Flow control of PUBLISHes that wait for their store commits (issue 9): a client that
//! pipelines more QoS 1/2 PUBLISHes than our Receive Maximum before reading its
//! acknowledgements is slowed down, not disconnected, when the limit is only reached
//! because acknowledgements wait for the store. MQTT 3.1.1 clients cannot be told the
//! limit at all, so for them this is the only correct behaviour.

mod common;

use bytes::BytesMut;
use common::{connect_packet, publish, start_with, Raw};
use petrel_codec::{Packet, ProtocolVersion, QoS};

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
