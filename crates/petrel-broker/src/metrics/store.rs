//! A [`Store`] wrapper that measures commit latency as the broker sees it: from the
//! `commit` call to the moment the broker finds the commit complete. Commits the broker
//! does not wait for (their future is dropped) are not measured.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

use petrel_store::{Batch, Snapshot, Store, StoreFuture};

use super::{Histogram, Metrics};

/// What [`TimedStore`] records.
#[derive(Debug, Default)]
pub struct StoreMetrics {
    /// Latency of the store commits the broker waited for.
    pub commits: Histogram,
    /// Store commits that failed.
    pub errors: AtomicU64,
}

/// Measures the commits of the store it wraps into a [`StoreMetrics`].
#[derive(Debug)]
pub(crate) struct TimedStore {
    inner: Arc<dyn Store>,
    metrics: Arc<StoreMetrics>,
}

impl TimedStore {
    /// Wraps `inner`, recording into `metrics`.
    pub fn new(inner: Arc<dyn Store>, metrics: Arc<StoreMetrics>) -> Self {
        Self { inner, metrics }
    }
}

impl Store for TimedStore {
    fn commit(&self, batch: Batch) -> StoreFuture<'static, ()> {
        // The inner store orders the batch now; only the wait is measured below.
        let started = Instant::now();
        let commit = self.inner.commit(batch);
        let metrics = self.metrics.clone();
        Box::pin(async move {
            let result = commit.await;
            metrics.commits.record(started.elapsed());
            if result.is_err() {
                Metrics::add(&metrics.errors, 1);
            }
            result
        })
    }

    fn load(&self) -> StoreFuture<'_, Snapshot> {
        self.inner.load()
    }

    fn is_healthy(&self) -> bool {
        self.inner.is_healthy()
    }
}
