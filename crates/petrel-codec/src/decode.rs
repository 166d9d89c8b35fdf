//! Incremental, zero-copy decoding of one packet from a byte buffer.

use bytes::{Buf, BytesMut};

use crate::property_codec;
use crate::validate::Rules;
use crate::wire::{parse_varint, Reader};
use crate::{
    Auth, ConnAck, Connect, DecodeError, Disconnect, Packet, PacketId, PacketType, Properties,
    ProtocolVersion, PubResp, Publish, QoS, ReasonCode, RetainHandling, SubAck, Subscribe,
    SubscriptionOptions, UnsubAck, Unsubscribe, Will,
};

/// Decodes one packet from the front of `buf`.
///
/// - `Ok(None)`: the packet is not complete yet; nothing was consumed. Call again when more
///   bytes have arrived. No space is reserved for the declared length, so a peer cannot make
///   the caller allocate by announcing a large packet.
/// - `Ok(Some(packet))`: exactly one packet was removed from `buf`. Topics, strings,
///   payloads and binary fields are slices of those bytes, not copies.
/// - `Err(_)`: the connection must be closed (after a DISCONNECT or CONNACK carrying
///   [`DecodeError::reason_code`] for MQTT 5). The bytes of a complete but invalid packet
///   have been consumed; after a fixed-header error nothing is consumed.
///
/// `version` is the version agreed in CONNECT. A CONNECT packet is decoded with the protocol
/// level it carries, whatever `version` says. `max_packet_size` bounds the whole packet
/// including its fixed header; it is checked from the fixed header alone, before the body
/// is waited for.
pub fn decode(
    buf: &mut BytesMut,
    version: ProtocolVersion,
    max_packet_size: u32,
) -> Result<Option<Packet>, DecodeError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    if let Some(packet) = short_ack(buf, max_packet_size) {
        return Ok(Some(packet));
    }
    let packet_type = check_first_byte(first, version)?;
    let Some((remaining, len_bytes)) = parse_varint(buf.get(1..).unwrap_or_default())? else {
        return Ok(None);
    };
    let header_len = 1 + len_bytes;
    let total = header_len as u64 + u64::from(remaining);
    if total > u64::from(max_packet_size) {
        return Err(DecodeError::PacketTooLarge {
            size: total,
            max: max_packet_size,
        });
    }
    if (buf.len() as u64) < total {
        return Ok(None);
    }
    let frame = buf.split_to(header_len + remaining as usize).freeze();
    let mut r = Reader::at(frame, header_len, packet_type);
    let rules = Rules {
        version,
        check_strings: false,
    };
    if packet_type == PacketType::Publish {
        // The hot packet: its topic is scanned once, while it is read.
        let (p, wild) = publish(&mut r, first & 0x0F, version)?;
        r.finish()?;
        rules.publish(&p, Some(wild))?;
        return Ok(Some(Packet::Publish(p)));
    }
    let packet = decode_body(&mut r, first & 0x0F, version)?;
    r.finish()?;
    rules.packet(&packet)?;
    Ok(Some(packet))
}

/// The acknowledgement of every QoS 1/2 message in its usual form, four bytes (success and
/// no properties; MQTT 5 leaves both out, section 3.4.2.1), taken from `buf` without
/// framing a body: the same packet in every version. Anything else (a zero packet
/// identifier, reserved flags set, a longer form) is left to the full decoder.
fn short_ack(buf: &mut BytesMut, max_packet_size: u32) -> Option<Packet> {
    let &[first @ (0x40 | 0x50 | 0x62 | 0x70), 2, hi, lo, ..] = &buf[..] else {
        return None;
    };
    let id = PacketId::new(u16::from_be_bytes([hi, lo])).filter(|_| max_packet_size >= 4)?;
    buf.advance(4);
    let r = PubResp::new(id);
    Some(match first {
        0x40 => Packet::PubAck(r),
        0x50 => Packet::PubRec(r),
        0x62 => Packet::PubRel(r),
        _ => Packet::PubComp(r),
    })
}

/// Checks the packet type and the flag bits of the first byte (MQTT-2.1.3-1, MQTT-3.3.1-4).
fn check_first_byte(first: u8, version: ProtocolVersion) -> Result<PacketType, DecodeError> {
    let code = first >> 4;
    let packet = match PacketType::from_u8(code) {
        Some(PacketType::Auth) if !version.is_v5() => None,
        other => other,
    }
    .ok_or(DecodeError::ReservedPacketType(code))?;
    let flags = first & 0x0F;
    let valid = match packet {
        PacketType::Publish => {
            if flags & 0x06 == 0x06 {
                return Err(DecodeError::InvalidQoS);
            }
            true
        }
        PacketType::PubRel | PacketType::Subscribe | PacketType::Unsubscribe => flags == 0x02,
        _ => flags == 0,
    };
    if valid {
        Ok(packet)
    } else {
        Err(DecodeError::ReservedFlags { packet, flags })
    }
}

