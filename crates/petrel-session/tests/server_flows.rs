//! More chapter 4 flows on the server: QoS 0, clean start, ordering, errors,
//! re-authentication, problem information, and input that would grow memory.

mod common;

use std::time::Instant;

use bytes::BytesMut;
use common::*;
use petrel_codec::{Auth, Packet, Properties, Property, QoS, ReasonCode, Will};
use petrel_session::{
    AcceptParams, Message, OutgoingMessage, ServerConfig, ServerEvent, ServerSession,
};

#[test]
fn qos0_delivered_without_ack_section_4_3_1() {
    for v in VERSIONS {
        let now = Instant::now();
        let mut s = connected(now, v, ServerConfig::default(), Properties::new());
        feed(
            &mut s,
            now,
            v,
            Packet::Publish(publish("a", QoS::AtMostOnce, None, b"x")),
        );
        assert!(matches!(
            events(&mut s).as_slice(),
            [ServerEvent::Publish { ack: None, .. }]
        ));
        assert!(sent(&mut s).is_empty());
        s.deliver(
            now,
            OutgoingMessage::new(now, Message::new("b", "y", QoS::AtMostOnce)),
        );
        let out = sent(&mut s);
        assert!(matches!(out.as_slice(), [Packet::Publish(p)] if p.packet_id.is_none()));
        assert_eq!(s.in_flight(), 0);
    }
}

#[test]
fn clean_start_discards_saved_session_mqtt_3_1_2_4() {
    for v in VERSIONS {
        let now = Instant::now();
        let mut s = connected(now, v, ServerConfig::default(), Properties::new());
        s.deliver(
            now,
            OutgoingMessage::new(now, Message::new("t", "m", QoS::AtLeastOnce)),
        );
        sent(&mut s);
        s.connection_lost(now);
        let state = s.take_state();
        assert_eq!(state.outgoing.len(), 1);
        let mut s2 = ServerSession::new(now, ServerConfig::default());
        feed(
            &mut s2,
            now,
            v,
            Packet::Connect(Box::new(connect(v, "c1", true, 0))),
        );
        s2.accept(now, AcceptParams::resume(state)).expect("accept");
        let out = sent(&mut s2);
        assert!(matches!(out.as_slice(), [Packet::ConnAck(c)] if !c.session_present));
        assert_eq!(s2.in_flight(), 0);
    }
}

#[test]
fn order_preserved_per_topic_section_4_6() {
    for v in VERSIONS {
        let now = Instant::now();
        let mut s = connected(now, v, ServerConfig::default(), Properties::new());
        let qos = [QoS::AtLeastOnce, QoS::ExactlyOnce, QoS::AtMostOnce];
        for n in 0..12u8 {
            let topic = if n % 2 == 0 { "even" } else { "odd" };
            let m = Message::new(topic, vec![n], qos[usize::from(n % 3)]);
            s.deliver(now, OutgoingMessage::new(now, m));
        }
        let payloads: Vec<u8> = sent(&mut s)
            .iter()
            .filter_map(|p| match p {
                Packet::Publish(p) => Some(p.payload[0]),
                _ => None,
            })
            .collect();
        assert_eq!(payloads, (0..12).collect::<Vec<u8>>());
    }
}

