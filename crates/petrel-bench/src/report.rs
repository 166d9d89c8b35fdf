//! The results of a run: serializable reports, the summary table and the verdict.

use std::fmt::Write as _;
use std::process::ExitCode;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::accounting::{PairReport, Totals};

/// The result of a benchmark run.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "mode", rename_all = "lowercase")]
#[non_exhaustive]
pub enum Report {
    /// A `pubsub` run.
    Pubsub(PubSubReport),
    /// A `conn` run.
    Conn(ConnReport),
}

impl Report {
    /// False when the run found a fault: loss (QoS 1 and 2, or any QoS with `--strict`),
    /// duplicates, misrouting or phantom messages; or connections that failed or dropped.
    pub fn passed(&self) -> bool {
        self.problems().is_empty()
    }

    /// What made the run fail; empty when it passed.
    pub fn problems(&self) -> &[String] {
        match self {
            Report::Pubsub(r) => &r.problems,
            Report::Conn(r) => &r.problems,
        }
    }

    /// The process exit code for this result: success, or 2 when the run found a fault.
    pub fn exit_code(&self) -> ExitCode {
        if self.passed() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(2)
        }
    }

    /// The report as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The human-readable summary table.
    pub fn table(&self) -> String {
        match self {
            Report::Pubsub(r) => r.table(),
            Report::Conn(r) => r.table(),
        }
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Latency {
    /// Number of samples.
    pub samples: u64,
    /// Mean.
    pub mean_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Largest sample.
    pub max_ms: f64,
}

impl Latency {
    /// Percentiles of a histogram recorded in microseconds.
    pub fn from_micros(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            samples: h.len(),
            mean_ms: h.mean() / 1000.0,
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        }
    }

    fn row(&self) -> String {
        format!(
            "p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3} ms  ({} samples)",
            self.p50_ms, self.p90_ms, self.p99_ms, self.p999_ms, self.max_ms, self.samples
        )
    }
}

/// The load generator's own resource use during the measured phase.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LoadStats {
    /// CPU seconds (user + system) used by the load generator.
    pub cpu_secs: f64,
    /// CPU use as a percentage of one core.
    pub cpu_percent: f64,
    /// Cores the load generator may run on.
    pub cores: usize,
    /// Peak resident memory of the load generator in KiB.
    pub peak_rss_kib: u64,
}

impl LoadStats {
    /// True when the load generator used nearly all the CPU it has: then the figures may
    /// measure it rather than the broker.
    pub fn saturated(&self) -> bool {
        self.cpu_percent >= 90.0 * self.cores as f64
    }

    fn row(&self) -> String {
        let warn = if self.saturated() {
            "  << load generator saturated: figures are a lower bound"
        } else {
            ""
        };
        format!(
            "{:.2} s CPU = {:.0}% of one core ({} available), peak RSS {} KiB{warn}",
            self.cpu_secs, self.cpu_percent, self.cores, self.peak_rss_kib
        )
    }
}

/// The result of a `pubsub` run.
#[derive(Debug, Clone, Serialize)]
pub struct PubSubReport {
    /// Broker address.
    pub broker: String,
    /// MQTT version spoken.
    pub mqtt_version: String,
    /// QoS used.
    pub qos: u8,
    /// Publishers.
    pub publishers: u32,
    /// Subscribers.
    pub subscribers: u32,
    /// Topics.
    pub topics: u32,
    /// Payload size in bytes.
    pub payload: usize,
    /// Persistent sessions (`--persistent`).
    pub persistent: bool,
    /// `closed` (window) or `open` (rate).
    pub loop_mode: String,
    /// In-flight window per publisher (closed loop).
    pub window: Option<u32>,
    /// Messages per second per publisher (open loop).
    pub rate: Option<f64>,
    /// Seconds from the first send to the last send.
    pub publish_secs: f64,
    /// Seconds from the first send to the last delivery.
    pub delivery_secs: f64,
    /// Messages sent by all publishers.
    pub sent: u64,
    /// Messages sent per second.
    pub publish_rate: f64,
    /// Distinct expected deliveries received by all subscribers.
    pub deliveries: u64,
    /// Deliveries per second.
    pub delivery_rate: f64,
    /// End-to-end latency of first deliveries.
    pub latency: Latency,
    /// Loss, duplicates, ordering and misrouting over all pairs.
    pub totals: Totals,
    /// QoS 1/2 publications never acknowledged by the broker.
    pub unacked: u64,
    /// QoS 1/2 publications acknowledged with a failure reason code.
    pub rejected: u64,
    /// Figures per (publisher, subscriber) pair.
    pub pairs: Vec<PairReport>,
    /// The load generator's own resource use.
    pub load: LoadStats,
    /// What made the run fail; empty when it passed.
    pub problems: Vec<String>,
}

