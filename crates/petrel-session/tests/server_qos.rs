//! Chapter 4 flows on the server side, MQTT 5 and 3.1.1: QoS 1 and 2 in both directions,
//! duplicates, flow control, resume, topic aliases, packet size, expiry.

mod common;

use std::time::Instant;

use bytes::BytesMut;
use common::*;
use petrel_codec::{Packet, Properties, Property, ProtocolVersion, QoS, ReasonCode};
use petrel_session::{
    AcceptParams, CloseReason, DeliverOutcome, Message, OutgoingMessage, OverflowPolicy,
    PendingAck, QueueLimits, ServerConfig, ServerEvent, ServerSession,
};

fn publishes(out: &[Packet]) -> Vec<&petrel_codec::Publish> {
    out.iter()
        .filter_map(|p| match p {
            Packet::Publish(p) => Some(p),
            _ => None,
        })
        .collect()
}

fn ack_of(evs: &[ServerEvent]) -> PendingAck {
    evs.iter()
        .find_map(|e| match e {
            ServerEvent::Publish { ack: Some(a), .. } => Some(*a),
            _ => None,
        })
        .expect("a pending ack")
}

#[test]
fn qos1_incoming_acked_after_broker_section_4_3_2() {
    for v in VERSIONS {
        let now = Instant::now();
        let mut s = connected(now, v, ServerConfig::default(), Properties::new());
        feed(
            &mut s,
            now,
            v,
            Packet::Publish(publish("a/b", QoS::AtLeastOnce, Some(5), b"x")),
        );
        assert!(sent(&mut s).is_empty(), "no PUBACK before the broker acks");
        let ack = ack_of(&events(&mut s));
        s.ack_publish(ack, ReasonCode::Success).expect("ack");
        assert!(matches!(sent(&mut s).as_slice(), [Packet::PubAck(r)] if r.packet_id == pid(5)));
    }
}

#[test]
fn qos2_duplicate_delivered_once_mqtt_4_3_3_10() {
    for v in VERSIONS {
        let now = Instant::now();
        let mut s = connected(now, v, ServerConfig::default(), Properties::new());
        let p = publish("a", QoS::ExactlyOnce, Some(9), b"x");
        feed(&mut s, now, v, Packet::Publish(p.clone()));
        let ack = ack_of(&events(&mut s));
        let mut dup = p.clone();
        dup.dup = true;
        feed(&mut s, now, v, Packet::Publish(dup.clone()));
        assert!(
            events(&mut s).is_empty(),
            "duplicate before PUBREC not delivered"
        );
        s.ack_publish(ack, ReasonCode::Success).expect("ack");
        assert!(matches!(sent(&mut s).as_slice(), [Packet::PubRec(r)] if r.packet_id == pid(9)));
        feed(&mut s, now, v, Packet::Publish(dup));
        assert!(
            events(&mut s).is_empty(),
            "duplicate after PUBREC not delivered"
        );
        assert!(
            matches!(sent(&mut s).as_slice(), [Packet::PubRec(_)]),
            "PUBREC again"
        );
        feed(&mut s, now, v, Packet::PubRel(resp(9)));
        assert!(matches!(sent(&mut s).as_slice(),
            [Packet::PubComp(r)] if r.reason == ReasonCode::Success));
        // After PUBCOMP the same id is a new message.
        feed(&mut s, now, v, Packet::Publish(p));
        assert!(matches!(
            events(&mut s).as_slice(),
            [ServerEvent::Publish { .. }]
        ));
        assert_eq!(s.counters().duplicates, 2);
    }
}

#[test]
fn unknown_pubrel_answers_pubcomp_0x92_mqtt_4_3_3_11() {
    for v in VERSIONS {
        let now = Instant::now();
        let mut s = connected(now, v, ServerConfig::default(), Properties::new());
        feed(&mut s, now, v, Packet::PubRel(resp(77)));
        let want = if v == V5 {
            ReasonCode::PacketIdentifierNotFound
        } else {
            ReasonCode::Success
        };
        assert!(matches!(sent(&mut s).as_slice(), [Packet::PubComp(r)] if r.reason == want));
        assert!(!s.is_closed());
    }
}

