//! `petreld`: the Petrel MQTT broker.
//!
//! With no arguments it listens on 127.0.0.1:1883 with default limits. `--config FILE`
//! reads a TOML file (see `petreld.example.toml`); `--listen ADDR` (repeatable) replaces
//! the listeners of the file; `--metrics ADDR` serves Prometheus metrics at
//! `http://ADDR/metrics` (like `[metrics] listen`). SIGINT or SIGTERM shut down gracefully.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use petrel_broker::{Broker, Config, ListenerConfig};

/// jemalloc instead of the system allocator: glibc's malloc kept the memory of closed
/// connections in its per-thread arenas (57 MB held for 63 KB in use after 10k idle
/// connections closed); jemalloc's background thread returns freed pages to the system
/// within its decay time even when the broker is idle afterwards (issue 8).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Petrel MQTT broker (MQTT 3.1, 3.1.1 and 5.0).
#[derive(Debug, Parser)]
#[command(name = "petreld", version, about)]
struct Args {
    /// TOML configuration file (every key is optional; see petreld.example.toml).
    #[arg(short, long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on, such as 0.0.0.0:1883. Repeatable; replaces the file's listeners.
    #[arg(short, long, value_name = "ADDR")]
    listen: Vec<SocketAddr>,
    /// Serve Prometheus metrics at http://ADDR/metrics, such as 127.0.0.1:9090 (overrides
    /// `[metrics] listen`).
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    /// Log level or filter (error, warn, info, debug, trace, or a tracing filter).
    #[arg(long, value_name = "LEVEL", default_value = "info")]
    log_level: String,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Purging freed memory on a background thread rather than on the next allocation: an
    // idle broker gives back what a burst of connections used.
    let background_purge = tikv_jemalloc_ctl::background_thread::write(true);
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log_level)
        .with_context(|| format!("invalid --log-level {:?}", args.log_level))?;
    tracing_subscriber::fmt().with_env_filter(filter).init();
    if let Err(e) = background_purge {
        tracing::warn!(error = %e, "cannot start the allocator's background purging");
    }
    let mut config = match &args.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    if !args.listen.is_empty() {
        config.listeners = args
            .listen
            .iter()
            .map(|a| ListenerConfig::new(*a))
            .collect();
    }
    if let Some(addr) = args.metrics {
        config.metrics.listen = Some(addr);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    runtime.block_on(run(config))
}

async fn run(config: Config) -> anyhow::Result<()> {
    let store = config.storage.open().with_context(|| {
        format!(
            "cannot open the data directory {}",
            config.storage.dir.display()
        )
    })?;
    let broker = Broker::start_with_store(config, store).await?;
    tracing::info!(
        version = petrel_broker::VERSION,
        addrs = ?broker.local_addrs(),
        metrics = ?broker.metrics_addr(),
        "petreld started"
    );
    wait_for_signal().await?;
    tracing::info!("shutting down");
    broker.shutdown(Duration::from_secs(5)).await;
    tracing::info!("stopped");
    Ok(())
}

#[cfg(unix)]
async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("cannot install SIGTERM handler")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("cannot wait for SIGINT")?,
        _ = term.recv() => {}
    }
    Ok(())
}

#[cfg(not(unix))]
async fn wait_for_signal() -> anyhow::Result<()> {
    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for Ctrl-C")
}
