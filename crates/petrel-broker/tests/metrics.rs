//! The Prometheus endpoint (`[metrics] listen`): counters scraped over HTTP move by exactly
//! what real clients (rumqttc, MQTT 3.1.1) did; other paths get 404; bad requests are
//! answered or closed without harming the broker.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use common::rumqtt::Rumqtt as Client;
use common::*;
use petrel_broker::Broker;
use rumqttc::QoS as Q4;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A broker with the metrics listener on an ephemeral port.
async fn start_metrics(f: impl FnOnce(&mut petrel_broker::Config)) -> (Broker, SocketAddr) {
    let broker = start_with(|c| {
        c.metrics.listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        f(c);
    })
    .await;
    let addr = broker.metrics_addr().expect("metrics listener");
    (broker, addr)
}

/// Sends `request` as is and reads until the server closes: (status line, body).
async fn http(addr: SocketAddr, request: &[u8]) -> (String, String) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(request).await.expect("write");
    let mut out = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut out))
        .await
        .expect("answered in time")
        .expect("read");
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (
        head.lines().next().unwrap_or("").to_owned(),
        body.to_owned(),
    )
}

async fn get(addr: SocketAddr, path: &str) -> (String, String) {
    let req = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    http(addr, req.as_bytes()).await
}

/// Scrapes `/metrics` into `sample -> value` (a sample is the name with its labels).
async fn scrape(addr: SocketAddr) -> HashMap<String, f64> {
    let (status, body) = get(addr, "/metrics").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').expect("sample line");
            (k.to_owned(), v.parse().expect("number"))
        })
        .collect()
}

