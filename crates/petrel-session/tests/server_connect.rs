//! Server handshake rules: CONNECT first, version negotiation, client ids, keep-alive,
//! connect timeout, CONNACK properties.

mod common;

use std::time::Instant;

use common::*;
use petrel_codec::{Packet, Properties, Property, ProtocolVersion, QoS, ReasonCode, Will};
use petrel_session::{AcceptParams, CloseReason, ServerConfig, ServerEvent, ServerSession};

#[test]
fn first_packet_must_be_connect_mqtt_3_1_0_1() {
    for v in VERSIONS {
        let now = Instant::now();
        let mut s = ServerSession::new(now, ServerConfig::default());
        feed(&mut s, now, v, Packet::PingReq);
        assert!(s.is_closed());
        assert!(
            sent(&mut s).is_empty(),
            "no CONNACK for a non-CONNECT first packet"
        );
        assert_eq!(
            closed_reason(&events(&mut s)),
            Some(ReasonCode::ProtocolError)
        );
    }
}

#[test]
fn http_request_as_first_bytes_closes_mqtt_3_1_0_1() {
    let now = Instant::now();
    let mut s = ServerSession::new(now, ServerConfig::default());
    assert!(s
        .handle_bytes(now, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .is_err());
    assert!(s.is_closed());
    assert!(sent(&mut s).is_empty());
}

#[test]
fn second_connect_closes_mqtt_3_1_0_2() {
    for v in VERSIONS {
        let now = Instant::now();
        let mut s = connected(now, v, ServerConfig::default(), Properties::new());
        feed(
            &mut s,
            now,
            v,
            Packet::Connect(Box::new(connect(v, "c1", true, 0))),
        );
        assert!(s.is_closed());
        let out = sent(&mut s);
        if v == V5 {
            assert_eq!(disconnect_reason(&out), Some(ReasonCode::ProtocolError));
        } else {
            assert!(out.is_empty());
        }
        let evs = events(&mut s);
        assert!(evs.iter().any(|e| matches!(e,
            ServerEvent::Closed { reason: CloseReason::Protocol(p), publish_will: true }
                if p.normative_id == Some("MQTT-3.1.0-2"))));
    }
}

#[test]
fn unsupported_level_answers_connack_then_closes_mqtt_3_1_2_2() {
    // CONNECT with protocol name MQTT and level 6 (unknown), then level 2.
    for (level, expect_v5) in [(6u8, true), (2u8, false)] {
        let now = Instant::now();
        let mut s = ServerSession::new(now, ServerConfig::default());
        let bytes = [0x10, 10, 0, 4, b'M', b'Q', b'T', b'T', level, 0x02, 0, 60];
        assert!(s.handle_bytes(now, &bytes).is_err());
        assert!(s.is_closed());
        let mut buf = bytes::BytesMut::new();
        s.encode_transmits(&mut buf).expect("encode");
        let version = if expect_v5 {
            ProtocolVersion::V5
        } else {
            ProtocolVersion::V3_1_1
        };
        assert_eq!(s.version(), version);
        let p = petrel_codec::decode(&mut buf, version, u32::MAX).expect("decodes");
        match p {
            Some(Packet::ConnAck(c)) => {
                assert_eq!(c.reason, ReasonCode::UnsupportedProtocolVersion);
                // 0x84 in MQTT 5, return code 0x01 in MQTT 3 (mapped by the codec).
                assert_eq!(buf.len(), 0);
            }
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }
}

#[test]
fn empty_client_id_without_clean_session_refused_mqtt_3_1_3_8() {
    let now = Instant::now();
    let mut s = ServerSession::new(now, ServerConfig::default());
    feed(
        &mut s,
        now,
        V311,
        Packet::Connect(Box::new(connect(V311, "", false, 0))),
    );
    let out = sent(&mut s);
    assert!(matches!(out.as_slice(),
        [Packet::ConnAck(c)] if c.reason == ReasonCode::ClientIdentifierNotValid));
    assert!(s.is_closed());
    // MQTT 5: an empty id is fine, the broker assigns one.
    let mut s = ServerSession::new(now, ServerConfig::default());
    feed(
        &mut s,
        now,
        V5,
        Packet::Connect(Box::new(connect(V5, "", false, 0))),
    );
    assert!(matches!(
        events(&mut s).as_slice(),
        [ServerEvent::Connect(_)]
    ));
    s.accept(
        now,
        AcceptParams::new().with_assigned_client_id("auto-1".into()),
    )
    .expect("ok");
    let out = sent(&mut s);
    let Some(Packet::ConnAck(c)) = out.first() else {
        panic!("{out:?}")
    };
    assert_eq!(
        c.properties.assigned_client_identifier().as_deref(),
        Some("auto-1")
    );
    assert_eq!(s.client_id(), "auto-1");
}

#[test]
fn will_topic_with_wildcard_refused_mqtt_3_1_3_11() {
    for v in VERSIONS {
        let now = Instant::now();
        let mut s = ServerSession::new(now, ServerConfig::default());
        let mut c = connect(v, "w", true, 0);
        c.will = Some(Will {
            topic: "a/b".into(),
            payload: bytes::Bytes::from_static(b"x"),
            qos: QoS::AtMostOnce,
            retain: false,
            properties: Properties::new(),
        });
        let mut buf = bytes::BytesMut::new();
        Packet::Connect(Box::new(c))
            .encode(v, &mut buf)
            .expect("encodes");
        let at = buf
            .windows(3)
            .position(|w| w == b"a/b")
            .expect("will topic present");
        buf[at + 2] = b'#';
        let _ = s.handle_bytes(now, &buf);
        assert!(s.is_closed());
        let out = sent(&mut s);
        if v == V5 {
            assert!(matches!(out.as_slice(),
                [Packet::ConnAck(c)] if c.reason == ReasonCode::TopicNameInvalid));
        } else {
            assert!(out.is_empty());
        }
    }
}

#[test]
fn keep_alive_closes_at_one_and_a_half_mqtt_3_1_2_22() {
    for v in VERSIONS {
        let t0 = Instant::now();
        let mut s = ServerSession::new(t0, ServerConfig::default());
        feed(
            &mut s,
            t0,
            v,
            Packet::Connect(Box::new(connect(v, "k", true, 10))),
        );
        s.accept(t0, AcceptParams::new()).expect("accept");
        sent(&mut s);
        assert_eq!(s.poll_timeout(), Some(t0 + secs(15)));
        s.handle_timeout(t0 + secs(14));
        assert!(!s.is_closed());
        feed(&mut s, t0 + secs(14), v, Packet::PingReq);
        assert!(matches!(sent(&mut s).as_slice(), [Packet::PingResp]));
        s.handle_timeout(t0 + secs(28));
        assert!(
            !s.is_closed(),
            "a packet restarts the 1.5 x keep-alive period"
        );
        s.handle_timeout(t0 + secs(29));
        assert!(s.is_closed());
        let out = sent(&mut s);
        if v == V5 {
            assert_eq!(disconnect_reason(&out), Some(ReasonCode::KeepAliveTimeout));
        }
        let evs = events(&mut s);
        assert!(evs.iter().any(|e| matches!(
            e,
            ServerEvent::Closed {
                reason: CloseReason::KeepAliveTimeout,
                publish_will: true
            }
        )));
    }
}

#[test]
fn server_keep_alive_caps_the_client_v5_mqtt_3_2_2_21() {
    let t0 = Instant::now();
    let config = ServerConfig {
        max_keep_alive: Some(30),
        ..ServerConfig::default()
    };
    let mut s = ServerSession::new(t0, config);
    feed(
        &mut s,
        t0,
        V5,
        Packet::Connect(Box::new(connect(V5, "k", true, 0))),
    );
    s.accept(t0, AcceptParams::new()).expect("accept");
    let out = sent(&mut s);
    let Some(Packet::ConnAck(c)) = out.first() else {
        panic!()
    };
    assert_eq!(c.properties.server_keep_alive(), Some(30));
    assert_eq!(s.poll_timeout(), Some(t0 + secs(45)));
}

#[test]
fn connect_timeout_closes_a_silent_or_trickling_peer() {
    let t0 = Instant::now();
    let mut s = ServerSession::new(t0, ServerConfig::default());
    // A CONNECT trickled byte by byte never completes.
    let _ = s.handle_bytes(t0, &[0x10]);
    let _ = s.handle_bytes(t0 + secs(5), &[0x7f]);
    assert_eq!(s.poll_timeout(), Some(t0 + secs(10)));
    s.handle_timeout(t0 + secs(10));
    assert!(s.is_closed());
    assert!(events(&mut s).iter().any(|e| matches!(
        e,
        ServerEvent::Closed {
            reason: CloseReason::ConnectTimeout,
            publish_will: false
        }
    )));
}

#[test]
fn oversized_packet_rejected_from_header_0x95() {
    let now = Instant::now();
    let config = ServerConfig {
        max_packet_size: 1024,
        ..ServerConfig::default()
    };
    let mut s = connected(now, V5, config, Properties::new());
    // PUBLISH header declaring 256 MB; no body follows.
    assert!(s
        .handle_bytes(now, &[0x30, 0xff, 0xff, 0xff, 0x7f])
        .is_err());
    assert_eq!(
        disconnect_reason(&sent(&mut s)),
        Some(ReasonCode::PacketTooLarge)
    );
}

#[test]
fn connack_announces_limits_and_caps() {
    let now = Instant::now();
    let config = ServerConfig {
        receive_maximum: 10,
        max_packet_size: 4096,
        topic_alias_maximum: 5,
        maximum_qos: QoS::AtLeastOnce,
        retain_available: false,
        shared_subscription_available: false,
        ..ServerConfig::default()
    };
    let mut s = ServerSession::new(now, config);
    feed(
        &mut s,
        now,
        V5,
        Packet::Connect(Box::new(connect(V5, "c", true, 0))),
    );
    s.accept(now, AcceptParams::new()).expect("accept");
    let out = sent(&mut s);
    let Some(Packet::ConnAck(c)) = out.first() else {
        panic!()
    };
    let p = &c.properties;
    assert_eq!(p.receive_maximum(), Some(10));
    assert_eq!(p.maximum_packet_size(), Some(4096));
    assert_eq!(p.topic_alias_maximum(), Some(5));
    assert_eq!(p.maximum_qos(), Some(1));
    assert_eq!(p.retain_available(), Some(0));
    assert_eq!(p.shared_subscription_available(), Some(0));
    assert!(!c.session_present);
}

#[test]
fn reject_maps_to_v3_return_codes() {
    for v in VERSIONS {
        let now = Instant::now();
        let mut s = ServerSession::new(now, ServerConfig::default());
        feed(
            &mut s,
            now,
            v,
            Packet::Connect(Box::new(connect(v, "c", true, 0))),
        );
        s.reject(now, ReasonCode::Banned, Properties::new());
        let out = sent(&mut s);
        let want = if v == V5 {
            ReasonCode::Banned
        } else {
            ReasonCode::NotAuthorized
        };
        assert!(
            matches!(out.as_slice(), [Packet::ConnAck(c)] if c.reason == want),
            "{out:?}"
        );
        assert!(s.is_closed());
    }
}

#[test]
fn packets_pipelined_after_connect_wait_for_accept() {
    let now = Instant::now();
    let mut s = ServerSession::new(now, ServerConfig::default());
    let mut buf = bytes::BytesMut::new();
    Packet::Connect(Box::new(connect(V311, "p", true, 0)))
        .encode(V311, &mut buf)
        .expect("enc");
    Packet::Publish(publish("a", QoS::AtMostOnce, None, b"1"))
        .encode(V311, &mut buf)
        .expect("enc");
    s.handle_bytes(now, &buf).expect("ok");
    assert!(matches!(
        events(&mut s).as_slice(),
        [ServerEvent::Connect(_)]
    ));
    assert!(!s.wants_input());
    s.accept(now, AcceptParams::new()).expect("accept");
    assert!(matches!(
        events(&mut s).as_slice(),
        [ServerEvent::Publish { .. }]
    ));
    assert!(s.wants_input());
}

#[test]
fn enhanced_auth_exchange_v5_section_4_12() {
    let now = Instant::now();
    let mut s = ServerSession::new(now, ServerConfig::default());
    let mut c = connect(V5, "a", true, 0);
    c.properties
        .set(Property::AuthenticationMethod("SCRAM".into()));
    feed(&mut s, now, V5, Packet::Connect(Box::new(c)));
    assert!(matches!(
        events(&mut s).as_slice(),
        [ServerEvent::Connect(_)]
    ));
    let challenge = petrel_codec::Auth {
        reason: ReasonCode::ContinueAuthentication,
        properties: prop(Property::AuthenticationMethod("SCRAM".into())),
    };
    s.send_auth(challenge.clone()).expect("auth");
    assert!(matches!(sent(&mut s).as_slice(), [Packet::Auth(_)]));
    feed(&mut s, now, V5, Packet::Auth(challenge));
    assert!(matches!(events(&mut s).as_slice(), [ServerEvent::Auth(_)]));
    s.accept(now, AcceptParams::new()).expect("accept");
    assert!(s.is_connected());
}

#[test]
fn maximum_keep_alive_enforced_for_v3_by_refusal() {
    for (ka, refused) in [(0u16, true), (31, true), (30, false)] {
        let t0 = Instant::now();
        let config = ServerConfig {
            max_keep_alive: Some(30),
            ..ServerConfig::default()
        };
        let mut s = ServerSession::new(t0, config);
        feed(
            &mut s,
            t0,
            V311,
            Packet::Connect(Box::new(connect(V311, "k", true, ka))),
        );
        assert_eq!(s.is_closed(), refused, "keep-alive {ka}");
        if refused {
            assert!(matches!(sent(&mut s).as_slice(),
                [Packet::ConnAck(c)] if c.reason == ReasonCode::ClientIdentifierNotValid));
        }
    }
}