fn decode_body(r: &mut Reader, flags: u8, v: ProtocolVersion) -> Result<Packet, DecodeError> {
    let t = r.packet();
    Ok(match t {
        PacketType::Connect => Packet::Connect(Box::new(connect(r)?)),
        PacketType::ConnAck => Packet::ConnAck(connack(r, v)?),
        PacketType::Publish => Packet::Publish(publish(r, flags, v)?.0),
        PacketType::PubAck => Packet::PubAck(pub_resp(r, v)?),
        PacketType::PubRec => Packet::PubRec(pub_resp(r, v)?),
        PacketType::PubRel => Packet::PubRel(pub_resp(r, v)?),
        PacketType::PubComp => Packet::PubComp(pub_resp(r, v)?),
        PacketType::Subscribe => Packet::Subscribe(subscribe(r, v)?),
        PacketType::SubAck => Packet::SubAck(suback(r, v)?),
        PacketType::Unsubscribe => Packet::Unsubscribe(unsubscribe(r, v)?),
        PacketType::UnsubAck => Packet::UnsubAck(unsuback(r, v)?),
        PacketType::PingReq => Packet::PingReq,
        PacketType::PingResp => Packet::PingResp,
        PacketType::Disconnect => {
            let (reason, properties) = reason_and_props(r, v)?;
            Packet::Disconnect(Disconnect { reason, properties })
        }
        PacketType::Auth => {
            let (reason, properties) = reason_and_props(r, v)?;
            Packet::Auth(Auth { reason, properties })
        }
    })
}

fn props(r: &mut Reader, v: ProtocolVersion) -> Result<Properties, DecodeError> {
    if v.is_v5() {
        property_codec::decode(r)
    } else {
        Ok(Properties::new())
    }
}

fn reason(r: &mut Reader) -> Result<ReasonCode, DecodeError> {
    let code = r.u8()?;
    ReasonCode::from_u8(code).ok_or(DecodeError::InvalidReasonCode {
        packet: r.packet(),
        code,
    })
}

fn connect(r: &mut Reader) -> Result<Connect, DecodeError> {
    let name = r.binary()?;
    let level = r.u8()?;
    let protocol = match (&name[..], level) {
        (b"MQIsdp", 3) => ProtocolVersion::V3_1,
        (b"MQTT", 4) => ProtocolVersion::V3_1_1,
        (b"MQTT", 5) => ProtocolVersion::V5,
        (b"MQTT" | b"MQIsdp", _) => return Err(DecodeError::UnsupportedProtocolLevel { level }),
        _ => return Err(DecodeError::UnknownProtocolName),
    };
    let flags = r.u8()?;
    // MQTT 3.1 leaves bit 0 unused rather than reserved.
    if flags & 0x01 != 0 && protocol != ProtocolVersion::V3_1 {
        return Err(DecodeError::ConnectReservedFlag);
    }
    let will_flag = flags & 0x04 != 0;
    let will_qos = (flags >> 3) & 0x03;
    let will_retain = flags & 0x20 != 0;
    if !will_flag && will_qos != 0 {
        return Err(DecodeError::WillQoSWithoutWill);
    }
    if !will_flag && will_retain {
        return Err(DecodeError::WillRetainWithoutWill);
    }
    let will_qos = QoS::from_u8(will_qos).ok_or(DecodeError::InvalidWillQoS)?;
    let keep_alive = r.u16()?;
    let properties = props(r, protocol)?;
    let client_id = r.string()?;
    let will = if will_flag {
        let properties = props(r, protocol)?;
        let topic = r.string()?;
        let payload = r.binary()?;
        Some(Will {
            topic,
            payload,
            qos: will_qos,
            retain: will_retain,
            properties,
        })
    } else {
        None
    };
    let username = if flags & 0x80 != 0 {
        Some(r.string()?)
    } else {
        None
    };
    let password = if flags & 0x40 != 0 {
        Some(r.binary()?)
    } else {
        None
    };
    Ok(Connect {
        protocol,
        clean_start: flags & 0x02 != 0,
        keep_alive,
        client_id,
        will,
        username,
        password,
        properties,
    })
}

fn connack(r: &mut Reader, v: ProtocolVersion) -> Result<ConnAck, DecodeError> {
    let flags = r.u8()?;
    if flags & 0xFE != 0 {
        return Err(DecodeError::ConnAckReservedFlags);
    }
    let reason = if v.is_v5() {
        reason(r)?
    } else {
        let code = r.u8()?;
        ReasonCode::from_v3_connack(code).ok_or(DecodeError::InvalidReasonCode {
            packet: PacketType::ConnAck,
            code,
        })?
    };
    let properties = props(r, v)?;
    Ok(ConnAck {
        session_present: flags & 0x01 != 0,
        reason,
        properties,
    })
}

