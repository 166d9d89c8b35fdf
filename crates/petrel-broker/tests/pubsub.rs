//! Publish/subscribe semantics over raw sockets: QoS, version interop, retained messages,
//! overlapping and shared subscriptions, no-local, subscription identifiers, properties.

mod common;

use std::time::Duration;

use common::*;
use petrel_codec::{
    Packet, Properties, Property, ProtocolVersion, QoS, ReasonCode, RetainHandling,
    SubscriptionOptions,
};

const V3: ProtocolVersion = ProtocolVersion::V3_1_1;
const V5: ProtocolVersion = ProtocolVersion::V5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pubsub_each_qos_both_versions() {
    let broker = start().await;
    let addr = broker.local_addr();
    for version in [ProtocolVersion::V3_1, V3, V5] {
        let mut sub = Raw::connect(addr, version, "sub").await;
        let mut publ = Raw::connect(addr, version, "pub").await;
        sub.subscribe("t/#", QoS::ExactlyOnce).await;
        for (i, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
            .into_iter()
            .enumerate()
        {
            publ.publish(publish("t/x", &format!("m{i}"), qos, 10 + i as u16))
                .await;
            let got = sub.next_publish().await.expect("delivered");
            assert_eq!(got.qos, qos);
            assert_eq!(&got.payload[..], format!("m{i}").as_bytes());
            assert_eq!(got.topic, "t/x");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn granted_qos_caps_delivery_qos() {
    let broker = start().await;
    let mut sub = Raw::connect(broker.local_addr(), V5, "sub").await;
    let mut publ = Raw::connect(broker.local_addr(), V5, "pub").await;
    sub.subscribe("t", QoS::AtLeastOnce).await;
    publ.publish(publish("t", "x", QoS::ExactlyOnce, 1)).await;
    assert_eq!(sub.next_publish().await.unwrap().qos, QoS::AtLeastOnce);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v3_and_v5_interoperate_properties_dropped_for_v3() {
    let broker = start().await;
    let addr = broker.local_addr();
    let mut s3 = Raw::connect(addr, V3, "s3").await;
    let mut s5 = Raw::connect(addr, V5, "s5").await;
    let mut p5 = Raw::connect(addr, V5, "p5").await;
    let mut p3 = Raw::connect(addr, V3, "p3").await;
    s3.subscribe("i/#", QoS::AtLeastOnce).await;
    s5.subscribe("i/#", QoS::AtLeastOnce).await;
    let mut m = publish("i/5", "from5", QoS::AtLeastOnce, 1);
    m.properties = Properties::new()
        .with(Property::UserProperty("k".into(), "v".into()))
        .with(Property::ResponseTopic("reply/here".into()))
        .with(Property::CorrelationData("corr".into()))
        .with(Property::ContentType("text/plain".into()));
    p5.publish(m).await;
    let got3 = s3.next_publish().await.unwrap();
    assert_eq!(&got3.payload[..], b"from5");
    assert!(got3.properties.is_empty());
    let got5 = s5.next_publish().await.unwrap();
    // Request/response and user properties pass through unchanged.
    assert_eq!(got5.properties.user_properties().count(), 1);
    assert_eq!(
        got5.properties.response_topic().as_deref(),
        Some("reply/here")
    );
    assert_eq!(
        got5.properties.correlation_data().as_deref(),
        Some(&b"corr"[..])
    );
    assert_eq!(
        got5.properties.content_type().as_deref(),
        Some("text/plain")
    );
    p3.publish(publish("i/3", "from3", QoS::AtLeastOnce, 1))
        .await;
    assert_eq!(&s5.next_publish().await.unwrap().payload[..], b"from3");
    assert_eq!(&s3.next_publish().await.unwrap().payload[..], b"from3");
}

/// MQTT-3.3.1-5 (store), -6/-7 (empty payload deletes, not stored), -9 (RETAIN=1 on
/// subscribe), -12 (RETAIN=0 on live delivery without Retain As Published).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retained_set_replace_delete_mqtt_3_3_1_5_to_7() {
    let broker = start().await;
    let addr = broker.local_addr();
    let mut p = Raw::connect(addr, V5, "p").await;
    let mut m = publish("r/a", "one", QoS::AtLeastOnce, 1);
    m.retain = true;
    p.publish(m.clone()).await;
    m.payload = "two".into();
    p.publish(m.clone()).await;
    assert_eq!(broker.retained_count(), 1);
    let mut s = Raw::connect(addr, V5, "s").await;
    s.subscribe("r/+", QoS::AtLeastOnce).await;
    let got = s.next_publish().await.unwrap();
    assert!(got.retain, "MQTT-3.3.1-9");
    assert_eq!(&got.payload[..], b"two");
    // Empty retained payload: delivered to current subscribers, deletes, not stored.
    m.payload = bytes::Bytes::new();
    p.publish(m).await;
    let live = s.next_publish().await.unwrap();
    assert!(live.payload.is_empty());
    assert!(!live.retain, "MQTT-3.3.1-12");
    assert_eq!(broker.retained_count(), 0);
    let mut s2 = Raw::connect(addr, V5, "s2").await;
    s2.subscribe("r/#", QoS::AtLeastOnce).await;
    s2.expect_silence(Duration::from_millis(200)).await;
}

/// CHECKLIST 17: RETAIN=0 never touches the retained store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retain_zero_never_touches_store_mqtt_3_3_1_8() {
    let broker = start().await;
    let mut p = Raw::connect(broker.local_addr(), V5, "p").await;
    let mut m = publish("r", "keep", QoS::AtLeastOnce, 1);
    m.retain = true;
    p.publish(m).await;
    p.publish(publish("r", "", QoS::AtLeastOnce, 2)).await;
    p.publish(publish("r", "other", QoS::AtLeastOnce, 3)).await;
    let mut s = Raw::connect(broker.local_addr(), V5, "s").await;
    s.subscribe("r", QoS::AtLeastOnce).await;
    assert_eq!(&s.next_publish().await.unwrap().payload[..], b"keep");
}

/// Retain handling 0, 1, 2 (MQTT-3.3.1-9, -10, -11) and Retain As Published (MQTT-3.3.1-13).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retain_handling_and_retain_as_published() {
    let broker = start().await;
    let addr = broker.local_addr();
    let mut p = Raw::connect(addr, V5, "p").await;
    let mut m = publish("rh", "kept", QoS::AtMostOnce, 0);
    m.retain = true;
    p.publish(m.clone()).await;
    p.sync().await;
    let mut s = Raw::connect(addr, V5, "s").await;
    let opts = |rh| SubscriptionOptions {
        qos: QoS::AtMostOnce,
        retain_handling: rh,
        ..Default::default()
    };
    // 2: never.
    s.subscribe_opts("rh", opts(RetainHandling::DoNotSend), Properties::new())
        .await;
    s.expect_silence(Duration::from_millis(150)).await;
    // 1: only when the subscription is new; it exists now.
    s.subscribe_opts("rh", opts(RetainHandling::SendIfNew), Properties::new())
        .await;
    s.expect_silence(Duration::from_millis(150)).await;
    // 0: always.
    s.subscribe_opts(
        "rh",
        opts(RetainHandling::SendAtSubscribe),
        Properties::new(),
    )
    .await;
    assert!(s.next_publish().await.unwrap().retain);
    // 1 on a new subscription sends.
    let mut s2 = Raw::connect(addr, V5, "s2").await;
    s2.subscribe_opts("rh", opts(RetainHandling::SendIfNew), Properties::new())
        .await;
    assert!(s2.next_publish().await.unwrap().retain);
    // Retain As Published keeps RETAIN=1 on live delivery.
    let mut rap = Raw::connect(addr, V5, "rap").await;
    let o = SubscriptionOptions {
        retain_as_published: true,
        retain_handling: RetainHandling::DoNotSend,
        ..Default::default()
    };
    rap.subscribe_opts("rh", o, Properties::new()).await;
    p.publish(m).await;
    assert!(rap.next_publish().await.unwrap().retain, "MQTT-3.3.1-13");
    assert!(!s2.next_publish().await.unwrap().retain, "MQTT-3.3.1-12");
}

/// MQTT-3.3.4-2..5: overlapping subscriptions deliver once, at the highest QoS, with every
/// subscription identifier (MQTT-3.3.4-3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_subscriptions_once_with_all_ids_mqtt_3_3_4_2() {
    let broker = start().await;
    let addr = broker.local_addr();
    let mut s = Raw::connect(addr, V5, "s").await;
    let o = |qos| SubscriptionOptions {
        qos,
        ..Default::default()
    };
    s.subscribe_opts(
        "o/+",
        o(QoS::AtMostOnce),
        Properties::new().with(Property::SubscriptionIdentifier(7)),
    )
    .await;
    s.subscribe_opts(
        "o/#",
        o(QoS::ExactlyOnce),
        Properties::new().with(Property::SubscriptionIdentifier(9)),
    )
    .await;
    let mut p = Raw::connect(addr, V5, "p").await;
    p.publish(publish("o/x", "m", QoS::ExactlyOnce, 1)).await;
    let got = s.next_publish().await.unwrap();
    assert_eq!(got.qos, QoS::ExactlyOnce);
    let mut ids: Vec<u32> = got.properties.subscription_identifiers().collect();
    ids.sort_unstable();
    assert_eq!(ids, vec![7, 9]);
    s.expect_silence(Duration::from_millis(200)).await;
}

/// MQTT-3.8.3-3: No Local.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_local_mqtt_3_8_3_3() {
    let broker = start().await;
    let mut c = Raw::connect(broker.local_addr(), V5, "me").await;
    let o = SubscriptionOptions {
        no_local: true,
        ..Default::default()
    };
    c.subscribe_opts("nl", o, Properties::new()).await;
    c.subscribe("nl2", QoS::AtMostOnce).await;
    c.publish(publish("nl", "x", QoS::AtMostOnce, 0)).await;
    c.publish(publish("nl2", "y", QoS::AtMostOnce, 0)).await;
    assert_eq!(&c.next_publish().await.unwrap().payload[..], b"y");
}

