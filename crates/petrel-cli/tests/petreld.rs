//! The `petreld` binary: configuration errors, serving Mosquitto's clients (the README
//! walk-through), and graceful shutdown on SIGTERM (DISCONNECT 0x8B to MQTT 5 clients).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{free_port, Daemon, PETRELD};

/// A fresh working directory, so that each petreld gets its own default data directory
/// (`petrel-data`, relative; one broker at a time may use it).
fn scratch_cwd() -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("petreld-cwd-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn start(port: u16) -> Daemon {
    let listen = format!("127.0.0.1:{port}");
    Daemon::start(
        &scratch_cwd(),
        &["--listen", &listen],
        Stdio::piped(),
        &[port],
    )
}

#[test]
fn bad_config_names_key_and_line() {
    let dir = std::env::temp_dir().join(format!("petreld-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(
        &path,
        "[limits]\nmax_packet_size = 2048\nmax_conections = 5\n",
    )
    .unwrap();
    let out = Command::new(PETRELD)
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:3:"), "{err}");
    assert!(err.contains("max_conections"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn example_config_is_accepted() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../petreld.example.toml");
    let port = free_port();
    // The example listens on 1883; --listen overrides it so the test does not clash.
    let mut child = Command::new(PETRELD)
        .current_dir(scratch_cwd())
        .args([
            "--config",
            example,
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            panic!("petreld exited with {status}: {err}");
        }
        assert!(Instant::now() < deadline, "petreld did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The README walk-through: mosquitto_sub receives what mosquitto_pub sent.
#[test]
fn mosquitto_sub_receives_mosquitto_pub() {
    let port = free_port();
    let _daemon = start(port);
    let p = port.to_string();
    let sub = Command::new("mosquitto_sub")
        .args(["-p", &p, "-t", "readme/hello", "-C", "1", "-W", "10"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("mosquitto_sub must be installed (apt install mosquitto-clients)");
    // Publish until the subscriber has subscribed and received one message.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut sub = sub;
    loop {
        let status = Command::new("mosquitto_pub")
            .args(["-p", &p, "-t", "readme/hello", "-m", "hello from petreld"])
            .status()
            .expect("mosquitto_pub must be installed (apt install mosquitto-clients)");
        assert!(status.success());
        if sub.try_wait().unwrap().is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "mosquitto_sub got nothing");
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut out = String::new();
    sub.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    assert_eq!(out.trim(), "hello from petreld");
}

/// SIGTERM: stop accepting, DISCONNECT 0x8B to MQTT 5 clients, exit 0.
#[test]
fn sigterm_disconnects_v5_clients_with_0x8b() {
    let port = free_port();
    let mut daemon = start(port);
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // MQTT 5 CONNECT, clean start, keep-alive 60, no properties, empty client id.
    s.write_all(&[
        0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 5, 0x02, 0, 60, 0, 0, 0,
    ])
    .unwrap();
    let mut connack = [0u8; 2];
    s.read_exact(&mut connack).unwrap();
    assert_eq!(connack[0], 0x20);
    let mut rest = vec![0u8; usize::from(connack[1])];
    s.read_exact(&mut rest).unwrap();
    assert_eq!(rest[1], 0, "CONNACK success");
    let pid = daemon.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let mut disconnect = [0u8; 3];
    s.read_exact(&mut disconnect).unwrap();
    assert_eq!(disconnect[0], 0xE0);
    assert_eq!(disconnect[2], 0x8B, "Server shutting down");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = daemon.0.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(Instant::now() < deadline, "petreld did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "still accepting"
    );
}
