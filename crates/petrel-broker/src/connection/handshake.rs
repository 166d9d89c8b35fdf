//! Reading CONNECT within the connect timeout and answering CONNACK.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use bytestring::ByteString;
use petrel_codec::{
    ConnAck, Connect, DecodeError, Packet, Properties, Property, ProtocolVersion, ReasonCode,
};
use tokio::io::AsyncWriteExt;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::{read_more, BufGauge, Conn};
use crate::core::Core;
use crate::message::Message;
use crate::metrics::Metrics;
use crate::topic::validate_name;
use crate::transport::{ConnRead as OwnedReadHalf, ConnWrite as OwnedWriteHalf, Peer};

static ASSIGNED: AtomicU64 = AtomicU64::new(1);

/// Refuses a CONNECT with a CONNACK carrying `reason`, then closes.
pub(super) async fn refuse(wr: &mut OwnedWriteHalf, version: ProtocolVersion, reason: ReasonCode) {
    let mut buf = BytesMut::new();
    let ack = ConnAck {
        session_present: false,
        reason,
        properties: Properties::new(),
    };
    if Packet::ConnAck(ack).encode(version, &mut buf).is_ok() {
        let _ = wr.write_all(&buf).await;
    }
    let _ = wr.shutdown().await;
}

/// Waits for CONNECT (MQTT-3.1.0-1), validates it, attaches the session and sends CONNACK.
/// Returns `None` when the connection was refused or closed.
pub(super) async fn accept(
    core: &Arc<Core>,
    peer: &Peer,
    rd: &mut OwnedReadHalf,
    wr: &mut OwnedWriteHalf,
    inbuf: &mut BytesMut,
    gauge: &mut BufGauge<'_>,
) -> Option<(Conn, oneshot::Receiver<ReasonCode>)> {
    let deadline = Instant::now() + core.config.connect_timeout();
    let max = core.config.limits.max_packet_size;
    let connect = loop {
        let head: Vec<u8> = inbuf.iter().take(16).copied().collect();
        match petrel_codec::decode(inbuf, ProtocolVersion::V5, max) {
            Ok(Some(Packet::Connect(c))) => break c,
            Ok(Some(other)) => {
                // MQTT-3.1.0-1: the first packet must be CONNECT.
                tracing::debug!(packet = ?other.packet_type(), "first packet is not CONNECT");
                Metrics::add(&core.metrics.protocol_errors, 1);
                return None;
            }
            Ok(None) => {}
            Err(e) => {
                Metrics::add(&core.metrics.protocol_errors, 1);
                tracing::debug!(error = %e, rule = e.normative_id().unwrap_or(""), "bad CONNECT");
                if let DecodeError::UnsupportedProtocolLevel { .. } = e {
                    // MQTT-3.1.2-2: CONNACK 0x01 (or 0x84), then close.
                    refuse(
                        wr,
                        ProtocolVersion::V3_1_1,
                        ReasonCode::UnsupportedProtocolVersion,
                    )
                    .await;
                } else if connect_level(&head) == Some(5)
                    && !matches!(e, DecodeError::PacketTooLarge { .. })
                {
                    // MQTT 5: CONNACK with the reason code, then close (MQTT-4.13.1-1).
                    refuse(wr, ProtocolVersion::V5, e.reason_code()).await;
                }
                return None;
            }
        }
        let n = tokio::time::timeout_at(deadline, read_more(rd, inbuf, &core.metrics)).await;
        gauge.update(inbuf);
        match n {
            Ok(0) => return None,
            Ok(_) => {}
            Err(_) => {
                tracing::debug!("connect timeout");
                return None;
            }
        }
    };
    gauge.update(inbuf);
    // Authentication (passwords, certificates, enhanced) before anything else.
    let login = super::access::login(core, peer, &connect, rd, wr, inbuf, deadline).await?;
    establish(core, wr, *connect, login).await
}

