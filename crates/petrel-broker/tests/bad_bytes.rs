//! CHECKLIST "Bad bytes" (items 1-8): malformed and hostile input over raw sockets.

mod common;

use std::time::Duration;

use common::*;
use petrel_codec::{
    ByteString, Packet, Properties, Property, ProtocolVersion, QoS, ReasonCode, Subscribe,
    SubscriptionOptions,
};

const V3: ProtocolVersion = ProtocolVersion::V3_1_1;
const V5: ProtocolVersion = ProtocolVersion::V5;

fn varint(mut n: u32) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let mut b = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            b |= 0x80;
        }
        out.push(b);
        if n == 0 {
            return out;
        }
    }
}

/// Raw PUBLISH QoS 0 with arbitrary topic bytes (with an empty property block for v5).
fn publish_bytes(topic: &[u8], v5: bool) -> Vec<u8> {
    let mut body = vec![0, topic.len() as u8];
    body.extend_from_slice(topic);
    if v5 {
        body.push(0);
    }
    body.extend_from_slice(b"p");
    let mut out = vec![0x30];
    out.extend(varint(body.len() as u32));
    out.extend(body);
    out
}

/// CHECKLIST 1 / section 1.5.5, MQTT-4.13.1-1: a remaining length of five bytes is
/// malformed; the connection is closed (MQTT 5 with DISCONNECT 0x81), before and after
/// CONNECT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remaining_length_five_bytes_closes_mqtt_4_13_1_1() {
    let broker = start().await;
    let bad = [0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01];
    let mut first = Raw::open(broker.local_addr(), V5).await;
    first.send_bytes(&bad).await;
    assert_eq!(first.expect_closed().await, None);
    let mut c = Raw::connect(broker.local_addr(), V5, "c").await;
    c.send_bytes(&bad).await;
    assert_eq!(c.expect_closed().await, Some(ReasonCode::MalformedPacket));
    let mut c3 = Raw::connect(broker.local_addr(), V3, "c3").await;
    c3.send_bytes(&bad).await;
    assert_eq!(c3.expect_closed().await, None);
}

/// CHECKLIST 2 / MQTT-3.1.0-1: garbage, HTTP, a TLS ClientHello, or any first packet other
/// than CONNECT closes the connection without CONNACK.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_packet_must_be_connect_mqtt_3_1_0_1() {
    let broker = start().await;
    let inputs: [&[u8]; 5] = [
        b"\x00\x01\x02\x03garbage",
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        b"\xc0\x00",               // PINGREQ
        b"\x30\x05\x00\x01a\x00p", // PUBLISH
    ];
    for bytes in inputs {
        let mut raw = Raw::open(broker.local_addr(), V3).await;
        raw.send_bytes(bytes).await;
        assert!(
            raw.closed_within(WAIT).await.is_ok_and(|p| p.is_none()),
            "{bytes:?}"
        );
    }
    assert!(broker.metrics().protocol_errors >= 5);
}

/// CHECKLIST 2 / MQTT-3.1.0-2: a second CONNECT closes the connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_connect_closes_mqtt_3_1_0_2() {
    let broker = start().await;
    for v in [V3, V5] {
        let mut c = Raw::connect(broker.local_addr(), v, "twice").await;
        c.send(&Packet::Connect(Box::new(connect_packet(v, "twice"))))
            .await;
        let expected = v.is_v5().then_some(ReasonCode::ProtocolError);
        assert_eq!(c.expect_closed().await, expected);
    }
}

/// CHECKLIST 3: reserved flag bits and QoS 3 close the connection: CONNECT reserved flag
/// (MQTT-3.1.2-3), SUBSCRIBE flags (MQTT-3.8.1-1), PUBREL flags (MQTT-3.6.1-1), PUBLISH
/// QoS 3 (MQTT-3.3.1-4).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserved_flags_and_qos3_close() {
    let broker = start().await;
    let addr = broker.local_addr();
    // MQTT-3.1.2-3
    let connect = [
        0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x03, 0, 60, 0, 1, b'c',
    ];
    let mut raw = Raw::open(addr, V3).await;
    raw.send_bytes(&connect).await;
    assert_eq!(raw.expect_closed().await, None);
    let cases: [(&str, &[u8]); 3] = [
        ("MQTT-3.8.1-1", &[0x80, 6, 0, 1, 0, 1, b'a', 0]),
        ("MQTT-3.6.1-1", &[0x60, 2, 0, 1]),
        ("MQTT-3.3.1-4", &[0x36, 5, 0, 1, b'a', 0, 1]),
    ];
    for (rule, bytes) in cases {
        let mut c = Raw::connect(addr, V3, "c").await;
        c.send_bytes(bytes).await;
        assert_eq!(c.expect_closed().await, None, "{rule}");
        let mut c5 = Raw::connect(addr, V5, "c5").await;
        c5.send_bytes(bytes).await;
        assert_eq!(
            c5.expect_closed().await,
            Some(ReasonCode::MalformedPacket),
            "{rule}"
        );
    }
}

