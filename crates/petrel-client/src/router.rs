//! Fan-out of received messages to the application's streams, and the budget of buffered
//! messages.
//!
//! The connection never stops reading (acknowledgements must keep flowing, or a handler
//! that publishes would deadlock). QoS 1/2 messages are bounded by flow control instead:
//! their acknowledgement is sent only when the application takes them, so the server's
//! window (our Receive Maximum) holds the rest. QoS 0 messages beyond the budget are
//! dropped, as QoS 0 allows, and counted.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use petrel_codec::ByteString;
use petrel_codec::QoS;
use petrel_topic::{filter_matches, SubscriptionFilter};
use tokio::sync::mpsc;

use crate::subscription::ReceivedMessage;

/// Messages handed to the application and not yet taken from a stream.
#[derive(Debug)]
pub(crate) struct Budget {
    buffered: AtomicUsize,
    limit: usize,
    /// QoS 0 messages dropped because the budget was spent.
    pub(crate) dropped: AtomicUsize,
}

impl Budget {
    pub(crate) fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            buffered: AtomicUsize::new(0),
            limit: limit.max(1),
            dropped: AtomicUsize::new(0),
        })
    }

    /// True when QoS 0 messages are dropped.
    pub(crate) fn is_full(&self) -> bool {
        self.buffered.load(Ordering::Acquire) >= self.limit
    }

    fn charge(self: &Arc<Self>) -> BudgetGuard {
        self.buffered.fetch_add(1, Ordering::AcqRel);
        BudgetGuard(Arc::clone(self))
    }
}

/// One buffered message's share of the budget, returned when dropped.
#[derive(Debug)]
pub(crate) struct BudgetGuard(Arc<Budget>);

impl Drop for BudgetGuard {
    fn drop(&mut self) {
        self.0.buffered.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A message in a stream's channel.
#[derive(Debug)]
pub(crate) struct Queued {
    pub(crate) msg: ReceivedMessage,
    pub(crate) _guard: BudgetGuard,
}

pub(crate) type QueueTx = mpsc::UnboundedSender<Queued>;
pub(crate) type QueueRx = mpsc::UnboundedReceiver<Queued>;

#[derive(Debug)]
struct Route {
    id: u64,
    /// Filters to match topic names against (`$share/group/` removed).
    filters: Vec<ByteString>,
    tx: QueueTx,
}

/// Where received messages go.
#[derive(Debug)]
pub(crate) struct Router {
    routes: Vec<Route>,
    all: Vec<QueueTx>,
    next_id: u64,
    pub(crate) budget: Arc<Budget>,
}

/// The filter a message's topic is matched against for `filter` as subscribed.
fn match_filter(filter: &ByteString) -> ByteString {
    match SubscriptionFilter::parse(filter.clone()) {
        Ok(f) => ByteString::from(f.filter().as_str().to_owned()),
        Err(_) => filter.clone(),
    }
}

impl Router {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            routes: Vec::new(),
            all: Vec::new(),
            next_id: 1,
            budget: Budget::new(limit),
        }
    }

    /// A new stream for messages matching any of `filters`.
    pub(crate) fn add_route(&mut self, filters: &[ByteString]) -> (u64, QueueRx) {
        let (tx, rx) = mpsc::unbounded_channel();
        let id = self.next_id;
        self.next_id += 1;
        self.routes.push(Route {
            id,
            filters: filters.iter().map(match_filter).collect(),
            tx,
        });
        (id, rx)
    }

    /// Stops routing `filters` (all of them when `None`) to stream `id`.
    pub(crate) fn remove(&mut self, id: u64, filters: Option<&[ByteString]>) {
        if let Some(filters) = filters {
            let gone: Vec<ByteString> = filters.iter().map(match_filter).collect();
            for r in self.routes.iter_mut().filter(|r| r.id == id) {
                r.filters.retain(|f| !gone.contains(f));
            }
        }
        self.routes
            .retain(|r| r.id != id || (filters.is_some() && !r.filters.is_empty()));
    }

    /// Stops routing `filters` to any stream.
    pub(crate) fn remove_filters_everywhere(&mut self, filters: &[ByteString]) {
        let gone: Vec<ByteString> = filters.iter().map(match_filter).collect();
        for r in &mut self.routes {
            r.filters.retain(|f| !gone.contains(f));
        }
        self.routes.retain(|r| !r.filters.is_empty());
    }

    /// Adds a stream of every message.
    pub(crate) fn add_all(&mut self, tx: QueueTx) {
        self.all.push(tx);
    }

    /// Hands `msg` to every stream it belongs to; returns how many took it.
    pub(crate) fn dispatch(&mut self, msg: ReceivedMessage) -> usize {
        self.routes.retain(|r| !r.tx.is_closed());
        self.all.retain(|t| !t.is_closed());
        if msg.message.qos == QoS::AtMostOnce && self.budget.is_full() {
            let d = self.budget.dropped.fetch_add(1, Ordering::Relaxed);
            if d.is_power_of_two() {
                tracing::warn!(
                    dropped = d + 1,
                    "application too slow: QoS 0 messages dropped"
                );
            }
            return 0;
        }
        let topic: &str = &msg.message.topic;
        let mut n = 0;
        for r in &self.routes {
            if r.filters.iter().any(|f| filter_matches(f, topic)) {
                let q = Queued {
                    msg: msg.clone(),
                    _guard: self.budget.charge(),
                };
                n += usize::from(r.tx.send(q).is_ok());
            }
        }
        for t in &self.all {
            let q = Queued {
                msg: msg.clone(),
                _guard: self.budget.charge(),
            };
            n += usize::from(t.send(q).is_ok());
        }
        n
    }
}
