//! The client against a real Mosquitto broker, started by the test on a free port.

mod common;

use std::time::Duration;

use common::scenarios::{self, opts, LONG};
use common::Mosquitto;
use petrel_client::{
    response_to, Client, DisconnectReason, Event, Message, Property, ProtocolVersion, QoS,
    ReasonCode,
};

const VERSIONS: [ProtocolVersion; 3] = [
    ProtocolVersion::V3_1,
    ProtocolVersion::V3_1_1,
    ProtocolVersion::V5,
];

#[tokio::test]
async fn every_qos_every_version() {
    let broker = Mosquitto::start().await;
    for v in VERSIONS {
        scenarios::every_qos(broker.addr(), v).await;
    }
}

#[tokio::test]
async fn publish_from_handler_does_not_deadlock() {
    let broker = Mosquitto::start().await;
    scenarios::publish_from_handler(broker.addr(), ProtocolVersion::V5).await;
    scenarios::publish_from_handler(broker.addr(), ProtocolVersion::V3_1_1).await;
}

#[tokio::test]
async fn tcp_cut_mid_flight_loses_nothing_mqtt_4_4_0_1() {
    let broker = Mosquitto::start().await;
    scenarios::cut_mid_flight(broker.addr(), ProtocolVersion::V5).await;
    scenarios::cut_mid_flight(broker.addr(), ProtocolVersion::V3_1_1).await;
}

#[tokio::test]
async fn subscriber_cut_loses_nothing_qos2_once_mqtt_4_3_3_10() {
    let broker = Mosquitto::start().await;
    scenarios::subscriber_cut(broker.addr(), ProtocolVersion::V5).await;
    scenarios::subscriber_cut(broker.addr(), ProtocolVersion::V3_1_1).await;
}

#[tokio::test]
async fn stalled_broker_applies_backpressure() {
    let broker = Mosquitto::start().await;
    scenarios::backpressure(broker.addr(), ProtocolVersion::V5).await;
}

