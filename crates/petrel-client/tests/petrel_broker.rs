//! The client against the Petrel broker, started in process on a free port.

mod common;

use std::net::SocketAddr;

use std::time::Duration;

use common::scenarios::{self, LONG};
use petrel_client::{Client, Event, Message, ProtocolVersion, QoS};

/// The Petrel broker, in process, on `port` (0: a free one).
async fn petrel_broker_on(port: u16) -> petrel_broker::Broker {
    let mut config = petrel_broker::Config::default();
    let bind = SocketAddr::from(([127, 0, 0, 1], port));
    config.listeners = vec![petrel_broker::ListenerConfig::new(bind)];
    petrel_broker::Broker::start(config)
        .await
        .expect("start the petrel broker")
}

async fn petrel_broker() -> petrel_broker::Broker {
    petrel_broker_on(0).await
}

/// The broker is shut down and started again on the same port (its in-memory sessions are
/// gone): the client reconnects, subscribes again by itself and delivers what was
/// published meanwhile.
#[tokio::test]
async fn broker_restart_resubscribes_and_resends() {
    let broker = petrel_broker().await;
    let addr = broker.local_addr();
    let client = Client::connect(scenarios::opts(addr, ProtocolVersion::V5))
        .await
        .expect("connect");
    let mut events = client.events();
    let mut sub = client
        .subscribe("restart/+", QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    broker.shutdown(Duration::from_millis(200)).await;
    let d = client
        .enqueue(Message::new("restart/a", "after", QoS::AtLeastOnce))
        .await
        .expect("enqueue");
    let broker = petrel_broker_on(addr.port()).await;
    tokio::time::timeout(LONG, d)
        .await
        .expect("ack in time")
        .expect("acked");
    let m = tokio::time::timeout(LONG, sub.recv())
        .await
        .expect("in time")
        .expect("message");
    assert_eq!(&m.payload[..], b"after");
    let mut resumed_without_session = false;
    while let Some(e) = events.try_recv() {
        resumed_without_session |= matches!(
            e,
            Event::Connected {
                session_present: false,
                ..
            }
        );
    }
    assert!(resumed_without_session);
    client.disconnect().await.expect("disconnect");
    broker.shutdown(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn every_qos_every_version() {
    let broker = petrel_broker().await;
    for v in [
        ProtocolVersion::V3_1,
        ProtocolVersion::V3_1_1,
        ProtocolVersion::V5,
    ] {
        scenarios::every_qos(broker.local_addr(), v).await;
    }
}

#[tokio::test]
async fn publish_from_handler_does_not_deadlock() {
    let broker = petrel_broker().await;
    scenarios::publish_from_handler(broker.local_addr(), ProtocolVersion::V5).await;
}

#[tokio::test]
async fn tcp_cut_mid_flight_loses_nothing_mqtt_4_4_0_1() {
    let broker = petrel_broker().await;
    scenarios::cut_mid_flight(broker.local_addr(), ProtocolVersion::V5).await;
    scenarios::cut_mid_flight(broker.local_addr(), ProtocolVersion::V3_1_1).await;
}

#[tokio::test]
async fn subscriber_cut_loses_nothing_qos2_once_mqtt_4_3_3_10() {
    let broker = petrel_broker().await;
    scenarios::subscriber_cut(broker.local_addr(), ProtocolVersion::V5).await;
}

#[tokio::test]
async fn stalled_broker_applies_backpressure() {
    let broker = petrel_broker().await;
    scenarios::backpressure(broker.local_addr(), ProtocolVersion::V5).await;
}

/// Session takeover: the Petrel broker tells the first client why (DISCONNECT 0x8E,
/// MQTT-3.1.4-3 ends the existing connection) and it reaches the event stream.
#[tokio::test]
async fn takeover_reason_reaches_the_event_stream() {
    let broker = petrel_broker().await;
    scenarios::takeover(
        broker.local_addr(),
        Some(petrel_client::ReasonCode::SessionTakenOver),
    )
    .await;
}
