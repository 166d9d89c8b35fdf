//! Client side flows, MQTT 5 and 3.1.1: handshake and CONNACK properties, publishing with
//! the in-flight window, resend after reconnect, incoming QoS, keep-alive, subscriptions.

mod common;

use std::time::Instant;

use bytes::BytesMut;
use common::*;
use petrel_codec::{
    ConnAck, Packet, Properties, Property, ProtocolVersion, PubResp, QoS, ReasonCode, SubAck,
    SubscriptionOptions,
};
use petrel_session::{
    AliasPolicy, ClientConfig, ClientEvent, ClientSession, CloseReason, Message, SendError,
};

fn out(c: &mut ClientSession) -> Vec<Packet> {
    let mut buf = BytesMut::new();
    c.encode_transmits(&mut buf).expect("encodes");
    let v = c.config().version;
    let mut v_out = Vec::new();
    while let Some(p) = petrel_codec::decode(&mut buf, v, u32::MAX).expect("decodes") {
        v_out.push(p);
    }
    v_out
}

fn evs(c: &mut ClientSession) -> Vec<ClientEvent> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

fn connack(present: bool, props: Properties) -> Packet {
    Packet::ConnAck(ConnAck {
        session_present: present,
        reason: ReasonCode::Success,
        properties: props,
    })
}

fn client(now: Instant, v: ProtocolVersion, props: Properties) -> ClientSession {
    let mut cfg = ClientConfig::new("me", v);
    cfg.keep_alive = 0;
    let mut c = ClientSession::new(cfg);
    c.connect(now).expect("connect");
    assert!(matches!(out(&mut c).as_slice(), [Packet::Connect(_)]));
    c.handle_packet(now, connack(false, props))
        .expect("connack");
    assert!(matches!(
        evs(&mut c).as_slice(),
        [ClientEvent::Connected(_)]
    ));
    c
}

fn ids_of(p: &[Packet]) -> Vec<(u16, bool)> {
    p.iter()
        .filter_map(|p| match p {
            Packet::Publish(p) => p.packet_id.map(|id| (id.get(), p.dup)),
            _ => None,
        })
        .collect()
}

#[test]
fn connect_carries_config_and_connack_properties_are_reported() {
    let now = Instant::now();
    let mut cfg = ClientConfig::new("me", V5);
    cfg.session_expiry_interval = 300;
    cfg.receive_maximum = 7;
    cfg.topic_alias_maximum = 3;
    let mut c = ClientSession::new(cfg);
    c.connect(now).expect("connect");
    let sent = out(&mut c);
    let Some(Packet::Connect(conn)) = sent.first() else {
        panic!()
    };
    assert!(conn.clean_start);
    assert_eq!(conn.properties.session_expiry_interval(), Some(300));
    assert_eq!(conn.properties.receive_maximum(), Some(7));
    let props = Properties(vec![
        Property::AssignedClientIdentifier("srv-1".into()),
        Property::ServerKeepAlive(20),
        Property::ReceiveMaximum(3),
        Property::MaximumQoS(1),
        Property::RetainAvailable(0),
        Property::SharedSubscriptionAvailable(0),
        Property::TopicAliasMaximum(4),
    ]);
    c.handle_packet(now, connack(false, props))
        .expect("connack");
    let Some(ClientEvent::Connected(info)) = evs(&mut c).into_iter().next() else {
        panic!()
    };
    assert_eq!(info.assigned_client_id.as_deref(), Some("srv-1"));
    assert_eq!(
        (
            info.keep_alive,
            info.receive_maximum,
            info.topic_alias_maximum
        ),
        (20, 3, 4)
    );
    assert_eq!(info.maximum_qos, QoS::AtLeastOnce);
    assert!(!info.retain_available && !info.shared_subscription_available);
    assert!(info.wildcard_subscription_available);
    assert_eq!(c.poll_timeout(), Some(now + secs(20)));
    assert_eq!(
        c.publish(now, Message::new("a", "x", QoS::ExactlyOnce)),
        Err(SendError::QoSNotSupported)
    );
    assert_eq!(
        c.publish(
            now,
            Message::new("a", "x", QoS::AtMostOnce).with_retain(true)
        ),
        Err(SendError::RetainNotSupported)
    );
}

