//! The writer thread: owns the connection and commits batches in groups.
//!
//! Batches that arrive while a commit is running wait in the channel; when the commit is
//! done, the thread takes all of them (up to a limit) and writes them in one transaction.
//! Each caller is answered once that transaction is committed (or has failed).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;

use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::oneshot;

use super::apply::{apply, ApplyError};
use super::load::load;
use super::schema::store_error;
use super::FaultSwitch;
use crate::{Batch, Snapshot, StoreError};

/// A request to the writer thread.
pub(crate) enum Request {
    Commit(Batch, oneshot::Sender<Result<(), StoreError>>),
    Load(oneshot::Sender<Result<Snapshot, StoreError>>),
    Close,
}

/// The state the writer thread keeps.
pub(crate) struct Writer {
    pub conn: Connection,
    pub fault: FaultSwitch,
    pub transactions: Arc<AtomicU64>,
    /// Queue entries cancelled before they were written (see `cancel`).
    pub cancelled: Arc<AtomicU64>,
    /// False after a group failed, until one succeeds.
    pub healthy: Arc<AtomicBool>,
    pub max_group: usize,
    pub vacuum_every: u32,
    pub commits_since_vacuum: u32,
}

type Pending = (Batch, oneshot::Sender<Result<(), StoreError>>);

impl Writer {
    /// Serves requests until [`Request::Close`] or until every sender is gone.
    pub fn run(mut self, rx: &Receiver<Request>) {
        self.serve(rx);
        tracing::debug!(
            transactions = self.transactions.load(Ordering::Relaxed),
            cancelled = self.cancelled.load(Ordering::Relaxed),
            "store: writer stopped"
        );
    }

    fn serve(&mut self, rx: &Receiver<Request>) {
        let mut next = None;
        loop {
            let request = match next.take() {
                Some(r) => r,
                None => match rx.recv() {
                    Ok(r) => r,
                    Err(_) => break,
                },
            };
            match request {
                Request::Close => break,
                Request::Load(reply) => {
                    let _ = reply.send(load(&self.conn));
                }
                Request::Commit(batch, reply) => {
                    let mut group = vec![(batch, reply)];
                    while group.len() < self.max_group {
                        match rx.try_recv() {
                            Ok(Request::Commit(b, r)) => group.push((b, r)),
                            Ok(other) => {
                                next = Some(other);
                                break;
                            }
                            Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                        }
                    }
                    self.commit_group(group);
                }
            }
        }
    }

    fn commit_group(&mut self, mut group: Vec<Pending>) {
        let mut batches: Vec<&mut Batch> = group.iter_mut().map(|(b, _)| b).collect();
        let cancelled = super::cancel::cancel_completed(&mut batches);
        if cancelled > 0 {
            self.cancelled
                .fetch_add(cancelled as u64, Ordering::Relaxed);
        }
        let outcome = self.write_group(&group);
        self.healthy.store(outcome.is_ok(), Ordering::Relaxed);
        let results = match outcome {
            Ok(results) => results,
            Err(e) => {
                tracing::warn!(error = %e, batches = group.len(), "store commit failed");
                vec![Err(e); group.len()]
            }
        };
        for ((_, reply), result) in group.into_iter().zip(results) {
            let _ = reply.send(result);
        }
        self.commits_since_vacuum = self.commits_since_vacuum.saturating_add(1);
        if self.commits_since_vacuum >= self.vacuum_every {
            self.commits_since_vacuum = 0;
            self.reclaim();
        }
    }

    /// Writes the group in one transaction; the outer error fails every batch. A batch
    /// that cannot be stored (a malformed operation) is left out and the transaction is
    /// written again without it, so it fails alone; the common path has no savepoints.
    fn write_group(
        &mut self,
        group: &[Pending],
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        let mut refused: Vec<Option<StoreError>> = vec![None; group.len()];
        if group.iter().all(|(batch, _)| batch.is_empty()) {
            // Everything cancelled out: nothing to write, the earlier groups are durable.
            return match self.fault.current() {
                Some(e) => Err(e),
                None => Ok(vec![Ok(()); group.len()]),
            };
        }
        loop {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| store_error(&e))?;
            let mut bad = None;
            for (i, (batch, _)) in group.iter().enumerate() {
                if refused[i].is_some() {
                    continue;
                }
                match batch.ops().iter().try_for_each(|op| apply(&tx, op)) {
                    Ok(()) => {}
                    Err(ApplyError::Invalid(why)) => {
                        bad = Some((i, StoreError::Io(why)));
                        break;
                    }
                    Err(ApplyError::Sql(e))
                        if e.sqlite_error_code()
                            == Some(rusqlite::ErrorCode::ConstraintViolation) =>
                    {
                        // A malformed batch (for example a message id used twice).
                        bad = Some((i, StoreError::Io(e.to_string())));
                        break;
                    }
                    // The medium failed: no batch of the group is kept.
                    Err(ApplyError::Sql(e)) => return Err(store_error(&e)),
                }
            }
            if let Some((i, e)) = bad {
                tx.rollback().map_err(|e| store_error(&e))?;
                refused[i] = Some(e);
                continue;
            }
            if let Some(e) = self.fault.current() {
                return Err(e);
            }
            tx.commit().map_err(|e| store_error(&e))?;
            self.transactions.fetch_add(1, Ordering::Relaxed);
            return Ok(refused.into_iter().map(|e| e.map_or(Ok(()), Err)).collect());
        }
    }

    /// Returns free pages to the file system and keeps the write-ahead log short.
    fn reclaim(&mut self) {
        tracing::debug!(
            transactions = self.transactions.load(Ordering::Relaxed),
            cancelled = self.cancelled.load(Ordering::Relaxed),
            "store: reclaiming space"
        );
        let free: i64 = self
            .conn
            .query_row("PRAGMA freelist_count", [], |r| r.get(0))
            .unwrap_or(0);
        if free > 64 {
            if let Err(e) = self.conn.execute_batch("PRAGMA incremental_vacuum") {
                tracing::debug!(error = %e, "incremental vacuum failed");
            }
        }
        if let Err(e) = self.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)") {
            tracing::debug!(error = %e, "checkpoint failed");
        }
    }
}
