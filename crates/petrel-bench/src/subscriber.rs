//! A subscriber task: receives messages, acknowledges them at their QoS, and accounts for
//! each one (pair, sequence number, latency), on one connection, in one task.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use bytes::Buf;
use hdrhistogram::Histogram;
use petrel_codec::{Packet, PacketId, PubResp, QoS};
use tokio::sync::watch;

use crate::accounting::SubscriberAccount;
use crate::fastpub;
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

/// What one subscriber counts during one read batch, before publishing it to the shared
/// counters: fresh deliveries per publisher, and a cache of each publisher's sent count.
struct Tally<'a> {
    /// Each publisher's topic, by publisher index.
    topics: Vec<&'a [u8]>,
    shared: &'a Shared,
    account: SubscriberAccount,
    latency: Histogram<u64>,
    /// Fresh deliveries per publisher in this batch.
    batch: Vec<u64>,
    touched: Vec<usize>,
    fresh: u64,
    /// A lower bound of what each publisher has sent (its counter only grows): reloaded
    /// only for a sequence number at or above it, so most arrivals read no shared atomic.
    sent_seen: Vec<u64>,
}

impl Tally<'_> {
    /// True when `topic` is the topic of the publisher named in `header`.
    fn topic_ok(&self, header: Option<Header>, topic: &[u8]) -> bool {
        header
            .and_then(|h| usize::try_from(h.publisher).ok())
            .and_then(|i| self.topics.get(i))
            .is_some_and(|t| *t == topic)
    }

    /// Accounts for one PUBLISH that arrived in a batch read at `now_ns`; `topic_ok` as
    /// given by [`Tally::topic_ok`].
    fn arrival(&mut self, header: Option<Header>, topic_ok: bool, now_ns: u64) {
        if let Some(h) = header {
            let i = h.publisher as usize;
            if let (Some(seen), Some(sent)) = (self.sent_seen.get_mut(i), self.shared.sent.get(i)) {
                if h.seq >= *seen {
                    *seen = sent.load(Ordering::Acquire);
                }
            }
        }
        let sent_seen = &self.sent_seen;
        let arrival = self
            .account
            .record(header, topic_ok, |i| sent_seen.get(i).copied().unwrap_or(0));
        if let (Some(h), Some(a)) = (header, arrival) {
            if a.is_fresh() {
                let us = now_ns.saturating_sub(h.sent_ns) / 1000;
                self.latency.saturating_record(us.max(1));
                self.fresh += 1;
                let i = h.publisher as usize;
                if let Some(slot) = self.batch.get_mut(i) {
                    if *slot == 0 {
                        self.touched.push(i);
                    }
                    *slot += 1;
                }
            }
        }
    }

    /// Publishes the batch's fresh deliveries to the shared counters; true if there were any.
    fn publish(&mut self) -> bool {
        if self.fresh == 0 {
            return false;
        }
        self.shared
            .received_total
            .fetch_add(self.fresh, Ordering::Relaxed);
        self.fresh = 0;
        for i in self.touched.drain(..) {
            if let (Some(n), Some(d), Some(w)) = (
                self.batch.get_mut(i),
                self.shared.delivered.get(i),
                self.shared.wake.get(i),
            ) {
                d.fetch_add(*n, Ordering::AcqRel);
                *n = 0;
                w.notify_one();
            }
        }
        true
    }
}

/// Handles every complete packet in the read buffer. Plain PUBLISH frames on the expected
/// topic take the allocation-free path of [`fastpub`]; everything else goes through the
/// full decoder, with the same accounting.
fn drain(conn: &mut Conn, tally: &mut Tally<'_>, now_ns: u64) -> Result<(), BenchError> {
    let v5 = conn.version.is_v5();
    loop {
        if let Some(f) = fastpub::peek(&conn.rbuf, v5) {
            let header = conn.rbuf.get(f.payload.clone()).and_then(Header::parse);
            let topic = conn.rbuf.get(f.topic.clone()).unwrap_or_default();
            if tally.topic_ok(header, topic) {
                tally.arrival(header, true, now_ns);
                conn.rbuf.advance(f.len);
                ack(conn, f.qos, f.packet_id)?;
                continue;
            }
        }
        let Some(packet) = conn.next_packet()? else {
            return Ok(());
        };
        match packet {
            Packet::Publish(p) => {
                let header = Header::parse(&p.payload);
                let topic_ok = tally.topic_ok(header, p.topic.as_bytes());
                tally.arrival(header, topic_ok, now_ns);
                ack(conn, p.qos, p.packet_id)?;
            }
            Packet::PubRel(rel) => conn.queue(&Packet::PubComp(PubResp::new(rel.packet_id)))?,
            Packet::PingResp => {}
            other => return Err(conn.unexpected(&other, "PUBLISH or PUBREL")),
        }
    }
}

/// Queues the acknowledgement a PUBLISH at `qos` needs.
fn ack(conn: &mut Conn, qos: QoS, packet_id: Option<PacketId>) -> Result<(), BenchError> {
    match (qos, packet_id) {
        (QoS::AtLeastOnce, Some(id)) => conn.queue(&Packet::PubAck(PubResp::new(id))),
        (QoS::ExactlyOnce, Some(id)) => conn.queue(&Packet::PubRec(PubResp::new(id))),
        _ => Ok(()),
    }
}

/// Runs subscriber `idx` until `stop` turns true.
///
/// Latency: the clock is read once per read batch, right after the read returns, and that
/// time is the arrival time of every message in the batch. A message's latency is therefore
/// its delivery time up to the moment the bytes were taken from the socket (the decoding
/// time of the messages before it in the batch is not counted), which is the time the
/// broker needed to get it to us.
pub(crate) async fn run(
    mut conn: Conn,
    idx: usize,
    plan: Arc<Plan>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> Result<SubResult, BenchError> {
    let expected = plan.expected_for(idx);
    let subscriber = u32::try_from(idx).unwrap_or(u32::MAX);
    let publishers = plan.publishers as usize;
    let mut tally = Tally {
        topics: (0..plan.fanout.len())
            .map(|i| plan.topic_of_publisher(i).as_bytes())
            .collect(),
        shared: &shared,
        account: SubscriberAccount::new(subscriber, plan.run_id, expected),
        latency: latency_histogram(),
        batch: vec![0u64; publishers],
        touched: Vec::new(),
        fresh: 0,
        sent_seen: vec![0u64; publishers],
    };
    let mut last_delivery = None;

    loop {
        if conn.try_read()? {
            let now = Instant::now();
            let now_ns =
                u64::try_from(now.duration_since(shared.base).as_nanos()).unwrap_or(u64::MAX);
            drain(&mut conn, &mut tally, now_ns)?;
            if tally.publish() {
                last_delivery = Some(now);
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
    let Tally {
        account, latency, ..
    } = tally;
    conn.disconnect().await;
    Ok(SubResult {
        account,
        latency,
        last_delivery,
    })
}
