//! [`SqliteStore`]: the embedded on-disk store (SQLite in WAL mode, one writer thread with
//! group commit).

mod apply;
mod cancel;
mod load;
mod row;
mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::{Batch, Snapshot, Store, StoreError, StoreFuture};
use writer::{Request, Writer};

/// The file name of the database inside the data directory.
pub const DATABASE_FILE: &str = "petrel.db";

/// What a committed batch survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Durability {
    /// A crash of the broker process (`kill -9`, panic, OOM killer): each commit reaches the
    /// operating system before it is acknowledged (SQLite `synchronous=NORMAL` in WAL mode).
    #[default]
    Process,
    /// Power loss or a kernel crash as well: each group commit is flushed to the device
    /// with fsync before it is acknowledged (`synchronous=FULL`).
    Power,
}

/// Settings of a [`SqliteStore`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SqliteOptions {
    /// What a commit survives.
    pub durability: Durability,
    /// Largest number of batches merged into one transaction.
    pub max_group: usize,
    /// Every this many group commits, free pages are returned to the file system and the
    /// write-ahead log is truncated.
    pub reclaim_every: u32,
    /// Upper bound on the database file size; commits that need more fail with
    /// [`StoreError::Full`]. `None`: limited only by the file system.
    pub max_size_bytes: Option<u64>,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            durability: Durability::Process,
            max_group: 1024,
            reclaim_every: 1000,
            max_size_bytes: None,
        }
    }
}

impl SqliteOptions {
    /// Builder: sets the durability level.
    pub fn with_durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Builder: sets the size limit.
    pub fn with_max_size_bytes(mut self, max: Option<u64>) -> Self {
        self.max_size_bytes = max;
        self
    }

    /// Builder: sets how often space is reclaimed (in group commits, at least 1).
    pub fn with_reclaim_every(mut self, commits: u32) -> Self {
        self.reclaim_every = commits.max(1);
        self
    }
}

/// A switch that makes every commit of a store fail with a chosen error until it is
/// cleared, as a full or failing disk would. For tests of the error paths; a store that
/// nobody switches behaves normally.
#[derive(Debug, Clone, Default)]
pub struct FaultSwitch(Arc<Mutex<Option<StoreError>>>);

impl FaultSwitch {
    fn lock(&self) -> MutexGuard<'_, Option<StoreError>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes commits fail with `error` (the transaction is rolled back, nothing is kept).
    pub fn fail_with(&self, error: StoreError) {
        *self.lock() = Some(error);
    }

    /// Lets commits succeed again.
    pub fn clear(&self) {
        *self.lock() = None;
    }

    fn current(&self) -> Option<StoreError> {
        self.lock().clone()
    }
}

/// A [`Store`] in an SQLite database inside a data directory.
///
/// One thread owns the database and writes; batches that arrive while it is committing are
/// merged into its next transaction (group commit), so many connections share the cost
/// of one write. [`Store::commit`] resolves once the transaction holding the batch is
/// committed at the chosen [`Durability`]. The database is locked for exclusive use while
/// the store is open: a second process opening the same directory is refused.
#[derive(Debug)]
pub struct SqliteStore {
    requests: Mutex<Option<Sender<Request>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    fault: FaultSwitch,
    transactions: Arc<AtomicU64>,
    cancelled: Arc<AtomicU64>,
    healthy: Arc<AtomicBool>,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating when needed) the store in directory `dir`. A damaged database, a
    /// database of an unknown schema version or one in use by another process is refused
    /// with an error that says so.
    pub fn open(dir: impl AsRef<Path>, options: SqliteOptions) -> Result<Self, StoreError> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Io(format!(
                "cannot create data directory {}: {e}",
                dir.display()
            ))
        })?;
        let path = dir.join(DATABASE_FILE);
        let shown = path.display().to_string();
        let conn = Connection::open(&path)
            .map_err(|e| StoreError::Io(format!("cannot open {shown}: {e}")))?;
        schema::prepare(&conn, &shown, &options)?;
        // Every statement of `apply` stays prepared (the default cache holds 16).
        conn.set_prepared_statement_cache_capacity(64);
        let fault = FaultSwitch::default();
        let transactions = Arc::new(AtomicU64::new(0));
        let cancelled = Arc::new(AtomicU64::new(0));
        let healthy = Arc::new(AtomicBool::new(true));
        let writer = Writer {
            conn,
            fault: fault.clone(),
            transactions: transactions.clone(),
            cancelled: cancelled.clone(),
            healthy: healthy.clone(),
            max_group: options.max_group.max(1),
            vacuum_every: options.reclaim_every.max(1),
            commits_since_vacuum: 0,
        };
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("petrel-store".into())
            .spawn(move || writer.run(&rx))
            .map_err(|e| StoreError::Io(format!("cannot start the store thread: {e}")))?;
        Ok(Self {
            requests: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            fault,
            transactions,
            cancelled,
            healthy,
            path,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of transactions committed so far; lower than the number of batches when
    /// batches were merged (group commit).
    pub fn transactions(&self) -> u64 {
        self.transactions.load(Ordering::Relaxed)
    }

    /// Number of queue entries that were never written because the message was
    /// acknowledged (or dropped) before the group holding its `Enqueue` was written: the
    /// enqueue, its packet id and its removal cancelled out.
    pub fn cancelled(&self) -> u64 {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// The switch that injects commit failures (for tests).
    pub fn fault_switch(&self) -> FaultSwitch {
        self.fault.clone()
    }

    fn send(&self, request: Request) -> Result<(), StoreError> {
        let guard = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_ref() {
            Some(tx) => tx.send(request).map_err(|_| StoreError::Closed),
            None => Err(StoreError::Closed),
        }
    }

    /// Stops the writer thread after the requests already sent, and releases the
    /// database. Later calls fail with [`StoreError::Closed`].
    pub fn close(&self) {
        let tx = self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(tx) = tx {
            let _ = tx.send(Request::Close);
        }
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.close();
    }
}

impl Store for SqliteStore {
    fn commit(&self, batch: Batch) -> StoreFuture<'static, ()> {
        let (tx, rx) = oneshot::channel();
        let sent = self.send(Request::Commit(batch, tx));
        Box::pin(async move {
            sent?;
            rx.await.map_err(|_| StoreError::Closed)?
        })
    }

    fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed) && self.fault.current().is_none()
    }

    fn load(&self) -> StoreFuture<'_, Snapshot> {
        let (tx, rx) = oneshot::channel();
        let sent = self.send(Request::Load(tx));
        Box::pin(async move {
            sent?;
            rx.await.map_err(|_| StoreError::Closed)?
        })
    }
}
