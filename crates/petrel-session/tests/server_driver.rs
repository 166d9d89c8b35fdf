//! What a broker driving the server session relies on: bounded pending events with
//! resumable buffered input, delivery readiness for a broker-side queue, DISCONNECT with
//! properties.

mod common;

use std::time::Instant;

use bytes::BytesMut;
use common::*;
use petrel_codec::{Packet, Properties, Property, QoS, ReasonCode};
use petrel_session::{Message, OutgoingMessage, ServerConfig, ServerEvent};

#[test]
fn pending_events_bounded_and_input_resumes() {
    let now = Instant::now();
    let config = ServerConfig {
        max_pending_events: 2,
        ..ServerConfig::default()
    };
    let mut s = connected(now, V5, config, Properties::new());
    let mut buf = BytesMut::new();
    for id in 1..=5u16 {
        Packet::Subscribe(subscribe(id, &[("a", QoS::AtMostOnce)]))
            .encode(V5, &mut buf)
            .expect("encodes");
    }
    s.handle_bytes(now, &buf).expect("five SUBSCRIBEs");
    assert!(!s.wants_input(), "stops reading while events wait");
    assert!(s.buffered_input() > 0);
    let mut answered = 0;
    for round in 0..5 {
        for e in events(&mut s) {
            if let ServerEvent::Subscribe { packet_id, .. } = e {
                s.suback(packet_id, vec![ReasonCode::Success], Properties::new())
                    .expect("suback");
                answered += 1;
            }
        }
        // Both ways of resuming: empty input, or `resume_input` (no time passed in).
        if round % 2 == 0 {
            s.handle_bytes(now, &[]).expect("resume buffered input");
        } else {
            s.resume_input().expect("resume buffered input");
        }
    }
    assert_eq!(answered, 5);
    assert_eq!(s.buffered_input(), 0);
    assert!(s.wants_input());
    let subacks = sent(&mut s)
        .into_iter()
        .filter(|p| matches!(p, Packet::SubAck(_)))
        .count();
    assert_eq!(subacks, 5);
}

#[test]
fn ready_for_delivery_follows_the_window_mqtt_3_3_4_9() {
    let now = Instant::now();
    let props = prop(Property::ReceiveMaximum(1));
    let mut s = connected(now, V5, ServerConfig::default(), props);
    assert!(s.ready_for_delivery(QoS::AtLeastOnce));
    let m = Message::new("t", "1", QoS::AtLeastOnce);
    s.deliver(now, OutgoingMessage::new(now, m.clone()));
    assert_eq!(sent(&mut s).len(), 1);
    // One unacknowledged message fills a Receive Maximum of 1.
    assert!(!s.ready_for_delivery(QoS::AtLeastOnce));
    assert!(s.ready_for_delivery(QoS::AtMostOnce));
    s.deliver(now, OutgoingMessage::new(now, m));
    assert!(sent(&mut s).is_empty());
    assert!(!s.ready_for_delivery(QoS::AtMostOnce), "a message waits");
}

#[test]
fn disconnect_with_properties() {
    let now = Instant::now();
    let mut s = connected(now, V5, ServerConfig::default(), Properties::new());
    let props = prop(Property::ReasonString("bye".into()));
    s.disconnect_with(now, ReasonCode::ServerShuttingDown, props);
    match sent(&mut s).as_slice() {
        [Packet::Disconnect(d)] => {
            assert_eq!(d.reason, ReasonCode::ServerShuttingDown);
            assert_eq!(d.properties.reason_string().as_deref(), Some("bye"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        closed_reason(&events(&mut s)),
        Some(ReasonCode::ServerShuttingDown)
    );
}

#[test]
fn releasing_idle_memory_between_packets_keeps_partial_input_and_state() {
    let now = Instant::now();
    let mut s = connected(now, V5, ServerConfig::default(), Properties::new());
    s.release_idle_memory();
    let mut buf = BytesMut::new();
    Packet::Subscribe(subscribe(7, &[("a/b", QoS::AtLeastOnce)]))
        .encode(V5, &mut buf)
        .expect("encodes");
    // Half a packet arrives; releasing memory must keep the undecoded bytes.
    let half = buf.len() / 2;
    s.handle_bytes(now, &buf[..half]).expect("first half");
    s.release_idle_memory();
    assert_eq!(s.buffered_input(), half);
    s.handle_bytes(now, &buf[half..]).expect("second half");
    let mut subscribed = false;
    for e in events(&mut s) {
        if let ServerEvent::Subscribe { packet_id, .. } = e {
            assert_eq!(packet_id.get(), 7);
            s.suback(packet_id, vec![ReasonCode::GrantedQoS1], Properties::new())
                .expect("suback");
            subscribed = true;
        }
    }
    assert!(subscribed);
    s.release_idle_memory();
    let acks = sent(&mut s);
    assert!(matches!(acks.as_slice(), [Packet::SubAck(a)] if a.packet_id.get() == 7));
    assert_eq!(s.buffered_input(), 0);
}