/// CHECKLIST 4 / MQTT-1.5.4-1, MQTT-1.5.4-2: ill-formed UTF-8, a surrogate, or U+0000 in a
/// string closes the connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_utf8_closes_mqtt_1_5_4_1_and_2() {
    let broker = start().await;
    let topics: [&[u8]; 3] = [b"a\xc3\x28", b"a\xed\xa0\x80", b"a\x00b"];
    for topic in topics {
        let mut c = Raw::connect(broker.local_addr(), V5, "u").await;
        c.send_bytes(&publish_bytes(topic, true)).await;
        assert_eq!(
            c.expect_closed().await,
            Some(ReasonCode::MalformedPacket),
            "{topic:?}"
        );
        let mut c3 = Raw::connect(broker.local_addr(), V3, "u3").await;
        c3.send_bytes(&publish_bytes(topic, false)).await;
        assert_eq!(c3.expect_closed().await, None, "{topic:?}");
    }
}

/// CHECKLIST 5 / MQTT-3.3.2-2: a wildcard in a PUBLISH topic gets 0x90 and a close; in a
/// will topic CONNACK 0x90; in a Response Topic 0x90 (MQTT-3.3.2-14).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcard_topics_rejected_mqtt_3_3_2_2() {
    let broker = start().await;
    let addr = broker.local_addr();
    for topic in [&b"a/+"[..], b"a/#"] {
        let mut c = Raw::connect(addr, V5, "w").await;
        c.send_bytes(&publish_bytes(topic, true)).await;
        assert_eq!(c.expect_closed().await, Some(ReasonCode::TopicNameInvalid));
    }
    let mut connect = connect_packet(V5, "will");
    connect.will = Some(will("w/#", "x", Properties::new()));
    let mut buf = bytes::BytesMut::new();
    // The codec refuses to encode it, so build the bytes of a valid will and patch them.
    connect.will = Some(will("w/a", "x", Properties::new()));
    Packet::Connect(Box::new(connect))
        .encode(V5, &mut buf)
        .unwrap();
    let pos = buf.windows(3).position(|w| w == b"w/a").unwrap();
    buf[pos + 2] = b'#';
    let mut raw = Raw::open(addr, V5).await;
    raw.send_bytes(&buf).await;
    match raw.recv().await {
        Some(Packet::ConnAck(a)) => assert_eq!(a.reason, ReasonCode::TopicNameInvalid),
        other => panic!("{other:?}"),
    }
    let mut c = Raw::connect(addr, V5, "rt").await;
    let mut m = publish("req", "x", QoS::AtMostOnce, 0);
    m.properties.set(Property::ResponseTopic("resp/a".into()));
    let mut buf = bytes::BytesMut::new();
    Packet::Publish(m).encode(V5, &mut buf).unwrap();
    let pos = buf.windows(6).position(|w| w == b"resp/a").unwrap();
    buf[pos + 5] = b'+';
    c.send_bytes(&buf).await;
    assert_eq!(c.expect_closed().await, Some(ReasonCode::TopicNameInvalid));
}

/// CHECKLIST 5: an empty topic without an alias closes (MQTT-4.7.3-1); topic alias 0 or
/// above the maximum gets 0x94 (MQTT-3.3.2-8, MQTT-3.3.2-9).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_topic_and_bad_alias() {
    let broker = start_with(|c| c.limits.topic_alias_maximum = 4).await;
    let addr = broker.local_addr();
    let mut c = Raw::connect(addr, V5, "e").await;
    c.send_bytes(&publish_bytes(b"", true)).await;
    assert_eq!(c.expect_closed().await, Some(ReasonCode::ProtocolError));
    let mut c3 = Raw::connect(addr, V3, "e3").await;
    c3.send_bytes(&publish_bytes(b"", false)).await;
    assert_eq!(c3.expect_closed().await, None);
    for alias in [0u16, 5] {
        let mut c = Raw::connect(addr, V5, "a").await;
        // Alias 0 cannot be encoded by the codec; write the property by hand.
        let [hi, lo] = alias.to_be_bytes();
        c.send_bytes(&[0x30, 8, 0, 1, b't', 3, 0x23, hi, lo, b'p'])
            .await;
        assert_eq!(
            c.expect_closed().await.map(|r| r.as_u8()).unwrap_or(0) & 0x80,
            0x80
        );
    }
    let mut c = Raw::connect(addr, V5, "a5").await;
    c.send_bytes(&[0x30, 8, 0, 1, b't', 3, 0x23, 0, 5, b'p'])
        .await;
    assert_eq!(c.expect_closed().await, Some(ReasonCode::TopicAliasInvalid));
}

