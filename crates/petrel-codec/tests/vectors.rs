//! Byte-exact vectors built by hand from the packet layouts of chapter 3 of the MQTT 3.1.1
//! and 5.0 specifications. Each vector must decode to the packet and the packet must encode
//! back to exactly the same bytes.

use petrel_codec::*;
use ProtocolVersion::{V3_1, V3_1_1, V5};

fn id(v: u16) -> PacketId {
    PacketId::new(v).expect("non-zero")
}

fn check(version: ProtocolVersion, bytes: &[u8], packet: Packet) {
    let mut buf = BytesMut::from(bytes);
    let decoded = decode(&mut buf, version, u32::MAX).expect("decodes");
    assert_eq!(
        decoded.as_ref(),
        Some(&packet),
        "decode {version:?} {bytes:02x?}"
    );
    assert!(buf.is_empty(), "consumed everything");
    let mut out = BytesMut::new();
    packet.encode(version, &mut out).expect("encodes");
    assert_eq!(&out[..], bytes, "encode {version:?} {packet:?}");
    assert_eq!(packet.encoded_len(version).expect("len"), bytes.len());
}

fn props(list: Vec<Property>) -> Properties {
    Properties(list)
}

#[test]
fn connect_v3_1_1_minimal() {
    // Section 3.1: fixed header 0x10, protocol name "MQTT", level 4, flags: clean session,
    // keep alive 60, client id "a".
    check(
        V3_1_1,
        &[
            0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60, 0, 1, b'a',
        ],
        Packet::Connect(Box::new(Connect {
            protocol: V3_1_1,
            clean_start: true,
            keep_alive: 60,
            client_id: "a".into(),
            will: None,
            username: None,
            password: None,
            properties: Properties::new(),
        })),
    );
}

#[test]
fn connect_v3_1_with_will_user_password() {
    let bytes = [
        0x10,
        28,
        0,
        6,
        b'M',
        b'Q',
        b'I',
        b's',
        b'd',
        b'p',
        3,           // protocol
        0b1110_1110, // user, password, will retain, will qos 1, will, clean
        0,
        10, // keep alive
        0,
        1,
        b'c', // client id
        0,
        1,
        b't', // will topic
        0,
        1,
        b'x', // will message
        0,
        1,
        b'u', // user name
        0,
        2,
        b'p',
        b'w', // password
    ];
    check(
        V3_1_1, // CONNECT is decoded with its own protocol level whatever the caller says
        &bytes,
        Packet::Connect(Box::new(Connect {
            protocol: V3_1,
            clean_start: true,
            keep_alive: 10,
            client_id: "c".into(),
            will: Some(Will {
                topic: "t".into(),
                payload: Bytes::from_static(b"x"),
                qos: QoS::AtLeastOnce,
                retain: true,
                properties: Properties::new(),
            }),
            username: Some("u".into()),
            password: Some(Bytes::from_static(b"pw")),
            properties: Properties::new(),
        })),
    );
}

#[test]
fn connect_v5_with_properties_and_will_properties() {
    let bytes = [
        0x10,
        32,
        0,
        4,
        b'M',
        b'Q',
        b'T',
        b'T',
        5,           // protocol
        0b0000_0110, // will qos 0, will, clean start
        0,
        30, // keep alive
        5,
        0x11,
        0,
        0,
        0,
        60, // session expiry 60
        0,
        1,
        b'c', // client id
        5,
        0x18,
        0,
        0,
        0,
        5, // will delay 5
        0,
        1,
        b't', // will topic
        0,
        2,
        b'b',
        b'y', // will payload
    ];
    check(
        V5,
        &bytes,
        Packet::Connect(Box::new(Connect {
            protocol: V5,
            clean_start: true,
            keep_alive: 30,
            client_id: "c".into(),
            will: Some(Will {
                topic: "t".into(),
                payload: Bytes::from_static(b"by"),
                qos: QoS::AtMostOnce,
                retain: false,
                properties: props(vec![Property::WillDelayInterval(5)]),
            }),
            username: None,
            password: None,
            properties: props(vec![Property::SessionExpiryInterval(60)]),
        })),
    );
}

#[test]
fn connack_all_versions() {
    for v in [V3_1, V3_1_1] {
        check(
            v,
            &[0x20, 2, 1, 0],
            Packet::ConnAck(ConnAck {
                session_present: true,
                reason: ReasonCode::Success,
                properties: Properties::new(),
            }),
        );
        check(
            v,
            &[0x20, 2, 0, 5],
            Packet::ConnAck(ConnAck {
                session_present: false,
                reason: ReasonCode::NotAuthorized,
                properties: Properties::new(),
            }),
        );
    }
    check(
        V5,
        &[0x20, 8, 0, 0x00, 5, 0x21, 0, 10, 0x24, 1],
        Packet::ConnAck(ConnAck {
            session_present: false,
            reason: ReasonCode::Success,
            properties: props(vec![Property::ReceiveMaximum(10), Property::MaximumQoS(1)]),
        }),
    );
}

#[test]
fn publish_all_versions() {
    for v in [V3_1, V3_1_1] {
        check(
            v,
            &[0x3B, 8, 0, 1, b'a', 0, 9, b'h', b'i', b'!'],
            Packet::Publish(Publish {
                dup: true,
                qos: QoS::AtLeastOnce,
                retain: true,
                topic: "a".into(),
                packet_id: Some(id(9)),
                properties: Properties::new(),
                payload: Bytes::from_static(b"hi!"),
            }),
        );
    }
    check(
        V5,
        &[0x30, 12, 0, 1, b'a', 7, 0x26, 0, 1, b'k', 0, 1, b'v', b'p'],
        Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic: "a".into(),
            packet_id: None,
            properties: props(vec![Property::UserProperty("k".into(), "v".into())]),
            payload: Bytes::from_static(b"p"),
        }),
    );
}

