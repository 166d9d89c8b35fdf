//! Real-peer tests with rumqttc: its MQTT 3.1.1 client (`rumqttc::AsyncClient`) and its
//! MQTT 5 client (`rumqttc::v5::AsyncClient`) against an in-process broker.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::rumqtt::Rumqtt as C4;
use common::*;
use rumqttc::v5::mqttbytes::v5::{
    ConnectReturnCode, DisconnectReasonCode, LastWill as LastWill5, Packet as P5, PublishProperties,
};
use rumqttc::v5::mqttbytes::QoS as Q5;
use rumqttc::{LastWill, QoS as Q4};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

fn opts4(addr: SocketAddr, id: &str) -> rumqttc::MqttOptions {
    let mut o = rumqttc::MqttOptions::new(id, addr.ip().to_string(), addr.port());
    o.set_keep_alive(Duration::from_secs(5));
    o
}

/// An MQTT 5 rumqttc client whose incoming packets arrive on a channel.
struct C5 {
    client: rumqttc::v5::AsyncClient,
    rx: mpsc::UnboundedReceiver<P5>,
    _task: JoinHandle<()>,
}

fn opts5(addr: SocketAddr, id: &str) -> rumqttc::v5::MqttOptions {
    let mut o = rumqttc::v5::MqttOptions::new(id, addr.ip().to_string(), addr.port());
    o.set_keep_alive(Duration::from_secs(5));
    o
}