/// Difference of one sample between two scrapes.
fn delta(before: &HashMap<String, f64>, after: &HashMap<String, f64>, sample: &str) -> f64 {
    let v = |m: &HashMap<String, f64>| *m.get(sample).unwrap_or_else(|| panic!("no {sample}"));
    v(after) - v(before)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_move_by_what_clients_did() {
    let (broker, metrics) = start_metrics(|_| {}).await;
    let addr = broker.local_addr();
    let mut sub = Client::connect(addr, "m-sub", true).await;
    sub.subscribe("t/#", Q4::ExactlyOnce).await;
    let mut publ = Client::connect(addr, "m-pub", true).await;
    let before = scrape(metrics).await;
    assert_eq!(before["petrel_clients_connected"], 2.0);
    assert_eq!(before["petrel_connections_open"], 2.0);
    assert_eq!(before["petrel_connections_total"], 2.0);
    assert_eq!(before["petrel_subscriptions"], 1.0);
    assert_eq!(before["petrel_sessions"], 2.0);

    publ.publish("t/0", Q4::AtMostOnce, false, "zero").await;
    publ.publish("t/1", Q4::AtLeastOnce, false, "one").await;
    publ.publish("t/2", Q4::ExactlyOnce, false, "two").await;
    // Matches nothing and is not retained: dropped for want of subscribers.
    publ.publish("elsewhere", Q4::AtLeastOnce, false, "lost")
        .await;
    // Retained (store commit awaited before the PUBACK); no subscriber either.
    publ.publish("r/kept", Q4::AtLeastOnce, true, "kept").await;
    // Clients may not publish to $SYS (MQTT 3.1.1: acknowledged and dropped).
    publ.publish("$SYS/x", Q4::AtLeastOnce, false, "no").await;
    for topic in ["t/0", "t/1", "t/2"] {
        assert_eq!(sub.next_publish().await.topic, topic);
    }
    // The subscriber's PUBACK/PUBCOMP may still be on the way; wait for them.
    eventually(|| broker.metrics().queued_messages == 0).await;

    let after = scrape(metrics).await;
    let d = |s: &str| delta(&before, &after, s);
    assert_eq!(d("petrel_messages_received_total{qos=\"0\"}"), 1.0);
    assert_eq!(d("petrel_messages_received_total{qos=\"1\"}"), 4.0);
    assert_eq!(d("petrel_messages_received_total{qos=\"2\"}"), 1.0);
    assert_eq!(d("petrel_messages_sent_total{qos=\"0\"}"), 1.0);
    assert_eq!(d("petrel_messages_sent_total{qos=\"1\"}"), 1.0);
    assert_eq!(d("petrel_messages_sent_total{qos=\"2\"}"), 1.0);
    // Payloads in: "zero"; "one", "lost", "kept", "no"; "two". Out: "zero", "one", "two".
    assert_eq!(d("petrel_payload_bytes_received_total{qos=\"0\"}"), 4.0);
    assert_eq!(d("petrel_payload_bytes_received_total{qos=\"1\"}"), 13.0);
    assert_eq!(d("petrel_payload_bytes_received_total{qos=\"2\"}"), 3.0);
    assert_eq!(d("petrel_payload_bytes_sent_total{qos=\"0\"}"), 4.0);
    assert_eq!(d("petrel_payload_bytes_sent_total{qos=\"1\"}"), 3.0);
    assert_eq!(d("petrel_payload_bytes_sent_total{qos=\"2\"}"), 3.0);
    assert_eq!(
        d("petrel_messages_dropped_total{reason=\"no_subscribers\"}"),
        1.0
    );
    assert_eq!(
        d("petrel_messages_dropped_total{reason=\"not_authorized\"}"),
        1.0
    );
    for reason in ["queue_full", "too_large", "expired", "store_failure"] {
        let sample = format!("petrel_messages_dropped_total{{reason=\"{reason}\"}}");
        assert_eq!(d(&sample), 0.0, "{reason}");
    }
    assert_eq!(after["petrel_retained_messages"], 1.0);
    assert_eq!(after["petrel_messages_queued"], 0.0);
    // Six PUBLISHes in (each at least 2 + topic + payload bytes), three out.
    assert!(d("petrel_bytes_received_total") >= 6.0 * 8.0);
    assert!(d("petrel_bytes_sent_total") >= 3.0 * 7.0);
    // The retained message's commit was awaited: at least one more commit measured, and
    // the histogram is consistent.
    let count = "petrel_store_commit_duration_seconds_count";
    assert!(d(count) >= 1.0);
    let inf = "petrel_store_commit_duration_seconds_bucket{le=\"+Inf\"}";
    assert_eq!(after[inf], after[count]);
    assert_eq!(after["petrel_store_commit_errors_total"], 0.0);
    // Scraping moves no MQTT counter.
    let again = scrape(metrics).await;
    assert_eq!(
        again["petrel_bytes_received_total"],
        after["petrel_bytes_received_total"]
    );
    assert_eq!(again["petrel_connections_total"], 2.0);

    publ.disconnect().await;
    eventually(|| broker.metrics().clients_connected == 1).await;
    let last = scrape(metrics).await;
    assert_eq!(last["petrel_clients_connected"], 1.0);
    assert_eq!(last["petrel_connections_total"], 2.0);
    broker.shutdown(Duration::from_secs(1)).await;
}

/// Queue depth and queue-full drops, with an offline persistent session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_depth_and_queue_full_drops() {
    let (broker, metrics) = start_metrics(|c| c.limits.max_queued_messages = 3).await;
    let addr = broker.local_addr();
    let mut sub = Client::connect(addr, "q-sub", false).await;
    sub.subscribe("q", Q4::AtLeastOnce).await;
    sub.disconnect().await;
    eventually(|| broker.metrics().clients_connected == 0).await;
    let mut publ = Client::connect(addr, "q-pub", true).await;
    // QoS 0 to an offline session is not queued (counted by the time the PUBACKs below
    // arrive: one connection's PUBLISHes are handled in order).
    publ.publish("q", Q4::AtMostOnce, false, "gone").await;
    for i in 0..5 {
        publ.publish("q", Q4::AtLeastOnce, false, &i.to_string())
            .await;
    }
    eventually(|| broker.metrics().messages_dropped == 2).await;
    let m = scrape(metrics).await;
    assert_eq!(m["petrel_messages_queued"], 3.0);
    assert_eq!(m["petrel_session_queue_max"], 3.0);
    assert_eq!(
        m["petrel_messages_dropped_total{reason=\"queue_full\"}"],
        2.0
    );
    assert_eq!(m["petrel_messages_dropped_total{reason=\"offline\"}"], 1.0);
    assert_eq!(m["petrel_messages_received_total{qos=\"1\"}"], 5.0);

    // The subscriber comes back and receives what was kept (drop-oldest: 2, 3, 4).
    let mut sub = Client::connect(addr, "q-sub", false).await;
    for expected in ["2", "3", "4"] {
        assert_eq!(&sub.next_publish().await.payload[..], expected.as_bytes());
    }
    eventually(|| broker.metrics().queued_messages == 0).await;
    let m = scrape(metrics).await;
    assert_eq!(m["petrel_session_queue_max"], 0.0);
    assert_eq!(m["petrel_messages_sent_total{qos=\"1\"}"], 3.0);
    broker.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exposition_format() {
    let (broker, metrics) = start_metrics(|_| {}).await;
    let mut s = TcpStream::connect(metrics).await.unwrap();
    s.write_all(b"GET /metrics?x=1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    for line in body.lines().filter(|l| l.starts_with("# TYPE ")) {
        let name = line.split(' ').nth(2).unwrap();
        assert!(name.starts_with("petrel_"), "{line}");
        assert!(body.contains(&format!("# HELP {name} ")), "{name}");
        if line.ends_with(" counter") {
            assert!(name.ends_with("_total"), "{line}");
        }
    }
    assert!(body.contains("petrel_build_info{version=\""));
    broker.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_paths_and_methods() {
    let (broker, metrics) = start_metrics(|_| {}).await;
    assert_eq!(get(metrics, "/").await.0, "HTTP/1.1 404 Not Found");
    assert_eq!(get(metrics, "/metricsx").await.0, "HTTP/1.1 404 Not Found");
    let post =
        b"POST /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc";
    assert_eq!(
        http(metrics, post).await.0,
        "HTTP/1.1 405 Method Not Allowed"
    );
    // HTTP/1.0 without Host is still served.
    let (status, body) = http(metrics, b"GET /metrics HTTP/1.0\r\n\r\n").await;
    assert_eq!(status, "HTTP/1.0 200 OK");
    assert!(body.contains("petrel_connections_total 0"));
    broker.shutdown(Duration::from_secs(1)).await;
}

/// Garbage, oversized headers and a silent client are answered with an error or closed;
/// the broker (MQTT and metrics) goes on serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_do_not_harm_the_broker() {
    let (broker, metrics) = start_metrics(|_| {}).await;
    let (status, _) = http(metrics, b"\x00\x01\x02 garbage \xff\r\n\r\n").await;
    assert!(
        status.is_empty() || status.starts_with("HTTP/1.1 400"),
        "{status}"
    );
    let (status, _) = http(metrics, b"GET /metrics HTTP/9.9\r\n\r\n").await;
    assert!(
        status.is_empty() || status.starts_with("HTTP/1.1 "),
        "{status}"
    );
    // Headers larger than the read buffer.
    let mut big = b"GET /metrics HTTP/1.1\r\nHost: t\r\nX-Big: ".to_vec();
    big.resize(big.len() + 64 * 1024, b'a');
    big.extend_from_slice(b"\r\n\r\n");
    let mut s = TcpStream::connect(metrics).await.unwrap();
    // The server may close before reading everything; a failed write is fine.
    let _ = s.write_all(&big).await;
    let mut out = Vec::new();
    let read = tokio::time::timeout(WAIT, s.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "oversized request left hanging");
    let head = String::from_utf8_lossy(&out);
    assert!(
        head.is_empty() || head.starts_with("HTTP/1.1 431"),
        "{head}"
    );
    // A client that sends an incomplete request and then nothing is closed (header read
    // timeout, 5 s).
    let mut silent = TcpStream::connect(metrics).await.unwrap();
    silent.write_all(b"GET /metr").await.unwrap();
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), silent.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "silent client never closed");
    // Still serving.
    let mut c = Client::connect(broker.local_addr(), "after", true).await;
    c.publish("x", Q4::AtLeastOnce, false, "ok").await;
    let m = scrape(metrics).await;
    assert_eq!(m["petrel_messages_received_total{qos=\"1\"}"], 1.0);
    assert_eq!(m["petrel_clients_connected"], 1.0);
    broker.shutdown(Duration::from_secs(1)).await;
}