/// Shared subscriptions: each message goes to one member of the group (MQTT-4.8.2-?),
/// alongside ordinary subscribers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_subscription_distributes() {
    let broker = start().await;
    let addr = broker.local_addr();
    let mut a = Raw::connect(addr, V5, "a").await;
    let mut b = Raw::connect(addr, V3, "b").await;
    let mut plain = Raw::connect(addr, V5, "plain").await;
    a.subscribe("$share/g/s/+", QoS::AtLeastOnce).await;
    b.subscribe("$share/g/s/+", QoS::AtLeastOnce).await;
    plain.subscribe("s/+", QoS::AtLeastOnce).await;
    let mut p = Raw::connect(addr, V5, "p").await;
    for i in 0..4u16 {
        p.publish(publish("s/x", &i.to_string(), QoS::AtLeastOnce, i + 1))
            .await;
    }
    for _ in 0..4 {
        plain.next_publish().await.unwrap();
    }
    let (mut na, mut nb) = (0, 0);
    for _ in 0..2 {
        a.next_publish().await.unwrap();
        na += 1;
        b.next_publish().await.unwrap();
        nb += 1;
    }
    a.expect_silence(Duration::from_millis(100)).await;
    b.expect_silence(Duration::from_millis(100)).await;
    assert_eq!((na, nb), (2, 2));
}

