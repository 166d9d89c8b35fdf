//! The `conn` mode: open K connections (at a rate, a bounded number of handshakes at a
//! time), measure connect rate and CONNACK latency, then hold them idle with keep-alive.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use petrel_codec::Packet;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use crate::args::ConnArgs;
use crate::progress::Progress;
use crate::report::{ConnReport, Latency};
use crate::subscriber::latency_histogram;
use crate::wire::{Conn, ConnectOpts};
use crate::BenchError;

/// Counters shared by the connection tasks.
#[derive(Default)]
struct Counters {
    connected: AtomicU32,
    failed: AtomicU32,
    dropped: AtomicU32,
    pings: AtomicU64,
    first_error: Mutex<Option<String>>,
}

/// Runs the `conn` mode against `addr`.
pub(crate) async fn run(
    args: &ConnArgs,
    addr: SocketAddr,
    opts: ConnectOpts,
) -> Result<ConnReport, BenchError> {
    if args.concurrency == 0 {
        return Err(BenchError::InvalidArgs(
            "--concurrency must be at least 1".into(),
        ));
    }
    if args
        .rate
        .is_some_and(|r| !(r.is_finite() && r >= crate::pubsub::MIN_RATE))
    {
        return Err(BenchError::InvalidArgs(format!(
            "--rate must be at least {} connections per second",
            crate::pubsub::MIN_RATE
        )));
    }
    let run_id: u32 = rand::random();
    let counters = Arc::new(Counters::default());
    let latencies = Arc::new(Mutex::new(latency_histogram()));
    let handshakes = Arc::new(Semaphore::new(args.concurrency as usize));
    let (stop_tx, stop_rx) = watch::channel(false);
    let cpu_before = crate::procfs::cpu_time();
    let started = Instant::now();
    let progress = Progress::start(!args.common.json && !args.common.quiet, {
        let (c, n) = (counters.clone(), args.connections);
        Arc::new(move || {
            format!(
                "connected {}/{n}  failed {}  dropped {}",
                c.connected.load(Ordering::Relaxed),
                c.failed.load(Ordering::Relaxed),
                c.dropped.load(Ordering::Relaxed)
            )
        })
    });

    let mut tasks = JoinSet::new();
    let interval = args.rate.map(|r| Duration::from_secs_f64(1.0 / r));
    for k in 0..args.connections {
        if let Some(iv) = interval {
            tokio::time::sleep_until(tokio::time::Instant::from_std(started + iv * k)).await;
        }
        let Ok(permit) = handshakes.clone().acquire_owned().await else {
            break;
        };
        let (opts, counters, latencies, stop) = (
            opts.clone(),
            counters.clone(),
            latencies.clone(),
            stop_rx.clone(),
        );
        let id = format!("pb-{run_id:08x}-c{k}");
        tasks.spawn(async move {
            match Conn::connect(&opts, &id).await {
                Ok((conn, latency)) => {
                    drop(permit);
                    if let Ok(mut h) = latencies.lock() {
                        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
                        h.saturating_record(us.max(1));
                    }
                    counters.connected.fetch_add(1, Ordering::Relaxed);
                    hold(conn, opts.keep_alive, stop, &counters).await;
                }
                Err(e) => {
                    drop(permit);
                    counters.failed.fetch_add(1, Ordering::Relaxed);
                    if let Ok(mut first) = counters.first_error.lock() {
                        first.get_or_insert_with(|| e.to_string());
                    }
                }
            }
        });
    }
    // Every handshake has finished once all permits are back.
    drop(handshakes.acquire_many(args.concurrency).await);
    let connect_secs = started.elapsed().as_secs_f64();

    let hold_started = Instant::now();
    tokio::time::sleep(args.hold).await;
    let hold_secs = hold_started.elapsed().as_secs_f64();
    let _ = stop_tx.send(true);
    while let Some(done) = tasks.join_next().await {
        done.map_err(|e| BenchError::Task(e.to_string()))?;
    }
    let cpu = match (cpu_before, crate::procfs::cpu_time()) {
        (Some(a), Some(b)) => b.saturating_sub(a),
        _ => Duration::ZERO,
    };
    drop(progress);

    let connected = counters.connected.load(Ordering::Relaxed);
    let latency = latencies
        .lock()
        .map(|h| Latency::from_micros(&h))
        .unwrap_or_default();
    let mut report = ConnReport {
        broker: addr.to_string(),
        mqtt_version: crate::version_name(opts.version).to_string(),
        requested: args.connections,
        connected,
        failed: counters.failed.load(Ordering::Relaxed),
        first_error: counters.first_error.lock().ok().and_then(|f| f.clone()),
        connect_secs,
        connect_rate: if connect_secs > 0.0 {
            f64::from(connected) / connect_secs
        } else {
            0.0
        },
        connack_latency: latency,
        hold_secs,
        dropped: counters.dropped.load(Ordering::Relaxed),
        pings: counters.pings.load(Ordering::Relaxed),
        load: crate::load_stats(cpu, started.elapsed()),
        problems: Vec::new(),
    };
    report.judge();
    Ok(report)
}

/// Keeps one connection open until `stop`: a PINGREQ every keep-alive interval, and any
/// bytes from the broker read into a small buffer (a PINGRESP is 2 bytes). The large
/// buffers of the handshake are released so an idle connection costs little here.
async fn hold(conn: Conn, keep_alive: u16, mut stop: watch::Receiver<bool>, counters: &Counters) {
    let Conn {
        mut stream,
        version,
        ..
    } = conn;
    let mut ping = BytesMut::new();
    if Packet::PingReq.encode(version, &mut ping).is_err() {
        return;
    }
    let period = Duration::from_secs(u64::from(keep_alive.max(1)));
    let mut next_ping = tokio::time::Instant::now() + period;
    let mut scratch = [0u8; 64];
    loop {
        tokio::select! {
            r = stop.changed() => {
                if r.is_err() || *stop.borrow() {
                    break;
                }
            }
            r = stream.read(&mut scratch) => {
                // PINGRESP carries nothing to check; EOF or an error means the broker dropped us.
                if !matches!(r, Ok(n) if n > 0) {
                    counters.dropped.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
            () = tokio::time::sleep_until(next_ping), if keep_alive > 0 => {
                if stream.write_all(&ping).await.is_err() {
                    counters.dropped.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                counters.pings.fetch_add(1, Ordering::Relaxed);
                next_ping += period;
            }
        }
    }
    let mut bye = BytesMut::new();
    if Packet::Disconnect(petrel_codec::Disconnect::default())
        .encode(version, &mut bye)
        .is_ok()
    {
        let _ = stream.write_all(&bye).await;
    }
    let _ = stream.shutdown().await;
}
