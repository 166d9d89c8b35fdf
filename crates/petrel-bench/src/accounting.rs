//! Exact per-pair accounting of what each subscriber received.
//!
//! For every (publisher, subscriber) pair that should see traffic, a [`PairTracker`] keeps a
//! bit per sequence number, so it can tell a first arrival from a duplicate and an arrival
//! behind a later one (out of order). A [`SubscriberAccount`] routes each arrival to its
//! pair and counts messages that should never have reached this subscriber (misrouted) and
//! payloads that are not ours (foreign). At the end the number of messages each publisher
//! sent turns the trackers into losses.

use serde::Serialize;

/// What one arrival turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// First arrival of this sequence number, in order.
    Fresh,
    /// First arrival of this sequence number, after a higher one had already arrived.
    FreshOutOfOrder,
    /// This sequence number had already arrived.
    Duplicate,
    /// The subscriber should not have received this publisher's message on this topic.
    Misrouted,
    /// A sequence number the publisher had not sent (yet): corrupt or forged.
    Phantom,
}

impl Arrival {
    /// True for a first arrival (in order or not).
    pub fn is_fresh(self) -> bool {
        matches!(self, Self::Fresh | Self::FreshOutOfOrder)
    }
}

/// Which sequence numbers of one publisher one subscriber has seen.
#[derive(Debug, Clone, Default)]
pub struct PairTracker {
    seen: Vec<u64>,
    highest: Option<u64>,
    unique: u64,
    duplicates: u64,
    out_of_order: u64,
    phantom: u64,
}

impl PairTracker {
    /// Records the arrival of `seq`; `bound` is the number of messages the publisher has
    /// sent so far, so a `seq` at or above it was never sent (and is not stored: the bitmap
    /// only ever covers sent sequence numbers, whatever a peer sends).
    pub fn record(&mut self, seq: u64, bound: u64) -> Arrival {
        let word = match usize::try_from(seq / 64) {
            Ok(w) if seq < bound => w,
            _ => {
                self.phantom += 1;
                return Arrival::Phantom;
            }
        };
        let bit = 1u64 << (seq % 64);
        if word >= self.seen.len() {
            let want = (word + 1).max(self.seen.len() * 2);
            self.seen.resize(want, 0);
        }
        let Some(slot) = self.seen.get_mut(word) else {
            self.phantom += 1;
            return Arrival::Phantom;
        };
        if *slot & bit != 0 {
            self.duplicates += 1;
            return Arrival::Duplicate;
        }
        *slot |= bit;
        self.unique += 1;
        match self.highest {
            Some(h) if seq < h => {
                self.out_of_order += 1;
                Arrival::FreshOutOfOrder
            }
            _ => {
                self.highest = Some(seq);
                Arrival::Fresh
            }
        }
    }

    /// Distinct sequence numbers seen.
    pub fn unique(&self) -> u64 {
        self.unique
    }

    /// Distinct sequence numbers seen that are below `sent` (the ones that were really sent).
    fn unique_below(&self, sent: u64) -> u64 {
        let full_words = usize::try_from(sent / 64).unwrap_or(usize::MAX);
        let mut n: u64 = self
            .seen
            .iter()
            .take(full_words)
            .map(|w| u64::from(w.count_ones()))
            .sum();
        let rest = sent % 64;
        if rest > 0 {
            if let Some(w) = self.seen.get(full_words) {
                n += u64::from((w & ((1u64 << rest) - 1)).count_ones());
            }
        }
        n
    }

    /// The pair's final figures, given how many messages the publisher sent.
    pub fn finish(&self, publisher: u32, subscriber: u32, sent: u64) -> PairReport {
        let valid = self.unique_below(sent);
        PairReport {
            publisher,
            subscriber,
            sent,
            received: valid,
            lost: sent - valid,
            duplicates: self.duplicates,
            out_of_order: self.out_of_order,
            phantom: self.phantom + (self.unique - valid),
        }
    }
}

/// Final figures of one (publisher, subscriber) pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PairReport {
    /// Publisher index.
    pub publisher: u32,
    /// Subscriber index.
    pub subscriber: u32,
    /// Messages the publisher sent.
    pub sent: u64,
    /// Distinct messages of those the subscriber received.
    pub received: u64,
    /// Sent but never received.
    pub lost: u64,
    /// Arrivals of a sequence number seen before.
    pub duplicates: u64,
    /// First arrivals after a higher sequence number of the same publisher.
    pub out_of_order: u64,
    /// Sequence numbers received that the publisher never sent.
    pub phantom: u64,
}

