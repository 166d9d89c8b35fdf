//! `petreld --metrics ADDR` serves Prometheus metrics over HTTP.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::{Duration, Instant};

mod common;

use common::{free_port, Daemon};

fn get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).expect("response");
    out
}

#[test]
fn metrics_flag_serves_prometheus_text() {
    let (mqtt, metrics) = (free_port(), free_port());
    let dir = std::env::temp_dir().join(format!("petreld-metrics-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (listen, metrics_addr) = (format!("127.0.0.1:{mqtt}"), format!("127.0.0.1:{metrics}"));
    let daemon = Daemon::start(
        &dir,
        &["--listen", &listen, "--metrics", &metrics_addr],
        Stdio::null(),
        &[metrics],
    );
    // One MQTT connection, then the scrape counts it.
    let mqtt_conn = TcpStream::connect(("127.0.0.1", mqtt)).expect("mqtt");
    let mut response = get(metrics, "/metrics");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !response.contains("\npetrel_connections_total 1\n") {
        assert!(Instant::now() < deadline, "{response}");
        std::thread::sleep(Duration::from_millis(20));
        response = get(metrics, "/metrics");
    }
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.contains("# TYPE petrel_messages_received_total counter"));
    assert!(response.contains("petrel_messages_received_total{qos=\"1\"} 0"));
    assert!(get(metrics, "/").starts_with("HTTP/1.1 404"));
    drop(mqtt_conn);
    drop(daemon);
    let _ = std::fs::remove_dir_all(&dir);
}
