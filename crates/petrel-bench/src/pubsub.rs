//! The `pubsub` mode: plan the topology, connect and subscribe everyone, run publishers and
//! subscribers as separate tasks, drain, and add up the accounting.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use petrel_codec::QoS;
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

use crate::accounting::{PairReport, Totals};
use crate::args::PubSubArgs;
use crate::payload::HEADER_LEN;
use crate::progress::Progress;
use crate::report::{Latency, PubSubReport};
use crate::subscriber::{latency_histogram, SubResult};
use crate::wire::{Conn, ConnectOpts};
use crate::{publisher, subscriber, BenchError};

/// Slowest open-loop rate accepted, in messages per second.
pub(crate) const MIN_RATE: f64 = 0.001;

/// Who publishes where and who should receive what.
pub(crate) struct Plan {
    pub run_id: u32,
    pub qos: QoS,
    pub publishers: u32,
    /// Topic names, one per topic index.
    pub topics: Vec<String>,
    /// Topic filters of each subscriber.
    pub filters: Vec<Vec<String>>,
    /// Subscribers reached by each publisher.
    pub fanout: Vec<u64>,
    /// `reaches[s][p]`: subscriber `s` should receive publisher `p`.
    pub reaches: Vec<Vec<bool>>,
    pub payload: usize,
    pub window: u32,
    /// Explicit limit of unacknowledged QoS 1/2 publications per publisher.
    pub inflight: Option<u16>,
    pub rate: Option<f64>,
    pub duration: Duration,
    pub count: Option<u64>,
    pub grace: Duration,
}

impl Plan {
    /// Builds the plan for `args` and run `run_id`, or says what is wrong with the arguments.
    pub fn new(args: &PubSubArgs, run_id: u32) -> Result<Self, BenchError> {
        let invalid = |m: String| Err(BenchError::InvalidArgs(m));
        if args.payload < HEADER_LEN {
            return invalid(format!(
                "--payload must be at least {HEADER_LEN} bytes (the benchmark header)"
            ));
        }
        if args.publishers == 0 || args.topics == 0 || args.window == 0 || args.inflight == Some(0)
        {
            return invalid(
                "--publishers, --topics, --window and --inflight must be at least 1".into(),
            );
        }
        if args.rate.is_some_and(|r| !(r.is_finite() && r >= MIN_RATE)) {
            return invalid(format!(
                "--rate must be at least {MIN_RATE} messages per second"
            ));
        }
        if args.topic_prefix.contains(['+', '#']) || args.topic_prefix.is_empty() {
            return invalid(
                "--topic-prefix must be a non-empty topic name without wildcards".into(),
            );
        }
        let qos = QoS::from_u8(args.qos)
            .ok_or_else(|| BenchError::InvalidArgs("--qos must be 0, 1 or 2".into()))?;
        let base = format!("{}/{run_id:08x}", args.topic_prefix);
        let topics: Vec<String> = (0..args.topics).map(|t| format!("{base}/{t}")).collect();
        let n_pub = args.publishers as usize;
        let n_top = args.topics as usize;
        let mut filters = Vec::new();
        let mut reaches = Vec::new();
        let mut fanout = vec![0u64; n_pub];
        for s in 0..args.subscribers as usize {
            let (f, r): (Vec<String>, Vec<bool>) = if args.all_topics {
                (vec![format!("{base}/+")], vec![true; n_pub])
            } else {
                let t = s % n_top;
                (
                    vec![topics[t].clone()],
                    (0..n_pub).map(|p| p % n_top == t).collect(),
                )
            };
            for (p, reached) in r.iter().enumerate() {
                fanout[p] += u64::from(*reached);
            }
            filters.push(f);
            reaches.push(r);
        }
        Ok(Self {
            run_id,
            qos,
            publishers: args.publishers,
            topics,
            filters,
            fanout,
            reaches,
            payload: args.payload,
            window: args.window,
            inflight: args.inflight,
            rate: args.rate,
            duration: args.duration,
            count: args.count,
            grace: args.grace,
        })
    }

