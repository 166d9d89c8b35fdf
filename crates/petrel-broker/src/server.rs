//! Listeners, the accept loop and the handle that runs and stops a broker.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use petrel_store::{MemoryStore, Store};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::core::Core;
use crate::metrics::store::TimedStore;
use crate::metrics::{Metrics, MetricsSnapshot, RefuseReason, StoreMetrics};
use crate::security::{Access, Security};
use crate::transport::{Admitted, Endpoint};

/// Why a broker could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: io::Error,
    },
    /// The store could not be read.
    #[error("cannot load the store: {0}")]
    Store(#[from] petrel_store::StoreError),
    /// A listener's TLS or WebSocket settings cannot be used.
    #[error("listener {addr}: {message}")]
    Listener {
        /// The listener's address.
        addr: SocketAddr,
        /// What is wrong.
        message: String,
    },
    /// The password, ACL or SCRAM file cannot be used.
    #[error(transparent)]
    Security(#[from] crate::security::SecurityError),
}

/// A running broker. Dropping it does not stop the broker; call [`Broker::shutdown`].
#[derive(Debug)]
pub struct Broker {
    core: Arc<Core>,
    addrs: Vec<SocketAddr>,
    metrics_addr: Option<SocketAddr>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Broker {
    /// Starts a broker with an in-memory store: binds every listener of `config` and
    /// spawns the accept loops on the current tokio runtime.
    pub async fn start(config: Config) -> Result<Self, StartError> {
        Self::start_with_store(config, Arc::new(MemoryStore::new())).await
    }

    /// Starts a broker on a given store, restoring what it holds.
    pub async fn start_with_store(
        config: Config,
        store: Arc<dyn Store>,
    ) -> Result<Self, StartError> {
        let security = Security::from_config(&config.auth)?;
        Self::start_with_security(config, store, security).await
    }

    /// Starts a broker with its own authentication/authorisation parts (see
    /// [`Security`]); the files named in `config.auth` are not read.
    pub async fn start_with_security(
        config: Config,
        store: Arc<dyn Store>,
        security: Security,
    ) -> Result<Self, StartError> {
        let (tx, rx) = watch::channel(false);
        let mut listeners = Vec::new();
        for l in &config.listeners {
            let endpoint = Endpoint::new(l).map_err(|message| StartError::Listener {
                addr: l.bind,
                message,
            })?;
            let listener = TcpListener::bind(l.bind)
                .await
                .map_err(|source| StartError::Bind {
                    addr: l.bind,
                    source,
                })?;
            listeners.push((listener, Arc::new(endpoint)));
        }
        let metrics_listener = match config.metrics.listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| StartError::Bind { addr, source })?,
            ),
            None => None,
        };
        let sys_interval = config.sys.interval_secs;
        let access = Access::new(security, &config.auth);
        // Store commits are timed for the metrics as the broker waits for them.
        let store_metrics = Arc::new(StoreMetrics::default());
        let store = Arc::new(TimedStore::new(store, store_metrics.clone()));
        let mut core = Core::new(config, store, rx, access);
        core.metrics.store = store_metrics;
        let core = Arc::new(core);
        core.restore().await?;
        let mut addrs = Vec::new();
        let mut tasks = Vec::new();
        for (listener, endpoint) in listeners {
            if let Ok(addr) = listener.local_addr() {
                tracing::info!(%addr, ?endpoint, "listening");
                addrs.push(addr);
            }
            tasks.push(tokio::spawn(accept_loop(core.clone(), listener, endpoint)));
        }
        let mut metrics_addr = None;
        if let Some(listener) = metrics_listener {
            metrics_addr = listener.local_addr().ok();
            tracing::info!(addr = ?metrics_addr, "serving metrics at /metrics");
            tasks.push(tokio::spawn(crate::metrics::http::run(
                core.clone(),
                listener,
            )));
        }
        if sys_interval > 0 {
            tasks.push(tokio::spawn(crate::sys::run(
                core.clone(),
                Duration::from_secs(sys_interval),
            )));
        }
        Ok(Self {
            core,
            addrs,
            metrics_addr,
            shutdown: tx,
            tasks,
        })
    }

    /// The bound addresses, one per listener (useful with port 0).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The first bound address.
    ///
    /// # Panics
    /// Never: a broker always has at least one listener... unless the configuration has
    /// none, in which case this returns `0.0.0.0:0`.
    pub fn local_addr(&self) -> SocketAddr {
        self.addrs
            .first()
            .copied()
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// The bound address of the metrics listener, when `[metrics] listen` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Current metrics.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.core.metrics.snapshot()
    }

    /// Number of sessions, connected or not.
    pub fn session_count(&self) -> usize {
        self.core.session_count()
    }

    /// Number of subscriptions.
    pub fn subscription_count(&self) -> usize {
        self.core.index.len()
    }

    /// Number of retained messages.
    pub fn retained_count(&self) -> usize {
        self.core.retained.len()
    }

    /// Publishes the `$SYS` topics now (they are also published on the configured interval).
    pub async fn publish_sys(&self) {
        crate::sys::publish_once(&self.core).await;
    }

    /// Stops accepting, tells every connection to close (MQTT 5 clients get DISCONNECT
    /// 0x8B), and waits up to `grace` for connections to flush and close.
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.shutdown.send(true);
        self.core.wake_all();
        for t in &self.tasks {
            t.abort();
        }
        let deadline = tokio::time::Instant::now() + grace;
        while self.core.metrics.connections_open.load(Ordering::Relaxed) > 0
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn accept_loop(core: Arc<Core>, listener: TcpListener, endpoint: Arc<Endpoint>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let metrics = &core.metrics;
        // Allow/deny lists and the per-address cap, before any byte is read.
        let Some(guard) = endpoint.admit(peer.ip()) else {
            metrics.refused(RefuseReason::Address);
            drop(stream);
            continue;
        };
        let open = metrics.connections_open.load(Ordering::Relaxed);
        if open >= core.config.limits.max_connections as i64 {
            metrics.refused(RefuseReason::ConnectionLimit);
            tracing::debug!(%peer, "connection limit reached");
            drop(stream);
            continue;
        }
        Metrics::add(&metrics.connections_total, 1);
        let admitted = Admitted::new(core.clone(), guard);
        crate::transport::spawn(&endpoint, stream, peer, admitted);
    }
}