impl PubSubReport {
    /// Fills `problems` from the figures.
    pub(crate) fn judge(&mut self, strict: bool) {
        let t = &self.totals;
        let mut p = Vec::new();
        if t.lost > 0 && (self.qos > 0 || strict) {
            p.push(format!("{} deliveries lost", t.lost));
        }
        if t.duplicates > 0 {
            p.push(format!("{} duplicate deliveries", t.duplicates));
        }
        if t.misrouted > 0 {
            p.push(format!("{} misrouted deliveries", t.misrouted));
        }
        if t.phantom > 0 {
            p.push(format!("{} deliveries of messages never sent", t.phantom));
        }
        if self.unacked > 0 {
            p.push(format!("{} publications never acknowledged", self.unacked));
        }
        if self.rejected > 0 {
            p.push(format!(
                "{} publications rejected by the broker",
                self.rejected
            ));
        }
        self.problems = p;
    }

    fn table(&self) -> String {
        let t = &self.totals;
        let mut s = String::new();
        let loop_desc = match (self.window, self.rate) {
            (_, Some(r)) => format!("open loop, {r} msg/s per publisher"),
            (Some(w), None) => format!("closed loop, window {w}"),
            (None, None) => "closed loop".to_string(),
        };
        let _ = writeln!(
            s,
            "petrel bench pubsub  {}  MQTT {}",
            self.broker, self.mqtt_version
        );
        let _ =
            writeln!(
            s,
            "  topology     {} pub -> {} sub on {} topic(s), QoS {}, {} B payload, {loop_desc}{}",
            self.publishers,
            self.subscribers,
            self.topics,
            self.qos,
            self.payload,
            if self.persistent { ", persistent sessions" } else { "" }
        );
        let _ = writeln!(
            s,
            "  published    {:>12} msgs in {:.2} s = {:>12.0} msg/s",
            self.sent, self.publish_secs, self.publish_rate
        );
        let _ = writeln!(
            s,
            "  delivered    {:>12} msgs in {:.2} s = {:>12.0} msg/s",
            self.deliveries, self.delivery_secs, self.delivery_rate
        );
        let _ = writeln!(s, "  latency      {}", self.latency.row());
        let _ = writeln!(
            s,
            "  accounting   expected {}  lost {}  dup {}  out-of-order {}  misrouted {}  phantom {}  foreign {}  unacked {}",
            t.expected, t.lost, t.duplicates, t.out_of_order, t.misrouted, t.phantom, t.foreign, self.unacked
        );
        let bad: Vec<&PairReport> = self
            .pairs
            .iter()
            .filter(|p| p.lost + p.duplicates + p.out_of_order + p.phantom > 0)
            .collect();
        for p in bad.iter().take(10) {
            let _ = writeln!(
                s,
                "    pair p{}->s{}: sent {} received {} lost {} dup {} out-of-order {} phantom {}",
                p.publisher,
                p.subscriber,
                p.sent,
                p.received,
                p.lost,
                p.duplicates,
                p.out_of_order,
                p.phantom
            );
        }
        if bad.len() > 10 {
            let _ = writeln!(
                s,
                "    ... and {} more pairs with anomalies (see --json)",
                bad.len() - 10
            );
        }
        let _ = writeln!(s, "  load gen     {}", self.load.row());
        verdict(&mut s, &self.problems);
        s
    }
}

