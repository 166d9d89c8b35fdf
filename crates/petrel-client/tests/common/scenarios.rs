//! Scenarios run against every broker (Mosquitto and Petrel).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use petrel_client::{
    Client, ConnectOptions, Event, Message, ProtocolVersion, QoS, ReconnectOptions,
};

use super::Proxy;

pub const LONG: Duration = Duration::from_secs(20);

pub fn opts(addr: SocketAddr, version: ProtocolVersion) -> ConnectOptions {
    ConnectOptions::new(addr.ip().to_string(), addr.port())
        .version(version)
        .reconnect(ReconnectOptions::backoff(
            Duration::from_millis(50),
            Duration::from_millis(400),
        ))
}

/// A client whose session the broker keeps across connections.
pub fn persistent(addr: SocketAddr, version: ProtocolVersion, id: &str) -> ConnectOptions {
    // MQTT 3 needs Clean Session off from the start for the broker to keep the session.
    let mut o = opts(addr, version)
        .client_id(id.to_owned())
        .clean_start(version.is_v5());
    if version.is_v5() {
        o = o.session_expiry(300);
    }
    o
}

async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(LONG, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out: {what}"),
    }
}

/// Every QoS both ways: a message published at QoS q to a QoS 2 subscription arrives at
/// QoS q (MQTT-3.8.4-6: delivered at the minimum of the two), and each publish future
/// resolves once its acknowledgement flow is complete.
pub async fn every_qos(addr: SocketAddr, version: ProtocolVersion) {
    let sub_client = Client::connect(opts(addr, version))
        .await
        .expect("connect subscriber");
    let pub_client = Client::connect(opts(addr, version))
        .await
        .expect("connect publisher");
    let topic = format!("every-qos/{}", rand_suffix());
    let mut sub = sub_client
        .subscribe(topic.clone(), QoS::ExactlyOnce)
        .await
        .expect("subscribe");
    assert_eq!(sub.granted()[0].1, QoS::ExactlyOnce);
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let payload = format!("payload at {qos:?}");
        pub_client
            .publish(topic.clone(), payload.clone(), qos, false)
            .await
            .expect("publish");
        let m = within("message", sub.recv()).await.expect("a message");
        assert_eq!(m.topic, topic.as_str());
        assert_eq!(&m.payload[..], payload.as_bytes());
        assert_eq!(m.qos, qos);
    }
    sub.unsubscribe().await.expect("unsubscribe");
    pub_client.disconnect().await.expect("disconnect");
    sub_client.disconnect().await.expect("disconnect");
}

