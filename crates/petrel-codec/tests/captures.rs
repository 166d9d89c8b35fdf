//! Bytes captured from real peers (see tests/captures/README.md) decode to the expected
//! packets, and re-encode to the same bytes.

use petrel_codec::*;

fn load(name: &str, v: ProtocolVersion) -> Vec<Packet> {
    let path = format!("{}/tests/captures/{name}", env!("CARGO_MANIFEST_DIR"));
    let raw = std::fs::read(&path).expect("capture file");
    let mut buf = BytesMut::from(&raw[..]);
    let mut out = Vec::new();
    while !buf.is_empty() {
        let p = decode(&mut buf, v, u32::MAX)
            .expect("decodes")
            .expect("complete");
        out.push(p);
    }
    out
}

/// Loads a capture, decodes it whole, and checks that encoding the packets again gives the
/// very same bytes (the peers use the shortest forms, as Petrel does).
fn load_exact(name: &str, v: ProtocolVersion) -> Vec<Packet> {
    let packets = load(name, v);
    let path = format!("{}/tests/captures/{name}", env!("CARGO_MANIFEST_DIR"));
    let raw = std::fs::read(&path).expect("capture file");
    let mut again = BytesMut::new();
    for p in &packets {
        p.encode(v, &mut again).expect("re-encodes");
    }
    assert_eq!(&again[..], &raw[..], "{name} re-encodes byte for byte");
    packets
}

fn id(v: u16) -> PacketId {
    PacketId::new(v).expect("non-zero")
}

fn connect(p: &Packet) -> &Connect {
    match p {
        Packet::Connect(c) => c,
        other => panic!("expected CONNECT, got {other:?}"),
    }
}

fn publish(p: &Packet) -> &Publish {
    match p {
        Packet::Publish(x) => x,
        other => panic!("expected PUBLISH, got {other:?}"),
    }
}

#[test]
fn mosquitto_pub_mqtt_3_1() {
    let packets = load_exact("client-pub-v31.bin", ANOTHER_VERSION);
    assert_eq!(packets.len(), 3);
    let c = connect(&packets[0]);
    assert_eq!(c.protocol, ProtocolVersion::V3_1);
    assert_eq!(c.client_id, "petrel-cap");
    assert_eq!(c.keep_alive, 60);
    assert!(c.clean_start && c.will.is_none() && c.username.is_none());
    let p = publish(&packets[1]);
    assert_eq!(
        (p.topic.as_ref(), p.qos, p.packet_id),
        ("petrel/test", QoS::AtLeastOnce, Some(id(1)))
    );
    assert_eq!(p.payload, "hello");
    assert_eq!(packets[2], Packet::Disconnect(Disconnect::default()));
}

/// CONNECT carries its own version: decoding it with another one still works.
const ANOTHER_VERSION: ProtocolVersion = ProtocolVersion::V3_1;

#[test]
fn mosquitto_pub_mqtt_3_1_1_qos2_will_and_credentials() {
    let packets = load_exact("client-pub-v311.bin", ProtocolVersion::V3_1_1);
    let c = connect(&packets[0]);
    assert_eq!(c.protocol, ProtocolVersion::V3_1_1);
    assert_eq!(c.username.as_deref(), Some("user"));
    assert_eq!(c.password.as_deref(), Some(&b"secret"[..]));
    let w = c.will.as_ref().expect("will");
    assert_eq!(
        (w.topic.as_ref(), &w.payload[..], w.qos, w.retain),
        ("petrel/will", &b"bye"[..], QoS::AtLeastOnce, false)
    );
    let p = publish(&packets[1]);
    assert_eq!((p.qos, p.retain, p.dup), (QoS::ExactlyOnce, true, false));
    assert_eq!(packets[2], Packet::PubRel(PubResp::new(id(1))));
    assert_eq!(packets[3], Packet::Disconnect(Disconnect::default()));
}

#[test]
fn mosquitto_pub_mqtt_5_with_properties() {
    let packets = load_exact("client-pub-v5.bin", ProtocolVersion::V5);
    let c = connect(&packets[0]);
    assert_eq!(c.protocol, ProtocolVersion::V5);
    assert_eq!(c.properties.session_expiry_interval(), Some(60));
    assert_eq!(c.properties.receive_maximum(), Some(20));
    let w = c.will.as_ref().expect("will");
    assert_eq!(w.properties.will_delay_interval(), Some(5));
    assert_eq!(w.topic, "petrel/will");
    let p = publish(&packets[1]);
    let users: Vec<_> = p.properties.user_properties().collect();
    assert_eq!(users, vec![(&"a".into(), &"b".into())]);
    assert_eq!(p.properties.content_type().as_deref(), Some("text/plain"));
    assert_eq!(p.properties.message_expiry_interval(), Some(3600));
    assert_eq!(p.payload, "hello");
    assert_eq!(packets[2], Packet::Disconnect(Disconnect::default()));
}