/// A PUBLISH, and whether its topic holds a wildcard (a rule checked after the others).
fn publish(r: &mut Reader, flags: u8, v: ProtocolVersion) -> Result<(Publish, bool), DecodeError> {
    let qos = QoS::from_u8((flags >> 1) & 0x03).ok_or(DecodeError::InvalidQoS)?;
    let (topic, wild) = r.topic()?;
    let packet_id = if qos == QoS::AtMostOnce {
        None
    } else {
        Some(r.packet_id()?)
    };
    let properties = props(r, v)?;
    let p = Publish {
        dup: flags & 0x08 != 0,
        qos,
        retain: flags & 0x01 != 0,
        topic,
        packet_id,
        properties,
        payload: r.rest(),
    };
    Ok((p, wild))
}

/// The optional reason code and properties closing DISCONNECT and AUTH (and following the
/// packet identifier of the PUBLISH acknowledgements): both may be left out.
fn reason_and_props(
    r: &mut Reader,
    v: ProtocolVersion,
) -> Result<(ReasonCode, Properties), DecodeError> {
    if !v.is_v5() || r.is_empty() {
        return Ok((ReasonCode::Success, Properties::new()));
    }
    let reason = reason(r)?;
    let properties = if r.is_empty() {
        Properties::new()
    } else {
        property_codec::decode(r)?
    };
    Ok((reason, properties))
}

fn pub_resp(r: &mut Reader, v: ProtocolVersion) -> Result<PubResp, DecodeError> {
    let packet_id = r.packet_id()?;
    let (reason, properties) = reason_and_props(r, v)?;
    Ok(PubResp {
        packet_id,
        reason,
        properties,
    })
}

fn options(byte: u8, v: ProtocolVersion) -> Result<SubscriptionOptions, DecodeError> {
    let reserved = if v.is_v5() { 0xC0 } else { 0xFC };
    if byte & reserved != 0 {
        return Err(DecodeError::SubscriptionOptionsReserved);
    }
    let qos = QoS::from_u8(byte & 0x03).ok_or(DecodeError::InvalidSubscriptionQoS)?;
    let retain_handling = match (byte >> 4) & 0x03 {
        0 => RetainHandling::SendAtSubscribe,
        1 => RetainHandling::SendIfNew,
        2 => RetainHandling::DoNotSend,
        _ => return Err(DecodeError::InvalidRetainHandling),
    };
    Ok(SubscriptionOptions {
        qos,
        no_local: byte & 0x04 != 0,
        retain_as_published: byte & 0x08 != 0,
        retain_handling,
    })
}

fn subscribe(r: &mut Reader, v: ProtocolVersion) -> Result<Subscribe, DecodeError> {
    let packet_id = r.packet_id()?;
    let properties = props(r, v)?;
    let mut filters = Vec::new();
    while !r.is_empty() {
        let filter = r.string()?;
        let opts = options(r.u8()?, v)?;
        filters.push((filter, opts));
    }
    Ok(Subscribe {
        packet_id,
        filters,
        properties,
    })
}

fn suback(r: &mut Reader, v: ProtocolVersion) -> Result<SubAck, DecodeError> {
    let packet_id = r.packet_id()?;
    let properties = props(r, v)?;
    let codes = r.rest();
    let mut reasons = Vec::with_capacity(codes.len());
    for &code in codes.iter() {
        let reason = if v.is_v5() {
            ReasonCode::from_u8(code)
        } else {
            ReasonCode::from_v3_suback(code)
        };
        reasons.push(reason.ok_or(DecodeError::InvalidReasonCode {
            packet: PacketType::SubAck,
            code,
        })?);
    }
    Ok(SubAck {
        packet_id,
        reasons,
        properties,
    })
}

fn unsubscribe(r: &mut Reader, v: ProtocolVersion) -> Result<Unsubscribe, DecodeError> {
    let packet_id = r.packet_id()?;
    let properties = props(r, v)?;
    let mut filters = Vec::new();
    while !r.is_empty() {
        filters.push(r.string()?);
    }
    Ok(Unsubscribe {
        packet_id,
        filters,
        properties,
    })
}

fn unsuback(r: &mut Reader, v: ProtocolVersion) -> Result<UnsubAck, DecodeError> {
    let packet_id = r.packet_id()?;
    let properties = props(r, v)?;
    let mut reasons = Vec::new();
    if v.is_v5() {
        while !r.is_empty() {
            reasons.push(reason(r)?);
        }
    }
    Ok(UnsubAck {
        packet_id,
        reasons,
        properties,
    })
}
