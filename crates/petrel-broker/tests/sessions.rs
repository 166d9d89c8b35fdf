//! Sessions and wills over raw sockets: persistent sessions, offline queueing, resume,
//! session expiry, takeover, wills and will delay.

mod common;

use std::time::Duration;

use common::*;
use petrel_codec::{
    Connect, Disconnect, Packet, Properties, Property, ProtocolVersion, PubResp, QoS, ReasonCode,
};

const V3: ProtocolVersion = ProtocolVersion::V3_1_1;
const V5: ProtocolVersion = ProtocolVersion::V5;

fn persistent(version: ProtocolVersion, id: &str, expiry: u32) -> Connect {
    let mut c = connect_packet(version, id);
    c.clean_start = false;
    if version.is_v5() {
        c.properties.set(Property::SessionExpiryInterval(expiry));
    }
    c
}

async fn disconnect(c: &mut Raw) {
    c.send(&Packet::Disconnect(Disconnect::default())).await;
    c.expect_closed().await;
}

/// Offline queueing: messages published while a persistent session is offline are
/// delivered on resume (MQTT-3.1.2-4/-5, MQTT-4.1.0-1), for MQTT 3.1.1 and 5.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_session_resumes_with_queued_messages() {
    let broker = start().await;
    let addr = broker.local_addr();
    for version in [V3, V5] {
        let id = format!("persist-{version:?}");
        let (mut s, ack) = Raw::connect_with(addr, persistent(version, &id, 300)).await;
        assert!(!ack.session_present);
        s.subscribe("q/#", QoS::ExactlyOnce).await;
        disconnect(&mut s).await;
        let mut p = Raw::connect(addr, V5, "p").await;
        p.publish(publish("q/1", "a", QoS::AtLeastOnce, 1)).await;
        p.publish(publish("q/2", "b", QoS::ExactlyOnce, 2)).await;
        p.publish(publish("q/3", "c", QoS::AtMostOnce, 0)).await;
        p.sync().await;
        let (mut s, ack) = Raw::connect_with(addr, persistent(version, &id, 300)).await;
        assert!(ack.session_present, "MQTT-3.2.2-3");
        assert_eq!(&s.next_publish().await.unwrap().payload[..], b"a");
        assert_eq!(&s.next_publish().await.unwrap().payload[..], b"b");
        // QoS 0 is not queued for offline sessions.
        s.expect_silence(Duration::from_millis(150)).await;
        disconnect(&mut s).await;
    }
}

/// Clean start discards the old session (MQTT-3.1.2-4).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_start_discards_session() {
    let broker = start().await;
    let addr = broker.local_addr();
    let (mut s, _) = Raw::connect_with(addr, persistent(V5, "cs", 300)).await;
    s.subscribe("cs", QoS::AtLeastOnce).await;
    disconnect(&mut s).await;
    let mut c = persistent(V5, "cs", 300);
    c.clean_start = true;
    let (mut s, ack) = Raw::connect_with(addr, c).await;
    assert!(!ack.session_present);
    let mut p = Raw::connect(addr, V5, "p").await;
    p.publish(publish("cs", "x", QoS::AtLeastOnce, 1)).await;
    s.expect_silence(Duration::from_millis(150)).await;
}

/// Session expiry: after the interval the session is gone (MQTT-3.1.2-23).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_expires_after_interval_mqtt_3_1_2_23() {
    let broker = start().await;
    let addr = broker.local_addr();
    let (mut s, _) = Raw::connect_with(addr, persistent(V5, "exp", 1)).await;
    s.subscribe("e", QoS::AtLeastOnce).await;
    disconnect(&mut s).await;
    assert_eq!(broker.session_count(), 1);
    eventually(|| broker.session_count() == 0).await;
    assert_eq!(broker.subscription_count(), 0);
    let (_s, ack) = Raw::connect_with(addr, persistent(V5, "exp", 1)).await;
    assert!(!ack.session_present);
}

/// A session with expiry 0 ends with the connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_expiry_zero_ends_with_connection() {
    let broker = start().await;
    let mut s = Raw::connect(broker.local_addr(), V5, "zero").await;
    s.subscribe("z", QoS::AtLeastOnce).await;
    disconnect(&mut s).await;
    eventually(|| broker.session_count() == 0 && broker.subscription_count() == 0).await;
}

