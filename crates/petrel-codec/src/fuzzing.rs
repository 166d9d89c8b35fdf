//! `arbitrary::Arbitrary` for the packet types (feature `arbitrary`), for structure-aware
//! fuzzing. Strings and binary fields are copied out of the fuzzer's input; the values are
//! arbitrary, so many packets are invalid and refused by the encoder, as they should be.

use arbitrary::{Arbitrary, Result, Unstructured};
use bytes::Bytes;
use bytestring::ByteString;

use crate::{
    Auth, ConnAck, Connect, Disconnect, Packet, Properties, Property, PropertyId, PubResp, Publish,
    SubAck, Subscribe, UnsubAck, Unsubscribe, Will,
};

fn string(u: &mut Unstructured<'_>) -> Result<ByteString> {
    Ok(ByteString::from(<&str>::arbitrary(u)?))
}

fn bytes(u: &mut Unstructured<'_>) -> Result<Bytes> {
    Ok(Bytes::copy_from_slice(<&[u8]>::arbitrary(u)?))
}

fn option<T>(
    u: &mut Unstructured<'_>,
    f: impl FnOnce(&mut Unstructured<'_>) -> Result<T>,
) -> Result<Option<T>> {
    Ok(if u.arbitrary()? { Some(f(u)?) } else { None })
}

impl<'a> Arbitrary<'a> for Property {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        const IDS: [u8; 27] = [
            0x01, 0x02, 0x03, 0x08, 0x09, 0x0B, 0x11, 0x12, 0x13, 0x15, 0x16, 0x17, 0x18, 0x19,
            0x1A, 0x1C, 0x1F, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2A,
        ];
        let id = PropertyId::from_u8(*u.choose(&IDS)?).unwrap_or(PropertyId::UserProperty);
        use Property as P;
        use PropertyId as I;
        Ok(match id {
            I::PayloadFormatIndicator => P::PayloadFormatIndicator(u.arbitrary()?),
            I::MessageExpiryInterval => P::MessageExpiryInterval(u.arbitrary()?),
            I::ContentType => P::ContentType(string(u)?),
            I::ResponseTopic => P::ResponseTopic(string(u)?),
            I::CorrelationData => P::CorrelationData(bytes(u)?),
            I::SubscriptionIdentifier => P::SubscriptionIdentifier(u.arbitrary()?),
            I::SessionExpiryInterval => P::SessionExpiryInterval(u.arbitrary()?),
            I::AssignedClientIdentifier => P::AssignedClientIdentifier(string(u)?),
            I::ServerKeepAlive => P::ServerKeepAlive(u.arbitrary()?),
            I::AuthenticationMethod => P::AuthenticationMethod(string(u)?),
            I::AuthenticationData => P::AuthenticationData(bytes(u)?),
            I::RequestProblemInformation => P::RequestProblemInformation(u.arbitrary()?),
            I::WillDelayInterval => P::WillDelayInterval(u.arbitrary()?),
            I::RequestResponseInformation => P::RequestResponseInformation(u.arbitrary()?),
            I::ResponseInformation => P::ResponseInformation(string(u)?),
            I::ServerReference => P::ServerReference(string(u)?),
            I::ReasonString => P::ReasonString(string(u)?),
            I::ReceiveMaximum => P::ReceiveMaximum(u.arbitrary()?),
            I::TopicAliasMaximum => P::TopicAliasMaximum(u.arbitrary()?),
            I::TopicAlias => P::TopicAlias(u.arbitrary()?),
            I::MaximumQoS => P::MaximumQoS(u.arbitrary()?),
            I::RetainAvailable => P::RetainAvailable(u.arbitrary()?),
            I::UserProperty => P::UserProperty(string(u)?, string(u)?),
            I::MaximumPacketSize => P::MaximumPacketSize(u.arbitrary()?),
            I::WildcardSubscriptionAvailable => P::WildcardSubscriptionAvailable(u.arbitrary()?),
            I::SubscriptionIdentifierAvailable => {
                P::SubscriptionIdentifierAvailable(u.arbitrary()?)
            }
            I::SharedSubscriptionAvailable => P::SharedSubscriptionAvailable(u.arbitrary()?),
        })
    }
}

impl<'a> Arbitrary<'a> for Properties {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        // Mostly empty or short, as on the wire.
        let n = u.int_in_range(0..=4u8)?;
        let mut out = Vec::with_capacity(usize::from(n));
        for _ in 0..n {
            out.push(u.arbitrary()?);
        }
        Ok(Properties(out))
    }
}

impl<'a> Arbitrary<'a> for Will {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(Will {
            topic: string(u)?,
            payload: bytes(u)?,
            qos: u.arbitrary()?,
            retain: u.arbitrary()?,
            properties: u.arbitrary()?,
        })
    }
}