#[test]
fn refused_connack_closes_with_reason() {
    for v in VERSIONS {
        let now = Instant::now();
        let mut c = ClientSession::new(ClientConfig::new("me", v));
        c.connect(now).expect("connect");
        out(&mut c);
        let refused = ConnAck {
            session_present: false,
            reason: ReasonCode::NotAuthorized,
            properties: Properties::new(),
        };
        c.handle_packet(now, Packet::ConnAck(refused))
            .expect("handled");
        assert!(matches!(
            evs(&mut c).as_slice(),
            [ClientEvent::Closed(CloseReason::Refused(
                ReasonCode::NotAuthorized
            ))]
        ));
        assert!(!c.is_connected());
    }
}

#[test]
fn first_packet_from_server_must_be_connack_mqtt_3_2_0_1() {
    let now = Instant::now();
    let mut c = ClientSession::new(ClientConfig::new("me", V311));
    c.connect(now).expect("connect");
    out(&mut c);
    assert!(c.handle_packet(now, Packet::PingResp).is_err());
}

#[test]
fn connack_timeout() {
    let now = Instant::now();
    let mut c = ClientSession::new(ClientConfig::new("me", V5));
    c.connect(now).expect("connect");
    c.handle_timeout(now + secs(10));
    assert!(matches!(
        evs(&mut c).as_slice(),
        [ClientEvent::Closed(CloseReason::ConnectTimeout)]
    ));
}

#[test]
fn enhanced_auth_passes_auth_packets_section_4_12() {
    let now = Instant::now();
    let mut cfg = ClientConfig::new("me", V5);
    cfg.auth_method = Some("SCRAM".into());
    cfg.auth_data = Some(bytes::Bytes::from_static(b"first"));
    let mut c = ClientSession::new(cfg);
    c.connect(now).expect("connect");
    let sent = out(&mut c);
    let Some(Packet::Connect(conn)) = sent.first() else {
        panic!()
    };
    assert_eq!(
        conn.properties.authentication_method().as_deref(),
        Some("SCRAM")
    );
    let challenge = petrel_codec::Auth {
        reason: ReasonCode::ContinueAuthentication,
        properties: prop(Property::AuthenticationMethod("SCRAM".into())),
    };
    c.handle_packet(now, Packet::Auth(challenge.clone()))
        .expect("auth");
    assert!(matches!(evs(&mut c).as_slice(), [ClientEvent::Auth(_)]));
    c.auth(challenge).expect("answer");
    assert!(matches!(out(&mut c).as_slice(), [Packet::Auth(_)]));
    c.handle_packet(now, connack(false, Properties::new()))
        .expect("connack");
    assert!(c.is_connected());
}

#[test]
fn publish_window_backpressure_and_completion_events_mqtt_3_3_4_7() {
    for v in VERSIONS {
        let now = Instant::now();
        let props = if v == V5 {
            prop(Property::ReceiveMaximum(2))
        } else {
            Properties::new()
        };
        let mut c = client(now, v, props);
        let a = c
            .publish(now, Message::new("t", "1", QoS::AtLeastOnce))
            .expect("ok");
        let b = c
            .publish(now, Message::new("t", "2", QoS::ExactlyOnce))
            .expect("ok");
        let (Some(a), Some(b)) = (a, b) else {
            panic!("QoS>0 gets ids")
        };
        if v == V5 {
            assert_eq!(
                c.publish(now, Message::new("t", "3", QoS::AtLeastOnce)),
                Err(SendError::Backpressure)
            );
        }
        assert_eq!(ids_of(&out(&mut c)).len(), 2);
        c.handle_packet(now, Packet::PubAck(PubResp::new(a)))
            .expect("puback");
        c.handle_packet(now, Packet::PubRec(PubResp::new(b)))
            .expect("pubrec");
        assert!(matches!(out(&mut c).as_slice(), [Packet::PubRel(r)] if r.packet_id == b));
        c.handle_packet(now, Packet::PubComp(PubResp::new(b)))
            .expect("pubcomp");
        let e = evs(&mut c);
        assert_eq!(e, [ClientEvent::Delivered(a), ClientEvent::Delivered(b)]);
        assert_eq!(c.in_flight(), 0);
    }
}

#[test]
fn refused_publish_reports_failed() {
    let now = Instant::now();
    let mut c = client(now, V5, Properties::new());
    let id = c
        .publish(now, Message::new("t", "1", QoS::AtLeastOnce))
        .expect("ok")
        .expect("id");
    out(&mut c);
    let refusal = PubResp {
        reason: ReasonCode::NotAuthorized,
        ..PubResp::new(id)
    };
    c.handle_packet(now, Packet::PubAck(refusal))
        .expect("puback");
    assert_eq!(
        evs(&mut c),
        [ClientEvent::Failed {
            packet_id: id,
            reason: ReasonCode::NotAuthorized
        }]
    );
}