/// DISCONNECT may not set a session expiry when CONNECT had 0 (MQTT-3.14.2-2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_cannot_raise_zero_expiry_mqtt_3_14_2_2() {
    let broker = start().await;
    let mut s = Raw::connect(broker.local_addr(), V5, "d").await;
    let d = Disconnect {
        reason: ReasonCode::Success,
        properties: Properties::new().with(Property::SessionExpiryInterval(30)),
    };
    s.send(&Packet::Disconnect(d)).await;
    assert_eq!(s.expect_closed().await, Some(ReasonCode::ProtocolError));
}

/// CHECKLIST 14: on resume, unacknowledged PUBLISH (DUP=1) and PUBREL are resent with
/// their original ids, in order (MQTT-4.4.0-1), within the receive maximum (MQTT-3.3.4-9).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_resends_inflight_in_order_mqtt_4_4_0_1() {
    let broker = start().await;
    let addr = broker.local_addr();
    let (mut s, _) = Raw::connect_with(addr, persistent(V5, "r", 300)).await;
    s.subscribe("r", QoS::ExactlyOnce).await;
    let mut p = Raw::connect(addr, V5, "p").await;
    p.publish(publish("r", "q2-rec", QoS::ExactlyOnce, 1)).await;
    p.publish(publish("r", "q1", QoS::AtLeastOnce, 2)).await;
    p.publish(publish("r", "q2", QoS::ExactlyOnce, 3)).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        match s.recv().await {
            Some(Packet::Publish(m)) => ids.push((m.packet_id.unwrap(), m.payload.clone())),
            other => panic!("{other:?}"),
        }
    }
    // Acknowledge the first QoS 2 message up to PUBREC only, then drop the connection.
    s.send(&Packet::PubRec(PubResp::new(ids[0].0))).await;
    assert!(matches!(s.recv().await, Some(Packet::PubRel(_))));
    drop(s);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut c = persistent(V5, "r", 300);
    c.properties.set(Property::ReceiveMaximum(1));
    let (mut s, ack) = Raw::connect_with(addr, c).await;
    assert!(ack.session_present);
    match s.recv().await {
        Some(Packet::PubRel(r)) => assert_eq!(r.packet_id, ids[0].0),
        other => panic!("expected PUBREL first, got {other:?}"),
    }
    // Receive Maximum 1: the QoS 2 message whose PUBREL was resent is unacknowledged
    // until its PUBCOMP, so nothing more goes out before it (MQTT-3.3.4-9).
    s.expect_silence(Duration::from_millis(150)).await;
    s.send(&Packet::PubComp(PubResp::new(ids[0].0))).await;
    match s.recv().await {
        Some(Packet::Publish(m)) => {
            assert!(m.dup, "MQTT-3.3.1-1: DUP=1 on resend");
            assert_eq!(m.packet_id.unwrap(), ids[1].0);
            assert_eq!(m.payload, ids[1].1);
        }
        other => panic!("{other:?}"),
    }
    s.expect_silence(Duration::from_millis(150)).await;
    s.send(&Packet::PubAck(PubResp::new(ids[1].0))).await;
    match s.recv().await {
        Some(Packet::Publish(m)) => assert_eq!(m.payload, ids[2].1),
        other => panic!("{other:?}"),
    }
}

/// CHECKLIST 15 / MQTT-3.1.4-3: takeover sends 0x8E to the old connection and the session
/// moves intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn takeover_sends_0x8e_mqtt_3_1_4_3() {
    let broker = start().await;
    let addr = broker.local_addr();
    let (mut old, _) = Raw::connect_with(addr, persistent(V5, "same", 300)).await;
    old.subscribe("to", QoS::AtLeastOnce).await;
    let (mut new, ack) = Raw::connect_with(addr, persistent(V5, "same", 300)).await;
    assert!(ack.session_present);
    assert_eq!(
        old.expect_closed().await,
        Some(ReasonCode::SessionTakenOver)
    );
    let mut p = Raw::connect(addr, V5, "p").await;
    p.publish(publish("to", "moved", QoS::AtLeastOnce, 1)).await;
    assert_eq!(&new.next_publish().await.unwrap().payload[..], b"moved");
    // MQTT 3 old connections are closed without DISCONNECT.
    let mut old3 = Raw::connect(addr, V3, "same3").await;
    let _new3 = Raw::connect(addr, V3, "same3").await;
    assert_eq!(old3.expect_closed().await, None);
}