/// The listener is off unless configured.
#[tokio::test]
async fn off_by_default() {
    let broker = start().await;
    assert_eq!(broker.metrics_addr(), None);
    broker.shutdown(Duration::from_secs(1)).await;
}

/// Refused connections are counted by reason: bad credentials (CONNACK 0x86), anonymous
/// access refused (0x87), an unknown authentication method (0x8C, "other"), and the
/// connection limit (closed before any byte is read).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connections_by_reason() {
    use petrel_codec::{Property, ProtocolVersion, ReasonCode};
    let passwd = std::env::temp_dir().join(format!("petrel-metrics-passwd-{}", std::process::id()));
    std::fs::write(&passwd, "# nobody may log in\n").expect("write password file");
    let (broker, metrics) = start_metrics(|c| {
        c.auth.password_file = Some(passwd.clone());
        c.auth.allow_anonymous = Some(false);
        c.auth.max_failures = 100;
        c.limits.max_connections = 1;
    })
    .await;
    let addr = broker.local_addr();
    let before = scrape(metrics).await;
    let refused = |id: &str| {
        let mut c = connect_packet(ProtocolVersion::V5, id);
        c.clean_start = true;
        c
    };
    let mut bad_password = refused("r-pass");
    bad_password.username = Some("nobody".into());
    bad_password.password = Some("guess".into());
    let mut bad_method = refused("r-method");
    bad_method
        .properties
        .set(Property::AuthenticationMethod("NO-SUCH-METHOD".into()));
    for (connect, code) in [
        (bad_password, ReasonCode::BadUserNameOrPassword),
        (refused("r-anon"), ReasonCode::NotAuthorized),
        (bad_method, ReasonCode::BadAuthenticationMethod),
    ] {
        let (_raw, ack) = Raw::connect_with(addr, connect).await;
        assert_eq!(ack.reason, code);
    }
    // One connection open (no CONNECT yet) fills the limit: the next is closed at once.
    let _held = TcpStream::connect(addr).await.expect("connect");
    eventually(|| broker.metrics().connections_open == 1).await;
    let mut over = TcpStream::connect(addr).await.expect("connect");
    let mut byte = [0u8; 1];
    let n = tokio::time::timeout(WAIT, over.read(&mut byte))
        .await
        .expect("closed in time")
        .unwrap_or(0);
    assert_eq!(n, 0, "the connection over the limit is closed");

    let after = scrape(metrics).await;
    let d = |reason: &str| {
        delta(
            &before,
            &after,
            &format!("petrel_connections_refused_total{{reason=\"{reason}\"}}"),
        )
    };
    assert_eq!(d("bad_credentials"), 1.0);
    assert_eq!(d("not_authorized"), 1.0);
    assert_eq!(d("other"), 1.0);
    assert_eq!(d("connection_limit"), 1.0);
    assert_eq!(d("address"), 0.0);
    assert_eq!(d("pending_connects"), 0.0);
    assert_eq!(broker.metrics().connections_refused, 4);
    let _ = std::fs::remove_file(passwd);
}