/// Everything one subscriber received, by publisher.
#[derive(Debug, Clone)]
pub struct SubscriberAccount {
    subscriber: u32,
    run_id: u32,
    /// `expected[p]`: publisher `p` publishes on a topic this subscriber is subscribed to.
    expected: Vec<bool>,
    pairs: Vec<PairTracker>,
    misrouted: u64,
    foreign: u64,
}

impl SubscriberAccount {
    /// An empty account for subscriber `subscriber` of run `run_id`, which should receive the
    /// messages of publisher `p` exactly when `expected[p]`.
    pub fn new(subscriber: u32, run_id: u32, expected: Vec<bool>) -> Self {
        let pairs = vec![PairTracker::default(); expected.len()];
        Self {
            subscriber,
            run_id,
            expected,
            pairs,
            misrouted: 0,
            foreign: 0,
        }
    }

    /// Records one arrival. `topic_ok` tells whether the topic it arrived on is the topic its
    /// publisher publishes on; `None` means the payload is not from this run.
    /// `bounds[p]` is how many messages publisher `p` has sent so far.
    pub fn record(
        &mut self,
        header: Option<crate::payload::Header>,
        topic_ok: bool,
        bounds: impl Fn(usize) -> u64,
    ) -> Option<Arrival> {
        let Some(h) = header.filter(|h| h.run_id == self.run_id) else {
            self.foreign += 1;
            return None;
        };
        let p = usize::try_from(h.publisher).unwrap_or(usize::MAX);
        let expected = self.expected.get(p).copied().unwrap_or(false);
        match self.pairs.get_mut(p) {
            Some(tracker) if expected && topic_ok => Some(tracker.record(h.seq, bounds(p))),
            _ => {
                self.misrouted += 1;
                Some(Arrival::Misrouted)
            }
        }
    }

    /// Messages that reached this subscriber although it should not have seen them.
    pub fn misrouted(&self) -> u64 {
        self.misrouted
    }

    /// Payloads that were not written by this run.
    pub fn foreign(&self) -> u64 {
        self.foreign
    }

    /// Per-pair figures for every expected pair, given what each publisher sent.
    pub fn finish(&self, sent: &[u64]) -> Vec<PairReport> {
        self.expected
            .iter()
            .enumerate()
            .filter(|(_, e)| **e)
            .map(|(p, _)| {
                let s = sent.get(p).copied().unwrap_or(0);
                let tracker = self.pairs.get(p).cloned().unwrap_or_default();
                tracker.finish(u32::try_from(p).unwrap_or(u32::MAX), self.subscriber, s)
            })
            .collect()
    }
}

/// Totals over all pairs and subscribers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Deliveries expected: for each publisher, messages sent times subscribers reached.
    pub expected: u64,
    /// Distinct expected deliveries that arrived.
    pub received: u64,
    /// Expected deliveries that never arrived.
    pub lost: u64,
    /// Arrivals seen before.
    pub duplicates: u64,
    /// First arrivals behind a later message of the same publisher.
    pub out_of_order: u64,
    /// Arrivals at a subscriber that should not have received them.
    pub misrouted: u64,
    /// Sequence numbers received that were never sent.
    pub phantom: u64,
    /// Payloads not written by this run (other traffic on the same topics).
    pub foreign: u64,
}

