//! Encoding packets into a `BytesMut`, and computing their size beforehand.
//!
//! MQTT 3 has no properties and few reason codes: the MQTT 3 encoder leaves properties,
//! subscription options other than QoS, and the reason codes of acknowledgements and
//! DISCONNECT out, and maps CONNACK and SUBACK reason codes to the closest MQTT 3 return
//! code (see [`Packet::for_version`]).

use bytes::{BufMut, BytesMut};

use crate::property_codec;
use crate::validate::Rules;
use crate::wire::{field_len, put_field, put_varint, varint_len, VARINT_MAX};
use crate::{
    Connect, EncodeError, Packet, PacketType, Properties, ProtocolVersion, PubResp, ReasonCode,
    SubscriptionOptions,
};

/// Encodes `packet` as spoken in `version` at the end of `buf`. Same as [`Packet::encode`].
pub fn encode(
    packet: &Packet,
    version: ProtocolVersion,
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    packet.encode(version, buf)
}

/// Property block lengths found while sizing a packet, reused while writing it (a packet
/// has at most two blocks: CONNECT's own and its will's), in the order they are met.
#[derive(Default)]
struct Memo {
    lens: [usize; 2],
    pushed: usize,
    popped: usize,
}

impl Memo {
    fn push(&mut self, len: usize) {
        if let Some(slot) = self.lens.get_mut(self.pushed) {
            *slot = len;
        }
        self.pushed += 1;
    }

    fn pop(&mut self, p: &Properties) -> Result<usize, EncodeError> {
        let i = self.popped;
        self.popped += 1;
        match self.lens.get(i) {
            Some(&len) if i < self.pushed => Ok(len),
            _ => property_codec::body_len(p),
        }
    }
}

/// Size of a properties block with its length prefix; nothing before MQTT 5.
fn props_len(p: &Properties, v: ProtocolVersion, m: &mut Memo) -> Result<usize, EncodeError> {
    if !v.is_v5() {
        return Ok(0);
    }
    let len = property_codec::body_len(p)?;
    m.push(len);
    Ok(varint_len(len) + len)
}

fn put_props(
    buf: &mut BytesMut,
    p: &Properties,
    v: ProtocolVersion,
    m: &mut Memo,
) -> Result<(), EncodeError> {
    if v.is_v5() {
        let len = m.pop(p)?;
        property_codec::put(buf, p, len);
    }
    Ok(())
}

/// Whether a PUBACK-like packet, DISCONNECT or AUTH needs its optional reason code and
/// property block: (reason, properties).
fn tail_parts(reason: ReasonCode, p: &Properties, v: ProtocolVersion) -> (bool, bool) {
    if !v.is_v5() {
        return (false, false);
    }
    let with_props = !p.is_empty();
    (with_props || reason != ReasonCode::Success, with_props)
}

fn tail_len(
    reason: ReasonCode,
    p: &Properties,
    v: ProtocolVersion,
    m: &mut Memo,
) -> Result<usize, EncodeError> {
    let (with_reason, with_props) = tail_parts(reason, p, v);
    let props = if with_props { props_len(p, v, m)? } else { 0 };
    Ok(usize::from(with_reason) + props)
}

fn put_tail(
    buf: &mut BytesMut,
    reason: ReasonCode,
    p: &Properties,
    v: ProtocolVersion,
    m: &mut Memo,
) -> Result<(), EncodeError> {
    let (with_reason, with_props) = tail_parts(reason, p, v);
    if with_reason {
        buf.put_u8(reason.as_u8());
    }
    if with_props {
        put_props(buf, p, v, m)?;
    }
    Ok(())
}

fn connect_len(c: &Connect, m: &mut Memo) -> Result<usize, EncodeError> {
    let v = c.protocol;
    let mut len = field_len(v.protocol_name().len())? + 1 + 1 + 2;
    len += props_len(&c.properties, v, m)?;
    len += field_len(c.client_id.len())?;
    if let Some(w) = &c.will {
        len += props_len(&w.properties, v, m)?
            + field_len(w.topic.len())?
            + field_len(w.payload.len())?;
    }
    if let Some(u) = &c.username {
        len += field_len(u.len())?;
    }
    if let Some(p) = &c.password {
        len += field_len(p.len())?;
    }
    Ok(len)
}

