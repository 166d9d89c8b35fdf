//! A Mosquitto broker on a free loopback port for the duration of a test.
//!
//! The tests need Mosquitto (`apt-get install mosquitto`, done by `.ci/run`): when it is
//! missing they fail instead of skipping, so a green run always means the load generator
//! really talked to a broker.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running Mosquitto, killed on drop.
pub struct Mosquitto {
    child: Child,
    dir: PathBuf,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
}

fn mosquitto_binary() -> PathBuf {
    let candidates = [
        "/usr/sbin/mosquitto",
        "/usr/local/sbin/mosquitto",
        "/usr/bin/mosquitto",
    ];
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("mosquitto is required for these tests (apt-get install mosquitto); looked in {candidates:?}"))
}

impl Mosquitto {
    /// Starts Mosquitto with anonymous access on a free port and waits until it accepts
    /// connections.
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let dir =
            std::env::temp_dir().join(format!("petrel-bench-test-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let conf = dir.join("mosquitto.conf");
        // max_queued_messages 0: Mosquitto 2.0.11 drops QoS 1/2 messages for a subscriber
        // fed by several publishers well below its default limit of 1000 queued messages,
        // even when the load generator keeps fewer than that in flight; without the limit it
        // delivers everything, which is what these tests check our accounting against.
        std::fs::write(
            &conf,
            format!("listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n"),
        )
        .expect("write config");
        let child = Command::new(mosquitto_binary())
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto");
        let broker = Self { child, dir, port };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "mosquitto did not start listening on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        broker
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
