//! Wire form of MQTT 5 properties (section 2.2.2): reading, writing, and the rules of
//! table 2-2 (which packets each property may appear in, how often, with which values).

use bytes::{BufMut, BytesMut};

use crate::validate::Rules;
use crate::wire::{field_len, put_field, put_varint, varint_len, Reader, VARINT_MAX};
use crate::{DecodeError, EncodeError, PacketType, Properties, Property, PropertyId};

/// Bit of [`PropertyId::allowed_mask`] standing for the will properties of CONNECT.
const WILL: u16 = 1;

const fn bit(t: PacketType) -> u16 {
    1 << (t as u16)
}

impl PropertyId {
    /// The property for an identifier byte; `None` for identifiers MQTT 5 does not define.
    pub const fn from_u8(v: u8) -> Option<Self> {
        use PropertyId as I;
        Some(match v {
            0x01 => I::PayloadFormatIndicator,
            0x02 => I::MessageExpiryInterval,
            0x03 => I::ContentType,
            0x08 => I::ResponseTopic,
            0x09 => I::CorrelationData,
            0x0B => I::SubscriptionIdentifier,
            0x11 => I::SessionExpiryInterval,
            0x12 => I::AssignedClientIdentifier,
            0x13 => I::ServerKeepAlive,
            0x15 => I::AuthenticationMethod,
            0x16 => I::AuthenticationData,
            0x17 => I::RequestProblemInformation,
            0x18 => I::WillDelayInterval,
            0x19 => I::RequestResponseInformation,
            0x1A => I::ResponseInformation,
            0x1C => I::ServerReference,
            0x1F => I::ReasonString,
            0x21 => I::ReceiveMaximum,
            0x22 => I::TopicAliasMaximum,
            0x23 => I::TopicAlias,
            0x24 => I::MaximumQoS,
            0x25 => I::RetainAvailable,
            0x26 => I::UserProperty,
            0x27 => I::MaximumPacketSize,
            0x28 => I::WildcardSubscriptionAvailable,
            0x29 => I::SubscriptionIdentifierAvailable,
            0x2A => I::SharedSubscriptionAvailable,
            _ => return None,
        })
    }

    /// The packets this property may appear in (table 2-2): bit `n` is packet type `n`,
    /// bit 0 the will properties.
    const fn allowed_mask(self) -> u16 {
        use PacketType as T;
        use PropertyId as I;
        let acks = bit(T::PubAck) | bit(T::PubRec) | bit(T::PubRel) | bit(T::PubComp);
        match self {
            I::PayloadFormatIndicator
            | I::MessageExpiryInterval
            | I::ContentType
            | I::ResponseTopic
            | I::CorrelationData => bit(T::Publish) | WILL,
            I::SubscriptionIdentifier => bit(T::Publish) | bit(T::Subscribe),
            I::SessionExpiryInterval => bit(T::Connect) | bit(T::ConnAck) | bit(T::Disconnect),
            I::AssignedClientIdentifier
            | I::ServerKeepAlive
            | I::ResponseInformation
            | I::MaximumQoS
            | I::RetainAvailable
            | I::WildcardSubscriptionAvailable
            | I::SubscriptionIdentifierAvailable
            | I::SharedSubscriptionAvailable => bit(T::ConnAck),
            I::AuthenticationMethod | I::AuthenticationData => {
                bit(T::Connect) | bit(T::ConnAck) | bit(T::Auth)
            }
            I::RequestProblemInformation | I::RequestResponseInformation => bit(T::Connect),
            I::WillDelayInterval => WILL,
            I::ServerReference => bit(T::ConnAck) | bit(T::Disconnect),
            I::ReasonString => {
                acks | bit(T::ConnAck)
                    | bit(T::SubAck)
                    | bit(T::UnsubAck)
                    | bit(T::Disconnect)
                    | bit(T::Auth)
            }
            I::ReceiveMaximum | I::TopicAliasMaximum | I::MaximumPacketSize => {
                bit(T::Connect) | bit(T::ConnAck)
            }
            I::TopicAlias => bit(T::Publish),
            I::UserProperty => !(bit(T::PingReq) | bit(T::PingResp)),
        }
    }

    /// True when this property may appear in packets of type `packet` (table 2-2).
    pub const fn is_allowed_in(self, packet: PacketType) -> bool {
        self.allowed_mask() & bit(packet) != 0
    }

    /// True when this property may appear among the will properties of CONNECT.
    pub const fn is_allowed_in_will(self) -> bool {
        self.allowed_mask() & WILL != 0
    }

    /// True when the property may appear more than once in packets of type `packet`: user
    /// properties anywhere, subscription identifiers in PUBLISH.
    pub const fn may_repeat_in(self, packet: PacketType) -> bool {
        matches!(self, PropertyId::UserProperty)
            || (matches!(self, PropertyId::SubscriptionIdentifier)
                && matches!(packet, PacketType::Publish))
    }
}

