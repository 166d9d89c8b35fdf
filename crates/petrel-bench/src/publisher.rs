//! A publisher task: sends benchmark messages within its flow limits and handles the
//! broker's acknowledgements, on one connection, in one task.
//!
//! Flow limits: in closed loop, at most `window` messages in flight end to end (sent but not
//! yet delivered to every subscriber that should get them); at QoS 1 and 2 also at most the
//! broker's Receive Maximum unacknowledged, with packet identifiers never reused while in
//! use. In open loop, messages are sent on schedule; their timestamp is the scheduled time,
//! so a broker that stalls the sender is charged for the delay (no coordinated omission).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use petrel_codec::{Packet, PacketId, PubResp, QoS};

use crate::payload::Header;
use crate::pubframe::FrameTemplate;
use crate::pubsub::{Plan, Shared};
use crate::wire::Conn;
use crate::BenchError;

/// Messages encoded per wake-up before the task yields.
const BATCH: u32 = 256;
/// Encoded bytes waiting for the socket beyond which no more messages are encoded.
const MAX_PENDING_WRITE: usize = 256 * 1024;

/// A bound for scheduled send times (open loop), far beyond any run's end.
const FAR_FUTURE: Duration = Duration::from_secs(10 * 366 * 86_400);

/// What a publisher did.
#[derive(Debug, Clone)]
pub(crate) struct PubResult {
    /// Messages sent (the sequence numbers 0..sent).
    pub sent: u64,
    /// QoS 1/2 messages still unacknowledged when the grace period ran out.
    pub unacked: u64,
    /// QoS 1/2 messages the broker acknowledged with a failure reason code (MQTT 5).
    pub rejected: u64,
    /// When the last message was sent.
    pub finished: Instant,
}

/// Packet identifiers in use, so that none is reused before its flow completes.
struct IdPool {
    in_use: Vec<bool>,
    next: u16,
    count: u32,
}

impl IdPool {
    fn new() -> Self {
        Self {
            in_use: vec![false; 65536],
            next: 1,
            count: 0,
        }
    }

    fn take(&mut self) -> Option<PacketId> {
        let slot = self.in_use.get_mut(usize::from(self.next))?;
        if *slot {
            return None;
        }
        *slot = true;
        self.count += 1;
        let id = PacketId::new(self.next);
        self.next = self.next.checked_add(1).unwrap_or(1);
        id
    }

    /// Frees `id`; false if it was not in use (a stray acknowledgement).
    fn release(&mut self, id: PacketId) -> bool {
        match self.in_use.get_mut(usize::from(id.get())) {
            Some(slot) if *slot => {
                *slot = false;
                self.count -= 1;
                true
            }
            _ => false,
        }
    }
}

/// Nanoseconds from `base` to `t`.
fn ns_since(base: Instant, t: Instant) -> u64 {
    u64::try_from(t.duration_since(base).as_nanos()).unwrap_or(u64::MAX)
}