    /// Most unacknowledged QoS 1/2 publications for a connection to a broker that announced
    /// `receive_maximum` (65,535 when it announced none) over `version`.
    pub fn max_unacked(&self, version: petrel_codec::ProtocolVersion, receive_maximum: u16) -> u32 {
        let default = match (version.is_v5(), self.qos) {
            (true, _) | (false, QoS::AtMostOnce | QoS::AtLeastOnce) => receive_maximum,
            (false, QoS::ExactlyOnce) => 20,
        };
        u32::from(self.inflight.unwrap_or(default).min(receive_maximum).max(1))
    }

    /// The topic publisher `p` publishes on.
    pub fn topic_of_publisher(&self, p: usize) -> &str {
        self.topics
            .get(p % self.topics.len().max(1))
            .map_or("", String::as_str)
    }

    /// Which publishers subscriber `s` should receive.
    pub fn expected_for(&self, s: usize) -> Vec<bool> {
        self.reaches.get(s).cloned().unwrap_or_default()
    }
}

/// Counters shared by all tasks of a run.
pub(crate) struct Shared {
    /// Origin of the timestamps in payloads.
    pub base: Instant,
    /// When publishing starts.
    pub start: Instant,
    /// Per publisher: messages sent so far.
    pub sent: Vec<AtomicU64>,
    /// Per publisher: first deliveries to expected subscribers so far.
    pub delivered: Vec<AtomicU64>,
    /// Per publisher: woken when its deliveries move (closed-loop window).
    pub wake: Vec<Notify>,
    /// All messages sent (progress line).
    pub sent_total: AtomicU64,
    /// All first deliveries (progress line).
    pub received_total: AtomicU64,
}