#[test]
fn publish_acknowledgements() {
    let resp = PubResp::new(id(0x1234));
    for v in [V3_1, V3_1_1, V5] {
        check(v, &[0x40, 2, 0x12, 0x34], Packet::PubAck(resp.clone()));
        check(v, &[0x50, 2, 0x12, 0x34], Packet::PubRec(resp.clone()));
        check(v, &[0x62, 2, 0x12, 0x34], Packet::PubRel(resp.clone()));
        check(v, &[0x70, 2, 0x12, 0x34], Packet::PubComp(resp.clone()));
    }
    let with_reason = PubResp {
        reason: ReasonCode::NoMatchingSubscribers,
        ..resp.clone()
    };
    check(
        V5,
        &[0x40, 3, 0x12, 0x34, 0x10],
        Packet::PubAck(with_reason),
    );
    let with_props = PubResp {
        reason: ReasonCode::PacketIdentifierNotFound,
        properties: props(vec![Property::ReasonString("no".into())]),
        ..resp
    };
    check(
        V5,
        &[0x70, 9, 0x12, 0x34, 0x92, 5, 0x1F, 0, 2, b'n', b'o'],
        Packet::PubComp(with_props),
    );
}

#[test]
fn subscribe_and_suback() {
    let opts = SubscriptionOptions {
        qos: QoS::ExactlyOnce,
        no_local: true,
        retain_as_published: true,
        retain_handling: RetainHandling::DoNotSend,
    };
    check(
        V5,
        &[0x82, 10, 0, 1, 2, 0x0B, 7, 0, 2, b'a', b'/', 0b0010_1110],
        Packet::Subscribe(Subscribe {
            packet_id: id(1),
            filters: vec![("a/".into(), opts)],
            properties: props(vec![Property::SubscriptionIdentifier(7)]),
        }),
    );
    let v3_opts = SubscriptionOptions {
        qos: QoS::AtLeastOnce,
        ..Default::default()
    };
    for v in [V3_1, V3_1_1] {
        check(
            v,
            &[0x82, 10, 0, 2, 0, 1, b'a', 1, 0, 1, b'#', 0],
            Packet::Subscribe(Subscribe {
                packet_id: id(2),
                filters: vec![
                    ("a".into(), v3_opts),
                    ("#".into(), SubscriptionOptions::default()),
                ],
                properties: Properties::new(),
            }),
        );
        check(
            v,
            &[0x90, 4, 0, 2, 1, 0x80],
            Packet::SubAck(SubAck {
                packet_id: id(2),
                reasons: vec![ReasonCode::GrantedQoS1, ReasonCode::UnspecifiedError],
                properties: Properties::new(),
            }),
        );
    }
    check(
        V5,
        &[0x90, 5, 0, 2, 0, 0x02, 0xA2],
        Packet::SubAck(SubAck {
            packet_id: id(2),
            reasons: vec![
                ReasonCode::GrantedQoS2,
                ReasonCode::WildcardSubscriptionsNotSupported,
            ],
            properties: Properties::new(),
        }),
    );
}

#[test]
fn unsubscribe_and_unsuback() {
    for v in [V3_1, V3_1_1] {
        check(
            v,
            &[0xA2, 5, 0, 3, 0, 1, b'a'],
            Packet::Unsubscribe(Unsubscribe {
                packet_id: id(3),
                filters: vec!["a".into()],
                properties: Properties::new(),
            }),
        );
        check(
            v,
            &[0xB0, 2, 0, 3],
            Packet::UnsubAck(UnsubAck {
                packet_id: id(3),
                reasons: vec![],
                properties: Properties::new(),
            }),
        );
    }
    check(
        V5,
        &[0xA2, 6, 0, 3, 0, 0, 1, b'a'],
        Packet::Unsubscribe(Unsubscribe {
            packet_id: id(3),
            filters: vec!["a".into()],
            properties: Properties::new(),
        }),
    );
    check(
        V5,
        &[0xB0, 5, 0, 3, 0, 0x00, 0x11],
        Packet::UnsubAck(UnsubAck {
            packet_id: id(3),
            reasons: vec![ReasonCode::Success, ReasonCode::NoSubscriptionExisted],
            properties: Properties::new(),
        }),
    );
}

#[test]
fn ping_disconnect_auth() {
    for v in [V3_1, V3_1_1, V5] {
        check(v, &[0xC0, 0], Packet::PingReq);
        check(v, &[0xD0, 0], Packet::PingResp);
        check(v, &[0xE0, 0], Packet::Disconnect(Disconnect::default()));
    }
    check(
        V5,
        &[0xE0, 1, 0x04],
        Packet::Disconnect(Disconnect {
            reason: ReasonCode::DisconnectWithWillMessage,
            properties: Properties::new(),
        }),
    );
    check(
        V5,
        &[0xE0, 7, 0x00, 5, 0x11, 0, 0, 0, 0],
        Packet::Disconnect(Disconnect {
            reason: ReasonCode::Success,
            properties: props(vec![Property::SessionExpiryInterval(0)]),
        }),
    );
    check(V5, &[0xF0, 0], Packet::Auth(Auth::default()));
    check(
        V5,
        &[0xF0, 8, 0x18, 6, 0x15, 0, 3, b'S', b'C', b'R'],
        Packet::Auth(Auth {
            reason: ReasonCode::ContinueAuthentication,
            properties: props(vec![Property::AuthenticationMethod("SCR".into())]),
        }),
    );
}
