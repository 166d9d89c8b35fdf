//! Opening the database file: pragmas, schema creation, version and integrity checks.

use rusqlite::{Connection, OptionalExtension};

use super::{Durability, SqliteOptions};
use crate::StoreError;

/// The schema version this code writes and reads.
pub(crate) const SCHEMA_VERSION: i64 = 1;

/// Tables. A message queued for many sessions is one row of `messages`, referenced by one
/// `queue` row per session; it is deleted with its last reference.
const SCHEMA: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE sessions (
    client_id TEXT PRIMARY KEY,
    expiry_interval INTEGER NOT NULL,
    expires_at_ms INTEGER
) WITHOUT ROWID;
CREATE INDEX sessions_expiry ON sessions (expires_at_ms) WHERE expires_at_ms IS NOT NULL;
CREATE TABLE subscriptions (
    client_id TEXT NOT NULL,
    filter TEXT NOT NULL,
    seq INTEGER NOT NULL,
    options INTEGER NOT NULL,
    identifier INTEGER,
    PRIMARY KEY (client_id, filter)
) WITHOUT ROWID;
CREATE TABLE session_pending (
    client_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    topic TEXT NOT NULL, payload BLOB NOT NULL, qos INTEGER NOT NULL, retain INTEGER NOT NULL,
    properties BLOB, expires_at_ms INTEGER,
    PRIMARY KEY (client_id, seq)
);
CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    topic TEXT NOT NULL, payload BLOB NOT NULL, qos INTEGER NOT NULL, retain INTEGER NOT NULL,
    properties BLOB, expires_at_ms INTEGER
);
CREATE INDEX messages_expiry ON messages (expires_at_ms) WHERE expires_at_ms IS NOT NULL;
CREATE TABLE queue (
    client_id TEXT NOT NULL,
    message_id INTEGER NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL,
    sub_ids BLOB,
    packet_id INTEGER,
    state INTEGER NOT NULL,
    PRIMARY KEY (client_id, message_id)
) WITHOUT ROWID;
CREATE INDEX queue_message ON queue (message_id);
CREATE INDEX queue_packet ON queue (client_id, packet_id) WHERE packet_id IS NOT NULL;
CREATE TABLE incoming_qos2 (
    client_id TEXT NOT NULL,
    packet_id INTEGER NOT NULL,
    PRIMARY KEY (client_id, packet_id)
) WITHOUT ROWID;
CREATE TABLE wills (
    client_id TEXT PRIMARY KEY,
    delay_interval INTEGER NOT NULL,
    topic TEXT NOT NULL, payload BLOB NOT NULL, qos INTEGER NOT NULL, retain INTEGER NOT NULL,
    properties BLOB, expires_at_ms INTEGER
);
CREATE TABLE retained (
    topic TEXT PRIMARY KEY,
    payload BLOB NOT NULL, qos INTEGER NOT NULL, retain INTEGER NOT NULL,
    properties BLOB, expires_at_ms INTEGER
);
";

/// Maps an SQLite error to the store's error.
pub(crate) fn store_error(e: &rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode;
    match e.sqlite_error_code() {
        Some(ErrorCode::DiskFull) => StoreError::Full,
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
            StoreError::Corrupt(e.to_string())
        }
        _ => StoreError::Io(e.to_string()),
    }
}

fn corrupt(path: &str, what: &str) -> StoreError {
    StoreError::Corrupt(format!(
        "the database {path} is damaged ({what}); the broker will not start on it: move the \
         data directory aside (or restore a backup) to start with an empty store"
    ))
}

/// Applies the connection pragmas, creates the schema in a new file, and checks the
/// version and integrity of an existing one.
pub(crate) fn prepare(
    conn: &Connection,
    path: &str,
    options: &SqliteOptions,
) -> Result<(), StoreError> {
    let fail = |e: rusqlite::Error| match store_error(&e) {
        StoreError::Corrupt(what) => corrupt(path, &what),
        StoreError::Io(what) => StoreError::Io(format!("cannot open {path}: {what}")),
        other => other,
    };
    // One process owns the data directory: a second broker on it fails here.
    conn.pragma_update(None, "locking_mode", "EXCLUSIVE")
        .map_err(fail)?;
    conn.busy_timeout(std::time::Duration::from_millis(0))
        .map_err(fail)?;
    let fresh: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
        .map_err(|e| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                StoreError::Io(format!("{path} is in use by another process"))
            }
            _ => fail(e),
        })?;
    if fresh == 0 {
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")
            .map_err(fail)?;
    }
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(fail)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Io(format!(
            "{path}: the file system does not support write-ahead logging (journal mode {mode})"
        )));
    }
    let sync = match options.durability {
        Durability::Process => "NORMAL",
        Durability::Power => "FULL",
    };
    conn.pragma_update(None, "synchronous", sync)
        .map_err(fail)?;
    conn.pragma_update(None, "journal_size_limit", 8 * 1024 * 1024)
        .map_err(fail)?;
    conn.pragma_update(None, "cache_size", -16 * 1024)
        .map_err(fail)?;
    conn.pragma_update(None, "temp_store", "MEMORY")
        .map_err(fail)?;
    if let Some(max) = options.max_size_bytes {
        let page: i64 = conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .map_err(fail)?;
        let pages = i64::try_from(max).unwrap_or(i64::MAX) / page.max(512);
        conn.pragma_update(None, "max_page_count", pages.max(16))
            .map_err(fail)?;
    }
    if fresh == 0 {
        let mut script = String::from("BEGIN;");
        script.push_str(SCHEMA);
        script.push_str(&format!(
            "INSERT INTO meta (key, value) VALUES ('schema_version', {SCHEMA_VERSION}); COMMIT;"
        ));
        conn.execute_batch(&script).map_err(fail)?;
        return Ok(());
    }
    let check: String = conn
        .query_row("PRAGMA quick_check(1)", [], |r| r.get(0))
        .map_err(fail)?;
    if check != "ok" {
        return Err(corrupt(path, &check));
    }
    let version: Option<i64> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| match e.sqlite_error_code() {
            Some(_) if e.to_string().contains("no such table") => {
                corrupt(path, "not a Petrel store: no meta table")
            }
            _ => fail(e),
        })?;
    match version {
        Some(SCHEMA_VERSION) => Ok(()),
        Some(v) => Err(StoreError::Corrupt(format!(
            "{path} has schema version {v}; this build reads version {SCHEMA_VERSION}"
        ))),
        None => Err(corrupt(path, "no schema version")),
    }
}