/// Runs the `pubsub` mode against `addr`.
pub(crate) async fn run(
    args: &PubSubArgs,
    addr: SocketAddr,
    opts: ConnectOpts,
) -> Result<PubSubReport, BenchError> {
    let run_id: u32 = rand::random();
    let plan = Arc::new(Plan::new(args, run_id)?);
    let tag = format!("pb-{run_id:08x}");

    // Connect and subscribe everyone before the first message.
    let mut setup = JoinSet::new();
    for (s, filters) in plan.filters.iter().enumerate() {
        let (opts, filters, qos, id) = (
            opts.clone(),
            filters.clone(),
            plan.qos,
            format!("{tag}-s{s}"),
        );
        setup.spawn(async move {
            let (mut conn, _) = Conn::connect(&opts, &id).await?;
            conn.subscribe(&filters, qos, opts.timeout).await?;
            Ok::<_, BenchError>((false, s, conn))
        });
    }
    for p in 0..plan.publishers as usize {
        let (opts, id) = (opts.clone(), format!("{tag}-p{p}"));
        setup.spawn(
            async move { Ok::<_, BenchError>((true, p, Conn::connect(&opts, &id).await?.0)) },
        );
    }
    let mut subs = Vec::new();
    let mut pubs = Vec::new();
    while let Some(done) = setup.join_next().await {
        let (is_pub, i, conn) = done.map_err(|e| BenchError::Task(e.to_string()))??;
        if is_pub {
            pubs.push((i, conn))
        } else {
            subs.push((i, conn))
        }
    }

    let now = Instant::now();
    let shared = Arc::new(Shared {
        base: now,
        start: now,
        sent: (0..plan.publishers).map(|_| AtomicU64::new(0)).collect(),
        delivered: (0..plan.publishers).map(|_| AtomicU64::new(0)).collect(),
        wake: (0..plan.publishers).map(|_| Notify::new()).collect(),
        sent_total: AtomicU64::new(0),
        received_total: AtomicU64::new(0),
    });
    let cpu_before = crate::procfs::cpu_time();
    let progress = Progress::start(!args.common.json && !args.common.quiet, {
        let shared = shared.clone();
        Arc::new(move || {
            let secs = shared.start.elapsed().as_secs_f64().max(1e-9);
            let sent = shared.sent_total.load(Ordering::Relaxed);
            let recv = shared.received_total.load(Ordering::Relaxed);
            format!(
                "sent {sent} ({:.0}/s)  delivered {recv} ({:.0}/s)",
                sent as f64 / secs,
                recv as f64 / secs
            )
        })
    });

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut sub_tasks = JoinSet::new();
    for (s, conn) in subs {
        let fut = subscriber::run(conn, s, plan.clone(), shared.clone(), stop_rx.clone());
        sub_tasks.spawn(async move { fut.await.map(|r| (s, r)) });
    }
    let mut pub_tasks = JoinSet::new();
    for (p, conn) in pubs {
        let fut = publisher::run(conn, p, plan.clone(), shared.clone());
        pub_tasks.spawn(async move { fut.await.map(|r| (p, r)) });
    }

    // Publishing phase.
    let mut sent = vec![0u64; plan.publishers as usize];
    let (mut unacked, mut rejected) = (0, 0);
    let mut publish_end = shared.start;
    let mut failure = None;
    while let Some(done) = pub_tasks.join_next().await {
        match done
            .map_err(|e| BenchError::Task(e.to_string()))
            .and_then(|r| r)
        {
            Ok((p, r)) => {
                if let Some(slot) = sent.get_mut(p) {
                    *slot = r.sent;
                }
                unacked += r.unacked;
                rejected += r.rejected;
                publish_end = publish_end.max(r.finished);
            }
            Err(e) => {
                failure.get_or_insert(e);
            }
        }
    }
    if let Some(e) = failure {
        let _ = stop_tx.send(true);
        return Err(e);
    }

    // Drain: wait until every expected delivery is in, or the grace period is over.
    let expected: u64 = sent.iter().zip(&plan.fanout).map(|(s, f)| s * f).sum();
    let drain_deadline = publish_end.max(Instant::now()) + plan.grace;
    loop {
        let delivered: u64 = shared
            .delivered
            .iter()
            .map(|d| d.load(Ordering::Acquire))
            .sum();
        if delivered >= expected || Instant::now() >= drain_deadline || sub_tasks.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let _ = stop_tx.send(true);
    let mut results: Vec<(usize, SubResult)> = Vec::new();
    while let Some(done) = sub_tasks.join_next().await {
        results.push(done.map_err(|e| BenchError::Task(e.to_string()))??);
    }
    let cpu = match (cpu_before, crate::procfs::cpu_time()) {
        (Some(a), Some(b)) => b.saturating_sub(a),
        _ => Duration::ZERO,
    };
    let wall = shared.start.elapsed();
    drop(progress);
    if opts.persistent.is_some() {
        remove_sessions(&opts, &tag, plan.publishers, plan.filters.len()).await;
    }
    results.sort_by_key(|(s, _)| *s);

    let mut latency = latency_histogram();
    let mut pairs: Vec<PairReport> = Vec::new();
    let mut last_delivery = shared.start;
    for (_, r) in &results {
        let _ = latency.add(&r.latency);
        pairs.extend(r.account.finish(&sent));
        if let Some(t) = r.last_delivery {
            last_delivery = last_delivery.max(t);
        }
    }
    let accounts: Vec<_> = results.into_iter().map(|(_, r)| r.account).collect();
    let totals = Totals::sum(&pairs, &accounts);
    let publish_secs = publish_end.duration_since(shared.start).as_secs_f64();
    let delivery_secs = last_delivery.duration_since(shared.start).as_secs_f64();
    let total_sent: u64 = sent.iter().sum();
    let rate = |n: u64, secs: f64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
    let mut report = PubSubReport {
        broker: addr.to_string(),
        mqtt_version: crate::version_name(opts.version).to_string(),
        qos: args.qos,
        publishers: args.publishers,
        subscribers: args.subscribers,
        topics: args.topics,
        payload: args.payload,
        persistent: args.persistent,
        loop_mode: if args.rate.is_some() {
            "open"
        } else {
            "closed"
        }
        .to_string(),
        window: args.rate.is_none().then_some(args.window),
        rate: args.rate,
        publish_secs,
        delivery_secs,
        sent: total_sent,
        publish_rate: rate(total_sent, publish_secs),
        deliveries: totals.received,
        delivery_rate: rate(totals.received, delivery_secs),
        latency: Latency::from_micros(&latency),
        totals,
        unacked,
        rejected,
        pairs,
        load: crate::load_stats(cpu, wall),
        problems: Vec::new(),
    };
    report.judge(args.strict);
    Ok(report)
}

/// Ends the persistent sessions of a run: each client id connects once more with a clean
/// session, which discards the stored one, and disconnects. Best effort.
async fn remove_sessions(opts: &ConnectOpts, tag: &str, publishers: u32, subscribers: usize) {
    let clean = ConnectOpts {
        persistent: None,
        ..opts.clone()
    };
    let ids = (0..publishers as usize)
        .map(|p| format!("{tag}-p{p}"))
        .chain((0..subscribers).map(|s| format!("{tag}-s{s}")));
    let mut tasks = JoinSet::new();
    for id in ids {
        let clean = clean.clone();
        tasks.spawn(async move {
            if let Ok((conn, _)) = Conn::connect(&clean, &id).await {
                conn.disconnect().await;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{BenchArgs, Mode};
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        bench: BenchArgs,
    }

    fn plan(args: &str) -> Result<Plan, BenchError> {
        let cli = Cli::try_parse_from(["x", "pubsub"].into_iter().chain(args.split_whitespace()))
            .expect("valid arguments");
        let Mode::Pubsub(a) = cli.bench.mode else {
            panic!("pubsub expected")
        };
        Plan::new(&a, 0xabcd)
    }

    #[test]
    fn fan_out_reaches_every_subscriber() {
        let p = plan("-p 1 -s 50 -t 1").expect("valid plan");
        assert_eq!(p.fanout, vec![50]);
        assert!(p.reaches.iter().all(|r| r == &vec![true]));
        assert_eq!(p.topic_of_publisher(0), "petrel-bench/0000abcd/0");
    }

    #[test]
    fn fan_in_sends_everyone_to_one_subscriber() {
        let p = plan("-p 8 -s 1").expect("valid plan");
        assert_eq!(p.fanout, vec![1; 8]);
        assert_eq!(p.reaches, vec![vec![true; 8]]);
    }

    #[test]
    fn pairs_on_separate_topics_do_not_cross() {
        let p = plan("-p 4 -s 4 -t 4").expect("valid plan");
        assert_eq!(p.fanout, vec![1; 4]);
        for (s, r) in p.reaches.iter().enumerate() {
            let expected: Vec<bool> = (0..4).map(|i| i == s).collect();
            assert_eq!(r, &expected);
            assert_eq!(p.filters[s], vec![p.topic_of_publisher(s).to_string()]);
        }
        let all = plan("-p 4 -s 2 -t 4 --all-topics").expect("valid plan");
        assert_eq!(all.fanout, vec![2; 4]);
        assert_eq!(all.filters[0], vec!["petrel-bench/0000abcd/+".to_string()]);
    }

    #[test]
    fn inflight_follows_version_qos_and_receive_maximum() {
        use petrel_codec::ProtocolVersion::{V3_1_1, V5};
        let p = plan("-q 2").expect("valid plan");
        assert_eq!(p.max_unacked(V3_1_1, u16::MAX), 20);
        assert_eq!(p.max_unacked(V5, 10), 10);
        let p = plan("-q 1").expect("valid plan");
        assert_eq!(p.max_unacked(V3_1_1, u16::MAX), 65_535);
        let p = plan("-q 1 --inflight 50").expect("valid plan");
        assert_eq!(
            p.max_unacked(V5, 20),
            20,
            "never above the broker's Receive Maximum"
        );
        assert_eq!(p.max_unacked(V3_1_1, u16::MAX), 50);
    }

    #[test]
    fn nonsense_is_refused() {
        for bad in [
            "--payload 27",
            "-p 0",
            "-t 0",
            "-w 0",
            "--rate 0",
            "--rate=-5",
            "--rate 0.0001",
            "--topic-prefix a/#",
            "--inflight 0",
        ] {
            assert!(
                matches!(plan(bad), Err(BenchError::InvalidArgs(_))),
                "{bad}"
            );
        }
    }
}
