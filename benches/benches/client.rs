//! Client-side publish throughput: petrel-client against rumqttc, both publishing to the
//! same Mosquitto broker (started here on a free port) in the same run, MQTT 3.1.1, QoS 0
//! and QoS 1, the same in-flight window (20, Mosquitto's default maximum).
//!
//! One iteration publishes a batch of 1000 messages of 64 bytes and waits until the batch
//! is done: for QoS 0 until every message was handed to the socket (petrel: `Delivery`
//! resolved; rumqttc: `Outgoing::Publish` seen), for QoS 1 until every PUBACK arrived.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use petrel_client::{Client, ConnectOptions, Message, ProtocolVersion, QoS};
use tokio::sync::Notify;

const BATCH: u64 = 1000;
const PAYLOAD: usize = 64;
const INFLIGHT: u16 = 20;

struct Mosquitto(Child);

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn mosquitto() -> (Mosquitto, u16) {
    let bin = "/usr/sbin/mosquitto";
    assert!(
        std::path::Path::new(bin).exists(),
        "{bin} is missing: install mosquitto"
    );
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let conf = std::env::temp_dir().join(format!("petrel-bench-client-{port}.conf"));
    std::fs::write(
        &conf,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n"),
    )
    .expect("conf");
    let child = Command::new(bin)
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start mosquitto");
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "mosquitto did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    (Mosquitto(child), port)
}

/// Counts what rumqttc's event loop reports.
#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    acked: AtomicU64,
    changed: Notify,
}

async fn wait_for(counter: &AtomicU64, changed: &Notify, target: u64) {
    while counter.load(Ordering::Acquire) < target {
        changed.notified().await;
    }
}

fn rumqttc_client(port: u16) -> (rumqttc::AsyncClient, Arc<Counters>) {
    let mut o = rumqttc::MqttOptions::new("bench-rumqttc", "127.0.0.1", port);
    o.set_inflight(INFLIGHT);
    o.set_keep_alive(Duration::from_secs(60));
    let (client, mut el) = rumqttc::AsyncClient::new(o, 1024);
    let counters = Arc::new(Counters::default());
    let c = Arc::clone(&counters);
    tokio::spawn(async move {
        loop {
            match el.poll().await {
                Ok(rumqttc::Event::Outgoing(rumqttc::Outgoing::Publish(_))) => {
                    c.sent.fetch_add(1, Ordering::AcqRel);
                    c.changed.notify_one();
                }
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_))) => {
                    c.acked.fetch_add(1, Ordering::AcqRel);
                    c.changed.notify_one();
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    });
    (client, counters)
}

fn publish_throughput(c: &mut Criterion) {
    let (_broker, port) = mosquitto();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let petrel = rt.block_on(async {
        let mut o = ConnectOptions::new("127.0.0.1", port)
            .version(ProtocolVersion::V3_1_1)
            .client_id("bench-petrel")
            .max_outstanding(4096);
        o.mqtt3_max_inflight = INFLIGHT;
        Client::connect(o).await.expect("petrel connect")
    });
    let (rumq, counters) = rt.block_on(async { rumqttc_client(port) });
    let payload = bytes::Bytes::from(vec![7u8; PAYLOAD]);

    let mut g = c.benchmark_group("client_publish");
    g.throughput(Throughput::Elements(BATCH));
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(5));
    for (name, qos, rqos) in [
        ("qos0", QoS::AtMostOnce, rumqttc::QoS::AtMostOnce),
        ("qos1", QoS::AtLeastOnce, rumqttc::QoS::AtLeastOnce),
    ] {
        g.bench_function(format!("petrel/{name}"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let mut pending = Vec::with_capacity(BATCH as usize);
                        for _ in 0..BATCH {
                            let m = Message::new("bench/petrel", payload.clone(), qos);
                            pending.push(petrel.enqueue(m).await.expect("enqueue"));
                        }
                        for d in pending {
                            d.await.expect("delivered");
                        }
                    }
                    start.elapsed()
                })
            });
        });
        g.bench_function(format!("rumqttc/{name}"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let target = match rqos {
                            rumqttc::QoS::AtMostOnce => &counters.sent,
                            _ => &counters.acked,
                        };
                        let goal = target.load(Ordering::Acquire) + BATCH;
                        for _ in 0..BATCH {
                            rumq.publish_bytes("bench/rumqttc", rqos, false, payload.clone())
                                .await
                                .expect("publish");
                        }
                        wait_for(target, &counters.changed, goal).await;
                    }
                    start.elapsed()
                })
            });
        });
    }
    g.finish();
    rt.block_on(async {
        let _ = petrel.disconnect().await;
        let _ = rumq.disconnect().await;
    });
}

criterion_group!(benches, publish_throughput);
criterion_main!(benches);
