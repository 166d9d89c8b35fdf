//! Issue 9 crash test: `petreld` on its default disk store runs under QoS 1 and QoS 2 load
//! from several publishers and two persistent subscribers, and is killed with SIGKILL at
//! random moments and restarted on the same data directory, several times. At the end,
//! every message whose PUBACK (QoS 1) or PUBCOMP (QoS 2) a publisher received has been
//! delivered to every persistent subscriber: at least once at QoS 1, exactly once where
//! the subscriber was granted QoS 2 (MQTT-4.3.3: exactly once delivery).

use std::collections::{HashMap, HashSet};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use petrel_codec::{
    Connect, Packet, PacketId, Properties, Property, ProtocolVersion, PubResp, Publish, QoS,
    Subscribe, SubscriptionOptions,
};
use rand::Rng;

const PETRELD: &str = env!("CARGO_BIN_EXE_petreld");
const V5: ProtocolVersion = ProtocolVersion::V5;

/// What each payload was received how many times.
type Received = Arc<Mutex<HashMap<String, u32>>>;

/// A raw MQTT 5 connection over a blocking socket.
struct Link {
    stream: TcpStream,
    buf: BytesMut,
}

impl Link {
    /// Connects; returns the link and the Session Present flag.
    fn connect(port: u16, client_id: &str, clean: bool) -> std::io::Result<(Self, bool)> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_millis(100)))?;
        stream.set_nodelay(true)?;
        let mut link = Self {
            stream,
            buf: BytesMut::new(),
        };
        let mut properties = Properties::new();
        if !clean {
            properties.set(Property::SessionExpiryInterval(u32::MAX));
        }
        link.send(&Packet::Connect(Box::new(Connect {
            protocol: V5,
            clean_start: clean,
            keep_alive: 60,
            client_id: client_id.into(),
            will: None,
            username: None,
            password: None,
            properties,
        })))?;
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            match link.recv()? {
                Some(Packet::ConnAck(ack)) if !ack.reason.is_error() => {
                    return Ok((link, ack.session_present))
                }
                Some(other) => return Err(std::io::Error::other(format!("{other:?}"))),
                None => {}
            }
        }
        Err(std::io::Error::other("no CONNACK"))
    }

    fn send(&mut self, packet: &Packet) -> std::io::Result<()> {
        let mut out = BytesMut::new();
        packet.encode(V5, &mut out).map_err(std::io::Error::other)?;
        self.stream.write_all(&out)
    }

    /// The next packet, or `None` after the read timeout.
    fn recv(&mut self) -> std::io::Result<Option<Packet>> {
        loop {
            match petrel_codec::decode(&mut self.buf, V5, u32::MAX) {
                Ok(Some(p)) => return Ok(Some(p)),
                Ok(None) => {}
                Err(e) => return Err(std::io::Error::other(e)),
            }
            let mut chunk = [0u8; 8192];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Ok(None)
                }
                Err(e) => return Err(e),
            }
        }
    }
}

fn pid(n: u64) -> PacketId {
    PacketId::new((n % 60_000 + 1) as u16).expect("non-zero")
}

/// Publishes `name-1`, `name-2`, ... one at a time, reconnecting whenever the broker is
/// gone; records the payloads whose PUBACK/PUBCOMP arrived.
fn publisher(
    port: u16,
    name: String,
    qos: QoS,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<String>>>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut seq = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let Ok((mut link, _)) = Link::connect(port, &name, true) else {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            };
            'conn: while !stop.load(Ordering::Relaxed) {
                seq += 1;
                let payload = format!("{name}-{seq}");
                let publish = Packet::Publish(Publish {
                    dup: false,
                    qos,
                    retain: false,
                    topic: format!("crash/{name}").into(),
                    packet_id: Some(pid(seq)),
                    properties: Properties::new(),
                    payload: payload.clone().into(),
                });
                if link.send(&publish).is_err() {
                    break;
                }
                let deadline = Instant::now() + Duration::from_secs(5);
                loop {
                    if Instant::now() > deadline {
                        break 'conn;
                    }
                    match link.recv() {
                        Ok(Some(Packet::PubAck(r))) if r.packet_id == pid(seq) => {
                            if !r.reason.is_error() {
                                acked.lock().expect("acked").push(payload);
                            }
                            break;
                        }
                        Ok(Some(Packet::PubRec(r))) if r.packet_id == pid(seq) => {
                            if r.reason.is_error() {
                                break;
                            }
                            if link.send(&Packet::PubRel(PubResp::new(pid(seq)))).is_err() {
                                break 'conn;
                            }
                        }
                        Ok(Some(Packet::PubComp(r))) if r.packet_id == pid(seq) => {
                            acked.lock().expect("acked").push(payload);
                            break;
                        }
                        Ok(_) => {}
                        Err(_) => break 'conn,
                    }
                }
            }
        }
    })
}