#[test]
fn reconnect_resends_dup_and_pubrel_in_order_mqtt_4_4_0_1() {
    for v in VERSIONS {
        let now = Instant::now();
        let mut c = client(now, v, Properties::new());
        let ids: Vec<_> = (0..3u8)
            .map(|n| {
                let q = if n == 1 {
                    QoS::AtLeastOnce
                } else {
                    QoS::ExactlyOnce
                };
                c.publish(now, Message::new("t", vec![n], q))
                    .expect("ok")
                    .expect("id")
            })
            .collect();
        out(&mut c);
        c.handle_packet(now, Packet::PubRec(PubResp::new(ids[0])))
            .expect("pubrec");
        c.connection_lost(now);
        assert!(matches!(
            evs(&mut c).as_slice(),
            [ClientEvent::Closed(CloseReason::ConnectionLost)]
        ));
        c.connect(now).expect("reconnect");
        let sent = out(&mut c);
        let Some(Packet::Connect(conn)) = sent.first() else {
            panic!()
        };
        assert!(!conn.clean_start, "reconnect resumes the session");
        c.handle_packet(now, connack(true, Properties::new()))
            .expect("connack");
        let sent = out(&mut c);
        assert!(matches!(&sent[0], Packet::PubRel(r) if r.packet_id == ids[0]));
        assert_eq!(
            ids_of(&sent[1..]),
            [(ids[1].get(), true), (ids[2].get(), true)]
        );
    }
}

#[test]
fn session_not_present_completes_released_and_resends_rest_as_new() {
    let now = Instant::now();
    let mut c = client(now, V5, Properties::new());
    let a = c
        .publish(now, Message::new("t", "a", QoS::ExactlyOnce))
        .expect("ok")
        .expect("id");
    let b = c
        .publish(now, Message::new("t", "b", QoS::AtLeastOnce))
        .expect("ok")
        .expect("id");
    out(&mut c);
    c.handle_packet(now, Packet::PubRec(PubResp::new(a)))
        .expect("pubrec");
    c.connection_lost(now);
    evs(&mut c);
    c.connect(now).expect("reconnect");
    out(&mut c);
    c.handle_packet(now, connack(false, Properties::new()))
        .expect("connack");
    let e = evs(&mut c);
    assert!(e.contains(&ClientEvent::Delivered(a)));
    assert_eq!(ids_of(&out(&mut c)), [(b.get(), false)]);
}

#[test]
fn incoming_qos2_dedup_and_manual_ack_mqtt_4_3_3_10() {
    for v in VERSIONS {
        let now = Instant::now();
        let mut cfg = ClientConfig::new("me", v);
        cfg.manual_acks = true;
        let mut c = ClientSession::new(cfg);
        c.connect(now).expect("connect");
        c.handle_packet(now, connack(false, Properties::new()))
            .expect("connack");
        out(&mut c);
        evs(&mut c);
        let p = publish("t", QoS::ExactlyOnce, Some(3), b"x");
        c.handle_packet(now, Packet::Publish(p.clone()))
            .expect("publish");
        let e = evs(&mut c);
        let Some(ClientEvent::Message { ack: Some(ack), .. }) = e.first() else {
            panic!("{e:?}")
        };
        assert!(
            out(&mut c).is_empty(),
            "no PUBREC before the application acks"
        );
        c.ack(*ack, ReasonCode::Success).expect("ack");
        assert!(matches!(out(&mut c).as_slice(), [Packet::PubRec(_)]));
        c.handle_packet(now, Packet::Publish(p)).expect("dup");
        assert!(evs(&mut c).is_empty(), "duplicate not delivered");
        assert!(matches!(out(&mut c).as_slice(), [Packet::PubRec(_)]));
        c.handle_packet(now, Packet::PubRel(resp(3)))
            .expect("pubrel");
        assert!(matches!(out(&mut c).as_slice(), [Packet::PubComp(_)]));
    }
}

#[test]
fn auto_ack_qos1_section_4_3_2() {
    let now = Instant::now();
    let mut c = client(now, V311, Properties::new());
    c.handle_packet(
        now,
        Packet::Publish(publish("t", QoS::AtLeastOnce, Some(8), b"x")),
    )
    .expect("publish");
    assert!(matches!(out(&mut c).as_slice(), [Packet::PubAck(r)] if r.packet_id == pid(8)));
    assert!(matches!(
        evs(&mut c).as_slice(),
        [ClientEvent::Message { ack: None, .. }]
    ));
}