/// CHECKLIST 15: 100 racing CONNECTs with one client id leave exactly one live session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_racing_connects_leave_one_session() {
    let broker = start().await;
    let addr = broker.local_addr();
    let mut tasks = Vec::new();
    for _ in 0..100 {
        tasks.push(tokio::spawn(async move {
            let mut raw = Raw::open(addr, V5).await;
            raw.send(&Packet::Connect(Box::new(persistent(V5, "race", 60))))
                .await;
            raw
        }));
    }
    let mut conns = Vec::new();
    for t in tasks {
        conns.push(t.await.unwrap());
    }
    eventually(|| {
        broker.metrics().clients_connected <= 1 && broker.metrics().connections_open == 1
    })
    .await;
    assert_eq!(broker.session_count(), 1);
    let mut alive = 0;
    for c in &mut conns {
        if c.closed_within(Duration::from_millis(20)).await.is_err() {
            alive += 1;
        }
    }
    assert_eq!(alive, 1);
}

async fn will_watcher(addr: std::net::SocketAddr) -> Raw {
    let mut w = Raw::connect(addr, V5, "watcher").await;
    w.subscribe("will/#", QoS::AtLeastOnce).await;
    w
}

fn with_will(id: &str, delay: Option<u32>) -> Connect {
    let mut c = connect_packet(V5, id);
    let props = delay.map_or(Properties::new(), |d| {
        Properties::new().with(Property::WillDelayInterval(d))
    });
    c.will = Some(will(&format!("will/{id}"), "gone", props));
    c.properties.set(Property::SessionExpiryInterval(60));
    c
}

/// CHECKLIST 16: the will is published on network drop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn will_on_network_drop() {
    let broker = start().await;
    let mut w = will_watcher(broker.local_addr()).await;
    let (c, _) = Raw::connect_with(broker.local_addr(), with_will("drop", None)).await;
    drop(c);
    let got = w.next_publish().await.unwrap();
    assert_eq!(got.topic, "will/drop");
    assert_eq!(&got.payload[..], b"gone");
}

/// CHECKLIST 16 / MQTT-3.14.4-3: no will after DISCONNECT 0x00; a will after 0x04.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn will_not_after_normal_disconnect_mqtt_3_14_4_3() {
    let broker = start().await;
    let mut w = will_watcher(broker.local_addr()).await;
    let (mut c, _) = Raw::connect_with(broker.local_addr(), with_will("normal", None)).await;
    disconnect(&mut c).await;
    w.expect_silence(Duration::from_millis(200)).await;
    let (mut c, _) = Raw::connect_with(broker.local_addr(), with_will("w04", None)).await;
    let d = Disconnect {
        reason: ReasonCode::DisconnectWithWillMessage,
        properties: Properties::new(),
    };
    c.send(&Packet::Disconnect(d)).await;
    assert_eq!(w.next_publish().await.unwrap().topic, "will/w04");
}

/// CHECKLIST 16: the will is published after a protocol error closes the connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn will_on_protocol_error() {
    let broker = start().await;
    let mut w = will_watcher(broker.local_addr()).await;
    let (mut c, _) = Raw::connect_with(broker.local_addr(), with_will("proto", None)).await;
    c.send(&Packet::Connect(Box::new(connect_packet(V5, "proto"))))
        .await;
    assert_eq!(c.expect_closed().await, Some(ReasonCode::ProtocolError));
    assert_eq!(w.next_publish().await.unwrap().topic, "will/proto");
}

/// CHECKLIST 16 / MQTT-3.1.3-9: a reconnect within the will delay cancels the will; after
/// the delay it is published.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn will_delay_cancelled_by_reconnect_mqtt_3_1_3_9() {
    let broker = start().await;
    let addr = broker.local_addr();
    let mut w = will_watcher(addr).await;
    let (c, _) = Raw::connect_with(addr, with_will("delayed", Some(1))).await;
    drop(c);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut again = with_will("delayed", Some(1));
    again.clean_start = false;
    let (c, _) = Raw::connect_with(addr, again).await;
    w.expect_silence(Duration::from_millis(1200)).await;
    drop(c);
    let got = w.recv_within(Duration::from_millis(400)).await;
    assert!(got.is_none(), "will delay not honoured: {got:?}");
    assert_eq!(w.next_publish().await.unwrap().topic, "will/delayed");
}