fn put_connect(buf: &mut BytesMut, c: &Connect, m: &mut Memo) -> Result<(), EncodeError> {
    let v = c.protocol;
    put_field(buf, v.protocol_name().as_bytes());
    buf.put_u8(v.level());
    let mut flags = u8::from(c.clean_start) << 1;
    if let Some(w) = &c.will {
        flags |= 0x04 | (w.qos as u8) << 3 | u8::from(w.retain) << 5;
    }
    flags |= u8::from(c.password.is_some()) << 6 | u8::from(c.username.is_some()) << 7;
    buf.put_u8(flags);
    buf.put_u16(c.keep_alive);
    put_props(buf, &c.properties, v, m)?;
    put_field(buf, c.client_id.as_bytes());
    if let Some(w) = &c.will {
        put_props(buf, &w.properties, v, m)?;
        put_field(buf, w.topic.as_bytes());
        put_field(buf, &w.payload);
    }
    if let Some(u) = &c.username {
        put_field(buf, u.as_bytes());
    }
    if let Some(p) = &c.password {
        put_field(buf, p);
    }
    Ok(())
}

fn options_byte(o: &SubscriptionOptions, v: ProtocolVersion) -> u8 {
    let mut b = o.qos as u8;
    if v.is_v5() {
        b |= u8::from(o.no_local) << 2
            | u8::from(o.retain_as_published) << 3
            | (o.retain_handling as u8) << 4;
    }
    b
}

fn pub_resp_len(r: &PubResp, v: ProtocolVersion, m: &mut Memo) -> Result<usize, EncodeError> {
    Ok(2 + tail_len(r.reason, &r.properties, v, m)?)
}

/// Size of everything after the fixed header.
fn body_len(p: &Packet, v: ProtocolVersion, m: &mut Memo) -> Result<usize, EncodeError> {
    Ok(match p {
        Packet::Connect(c) => connect_len(c, m)?,
        Packet::ConnAck(c) => 2 + props_len(&c.properties, v, m)?,
        Packet::Publish(p) => crate::encode_publish::layout(p, v, false)?.body,
        Packet::PubAck(r) | Packet::PubRec(r) | Packet::PubRel(r) | Packet::PubComp(r) => {
            pub_resp_len(r, v, m)?
        }
        Packet::Subscribe(s) => {
            let mut len = 2 + props_len(&s.properties, v, m)?;
            for (f, _) in &s.filters {
                len += field_len(f.len())? + 1;
            }
            len
        }
        Packet::SubAck(s) => 2 + props_len(&s.properties, v, m)? + s.reasons.len(),
        Packet::Unsubscribe(u) => {
            let mut len = 2 + props_len(&u.properties, v, m)?;
            for f in &u.filters {
                len += field_len(f.len())?;
            }
            len
        }
        Packet::UnsubAck(u) if v.is_v5() => 2 + props_len(&u.properties, v, m)? + u.reasons.len(),
        Packet::UnsubAck(_) => 2,
        Packet::PingReq | Packet::PingResp => 0,
        Packet::Disconnect(d) => tail_len(d.reason, &d.properties, v, m)?,
        Packet::Auth(a) if v.is_v5() => tail_len(a.reason, &a.properties, v, m)?,
        Packet::Auth(_) => {
            return Err(EncodeError::NotInVersion {
                packet: PacketType::Auth,
                version: v,
            })
        }
    })
}

fn first_byte(p: &Packet) -> u8 {
    let flags = match p {
        Packet::Publish(p) => u8::from(p.dup) << 3 | (p.qos as u8) << 1 | u8::from(p.retain),
        Packet::PubRel(_) | Packet::Subscribe(_) | Packet::Unsubscribe(_) => 0x02,
        _ => 0,
    };
    (p.packet_type() as u8) << 4 | flags
}

