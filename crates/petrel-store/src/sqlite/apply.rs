//! Writing operations into an open transaction.

use bytestring::ByteString;
use rusqlite::{params, Connection};

use super::row::{ids_blob, message_values, options_byte, to_i64, MESSAGE_COLUMNS};
use crate::{MessageId, Op, QueueTarget, StoredMessage, StoredSession, StoredSubscription};

/// Why an operation could not be written.
#[derive(Debug)]
pub(crate) enum ApplyError {
    /// SQLite failed (the medium, or a constraint).
    Sql(rusqlite::Error),
    /// The operation holds something that cannot be stored; only its batch fails.
    Invalid(String),
}

impl From<rusqlite::Error> for ApplyError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sql(e)
    }
}

type Result<T = ()> = core::result::Result<T, ApplyError>;

/// Applies one operation.
pub(crate) fn apply(c: &Connection, op: &Op) -> Result {
    match op {
        Op::PutSession(s) => put_session(c, s),
        Op::DeleteSession(id) => delete_session(c, id),
        Op::Subscribe {
            client_id,
            subscription,
        } => subscribe(c, client_id, subscription),
        Op::Unsubscribe { client_id, filter } => {
            c.prepare_cached("DELETE FROM subscriptions WHERE client_id = ?1 AND filter = ?2")?
                .execute(params![&**client_id, &**filter])?;
            Ok(())
        }
        Op::PutRetained(m) => {
            let v = message_values(m).map_err(ApplyError::Invalid)?;
            c.prepare_cached(&format!(
                "INSERT OR REPLACE INTO retained ({MESSAGE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
            ))?
            .execute(params![v.topic, v.payload, v.qos, v.retain, v.properties, v.expires_at_ms])?;
            Ok(())
        }
        Op::DeleteRetained(topic) => {
            c.prepare_cached("DELETE FROM retained WHERE topic = ?1")?
                .execute([&**topic])?;
            Ok(())
        }
        Op::Enqueue {
            message_id,
            message,
            targets,
        } => enqueue(c, *message_id, message, targets),
        Op::MarkSent {
            client_id,
            message_id,
            packet_id,
        } => {
            c.prepare_cached(
                "UPDATE queue SET packet_id = ?3, state = 1 WHERE client_id = ?1 AND message_id = ?2",
            )?
            .execute(params![&**client_id, to_i64(*message_id), packet_id.get()])?;
            Ok(())
        }
        Op::MarkReleased {
            client_id,
            packet_id,
        } => {
            c.prepare_cached("UPDATE queue SET state = 2 WHERE client_id = ?1 AND packet_id = ?2")?
                .execute(params![&**client_id, packet_id.get()])?;
            Ok(())
        }
        Op::Complete {
            client_id,
            packet_id,
        } => {
            let ids: Vec<i64> = c
                .prepare_cached(
                    "DELETE FROM queue WHERE client_id = ?1 AND packet_id = ?2 RETURNING message_id",
                )?
                .query_map(params![&**client_id, packet_id.get()], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            drop_orphans(c, &ids)
        }
        Op::Dequeue {
            client_id,
            message_id,
        } => {
            c.prepare_cached("DELETE FROM queue WHERE client_id = ?1 AND message_id = ?2")?
                .execute(params![&**client_id, to_i64(*message_id)])?;
            drop_orphans(c, &[to_i64(*message_id)])
        }
        Op::AddIncomingQos2 {
            client_id,
            packet_id,
        } => {
            c.prepare_cached(
                "INSERT OR IGNORE INTO incoming_qos2 (client_id, packet_id) \
                 SELECT ?1, ?2 WHERE EXISTS (SELECT 1 FROM sessions WHERE client_id = ?1)",
            )?
            .execute(params![&**client_id, packet_id.get()])?;
            Ok(())
        }
        Op::RemoveIncomingQos2 {
            client_id,
            packet_id,
        } => {
            c.prepare_cached("DELETE FROM incoming_qos2 WHERE client_id = ?1 AND packet_id = ?2")?
                .execute(params![&**client_id, packet_id.get()])?;
            Ok(())
        }
        Op::SetWill { client_id, will } => {
            let v = message_values(&will.message).map_err(ApplyError::Invalid)?;
            c.prepare_cached(&format!(
                "INSERT OR REPLACE INTO wills (client_id, delay_interval, {MESSAGE_COLUMNS}) \
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8 \
                 WHERE EXISTS (SELECT 1 FROM sessions WHERE client_id = ?1)"
            ))?
            .execute(params![
                &**client_id,
                will.delay_interval,
                v.topic,
                v.payload,
                v.qos,
                v.retain,
                v.properties,
                v.expires_at_ms
            ])?;
            Ok(())
        }
        Op::ClearWill(client_id) => {
            c.prepare_cached("DELETE FROM wills WHERE client_id = ?1")?
                .execute([&**client_id])?;
            Ok(())
        }
        Op::SetSessionExpiry {
            client_id,
            expiry_interval,
            expires_at_ms,
        } => {
            c.prepare_cached(
                "UPDATE sessions SET expiry_interval = ?2, expires_at_ms = ?3 WHERE client_id = ?1",
            )?
            .execute(params![
                &**client_id,
                expiry_interval,
                expires_at_ms.map(to_i64)
            ])?;
            Ok(())
        }
        Op::Expire { now_ms } => expire(c, to_i64(*now_ms)),
    }
}

fn put_session(c: &Connection, s: &StoredSession) -> Result {
    let id: &str = &s.client_id;
    c.prepare_cached(
        "INSERT INTO sessions (client_id, expiry_interval, expires_at_ms) VALUES (?1, ?2, ?3) \
         ON CONFLICT (client_id) DO UPDATE SET expiry_interval = excluded.expiry_interval, \
         expires_at_ms = excluded.expires_at_ms",
    )?
    .execute(params![id, s.expiry_interval, s.expires_at_ms.map(to_i64)])?;
    c.prepare_cached("DELETE FROM subscriptions WHERE client_id = ?1")?
        .execute([id])?;
    for sub in &s.subscriptions {
        subscribe(c, &s.client_id, sub)?;
    }
    c.prepare_cached("DELETE FROM session_pending WHERE client_id = ?1")?
        .execute([id])?;
    let mut insert = c.prepare_cached(&format!(
        "INSERT INTO session_pending (client_id, seq, {MESSAGE_COLUMNS}) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
    ))?;
    for (seq, m) in s.pending.iter().enumerate() {
        let v = message_values(m).map_err(ApplyError::Invalid)?;
        insert.execute(params![
            id,
            i64::try_from(seq).unwrap_or(i64::MAX),
            v.topic,
            v.payload,
            v.qos,
            v.retain,
            v.properties,
            v.expires_at_ms
        ])?;
    }
    Ok(())
}

fn subscribe(c: &Connection, client_id: &ByteString, sub: &StoredSubscription) -> Result {
    c.prepare_cached("INSERT OR IGNORE INTO sessions (client_id, expiry_interval) VALUES (?1, 0)")?
        .execute([&**client_id])?;
    c.prepare_cached(
        "INSERT INTO subscriptions (client_id, filter, seq, options, identifier) \
         VALUES (?1, ?2, (SELECT coalesce(max(seq), 0) + 1 FROM subscriptions WHERE client_id = ?1), ?3, ?4) \
         ON CONFLICT (client_id, filter) DO UPDATE SET options = excluded.options, \
         identifier = excluded.identifier",
    )?
    .execute(params![
        &**client_id,
        &*sub.filter,
        options_byte(sub.options),
        sub.identifier
    ])?;
    Ok(())
}

fn delete_session(c: &Connection, client_id: &str) -> Result {
    let ids: Vec<i64> = c
        .prepare_cached("DELETE FROM queue WHERE client_id = ?1 RETURNING message_id")?
        .query_map([client_id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    drop_orphans(c, &ids)?;
    for table in [
        "sessions",
        "subscriptions",
        "session_pending",
        "incoming_qos2",
        "wills",
    ] {
        c.prepare_cached(&format!("DELETE FROM {table} WHERE client_id = ?1"))?
            .execute([client_id])?;
    }
    Ok(())
}

/// Deletes the messages among `ids` that no queue refers to any more.
fn drop_orphans(c: &Connection, ids: &[i64]) -> Result {
    let mut stmt = c.prepare_cached(
        "DELETE FROM messages WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM queue WHERE message_id = ?1)",
    )?;
    for id in ids {
        stmt.execute([id])?;
    }
    Ok(())
}

fn enqueue(c: &Connection, id: MessageId, m: &StoredMessage, targets: &[QueueTarget]) -> Result {
    let v = message_values(m).map_err(ApplyError::Invalid)?;
    let id = to_i64(id);
    c.prepare_cached(&format!(
        "INSERT INTO messages (id, {MESSAGE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
    ))?
    .execute(params![
        id,
        v.topic,
        v.payload,
        v.qos,
        v.retain,
        v.properties,
        v.expires_at_ms
    ])?;
    let mut insert = c.prepare_cached(
        "INSERT OR REPLACE INTO queue (client_id, message_id, qos, retain, sub_ids, packet_id, state) \
         SELECT ?1, ?2, ?3, ?4, ?5, NULL, 0 WHERE EXISTS (SELECT 1 FROM sessions WHERE client_id = ?1)",
    )?;
    let mut queued = 0;
    for t in targets {
        let ids = (!t.subscription_ids.is_empty()).then(|| ids_blob(&t.subscription_ids));
        queued += insert.execute(params![&*t.client_id, id, t.qos as u8, t.retain, ids])?;
    }
    if queued == 0 {
        c.prepare_cached("DELETE FROM messages WHERE id = ?1")?
            .execute([id])?;
    }
    Ok(())
}

fn expire(c: &Connection, now: i64) -> Result {
    let sessions: Vec<String> = c
        .prepare_cached(
            "SELECT client_id FROM sessions WHERE expires_at_ms IS NOT NULL AND expires_at_ms <= ?1",
        )?
        .query_map([now], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for id in &sessions {
        delete_session(c, id)?;
    }
    c.prepare_cached(
        "DELETE FROM queue WHERE state = 0 AND message_id IN \
         (SELECT id FROM messages WHERE expires_at_ms IS NOT NULL AND expires_at_ms <= ?1)",
    )?
    .execute([now])?;
    c.prepare_cached(
        "DELETE FROM messages WHERE expires_at_ms IS NOT NULL AND expires_at_ms <= ?1 \
         AND NOT EXISTS (SELECT 1 FROM queue WHERE message_id = messages.id)",
    )?
    .execute([now])?;
    c.prepare_cached(
        "DELETE FROM retained WHERE expires_at_ms IS NOT NULL AND expires_at_ms <= ?1",
    )?
    .execute([now])?;
    Ok(())
}