/// Publishing (and awaiting the acknowledgement) from inside the loop that consumes
/// messages never deadlocks, even with a tiny buffer and window.
pub async fn publish_from_handler(addr: SocketAddr, version: ProtocolVersion) {
    let n = 300;
    let suffix = rand_suffix();
    let (req_t, resp_t) = (format!("hdl/{suffix}/req"), format!("hdl/{suffix}/resp"));
    let mut o = opts(addr, version).max_outstanding(2);
    o.max_buffered_messages = 4;
    o.session.max_inflight = 2;
    let handler = Client::connect(o).await.expect("connect handler");
    let mut reqs = handler
        .subscribe(req_t.clone(), QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    let h = handler.clone();
    let resp_topic = resp_t.clone();
    let task = tokio::spawn(async move {
        for _ in 0..n {
            let m = reqs.recv().await.expect("request");
            h.publish(
                resp_topic.clone(),
                m.payload.clone(),
                QoS::AtLeastOnce,
                false,
            )
            .await
            .expect("publish from the handler");
        }
    });
    let other = Client::connect(opts(addr, version)).await.expect("connect");
    let mut resps = other
        .subscribe(resp_t, QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    let mut deliveries = Vec::new();
    for i in 0..n {
        let d = other.enqueue(Message::new(
            req_t.clone(),
            format!("{i}"),
            QoS::AtLeastOnce,
        ));
        deliveries.push(d.await.expect("enqueue"));
    }
    for d in deliveries {
        within("request acked", d).await.expect("request acked");
    }
    let mut got = 0;
    while got < n {
        if tokio::time::timeout(LONG, resps.recv()).await.is_err() {
            panic!("timed out after {got} of {n} responses");
        }
        got += 1;
    }
    within("handler", task).await.expect("handler task");
    other.disconnect().await.expect("disconnect");
    handler.disconnect().await.expect("disconnect");
}

/// QoS 1 and 2 messages published while the publisher's TCP connection is cut again and
/// again all arrive: QoS 1 at least once, QoS 2 exactly once (MQTT-4.4.0-1: unacknowledged
/// messages are resent with DUP on the resumed session).
pub async fn cut_mid_flight(addr: SocketAddr, version: ProtocolVersion) {
    let proxy = Proxy::start(addr).await;
    let proxied: SocketAddr = ([127, 0, 0, 1], proxy.port).into();
    let suffix = rand_suffix();
    let topic = format!("cut/{suffix}");
    let sub_client = Client::connect(opts(addr, version))
        .await
        .expect("connect subscriber");
    let mut sub = sub_client
        .subscribe(format!("{topic}/+"), QoS::ExactlyOnce)
        .await
        .expect("sub");
    let publisher = Client::connect(persistent(proxied, version, &format!("cut-pub-{suffix}")))
        .await
        .expect("connect publisher");
    let mut events = publisher.events();
    let n = 400;
    let cutter = tokio::spawn(async move {
        for _ in 0..5 {
            tokio::time::sleep(Duration::from_millis(60)).await;
            proxy.cut();
        }
        proxy
    });
    let mut deliveries = Vec::new();
    for i in 0..n {
        let qos = if i % 2 == 0 {
            QoS::AtLeastOnce
        } else {
            QoS::ExactlyOnce
        };
        let m = Message::new(format!("{topic}/{}", i % 2 + 1), format!("{i}"), qos);
        deliveries.push(publisher.enqueue(m).await.expect("enqueue"));
        if i % 40 == 0 {
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
    }
    for d in deliveries {
        within("publish acknowledged", d)
            .await
            .expect("publish acknowledged");
    }
    let _proxy = cutter.await.expect("cutter");
    let mut counts: HashMap<u32, u32> = HashMap::new();
    while counts.len() < n as usize {
        let Ok(m) = tokio::time::timeout(LONG, sub.recv()).await else {
            let missing: Vec<u32> = (0..n).filter(|i| !counts.contains_key(i)).collect();
            panic!(
                "{version:?}: missing {} messages: {missing:?}",
                missing.len()
            );
        };
        let m = m.expect("message");
        let i: u32 = std::str::from_utf8(&m.payload)
            .expect("utf8")
            .parse()
            .expect("number");
        *counts.entry(i).or_default() += 1;
    }
    // Give duplicates a moment to show up, then check QoS 2 came exactly once.
    while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(300), sub.recv()).await {
        let i: u32 = std::str::from_utf8(&m.payload)
            .expect("utf8")
            .parse()
            .expect("number");
        *counts.entry(i).or_default() += 1;
    }
    for (i, c) in &counts {
        if i % 2 == 1 {
            assert_eq!(*c, 1, "QoS 2 message {i} delivered {c} times");
        }
    }
    let mut saw_reconnect = false;
    while let Some(e) = events.try_recv() {
        saw_reconnect |= matches!(e, Event::Reconnecting { .. });
    }
    assert!(saw_reconnect, "the proxy cut never caused a reconnect");
    publisher.disconnect().await.expect("disconnect");
    sub_client.disconnect().await.expect("disconnect");
}

/// A subscriber whose connection is cut: its persistent session keeps the subscription
/// on the broker (or the client subscribes again when the broker had none), and every
/// message published while it is away arrives after the reconnect: QoS 1 at least once,
/// QoS 2 exactly once (MQTT-4.3.3-10: the resent PUBLISH of a message already delivered is
/// not delivered again).
pub async fn subscriber_cut(addr: SocketAddr, version: ProtocolVersion) {
    for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
        subscriber_cut_at(addr, version, qos).await;
    }
}

async fn subscriber_cut_at(addr: SocketAddr, version: ProtocolVersion, qos: QoS) {
    let proxy = Proxy::start(addr).await;
    let proxied: SocketAddr = ([127, 0, 0, 1], proxy.port).into();
    let suffix = rand_suffix();
    let topic = format!("subcut/{suffix}");
    let sub_client = Client::connect(persistent(proxied, version, &format!("subcut-{suffix}")))
        .await
        .expect("connect subscriber");
    let mut events = sub_client.events();
    let mut sub = sub_client.subscribe(topic.clone(), qos).await.expect("sub");
    let publisher = Client::connect(opts(addr, version))
        .await
        .expect("connect publisher");
    let n = 200u32;
    let mut counts: HashMap<String, u32> = HashMap::new();
    for i in 0..n {
        if i % 50 == 25 {
            proxy.cut();
        }
        publisher
            .publish(topic.clone(), format!("{i}"), qos, false)
            .await
            .expect("pub");
        // Take what is there, so some acknowledgements are in flight at each cut.
        while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(1), sub.recv()).await {
            *counts
                .entry(String::from_utf8(m.payload.to_vec()).expect("utf8"))
                .or_default() += 1;
        }
    }
    while counts.len() < n as usize {
        let m = within("all messages after the cuts", sub.recv())
            .await
            .expect("message");
        *counts
            .entry(String::from_utf8(m.payload.to_vec()).expect("utf8"))
            .or_default() += 1;
    }
    while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(300), sub.recv()).await {
        *counts
            .entry(String::from_utf8(m.payload.to_vec()).expect("utf8"))
            .or_default() += 1;
    }
    if qos == QoS::ExactlyOnce {
        let dups: Vec<_> = counts.iter().filter(|(_, c)| **c > 1).collect();
        assert!(dups.is_empty(), "QoS 2 delivered more than once: {dups:?}");
    }
    let mut saw = (false, false);
    while let Some(e) = events.try_recv() {
        saw.0 |= matches!(e, Event::Disconnected { .. });
        saw.1 |= matches!(e, Event::Connected { .. });
    }
    assert!(
        saw.0 && saw.1,
        "expected Disconnected then Connected events: {saw:?}"
    );
    publisher.disconnect().await.expect("disconnect");
    sub_client.disconnect().await.expect("disconnect");
}

