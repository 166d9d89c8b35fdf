//! Command-line arguments (`clap`), shared by the `petrel bench` subcommand and the
//! `petrel-bench` binary.

use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};

/// `petrel bench`: a load generator for any MQTT broker.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// What to measure.
    #[command(subcommand)]
    pub mode: Mode,
}

/// The benchmark modes.
#[derive(Debug, Clone, Subcommand)]
#[non_exhaustive]
pub enum Mode {
    /// Publishers and subscribers: throughput, latency and exact loss accounting.
    ///
    /// Publisher i publishes on topic PREFIX/(i mod T); subscriber j subscribes to
    /// PREFIX/(j mod T), or to every topic with --all-topics. So -p 1 -s 50 -t 1 is a
    /// fan-out, -p 8 -s 1 -t 1 a fan-in and -p 4 -s 4 -t 4 four 1:1 pairs.
    Pubsub(PubSubArgs),
    /// Idle connections with keep-alive: connect rate and CONNACK latency, then hold.
    Conn(ConnArgs),
}

/// Options shared by every mode.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Broker host name or address.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Broker TCP port.
    #[arg(long, default_value_t = 1883)]
    pub port: u16,
    /// MQTT version to speak.
    #[arg(short = 'V', long = "mqtt-version", value_enum, default_value_t = MqttVersion::V311)]
    pub mqtt_version: MqttVersion,
    /// User name sent in CONNECT.
    #[arg(long)]
    pub username: Option<String>,
    /// Password sent in CONNECT.
    #[arg(long)]
    pub password: Option<String>,
    /// Time allowed for each connection handshake and subscription (e.g. 10s, 500ms).
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub connect_timeout: Duration,
    /// Print the result as JSON on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Print nothing (the caller uses the returned report).
    #[arg(long, conflicts_with = "json")]
    pub quiet: bool,
}

/// The MQTT versions the load generator speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[non_exhaustive]
pub enum MqttVersion {
    /// MQTT 3.1.1.
    #[value(name = "3.1.1", alias = "4")]
    V311,
    /// MQTT 5.0.
    #[value(name = "5", alias = "5.0")]
    V5,
}

/// Options of the `pubsub` mode.
#[derive(Debug, Clone, Args)]
pub struct PubSubArgs {
    /// Connection and output options.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Number of publishers.
    #[arg(short = 'p', long, default_value_t = 1)]
    pub publishers: u32,
    /// Number of subscribers.
    #[arg(short = 's', long, default_value_t = 1)]
    pub subscribers: u32,
    /// Number of topics.
    #[arg(short = 't', long, default_value_t = 1)]
    pub topics: u32,
    /// Subscribers subscribe to every topic (PREFIX/+) instead of one.
    #[arg(long)]
    pub all_topics: bool,
    /// QoS of publications and subscriptions.
    #[arg(short = 'q', long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=2))]
    pub qos: u8,
    /// Payload size in bytes (at least 28, the size of the benchmark header).
    #[arg(short = 'm', long = "payload", default_value_t = 64)]
    pub payload: usize,
    /// Closed loop: messages each publisher may have in flight (sent but not yet delivered
    /// to all its subscribers, nor acknowledged by the broker at QoS 1 and 2).
    #[arg(short = 'w', long, default_value_t = 100)]
    pub window: u32,
    /// Most QoS 1/2 publications a publisher leaves unacknowledged by the broker (never more
    /// than the Receive Maximum an MQTT 5 broker announces). Default: that Receive Maximum
    /// with MQTT 5; with MQTT 3.1.1, which cannot announce one, no limit at QoS 1 (beyond
    /// the window) and 20 at QoS 2, because brokers enforce one there (Mosquitto closes a
    /// 3.1.1 connection that exceeds its max_inflight_messages, 20 by default).
    #[arg(long)]
    pub inflight: Option<u16>,
    /// Open loop: messages per second per publisher, sent on schedule whatever the broker
    /// does; latency counts from the scheduled time. Replaces the window.
    #[arg(short = 'r', long)]
    pub rate: Option<f64>,
    /// How long publishers publish (e.g. 10s, 1m).
    #[arg(short = 'd', long, value_parser = parse_duration, default_value = "10s")]
    pub duration: Duration,
    /// Messages per publisher; the run ends when all are sent (overrides --duration).
    #[arg(short = 'n', long)]
    pub count: Option<u64>,
    /// After publishing stops, how long to wait for outstanding acknowledgements and
    /// deliveries before counting the missing ones as lost.
    #[arg(long, value_parser = parse_duration, default_value = "5s")]
    pub grace: Duration,
    /// Topic prefix; the run identifier is appended so runs never see each other.
    #[arg(long, default_value = "petrel-bench")]
    pub topic_prefix: String,
    /// Persistent sessions (clean session 0; with MQTT 5 a session expiry of 5 minutes),
    /// so a broker with a disk store keeps QoS 1/2 messages there. The sessions are
    /// removed at the end (each client reconnects with a clean session).
    #[arg(long)]
    pub persistent: bool,
    /// Fail on loss at QoS 0 too (by default QoS 0 loss is reported but allowed).
    #[arg(long)]
    pub strict: bool,
}

