//! CHECKLIST "QoS and sessions" items 12, 13 and 18 (items 14-17 are in sessions.rs and
//! pubsub.rs).

mod common;

use std::time::Duration;

use common::*;
use petrel_codec::{
    Packet, Property, ProtocolVersion, PubResp, QoS, ReasonCode, SubscriptionOptions,
};

const V3: ProtocolVersion = ProtocolVersion::V3_1_1;
const V5: ProtocolVersion = ProtocolVersion::V5;

/// CHECKLIST 12 / MQTT-4.3.3-10: a duplicate QoS 2 packet id before PUBREL gets PUBREC
/// again and is delivered once; after PUBCOMP the same id is a new message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_qos2_delivered_once_mqtt_4_3_3_10() {
    let broker = start().await;
    let addr = broker.local_addr();
    for v in [V3, V5] {
        let mut s = Raw::connect(addr, V5, "s").await;
        s.subscribe("d", QoS::AtMostOnce).await;
        let mut p = Raw::connect(addr, v, "p").await;
        let mut m = publish("d", "once", QoS::ExactlyOnce, 7);
        p.send(&Packet::Publish(m.clone())).await;
        assert!(matches!(p.recv().await, Some(Packet::PubRec(r)) if r.packet_id == pid(7)));
        m.dup = true;
        p.send(&Packet::Publish(m.clone())).await;
        assert!(matches!(p.recv().await, Some(Packet::PubRec(r)) if r.packet_id == pid(7)));
        p.send(&Packet::PubRel(PubResp::new(pid(7)))).await;
        assert!(
            matches!(p.recv().await, Some(Packet::PubComp(r)) if r.reason == ReasonCode::Success)
        );
        assert_eq!(&s.next_publish().await.unwrap().payload[..], b"once");
        s.expect_silence(Duration::from_millis(150)).await;
        // The same id after PUBCOMP is a new message.
        m.dup = false;
        m.payload = "again".into();
        p.publish(m).await;
        assert_eq!(&s.next_publish().await.unwrap().payload[..], b"again");
    }
}

/// CHECKLIST 12: an unknown PUBREL gets PUBCOMP 0x92 (MQTT 5).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_pubrel_gets_0x92() {
    let broker = start().await;
    let mut c = Raw::connect(broker.local_addr(), V5, "c").await;
    c.send(&Packet::PubRel(PubResp::new(pid(42)))).await;
    match c.recv().await {
        Some(Packet::PubComp(r)) => assert_eq!(r.reason, ReasonCode::PacketIdentifierNotFound),
        other => panic!("{other:?}"),
    }
    let mut c3 = Raw::connect(broker.local_addr(), V3, "c3").await;
    c3.send(&Packet::PubRel(PubResp::new(pid(42)))).await;
    assert!(matches!(c3.recv().await, Some(Packet::PubComp(_))));
}

/// CHECKLIST 13 / MQTT-3.3.4-8: a QoS 2 flood that never sends PUBREL is bounded by our
/// Receive Maximum; one more gets DISCONNECT 0x93.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos2_flood_over_receive_maximum_mqtt_3_3_4_8() {
    let broker = start_with(|c| c.limits.receive_maximum = 3).await;
    let (mut c, ack) = Raw::connect_with(broker.local_addr(), connect_packet(V5, "flood")).await;
    assert_eq!(ack.properties.receive_maximum(), Some(3));
    for i in 1..=3 {
        c.send(&Packet::Publish(publish("f", "x", QoS::ExactlyOnce, i)))
            .await;
        assert!(matches!(c.recv().await, Some(Packet::PubRec(_))));
    }
    c.send(&Packet::Publish(publish("f", "x", QoS::ExactlyOnce, 4)))
        .await;
    assert_eq!(
        c.expect_closed().await,
        Some(ReasonCode::ReceiveMaximumExceeded)
    );
}

