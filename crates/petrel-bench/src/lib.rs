//! `petrel-bench`: a lean MQTT load generator, built directly on `petrel-codec` and tokio.
//!
//! Two modes:
//!
//! - **pubsub**: N publishers, M subscribers on T topics, QoS 0, 1 or 2, MQTT 3.1.1 or 5,
//!   closed loop (an in-flight window per publisher, end to end) or open loop (a rate per
//!   publisher, latency counted from the scheduled send time). Every payload carries the
//!   publisher, a sequence number and a timestamp, so loss, duplicates, reordering and
//!   misrouting are counted exactly per (publisher, subscriber) pair, and latency goes into
//!   an HDR histogram.
//! - **conn**: K idle connections with keep-alive; connect rate and CONNACK latency.
//!
//! The summary also shows the load generator's own CPU use, so a run where it, not the
//! broker, was the bottleneck is visible.
//!
//! ```no_run
//! use clap::Parser;
//!
//! #[derive(Parser)]
//! struct Cli {
//!     #[command(flatten)]
//!     bench: petrel_bench::BenchArgs,
//! }
//!
//! # async fn demo() -> Result<(), petrel_bench::BenchError> {
//! let cli = Cli::parse_from(["bench", "pubsub", "-p", "1", "-s", "50", "-q", "0", "-d", "5s"]);
//! let report = petrel_bench::run(cli.bench).await?;
//! assert!(report.passed());
//! # Ok(())
//! # }
//! ```
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod accounting;
mod args;
mod conn;
mod error;
mod fastpub;
mod payload;
mod procfs;
mod progress;
mod pubframe;
mod publisher;
mod pubsub;
mod report;
mod subscriber;
mod wire;

use std::net::SocketAddr;
use std::time::Duration;

pub use accounting::{Arrival, PairReport, PairTracker, SubscriberAccount, Totals};
pub use args::{parse_duration, BenchArgs, CommonArgs, ConnArgs, Mode, MqttVersion, PubSubArgs};
pub use error::BenchError;
pub use payload::{Header, HEADER_LEN};
pub use report::{ConnReport, Latency, LoadStats, PubSubReport, Report};

use petrel_codec::ProtocolVersion;
use wire::ConnectOpts;

/// Runs the benchmark described by `args`, prints the summary (a table, or JSON with
/// `--json`, nothing with `--quiet`) and returns the report. The caller maps
/// [`Report::exit_code`] to the process exit status: a run that found loss, duplicates or
/// misrouting returns `Ok` with a failing report, and `Err` means the run could not be
/// carried out (broker unreachable, connection refused, protocol error).
pub async fn run(args: BenchArgs) -> Result<Report, BenchError> {
    // Many connections need many descriptors: raise the soft limit to the hard one.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let common = match &args.mode {
        Mode::Pubsub(a) => &a.common,
        Mode::Conn(a) => &a.common,
    };
    let addr = resolve(&common.host, common.port).await?;
    let opts = ConnectOpts {
        addr,
        version: match common.mqtt_version {
            MqttVersion::V311 => ProtocolVersion::V3_1_1,
            MqttVersion::V5 => ProtocolVersion::V5,
        },
        keep_alive: match &args.mode {
            Mode::Conn(a) => a.keep_alive,
            Mode::Pubsub(_) => 60,
        },
        username: common.username.clone(),
        password: common.password.clone(),
        timeout: common.connect_timeout,
        persistent: match &args.mode {
            Mode::Pubsub(a) if a.persistent => Some(PERSISTENT_SESSION_EXPIRY),
            _ => None,
        },
    };
    let (json, quiet) = (common.json, common.quiet);
    let report = match &args.mode {
        Mode::Pubsub(a) => Report::Pubsub(pubsub::run(a, addr, opts).await?),
        Mode::Conn(a) => Report::Conn(conn::run(a, addr, opts).await?),
    };
    if json {
        println!("{}", report.to_json());
    } else if !quiet {
        print!("{}", report.table());
    }
    Ok(report)
}

/// Session expiry (seconds) asked for by `--persistent` over MQTT 5; the sessions are
/// ended explicitly at the end of the run anyway.
const PERSISTENT_SESSION_EXPIRY: u32 = 300;

async fn resolve(host: &str, port: u16) -> Result<SocketAddr, BenchError> {
    let io = |source| BenchError::Io {
        client: "-".into(),
        what: "resolve broker address",
        source,
    };
    tokio::net::lookup_host((host, port))
        .await
        .map_err(io)?
        .next()
        .ok_or_else(|| {
            io(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{host}:{port} has no address"),
            ))
        })
}

fn version_name(v: ProtocolVersion) -> &'static str {
    match v {
        ProtocolVersion::V3_1 => "3.1",
        ProtocolVersion::V3_1_1 => "3.1.1",
        ProtocolVersion::V5 => "5",
    }
}

fn load_stats(cpu: Duration, wall: Duration) -> LoadStats {
    let wall = wall.as_secs_f64();
    LoadStats {
        cpu_secs: cpu.as_secs_f64(),
        cpu_percent: if wall > 0.0 {
            cpu.as_secs_f64() / wall * 100.0
        } else {
            0.0
        },
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        peak_rss_kib: procfs::peak_rss_kib().unwrap_or(0),
    }
}

/// The tokio runtime for a load run: single-threaded when the process may use only one
/// core (e.g. under `taskset -c 1`: no second thread to hand tasks to, no cross-thread
/// wake-ups), otherwise one worker per available core.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let mut builder = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(threads);
        b
    };
    builder.enable_all().build()
}