/// Options of the `conn` mode.
#[derive(Debug, Clone, Args)]
pub struct ConnArgs {
    /// Connection and output options.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Number of connections.
    #[arg(short = 'c', long, default_value_t = 100)]
    pub connections: u32,
    /// New connections per second (default: as fast as --concurrency allows).
    #[arg(short = 'r', long)]
    pub rate: Option<f64>,
    /// Handshakes in progress at once.
    #[arg(long, default_value_t = 100)]
    pub concurrency: u32,
    /// Keep-alive in seconds; each connection sends PINGREQ at this interval.
    #[arg(short = 'k', long, default_value_t = 30)]
    pub keep_alive: u16,
    /// How long to hold the connections once all are up (e.g. 10s).
    #[arg(short = 'd', long = "hold", value_parser = parse_duration, default_value = "10s")]
    pub hold: Duration,
}

/// Parses `10s`, `500ms`, `2m`, `1h`, `1.5s` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("not a duration: {s:?} (try 10s, 500ms, 2m)"))?;
    let secs = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "us" => value / 1_000_000.0,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {s:?} (use ms, s, m or h)"
            ))
        }
    };
    if secs > MAX_DURATION_SECS {
        return Err(format!("{s:?} is longer than a year"));
    }
    Duration::try_from_secs_f64(secs).map_err(|e| format!("bad duration {s:?}: {e}"))
}

/// Longest duration accepted (a year), so that deadlines never overflow a clock.
const MAX_DURATION_SECS: f64 = 366.0 * 86_400.0;

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        bench: BenchArgs,
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("3 weeks").is_err());
        assert!(parse_duration("1e30").is_err());
        assert!(parse_duration("9999999h").is_err());
    }

    #[test]
    fn topologies_parse() {
        let cli = Cli::try_parse_from([
            "x", "pubsub", "-p", "1", "-s", "50", "-q", "1", "-V", "5", "--json",
        ])
        .expect("valid arguments");
        let Mode::Pubsub(a) = cli.bench.mode else {
            panic!("pubsub expected")
        };
        assert_eq!(
            (a.publishers, a.subscribers, a.topics, a.qos, a.window),
            (1, 50, 1, 1, 100)
        );
        assert_eq!(a.common.mqtt_version, MqttVersion::V5);
        assert!(a.common.json);
        assert!(Cli::try_parse_from(["x", "pubsub", "-q", "3"]).is_err());
        let cli = Cli::try_parse_from(["x", "conn", "-c", "10", "--hold", "1s"])
            .expect("valid arguments");
        let Mode::Conn(c) = cli.bench.mode else {
            panic!("conn expected")
        };
        assert_eq!((c.connections, c.hold), (10, Duration::from_secs(1)));
    }
}
