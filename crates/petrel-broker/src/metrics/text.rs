//! The Prometheus text exposition format (version 0.0.4) of the broker's metrics.

use std::fmt::Write as _;

use super::{DropReason, MetricsSnapshot, RefuseReason};

/// The `Content-Type` of [`render`]'s output.
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Values that are not kept in [`super::Metrics`] but read from the broker's state when
/// scraped.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct State {
    /// Sessions, connected or not.
    pub sessions: usize,
    /// Messages waiting in the longest session queue (in-flight ones not included).
    pub max_session_queue: usize,
    /// Subscriptions.
    pub subscriptions: usize,
    /// Retained messages.
    pub retained: usize,
    /// Seconds since the broker started.
    pub uptime_secs: u64,
}

/// Writes Prometheus metric families.
struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP petrel_{name} {help}");
        let _ = writeln!(self.0, "# TYPE petrel_{name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        let _ = write!(self.0, "petrel_{name}");
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", escape(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }

    fn counter(&mut self, name: &str, help: &str, value: u64) {
        self.family(name, "counter", help);
        self.sample(name, &[], value);
    }

    fn gauge(&mut self, name: &str, help: &str, value: impl std::fmt::Display) {
        self.family(name, "gauge", help);
        self.sample(name, &[], value);
    }

    /// A counter family with one sample per QoS level (label `qos`).
    fn counter_by_qos(&mut self, name: &str, help: &str, values: [u64; 3]) {
        self.counter_by(name, help, "qos", QOS.into_iter().zip(values));
    }

    /// A counter family with one sample per value of the label `key`.
    fn counter_by<'v>(
        &mut self,
        name: &str,
        help: &str,
        key: &str,
        samples: impl IntoIterator<Item = (&'v str, u64)>,
    ) {
        self.family(name, "counter", help);
        for (value, n) in samples {
            self.sample(name, &[(key, value)], n);
        }
    }
}

/// Escapes a label value (backslash, double quote, line feed).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Nanoseconds as seconds, in the plain decimal notation Prometheus reads.
fn seconds(ns: u64) -> f64 {
    ns as f64 / 1e9
}

const QOS: [&str; 3] = ["0", "1", "2"];

