//! CHECKLIST "Slow and silent peers" (items 9-11): connect timeout, keep-alive, connection
//! limit, and slow consumers with each drop policy.

mod common;

use std::time::Duration;

use common::*;
use petrel_broker::DropPolicy;
use petrel_codec::{Packet, Properties, ProtocolVersion, QoS, ReasonCode};
use tokio::io::AsyncWriteExt;

const V3: ProtocolVersion = ProtocolVersion::V3_1_1;
const V5: ProtocolVersion = ProtocolVersion::V5;

/// CHECKLIST 9: a connection that never sends CONNECT is closed at the connect timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connection_closed_at_connect_timeout() {
    let broker = start().await; // connect timeout 1 s
    let mut raw = Raw::open(broker.local_addr(), V3).await;
    assert!(
        raw.closed_within(Duration::from_millis(600)).await.is_err(),
        "closed too early"
    );
    assert!(
        raw.closed_within(Duration::from_secs(3)).await.is_ok(),
        "not closed at timeout"
    );
}

/// CHECKLIST 9: a CONNECT trickled byte by byte (slowloris) is closed at the connect
/// timeout, before it completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickled_connect_closed_at_connect_timeout() {
    let broker = start().await;
    let mut buf = bytes::BytesMut::new();
    Packet::Connect(Box::new(connect_packet(V3, "slowloris-client-id-long")))
        .encode(V3, &mut buf)
        .unwrap();
    let mut raw = Raw::open(broker.local_addr(), V3).await;
    let started = tokio::time::Instant::now();
    let mut closed = false;
    for b in buf.iter() {
        if raw.stream.write_all(&[*b]).await.is_err() {
            closed = true;
            break;
        }
        if raw.closed_within(Duration::from_millis(150)).await.is_ok() {
            closed = true;
            break;
        }
    }
    assert!(closed, "trickled CONNECT was accepted");
    assert!(started.elapsed() >= Duration::from_millis(900));
}

/// CHECKLIST 9: connections beyond `max_connections` are closed at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_limit() {
    let broker = start_with(|c| c.limits.max_connections = 2).await;
    let _a = Raw::connect(broker.local_addr(), V5, "a").await;
    let _b = Raw::connect(broker.local_addr(), V5, "b").await;
    let mut c = Raw::open(broker.local_addr(), V5).await;
    assert!(c.closed_within(WAIT).await.is_ok());
    assert_eq!(broker.metrics().connections_refused, 1);
}

/// CHECKLIST 10 / MQTT-3.1.2-22: a silent client is closed at 1.5 x keep-alive, not
/// before (MQTT 5: DISCONNECT 0x8D), and its will fires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_timeout_mqtt_3_1_2_22() {
    let broker = start().await;
    let addr = broker.local_addr();
    let mut w = Raw::connect(addr, V5, "watcher").await;
    w.subscribe("will/ka", QoS::AtMostOnce).await;
    let mut c = connect_packet(V5, "ka");
    c.keep_alive = 1;
    c.will = Some(will("will/ka", "timeout", Properties::new()));
    let (mut silent, _) = Raw::connect_with(addr, c).await;
    assert!(
        silent
            .closed_within(Duration::from_millis(1200))
            .await
            .is_err(),
        "closed before 1.5 x keep-alive"
    );
    match silent.closed_within(Duration::from_secs(2)).await {
        Ok(Some(Packet::Disconnect(d))) => assert_eq!(d.reason, ReasonCode::KeepAliveTimeout),
        other => panic!("{other:?}"),
    }
    assert_eq!(&w.next_publish().await.unwrap().payload[..], b"timeout");
}

/// CHECKLIST 10: a client that keeps talking stays connected past the keep-alive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_respected_when_pinging() {
    let broker = start().await;
    let mut c = connect_packet(V3, "pinger");
    c.keep_alive = 1;
    let (mut raw, _) = Raw::connect_with(broker.local_addr(), c).await;
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(600)).await;
        raw.sync().await;
    }
}

/// CHECKLIST 10: the maximum keep-alive is enforced; MQTT 5 clients are told with Server
/// Keep Alive (MQTT-3.2.2-21).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_keep_alive_enforced() {
    let broker = start_with(|c| c.limits.max_keep_alive_secs = 1).await;
    for ka in [0u16, 100] {
        let mut c = connect_packet(V5, "mk");
        c.keep_alive = ka;
        let (mut raw, ack) = Raw::connect_with(broker.local_addr(), c).await;
        assert_eq!(ack.properties.server_keep_alive(), Some(1));
        assert!(raw.closed_within(Duration::from_secs(3)).await.is_ok());
    }
    let mut c = connect_packet(V3, "mk3");
    c.keep_alive = 100;
    let (mut raw, _) = Raw::connect_with(broker.local_addr(), c).await;
    assert!(raw.closed_within(Duration::from_secs(3)).await.is_ok());
}

