//! Conversions between records and SQLite column values.

use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use petrel_codec::{
    Packet, PacketId, Properties, ProtocolVersion, Publish, QoS, RetainHandling,
    SubscriptionOptions,
};
use rusqlite::Row;

use crate::StoredMessage;

/// Why reading a row back failed: the row holds a value no writer produces.
#[derive(Debug)]
pub(crate) struct BadRow(pub String);

/// The column values of a message, in the order of [`MESSAGE_COLUMNS`].
pub(crate) struct MessageValues<'a> {
    pub topic: &'a str,
    pub payload: &'a [u8],
    pub qos: u8,
    pub retain: bool,
    pub properties: Option<Vec<u8>>,
    pub expires_at_ms: Option<i64>,
}

/// The message columns, as used in every table that holds a message.
pub(crate) const MESSAGE_COLUMNS: &str = "topic, payload, qos, retain, properties, expires_at_ms";

/// Column values of a message. Fails when its properties cannot be encoded (they must be
/// properties a PUBLISH may carry).
pub(crate) fn message_values(m: &StoredMessage) -> Result<MessageValues<'_>, String> {
    Ok(MessageValues {
        topic: &m.topic,
        payload: &m.payload,
        qos: m.qos as u8,
        retain: m.retain,
        properties: encode_properties(&m.properties)?,
        expires_at_ms: m.expires_at_ms.map(to_i64),
    })
}

/// Reads a message whose [`MESSAGE_COLUMNS`] start at column `at`.
pub(crate) fn read_message(
    row: &Row<'_>,
    at: usize,
) -> rusqlite::Result<Result<StoredMessage, BadRow>> {
    let topic: String = row.get(at)?;
    let payload: Vec<u8> = row.get(at + 1)?;
    let qos: u8 = row.get(at + 2)?;
    let retain: bool = row.get(at + 3)?;
    let properties: Option<Vec<u8>> = row.get(at + 4)?;
    let expires: Option<i64> = row.get(at + 5)?;
    let Some(qos) = QoS::from_u8(qos) else {
        return Ok(Err(BadRow(format!("message QoS {qos}"))));
    };
    let properties = match properties {
        None => Properties::new(),
        Some(bytes) => match decode_properties(bytes) {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        },
    };
    let mut m = StoredMessage::new(ByteString::from(topic), Bytes::from(payload), qos)
        .with_retain(retain)
        .with_properties(properties);
    m.expires_at_ms = expires.map(|v| u64::try_from(v).unwrap_or(0));
    Ok(Ok(m))
}

/// Milliseconds as SQLite's signed integer (saturating).
pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Properties are kept as an MQTT 5 PUBLISH packet that carries only them, so the codec's
/// own encoding is reused; `None` when there are none.
fn encode_properties(p: &Properties) -> Result<Option<Vec<u8>>, String> {
    if p.is_empty() {
        return Ok(None);
    }
    let carrier = Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: false,
        topic: ByteString::from_static("p"),
        packet_id: None,
        properties: p.clone(),
        payload: Bytes::new(),
    });
    let mut buf = BytesMut::new();
    carrier
        .encode(ProtocolVersion::V5, &mut buf)
        .map_err(|e| format!("message properties cannot be stored: {e}"))?;
    Ok(Some(buf.to_vec()))
}

fn decode_properties(bytes: Vec<u8>) -> Result<Properties, BadRow> {
    let mut buf = BytesMut::from(&bytes[..]);
    match petrel_codec::decode(&mut buf, ProtocolVersion::V5, u32::MAX) {
        Ok(Some(Packet::Publish(p))) if buf.is_empty() => Ok(p.properties),
        Ok(_) => Err(BadRow("message properties: not a property record".into())),
        Err(e) => Err(BadRow(format!("message properties: {e}"))),
    }
}

/// The subscription options as one byte, laid out as in an MQTT 5 SUBSCRIBE.
pub(crate) fn options_byte(o: SubscriptionOptions) -> u8 {
    (o.qos as u8)
        | (u8::from(o.no_local) << 2)
        | (u8::from(o.retain_as_published) << 3)
        | ((o.retain_handling as u8) << 4)
}

/// The options of a byte written by [`options_byte`].
pub(crate) fn options_from(b: u8) -> Result<SubscriptionOptions, BadRow> {
    let qos = QoS::from_u8(b & 0x03).ok_or_else(|| BadRow(format!("options {b:#x}")))?;
    let retain_handling = match (b >> 4) & 0x03 {
        0 => RetainHandling::SendAtSubscribe,
        1 => RetainHandling::SendIfNew,
        2 => RetainHandling::DoNotSend,
        _ => return Err(BadRow(format!("options {b:#x}"))),
    };
    Ok(SubscriptionOptions {
        qos,
        no_local: b & 0x04 != 0,
        retain_as_published: b & 0x08 != 0,
        retain_handling,
    })
}

/// Subscription identifiers as little-endian `u32`s.
pub(crate) fn ids_blob(ids: &[u32]) -> Vec<u8> {
    ids.iter().flat_map(|id| id.to_le_bytes()).collect()
}

/// The identifiers of a blob written by [`ids_blob`].
pub(crate) fn ids_from(blob: &[u8]) -> Result<Vec<u32>, BadRow> {
    if !blob.len().is_multiple_of(4) {
        return Err(BadRow("subscription identifiers".into()));
    }
    Ok(blob
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// A packet identifier read back.
pub(crate) fn packet_id_from(v: i64) -> Result<PacketId, BadRow> {
    u16::try_from(v)
        .ok()
        .and_then(PacketId::new)
        .ok_or_else(|| BadRow(format!("packet identifier {v}")))
}