/// Takeover with Clean Start = 1: the old connection still gets 0x8E (MQTT-3.1.4-3) and the
/// old session is discarded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn takeover_with_clean_start_sends_0x8e() {
    let broker = start().await;
    let addr = broker.local_addr();
    let mut old = Raw::connect(addr, V5, "twin").await;
    let (_new, ack) = Raw::connect_with(addr, connect_packet(V5, "twin")).await;
    assert!(!ack.session_present);
    assert_eq!(
        old.expect_closed().await,
        Some(ReasonCode::SessionTakenOver)
    );
}

/// An expiry timer from an earlier disconnection does not end a session that was resumed
/// and left again (MQTT-3.1.2-23 counts from the last disconnection).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_expiry_counts_from_last_disconnect() {
    let broker = start().await;
    let addr = broker.local_addr();
    let (mut s, _) = Raw::connect_with(addr, persistent(V5, "epoch", 2)).await;
    disconnect(&mut s).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let (mut s, ack) = Raw::connect_with(addr, persistent(V5, "epoch", 2)).await;
    assert!(ack.session_present);
    disconnect(&mut s).await;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(broker.session_count(), 1, "expired by the first timer");
    eventually(|| broker.session_count() == 0).await;
}

/// The store seam: a second broker on the same store finds the retained messages and the
/// persistent sessions (with their subscriptions) of the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_on_same_store_restores_sessions_and_retained() {
    let store = std::sync::Arc::new(petrel_store::MemoryStore::new());
    let first = petrel_broker::Broker::start_with_store(test_config(), store.clone())
        .await
        .unwrap();
    let (mut s, _) = Raw::connect_with(first.local_addr(), persistent(V5, "durable", 300)).await;
    s.subscribe("d/#", QoS::AtLeastOnce).await;
    disconnect(&mut s).await;
    let mut p = Raw::connect(first.local_addr(), V5, "p").await;
    let mut m = publish("d/r", "kept", QoS::AtLeastOnce, 1);
    m.retain = true;
    p.publish(m).await;
    first.shutdown(Duration::from_secs(2)).await;
    drop(p);

    let second = petrel_broker::Broker::start_with_store(test_config(), store)
        .await
        .unwrap();
    assert_eq!(second.retained_count(), 1);
    let (mut s, ack) = Raw::connect_with(second.local_addr(), persistent(V5, "durable", 300)).await;
    assert!(ack.session_present);
    let mut p = Raw::connect(second.local_addr(), V5, "p2").await;
    p.publish(publish("d/live", "after restart", QoS::AtLeastOnce, 1))
        .await;
    // The message queued for the offline session survived the restart (issue 9).
    assert_eq!(&s.next_publish().await.unwrap().payload[..], b"kept");
    assert_eq!(
        &s.next_publish().await.unwrap().payload[..],
        b"after restart"
    );
}

/// Will properties travel with the will (user properties, content type, response topic,
/// correlation data), and its retain flag stores it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn will_properties_and_retain() {
    let broker = start().await;
    let addr = broker.local_addr();
    let mut w = will_watcher(addr).await;
    let mut c = connect_packet(V5, "wp");
    let props = Properties::new()
        .with(Property::UserProperty("why".into(), "crash".into()))
        .with(Property::ContentType("text/plain".into()))
        .with(Property::ResponseTopic("will/reply".into()))
        .with(Property::CorrelationData("c1".into()));
    let mut wl = will("will/wp", "gone", props);
    wl.retain = true;
    c.will = Some(wl);
    let (conn, _) = Raw::connect_with(addr, c).await;
    drop(conn);
    let got = w.next_publish().await.unwrap();
    assert_eq!(got.properties.user_properties().count(), 1);
    assert_eq!(got.properties.content_type().as_deref(), Some("text/plain"));
    assert_eq!(
        got.properties.response_topic().as_deref(),
        Some("will/reply")
    );
    assert_eq!(
        got.properties.correlation_data().as_deref(),
        Some(&b"c1"[..])
    );
    eventually(|| broker.retained_count() == 1).await;
}
