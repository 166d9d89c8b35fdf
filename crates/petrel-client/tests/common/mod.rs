//! Test peers: a Mosquitto broker started on a free port, the Petrel broker in process,
//! and a TCP proxy that can cut or stall the connections going through it.
#![allow(dead_code)]

pub mod scenarios;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub const MOSQUITTO: &str = "/usr/sbin/mosquitto";

static NEXT: AtomicU64 = AtomicU64::new(0);

/// A fresh scratch directory for this test process.
pub fn scratch_dir(tag: &str) -> PathBuf {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("petrel-client-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// A free TCP port on 127.0.0.1 (bound once and released).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// A Mosquitto broker process, killed on drop.
pub struct Mosquitto {
    pub port: u16,
    conf: PathBuf,
    child: Option<Child>,
}

impl Mosquitto {
    /// Starts Mosquitto with `listener PORT 127.0.0.1` + `allow_anonymous true` and any
    /// `extra` configuration lines. Panics (fails the test) when Mosquitto is missing.
    pub async fn start_with(extra: &str) -> Self {
        assert!(
            std::path::Path::new(MOSQUITTO).exists(),
            "{MOSQUITTO} is missing: install the Debian package mosquitto"
        );
        for _ in 0..5 {
            let port = free_port();
            let dir = scratch_dir("mosquitto");
            let conf = dir.join("mosquitto.conf");
            let text = format!("listener {port} 127.0.0.1\nallow_anonymous true\n{extra}\n");
            std::fs::write(&conf, text).expect("write conf");
            let mut m = Self {
                port,
                conf,
                child: None,
            };
            if m.spawn().await {
                return m;
            }
        }
        panic!("could not start mosquitto on a free port");
    }

    /// Plain Mosquitto.
    pub async fn start() -> Self {
        Self::start_with("").await
    }

    /// Starts the process; false when it exited at once (the port was taken by someone
    /// else between our probe and Mosquitto's bind).
    async fn spawn(&mut self) -> bool {
        let mut child = Command::new(MOSQUITTO)
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto");
        wait_for_port(self.port).await;
        tokio::time::sleep(Duration::from_millis(30)).await;
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        self.child = Some(child);
        true
    }

    /// Kills the broker (its sessions are lost: no persistence) and starts it again on
    /// the same port.
    pub async fn restart(&mut self) {
        self.stop();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            self.spawn().await,
            "mosquitto did not restart on port {}",
            self.port
        );
    }

    /// Kills the broker.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Waits until something accepts connections on 127.0.0.1:`port`.
pub async fn wait_for_port(port: u16) {
    for _ in 0..200 {
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("nothing listens on port {port}");
}

/// A TCP proxy in front of `target`. `cut()` drops every live connection; `stall(true)`
/// stops forwarding client-to-server bytes (a broker that stopped reading).
pub struct Proxy {
    pub port: u16,
    generation: watch::Sender<u64>,
    stalled: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let (generation, _) = watch::channel(0u64);
        let stalled = Arc::new(AtomicBool::new(false));
        let gen_tx = generation.clone();
        let st = Arc::clone(&stalled);
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let Ok(server) = TcpStream::connect(target).await else {
                    continue;
                };
                let mut cut = gen_tx.subscribe();
                let st = Arc::clone(&st);
                tokio::spawn(async move {
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    let up = async {
                        let mut buf = vec![0u8; 16 * 1024];
                        loop {
                            while st.load(Ordering::Acquire) {
                                tokio::time::sleep(Duration::from_millis(10)).await;
                            }
                            let n = cr.read(&mut buf).await?;
                            if n == 0 {
                                return Ok::<_, std::io::Error>(());
                            }
                            sw.write_all(&buf[..n]).await?;
                        }
                    };
                    let down = async {
                        let mut buf = vec![0u8; 16 * 1024];
                        loop {
                            let n = sr.read(&mut buf).await?;
                            if n == 0 {
                                return Ok::<_, std::io::Error>(());
                            }
                            cw.write_all(&buf[..n]).await?;
                        }
                    };
                    tokio::select! {
                        _ = up => {}
                        _ = down => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Self {
            port,
            generation,
            stalled,
            task,
        }
    }

    /// Drops every connection open now (new ones are accepted).
    pub fn cut(&self) {
        self.generation.send_modify(|g| *g += 1);
    }

    /// Stops or resumes forwarding bytes from the client to the server.
    pub fn stall(&self, on: bool) {
        self.stalled.store(on, Ordering::Release);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
        self.cut();
    }
}
