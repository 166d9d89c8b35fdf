//! The PUBLISH encoder: the hot packet of every broker and client gets its own path.
//!
//! It applies exactly the rules [`Packet::encode`](crate::Packet::encode) applies to any
//! packet (the decoder's rules, so whatever Petrel writes Petrel accepts) but sizes and
//! checks the properties in one pass, and writes the fixed header, the topic length, the
//! packet identifier and the property length with two copies instead of one call per
//! field.

use bytes::{BufMut, BytesMut};

use crate::property_codec::{check_auth, check_one, one_len, seen_bit};
use crate::validate::Rules;
use crate::wire::{field_len, put_varint, varint_len, VARINT_MAX};
use crate::{
    DecodeError, EncodeError, PacketType, Properties, PropertyId, ProtocolVersion, Publish, QoS,
};

/// What one pass over a PUBLISH's properties found.
struct PropScan {
    /// Size of the properties without their length prefix (saturating: only meaningful
    /// when `too_long` is `None`).
    len: usize,
    /// Identifiers seen, as [`seen_bit`]s.
    seen: u64,
    /// The first rule the properties break, if any.
    invalid: Option<DecodeError>,
    /// The first field over 65,535 bytes, if any.
    too_long: Option<EncodeError>,
}

fn scan_props(props: &Properties, rules: Rules, check: bool) -> PropScan {
    let mut scan = PropScan {
        len: 0,
        seen: 0,
        invalid: None,
        too_long: None,
    };
    if !check {
        // Only the sizes (and whether there is a topic alias).
        for p in &props.0 {
            scan.seen |= seen_bit(p.id());
            match one_len(p) {
                Ok(n) => scan.len += n,
                Err(e) => {
                    return PropScan {
                        too_long: Some(e),
                        ..scan
                    }
                }
            }
        }
        return scan;
    }
    for p in &props.0 {
        if scan.invalid.is_none() {
            if let Err(e) = check_one(p, PacketType::Publish, false, rules, &mut scan.seen) {
                scan.invalid = Some(e);
            }
        }
        match one_len(p) {
            Ok(n) => scan.len = scan.len.saturating_add(n),
            Err(e) => {
                scan.too_long.get_or_insert(e);
            }
        }
    }
    if scan.invalid.is_none() {
        scan.invalid = check_auth(scan.seen).err();
    }
    scan
}

/// Sizes of the parts of an encoded PUBLISH.
pub(crate) struct Layout {
    /// Remaining length: everything after the fixed header.
    pub(crate) body: usize,
    /// Size of the properties without their length prefix (MQTT 5).
    props: usize,
}

impl Layout {
    /// The whole packet, fixed header included.
    pub(crate) fn total(&self) -> usize {
        1 + varint_len(self.body) + self.body
    }
}

/// Sizes `p` as spoken in `v`. With `check`, first applies the rules the decoder enforces,
/// in the order [`Rules::packet`] applies them (DUP at QoS 0, the topic, the properties);
/// the size errors come after them, as in the generic encoder.
pub(crate) fn layout(p: &Publish, v: ProtocolVersion, check: bool) -> Result<Layout, EncodeError> {
    let rules = Rules {
        version: v,
        check_strings: true,
    };
    if check && p.dup && p.qos == QoS::AtMostOnce {
        return Err(DecodeError::DupWithQoS0.into());
    }
    let v5 = v.is_v5();
    let scan = if v5 {
        scan_props(&p.properties, rules, check)
    } else {
        PropScan {
            len: 0,
            seen: 0,
            invalid: None,
            too_long: None,
        }
    };
    if check {
        let has_alias = scan.seen & seen_bit(PropertyId::TopicAlias) != 0;
        if !(p.topic.is_empty() && has_alias) {
            rules.topic_name(&p.topic)?;
        }
        if let Some(e) = scan.invalid {
            return Err(e.into());
        }
    }
    let id_len = match (p.qos, p.packet_id) {
        (QoS::AtMostOnce, None) => 0,
        (QoS::AtLeastOnce | QoS::ExactlyOnce, Some(_)) => 2,
        _ => return Err(EncodeError::PacketIdMismatch),
    };
    let topic = field_len(p.topic.len())?;
    if let Some(e) = scan.too_long {
        return Err(e);
    }
    let props_block = if v5 {
        varint_len(scan.len) + scan.len
    } else {
        0
    };
    let body = topic + id_len + props_block + p.payload.len();
    if body > VARINT_MAX as usize {
        return Err(EncodeError::PacketTooLarge { len: body });
    }
    Ok(Layout {
        body,
        props: scan.len,
    })
}

/// Writes `p` with the sizes `layout` computed for version `v`. Fixed-size fields go
/// through `put_u8`/`put_u16`, which compile to plain stores after the one reservation;
/// only the topic, the payload and string properties are copied with `memcpy`.
#[inline]
pub(crate) fn write(p: &Publish, v: ProtocolVersion, layout: &Layout, buf: &mut BytesMut) {
    buf.reserve(layout.total());
    buf.put_u8(
        (PacketType::Publish as u8) << 4
            | u8::from(p.dup) << 3
            | (p.qos as u8) << 1
            | u8::from(p.retain),
    );
    put_varint(buf, layout.body);
    put_rest(p, v, layout.props, buf);
}

/// Writes everything after the fixed header (for the generic encoder).
pub(crate) fn write_body(p: &Publish, v: ProtocolVersion, buf: &mut BytesMut) {
    let props = if v.is_v5() {
        p.properties.0.iter().map(|p| one_len(p).unwrap_or(0)).sum()
    } else {
        0
    };
    put_rest(p, v, props, buf);
}

/// Writes the topic and everything after it; `props` is the size of the properties.
#[inline]
fn put_rest(p: &Publish, v: ProtocolVersion, props: usize, buf: &mut BytesMut) {
    buf.put_u16(p.topic.len() as u16);
    buf.put_slice(p.topic.as_bytes());
    if let Some(id) = p.packet_id {
        buf.put_u16(id.get());
    }
    if v.is_v5() {
        put_varint(buf, props);
        if !p.properties.is_empty() {
            crate::property_codec::put_list(buf, &p.properties);
        }
    }
    buf.put_slice(&p.payload);
}

impl Publish {
    /// Total encoded size in `version`, fixed header included, without checking the
    /// content rules (like [`Packet::encoded_len`](crate::Packet::encoded_len), without
    /// building a `Packet`).
    pub fn encoded_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        Ok(layout(self, version, false)?.total())
    }

    /// Appends this PUBLISH to `buf`, exactly as `Packet::Publish(p).encode(..)` does
    /// (every rule the decoder enforces is checked first; on error nothing is written),
    /// without building a `Packet`.
    pub fn encode(&self, version: ProtocolVersion, buf: &mut BytesMut) -> Result<(), EncodeError> {
        let layout = layout(self, version, true)?;
        write(self, version, &layout, buf);
        Ok(())
    }
}
