//! Counters and gauges of the broker, readable at any time, published under `$SYS` and
//! served in the Prometheus text format on the optional metrics listener.
//!
//! Every update is a relaxed atomic addition (two for a PUBLISH: count and payload
//! bytes): no lock is taken on the hot path.

pub(crate) mod config;
mod histogram;
pub(crate) mod http;
mod refuse;
pub(crate) mod store;
pub(crate) mod text;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use petrel_codec::QoS;

pub use histogram::{Histogram, HistogramSnapshot, LATENCY_BOUNDS_NS};
pub use refuse::RefuseReason;
pub use store::StoreMetrics;

/// Why a message was not delivered to a recipient (or not routed at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// A session's queue was full (the drop policy chose this message or an older one).
    QueueFull,
    /// Larger than the Maximum Packet Size the receiving client announced (MQTT-3.1.2-25).
    TooLarge,
    /// Its Message Expiry Interval passed before it could be sent.
    Expired,
    /// A non-retained PUBLISH matched no subscription.
    NoSubscribers,
    /// The ACL refused it: a PUBLISH the client may not send (or to `$SYS`), or a
    /// delivery the subscriber may no longer receive.
    NotAuthorized,
    /// The store commit that had to precede it failed.
    StoreFailure,
    /// A QoS 0 message for a session with no connection.
    Offline,
    /// Queued or in flight in a session that was discarded (clean start, expiry).
    SessionEnded,
}

impl DropReason {
    /// Every reason, in the order of [`Self::index`].
    pub const ALL: [DropReason; 8] = [
        DropReason::QueueFull,
        DropReason::TooLarge,
        DropReason::Expired,
        DropReason::NoSubscribers,
        DropReason::NotAuthorized,
        DropReason::StoreFailure,
        DropReason::Offline,
        DropReason::SessionEnded,
    ];

    /// The position of this reason in [`Self::ALL`] and in the drop counters.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The value of the `reason` label in the Prometheus output.
    pub const fn label(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::TooLarge => "too_large",
            DropReason::Expired => "expired",
            DropReason::NoSubscribers => "no_subscribers",
            DropReason::NotAuthorized => "not_authorized",
            DropReason::StoreFailure => "store_failure",
            DropReason::Offline => "offline",
            DropReason::SessionEnded => "session_ended",
        }
    }
}

const REASONS: usize = DropReason::ALL.len();
const REFUSALS: usize = RefuseReason::ALL.len();

/// Broker-wide counters (monotonic) and gauges (current values). All updates are relaxed
/// atomic operations; readers see a recent value.
#[derive(Debug, Default)]
pub struct Metrics {
    /// PUBLISH packets received from clients, by QoS (index 0, 1, 2).
    pub messages_received: [AtomicU64; 3],
    /// PUBLISH packets sent to clients (resends included), by QoS.
    pub messages_sent: [AtomicU64; 3],
    /// Payload bytes of the PUBLISH packets received, by QoS.
    pub payload_received: [AtomicU64; 3],
    /// Payload bytes of the PUBLISH packets sent, by QoS.
    pub payload_sent: [AtomicU64; 3],
    /// Bytes read from client sockets.
    pub bytes_received: AtomicU64,
    /// Bytes written to client sockets.
    pub bytes_sent: AtomicU64,
    /// Messages not delivered, by [`DropReason::index`].
    pub dropped: [AtomicU64; REASONS],
    /// Connections accepted since start.
    pub connections_total: AtomicU64,
    /// Connections refused, by [`RefuseReason::index`].
    pub connections_refused: [AtomicU64; REFUSALS],
    /// Connections closed for a protocol violation or a malformed packet.
    pub protocol_errors: AtomicU64,
    /// Open TCP connections (before and after CONNECT).
    pub connections_open: AtomicI64,
    /// Clients that completed CONNECT and are connected now.
    pub clients_connected: AtomicI64,
    /// Bytes held in connection read buffers right now.
    pub buffered_bytes: AtomicI64,
    /// Messages held in session queues right now (queued and in flight).
    pub queued_messages: AtomicI64,
    /// Latency and failures of store commits (shared with the store wrapper that
    /// measures them).
    pub store: Arc<StoreMetrics>,
}

/// A plain copy of [`Metrics`] at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// PUBLISH packets received, all QoS levels.
    pub messages_received: u64,
    /// PUBLISH packets sent, all QoS levels.
    pub messages_sent: u64,
    /// See [`Metrics::messages_received`].
    pub received_by_qos: [u64; 3],
    /// See [`Metrics::messages_sent`].
    pub sent_by_qos: [u64; 3],
    /// See [`Metrics::payload_received`].
    pub payload_received_by_qos: [u64; 3],
    /// See [`Metrics::payload_sent`].
    pub payload_sent_by_qos: [u64; 3],
    /// See [`Metrics::bytes_received`].
    pub bytes_received: u64,
    /// See [`Metrics::bytes_sent`].
    pub bytes_sent: u64,
    /// Messages dropped because a queue was full or they were too large for the client.
    pub messages_dropped: u64,
    /// Messages dropped because they expired before delivery.
    pub messages_expired: u64,
    /// Drops by [`DropReason::index`]; see [`MetricsSnapshot::dropped_for`].
    pub dropped: [u64; REASONS],
    /// See [`Metrics::connections_total`].
    pub connections_total: u64,
    /// Connections refused, all reasons.
    pub connections_refused: u64,
    /// Refusals by [`RefuseReason::index`]; see [`MetricsSnapshot::refused_for`].
    pub refused: [u64; REFUSALS],
    /// See [`Metrics::protocol_errors`].
    pub protocol_errors: u64,
    /// See [`Metrics::connections_open`].
    pub connections_open: i64,
    /// See [`Metrics::clients_connected`].
    pub clients_connected: i64,
    /// See [`Metrics::buffered_bytes`].
    pub buffered_bytes: i64,
    /// See [`Metrics::queued_messages`].
    pub queued_messages: i64,
    /// Latency of the store commits the broker waited for (see [`StoreMetrics::commits`]).
    pub store_commits: HistogramSnapshot,
    /// See [`StoreMetrics::errors`].
    pub store_errors: u64,
}