/// Incoming topic alias: set with a topic, then used with an empty topic (MQTT-3.3.2-12);
/// outgoing aliases as a policy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_alias_in_and_out() {
    let broker = start().await;
    let addr = broker.local_addr();
    let mut c = connect_packet(V5, "s");
    c.properties.set(Property::TopicAliasMaximum(4));
    let (mut s, _) = Raw::connect_with(addr, c).await;
    s.subscribe("alias/t", QoS::AtMostOnce).await;
    let mut p = Raw::connect(addr, V5, "p").await;
    let mut m = publish("alias/t", "1", QoS::AtMostOnce, 0);
    m.properties.set(Property::TopicAlias(3));
    p.publish(m.clone()).await;
    m.topic = "".into();
    m.payload = "2".into();
    p.publish(m).await;
    let first = s.next_publish().await.unwrap();
    assert_eq!(first.topic, "alias/t");
    let alias = first
        .properties
        .topic_alias()
        .expect("outgoing alias assigned");
    let second = s.next_publish().await.unwrap();
    assert_eq!(&second.payload[..], b"2");
    assert_eq!(second.topic, "");
    assert_eq!(second.properties.topic_alias(), Some(alias));
}

/// Message expiry: a queued message past its expiry is not delivered; the remaining
/// interval is sent otherwise (MQTT-3.3.2-5, MQTT-3.3.2-6).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_expiry_mqtt_3_3_2_5() {
    let broker = start().await;
    let addr = broker.local_addr();
    let mut c = connect_packet(V5, "offline");
    c.clean_start = true;
    c.properties.set(Property::SessionExpiryInterval(60));
    let (mut s, _) = Raw::connect_with(addr, c.clone()).await;
    s.subscribe("exp", QoS::AtLeastOnce).await;
    s.send(&Packet::Disconnect(Default::default())).await;
    s.expect_closed().await;
    let mut p = Raw::connect(addr, V5, "p").await;
    let mut short = publish("exp", "short", QoS::AtLeastOnce, 1);
    short.properties.set(Property::MessageExpiryInterval(1));
    p.publish(short).await;
    let mut long = publish("exp", "long", QoS::AtLeastOnce, 2);
    long.properties.set(Property::MessageExpiryInterval(100));
    p.publish(long).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    c.clean_start = false;
    let (mut s, ack) = Raw::connect_with(addr, c).await;
    assert!(ack.session_present);
    let got = s.next_publish().await.unwrap();
    assert_eq!(&got.payload[..], b"long");
    let left = got.properties.message_expiry_interval().unwrap();
    assert!((98..=100).contains(&left), "{left}");
    s.expect_silence(Duration::from_millis(150)).await;
    assert!(broker.metrics().messages_expired >= 1);
}