/// Reads a property length and the properties it covers. The block must fit in the packet.
pub(crate) fn decode(r: &mut Reader) -> Result<Properties, DecodeError> {
    let len = r.varint()? as usize;
    if len == 0 {
        return Ok(Properties::new());
    }
    let mut pr = r.sub(len)?;
    let mut out = Vec::new();
    while !pr.is_empty() {
        let id = pr.u8()?;
        use Property as P;
        let prop = match PropertyId::from_u8(id).ok_or(DecodeError::UnknownProperty(id))? {
            PropertyId::PayloadFormatIndicator => P::PayloadFormatIndicator(pr.u8()?),
            PropertyId::MessageExpiryInterval => P::MessageExpiryInterval(pr.u32()?),
            PropertyId::ContentType => P::ContentType(pr.string()?),
            PropertyId::ResponseTopic => P::ResponseTopic(pr.string()?),
            PropertyId::CorrelationData => P::CorrelationData(pr.binary()?),
            PropertyId::SubscriptionIdentifier => P::SubscriptionIdentifier(pr.varint()?),
            PropertyId::SessionExpiryInterval => P::SessionExpiryInterval(pr.u32()?),
            PropertyId::AssignedClientIdentifier => P::AssignedClientIdentifier(pr.string()?),
            PropertyId::ServerKeepAlive => P::ServerKeepAlive(pr.u16()?),
            PropertyId::AuthenticationMethod => P::AuthenticationMethod(pr.string()?),
            PropertyId::AuthenticationData => P::AuthenticationData(pr.binary()?),
            PropertyId::RequestProblemInformation => P::RequestProblemInformation(pr.u8()?),
            PropertyId::WillDelayInterval => P::WillDelayInterval(pr.u32()?),
            PropertyId::RequestResponseInformation => P::RequestResponseInformation(pr.u8()?),
            PropertyId::ResponseInformation => P::ResponseInformation(pr.string()?),
            PropertyId::ServerReference => P::ServerReference(pr.string()?),
            PropertyId::ReasonString => P::ReasonString(pr.string()?),
            PropertyId::ReceiveMaximum => P::ReceiveMaximum(pr.u16()?),
            PropertyId::TopicAliasMaximum => P::TopicAliasMaximum(pr.u16()?),
            PropertyId::TopicAlias => P::TopicAlias(pr.u16()?),
            PropertyId::MaximumQoS => P::MaximumQoS(pr.u8()?),
            PropertyId::RetainAvailable => P::RetainAvailable(pr.u8()?),
            PropertyId::UserProperty => P::UserProperty(pr.string()?, pr.string()?),
            PropertyId::MaximumPacketSize => P::MaximumPacketSize(pr.u32()?),
            PropertyId::WildcardSubscriptionAvailable => P::WildcardSubscriptionAvailable(pr.u8()?),
            PropertyId::SubscriptionIdentifierAvailable => {
                P::SubscriptionIdentifierAvailable(pr.u8()?)
            }
            PropertyId::SharedSubscriptionAvailable => P::SharedSubscriptionAvailable(pr.u8()?),
        };
        out.push(prop);
    }
    Ok(Properties(out))
}

/// Checks the properties of one packet (or of a will) against table 2-2 and the value rules
/// of chapter 3. Duplicates are found with a bitset over identifiers: linear in the list.
pub(crate) fn validate(
    props: &Properties,
    packet: PacketType,
    in_will: bool,
    rules: Rules,
) -> Result<(), DecodeError> {
    let mut seen: u64 = 0;
    for p in &props.0 {
        check_one(p, packet, in_will, rules, &mut seen)?;
    }
    check_auth(seen)
}

/// Bit of `id` in the set of identifiers seen by [`check_one`].
pub(crate) const fn seen_bit(id: PropertyId) -> u64 {
    1u64 << (id as u8)
}

/// Authentication data needs an authentication method.
pub(crate) fn check_auth(seen: u64) -> Result<(), DecodeError> {
    let data = seen_bit(PropertyId::AuthenticationData);
    let method = seen_bit(PropertyId::AuthenticationMethod);
    if seen & data != 0 && seen & method == 0 {
        return Err(DecodeError::AuthDataWithoutMethod);
    }
    Ok(())
}