fn put_body(
    buf: &mut BytesMut,
    p: &Packet,
    v: ProtocolVersion,
    m: &mut Memo,
) -> Result<(), EncodeError> {
    match p {
        Packet::Connect(c) => put_connect(buf, c, m)?,
        Packet::ConnAck(c) => {
            buf.put_u8(u8::from(c.session_present));
            buf.put_u8(if v.is_v5() {
                c.reason.as_u8()
            } else {
                c.reason.to_v3_connack()
            });
            put_props(buf, &c.properties, v, m)?;
        }
        // Not reached from `Packet::encode`, which hands PUBLISH to its own path.
        Packet::Publish(p) => crate::encode_publish::write_body(p, v, buf),
        Packet::PubAck(r) | Packet::PubRec(r) | Packet::PubRel(r) | Packet::PubComp(r) => {
            buf.put_u16(r.packet_id.get());
            put_tail(buf, r.reason, &r.properties, v, m)?;
        }
        Packet::Subscribe(s) => {
            buf.put_u16(s.packet_id.get());
            put_props(buf, &s.properties, v, m)?;
            for (f, o) in &s.filters {
                put_field(buf, f.as_bytes());
                buf.put_u8(options_byte(o, v));
            }
        }
        Packet::SubAck(s) => {
            buf.put_u16(s.packet_id.get());
            put_props(buf, &s.properties, v, m)?;
            for r in &s.reasons {
                buf.put_u8(if v.is_v5() {
                    r.as_u8()
                } else {
                    r.to_v3_suback()
                });
            }
        }
        Packet::Unsubscribe(u) => {
            buf.put_u16(u.packet_id.get());
            put_props(buf, &u.properties, v, m)?;
            for f in &u.filters {
                put_field(buf, f.as_bytes());
            }
        }
        Packet::UnsubAck(u) => {
            buf.put_u16(u.packet_id.get());
            if v.is_v5() {
                put_props(buf, &u.properties, v, m)?;
                for r in &u.reasons {
                    buf.put_u8(r.as_u8());
                }
            }
        }
        Packet::PingReq | Packet::PingResp => {}
        Packet::Disconnect(d) => put_tail(buf, d.reason, &d.properties, v, m)?,
        Packet::Auth(a) => put_tail(buf, a.reason, &a.properties, v, m)?,
    }
    Ok(())
}

impl Packet {
    /// Total encoded size in `version` (CONNECT: in its own protocol), fixed header
    /// included. Use it to honour a peer's maximum packet size before encoding.
    pub fn encoded_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        if let Packet::Publish(p) = self {
            return p.encoded_len(version);
        }
        let body = body_len(self, version, &mut Memo::default())?;
        if body > VARINT_MAX as usize {
            return Err(EncodeError::PacketTooLarge { len: body });
        }
        Ok(1 + varint_len(body) + body)
    }

    /// Appends the packet, encoded as spoken in `version`, to `buf`. A CONNECT is encoded
    /// in the protocol it names. The packet is first checked against every rule the
    /// decoder enforces; on error nothing is written.
    pub fn encode(&self, version: ProtocolVersion, buf: &mut BytesMut) -> Result<(), EncodeError> {
        match self {
            Packet::Publish(p) => return p.encode(version, buf),
            // The acknowledgement of every QoS 1/2 message: success without properties is
            // always valid and always four bytes (MQTT 5 leaves the reason code out,
            // section 3.4.2.1), so nothing is checked or sized.
            Packet::PubAck(r) | Packet::PubRec(r) | Packet::PubRel(r) | Packet::PubComp(r)
                if r.reason == ReasonCode::Success && r.properties.is_empty() =>
            {
                let [hi, lo] = r.packet_id.get().to_be_bytes();
                buf.extend_from_slice(&[first_byte(self), 2, hi, lo]);
                return Ok(());
            }
            _ => {}
        }
        Rules {
            version,
            check_strings: true,
        }
        .packet(self)?;
        self.encode_unchecked(version, buf)
    }

    /// Appends the packet like [`Packet::encode`] without checking the content rules
    /// first: for packets whose parts were already checked, such as a PUBLISH built from
    /// a decoded one (its topic and properties passed the decoder's rules). The size rules
    /// are still enforced (fields over 65,535 bytes, a packet over the largest remaining
    /// length, a packet identifier that does not match the QoS), so the stream is never
    /// corrupted; a packet that breaks a content rule is written as it is, and a strict
    /// peer will close the connection. Debug builds check the content rules and panic on a
    /// broken one, so tests and fuzzing keep "whatever Petrel writes, Petrel accepts"
    /// honest.
    pub fn encode_trusted(
        &self,
        version: ProtocolVersion,
        buf: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        debug_assert_eq!(
            Rules {
                version,
                check_strings: true,
            }
            .packet(self),
            Ok(()),
            "encode_trusted given a packet that breaks a content rule"
        );
        match self {
            Packet::Publish(p) => {
                let layout = crate::encode_publish::layout(p, version, false)?;
                crate::encode_publish::write(p, version, &layout, buf);
                Ok(())
            }
            _ => self.encode_unchecked(version, buf),
        }
    }

    fn encode_unchecked(
        &self,
        version: ProtocolVersion,
        buf: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        let mut memo = Memo::default();
        let body = body_len(self, version, &mut memo)?;
        if body > VARINT_MAX as usize {
            return Err(EncodeError::PacketTooLarge { len: body });
        }
        let start = buf.len();
        buf.reserve(1 + varint_len(body) + body);
        buf.put_u8(first_byte(self));
        put_varint(buf, body);
        if let Err(e) = put_body(buf, self, version, &mut memo) {
            buf.truncate(start);
            return Err(e);
        }
        Ok(())
    }
}