#[test]
fn qos2_flood_without_pubrel_is_bounded_0x93_mqtt_3_3_4_7() {
    for v in VERSIONS {
        let now = Instant::now();
        let config = ServerConfig {
            receive_maximum: 4,
            ..ServerConfig::default()
        };
        let mut s = connected(now, v, config, Properties::new());
        for id in 1..=4 {
            feed(
                &mut s,
                now,
                v,
                Packet::Publish(publish("a", QoS::ExactlyOnce, Some(id), b"")),
            );
            let ack = ack_of(&events(&mut s));
            s.ack_publish(ack, ReasonCode::Success).expect("ack");
        }
        assert_eq!(s.incoming_in_flight(), 4);
        feed(
            &mut s,
            now,
            v,
            Packet::Publish(publish("a", QoS::ExactlyOnce, Some(5), b"")),
        );
        assert!(s.is_closed());
        let out = sent(&mut s);
        if v == V5 {
            assert_eq!(
                disconnect_reason(&out),
                Some(ReasonCode::ReceiveMaximumExceeded)
            );
        }
        assert_eq!(
            closed_reason(&events(&mut s)),
            Some(ReasonCode::ReceiveMaximumExceeded)
        );
    }
}

#[test]
fn topic_alias_zero_or_above_maximum_0x94_mqtt_3_3_2_8_and_9() {
    for alias in [0u16, 6] {
        let now = Instant::now();
        let config = ServerConfig {
            topic_alias_maximum: 5,
            ..ServerConfig::default()
        };
        let mut s = connected(now, V5, config, Properties::new());
        let mut p = publish("a", QoS::AtMostOnce, None, b"");
        p.properties.set(Property::TopicAlias(alias));
        let mut buf = BytesMut::new();
        // The encoder may refuse alias 0; write the packet by hand then.
        if Packet::Publish(p).encode(V5, &mut buf).is_err() {
            buf = BytesMut::from(&[0x30, 7, 0, 1, b'a', 3, 0x23, 0, 0][..]);
        }
        let _ = s.handle_bytes(now, &buf);
        assert!(s.is_closed());
        assert_eq!(
            disconnect_reason(&sent(&mut s)),
            Some(ReasonCode::TopicAliasInvalid)
        );
    }
}