/// A broker that stops reading: publishers wait for room instead of queueing without
/// bound, the connection task keeps running, and everything completes once it reads again.
pub async fn backpressure(addr: SocketAddr, version: ProtocolVersion) {
    let proxy = Proxy::start(addr).await;
    let proxied: SocketAddr = ([127, 0, 0, 1], proxy.port).into();
    let client = Client::connect(opts(proxied, version).max_outstanding(8))
        .await
        .expect("connect");
    let topic = format!("bp/{}", rand_suffix());
    proxy.stall(true);
    let mut deliveries = Vec::new();
    for i in 0..8 {
        let m = Message::new(topic.clone(), vec![i as u8; 64 * 1024], QoS::AtLeastOnce);
        deliveries.push(client.enqueue(m).await.expect("room for 8"));
    }
    // The ninth publish must wait for room while the broker does not read.
    let blocked = client.enqueue(Message::new(topic.clone(), "9", QoS::AtLeastOnce));
    tokio::pin!(blocked);
    let early = tokio::time::timeout(Duration::from_millis(300), &mut blocked).await;
    assert!(
        early.is_err(),
        "publish did not wait for room under a stalled broker"
    );
    // The connection task is not blocked: a handle call that needs it still answers.
    let _stream = client.messages();
    proxy.stall(false);
    let ninth = within("room after the stall", blocked)
        .await
        .expect("enqueue");
    for d in deliveries {
        within("acknowledged after the stall", d)
            .await
            .expect("acked");
    }
    within("ninth acked", ninth).await.expect("acked");
    client.disconnect().await.expect("disconnect");
}

pub fn rand_suffix() -> String {
    format!("{:08x}", rand::random::<u32>())
}

/// Two clients with the same id: the first is taken over and, with reconnection off,
/// reports `Disconnected` (with `expected` as its reason code when given), then `Closed`,
/// and its commands fail with `Error::Closed`.
pub async fn takeover(addr: SocketAddr, expected: Option<petrel_client::ReasonCode>) {
    let o = opts(addr, ProtocolVersion::V5)
        .client_id(format!("takeover-{}", rand_suffix()))
        .reconnect(ReconnectOptions::disabled());
    let first = Client::connect(o.clone()).await.expect("connect");
    let mut events = first.events();
    let second = Client::connect(o).await.expect("connect");
    let reason = loop {
        match within("Disconnected", events.recv()).await {
            Some(Event::Disconnected { reason }) => break reason,
            Some(_) => continue,
            None => panic!("no Disconnected event"),
        }
    };
    if let Some(code) = expected {
        assert_eq!(reason.reason_code(), code, "{reason:?}");
    }
    assert_eq!(within("Closed", events.recv()).await, Some(Event::Closed));
    let r = first.publish("x", "y", QoS::AtLeastOnce, false).await;
    assert_eq!(r, Err(petrel_client::Error::Closed));
    second.disconnect().await.expect("disconnect");
}