/// Renders every metric.
pub(crate) fn render(m: &MetricsSnapshot, s: &State) -> String {
    let mut o = Out(String::with_capacity(4096));
    o.family("build_info", "gauge", "The broker's version, as a label.");
    o.sample("build_info", &[("version", env!("CARGO_PKG_VERSION"))], 1);
    o.gauge(
        "uptime_seconds",
        "Seconds since the broker started.",
        s.uptime_secs,
    );
    o.gauge(
        "connections_open",
        "Open network connections, before and after CONNECT.",
        m.connections_open,
    );
    o.gauge(
        "clients_connected",
        "Clients that completed CONNECT and are connected.",
        m.clients_connected,
    );
    o.counter(
        "connections_total",
        "Network connections accepted.",
        m.connections_total,
    );
    o.counter_by(
        "connections_refused_total",
        "Connections refused before or at CONNECT, by reason.",
        "reason",
        RefuseReason::ALL.map(|r| (r.label(), m.refused_for(r))),
    );
    o.counter(
        "protocol_errors_total",
        "Connections closed for a protocol violation or a malformed packet.",
        m.protocol_errors,
    );
    o.counter_by_qos(
        "messages_received_total",
        "PUBLISH packets received from clients, by QoS.",
        m.received_by_qos,
    );
    o.counter_by_qos(
        "messages_sent_total",
        "PUBLISH packets sent to clients (resends included), by QoS.",
        m.sent_by_qos,
    );
    o.counter_by_qos(
        "payload_bytes_received_total",
        "Payload bytes of the PUBLISH packets received, by QoS.",
        m.payload_received_by_qos,
    );
    o.counter_by_qos(
        "payload_bytes_sent_total",
        "Payload bytes of the PUBLISH packets sent, by QoS.",
        m.payload_sent_by_qos,
    );
    o.counter(
        "bytes_received_total",
        "Bytes read from client connections.",
        m.bytes_received,
    );
    o.counter(
        "bytes_sent_total",
        "Bytes written to client connections.",
        m.bytes_sent,
    );
    o.counter_by(
        "messages_dropped_total",
        "Messages not delivered to a recipient (or not routed at all), by reason.",
        "reason",
        DropReason::ALL.map(|r| (r.label(), m.dropped_for(r))),
    );
    o.gauge(
        "messages_queued",
        "Messages in session queues, waiting or in flight.",
        m.queued_messages,
    );
    o.gauge(
        "session_queue_max",
        "Messages waiting in the longest queue of one session (in flight not included).",
        s.max_session_queue,
    );
    o.gauge("sessions", "Sessions, connected or not.", s.sessions);
    o.gauge("subscriptions", "Subscriptions.", s.subscriptions);
    o.gauge("retained_messages", "Retained messages.", s.retained);
    o.gauge(
        "buffered_bytes",
        "Bytes held in connection read buffers.",
        m.buffered_bytes,
    );
    let h = &m.store_commits;
    o.family(
        "store_commit_duration_seconds",
        "histogram",
        "Latency of the store commits the broker waited for.",
    );
    for (bound, n) in h.cumulative() {
        let le = seconds(bound).to_string();
        o.sample("store_commit_duration_seconds_bucket", &[("le", &le)], n);
    }
    let count = h.count();
    o.sample(
        "store_commit_duration_seconds_bucket",
        &[("le", "+Inf")],
        count,
    );
    o.sample("store_commit_duration_seconds_sum", &[], seconds(h.sum_ns));
    o.sample("store_commit_duration_seconds_count", &[], count);
    o.counter(
        "store_commit_errors_total",
        "Store commits that failed.",
        m.store_errors,
    );
    o.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value<'a>(text: &'a str, sample: &str) -> Option<&'a str> {
        text.lines()
            .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' '))
    }

    #[test]
    fn every_family_has_help_and_type_and_counters_end_in_total() {
        let text = render(&MetricsSnapshot::default(), &State::default());
        for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
            let mut parts = line.split(' ').skip(2);
            let (name, kind) = (parts.next().unwrap(), parts.next().unwrap());
            assert!(name.starts_with("petrel_"), "{line}");
            assert!(text.contains(&format!("# HELP {name} ")), "{name}");
            assert_eq!(kind == "counter", name.ends_with("_total"), "{line}");
        }
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let v = line.rsplit(' ').next().unwrap();
            assert!(v.parse::<f64>().is_ok(), "{line}");
        }
    }

    #[test]
    fn labels_and_histogram() {
        let mut m = MetricsSnapshot {
            received_by_qos: [1, 2, 3],
            ..MetricsSnapshot::default()
        };
        m.dropped[DropReason::QueueFull.index()] = 7;
        m.store_commits.buckets[0] = 2;
        m.store_commits.buckets[3] = 1;
        m.store_commits.sum_ns = 1_500_000;
        let state = State {
            retained: 4,
            ..State::default()
        };
        let text = render(&m, &state);
        assert_eq!(
            value(&text, "petrel_messages_received_total{qos=\"2\"}"),
            Some("3")
        );
        assert_eq!(
            value(
                &text,
                "petrel_messages_dropped_total{reason=\"queue_full\"}"
            ),
            Some("7")
        );
        assert_eq!(value(&text, "petrel_retained_messages"), Some("4"));
        let bucket = "petrel_store_commit_duration_seconds_bucket";
        assert_eq!(
            value(&text, &format!("{bucket}{{le=\"0.0001\"}}")),
            Some("2")
        );
        assert_eq!(
            value(&text, &format!("{bucket}{{le=\"0.0005\"}}")),
            Some("2")
        );
        assert_eq!(
            value(&text, &format!("{bucket}{{le=\"0.001\"}}")),
            Some("3")
        );
        assert_eq!(value(&text, &format!("{bucket}{{le=\"+Inf\"}}")), Some("3"));
        assert_eq!(
            value(&text, "petrel_store_commit_duration_seconds_count"),
            Some("3")
        );
        assert_eq!(
            value(&text, "petrel_store_commit_duration_seconds_sum"),
            Some("0.0015")
        );
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