impl<'a> Arbitrary<'a> for Connect {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(Connect {
            protocol: u.arbitrary()?,
            clean_start: u.arbitrary()?,
            keep_alive: u.arbitrary()?,
            client_id: string(u)?,
            will: u.arbitrary()?,
            username: option(u, string)?,
            password: option(u, bytes)?,
            properties: u.arbitrary()?,
        })
    }
}

impl<'a> Arbitrary<'a> for ConnAck {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(ConnAck {
            session_present: u.arbitrary()?,
            reason: u.arbitrary()?,
            properties: u.arbitrary()?,
        })
    }
}

impl<'a> Arbitrary<'a> for Publish {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(Publish {
            dup: u.arbitrary()?,
            qos: u.arbitrary()?,
            retain: u.arbitrary()?,
            topic: string(u)?,
            packet_id: u.arbitrary()?,
            properties: u.arbitrary()?,
            payload: bytes(u)?,
        })
    }
}

impl<'a> Arbitrary<'a> for PubResp {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(PubResp {
            packet_id: u.arbitrary()?,
            reason: u.arbitrary()?,
            properties: u.arbitrary()?,
        })
    }
}

impl<'a> Arbitrary<'a> for Subscribe {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let n = u.int_in_range(0..=4u8)?;
        let mut filters = Vec::with_capacity(usize::from(n));
        for _ in 0..n {
            filters.push((string(u)?, u.arbitrary()?));
        }
        Ok(Subscribe {
            packet_id: u.arbitrary()?,
            filters,
            properties: u.arbitrary()?,
        })
    }
}

impl<'a> Arbitrary<'a> for SubAck {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(SubAck {
            packet_id: u.arbitrary()?,
            reasons: u.arbitrary()?,
            properties: u.arbitrary()?,
        })
    }
}

impl<'a> Arbitrary<'a> for Unsubscribe {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let n = u.int_in_range(0..=4u8)?;
        let mut filters = Vec::with_capacity(usize::from(n));
        for _ in 0..n {
            filters.push(string(u)?);
        }
        Ok(Unsubscribe {
            packet_id: u.arbitrary()?,
            filters,
            properties: u.arbitrary()?,
        })
    }
}

impl<'a> Arbitrary<'a> for UnsubAck {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(UnsubAck {
            packet_id: u.arbitrary()?,
            reasons: u.arbitrary()?,
            properties: u.arbitrary()?,
        })
    }
}

impl<'a> Arbitrary<'a> for Disconnect {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(Disconnect {
            reason: u.arbitrary()?,
            properties: u.arbitrary()?,
        })
    }
}

impl<'a> Arbitrary<'a> for Auth {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(Auth {
            reason: u.arbitrary()?,
            properties: u.arbitrary()?,
        })
    }
}

impl<'a> Arbitrary<'a> for Packet {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(match u.int_in_range(1..=15u8)? {
            1 => Packet::Connect(Box::new(u.arbitrary()?)),
            2 => Packet::ConnAck(u.arbitrary()?),
            3 => Packet::Publish(u.arbitrary()?),
            4 => Packet::PubAck(u.arbitrary()?),
            5 => Packet::PubRec(u.arbitrary()?),
            6 => Packet::PubRel(u.arbitrary()?),
            7 => Packet::PubComp(u.arbitrary()?),
            8 => Packet::Subscribe(u.arbitrary()?),
            9 => Packet::SubAck(u.arbitrary()?),
            10 => Packet::Unsubscribe(u.arbitrary()?),
            11 => Packet::UnsubAck(u.arbitrary()?),
            12 => Packet::PingReq,
            13 => Packet::PingResp,
            14 => Packet::Disconnect(u.arbitrary()?),
            _ => Packet::Auth(u.arbitrary()?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decode, ProtocolVersion};
    use bytes::BytesMut;

    /// The fuzz `roundtrip` target's property, on deterministic pseudo-random inputs.
    #[test]
    fn arbitrary_packets_that_encode_decode_back() {
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut encoded = 0;
        for _ in 0..2000 {
            let data: Vec<u8> = (0..256)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect();
            let mut u = Unstructured::new(&data);
            let (Ok(p), Ok(v)) = (
                Packet::arbitrary(&mut u),
                ProtocolVersion::arbitrary(&mut u),
            ) else {
                continue;
            };
            let mut buf = BytesMut::new();
            if p.encode(v, &mut buf).is_ok() {
                encoded += 1;
                let back = decode(&mut buf, v, u32::MAX)
                    .expect("decodes")
                    .expect("complete");
                assert_eq!(back, p.for_version(v));
            }
        }
        assert!(encoded > 100, "only {encoded} packets were valid");
    }
}