async fn establish(
    core: &Arc<Core>,
    wr: &mut OwnedWriteHalf,
    connect: Connect,
    login: super::access::Login,
) -> Option<(Conn, oneshot::Receiver<ReasonCode>)> {
    let v = connect.protocol;
    let limits = &core.config.limits;
    let props = &connect.properties;
    if props.user_properties().count() > limits.max_user_properties {
        refuse(wr, v, ReasonCode::QuotaExceeded).await;
        return None;
    }
    let now = Instant::now();
    let mut will = None;
    if let Some(w) = &connect.will {
        // MQTT-3.3.2-2 applied to the will topic.
        let bad_response = w
            .properties
            .response_topic()
            .is_some_and(|t| t.contains(['+', '#']));
        if validate_name(&w.topic, limits.max_topic_levels).is_err()
            || w.topic.starts_with("$SYS")
            || bad_response
        {
            refuse(wr, v, ReasonCode::TopicNameInvalid).await;
            return None;
        }
        let msg = Message::new(
            w.topic.clone(),
            w.payload.clone(),
            w.qos,
            w.retain,
            &w.properties,
            now,
            Some(connect.client_id.clone()),
        );
        will = Some((msg, w.properties.will_delay_interval().unwrap_or(0)));
    }
    let mut assigned = None;
    let client_id = if connect.client_id.is_empty() {
        // MQTT-3.1.3-7 (v3.1.1 MQTT-3.1.3-8): an empty id needs a clean session.
        if !v.is_v5() && !connect.clean_start {
            refuse(wr, v, ReasonCode::ClientIdentifierNotValid).await;
            return None;
        }
        let id = ByteString::from(format!(
            "petrel-{:016x}",
            ASSIGNED.fetch_add(1, Ordering::Relaxed)
        ));
        assigned = Some(id.clone());
        id
    } else {
        connect.client_id.clone()
    };
    let expiry = if v.is_v5() {
        props.session_expiry_interval().unwrap_or(0)
    } else if connect.clean_start {
        0
    } else {
        u32::MAX
    };
    let expiry = expiry.min(limits.max_session_expiry_secs);
    let max_ka = limits.max_keep_alive_secs;
    let (keep_alive, server_ka) = match connect.keep_alive {
        ka if ka > max_ka || (ka == 0 && v.is_v5()) => (max_ka, v.is_v5().then_some(max_ka)),
        ka => (ka, None),
    };
    let conn_id = core.next_conn_id();
    let (kick_tx, kick_rx) = oneshot::channel();
    let (session, present) = core.attach(&client_id, connect.clean_start, expiry, conn_id, kick_tx);
    core.persist_attach(&session, present, will.as_ref()).await;
    let mut properties = Properties::new();
    if v.is_v5() {
        properties.set(Property::ReceiveMaximum(limits.receive_maximum));
        properties.set(Property::MaximumPacketSize(limits.max_packet_size));
        properties.set(Property::TopicAliasMaximum(limits.topic_alias_maximum));
        properties.set(Property::RetainAvailable(1));
        properties.set(Property::WildcardSubscriptionAvailable(1));
        properties.set(Property::SubscriptionIdentifierAvailable(1));
        properties.set(Property::SharedSubscriptionAvailable(1));
        if let Some(id) = assigned {
            properties.set(Property::AssignedClientIdentifier(id));
        }
        if let Some(ka) = server_ka {
            properties.set(Property::ServerKeepAlive(ka));
        }
        if props.session_expiry_interval().is_some_and(|e| e > expiry) {
            properties.set(Property::SessionExpiryInterval(expiry));
        }
        for p in login.properties {
            properties.set(p);
        }
    }
    let mut conn = Conn {
        core: core.clone(),
        conn_id,
        version: v,
        client_id,
        username: login.username,
        reauth: login.reauth,
        session,
        out: BytesMut::new(),
        keep_alive: Duration::from_secs(u64::from(keep_alive)),
        client_receive_max: props.receive_maximum().unwrap_or(u16::MAX),
        client_max_packet: props.maximum_packet_size().unwrap_or(u32::MAX),
        client_alias_max: if core.config.features.outgoing_topic_aliases {
            props.topic_alias_maximum().unwrap_or(0)
        } else {
            0
        },
        in_aliases: HashMap::new(),
        out_aliases: HashMap::new(),
        will,
        connect_expiry: expiry,
        close: None,
        persist: petrel_store::Batch::new(),
        persist_later: petrel_store::Batch::new(),
        publishes: std::collections::VecDeque::new(),
    };
    conn.send(Packet::ConnAck(ConnAck {
        session_present: present,
        reason: ReasonCode::Success,
        properties,
    }));
    if present {
        conn.resend_inflight(now);
    }
    tracing::debug!(client = %conn.client_id, version = ?v, present, "client connected");
    Some((conn, kick_rx))
}

/// The protocol level of a CONNECT from its first bytes, if they are there.
fn connect_level(head: &[u8]) -> Option<u8> {
    if head.first()? >> 4 != 1 {
        return None;
    }
    let len_bytes = head.iter().skip(1).take(4).position(|b| b & 0x80 == 0)? + 1;
    let hi = *head.get(1 + len_bytes)?;
    let lo = *head.get(2 + len_bytes)?;
    let name_len = usize::from(u16::from_be_bytes([hi, lo]));
    head.get(3 + len_bytes + name_len).copied()
}

#[cfg(test)]
mod tests {
    #[test]
    fn connect_level_is_found() {
        let v5 = [0x10, 0x10, 0, 4, b'M', b'Q', b'T', b'T', 5, 0];
        assert_eq!(super::connect_level(&v5), Some(5));
        let v31 = [0x10, 0x10, 0, 6, b'M', b'Q', b'I', b's', b'd', b'p', 3];
        assert_eq!(super::connect_level(&v31), Some(3));
        assert_eq!(super::connect_level(&[0x30, 0]), None);
        assert_eq!(super::connect_level(&[0x10]), None);
    }
}