/// A persistent subscriber: counts every application message it receives, and keeps
/// its QoS 2 state (ids received, PUBREL not yet seen) across reconnects as MQTT
/// requires, so that a resent QoS 2 PUBLISH is not delivered twice.
fn subscriber(
    port: u16,
    name: String,
    qos: QoS,
    stop: Arc<AtomicBool>,
    ready: Arc<AtomicBool>,
    received: Received,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut awaiting_rel: HashSet<PacketId> = HashSet::new();
        while !stop.load(Ordering::Relaxed) {
            let Ok((mut link, present)) = Link::connect(port, &name, false) else {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            };
            if !present {
                awaiting_rel.clear();
                let subscribe = Packet::Subscribe(Subscribe {
                    packet_id: pid(1),
                    filters: vec![(
                        "crash/#".into(),
                        SubscriptionOptions {
                            qos,
                            ..SubscriptionOptions::default()
                        },
                    )],
                    properties: Properties::new(),
                });
                if link.send(&subscribe).is_err() {
                    continue;
                }
            }
            while !stop.load(Ordering::Relaxed) {
                let reply = match link.recv() {
                    Ok(Some(Packet::SubAck(_))) => {
                        ready.store(true, Ordering::Relaxed);
                        None
                    }
                    Ok(Some(Packet::Publish(p))) => {
                        let payload = String::from_utf8_lossy(&p.payload).into_owned();
                        let count = |received: &Mutex<HashMap<String, u32>>| {
                            *received
                                .lock()
                                .expect("received")
                                .entry(payload.clone())
                                .or_default() += 1;
                        };
                        match (p.qos, p.packet_id) {
                            (QoS::AtLeastOnce, Some(id)) => {
                                count(&received);
                                Some(Packet::PubAck(PubResp::new(id)))
                            }
                            (QoS::ExactlyOnce, Some(id)) => {
                                if awaiting_rel.insert(id) {
                                    count(&received);
                                }
                                Some(Packet::PubRec(PubResp::new(id)))
                            }
                            _ => {
                                count(&received);
                                None
                            }
                        }
                    }
                    Ok(Some(Packet::PubRel(r))) => {
                        awaiting_rel.remove(&r.packet_id);
                        Some(Packet::PubComp(PubResp::new(r.packet_id)))
                    }
                    Ok(_) => None,
                    Err(_) => break,
                };
                if let Some(reply) = reply {
                    if link.send(&reply).is_err() {
                        break;
                    }
                }
            }
        }
    })
}

struct Broker {
    child: Child,
}