/// $SYS: clients cannot publish there (MQTT 5 gets 0x87), the broker publishes its
/// statistics retained, and `#` does not match them (MQTT-4.7.2-1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sys_topics() {
    let broker = start().await;
    let addr = broker.local_addr();
    let mut wild = Raw::connect(addr, V5, "wild").await;
    wild.subscribe("#", QoS::AtMostOnce).await;
    let mut c = Raw::connect(addr, V5, "c").await;
    c.send(&Packet::Publish(publish(
        "$SYS/broker/uptime",
        "hack",
        QoS::AtLeastOnce,
        1,
    )))
    .await;
    match c.recv().await {
        Some(Packet::PubAck(a)) => assert_eq!(a.reason, ReasonCode::NotAuthorized),
        other => panic!("{other:?}"),
    }
    broker.publish_sys().await;
    let mut s = Raw::connect(addr, V3, "s").await;
    s.subscribe("$SYS/broker/#", QoS::AtMostOnce).await;
    let mut topics = Vec::new();
    for _ in 0..11 {
        let p = s.next_publish().await.unwrap();
        assert!(p.retain);
        topics.push(p.topic.to_string());
    }
    for t in [
        "$SYS/broker/uptime",
        "$SYS/broker/version",
        "$SYS/broker/clients/connected",
        "$SYS/broker/messages/received",
        "$SYS/broker/messages/sent",
        "$SYS/broker/bytes/received",
        "$SYS/broker/bytes/sent",
        "$SYS/broker/subscriptions/count",
        "$SYS/broker/retained messages/count",
    ] {
        assert!(topics.iter().any(|x| x == t), "missing {t}");
    }
    wild.expect_silence(Duration::from_millis(150)).await;
}

/// Assigned client identifier for an empty id (MQTT-3.1.3-6, MQTT-3.2.2-16); MQTT 3.1.1
/// with an empty id and clean session 0 is refused with 0x02 (MQTT-3.1.3-8).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assigned_client_id() {
    let broker = start().await;
    let (_c, ack) = Raw::connect_with(broker.local_addr(), connect_packet(V5, "")).await;
    assert!(ack
        .properties
        .assigned_client_identifier()
        .is_some_and(|id| !id.is_empty()));
    let mut c3 = connect_packet(V3, "");
    c3.clean_start = false;
    let (_c, ack) = Raw::connect_with(broker.local_addr(), c3).await;
    assert_eq!(ack.reason, ReasonCode::ClientIdentifierNotValid);
}

/// Server-side DISCONNECT on shutdown: 0x8B with a reason string.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_sends_0x8b_to_v5() {
    let broker = start().await;
    let mut c5 = Raw::connect(broker.local_addr(), V5, "c5").await;
    let mut c3 = Raw::connect(broker.local_addr(), V3, "c3").await;
    broker.shutdown(Duration::from_secs(2)).await;
    match c5.closed_within(WAIT).await {
        Ok(Some(Packet::Disconnect(d))) => {
            assert_eq!(d.reason, ReasonCode::ServerShuttingDown);
            assert!(d.properties.reason_string().is_some());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c3.expect_closed().await, None);
}

/// `$SYS/broker/...` is published retained on the configured interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sys_published_on_interval() {
    let broker = start_with(|c| c.sys.interval_secs = 1).await;
    let mut s = Raw::connect(broker.local_addr(), V5, "sys").await;
    s.subscribe("$SYS/broker/clients/connected", QoS::AtMostOnce)
        .await;
    // The first update is either the retained copy or a live one, depending on whether
    // the first tick came before the SUBSCRIBE; the next one comes an interval later.
    s.next_publish().await.unwrap();
    let next = s.next_publish().await.unwrap();
    assert_eq!(&next.payload[..], b"1");
    assert!(broker.retained_count() >= 9, "$SYS topics are retained");
}