async fn slow_consumer(policy: DropPolicy) -> (petrel_broker::Broker, Raw, Raw) {
    let broker = start_with(|c| {
        c.limits.max_queued_messages = 10;
        c.limits.max_inflight_messages = 2;
        c.limits.queue_drop_policy = policy;
    })
    .await;
    let addr = broker.local_addr();
    // The slow consumer subscribes at QoS 1 and then never acknowledges.
    let mut slow = Raw::connect(addr, V5, "slow").await;
    slow.subscribe("flood", QoS::AtLeastOnce).await;
    let mut fast = Raw::connect(addr, V5, "fast").await;
    fast.subscribe("flood", QoS::AtLeastOnce).await;
    let mut p = Raw::connect(addr, V5, "p").await;
    for i in 0..100u16 {
        p.publish(publish("flood", &i.to_string(), QoS::AtLeastOnce, i + 1))
            .await;
        // Other clients are unaffected: the fast consumer gets all 100, in order.
        assert_eq!(
            fast.next_publish().await.unwrap().payload,
            i.to_string().as_bytes()
        );
    }
    (broker, slow, fast)
}

async fn unacked_payloads(slow: &mut Raw) -> Vec<String> {
    let mut got = Vec::new();
    while let Some(p) = slow.recv_within(Duration::from_millis(200)).await {
        match p {
            Packet::Publish(m) => {
                got.push(String::from_utf8_lossy(&m.payload).into_owned());
                if let Some(id) = m.packet_id {
                    // The broker may already have closed: ignore write errors.
                    let mut buf = bytes::BytesMut::new();
                    Packet::PubAck(petrel_codec::PubResp::new(id))
                        .encode(V5, &mut buf)
                        .unwrap();
                    slow.send_bytes(&buf).await;
                }
            }
            Packet::Disconnect(d) => got.push(format!("disconnect {:#x}", d.reason.as_u8())),
            other => panic!("{other:?}"),
        }
    }
    got
}

/// CHECKLIST 11: with drop-oldest the slow consumer's queue stays at its limit, the
/// oldest queued messages are dropped and counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumer_drop_oldest() {
    let (broker, mut slow, _fast) = slow_consumer(DropPolicy::DropOldest).await;
    assert_eq!(broker.metrics().messages_dropped, 88);
    // Held messages are capped at in-flight (2) + queue (10) for the slow consumer, once
    // the fast consumer's last PUBACK is processed.
    eventually(|| broker.metrics().queued_messages == 12).await;
    let got = unacked_payloads(&mut slow).await;
    let expected: Vec<String> = [0, 1]
        .into_iter()
        .chain(90..100)
        .map(|i: u16| i.to_string())
        .collect();
    assert_eq!(got, expected);
}

/// CHECKLIST 11: with drop-newest the first messages are kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumer_drop_newest() {
    let (broker, mut slow, _fast) = slow_consumer(DropPolicy::DropNewest).await;
    assert_eq!(broker.metrics().messages_dropped, 88);
    let got = unacked_payloads(&mut slow).await;
    let expected: Vec<String> = (0..12).map(|i: u16| i.to_string()).collect();
    assert_eq!(got, expected);
}

/// CHECKLIST 11: with the disconnect policy the slow consumer is disconnected with 0x97.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumer_disconnect() {
    let (broker, mut slow, _fast) = slow_consumer(DropPolicy::Disconnect).await;
    assert!(broker.metrics().messages_dropped >= 1);
    let got = unacked_payloads(&mut slow).await;
    assert_eq!(got.last().map(String::as_str), Some("disconnect 0x97"));
}

/// The queue limit in bytes applies too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_byte_limit() {
    let broker = start_with(|c| {
        c.limits.max_queued_bytes = 1000;
        c.limits.max_inflight_messages = 1;
    })
    .await;
    let addr = broker.local_addr();
    let mut slow = Raw::connect(addr, V5, "slow").await;
    slow.subscribe("b", QoS::AtLeastOnce).await;
    let mut p = Raw::connect(addr, V5, "p").await;
    for i in 0..10u16 {
        p.publish(publish("b", &"x".repeat(300), QoS::AtLeastOnce, i + 1))
            .await;
    }
    // One in flight, three queued (3 x 301 bytes <= 1000), six dropped.
    assert_eq!(broker.metrics().messages_dropped, 6);
}

/// CHECKLIST 9: connections that have not completed CONNECT are capped per source address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_connections_capped_per_address() {
    let broker = start_with(|c| {
        c.limits.max_pending_per_address = 2;
        c.limits.connect_timeout_secs = 5;
    })
    .await;
    let addr = broker.local_addr();
    let silent1 = Raw::open(addr, V5).await;
    let silent2 = Raw::open(addr, V5).await;
    eventually(|| broker.metrics().connections_open == 2).await;
    let mut third = Raw::open(addr, V5).await;
    assert!(
        third
            .closed_within(Duration::from_millis(500))
            .await
            .is_ok(),
        "third pending connection accepted"
    );
    drop((silent1, silent2));
    eventually(|| broker.metrics().connections_open == 0).await;
    let mut ok = Raw::connect(addr, V5, "after").await;
    ok.sync().await;
}
