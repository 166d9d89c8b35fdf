//! Real-peer tests with Eclipse paho-mqtt for Python (MQTT 3.1.1 and 5). Each test runs one
//! scenario of `tests/peers/paho_check.py`; a missing `python3` or paho-mqtt fails the test.

mod common;

use std::time::Duration;

use common::*;

async fn scenario(name: &str) {
    let broker = start().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/paho_check.py");
    let port = broker.local_addr().port().to_string();
    let child = tokio::process::Command::new("python3")
        .args([script, name, "127.0.0.1", &port])
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(30), child)
        .await
        .expect("paho scenario finished in time")
        .expect("python3 must be installed, with paho-mqtt (pip install paho-mqtt)");
    assert!(
        out.status.success(),
        "paho scenario {name} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_pubsub_each_qos_v311_and_v5() {
    scenario("pubsub").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_v311_v5_interop_with_properties() {
    scenario("interop").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_retained() {
    scenario("retained").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_will() {
    scenario("will").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_persistent_session() {
    scenario("persistent").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_shared_subscription() {
    scenario("shared").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_topic_alias() {
    scenario("alias").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_message_expiry() {
    scenario("expiry").await;
}