#[test]
fn keep_alive_pings_and_gives_up_mqtt_3_1_2_23() {
    let t0 = Instant::now();
    let mut cfg = ClientConfig::new("me", V311);
    cfg.keep_alive = 10;
    cfg.ping_timeout = secs(5);
    let mut c = ClientSession::new(cfg);
    c.connect(t0).expect("connect");
    out(&mut c);
    c.handle_packet(t0, connack(false, Properties::new()))
        .expect("connack");
    assert_eq!(c.poll_timeout(), Some(t0 + secs(10)));
    c.handle_timeout(t0 + secs(10));
    assert!(matches!(out(&mut c).as_slice(), [Packet::PingReq]));
    c.handle_packet(t0 + secs(11), Packet::PingResp)
        .expect("pingresp");
    assert_eq!(c.poll_timeout(), Some(t0 + secs(20)));
    c.handle_timeout(t0 + secs(20));
    out(&mut c);
    c.handle_timeout(t0 + secs(25));
    assert!(evs(&mut c)
        .iter()
        .any(|e| matches!(e, ClientEvent::Closed(CloseReason::KeepAliveTimeout))));
}

#[test]
fn subscribe_results_per_filter_and_count_checked_mqtt_3_9_3_1() {
    for v in VERSIONS {
        let now = Instant::now();
        let mut c = client(now, v, Properties::new());
        let opts = SubscriptionOptions {
            qos: QoS::ExactlyOnce,
            ..Default::default()
        };
        let id = c
            .subscribe(
                now,
                vec![("a/+".into(), opts), ("b/#".into(), opts)],
                Properties::new(),
            )
            .expect("subscribe");
        assert!(matches!(out(&mut c).as_slice(), [Packet::Subscribe(_)]));
        let ack = SubAck {
            packet_id: id,
            reasons: vec![ReasonCode::GrantedQoS1, ReasonCode::UnspecifiedError],
            properties: Properties::new(),
        };
        c.handle_packet(now, Packet::SubAck(ack)).expect("suback");
        let e = evs(&mut c);
        let Some(ClientEvent::Subscribed { results, .. }) = e.first() else {
            panic!()
        };
        assert_eq!(results[0].1, Ok(QoS::AtLeastOnce));
        assert_eq!(results[1].1, Err(ReasonCode::UnspecifiedError));
        // A SUBACK with no reason codes is a protocol error, never a panic.
        let id = c
            .subscribe(now, vec![("x".into(), opts)], Properties::new())
            .expect("sub");
        let bad = SubAck {
            packet_id: id,
            reasons: vec![],
            properties: Properties::new(),
        };
        assert!(c.handle_packet(now, Packet::SubAck(bad)).is_err());
        assert!(!c.is_connected());
    }
    let now = Instant::now();
    let mut c = client(now, V5, Properties::new());
    assert_eq!(
        c.subscribe(now, vec![], Properties::new()),
        Err(SendError::NoFilters)
    );
    let opts = SubscriptionOptions::default();
    assert_eq!(
        c.subscribe(now, vec![("a/#/b".into(), opts)], Properties::new()),
        Err(SendError::InvalidFilter)
    );
}

#[test]
fn pending_subscribe_aborted_on_connection_loss() {
    let now = Instant::now();
    let mut c = client(now, V5, Properties::new());
    let id = c
        .subscribe(
            now,
            vec![("a".into(), SubscriptionOptions::default())],
            Properties::new(),
        )
        .expect("sub");
    c.connection_lost(now);
    let e = evs(&mut c);
    assert!(e.contains(&ClientEvent::RequestAborted(id)));
}