/// Mosquitto is killed and started again (no persistence, so the session is gone): the
/// client reports the loss, reconnects with backoff, subscribes again by itself
/// (session_present is false) and the QoS 1 publishes made meanwhile are delivered.
#[tokio::test]
async fn broker_restart_resubscribes_and_resends() {
    let mut broker = Mosquitto::start().await;
    let client = Client::connect(opts(broker.addr(), ProtocolVersion::V5))
        .await
        .expect("connect");
    let mut events = client.events();
    let mut sub = client
        .subscribe("restart/+", QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    broker.restart().await;
    // Published while the broker is away or just back: kept in the offline queue.
    let d = client
        .enqueue(Message::new("restart/a", "after", QoS::AtLeastOnce))
        .await
        .expect("enqueue");
    tokio::time::timeout(LONG, d)
        .await
        .expect("ack in time")
        .expect("acked");
    let m = tokio::time::timeout(LONG, sub.recv())
        .await
        .expect("in time")
        .expect("message");
    assert_eq!(&m.payload[..], b"after");
    let mut seen = Vec::new();
    while let Some(e) = events.try_recv() {
        seen.push(e);
    }
    assert!(seen.iter().any(|e| matches!(
        e,
        Event::Disconnected {
            reason: DisconnectReason::Transport(_)
        }
    )));
    assert!(seen.iter().any(|e| matches!(e, Event::Reconnecting { .. })));
    assert!(seen.iter().any(|e| matches!(
        e,
        Event::Connected {
            session_present: false,
            ..
        }
    )));
    client.disconnect().await.expect("disconnect");
}

#[tokio::test]
async fn request_response_helper_v5() {
    let broker = Mosquitto::start().await;
    let server = Client::connect(opts(broker.addr(), ProtocolVersion::V5))
        .await
        .expect("connect");
    let mut reqs = server
        .subscribe("svc/echo", QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    let s = server.clone();
    tokio::spawn(async move {
        while let Some(m) = reqs.recv().await {
            let mut body = b"echo:".to_vec();
            body.extend_from_slice(&m.payload);
            if let Some(r) = response_to(&m, body) {
                let _ = s.publish_message(r).await;
            }
        }
    });
    let client = Client::connect(opts(broker.addr(), ProtocolVersion::V5))
        .await
        .expect("connect");
    for i in 0..3 {
        let mut req = Message::new("svc/echo", format!("{i}"), QoS::AtLeastOnce);
        req.properties
            .set(Property::UserProperty("k".into(), "v".into()));
        let r = client.request(req, LONG).await.expect("response");
        assert_eq!(r.payload, format!("echo:{i}").into_bytes());
    }
    client.disconnect().await.expect("disconnect");
    server.disconnect().await.expect("disconnect");
}

/// With manual acks, a QoS 1 message not acknowledged is sent again (DUP) after the
/// connection is lost, MQTT-4.4.0-1; once acknowledged it is not.
#[tokio::test]
async fn manual_ack_redelivered_after_cut_mqtt_4_4_0_1() {
    let broker = Mosquitto::start().await;
    let proxy = common::Proxy::start(broker.addr()).await;
    let proxied = std::net::SocketAddr::from(([127, 0, 0, 1], proxy.port));
    let o = scenarios::persistent(proxied, ProtocolVersion::V5, "manual-ack").manual_acks(true);
    let client = Client::connect(o).await.expect("connect");
    let mut sub = client
        .subscribe("manual/t", QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    let publisher = Client::connect(opts(broker.addr(), ProtocolVersion::V5))
        .await
        .expect("connect");
    publisher
        .publish("manual/t", "m1", QoS::AtLeastOnce, false)
        .await
        .expect("publish");
    let first = tokio::time::timeout(LONG, sub.recv())
        .await
        .expect("in time")
        .expect("m1");
    assert!(first.needs_ack());
    proxy.cut();
    let again = tokio::time::timeout(LONG, sub.recv())
        .await
        .expect("in time")
        .expect("m1 again");
    assert_eq!(&again.payload[..], b"m1");
    again.ack().expect("ack");
    assert!(!again.needs_ack());
    publisher
        .publish("manual/t", "m2", QoS::AtLeastOnce, false)
        .await
        .expect("publish");
    let next = tokio::time::timeout(LONG, sub.recv())
        .await
        .expect("in time")
        .expect("m2");
    assert_eq!(&next.payload[..], b"m2");
    next.ack().expect("ack");
    client.disconnect().await.expect("disconnect");
    publisher.disconnect().await.expect("disconnect");
}

#[tokio::test]
async fn refused_connect_reports_the_reason_code() {
    let broker = Mosquitto::start_with("").await;
    // MQTT-3.1.3-8 (v3.1.1): an empty client id with Clean Session off is refused
    // (identifier rejected).
    let o = opts(broker.addr(), ProtocolVersion::V3_1_1)
        .client_id("")
        .clean_start(false);
    let err = Client::connect(o).await.expect_err("refused");
    assert_eq!(
        err,
        petrel_client::Error::Refused(ReasonCode::ClientIdentifierNotValid)
    );
    // Nothing listens: a transport error, not a hang.
    let port = common::free_port();
    let o = petrel_client::ConnectOptions::new("127.0.0.1", port);
    assert!(matches!(
        Client::connect(o).await,
        Err(petrel_client::Error::Transport(_))
    ));
    let _ = Duration::ZERO;
}

/// MQTT 5 properties travel end to end: user properties (order kept), content type,
/// message expiry, payload format, correlation data; with outgoing topic aliases on
/// (Mosquitto allows 10), repeated topics still arrive with their full name.
#[tokio::test]
async fn mqtt5_properties_and_topic_aliases() {
    let broker = Mosquitto::start().await;
    let sub_c = Client::connect(opts(broker.addr(), ProtocolVersion::V5))
        .await
        .expect("connect");
    let mut sub = sub_c
        .subscribe("props/#", QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    let o = opts(broker.addr(), ProtocolVersion::V5)
        .topic_aliases(petrel_client::AliasPolicy::LeastRecentlyUsed);
    let pub_c = Client::connect(o).await.expect("connect");
    assert!(pub_c
        .connection_info()
        .is_some_and(|i| i.topic_alias_maximum > 0));
    for i in 0..30u32 {
        let topic = format!("props/{}", i % 3);
        let mut m = Message::new(topic.clone(), format!("{i}"), QoS::AtLeastOnce);
        m.properties
            .set(Property::UserProperty("a".into(), "1".into()));
        m.properties
            .set(Property::UserProperty("b".into(), "2".into()));
        m.properties.set(Property::ContentType("text/plain".into()));
        m.properties.set(Property::MessageExpiryInterval(3600));
        m.properties.set(Property::PayloadFormatIndicator(1));
        m.properties.set(Property::CorrelationData(
            petrel_client::Bytes::from_static(b"cd"),
        ));
        pub_c.publish_message(m).await.expect("publish");
        let r = tokio::time::timeout(LONG, sub.recv())
            .await
            .expect("in time")
            .expect("message");
        assert_eq!(r.topic, topic.as_str());
        let ups: Vec<_> = r
            .properties
            .user_properties()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(
            ups,
            vec![("a".into(), "1".into()), ("b".into(), "2".into())]
        );
        assert_eq!(r.properties.content_type().as_deref(), Some("text/plain"));
        assert!(r
            .properties
            .message_expiry_interval()
            .is_some_and(|s| s <= 3600 && s > 3500));
        assert_eq!(r.properties.payload_format_indicator(), Some(1));
        assert_eq!(r.properties.correlation_data().as_deref(), Some(&b"cd"[..]));
        assert_eq!(
            r.properties.topic_alias(),
            None,
            "aliases never reach the application"
        );
    }
    pub_c.disconnect().await.expect("disconnect");
    sub_c.disconnect().await.expect("disconnect");
}

/// A second connection with the same client id takes the session over: the first client
/// sees the connection end in its event stream (Mosquitto 2.0 closes the socket without a
/// DISCONNECT; the Petrel broker test checks the 0x8E reason code), and with reconnection
/// off it stops.
#[tokio::test]
async fn takeover_reaches_the_event_stream() {
    let broker = Mosquitto::start().await;
    scenarios::takeover(broker.addr(), None).await;
}

/// With the offline queue off, a publish while disconnected fails at once instead of
/// waiting; with it on, it is bounded and delivered after the reconnect.
#[tokio::test]
async fn offline_queue_bound() {
    let mut broker = Mosquitto::start().await;
    let o = opts(broker.addr(), ProtocolVersion::V5).offline_queue(0);
    let off = Client::connect(o).await.expect("connect");
    let o = opts(broker.addr(), ProtocolVersion::V5).offline_queue(2);
    let two = Client::connect(o).await.expect("connect");
    let mut ev_off = off.events();
    let mut ev_two = two.events();
    broker.stop();
    for ev in [&mut ev_off, &mut ev_two] {
        loop {
            let e = tokio::time::timeout(LONG, ev.recv())
                .await
                .expect("in time");
            if matches!(e, Some(Event::Disconnected { .. })) {
                break;
            }
        }
    }
    let r = off.publish("q/x", "lost", QoS::AtMostOnce, false).await;
    assert_eq!(r, Err(petrel_client::Error::NotConnected));
    let a = two
        .enqueue(Message::new("q/x", "1", QoS::AtLeastOnce))
        .await
        .expect("queued");
    let b = two
        .enqueue(Message::new("q/x", "2", QoS::AtMostOnce))
        .await
        .expect("queued");
    let c = two
        .enqueue(Message::new("q/x", "3", QoS::AtMostOnce))
        .await
        .expect("sent");
    assert_eq!(
        c.await,
        Err(petrel_client::Error::NotConnected),
        "third is over the bound"
    );
    broker.restart().await;
    tokio::time::timeout(LONG, a)
        .await
        .expect("in time")
        .expect("delivered after reconnect");
    tokio::time::timeout(LONG, b)
        .await
        .expect("in time")
        .expect("delivered after reconnect");
    off.disconnect().await.expect("disconnect");
    two.disconnect().await.expect("disconnect");
}

/// The server's Maximum Packet Size (CONNACK, MQTT 5) is respected: a publish that would
/// exceed it fails locally with PacketTooLarge and is never sent (MQTT-3.1.2-24), while
/// smaller ones go through; a Subscription Identifier set on SUBSCRIBE comes back on the
/// messages it matched.
#[tokio::test]
async fn server_limits_and_subscription_identifiers() {
    let broker = Mosquitto::start_with("max_packet_size 1000").await;
    let client = Client::connect(opts(broker.addr(), ProtocolVersion::V5))
        .await
        .expect("connect");
    assert_eq!(
        client.connection_info().map(|i| i.maximum_packet_size),
        Some(1000)
    );
    let props = petrel_client::Properties::new().with(Property::SubscriptionIdentifier(7));
    let so = petrel_client::SubscriptionOptions {
        qos: QoS::AtLeastOnce,
        ..Default::default()
    };
    let mut sub = client
        .subscribe_with(vec![("limits/#".into(), so)], props)
        .await
        .expect("sub");
    let big = client
        .publish("limits/big", vec![0u8; 2000], QoS::AtLeastOnce, false)
        .await;
    assert_eq!(
        big,
        Err(petrel_client::Error::Send(
            petrel_client::SendError::PacketTooLarge
        ))
    );
    client
        .publish("limits/small", vec![1u8; 100], QoS::AtLeastOnce, false)
        .await
        .expect("small");
    let m = tokio::time::timeout(LONG, sub.recv())
        .await
        .expect("in time")
        .expect("message");
    assert_eq!(m.topic, "limits/small");
    assert_eq!(
        m.properties.subscription_identifiers().collect::<Vec<_>>(),
        vec![7]
    );
    client.disconnect().await.expect("disconnect");
}

/// A server that stops answering is detected by keep-alive (PINGREQ unanswered within the
/// ping timeout, MQTT-3.1.2-22/-24), reported with that reason, and the client reconnects
/// once the path works again.
#[tokio::test]
async fn keep_alive_detects_a_dead_server() {
    let broker = Mosquitto::start().await;
    let proxy = common::Proxy::start(broker.addr()).await;
    let proxied = std::net::SocketAddr::from(([127, 0, 0, 1], proxy.port));
    let mut o = opts(proxied, ProtocolVersion::V5).keep_alive(1);
    o.session.ping_timeout = Duration::from_millis(500);
    let client = Client::connect(o).await.expect("connect");
    let mut events = client.events();
    proxy.stall(true);
    let reason = loop {
        match tokio::time::timeout(LONG, events.recv())
            .await
            .expect("in time")
        {
            Some(Event::Disconnected { reason }) => break reason,
            Some(_) => continue,
            None => panic!("client stopped"),
        }
    };
    assert_eq!(
        reason,
        DisconnectReason::Session(petrel_client::CloseReason::KeepAliveTimeout)
    );
    proxy.stall(false);
    loop {
        match tokio::time::timeout(LONG, events.recv())
            .await
            .expect("in time")
        {
            Some(Event::Connected { .. }) => break,
            Some(_) => continue,
            None => panic!("client stopped"),
        }
    }
    client
        .publish("ka/x", "alive", QoS::AtLeastOnce, false)
        .await
        .expect("publish after");
    client.disconnect().await.expect("disconnect");
}
