//! End-to-end runs of the load generator against a real Mosquitto broker.

mod common;

use clap::Parser;
use common::Mosquitto;
use petrel_bench::{BenchError, Report};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    bench: petrel_bench::BenchArgs,
}

async fn bench(args: &str, port: u16) -> Result<Report, BenchError> {
    let mut argv = vec!["bench".to_string()];
    argv.extend(args.split_whitespace().map(String::from));
    argv.extend([
        "--port".to_string(),
        port.to_string(),
        "--quiet".to_string(),
    ]);
    let cli = Cli::try_parse_from(argv).expect("valid arguments");
    petrel_bench::run(cli.bench).await
}

fn pubsub(report: Report) -> petrel_bench::PubSubReport {
    match report {
        Report::Pubsub(r) => r,
        other => panic!("expected a pubsub report, got {other:?}"),
    }
}

/// Runs a count-bounded pub/sub and checks that every expected delivery arrived exactly
/// once, in order, and nothing else.
async fn exact_run(args: &str, port: u16, expected_deliveries: u64) -> petrel_bench::PubSubReport {
    let r = pubsub(bench(args, port).await.expect("run completes"));
    assert!(r.problems.is_empty(), "{args}: {:?}", r.problems);
    let t = &r.totals;
    assert_eq!(t.expected, expected_deliveries, "{args}");
    assert_eq!(t.received, expected_deliveries, "{args}");
    assert_eq!(r.deliveries, expected_deliveries, "{args}");
    assert_eq!(
        (
            t.lost,
            t.duplicates,
            t.out_of_order,
            t.misrouted,
            t.phantom,
            t.foreign,
            r.unacked
        ),
        (0, 0, 0, 0, 0, 0, 0),
        "{args}"
    );
    assert_eq!(
        r.latency.samples, expected_deliveries,
        "one latency sample per delivery"
    );
    assert!(r.latency.p50_ms <= r.latency.p99_ms && r.latency.p99_ms <= r.latency.max_ms);
    assert!(
        r.load.cpu_secs > 0.0 && r.load.peak_rss_kib > 0,
        "own resource use is measured"
    );
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos0_four_pairs_on_four_topics_deliver_everything() {
    let broker = Mosquitto::start();
    let r = exact_run("pubsub -p 4 -s 4 -t 4 -q 0 -n 2000", broker.port, 8000).await;
    assert_eq!(r.sent, 8000);
    assert_eq!(
        r.pairs.len(),
        4,
        "each subscriber hears exactly its own publisher"
    );
    assert!(r
        .pairs
        .iter()
        .all(|p| p.publisher == p.subscriber && p.received == 2000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos1_fan_in_counts_every_publisher() {
    let broker = Mosquitto::start();
    let r = exact_run("pubsub -p 8 -s 1 -q 1 -n 500", broker.port, 4000).await;
    assert_eq!(r.pairs.len(), 8);
    assert!(r.pairs.iter().all(|p| p.sent == 500 && p.received == 500));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos2_exactly_once_over_mqtt_3_and_5() {
    let broker = Mosquitto::start();
    exact_run("pubsub -p 1 -s 1 -q 2 -n 2000", broker.port, 2000).await;
    let r = exact_run("pubsub -p 2 -s 2 -t 1 -q 2 -n 1000 -V 5", broker.port, 4000).await;
    assert_eq!(r.mqtt_version, "5");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos0_fan_out_and_wildcard_subscribers() {
    let broker = Mosquitto::start();
    exact_run("pubsub -p 1 -s 10 -q 0 -n 500", broker.port, 5000).await;
    // Every subscriber on PREFIX/+ hears all three publishers.
    let r = exact_run(
        "pubsub -p 3 -s 2 -t 3 --all-topics -q 1 -n 300 -V 5",
        broker.port,
        1800,
    )
    .await;
    assert_eq!(r.pairs.len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_keeps_its_schedule_and_loses_nothing() {
    let broker = Mosquitto::start();
    let r = pubsub(
        bench("pubsub -p 2 -s 1 -q 1 --rate 1000 -d 1s", broker.port)
            .await
            .expect("run completes"),
    );
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert_eq!(r.loop_mode, "open");
    // 1000 msg/s for one second per publisher, sent on schedule.
    assert!((1900..=2002).contains(&r.sent), "sent {}", r.sent);
    assert_eq!(r.totals.received, r.sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duration_bounded_run_stops_and_reports_json() {
    let broker = Mosquitto::start();
    let report = bench("pubsub -p 1 -s 1 -q 1 -d 500ms", broker.port)
        .await
        .expect("run completes");
    assert!(report.passed());
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).expect("valid JSON");
    assert_eq!(json["mode"], "pubsub");
    assert!(
        json["publish_secs"]
            .as_f64()
            .is_some_and(|s| (0.45..2.0).contains(&s)),
        "{}",
        json["publish_secs"]
    );
    assert!(json["sent"].as_u64().is_some_and(|n| n > 0));
    assert_eq!(json["sent"], json["deliveries"]);
    assert!(json["latency"]["p99_ms"].as_f64().is_some());
    assert!(json["load"]["cpu_percent"].as_f64().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conn_mode_holds_idle_connections_with_keep_alive() {
    let broker = Mosquitto::start();
    let report = bench("conn -c 25 --concurrency 5 -k 1 --hold 1500ms", broker.port)
        .await
        .expect("run completes");
    let Report::Conn(r) = report else {
        panic!("expected a conn report")
    };
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert_eq!(
        (r.requested, r.connected, r.failed, r.dropped),
        (25, 25, 0, 0)
    );
    assert_eq!(r.connack_latency.samples, 25);
    assert!(r.connect_rate > 0.0);
    // Keep-alive 1 s over a 1.5 s hold: every connection pinged at least once.
    assert!(r.pings >= 25, "pings {}", r.pings);
}

#[tokio::test]
async fn unreachable_broker_is_an_error_not_a_report() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let err = bench("pubsub -n 10 --connect-timeout 2s", port)
        .await
        .expect_err("nothing listens there");
    assert!(
        matches!(
            err,
            BenchError::Io {
                what: "connect",
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn bad_arguments_are_refused_before_connecting() {
    let err = bench("pubsub --payload 10", 1)
        .await
        .expect_err("payload too small");
    assert!(matches!(err, BenchError::InvalidArgs(_)), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_sessions_lose_nothing() {
    let broker = Mosquitto::start();
    let r = exact_run(
        "pubsub -p 2 -s 1 -q 1 -n 500 --persistent",
        broker.port,
        1000,
    )
    .await;
    assert!(r.persistent);
    exact_run(
        "pubsub -p 1 -s 2 -q 2 -n 300 --persistent -V 5",
        broker.port,
        600,
    )
    .await;
}