/// Runs publisher `idx` until it has sent its messages and its acknowledgements are in (or
/// the grace period after the last send has passed).
pub(crate) async fn run(
    mut conn: Conn,
    idx: usize,
    plan: Arc<Plan>,
    shared: Arc<Shared>,
) -> Result<PubResult, BenchError> {
    let qos = plan.qos;
    let frame = FrameTemplate::new(
        conn.version,
        plan.topic_of_publisher(idx),
        qos,
        plan.payload,
    )
    .map_err(|e| BenchError::Protocol {
        client: conn.client.to_string(),
        detail: format!("cannot encode PUBLISH: {e}"),
    })?;
    let fanout = plan.fanout.get(idx).copied().unwrap_or(0);
    let window = u64::from(plan.window) * fanout;
    let max_unacked = plan.max_unacked(conn.version, conn.receive_maximum);
    let interval = plan.rate.map(|r| Duration::from_secs_f64(1.0 / r));
    let publisher = u32::try_from(idx).unwrap_or(u32::MAX);
    let sent_counter = shared
        .sent
        .get(idx)
        .ok_or_else(|| BenchError::Task("publisher index".into()))?;
    let delivered = shared
        .delivered
        .get(idx)
        .ok_or_else(|| BenchError::Task("publisher index".into()))?;
    let wake = shared
        .wake
        .get(idx)
        .ok_or_else(|| BenchError::Task("publisher index".into()))?;

    let start = shared.start;
    let deadline = tokio::time::Instant::from_std(start + plan.duration);
    let mut ids = IdPool::new();
    let mut seq: u64 = 0;
    let mut rejected = 0u64;
    // Deliveries written off as lost after a stall, so the window can move on.
    let mut forgiven = 0u64;
    let mut last_progress = (Instant::now(), 0u64);
    let mut finished: Option<Instant> = None;

    loop {
        // 1. Acknowledgements.
        if conn.try_read()? {
            while let Some(packet) = conn.next_packet()? {
                match packet {
                    Packet::PubAck(ack) if qos == QoS::AtLeastOnce => {
                        ids.release(ack.packet_id);
                        rejected += u64::from(ack.reason.is_error());
                    }
                    Packet::PubRec(rec) if qos == QoS::ExactlyOnce => {
                        if rec.reason.is_error() {
                            ids.release(rec.packet_id);
                            rejected += 1;
                        } else {
                            conn.queue(&Packet::PubRel(PubResp::new(rec.packet_id)))?;
                        }
                    }
                    Packet::PubComp(comp) if qos == QoS::ExactlyOnce => {
                        ids.release(comp.packet_id);
                    }
                    Packet::PingResp => {}
                    other => return Err(conn.unexpected(&other, "an acknowledgement")),
                }
            }
        }

        // 2. New messages, within the limits.
        let now = Instant::now();
        // Closed loop: every message of this batch carries the time the batch started.
        let now_ns = ns_since(shared.base, now);
        let done = finished.is_some();
        let mut window_blocked = false;
        let mut next_due = None;
        let mut produced = 0;
        while !done && produced < BATCH && conn.wbuf.len() < MAX_PENDING_WRITE {
            if plan.count.is_some_and(|c| seq >= c)
                || (plan.count.is_none() && now >= start + plan.duration)
            {
                finished = Some(now);
                break;
            }
            if qos != QoS::AtMostOnce && ids.count >= max_unacked {
                break;
            }
            let sent_at = match interval {
                Some(iv) => {
                    let due = start + iv.mul_f64(seq as f64).min(FAR_FUTURE);
                    if due > now {
                        next_due = Some(due);
                        break;
                    }
                    due
                }
                None => {
                    let done_deliveries = delivered.load(Ordering::Acquire) + forgiven;
                    if fanout > 0 && seq * fanout >= done_deliveries + window {
                        window_blocked = true;
                        break;
                    }
                    now
                }
            };
            let packet_id = if qos == QoS::AtMostOnce {
                None
            } else {
                match ids.take() {
                    Some(id) => Some(id),
                    None => break,
                }
            };
            frame.put(
                &mut conn.wbuf,
                packet_id,
                &Header {
                    run_id: plan.run_id,
                    publisher,
                    seq,
                    sent_ns: match interval {
                        Some(_) => ns_since(shared.base, sent_at),
                        None => now_ns,
                    },
                },
            );
            seq += 1;
            produced += 1;
            // Published before the bytes leave, so a subscriber never sees seq >= sent.
            sent_counter.store(seq, Ordering::Release);
        }
        if produced > 0 {
            shared
                .sent_total
                .fetch_add(u64::from(produced), Ordering::Relaxed);
        }

        // 3. Out to the socket.
        conn.try_flush()?;

        // 4. Finished? Stalled?
        if let Some(end) = finished {
            let acked_all = ids.count == 0 && conn.wbuf.is_empty();
            if acked_all || end.elapsed() >= plan.grace {
                let unacked = u64::from(ids.count);
                conn.disconnect().await;
                return Ok(PubResult {
                    sent: seq,
                    unacked,
                    rejected,
                    finished: end,
                });
            }
        }
        if window_blocked {
            let d = delivered.load(Ordering::Acquire);
            if d != last_progress.1 {
                last_progress = (now, d);
            } else if now.duration_since(last_progress.0) >= plan.grace {
                // Nothing delivered for a whole grace period: write the window off as lost
                // (the summary will show it) rather than stall for ever.
                forgiven = (seq * fanout).saturating_sub(d);
                last_progress = (now, d);
                continue;
            }
        }

        // 5. Wait for something to do.
        if produced == BATCH && !window_blocked && conn.wbuf.len() < MAX_PENDING_WRITE {
            tokio::task::yield_now().await;
            continue;
        }
        let grace_end = finished.map(|f| tokio::time::Instant::from_std(f + plan.grace));
        let stall_check = tokio::time::Instant::from_std(last_progress.0 + plan.grace);
        let due = next_due.map(tokio::time::Instant::from_std);
        tokio::select! {
            r = conn.stream.readable() => r.map_err(|e| conn.io("read", e))?,
            r = conn.stream.writable(), if !conn.wbuf.is_empty() => r.map_err(|e| conn.io("write", e))?,
            () = wake.notified(), if window_blocked => {}
            () = tokio::time::sleep_until(stall_check), if window_blocked => {}
            () = tokio::time::sleep_until(due.unwrap_or(deadline)), if due.is_some() => {}
            () = tokio::time::sleep_until(deadline), if finished.is_none() && plan.count.is_none() => {}
            () = tokio::time::sleep_until(grace_end.unwrap_or(deadline)), if grace_end.is_some() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_pool_never_hands_out_an_id_in_use() {
        let mut pool = IdPool::new();
        let first = pool.take().expect("free id");
        assert_eq!(first.get(), 1);
        for _ in 1..65_535 {
            assert!(pool.take().is_some());
        }
        // All 65,535 identifiers are in use: the pool wraps to 1, which is taken.
        assert_eq!(pool.take(), None);
        assert!(pool.release(first));
        assert!(
            !pool.release(first),
            "a stray acknowledgement frees nothing"
        );
        assert_eq!(pool.take(), Some(first));
    }
}