#[test]
fn topic_aliases_both_ways_section_3_3_2_3_4() {
    let now = Instant::now();
    let mut cfg = ClientConfig::new("me", V5);
    cfg.alias_policy = AliasPolicy::LeastRecentlyUsed;
    cfg.topic_alias_maximum = 2;
    let mut c = ClientSession::new(cfg);
    c.connect(now).expect("connect");
    out(&mut c);
    c.handle_packet(now, connack(false, prop(Property::TopicAliasMaximum(2))))
        .expect("ok");
    evs(&mut c);
    c.publish(now, Message::new("a/b", "1", QoS::AtMostOnce))
        .expect("ok");
    c.publish(now, Message::new("a/b", "2", QoS::AtMostOnce))
        .expect("ok");
    let sent = out(&mut c);
    assert!(matches!(&sent[1], Packet::Publish(p) if p.topic.is_empty()
        && p.properties.topic_alias() == Some(1)));
    // Incoming: establish alias 2 then use it; alias 3 is above our maximum (0x94).
    let mut p = publish("in/topic", QoS::AtMostOnce, None, b"");
    p.properties.set(Property::TopicAlias(2));
    c.handle_packet(now, Packet::Publish(p)).expect("ok");
    let mut p = publish("", QoS::AtMostOnce, None, b"");
    p.properties.set(Property::TopicAlias(2));
    c.handle_packet(now, Packet::Publish(p)).expect("ok");
    let e = evs(&mut c);
    assert!(e
        .iter()
        .all(|e| matches!(e, ClientEvent::Message { message, .. }
        if message.topic == "in/topic")));
    let mut p = publish("x", QoS::AtMostOnce, None, b"");
    p.properties.set(Property::TopicAlias(3));
    assert!(c.handle_packet(now, Packet::Publish(p)).is_err());
    assert!(matches!(out(&mut c).as_slice(),
        [Packet::Disconnect(d)] if d.reason == ReasonCode::TopicAliasInvalid));
}

#[test]
fn too_large_publish_refused_locally() {
    let now = Instant::now();
    let mut c = client(now, V5, prop(Property::MaximumPacketSize(32)));
    assert_eq!(
        c.publish(now, Message::new("t", vec![0u8; 100], QoS::AtLeastOnce)),
        Err(SendError::PacketTooLarge)
    );
    assert_eq!(
        c.publish(now, Message::new("a/+", "x", QoS::AtMostOnce)),
        Err(SendError::InvalidTopic)
    );
}

#[test]
fn disconnect_sends_reason_and_keeps_session() {
    let now = Instant::now();
    let mut c = client(now, V5, Properties::new());
    c.publish(now, Message::new("t", "1", QoS::AtLeastOnce))
        .expect("ok");
    out(&mut c);
    c.disconnect(
        now,
        ReasonCode::DisconnectWithWillMessage,
        Properties::new(),
    );
    assert!(matches!(out(&mut c).as_slice(),
        [Packet::Disconnect(d)] if d.reason == ReasonCode::DisconnectWithWillMessage));
    assert_eq!(c.in_flight(), 1);
    assert_eq!(c.state().outgoing.len(), 1);
}

#[test]
fn reconnect_is_connection_lost_then_connect() {
    let now = Instant::now();
    let mut c = client(now, V311, Properties::new());
    c.publish(now, Message::new("t", "1", QoS::AtLeastOnce))
        .expect("ok");
    out(&mut c);
    c.reconnect(now).expect("reconnect");
    assert!(matches!(
        evs(&mut c).as_slice(),
        [ClientEvent::Closed(CloseReason::ConnectionLost)]
    ));
    assert!(matches!(out(&mut c).as_slice(), [Packet::Connect(c)] if !c.clean_start));
    assert_eq!(c.in_flight(), 1);
}

#[test]
fn subscribe_too_large_for_server_refused_locally_mqtt_3_1_2_24() {
    let now = Instant::now();
    let mut c = client(now, V5, prop(Property::MaximumPacketSize(20)));
    let long = "x".repeat(40);
    let r = c.subscribe(
        now,
        vec![(long.into(), SubscriptionOptions::default())],
        Properties::new(),
    );
    assert_eq!(r, Err(SendError::PacketTooLarge));
    assert!(out(&mut c).is_empty());
}

#[test]
fn malformed_connack_closes_without_panic() {
    // Regression (CHECKLIST, peers' known bugs): a malformed CONNACK in the client.
    for v in VERSIONS {
        let now = Instant::now();
        let mut c = ClientSession::new(ClientConfig::new("me", v));
        c.connect(now).expect("connect");
        out(&mut c);
        // CONNACK with remaining length 2 but an invalid flags byte and a truncated body.
        assert!(c.handle_bytes(now, &[0x20, 0x02, 0xfe, 0x00]).is_err());
        assert!(!c.is_connected());
        assert!(matches!(
            evs(&mut c).as_slice(),
            [ClientEvent::Closed(CloseReason::Protocol(_))]
        ));
        c.connect(now).expect("can try again");
    }
}
