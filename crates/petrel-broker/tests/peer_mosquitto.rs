//! Real-peer tests with Mosquitto's command-line clients (`mosquitto_pub`, `mosquitto_sub`,
//! Debian package mosquitto-clients). A missing client fails the test: it is a required
//! peer, installed by `.ci/run`.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::*;
use petrel_codec::{ProtocolVersion, QoS};
use tokio::process::{Child, Command};

fn tool(name: &str) -> Command {
    let mut c = Command::new(name);
    c.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    c
}

/// Runs a client to completion and returns its stdout.
async fn run(name: &str, args: &[&str]) -> String {
    let child = tool(name).args(args).spawn().unwrap_or_else(|e| {
        panic!("{name} must be installed (apt install mosquitto-clients): {e}")
    });
    let out = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{name} {args:?} timed out"))
        .expect("wait");
    assert!(
        out.status.success(),
        "{name} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn spawn(name: &str, args: &[&str]) -> Child {
    tool(name)
        .args(args)
        .spawn()
        .unwrap_or_else(|e| panic!("{name} must be installed (apt install mosquitto-clients): {e}"))
}

async fn output(child: Child) -> String {
    let out = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
        .await
        .expect("subscriber finished in time")
        .expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The README walk-through: mosquitto_sub receives what mosquitto_pub sent, at each QoS
/// and in both protocol versions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_pub_to_mosquitto_sub_each_qos_and_version() {
    let broker = start().await;
    let port = broker.local_addr().port().to_string();
    for version in ["mqttv31", "mqttv311", "mqttv5"] {
        for qos in ["0", "1", "2"] {
            let topic = format!("m/{version}/{qos}");
            let sub = spawn(
                "mosquitto_sub",
                &[
                    "-p", &port, "-V", version, "-q", qos, "-t", &topic, "-C", "1",
                ],
            );
            eventually(|| broker.subscription_count() == 1).await;
            let msg = format!("hello {version} {qos}");
            run(
                "mosquitto_pub",
                &[
                    "-p", &port, "-V", version, "-q", qos, "-t", &topic, "-m", &msg,
                ],
            )
            .await;
            assert_eq!(output(sub).await.trim(), msg);
            eventually(|| broker.subscription_count() == 0).await;
        }
    }
}

/// Retained messages and MQTT 5 user properties through the Mosquitto clients.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_retained_and_user_properties() {
    let broker = start().await;
    let port = broker.local_addr().port().to_string();
    run(
        "mosquitto_pub",
        &[
            "-p",
            &port,
            "-V",
            "mqttv5",
            "-t",
            "ret/x",
            "-m",
            "kept",
            "-r",
            "-q",
            "1",
            "-D",
            "publish",
            "user-property",
            "color",
            "blue",
        ],
    )
    .await;
    let out = run(
        "mosquitto_sub",
        &[
            "-p",
            &port,
            "-V",
            "mqttv5",
            "-t",
            "ret/#",
            "-C",
            "1",
            "-F",
            "%t %r %p %P",
        ],
    )
    .await;
    let line = out.trim();
    assert!(line.starts_with("ret/x 1 kept"), "{line}");
    assert!(line.contains("color") && line.contains("blue"), "{line}");
    // Empty retained payload deletes (MQTT-3.3.1-6/-7).
    run("mosquitto_pub", &["-p", &port, "-t", "ret/x", "-r", "-n"]).await;
    eventually(|| broker.retained_count() == 0).await;
}

/// A will set by mosquitto_sub is published when the process is killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_will_on_kill() {
    let broker = start().await;
    let addr = broker.local_addr();
    let port = addr.port().to_string();
    let mut watcher = Raw::connect(addr, ProtocolVersion::V3_1_1, "watcher").await;
    watcher.subscribe("will/mosq", QoS::AtLeastOnce).await;
    let mut child = spawn(
        "mosquitto_sub",
        &[
            "-p",
            &port,
            "-t",
            "x",
            "--will-topic",
            "will/mosq",
            "--will-payload",
            "dead",
            "--will-qos",
            "1",
        ],
    );
    eventually(|| broker.subscription_count() == 2).await;
    child.kill().await.expect("kill");
    assert_eq!(&watcher.next_publish().await.unwrap().payload[..], b"dead");
}

/// Persistent sessions: a subscriber with clean session off (MQTT 3.1.1) or a session
/// expiry (MQTT 5) gets the messages queued while it was away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_persistent_session_queue() {
    let broker = start().await;
    let port = broker.local_addr().port().to_string();
    for (version, extra) in [("mqttv311", vec![]), ("mqttv5", vec!["-x", "60"])] {
        let id = format!("mq-{version}");
        let topic = format!("pq/{version}");
        let mut args = vec![
            "-p", &port, "-V", version, "-c", "-i", &id, "-q", "1", "-t", &topic, "-E",
        ];
        args.extend(extra.iter().copied());
        run("mosquitto_sub", &args).await;
        for m in ["one", "two"] {
            run(
                "mosquitto_pub",
                &["-p", &port, "-q", "1", "-t", &topic, "-m", m],
            )
            .await;
        }
        let mut args = vec![
            "-p", &port, "-V", version, "-c", "-i", &id, "-q", "1", "-t", &topic, "-C", "2",
        ];
        args.extend(extra.iter().copied());
        let out = run("mosquitto_sub", &args).await;
        assert_eq!(out.lines().collect::<Vec<_>>(), vec!["one", "two"]);
    }
}

/// Shared subscriptions through mosquitto_sub: two members share four messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_shared_subscription() {
    let broker = start().await;
    let port = broker.local_addr().port().to_string();
    let a = spawn(
        "mosquitto_sub",
        &[
            "-p",
            &port,
            "-V",
            "mqttv5",
            "-q",
            "1",
            "-t",
            "$share/g/work",
            "-C",
            "2",
        ],
    );
    let b = spawn(
        "mosquitto_sub",
        &[
            "-p",
            &port,
            "-V",
            "mqttv5",
            "-q",
            "1",
            "-t",
            "$share/g/work",
            "-C",
            "2",
        ],
    );
    eventually(|| broker.subscription_count() == 2).await;
    for i in 0..4 {
        run(
            "mosquitto_pub",
            &["-p", &port, "-q", "1", "-t", "work", "-m", &format!("w{i}")],
        )
        .await;
    }
    let mut all: Vec<String> = output(a)
        .await
        .lines()
        .chain(output(b).await.lines())
        .map(String::from)
        .collect();
    all.sort();
    assert_eq!(all, vec!["w0", "w1", "w2", "w3"]);
}