#[test]
fn mosquitto_sub_mqtt_3_1_1_two_filters() {
    let packets = load_exact("client-sub-v311.bin", ProtocolVersion::V3_1_1);
    let Packet::Subscribe(s) = &packets[1] else {
        panic!("expected SUBSCRIBE")
    };
    assert_eq!(s.packet_id, id(1));
    let filters: Vec<_> = s.filters.iter().map(|(f, o)| (f.as_ref(), o.qos)).collect();
    assert_eq!(
        filters,
        vec![
            ("petrel/#", QoS::AtLeastOnce),
            ("other/+", QoS::AtLeastOnce)
        ]
    );
}

#[test]
fn mosquitto_sub_mqtt_5_subscription_identifier() {
    let packets = load_exact("client-sub-v5.bin", ProtocolVersion::V5);
    assert_eq!(connect(&packets[0]).properties.receive_maximum(), Some(1));
    let Packet::Subscribe(s) = &packets[1] else {
        panic!("expected SUBSCRIBE")
    };
    assert_eq!(
        s.properties.subscription_identifiers().collect::<Vec<_>>(),
        vec![7]
    );
    assert_eq!(s.properties.user_properties().count(), 1);
    assert_eq!(s.filters[0].0, "petrel/#");
    assert_eq!(s.filters[0].1.qos, QoS::ExactlyOnce);
}

fn broker_common(packets: &[Packet], v5: bool) {
    assert_eq!(packets.len(), 10, "{packets:?}");
    let Packet::ConnAck(c) = &packets[0] else {
        panic!("expected CONNACK")
    };
    assert_eq!((c.session_present, c.reason), (false, ReasonCode::Success));
    let Packet::SubAck(s) = &packets[1] else {
        panic!("expected SUBACK")
    };
    assert_eq!(
        (s.packet_id, &s.reasons[..]),
        (id(1), &[ReasonCode::GrantedQoS2][..])
    );
    let forwarded: Vec<&Publish> = packets
        .iter()
        .filter_map(|p| {
            if let Packet::Publish(x) = p {
                Some(x)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(forwarded.len(), 2);
    assert_eq!(
        (
            forwarded[0].topic.as_ref(),
            forwarded[0].qos,
            &forwarded[0].payload[..]
        ),
        ("petrel/one", QoS::AtLeastOnce, &b"qos1"[..])
    );
    assert_eq!(
        (
            forwarded[1].topic.as_ref(),
            forwarded[1].qos,
            &forwarded[1].payload[..]
        ),
        ("petrel/two", QoS::ExactlyOnce, &b"qos2"[..])
    );
    assert!(packets.contains(&Packet::PubAck(PubResp::new(id(2)))));
    assert!(packets.contains(&Packet::PubRec(PubResp::new(id(3)))));
    assert!(packets.contains(&Packet::PubComp(PubResp::new(id(3)))));
    assert!(packets.contains(&Packet::PingResp));
    let unsuback = packets.iter().find_map(|p| {
        if let Packet::UnsubAck(u) = p {
            Some(u)
        } else {
            None
        }
    });
    let unsuback = unsuback.expect("UNSUBACK");
    assert_eq!(unsuback.packet_id, id(4));
    assert_eq!(
        unsuback.reasons,
        if v5 {
            vec![ReasonCode::Success]
        } else {
            vec![]
        }
    );
}

#[test]
fn mosquitto_broker_answers_mqtt_3_1() {
    broker_common(&load_exact("broker-v31.bin", ProtocolVersion::V3_1), false);
    load_exact("broker-v31.sent.bin", ProtocolVersion::V3_1);
}

#[test]
fn mosquitto_broker_answers_mqtt_3_1_1() {
    broker_common(
        &load_exact("broker-v311.bin", ProtocolVersion::V3_1_1),
        false,
    );
    load_exact("broker-v311.sent.bin", ProtocolVersion::V3_1_1);
}

#[test]
fn mosquitto_broker_answers_mqtt_5() {
    let packets = load_exact("broker-v5.bin", ProtocolVersion::V5);
    broker_common(&packets, true);
    let Packet::ConnAck(c) = &packets[0] else {
        panic!("expected CONNACK")
    };
    assert_eq!(c.properties.topic_alias_maximum(), Some(10));
    assert_eq!(c.properties.receive_maximum(), Some(20));
    // The broker forwards the user property, content type and (remaining) expiry.
    let first = packets.iter().find_map(|p| {
        if let Packet::Publish(x) = p {
            Some(x)
        } else {
            None
        }
    });
    let first = first.expect("forwarded PUBLISH");
    assert_eq!(first.properties.user_properties().count(), 1);
    assert_eq!(
        first.properties.content_type().as_deref(),
        Some("text/plain")
    );
    assert!(first
        .properties
        .message_expiry_interval()
        .is_some_and(|s| s <= 3600));
    load_exact("broker-v5.sent.bin", ProtocolVersion::V5);
}
