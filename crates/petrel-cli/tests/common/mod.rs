//! Helpers of the tests that run `petreld` as a child process.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The broker binary built for these tests.
pub const PETRELD: &str = env!("CARGO_BIN_EXE_petreld");

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// A running `petreld`, killed when dropped.
pub struct Daemon(pub Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Daemon {
    /// Starts `petreld args --log-level warn` in `cwd` (stdout discarded, stderr as given)
    /// and waits until each of `ports` on 127.0.0.1 accepts connections.
    pub fn start(cwd: &Path, args: &[&str], stderr: Stdio, ports: &[u16]) -> Self {
        let child = Command::new(PETRELD)
            .current_dir(cwd)
            .args(args)
            .args(["--log-level", "warn"])
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("petreld starts");
        let daemon = Self(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        for &port in ports {
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "petreld did not listen on {port}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        daemon
    }
}