impl Totals {
    /// Adds up pair reports and each subscriber's misrouted and foreign counts.
    pub fn sum(pairs: &[PairReport], accounts: &[SubscriberAccount]) -> Self {
        let mut t = Totals::default();
        for p in pairs {
            t.expected += p.sent;
            t.received += p.received;
            t.lost += p.lost;
            t.duplicates += p.duplicates;
            t.out_of_order += p.out_of_order;
            t.phantom += p.phantom;
        }
        for a in accounts {
            t.misrouted += a.misrouted();
            t.foreign += a.foreign();
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::Header;

    fn h(run_id: u32, publisher: u32, seq: u64) -> Option<Header> {
        Some(Header {
            run_id,
            publisher,
            seq,
            sent_ns: 0,
        })
    }

    #[test]
    fn in_order_sequence_is_clean() {
        let mut t = PairTracker::default();
        for s in 0..1000 {
            assert_eq!(t.record(s, u64::MAX), Arrival::Fresh);
        }
        let r = t.finish(0, 0, 1000);
        assert_eq!(
            (r.received, r.lost, r.duplicates, r.out_of_order, r.phantom),
            (1000, 0, 0, 0, 0)
        );
    }

    #[test]
    fn duplicates_are_counted_once_each() {
        let mut t = PairTracker::default();
        for s in [0, 1, 1, 2, 0, 3, 3, 3] {
            t.record(s, u64::MAX);
        }
        let r = t.finish(0, 0, 4);
        assert_eq!((r.received, r.duplicates, r.lost), (4, 4, 0));
    }

    #[test]
    fn gaps_are_losses_and_late_fills_are_out_of_order() {
        let mut t = PairTracker::default();
        for s in [0, 1, 5, 6] {
            t.record(s, u64::MAX);
        }
        assert_eq!(t.record(3, u64::MAX), Arrival::FreshOutOfOrder);
        // Sent 10: 2, 4, 7, 8 and 9 never arrived.
        let r = t.finish(0, 0, 10);
        assert_eq!(
            (r.received, r.lost, r.out_of_order, r.duplicates),
            (5, 5, 1, 0)
        );
    }

    #[test]
    fn sequence_numbers_never_sent_are_phantoms() {
        let mut t = PairTracker::default();
        for s in [0, 1, 2, 200] {
            t.record(s, u64::MAX);
        }
        let r = t.finish(3, 4, 3);
        assert_eq!(
            (r.publisher, r.subscriber, r.received, r.lost, r.phantom),
            (3, 4, 3, 0, 1)
        );
    }

    #[test]
    fn account_detects_misrouting_and_foreign_payloads() {
        // Subscriber 0 of run 9 expects publishers 0 and 2, not 1.
        let mut a = SubscriberAccount::new(0, 9, vec![true, false, true]);
        assert_eq!(a.record(h(9, 0, 0), true, |_| 1000), Some(Arrival::Fresh));
        assert_eq!(
            a.record(h(9, 1, 0), true, |_| 1000),
            Some(Arrival::Misrouted)
        );
        // Right publisher, wrong topic.
        assert_eq!(
            a.record(h(9, 2, 0), false, |_| 1000),
            Some(Arrival::Misrouted)
        );
        // Unknown publisher index.
        assert_eq!(
            a.record(h(9, 77, 0), true, |_| 1000),
            Some(Arrival::Misrouted)
        );
        // Another run, or not a benchmark payload at all.
        assert_eq!(a.record(h(8, 0, 1), true, |_| 1000), None);
        assert_eq!(a.record(None, true, |_| 1000), None);
        assert_eq!(a.record(h(9, 2, 0), true, |_| 1000), Some(Arrival::Fresh));
        assert_eq!(
            a.record(h(9, 2, 0), true, |_| 1000),
            Some(Arrival::Duplicate)
        );
        assert_eq!((a.misrouted(), a.foreign()), (3, 2));

        let pairs = a.finish(&[2, 5, 1]);
        assert_eq!(pairs.len(), 2);
        assert_eq!(
            (pairs[0].publisher, pairs[0].received, pairs[0].lost),
            (0, 1, 1)
        );
        assert_eq!(
            (pairs[1].publisher, pairs[1].received, pairs[1].duplicates),
            (2, 1, 1)
        );
        let t = Totals::sum(&pairs, &[a]);
        assert_eq!(
            t,
            Totals {
                expected: 3,
                received: 2,
                lost: 1,
                duplicates: 1,
                out_of_order: 0,
                misrouted: 3,
                phantom: 0,
                foreign: 2
            }
        );
    }

    #[test]
    fn unsent_or_huge_sequence_numbers_are_phantoms_and_not_stored() {
        let mut t = PairTracker::default();
        assert_eq!(t.record(u64::MAX, 10), Arrival::Phantom);
        assert_eq!(t.record(10, 10), Arrival::Phantom);
        assert_eq!(t.record(63, 100), Arrival::Fresh);
        assert_eq!(t.record(64, 100), Arrival::Fresh);
        assert!(t.seen.len() < 8);
        let r = t.finish(0, 0, 65);
        assert_eq!((r.lost, r.phantom, r.received), (63, 2, 2));
    }
}