/// CHECKLIST 18 / MQTT-4.7.2-1: `#` and `+/...` never match topics starting with `$`,
/// live or retained; an explicit `$` filter does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcards_skip_dollar_topics_mqtt_4_7_2_1() {
    let broker = start().await;
    let addr = broker.local_addr();
    let mut p = Raw::connect(addr, V5, "p").await;
    let mut m = publish("$app/x", "retained", QoS::AtLeastOnce, 1);
    m.retain = true;
    p.publish(m).await;
    let mut hash = Raw::connect(addr, V5, "hash").await;
    hash.subscribe("#", QoS::AtMostOnce).await;
    let mut plus = Raw::connect(addr, V5, "plus").await;
    plus.subscribe("+/x", QoS::AtMostOnce).await;
    let mut explicit = Raw::connect(addr, V5, "explicit").await;
    explicit.subscribe("$app/#", QoS::AtMostOnce).await;
    assert_eq!(
        &explicit.next_publish().await.unwrap().payload[..],
        b"retained"
    );
    p.publish(publish("$app/x", "live", QoS::AtLeastOnce, 2))
        .await;
    assert_eq!(&explicit.next_publish().await.unwrap().payload[..], b"live");
    hash.expect_silence(Duration::from_millis(150)).await;
    plus.expect_silence(Duration::from_millis(50)).await;
}

/// CHECKLIST 18: clients cannot publish to `$SYS` (the message is not routed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_cannot_publish_to_sys() {
    let broker = start().await;
    let addr = broker.local_addr();
    let mut s = Raw::connect(addr, V3, "s").await;
    s.subscribe("$SYS/#", QoS::AtMostOnce).await;
    let mut c3 = Raw::connect(addr, V3, "c3").await;
    c3.publish(publish("$SYS/fake", "x", QoS::AtLeastOnce, 1))
        .await;
    let mut m = publish("$SYS/fake", "x", QoS::AtMostOnce, 0);
    m.retain = true;
    c3.publish(m).await;
    c3.sync().await;
    s.expect_silence(Duration::from_millis(150)).await;
    assert_eq!(broker.retained_count(), 0);
}

/// CHECKLIST 18 / MQTT-3.8.3-4: No Local on a shared subscription is a protocol error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_local_on_shared_is_protocol_error_mqtt_3_8_3_4() {
    let broker = start().await;
    let mut c = Raw::connect(broker.local_addr(), V5, "c").await;
    let sub = petrel_codec::Subscribe {
        packet_id: pid(1),
        filters: vec![(
            "$share/g/t".into(),
            SubscriptionOptions {
                no_local: true,
                ..Default::default()
            },
        )],
        properties: Default::default(),
    };
    let mut buf = bytes::BytesMut::new();
    // The codec refuses to encode it; patch the options byte of a valid one.
    let ok = petrel_codec::Subscribe {
        filters: vec![("$share/g/t".into(), SubscriptionOptions::default())],
        ..sub
    };
    Packet::Subscribe(ok).encode(V5, &mut buf).unwrap();
    let last = buf.len() - 1;
    buf[last] |= 0x04;
    c.send_bytes(&buf).await;
    assert_eq!(c.expect_closed().await, Some(ReasonCode::ProtocolError));
}

/// Subscription identifiers are sent with retained messages delivered on subscribe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_identifier_on_retained() {
    let broker = start().await;
    let addr = broker.local_addr();
    let mut p = Raw::connect(addr, V5, "p").await;
    let mut m = publish("sid", "r", QoS::AtLeastOnce, 1);
    m.retain = true;
    p.publish(m).await;
    let mut s = Raw::connect(addr, V5, "s").await;
    let props = petrel_codec::Properties::new().with(Property::SubscriptionIdentifier(5));
    s.subscribe_opts("sid", SubscriptionOptions::default(), props)
        .await;
    let got = s.next_publish().await.unwrap();
    assert_eq!(
        got.properties
            .subscription_identifiers()
            .collect::<Vec<_>>(),
        vec![5]
    );
}