#[test]
fn topic_alias_resolves_and_empty_topic_needs_alias() {
    let now = Instant::now();
    let mut s = connected(now, V5, ServerConfig::default(), Properties::new());
    let mut p = publish("long/topic", QoS::AtMostOnce, None, b"1");
    p.properties.set(Property::TopicAlias(3));
    feed(&mut s, now, V5, Packet::Publish(p));
    let mut p = publish("", QoS::AtMostOnce, None, b"2");
    p.properties.set(Property::TopicAlias(3));
    feed(&mut s, now, V5, Packet::Publish(p));
    let evs = events(&mut s);
    let topics: Vec<_> = evs
        .iter()
        .filter_map(|e| match e {
            ServerEvent::Publish { message, .. } => Some(message.topic.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(topics, ["long/topic", "long/topic"]);
    assert!(evs
        .iter()
        .all(|e| !matches!(e, ServerEvent::Publish { message, .. }
        if message.properties.topic_alias().is_some())));
    // Empty topic without alias: protocol error (MQTT-3.3.2-1 and section 3.3.2.3.4).
    let mut raw = BytesMut::from(&[0x30, 3, 0, 0, 0][..]);
    let _ = s.handle_bytes(now, &raw.split());
    assert!(s.is_closed());
    assert_eq!(
        disconnect_reason(&sent(&mut s)),
        Some(ReasonCode::ProtocolError)
    );
}

#[test]
fn wildcard_in_publish_topic_0x90_mqtt_3_3_2_2() {
    for v in VERSIONS {
        let now = Instant::now();
        let mut s = connected(now, v, ServerConfig::default(), Properties::new());
        let mut buf = BytesMut::new();
        Packet::Publish(publish("a/b", QoS::AtMostOnce, None, b""))
            .encode(v, &mut buf)
            .expect("e");
        let at = buf.windows(3).position(|w| w == b"a/b").expect("topic");
        buf[at + 2] = b'+';
        let _ = s.handle_bytes(now, &buf);
        assert!(s.is_closed());
        assert!(events(&mut s)
            .iter()
            .all(|e| !matches!(e, ServerEvent::Publish { .. })));
        if v == V5 {
            assert_eq!(
                disconnect_reason(&sent(&mut s)),
                Some(ReasonCode::TopicNameInvalid)
            );
        }
    }
}

#[test]
fn outgoing_window_bounded_by_client_receive_maximum_mqtt_3_3_4_9() {
    let now = Instant::now();
    let props = prop(Property::ReceiveMaximum(2));
    let mut s = connected(now, V5, ServerConfig::default(), props);
    for n in 0..3u8 {
        let m = Message::new("t", vec![n], QoS::AtLeastOnce);
        assert_eq!(
            s.deliver(now, OutgoingMessage::new(now, m)),
            DeliverOutcome::Queued
        );
    }
    let out = sent(&mut s);
    assert_eq!(
        publishes(&out).len(),
        2,
        "only Receive Maximum PUBLISH in flight"
    );
    let first = publishes(&out)[0].packet_id.expect("id");
    feed(
        &mut s,
        now,
        V5,
        Packet::PubAck(petrel_codec::PubResp::new(first)),
    );
    assert!(matches!(events(&mut s).as_slice(), [ServerEvent::Delivered(id)] if *id == first));
    let out = sent(&mut s);
    assert_eq!(publishes(&out).len(), 1);
    assert_eq!(publishes(&out)[0].payload.as_ref(), &[2]);
}

#[test]
fn qos2_outgoing_flow_section_4_3_3() {
    for v in VERSIONS {
        let now = Instant::now();
        let mut s = connected(now, v, ServerConfig::default(), Properties::new());
        s.deliver(
            now,
            OutgoingMessage::new(now, Message::new("t", "m", QoS::ExactlyOnce)),
        );
        let out = sent(&mut s);
        let id = publishes(&out)[0].packet_id.expect("id");
        feed(
            &mut s,
            now,
            v,
            Packet::PubRec(petrel_codec::PubResp::new(id)),
        );
        assert!(matches!(sent(&mut s).as_slice(), [Packet::PubRel(r)] if r.packet_id == id));
        feed(
            &mut s,
            now,
            v,
            Packet::PubComp(petrel_codec::PubResp::new(id)),
        );
        assert!(matches!(events(&mut s).as_slice(), [ServerEvent::Delivered(d)] if *d == id));
        assert_eq!(s.in_flight(), 0);
    }
}

#[test]
fn resume_resends_publish_dup_and_pubrel_in_order_mqtt_4_4_0_1() {
    for v in VERSIONS {
        let now = Instant::now();
        let mut s = connected(now, v, ServerConfig::default(), Properties::new());
        for (n, q) in [
            (1u8, QoS::ExactlyOnce),
            (2, QoS::AtLeastOnce),
            (3, QoS::ExactlyOnce),
        ] {
            s.deliver(
                now,
                OutgoingMessage::new(now, Message::new("t", vec![n], q)),
            );
        }
        let out = sent(&mut s);
        let ids: Vec<_> = publishes(&out)
            .iter()
            .map(|p| p.packet_id.expect("id"))
            .collect();
        feed(
            &mut s,
            now,
            v,
            Packet::PubRec(petrel_codec::PubResp::new(ids[0])),
        );
        assert_eq!(sent(&mut s).len(), 1, "PUBREL");
        s.connection_lost(now);
        let state = s.take_state();
        assert_eq!(state.outgoing.len(), 3);
        s.deliver(
            now,
            OutgoingMessage::new(now, Message::new("t", vec![4], QoS::AtLeastOnce)),
        );
        let mut state = state;
        state.queue.extend(s.take_state().queue);

        let mut s2 = ServerSession::new(now, ServerConfig::default());
        feed(
            &mut s2,
            now,
            v,
            Packet::Connect(Box::new(connect(v, "c1", false, 0))),
        );
        events(&mut s2);
        s2.accept(now, AcceptParams::resume(state)).expect("accept");
        let out = sent(&mut s2);
        assert!(matches!(&out[0], Packet::ConnAck(c) if c.session_present));
        assert!(matches!(&out[1], Packet::PubRel(r) if r.packet_id == ids[0]));
        assert!(matches!(&out[2], Packet::Publish(p) if p.dup && p.packet_id == Some(ids[1])));
        assert!(matches!(&out[3], Packet::Publish(p) if p.dup && p.packet_id == Some(ids[2])));
        assert!(matches!(&out[4], Packet::Publish(p) if !p.dup && p.payload.as_ref() == [4]));
        assert_eq!(out.len(), 5);
    }
}

#[test]
fn resume_respects_new_receive_maximum_mqtt_3_3_4_9() {
    let now = Instant::now();
    let mut s = connected(now, V5, ServerConfig::default(), Properties::new());
    for n in 0..5u8 {
        s.deliver(
            now,
            OutgoingMessage::new(now, Message::new("t", vec![n], QoS::AtLeastOnce)),
        );
    }
    assert_eq!(publishes(&sent(&mut s)).len(), 5);
    s.connection_lost(now);
    let state = s.take_state();
    let mut s2 = ServerSession::new(now, ServerConfig::default());
    let mut c = connect(V5, "c1", false, 0);
    c.properties.set(Property::ReceiveMaximum(2));
    feed(&mut s2, now, V5, Packet::Connect(Box::new(c)));
    s2.accept(now, AcceptParams::resume(state)).expect("accept");
    let out = sent(&mut s2);
    assert_eq!(publishes(&out).len(), 2);
    assert!(publishes(&out).iter().all(|p| p.dup));
}

#[test]
fn too_large_for_client_dropped_as_if_sent_mqtt_3_1_2_25() {
    let now = Instant::now();
    let mut s = connected(
        now,
        V5,
        ServerConfig::default(),
        prop(Property::MaximumPacketSize(64)),
    );
    s.deliver(
        now,
        OutgoingMessage::new(now, Message::new("t", vec![0u8; 200], QoS::AtLeastOnce)),
    );
    s.deliver(
        now,
        OutgoingMessage::new(now, Message::new("t", "small", QoS::AtLeastOnce)),
    );
    let out = sent(&mut s);
    assert_eq!(publishes(&out).len(), 1);
    assert_eq!(publishes(&out)[0].payload.as_ref(), b"small");
    assert_eq!(s.counters().dropped_too_large, 1);
    assert_eq!(s.in_flight(), 1);
}

#[test]
fn expired_messages_dropped_and_interval_rewritten_section_3_3_2_3_3() {
    let t0 = Instant::now();
    let mut s = connected(t0, V5, ServerConfig::default(), Properties::new());
    let m = |secs| {
        Message::new("t", "m", QoS::AtLeastOnce)
            .with_properties(prop(Property::MessageExpiryInterval(secs)))
    };
    s.deliver(t0, OutgoingMessage::new(t0, m(3)));
    s.deliver(t0, OutgoingMessage::new(t0, m(10)));
    s.handle_timeout(t0 + secs(4));
    let out = sent(&mut s);
    let p = publishes(&out);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].properties.message_expiry_interval(), Some(6));
    assert_eq!(s.counters().dropped_expired, 1);
}

#[test]
fn queue_overflow_policies() {
    let now = Instant::now();
    let queue = QueueLimits {
        max_messages: 2,
        max_bytes: 1 << 20,
        policy: OverflowPolicy::Disconnect,
    };
    let config = ServerConfig {
        max_inflight: 1,
        queue,
        ..ServerConfig::default()
    };
    let mut s = connected(now, V5, config, Properties::new());
    let msg = || OutgoingMessage::new(now, Message::new("t", "m", QoS::AtLeastOnce));
    assert_eq!(s.deliver(now, msg()), DeliverOutcome::Queued);
    assert_eq!(s.deliver(now, msg()), DeliverOutcome::Queued);
    assert_eq!(s.deliver(now, msg()), DeliverOutcome::Disconnected);
    assert!(s.is_closed());
    assert_eq!(
        disconnect_reason(&sent(&mut s)),
        Some(ReasonCode::QuotaExceeded)
    );
    assert!(events(&mut s).iter().any(|e| matches!(
        e,
        ServerEvent::Closed {
            reason: CloseReason::QueueOverflow,
            ..
        }
    )));

    let queue = QueueLimits {
        max_messages: 2,
        max_bytes: 1 << 20,
        policy: OverflowPolicy::DropOldest,
    };
    let config = ServerConfig {
        max_inflight: 1,
        queue,
        ..ServerConfig::default()
    };
    let mut s = connected(now, V5, config, Properties::new());
    for _ in 0..10 {
        s.deliver(now, msg());
    }
    assert_eq!(s.queued(), 2);
    assert_eq!(s.counters().dropped_queue_full, 8);
}

#[test]
fn outgoing_topic_alias_within_client_maximum_mqtt_3_3_2_11() {
    let now = Instant::now();
    let mut s = connected(
        now,
        V5,
        ServerConfig::default(),
        prop(Property::TopicAliasMaximum(1)),
    );
    for topic in ["x/y", "x/y", "other", "x/y"] {
        s.deliver(
            now,
            OutgoingMessage::new(now, Message::new(topic, "m", QoS::AtMostOnce)),
        );
    }
    let out = sent(&mut s);
    let p = publishes(&out);
    assert_eq!(
        (p[0].topic.as_ref(), p[0].properties.topic_alias()),
        ("x/y", Some(1))
    );
    assert_eq!(
        (p[1].topic.as_ref(), p[1].properties.topic_alias()),
        ("", Some(1))
    );
    assert_eq!(
        (p[2].topic.as_ref(), p[2].properties.topic_alias()),
        ("other", Some(1))
    );
    assert_eq!(
        (p[3].topic.as_ref(), p[3].properties.topic_alias()),
        ("x/y", Some(1))
    );
}

#[test]
fn v3_client_gets_no_properties() {
    let now = Instant::now();
    let mut s = connected(now, V311, ServerConfig::default(), Properties::new());
    let m = Message::new("t", "m", QoS::AtMostOnce)
        .with_properties(prop(Property::UserProperty("k".into(), "v".into())));
    s.deliver(now, OutgoingMessage::new(now, m));
    let out = sent(&mut s);
    assert!(publishes(&out)[0].properties.is_empty());
}

#[test]
fn no_local_on_shared_subscription_is_protocol_error_mqtt_3_8_3_4() {
    let now = Instant::now();
    let mut s = connected(now, V5, ServerConfig::default(), Properties::new());
    let mut sub = subscribe(1, &[("$share/g/a", QoS::AtMostOnce)]);
    sub.filters[0].1.no_local = true;
    // The codec refuses to encode this, so hand the decoded packet over directly.
    assert!(s.handle_packet(now, Packet::Subscribe(sub)).is_err());
    assert!(s.is_closed());
    assert_eq!(
        disconnect_reason(&sent(&mut s)),
        Some(ReasonCode::ProtocolError)
    );
}

#[test]
fn invalid_filter_refused_in_suback_mqtt_4_7_1_1() {
    for v in VERSIONS {
        let now = Instant::now();
        let mut s = connected(now, v, ServerConfig::default(), Properties::new());
        let mut buf = BytesMut::new();
        let sub = subscribe(3, &[("a/b", QoS::AtLeastOnce), ("c/d/e", QoS::ExactlyOnce)]);
        Packet::Subscribe(sub).encode(v, &mut buf).expect("enc");
        let at = buf.windows(5).position(|w| w == b"c/d/e").expect("filter");
        buf[at + 2] = b'#'; // "c/#/e": '#' not last
        let _ = s.handle_bytes(now, &buf);
        let evs = events(&mut s);
        let Some(ServerEvent::Subscribe {
            packet_id,
            requests,
            ..
        }) = evs.first()
        else {
            panic!("{evs:?} / closed: {}", s.is_closed())
        };
        assert_eq!(requests[1].rejected, Some(ReasonCode::TopicFilterInvalid));
        s.suback(
            *packet_id,
            vec![ReasonCode::GrantedQoS1, ReasonCode::GrantedQoS2],
            Properties::new(),
        )
        .expect("suback");
        let out = sent(&mut s);
        let Some(Packet::SubAck(a)) = out.first() else {
            panic!()
        };
        let bad = if v == V5 {
            ReasonCode::TopicFilterInvalid
        } else {
            ReasonCode::UnspecifiedError
        };
        assert_eq!(a.reasons, [ReasonCode::GrantedQoS1, bad]);
        assert_eq!(s.subscriptions().len(), 1);
        assert_eq!(s.subscriptions()[0].options.qos, QoS::AtLeastOnce);
    }
}

#[test]
fn unsubscribe_answers_per_filter_section_3_11() {
    for v in VERSIONS {
        let now = Instant::now();
        let mut s = connected(now, v, ServerConfig::default(), Properties::new());
        feed(
            &mut s,
            now,
            v,
            Packet::Subscribe(subscribe(1, &[("a", QoS::AtMostOnce)])),
        );
        events(&mut s);
        s.suback(pid(1), vec![ReasonCode::Success], Properties::new())
            .expect("suback");
        sent(&mut s);
        let u = petrel_codec::Unsubscribe {
            packet_id: pid(2),
            filters: vec!["a".into(), "b".into()],
            properties: Properties::new(),
        };
        feed(&mut s, now, v, Packet::Unsubscribe(u));
        let out = sent(&mut s);
        let Some(Packet::UnsubAck(a)) = out.first() else {
            panic!()
        };
        if v == V5 {
            assert_eq!(
                a.reasons,
                [ReasonCode::Success, ReasonCode::NoSubscriptionExisted]
            );
        }
        assert!(matches!(events(&mut s).as_slice(),
            [ServerEvent::Unsubscribe { filters, .. }] if filters.len() == 1));
        assert!(s.subscriptions().is_empty());
    }
}

#[test]
fn will_not_published_after_normal_disconnect_mqtt_3_14_4_3() {
    for (reason, will) in [
        (ReasonCode::Success, false),
        (ReasonCode::DisconnectWithWillMessage, true),
    ] {
        let now = Instant::now();
        let mut s = connected(now, V5, ServerConfig::default(), Properties::new());
        let d = petrel_codec::Disconnect {
            reason,
            properties: Properties::new(),
        };
        feed(&mut s, now, V5, Packet::Disconnect(d));
        assert!(events(&mut s).iter().any(|e| matches!(e,
            ServerEvent::Closed { publish_will, .. } if *publish_will == will)));
    }
    let now = Instant::now();
    let mut s = connected(now, V311, ServerConfig::default(), Properties::new());
    s.connection_lost(now);
    assert!(events(&mut s).iter().any(|e| matches!(
        e,
        ServerEvent::Closed {
            reason: CloseReason::ConnectionLost,
            publish_will: true
        }
    )));
}

#[test]
fn disconnect_cannot_set_expiry_after_zero_mqtt_3_14_2_2() {
    let now = Instant::now();
    let mut s = connected(now, V5, ServerConfig::default(), Properties::new());
    let d = petrel_codec::Disconnect {
        reason: ReasonCode::Success,
        properties: prop(Property::SessionExpiryInterval(60)),
    };
    feed(&mut s, now, V5, Packet::Disconnect(d));
    let evs = events(&mut s);
    assert!(evs.iter().any(|e| matches!(e,
        ServerEvent::Closed { reason: CloseReason::Protocol(p), .. }
            if p.normative_id == Some("MQTT-3.14.2-2"))));
}

#[test]
fn qos_above_maximum_refused_0x9b_mqtt_3_2_2_11() {
    let now = Instant::now();
    let config = ServerConfig {
        maximum_qos: QoS::AtLeastOnce,
        ..ServerConfig::default()
    };
    let mut s = connected(now, V5, config, Properties::new());
    feed(
        &mut s,
        now,
        V5,
        Packet::Publish(publish("a", QoS::ExactlyOnce, Some(1), b"")),
    );
    assert_eq!(
        disconnect_reason(&sent(&mut s)),
        Some(ReasonCode::QoSNotSupported)
    );
}

#[test]
fn take_state_round_trips_subscriptions_and_qos2_ids() {
    let now = Instant::now();
    let v = ProtocolVersion::V5;
    let mut s = connected(now, v, ServerConfig::default(), Properties::new());
    feed(
        &mut s,
        now,
        v,
        Packet::Subscribe(subscribe(1, &[("a/#", QoS::ExactlyOnce)])),
    );
    events(&mut s);
    s.suback(pid(1), vec![ReasonCode::GrantedQoS2], Properties::new())
        .expect("suback");
    feed(
        &mut s,
        now,
        v,
        Packet::Publish(publish("a", QoS::ExactlyOnce, Some(4), b"")),
    );
    let ack = ack_of(&events(&mut s));
    s.ack_publish(ack, ReasonCode::Success).expect("ack");
    s.connection_lost(now);
    let state = s.take_state();
    assert_eq!(state.subscriptions.len(), 1);
    assert_eq!(state.incoming_qos2, [pid(4)]);
    let mut s2 = ServerSession::new(now, ServerConfig::default());
    feed(
        &mut s2,
        now,
        v,
        Packet::Connect(Box::new(connect(v, "c1", false, 0))),
    );
    s2.accept(now, AcceptParams::resume(state.clone()))
        .expect("accept");
    sent(&mut s2);
    events(&mut s2);
    // The resent QoS 2 PUBLISH is answered with PUBREC and not delivered again.
    let mut dup = publish("a", QoS::ExactlyOnce, Some(4), b"");
    dup.dup = true;
    feed(&mut s2, now, v, Packet::Publish(dup));
    assert!(events(&mut s2).is_empty());
    assert!(matches!(sent(&mut s2).as_slice(), [Packet::PubRec(_)]));
    assert_eq!(s2.subscriptions(), state.subscriptions.as_slice());
}
