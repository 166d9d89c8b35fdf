//! Counters and gauges of the broker, readable at any time and published under `$SYS`.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Broker-wide counters (monotonic) and gauges (current values). All updates are relaxed
/// atomic operations; readers see a recent value.
#[derive(Debug, Default)]
pub struct Metrics {
    /// PUBLISH packets received from clients.
    pub messages_received: AtomicU64,
    /// PUBLISH packets sent to clients.
    pub messages_sent: AtomicU64,
    /// Bytes read from client sockets.
    pub bytes_received: AtomicU64,
    /// Bytes written to client sockets.
    pub bytes_sent: AtomicU64,
    /// Messages dropped because a session queue was full.
    pub messages_dropped: AtomicU64,
    /// Messages dropped because they expired before delivery.
    pub messages_expired: AtomicU64,
    /// Connections accepted since start.
    pub connections_total: AtomicU64,
    /// Connections refused because `max_connections` was reached.
    pub connections_refused: AtomicU64,
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
}

/// A plain copy of [`Metrics`] at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// See [`Metrics::messages_received`].
    pub messages_received: u64,
    /// See [`Metrics::messages_sent`].
    pub messages_sent: u64,
    /// See [`Metrics::bytes_received`].
    pub bytes_received: u64,
    /// See [`Metrics::bytes_sent`].
    pub bytes_sent: u64,
    /// See [`Metrics::messages_dropped`].
    pub messages_dropped: u64,
    /// See [`Metrics::messages_expired`].
    pub messages_expired: u64,
    /// See [`Metrics::connections_total`].
    pub connections_total: u64,
    /// See [`Metrics::connections_refused`].
    pub connections_refused: u64,
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

    /// Reads every value.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let g = |c: &AtomicI64| c.load(Ordering::Relaxed);
        MetricsSnapshot {
            messages_received: r(&self.messages_received),
            messages_sent: r(&self.messages_sent),
            bytes_received: r(&self.bytes_received),
            bytes_sent: r(&self.bytes_sent),
            messages_dropped: r(&self.messages_dropped),
            messages_expired: r(&self.messages_expired),
            connections_total: r(&self.connections_total),
            connections_refused: r(&self.connections_refused),
            protocol_errors: r(&self.protocol_errors),
            connections_open: g(&self.connections_open),
            clients_connected: g(&self.clients_connected),
            buffered_bytes: g(&self.buffered_bytes),
            queued_messages: g(&self.queued_messages),
        }
    }
}