impl MetricsSnapshot {
    /// Messages dropped for `reason`.
    pub fn dropped_for(&self, reason: DropReason) -> u64 {
        self.dropped[reason.index()]
    }

    /// Connections refused for `reason`.
    pub fn refused_for(&self, reason: RefuseReason) -> u64 {
        self.refused[reason.index()]
    }
}

impl Metrics {
    /// Adds `n` to a counter.
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Adds `n` (may be negative) to a gauge.
    pub(crate) fn gauge(gauge: &AtomicI64, n: i64) {
        gauge.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts a PUBLISH received from a client, with `payload` bytes.
    pub(crate) fn received(&self, qos: QoS, payload: usize) {
        Self::add(&self.messages_received[qos as usize], 1);
        Self::add(&self.payload_received[qos as usize], payload as u64);
    }

    /// Counts a PUBLISH sent to a client, with `payload` bytes.
    pub(crate) fn sent(&self, qos: QoS, payload: usize) {
        Self::add(&self.messages_sent[qos as usize], 1);
        Self::add(&self.payload_sent[qos as usize], payload as u64);
    }

    /// Counts a connection refused for `reason`.
    pub(crate) fn refused(&self, reason: RefuseReason) {
        Self::add(&self.connections_refused[reason.index()], 1);
    }

    /// Counts `n` messages dropped for `reason`.
    pub(crate) fn dropped(&self, reason: DropReason, n: u64) {
        Self::add(&self.dropped[reason.index()], n);
    }

    /// Reads every value.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let g = |c: &AtomicI64| c.load(Ordering::Relaxed);
        let received_by_qos = self.messages_received.each_ref().map(r);
        let sent_by_qos = self.messages_sent.each_ref().map(r);
        let dropped = self.dropped.each_ref().map(r);
        let reason = |d: DropReason| dropped[d.index()];
        let refused = self.connections_refused.each_ref().map(r);
        MetricsSnapshot {
            messages_received: received_by_qos.iter().sum(),
            messages_sent: sent_by_qos.iter().sum(),
            received_by_qos,
            sent_by_qos,
            payload_received_by_qos: self.payload_received.each_ref().map(r),
            payload_sent_by_qos: self.payload_sent.each_ref().map(r),
            bytes_received: r(&self.bytes_received),
            bytes_sent: r(&self.bytes_sent),
            messages_dropped: reason(DropReason::QueueFull) + reason(DropReason::TooLarge),
            messages_expired: reason(DropReason::Expired),
            dropped,
            connections_total: r(&self.connections_total),
            connections_refused: refused.iter().sum(),
            refused,
            protocol_errors: r(&self.protocol_errors),
            connections_open: g(&self.connections_open),
            clients_connected: g(&self.clients_connected),
            buffered_bytes: g(&self.buffered_bytes),
            queued_messages: g(&self.queued_messages),
            store_commits: self.store.commits.snapshot(),
            store_errors: r(&self.store.errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each reason's index is its position, and no two share a label.
    fn indexed_with_distinct_labels(reasons: &[(usize, &str)]) {
        for (i, (index, _)) in reasons.iter().enumerate() {
            assert_eq!(*index, i);
        }
        let mut labels: Vec<_> = reasons.iter().map(|r| r.1).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), reasons.len());
    }

    #[test]
    fn reasons_are_indexed_in_order_with_distinct_labels() {
        indexed_with_distinct_labels(&DropReason::ALL.map(|r| (r.index(), r.label())));
        indexed_with_distinct_labels(&RefuseReason::ALL.map(|r| (r.index(), r.label())));
    }

    #[test]
    fn snapshot_totals_add_up() {
        let m = Metrics::default();
        m.received(QoS::AtMostOnce, 10);
        m.received(QoS::ExactlyOnce, 1);
        m.received(QoS::ExactlyOnce, 2);
        m.sent(QoS::AtLeastOnce, 5);
        m.dropped(DropReason::QueueFull, 2);
        m.dropped(DropReason::TooLarge, 1);
        m.dropped(DropReason::Expired, 4);
        m.dropped(DropReason::NoSubscribers, 8);
        let s = m.snapshot();
        assert_eq!(s.received_by_qos, [1, 0, 2]);
        assert_eq!(s.messages_received, 3);
        assert_eq!(s.sent_by_qos, [0, 1, 0]);
        assert_eq!(s.payload_received_by_qos, [10, 0, 3]);
        assert_eq!(s.payload_sent_by_qos, [0, 5, 0]);
        assert_eq!(s.messages_sent, 1);
        assert_eq!(s.messages_dropped, 3);
        assert_eq!(s.messages_expired, 4);
        assert_eq!(s.dropped_for(DropReason::NoSubscribers), 8);
    }
}
