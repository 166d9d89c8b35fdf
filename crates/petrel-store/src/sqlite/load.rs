//! Reading the whole store back into a [`Snapshot`].

use std::collections::{BTreeMap, HashMap};

use bytestring::ByteString;
use petrel_codec::QoS;
use rusqlite::Connection;

use super::row::{ids_from, options_from, packet_id_from, read_message, BadRow, MESSAGE_COLUMNS};
use super::schema::store_error;
use crate::{
    DeliveryState, PendingDelivery, Snapshot, StoreError, StoredMessage, StoredSession,
    StoredSubscription, StoredWill,
};

fn bad(e: BadRow) -> StoreError {
    StoreError::Corrupt(format!("unreadable row: {}", e.0))
}

fn sql(e: rusqlite::Error) -> StoreError {
    store_error(&e)
}

/// Reads every table. Sessions are ordered by client id, queues by message id.
pub(crate) fn load(c: &Connection) -> Result<Snapshot, StoreError> {
    let tx = c.unchecked_transaction().map_err(sql)?;
    let mut sessions: BTreeMap<String, StoredSession> = BTreeMap::new();
    {
        let mut stmt = tx
            .prepare("SELECT client_id, expiry_interval, expires_at_ms FROM sessions")
            .map_err(sql)?;
        let mut rows = stmt.query([]).map_err(sql)?;
        while let Some(r) = rows.next().map_err(sql)? {
            let id: String = r.get(0).map_err(sql)?;
            let mut s = StoredSession::new(ByteString::from(id.clone()), r.get(1).map_err(sql)?);
            s.expires_at_ms = r
                .get::<_, Option<i64>>(2)
                .map_err(sql)?
                .map(|v| u64::try_from(v).unwrap_or(0));
            sessions.insert(id, s);
        }
    }
    let mut stmt = tx
        .prepare("SELECT client_id, filter, options, identifier FROM subscriptions ORDER BY client_id, seq")
        .map_err(sql)?;
    let mut rows = stmt.query([]).map_err(sql)?;
    while let Some(r) = rows.next().map_err(sql)? {
        let id: String = r.get(0).map_err(sql)?;
        let filter: String = r.get(1).map_err(sql)?;
        let options = options_from(r.get(2).map_err(sql)?).map_err(bad)?;
        let identifier: Option<u32> = r.get(3).map_err(sql)?;
        if let Some(s) = sessions.get_mut(&id) {
            s.subscriptions
                .push(StoredSubscription::new(filter, options, identifier));
        }
    }
    drop(rows);
    let mut stmt = tx
        .prepare(&format!(
            "SELECT client_id, {MESSAGE_COLUMNS} FROM session_pending ORDER BY client_id, seq"
        ))
        .map_err(sql)?;
    let mut rows = stmt.query([]).map_err(sql)?;
    while let Some(r) = rows.next().map_err(sql)? {
        let id: String = r.get(0).map_err(sql)?;
        let m = read_message(r, 1).map_err(sql)?.map_err(bad)?;
        if let Some(s) = sessions.get_mut(&id) {
            s.pending.push(m);
        }
    }
    drop(rows);
    let mut stmt = tx
        .prepare(&format!(
            "SELECT client_id, delay_interval, {MESSAGE_COLUMNS} FROM wills"
        ))
        .map_err(sql)?;
    let mut rows = stmt.query([]).map_err(sql)?;
    while let Some(r) = rows.next().map_err(sql)? {
        let id: String = r.get(0).map_err(sql)?;
        let delay: u32 = r.get(1).map_err(sql)?;
        let m = read_message(r, 2).map_err(sql)?.map_err(bad)?;
        if let Some(s) = sessions.get_mut(&id) {
            s.will = Some(StoredWill::new(m, delay));
        }
    }
    drop(rows);
    let messages = load_messages(&tx)?;
    let mut stmt = tx
        .prepare(
            "SELECT client_id, message_id, qos, retain, sub_ids, packet_id, state FROM queue \
             ORDER BY client_id, message_id",
        )
        .map_err(sql)?;
    let mut rows = stmt.query([]).map_err(sql)?;
    while let Some(r) = rows.next().map_err(sql)? {
        let id: String = r.get(0).map_err(sql)?;
        let message_id: i64 = r.get(1).map_err(sql)?;
        let Some(message) = messages.get(&message_id) else {
            return Err(bad(BadRow(format!(
                "queued message {message_id} is missing"
            ))));
        };
        let qos: u8 = r.get(2).map_err(sql)?;
        let ids: Option<Vec<u8>> = r.get(4).map_err(sql)?;
        let packet_id: Option<i64> = r.get(5).map_err(sql)?;
        let state: u8 = r.get(6).map_err(sql)?;
        let entry = PendingDelivery {
            message_id: u64::try_from(message_id).unwrap_or(0),
            message: message.clone(),
            qos: QoS::from_u8(qos).ok_or_else(|| bad(BadRow(format!("QoS {qos}"))))?,
            retain: r.get(3).map_err(sql)?,
            subscription_ids: ids_from(ids.as_deref().unwrap_or(&[])).map_err(bad)?,
            packet_id: packet_id.map(packet_id_from).transpose().map_err(bad)?,
            state: DeliveryState::from_code(state)
                .ok_or_else(|| bad(BadRow(format!("delivery state {state}"))))?,
        };
        if let Some(s) = sessions.get_mut(&id) {
            s.queue.push(entry);
        }
    }
    drop(rows);
    let mut stmt = tx
        .prepare("SELECT client_id, packet_id FROM incoming_qos2 ORDER BY client_id, packet_id")
        .map_err(sql)?;
    let mut rows = stmt.query([]).map_err(sql)?;
    while let Some(r) = rows.next().map_err(sql)? {
        let id: String = r.get(0).map_err(sql)?;
        let packet_id = packet_id_from(r.get(1).map_err(sql)?).map_err(bad)?;
        if let Some(s) = sessions.get_mut(&id) {
            s.incoming_qos2.push(packet_id);
        }
    }
    drop(rows);
    let mut retained = Vec::new();
    let mut stmt = tx
        .prepare(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM retained ORDER BY topic"
        ))
        .map_err(sql)?;
    let mut rows = stmt.query([]).map_err(sql)?;
    while let Some(r) = rows.next().map_err(sql)? {
        retained.push(read_message(r, 0).map_err(sql)?.map_err(bad)?);
    }
    drop(rows);
    drop(stmt);
    let max_message_id = messages
        .keys()
        .max()
        .map_or(0, |v| u64::try_from(*v).unwrap_or(0));
    Ok(Snapshot {
        sessions: sessions.into_values().collect(),
        retained,
        max_message_id,
    })
}

fn load_messages(c: &Connection) -> Result<HashMap<i64, StoredMessage>, StoreError> {
    let mut out = HashMap::new();
    let mut stmt = c
        .prepare(&format!("SELECT id, {MESSAGE_COLUMNS} FROM messages"))
        .map_err(sql)?;
    let mut rows = stmt.query([]).map_err(sql)?;
    while let Some(r) = rows.next().map_err(sql)? {
        let id: i64 = r.get(0).map_err(sql)?;
        out.insert(id, read_message(r, 1).map_err(sql)?.map_err(bad)?);
    }
    Ok(out)
}