/// Checks one property: allowed in the packet, not a forbidden repetition (`seen` holds the
/// identifiers met so far and gets this one), and a valid value.
#[inline]
pub(crate) fn check_one(
    p: &Property,
    packet: PacketType,
    in_will: bool,
    rules: Rules,
    seen: &mut u64,
) -> Result<(), DecodeError> {
    let id = p.id();
    let allowed = if in_will {
        id.is_allowed_in_will()
    } else {
        id.is_allowed_in(packet)
    };
    if !allowed {
        return Err(DecodeError::PropertyNotAllowed {
            id,
            packet,
            in_will,
        });
    }
    let mask = seen_bit(id);
    if *seen & mask != 0 && !id.may_repeat_in(packet) {
        return Err(DecodeError::DuplicateProperty(id));
    }
    *seen |= mask;
    let valid = match p {
        Property::PayloadFormatIndicator(v)
        | Property::RequestProblemInformation(v)
        | Property::RequestResponseInformation(v)
        | Property::MaximumQoS(v)
        | Property::RetainAvailable(v)
        | Property::WildcardSubscriptionAvailable(v)
        | Property::SubscriptionIdentifierAvailable(v)
        | Property::SharedSubscriptionAvailable(v) => *v <= 1,
        Property::SubscriptionIdentifier(v) => (1..=VARINT_MAX).contains(v),
        Property::ReceiveMaximum(v) => *v != 0,
        Property::MaximumPacketSize(v) => *v != 0,
        Property::ResponseTopic(t) => {
            rules.topic_name(t)?;
            true
        }
        Property::ContentType(s)
        | Property::AssignedClientIdentifier(s)
        | Property::AuthenticationMethod(s)
        | Property::ResponseInformation(s)
        | Property::ServerReference(s)
        | Property::ReasonString(s) => {
            rules.text(s)?;
            true
        }
        Property::UserProperty(k, v) => {
            rules.text(k)?;
            rules.text(v)?;
            true
        }
        _ => true,
    };
    if !valid {
        return Err(DecodeError::InvalidPropertyValue(id));
    }
    Ok(())
}

/// Size of the properties, without the property length prefix.
pub(crate) fn body_len(props: &Properties) -> Result<usize, EncodeError> {
    let mut total = 0usize;
    for p in &props.0 {
        total += one_len(p)?;
    }
    Ok(total)
}

/// Encoded size of one property, identifier byte included.
#[inline]
pub(crate) fn one_len(p: &Property) -> Result<usize, EncodeError> {
    use Property as P;
    Ok(1 + match p {
        P::PayloadFormatIndicator(_)
        | P::RequestProblemInformation(_)
        | P::RequestResponseInformation(_)
        | P::MaximumQoS(_)
        | P::RetainAvailable(_)
        | P::WildcardSubscriptionAvailable(_)
        | P::SubscriptionIdentifierAvailable(_)
        | P::SharedSubscriptionAvailable(_) => 1,
        P::ServerKeepAlive(_)
        | P::ReceiveMaximum(_)
        | P::TopicAliasMaximum(_)
        | P::TopicAlias(_) => 2,
        P::MessageExpiryInterval(_)
        | P::SessionExpiryInterval(_)
        | P::WillDelayInterval(_)
        | P::MaximumPacketSize(_) => 4,
        P::SubscriptionIdentifier(v) => varint_len(*v as usize),
        P::ContentType(s)
        | P::ResponseTopic(s)
        | P::AssignedClientIdentifier(s)
        | P::AuthenticationMethod(s)
        | P::ResponseInformation(s)
        | P::ServerReference(s)
        | P::ReasonString(s) => field_len(s.len())?,
        P::CorrelationData(b) | P::AuthenticationData(b) => field_len(b.len())?,
        P::UserProperty(k, v) => field_len(k.len())? + field_len(v.len())?,
    })
}

/// Writes the property length and the properties; `len` comes from [`body_len`].
pub(crate) fn put(buf: &mut BytesMut, props: &Properties, len: usize) {
    put_varint(buf, len);
    put_list(buf, props);
}

/// Writes the properties without their length prefix.
pub(crate) fn put_list(buf: &mut BytesMut, props: &Properties) {
    for p in &props.0 {
        buf.put_u8(p.id() as u8);
        use Property as P;
        match p {
            P::PayloadFormatIndicator(v)
            | P::RequestProblemInformation(v)
            | P::RequestResponseInformation(v)
            | P::MaximumQoS(v)
            | P::RetainAvailable(v)
            | P::WildcardSubscriptionAvailable(v)
            | P::SubscriptionIdentifierAvailable(v)
            | P::SharedSubscriptionAvailable(v) => buf.put_u8(*v),
            P::ServerKeepAlive(v)
            | P::ReceiveMaximum(v)
            | P::TopicAliasMaximum(v)
            | P::TopicAlias(v) => buf.put_u16(*v),
            P::MessageExpiryInterval(v)
            | P::SessionExpiryInterval(v)
            | P::WillDelayInterval(v)
            | P::MaximumPacketSize(v) => buf.put_u32(*v),
            P::SubscriptionIdentifier(v) => put_varint(buf, *v as usize),
            P::ContentType(s)
            | P::ResponseTopic(s)
            | P::AssignedClientIdentifier(s)
            | P::AuthenticationMethod(s)
            | P::ResponseInformation(s)
            | P::ServerReference(s)
            | P::ReasonString(s) => put_field(buf, s.as_bytes()),
            P::CorrelationData(b) | P::AuthenticationData(b) => put_field(buf, b),
            P::UserProperty(k, v) => {
                put_field(buf, k.as_bytes());
                put_field(buf, v.as_bytes());
            }
        }
    }
}