/// The result of a `conn` run.
#[derive(Debug, Clone, Serialize)]
pub struct ConnReport {
    /// Broker address.
    pub broker: String,
    /// MQTT version spoken.
    pub mqtt_version: String,
    /// Connections asked for.
    pub requested: u32,
    /// Connections that got a successful CONNACK.
    pub connected: u32,
    /// Connections that failed to connect.
    pub failed: u32,
    /// First connection error, if any.
    pub first_error: Option<String>,
    /// Seconds to establish all connections.
    pub connect_secs: f64,
    /// Connections established per second.
    pub connect_rate: f64,
    /// Time from TCP connect to CONNACK.
    pub connack_latency: Latency,
    /// Seconds the connections were held.
    pub hold_secs: f64,
    /// Connections the broker closed during the hold.
    pub dropped: u32,
    /// PINGREQ sent during the hold.
    pub pings: u64,
    /// The load generator's own resource use.
    pub load: LoadStats,
    /// What made the run fail; empty when it passed.
    pub problems: Vec<String>,
}

impl ConnReport {
    /// Fills `problems` from the figures.
    pub(crate) fn judge(&mut self) {
        let mut p = Vec::new();
        if self.failed > 0 {
            let why = self.first_error.as_deref().unwrap_or("unknown error");
            p.push(format!("{} connections failed (first: {why})", self.failed));
        }
        if self.dropped > 0 {
            p.push(format!(
                "{} connections dropped by the broker during the hold",
                self.dropped
            ));
        }
        self.problems = p;
    }

    fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "petrel bench conn  {}  MQTT {}",
            self.broker, self.mqtt_version
        );
        let _ = writeln!(
            s,
            "  connected    {} of {} in {:.2} s = {:.0} conn/s  (failed {})",
            self.connected, self.requested, self.connect_secs, self.connect_rate, self.failed
        );
        let _ = writeln!(s, "  CONNACK      {}", self.connack_latency.row());
        let _ = writeln!(
            s,
            "  held         {:.1} s, {} PINGREQ sent, {} dropped",
            self.hold_secs, self.pings, self.dropped
        );
        let _ = writeln!(s, "  load gen     {}", self.load.row());
        verdict(&mut s, &self.problems);
        s
    }
}

fn verdict(s: &mut String, problems: &[String]) {
    if problems.is_empty() {
        let _ = writeln!(s, "  result       PASS");
    } else {
        let _ = writeln!(s, "  result       FAIL: {}", problems.join("; "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(qos: u8, totals: Totals) -> PubSubReport {
        PubSubReport {
            broker: "127.0.0.1:1883".into(),
            mqtt_version: "3.1.1".into(),
            qos,
            publishers: 1,
            subscribers: 1,
            topics: 1,
            payload: 64,
            persistent: false,
            loop_mode: "closed".into(),
            window: Some(100),
            rate: None,
            publish_secs: 1.0,
            delivery_secs: 1.0,
            sent: 10,
            publish_rate: 10.0,
            deliveries: totals.received,
            delivery_rate: 10.0,
            latency: Latency::default(),
            totals,
            unacked: 0,
            rejected: 0,
            pairs: Vec::new(),
            load: LoadStats::default(),
            problems: Vec::new(),
        }
    }

    #[test]
    fn loss_fails_at_qos1_but_only_strictly_at_qos0() {
        let lossy = Totals {
            expected: 10,
            received: 9,
            lost: 1,
            ..Totals::default()
        };
        let mut r = report(0, lossy.clone());
        r.judge(false);
        assert!(r.problems.is_empty());
        r.judge(true);
        assert_eq!(r.problems, vec!["1 deliveries lost".to_string()]);
        let mut r = report(1, lossy);
        r.judge(false);
        assert!(!Report::Pubsub(r.clone()).passed());
        assert_eq!(Report::Pubsub(r).exit_code(), ExitCode::from(2));
    }

    #[test]
    fn duplicates_and_misrouting_fail_at_any_qos() {
        let mut r = report(
            0,
            Totals {
                duplicates: 1,
                misrouted: 2,
                ..Totals::default()
            },
        );
        r.judge(false);
        assert_eq!(r.problems.len(), 2);
        let table = Report::Pubsub(r).table();
        assert!(table.contains("FAIL"), "{table}");
    }

    #[test]
    fn clean_run_passes_and_serializes_with_its_mode() {
        let mut r = report(
            2,
            Totals {
                expected: 10,
                received: 10,
                ..Totals::default()
            },
        );
        r.judge(true);
        let report = Report::Pubsub(r);
        assert!(report.passed());
        assert!(report.table().contains("PASS"));
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).expect("valid JSON");
        assert_eq!(json["mode"], "pubsub");
        assert_eq!(json["totals"]["received"], 10);
    }
}