impl Broker {
    fn start(config: &std::path::Path, port: u16) -> Self {
        let child = Command::new(PETRELD)
            .arg("--config")
            .arg(config)
            .args(["--log-level", "error"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("petreld starts");
        let mut broker = Self { child };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = broker.child.try_wait() {
                panic!("petreld exited at start-up: {status}");
            }
            assert!(Instant::now() < deadline, "petreld did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        broker
    }

    /// SIGKILL: no shutdown code runs.
    fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn acknowledged_messages_survive_sigkill() {
    let dir = std::env::temp_dir().join(format!("petrel-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let config = dir.join("petreld.toml");
    std::fs::write(
        &config,
        format!(
            "[[listener]]\nbind = \"127.0.0.1:{port}\"\n\n[storage]\ndir = \"{}\"\n",
            dir.join("data").display()
        ),
    )
    .expect("config");
    let mut broker = Broker::start(&config, port);

    let stop_subs = Arc::new(AtomicBool::new(false));
    let mut subscribers = Vec::new();
    let mut subs = Vec::new();
    for (name, qos) in [("sub-q1", QoS::AtLeastOnce), ("sub-q2", QoS::ExactlyOnce)] {
        let ready = Arc::new(AtomicBool::new(false));
        let received = Arc::new(Mutex::new(HashMap::new()));
        subscribers.push(subscriber(
            port,
            name.into(),
            qos,
            stop_subs.clone(),
            ready.clone(),
            received.clone(),
        ));
        subs.push((name, qos, ready, received));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !subs.iter().all(|s| s.2.load(Ordering::Relaxed)) {
        assert!(Instant::now() < deadline, "subscribers did not subscribe");
        std::thread::sleep(Duration::from_millis(20));
    }

    let stop_pubs = Arc::new(AtomicBool::new(false));
    let mut publishers = Vec::new();
    let mut acked = Vec::new();
    for (name, qos) in [
        ("p1a", QoS::AtLeastOnce),
        ("p1b", QoS::AtLeastOnce),
        ("p2a", QoS::ExactlyOnce),
        ("p2b", QoS::ExactlyOnce),
    ] {
        let list = Arc::new(Mutex::new(Vec::new()));
        publishers.push(publisher(
            port,
            name.into(),
            qos,
            stop_pubs.clone(),
            list.clone(),
        ));
        acked.push((qos, list));
    }

    let mut rng = rand::thread_rng();
    let cycles = 8;
    for _ in 0..cycles {
        std::thread::sleep(Duration::from_millis(rng.gen_range(300..1500)));
        broker.kill();
        broker = Broker::start(&config, port);
    }
    std::thread::sleep(Duration::from_millis(500));
    stop_pubs.store(true, Ordering::Relaxed);
    for p in publishers {
        p.join().expect("publisher");
    }

    let acked: Vec<(QoS, Vec<String>)> = acked
        .into_iter()
        .map(|(q, l)| (q, l.lock().expect("acked").clone()))
        .collect();
    let missing = |subs: &[(&str, QoS, Arc<AtomicBool>, Received)]| {
        let mut missing = 0;
        for (_, _, _, received) in subs {
            let received = received.lock().expect("received");
            for (_, list) in &acked {
                missing += list.iter().filter(|m| !received.contains_key(*m)).count();
            }
        }
        missing
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while missing(&subs) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    stop_subs.store(true, Ordering::Relaxed);
    for s in subscribers {
        s.join().expect("subscriber");
    }

    let total: usize = acked.iter().map(|(_, l)| l.len()).sum();
    assert!(
        total > 50,
        "too little load to mean anything: {total} acknowledged"
    );
    let mut checked = 0;
    for (sub, granted, _, received) in &subs {
        let received = received.lock().expect("received");
        for (qos, list) in &acked {
            for m in list {
                let n = received.get(m).copied().unwrap_or(0);
                assert!(n >= 1, "{sub} never received acknowledged message {m}");
                if *qos == QoS::ExactlyOnce && *granted == QoS::ExactlyOnce {
                    assert_eq!(n, 1, "{sub} received QoS 2 message {m} {n} times");
                }
                checked += 1;
            }
        }
        // No QoS 2 message at all, acknowledged or not, arrives twice at QoS 2.
        if *granted == QoS::ExactlyOnce {
            for (m, n) in received.iter() {
                if m.starts_with("p2") {
                    assert_eq!(*n, 1, "{sub} received QoS 2 message {m} {n} times");
                }
            }
        }
    }
    eprintln!(
        "crash test: {cycles} SIGKILL cycles, {total} acknowledged messages, {checked} deliveries checked"
    );
    drop(broker);
    let _ = std::fs::remove_dir_all(&dir);
}