#[test]
fn malformed_remaining_length_closes_0x81_mqtt_4_13_1_1() {
    for v in VERSIONS {
        let now = Instant::now();
        let mut s = connected(now, v, ServerConfig::default(), Properties::new());
        let r = s.handle_bytes(now, &[0x30, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert!(r.is_err());
        assert!(s.is_closed());
        let out = sent(&mut s);
        if v == V5 {
            let reason = disconnect_reason(&out).expect("DISCONNECT");
            assert!(matches!(
                reason,
                ReasonCode::MalformedPacket | ReasonCode::PacketTooLarge
            ));
        } else {
            assert!(out.is_empty());
        }
    }
}

#[test]
fn re_authentication_section_4_12_1() {
    let now = Instant::now();
    let mut s = ServerSession::new(now, ServerConfig::default());
    let mut c = connect(V5, "a", true, 0);
    c.properties
        .set(Property::AuthenticationMethod("TOKEN".into()));
    feed(&mut s, now, V5, Packet::Connect(Box::new(c)));
    events(&mut s);
    s.accept(now, AcceptParams::new()).expect("accept");
    sent(&mut s);
    let re = Auth {
        reason: ReasonCode::ReAuthenticate,
        properties: prop(Property::AuthenticationMethod("TOKEN".into())),
    };
    feed(&mut s, now, V5, Packet::Auth(re));
    assert!(matches!(events(&mut s).as_slice(),
        [ServerEvent::Auth(a)] if a.reason == ReasonCode::ReAuthenticate));
    let ok = Auth {
        reason: ReasonCode::Success,
        properties: prop(Property::AuthenticationMethod("TOKEN".into())),
    };
    s.send_auth(ok).expect("auth");
    assert!(matches!(sent(&mut s).as_slice(), [Packet::Auth(_)]));
    assert!(s.is_connected());
}

#[test]
fn auth_without_method_is_protocol_error_section_4_12() {
    let now = Instant::now();
    let mut s = connected(now, V5, ServerConfig::default(), Properties::new());
    let a = Auth {
        reason: ReasonCode::ReAuthenticate,
        properties: prop(Property::AuthenticationMethod("X".into())),
    };
    feed(&mut s, now, V5, Packet::Auth(a));
    assert!(s.is_closed());
    assert_eq!(
        disconnect_reason(&sent(&mut s)),
        Some(ReasonCode::ProtocolError)
    );
}

#[test]
fn no_problem_information_when_not_requested_mqtt_3_1_2_29() {
    let now = Instant::now();
    let props = prop(Property::RequestProblemInformation(0));
    let mut s = connected(now, V5, ServerConfig::default(), props);
    feed(
        &mut s,
        now,
        V5,
        Packet::Subscribe(subscribe(1, &[("a", QoS::AtMostOnce)])),
    );
    events(&mut s);
    let reason = prop(Property::ReasonString("because".into()));
    s.suback(pid(1), vec![ReasonCode::Success], reason)
        .expect("suback");
    let out = sent(&mut s);
    assert!(matches!(out.as_slice(), [Packet::SubAck(a)] if a.properties.is_empty()));
}

#[test]
fn peer_that_never_reads_is_bounded() {
    let now = Instant::now();
    let config = ServerConfig {
        max_pending_transmits: 16,
        ..ServerConfig::default()
    };
    let mut s = connected(now, V311, config, Properties::new());
    let flood: Vec<u8> = std::iter::repeat_n([0xc0u8, 0x00], 40).flatten().collect();
    assert!(s.handle_bytes(now, &flood).is_err());
    assert!(s.is_closed());
    assert_eq!(
        closed_reason(&events(&mut s)),
        Some(ReasonCode::QuotaExceeded)
    );
    let mut s = connected(
        now,
        V311,
        ServerConfig {
            max_pending_transmits: 16,
            ..ServerConfig::default()
        },
        Properties::new(),
    );
    let some: Vec<u8> = std::iter::repeat_n([0xc0u8, 0x00], 20).flatten().collect();
    s.handle_bytes(now, &some).expect("within twice the limit");
    assert!(
        !s.wants_input(),
        "stop reading until the answers are written"
    );
    sent(&mut s);
    assert!(s.wants_input());
}

#[test]
fn will_kept_until_normal_disconnect_mqtt_3_14_4_3() {
    let now = Instant::now();
    let mut s = ServerSession::new(now, ServerConfig::default());
    let mut c = connect(V5, "w", true, 0);
    c.will = Some(Will {
        topic: "bye".into(),
        payload: bytes::Bytes::from_static(b"gone"),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: prop(Property::WillDelayInterval(30)),
    });
    feed(&mut s, now, V5, Packet::Connect(Box::new(c)));
    s.accept(now, AcceptParams::new()).expect("accept");
    let (will, delay) = s.will().expect("will");
    assert_eq!((will.topic.as_ref(), delay), ("bye", 30));
    feed(&mut s, now, V5, Packet::Disconnect(Default::default()));
    assert!(s.will().is_none());
    assert!(s.take_state().will.is_none());
}

#[test]
fn refusal_reason_in_ack_only_for_v5_section_3_4_2_1() {
    for v in VERSIONS {
        let now = Instant::now();
        let mut s = connected(now, v, ServerConfig::default(), Properties::new());
        feed(
            &mut s,
            now,
            v,
            Packet::Publish(publish("a", QoS::AtLeastOnce, Some(2), b"")),
        );
        let Some(ServerEvent::Publish { ack: Some(ack), .. }) = events(&mut s).pop() else {
            panic!()
        };
        s.ack_publish(ack, ReasonCode::NotAuthorized).expect("ack");
        let want = if v == V5 {
            ReasonCode::NotAuthorized
        } else {
            ReasonCode::Success
        };
        assert!(matches!(sent(&mut s).as_slice(), [Packet::PubAck(r)] if r.reason == want));
        assert_eq!(
            s.ack_publish(ack, ReasonCode::Success),
            Err(petrel_session::SendError::UnknownPacketId)
        );
    }
}

#[test]
fn chunked_input_byte_by_byte_is_equivalent() {
    let now = Instant::now();
    let mut s = ServerSession::new(now, ServerConfig::default());
    let mut buf = BytesMut::new();
    Packet::Connect(Box::new(connect(V5, "b", true, 0)))
        .encode(V5, &mut buf)
        .expect("enc");
    for b in buf.iter() {
        s.handle_bytes(now, &[*b]).expect("partial input is fine");
    }
    assert!(matches!(
        events(&mut s).as_slice(),
        [ServerEvent::Connect(_)]
    ));
}

#[test]
fn response_topic_wildcard_and_subscription_id_refused_mqtt_3_3_2_14_and_3_3_4_6() {
    let now = Instant::now();
    let mut s = connected(now, V5, ServerConfig::default(), Properties::new());
    let mut p = publish("a", QoS::AtMostOnce, None, b"");
    p.properties.set(Property::ResponseTopic("reply/#".into()));
    assert!(s.handle_packet(now, Packet::Publish(p)).is_err());
    assert_eq!(
        disconnect_reason(&sent(&mut s)),
        Some(ReasonCode::TopicNameInvalid)
    );

    let mut s = connected(now, V5, ServerConfig::default(), Properties::new());
    let mut p = publish("a", QoS::AtMostOnce, None, b"");
    p.properties.set(Property::SubscriptionIdentifier(4));
    assert!(s.handle_packet(now, Packet::Publish(p)).is_err());
    assert_eq!(
        disconnect_reason(&sent(&mut s)),
        Some(ReasonCode::ProtocolError)
    );
}

#[test]
fn subscribe_and_unsubscribe_need_filters_mqtt_3_8_3_2_and_3_10_3_2() {
    for v in VERSIONS {
        let now = Instant::now();
        let mut s = connected(now, v, ServerConfig::default(), Properties::new());
        assert!(s
            .handle_packet(now, Packet::Subscribe(subscribe(1, &[])))
            .is_err());
        assert!(s.is_closed());
        let mut s = connected(now, v, ServerConfig::default(), Properties::new());
        let u = petrel_codec::Unsubscribe {
            packet_id: pid(1),
            filters: vec![],
            properties: Properties::new(),
        };
        assert!(s.handle_packet(now, Packet::Unsubscribe(u)).is_err());
        assert!(s.is_closed());
    }
}

#[test]
fn reused_qos2_id_without_pubrec_does_not_grow_state() {
    // Regression (CHECKLIST, peers' known bugs): the same QoS 2 id sent over and over
    // before any PUBREC must not leak memory or deliver again (MQTT-4.3.3-10).
    for v in VERSIONS {
        let now = Instant::now();
        let mut s = connected(now, v, ServerConfig::default(), Properties::new());
        let mut buf = BytesMut::new();
        let p = Packet::Publish(publish("a", QoS::ExactlyOnce, Some(1), b"x"));
        for _ in 0..2000 {
            p.encode(v, &mut buf).expect("enc");
        }
        s.handle_bytes(now, &buf).expect("duplicates are fine");
        assert_eq!(events(&mut s).len(), 1);
        assert_eq!(s.incoming_in_flight(), 1);
        assert!(sent(&mut s).is_empty());
    }
}

#[test]
fn expiry_survives_save_and_restore_as_time_left() {
    let t0 = Instant::now();
    let m = Message::new("t", "m", QoS::AtLeastOnce)
        .with_properties(prop(Property::MessageExpiryInterval(10)));
    let o = OutgoingMessage::new(t0, m.clone());
    let left = o.expires_in(t0 + secs(4));
    assert_eq!(left, Some(secs(6)));
    let later = t0 + secs(100);
    let restored = OutgoingMessage::with_time_left(later, m, left);
    assert!(!restored.is_expired(later + secs(5)));
    assert!(restored.is_expired(later + secs(6)));
}

#[test]
fn caps_on_filters_levels_and_user_properties() {
    let now = Instant::now();
    let config = ServerConfig {
        max_filters_per_subscribe: 2,
        max_topic_levels: 3,
        max_user_properties: 2,
        ..ServerConfig::default()
    };
    let mut s = connected(now, V5, config.clone(), Properties::new());
    let sub = subscribe(
        1,
        &[
            ("a", QoS::AtMostOnce),
            ("a/b/c/d", QoS::AtMostOnce),
            ("c", QoS::AtMostOnce),
        ],
    );
    feed(&mut s, now, V5, Packet::Subscribe(sub));
    let evs = events(&mut s);
    let Some(ServerEvent::Subscribe { requests, .. }) = evs.first() else {
        panic!("{evs:?}")
    };
    let rejected: Vec<_> = requests.iter().map(|r| r.rejected).collect();
    assert_eq!(
        rejected,
        [
            None,
            Some(ReasonCode::TopicFilterInvalid),
            Some(ReasonCode::QuotaExceeded)
        ]
    );
    feed(
        &mut s,
        now,
        V5,
        Packet::Publish(publish("a/b/c/d", QoS::AtMostOnce, None, b"")),
    );
    assert_eq!(
        disconnect_reason(&sent(&mut s)),
        Some(ReasonCode::TopicNameInvalid)
    );

    let mut s = connected(now, V5, config, Properties::new());
    let mut p = publish("a", QoS::AtMostOnce, None, b"");
    for k in ["1", "2", "3"] {
        p.properties
            .set(Property::UserProperty(k.into(), "v".into()));
    }
    feed(&mut s, now, V5, Packet::Publish(p));
    assert_eq!(
        disconnect_reason(&sent(&mut s)),
        Some(ReasonCode::QuotaExceeded)
    );
}