impl C5 {
    async fn start(o: rumqttc::v5::MqttOptions) -> Self {
        let (client, mut el) = rumqttc::v5::AsyncClient::new(o, 64);
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                match el.poll().await {
                    Ok(rumqttc::v5::Event::Incoming(p)) => {
                        if tx.send(p).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    // rumqttc reports a server DISCONNECT as an error; hand it on as a packet.
                    Err(rumqttc::v5::ConnectionError::MqttState(
                        rumqttc::v5::StateError::ServerDisconnect { reason_code, .. },
                    )) => {
                        let d = rumqttc::v5::mqttbytes::v5::Disconnect {
                            reason_code,
                            properties: None,
                        };
                        let _ = tx.send(P5::Disconnect(d));
                        return;
                    }
                    Err(_) => return,
                }
            }
        });
        Self {
            client,
            rx,
            _task: task,
        }
    }

    async fn connected(o: rumqttc::v5::MqttOptions) -> (Self, bool) {
        let mut c = Self::start(o).await;
        match c.wait(|p| matches!(p, P5::ConnAck(_))).await {
            P5::ConnAck(a) => {
                assert_eq!(a.code, ConnectReturnCode::Success);
                (c, a.session_present)
            }
            _ => unreachable!(),
        }
    }

    async fn wait(&mut self, f: impl Fn(&P5) -> bool) -> P5 {
        common::rumqtt::next_matching(&mut self.rx, f).await
    }

    async fn subscribe(&mut self, filter: &str, qos: Q5) {
        self.client.subscribe(filter, qos).await.unwrap();
        self.wait(|p| matches!(p, P5::SubAck(_))).await;
    }

    async fn next_publish(&mut self) -> rumqttc::v5::mqttbytes::v5::Publish {
        match self.wait(|p| matches!(p, P5::Publish(_))).await {
            P5::Publish(p) => p,
            _ => unreachable!(),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rumqttc_v4_pubsub_each_qos() {
    let broker = start().await;
    let addr = broker.local_addr();
    let mut sub = C4::start(opts4(addr, "sub4")).await;
    sub.subscribe("r4/#", Q4::ExactlyOnce).await;
    let publ = C4::start(opts4(addr, "pub4")).await;
    for (i, qos) in [Q4::AtMostOnce, Q4::AtLeastOnce, Q4::ExactlyOnce]
        .into_iter()
        .enumerate()
    {
        publ.client
            .publish("r4/t", qos, false, format!("m{i}"))
            .await
            .unwrap();
        let p = sub.next_publish().await;
        assert_eq!(p.qos, qos);
        assert_eq!(&p.payload[..], format!("m{i}").as_bytes());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rumqttc_v5_pubsub_each_qos_with_user_properties() {
    let broker = start().await;
    let addr = broker.local_addr();
    let (mut sub, _) = C5::connected(opts5(addr, "sub5")).await;
    sub.subscribe("r5/#", Q5::ExactlyOnce).await;
    let (publ, _) = C5::connected(opts5(addr, "pub5")).await;
    for (i, qos) in [Q5::AtMostOnce, Q5::AtLeastOnce, Q5::ExactlyOnce]
        .into_iter()
        .enumerate()
    {
        let props = PublishProperties {
            user_properties: vec![("k".into(), i.to_string())],
            response_topic: Some("r5/reply".into()),
            correlation_data: Some(bytes::Bytes::from_static(b"c")),
            ..Default::default()
        };
        publ.client
            .publish_with_properties("r5/t", qos, false, format!("m{i}"), props)
            .await
            .unwrap();
        let p = sub.next_publish().await;
        assert_eq!(p.qos, qos);
        let props = p.properties.expect("properties");
        assert_eq!(
            props.user_properties,
            vec![("k".to_string(), i.to_string())]
        );
        assert_eq!(props.response_topic.as_deref(), Some("r5/reply"));
    }
}

/// A v3 subscriber receives a v5 publisher's message and the other way round.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rumqttc_v4_v5_interop() {
    let broker = start().await;
    let addr = broker.local_addr();
    let mut s4 = C4::start(opts4(addr, "s4")).await;
    s4.subscribe("x/#", Q4::AtLeastOnce).await;
    let (mut s5, _) = C5::connected(opts5(addr, "s5")).await;
    s5.subscribe("x/#", Q5::AtLeastOnce).await;
    let (p5, _) = C5::connected(opts5(addr, "p5")).await;
    let p4 = C4::start(opts4(addr, "p4")).await;
    p5.client
        .publish("x/5", Q5::AtLeastOnce, false, "five")
        .await
        .unwrap();
    assert_eq!(&s4.next_publish().await.payload[..], b"five");
    assert_eq!(&s5.next_publish().await.payload[..], b"five");
    p4.client
        .publish("x/4", Q4::AtLeastOnce, false, "four")
        .await
        .unwrap();
    assert_eq!(&s5.next_publish().await.payload[..], b"four");
    assert_eq!(&s4.next_publish().await.payload[..], b"four");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rumqttc_retained_and_will() {
    let broker = start().await;
    let addr = broker.local_addr();
    let (p5, _) = C5::connected(opts5(addr, "p5")).await;
    p5.client
        .publish("ret/a", Q5::AtLeastOnce, true, "kept")
        .await
        .unwrap();
    eventually(|| broker.retained_count() == 1).await;
    let mut s4 = C4::start(opts4(addr, "s4")).await;
    s4.subscribe("ret/#", Q4::AtLeastOnce).await;
    let p = s4.next_publish().await;
    assert!(p.retain);
    assert_eq!(&p.payload[..], b"kept");
    // Will on network drop (the client's event loop is killed).
    s4.subscribe("will/#", Q4::AtLeastOnce).await;
    let mut o = opts4(addr, "dying");
    o.set_last_will(LastWill::new("will/dying", "bye", Q4::AtLeastOnce, false));
    let dying = C4::start(o).await;
    dying.task.abort();
    drop(dying);
    assert_eq!(&s4.next_publish().await.payload[..], b"bye");
    // A v5 will with properties.
    let mut o = opts5(addr, "dying5");
    o.set_last_will(LastWill5::new(
        "will/d5",
        "bye5",
        Q5::AtLeastOnce,
        false,
        None,
    ));
    let (d5, _) = C5::connected(o).await;
    drop(d5);
    assert_eq!(&s4.next_publish().await.payload[..], b"bye5");
}

/// Persistent session with queued messages, MQTT 3.1.1 clean session = 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rumqttc_persistent_session_resume() {
    let broker = start().await;
    let addr = broker.local_addr();
    let mut o = opts4(addr, "keeper");
    o.set_clean_session(false);
    let mut s = C4::start(o.clone()).await;
    s.subscribe("k", Q4::AtLeastOnce).await;
    s.client.disconnect().await.unwrap();
    eventually(|| broker.metrics().clients_connected == 0).await;
    let p = C4::start(opts4(addr, "p")).await;
    for i in 0..3 {
        p.client
            .publish("k", Q4::AtLeastOnce, false, format!("q{i}"))
            .await
            .unwrap();
    }
    eventually(|| broker.metrics().queued_messages == 3).await;
    let mut s = C4::start(o).await;
    for i in 0..3 {
        assert_eq!(
            &s.next_publish().await.payload[..],
            format!("q{i}").as_bytes()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rumqttc_shared_subscription() {
    let broker = start().await;
    let addr = broker.local_addr();
    let (mut a, _) = C5::connected(opts5(addr, "a")).await;
    let (mut b, _) = C5::connected(opts5(addr, "b")).await;
    a.subscribe("$share/grp/jobs", Q5::AtLeastOnce).await;
    b.subscribe("$share/grp/jobs", Q5::AtLeastOnce).await;
    let (p, _) = C5::connected(opts5(addr, "p")).await;
    for i in 0..4 {
        p.client
            .publish("jobs", Q5::AtLeastOnce, false, format!("j{i}"))
            .await
            .unwrap();
    }
    let mut got = Vec::new();
    for _ in 0..2 {
        got.push(a.next_publish().await.payload);
        got.push(b.next_publish().await.payload);
    }
    got.sort();
    assert_eq!(got, vec!["j0", "j1", "j2", "j3"]);
}

/// Topic aliases: the v5 publisher sets an alias then publishes with an empty topic; the
/// subscriber accepts aliases and receives them from the broker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rumqttc_topic_alias() {
    let broker = start().await;
    let addr = broker.local_addr();
    let mut o = opts5(addr, "sa");
    o.set_topic_alias_max(Some(8));
    let (mut s, _) = C5::connected(o).await;
    s.subscribe("long/topic/name", Q5::AtLeastOnce).await;
    let (p, _) = C5::connected(opts5(addr, "pa")).await;
    let alias = |a| PublishProperties {
        topic_alias: Some(a),
        ..Default::default()
    };
    p.client
        .publish_with_properties("long/topic/name", Q5::AtLeastOnce, false, "1", alias(2))
        .await
        .unwrap();
    p.client
        .publish_with_properties("", Q5::AtLeastOnce, false, "2", alias(2))
        .await
        .unwrap();
    for want in ["1", "2"] {
        let m = s.next_publish().await;
        assert_eq!(&m.payload[..], want.as_bytes());
        assert!(m.properties.and_then(|p| p.topic_alias).is_some());
    }
}

/// Message expiry on a queued message, and session expiry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rumqttc_message_and_session_expiry() {
    let broker = start().await;
    let addr = broker.local_addr();
    let mut o = opts5(addr, "exp");
    o.set_clean_start(false);
    o.set_session_expiry_interval(Some(2));
    let (mut s, _) = C5::connected(o.clone()).await;
    s.subscribe("e", Q5::AtLeastOnce).await;
    s.client.disconnect().await.unwrap();
    eventually(|| broker.metrics().clients_connected == 0).await;
    let (p, _) = C5::connected(opts5(addr, "pe")).await;
    let exp = |s| PublishProperties {
        message_expiry_interval: Some(s),
        ..Default::default()
    };
    p.client
        .publish_with_properties("e", Q5::AtLeastOnce, false, "short", exp(1))
        .await
        .unwrap();
    p.client
        .publish_with_properties("e", Q5::AtLeastOnce, false, "long", exp(60))
        .await
        .unwrap();
    eventually(|| broker.metrics().queued_messages == 2).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (mut s, present) = C5::connected(o.clone()).await;
    assert!(present);
    assert_eq!(&s.next_publish().await.payload[..], b"long");
    s.client.disconnect().await.unwrap();
    // After the 2 s session expiry the session is gone.
    eventually(|| broker.session_count() == 1).await;
    let (_s, present) = C5::connected(o).await;
    assert!(!present);
}

/// Takeover: the first connection receives DISCONNECT 0x8E.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rumqttc_takeover_0x8e() {
    let broker = start().await;
    let addr = broker.local_addr();
    let (mut first, _) = C5::connected(opts5(addr, "twin")).await;
    let (_second, _) = C5::connected(opts5(addr, "twin")).await;
    match first.wait(|p| matches!(p, P5::Disconnect(_))).await {
        P5::Disconnect(d) => assert_eq!(d.reason_code, DisconnectReasonCode::SessionTakenOver),
        _ => unreachable!(),
    }
}
