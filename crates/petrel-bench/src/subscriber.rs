//! A subscriber task: receives messages, acknowledges them at their QoS, and accounts for
//! each one (pair, sequence number, latency), on one connection, in one task.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use hdrhistogram::Histogram;
use petrel_codec::{Packet, PubResp, QoS};
use tokio::sync::watch;

use crate::accounting::SubscriberAccount;
use crate::payload::Header;
use crate::pubsub::{Plan, Shared};
use crate::wire::Conn;
use crate::BenchError;

/// What a subscriber saw.
pub(crate) struct SubResult {
    /// Per-pair accounting.
    pub account: SubscriberAccount,
    /// Latency of first arrivals, in microseconds.
    pub latency: Histogram<u64>,
    /// When the last first arrival came.
    pub last_delivery: Option<Instant>,
}

/// A latency histogram in microseconds, from 1 µs to one hour, 3 significant digits.
pub(crate) fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("constant histogram bounds are valid")
}

/// Runs subscriber `idx` until `stop` turns true.
pub(crate) async fn run(
    mut conn: Conn,
    idx: usize,
    plan: Arc<Plan>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> Result<SubResult, BenchError> {
    let expected = plan.expected_for(idx);
    let subscriber = u32::try_from(idx).unwrap_or(u32::MAX);
    let mut account = SubscriberAccount::new(subscriber, plan.run_id, expected);
    let mut latency = latency_histogram();
    let mut last_delivery = None;
    // Fresh deliveries per publisher in this batch, published to the shared counters once.
    let mut batch = vec![0u64; plan.publishers as usize];
    let mut touched: Vec<usize> = Vec::new();

    loop {
        if conn.try_read()? {
            let now = Instant::now();
            let now_ns =
                u64::try_from(now.duration_since(shared.base).as_nanos()).unwrap_or(u64::MAX);
            let mut fresh = 0u64;
            while let Some(packet) = conn.next_packet()? {
                match packet {
                    Packet::Publish(p) => {
                        let header = Header::parse(&p.payload);
                        let topic_ok = header
                            .and_then(|h| usize::try_from(h.publisher).ok())
                            .filter(|&i| i < plan.fanout.len())
                            .is_some_and(|i| plan.topic_of_publisher(i) == &*p.topic);
                        let arrival = account.record(header, topic_ok, |i| {
                            shared.sent.get(i).map_or(0, |s| s.load(Ordering::Acquire))
                        });
                        if let (Some(h), Some(a)) = (header, arrival) {
                            if a.is_fresh() {
                                let us = now_ns.saturating_sub(h.sent_ns) / 1000;
                                latency.saturating_record(us.max(1));
                                fresh += 1;
                                let i = h.publisher as usize;
                                if let Some(slot) = batch.get_mut(i) {
                                    if *slot == 0 {
                                        touched.push(i);
                                    }
                                    *slot += 1;
                                }
                            }
                        }
                        match (p.qos, p.packet_id) {
                            (QoS::AtLeastOnce, Some(id)) => {
                                conn.queue(&Packet::PubAck(PubResp::new(id)))?
                            }
                            (QoS::ExactlyOnce, Some(id)) => {
                                conn.queue(&Packet::PubRec(PubResp::new(id)))?
                            }
                            _ => {}
                        }
                    }
                    Packet::PubRel(rel) => {
                        conn.queue(&Packet::PubComp(PubResp::new(rel.packet_id)))?
                    }
                    Packet::PingResp => {}
                    other => return Err(conn.unexpected(&other, "PUBLISH or PUBREL")),
                }
            }
            if fresh > 0 {
                last_delivery = Some(now);
                shared.received_total.fetch_add(fresh, Ordering::Relaxed);
                for i in touched.drain(..) {
                    if let (Some(n), Some(d), Some(w)) = (
                        batch.get_mut(i),
                        shared.delivered.get(i),
                        shared.wake.get(i),
                    ) {
                        d.fetch_add(*n, Ordering::AcqRel);
                        *n = 0;
                        w.notify_one();
                    }
                }
            }
        }
        conn.try_flush()?;
        if *stop.borrow() {
            break;
        }
        tokio::select! {
            r = conn.stream.readable() => r.map_err(|e| conn.io("read", e))?,
            r = conn.stream.writable(), if !conn.wbuf.is_empty() => r.map_err(|e| conn.io("write", e))?,
            r = stop.changed() => if r.is_err() { break },
        }
    }
    conn.disconnect().await;
    Ok(SubResult {
        account,
        latency,
        last_delivery,
    })
}
