//! `$SYS/broker/...` topics, published retained on an interval in the shape Mosquitto uses.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use petrel_codec::{Properties, QoS};
use tokio::time::Instant;

use crate::core::Core;
use crate::message::Message;

/// The version string published under `$SYS/broker/version`.
pub const VERSION: &str = concat!("petrel ", env!("CARGO_PKG_VERSION"));

/// Publishes the `$SYS` topics once.
pub(crate) async fn publish_once(core: &Core) {
    let m = core.metrics.snapshot();
    let uptime = core.started.elapsed().as_secs();
    let values: [(&str, String); 11] = [
        ("$SYS/broker/version", VERSION.to_owned()),
        ("$SYS/broker/uptime", format!("{uptime} seconds")),
        (
            "$SYS/broker/clients/connected",
            m.clients_connected.to_string(),
        ),
        (
            "$SYS/broker/clients/total",
            core.session_count().to_string(),
        ),
        (
            "$SYS/broker/messages/received",
            m.messages_received.to_string(),
        ),
        ("$SYS/broker/messages/sent", m.messages_sent.to_string()),
        (
            "$SYS/broker/messages/dropped",
            m.messages_dropped.to_string(),
        ),
        ("$SYS/broker/bytes/received", m.bytes_received.to_string()),
        ("$SYS/broker/bytes/sent", m.bytes_sent.to_string()),
        (
            "$SYS/broker/subscriptions/count",
            core.index.len().to_string(),
        ),
        (
            "$SYS/broker/retained messages/count",
            core.retained.len().to_string(),
        ),
    ];
    let now = Instant::now();
    for (topic, value) in values {
        let msg = Message::new(
            topic.into(),
            Bytes::from(value),
            QoS::AtMostOnce,
            true,
            &Properties::new(),
            now,
            None,
        );
        core.publish(msg).await;
    }
}

/// Runs until shutdown, publishing every `interval`.
pub(crate) async fn run(core: Arc<Core>, interval: Duration) {
    let mut shutdown = core.shutdown.clone();
    let mut ticker = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = ticker.tick() => publish_once(&core).await,
            _ = shutdown.changed() => return,
        }
    }
}