/// CHECKLIST 6 / MQTT-4.7.1-1, MQTT-4.7.1-2: invalid filters are refused in SUBACK (0x8F
/// in MQTT 5, 0x80 in MQTT 3); a SUBSCRIBE without filters closes (MQTT-3.8.3-2); topic
/// levels, filters per SUBSCRIBE and user properties are capped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_filters_and_caps_mqtt_4_7_1_1() {
    let broker = start_with(|c| {
        c.limits.max_topic_levels = 4;
        c.limits.max_filters_per_subscribe = 2;
        c.limits.max_user_properties = 2;
    })
    .await;
    let addr = broker.local_addr();
    let mut c = Raw::connect(addr, V5, "f").await;
    for bad in ["a/#/b", "a+", "a/b#", "$share/g", "a/b/c/d/e"] {
        let ack = c.subscribe(bad, QoS::AtMostOnce).await;
        assert_eq!(ack.reasons, vec![ReasonCode::TopicFilterInvalid], "{bad}");
    }
    let mut c3 = Raw::connect(addr, V3, "f3").await;
    let ack = c3.subscribe("a/#/b", QoS::AtMostOnce).await;
    assert_eq!(ack.reasons, vec![ReasonCode::UnspecifiedError]);
    let three = Subscribe {
        packet_id: pid(9),
        filters: ["x", "y", "z"]
            .iter()
            .map(|f| (ByteString::from(*f), SubscriptionOptions::default()))
            .collect(),
        properties: Properties::new(),
    };
    c.send(&Packet::Subscribe(three)).await;
    match c.recv().await {
        Some(Packet::SubAck(a)) => {
            assert_eq!(a.reasons[2], ReasonCode::QuotaExceeded);
            assert_eq!(a.reasons[0], ReasonCode::Success);
        }
        other => panic!("{other:?}"),
    }
    // Topic levels in a PUBLISH.
    c.send_bytes(&publish_bytes(b"a/b/c/d/e", true)).await;
    assert_eq!(c.expect_closed().await, Some(ReasonCode::TopicNameInvalid));
    // MQTT-3.8.3-2: SUBSCRIBE with no filters.
    let mut c3 = Raw::connect(addr, V3, "f3").await;
    c3.send_bytes(&[0x82, 2, 0, 1]).await;
    assert_eq!(c3.expect_closed().await, None);
    // User properties per packet.
    let mut c = Raw::connect(addr, V5, "up").await;
    let mut m = publish("t", "x", QoS::AtMostOnce, 0);
    for i in 0..3 {
        m.properties
            .set(Property::UserProperty(i.to_string().into(), "v".into()));
    }
    c.send(&Packet::Publish(m)).await;
    assert_eq!(c.expect_closed().await, Some(ReasonCode::QuotaExceeded));
}

/// CHECKLIST 7: a packet over the maximum size gets 0x95 from its fixed header alone (the
/// body is never sent); a message too large for the receiving client is dropped as if
/// sent (MQTT-3.1.2-24, MQTT-3.1.2-25).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packet_too_large_mqtt_3_1_2_24_and_25() {
    let broker = start_with(|c| c.limits.max_packet_size = 1024).await;
    let addr = broker.local_addr();
    let mut c = Raw::connect(addr, V5, "big").await;
    let mut header = vec![0x30];
    header.extend(varint(2000));
    c.send_bytes(&header).await;
    assert_eq!(c.expect_closed().await, Some(ReasonCode::PacketTooLarge));
    let mut small = connect_packet(V5, "small");
    small.properties.set(Property::MaximumPacketSize(100));
    let (mut s, _) = Raw::connect_with(addr, small).await;
    s.subscribe("sz", QoS::AtLeastOnce).await;
    let mut p = Raw::connect(addr, V5, "p").await;
    p.publish(publish("sz", &"x".repeat(500), QoS::AtLeastOnce, 1))
        .await;
    p.publish(publish("sz", "fits", QoS::AtLeastOnce, 2)).await;
    let got = s.next_publish().await.unwrap();
    assert_eq!(&got.payload[..], b"fits");
}

/// CHECKLIST 8: fourteen connections each declaring a 256 MB packet grow the broker's
/// buffered bytes by less than 20 MB: buffers grow only as bytes arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fourteen_declared_256mb_packets_stay_small() {
    let broker = start_with(|c| c.limits.max_packet_size = 268_435_455).await;
    let addr = broker.local_addr();
    let mut conns = Vec::new();
    for i in 0..14 {
        let mut header = vec![0x30];
        header.extend(varint(268_000_000)); // ~256 MB, the largest a varint allows
        header.extend_from_slice(&[0, 1, b't']);
        header.extend(std::iter::repeat_n(0u8, 64 * 1024));
        if i % 2 == 0 {
            let mut c = Raw::connect(addr, V5, &format!("big{i}")).await;
            c.send_bytes(&header).await;
            conns.push(c);
        } else {
            // A first packet that is not CONNECT declaring 256 MB.
            let mut c = Raw::open(addr, V5).await;
            header[0] = 0x10;
            c.send_bytes(&header).await;
            conns.push(c);
        }
    }
    // Every connection holds what it was sent (the counter measures real buffers)...
    eventually(|| broker.metrics().buffered_bytes >= 14 * 64 * 1024).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // ...and nothing close to the declared sizes.
    let buffered = broker.metrics().buffered_bytes;
    assert!(buffered < 20 * 1024 * 1024, "buffered {buffered}");
    assert!(broker.metrics().connections_open <= 14);
}
