//! Rules about a packet's content rather than its byte layout. The decoder applies them to
//! every packet it builds and the encoder to every packet it is given, so that whatever
//! Petrel writes, Petrel (and any strict peer) accepts.

use crate::property_codec;
use crate::{
    ConnAck, Connect, DecodeError, Packet, PacketType, Properties, ProtocolVersion, QoS, ReasonCode,
};

/// A topic name: at least one character (MQTT-4.7.3-1), no wildcard (MQTT-3.3.2-2).
pub(crate) fn topic_name(t: &str) -> Result<(), DecodeError> {
    if t.is_empty() {
        return Err(DecodeError::EmptyTopic);
    }
    if t.bytes().any(|b| b == b'+' || b == b'#') {
        return Err(DecodeError::WildcardInTopicName);
    }
    Ok(())
}

/// A topic filter is at least one character long (MQTT-4.7.3-1). Wildcard placement is
/// checked by the topic layer, which knows the filter grammar.
fn topic_filter(t: &str) -> Result<(), DecodeError> {
    if t.is_empty() {
        return Err(DecodeError::EmptyTopic);
    }
    Ok(())
}

fn props(p: &Properties, v: ProtocolVersion, t: PacketType) -> Result<(), DecodeError> {
    if v.is_v5() {
        property_codec::validate(p, t, false)?;
    }
    Ok(())
}

fn reason(r: ReasonCode, v: ProtocolVersion, t: PacketType) -> Result<(), DecodeError> {
    // MQTT 3 packets carry no reason code; CONNACK and SUBACK codes are mapped.
    if v.is_v5() && !r.is_allowed_in(t) {
        return Err(DecodeError::InvalidReasonCode {
            packet: t,
            code: r.as_u8(),
        });
    }
    Ok(())
}

fn connect(c: &Connect) -> Result<(), DecodeError> {
    let v = c.protocol;
    if !v.is_v5() && c.password.is_some() && c.username.is_none() {
        return Err(DecodeError::PasswordWithoutUsername);
    }
    props(&c.properties, v, PacketType::Connect)?;
    if let Some(w) = &c.will {
        topic_name(&w.topic)?;
        if v.is_v5() {
            property_codec::validate(&w.properties, PacketType::Connect, true)?;
        }
    }
    Ok(())
}

fn connack(c: &ConnAck, v: ProtocolVersion) -> Result<(), DecodeError> {
    reason(c.reason, v, PacketType::ConnAck)?;
    let seen = if v.is_v5() {
        c.reason
    } else {
        c.reason.as_seen_by_v3(PacketType::ConnAck)
    };
    if c.session_present && seen.is_error() {
        return Err(DecodeError::SessionPresentOnFailure);
    }
    props(&c.properties, v, PacketType::ConnAck)
}

/// Checks the content rules of `packet` as spoken in `version` (CONNECT uses its own).
pub(crate) fn packet(packet: &Packet, v: ProtocolVersion) -> Result<(), DecodeError> {
    let t = packet.packet_type();
    match packet {
        Packet::Connect(c) => connect(c),
        Packet::ConnAck(c) => connack(c, v),
        Packet::Publish(p) => {
            if p.dup && p.qos == QoS::AtMostOnce {
                return Err(DecodeError::DupWithQoS0);
            }
            let has_alias = v.is_v5() && p.properties.topic_alias().is_some();
            if !(p.topic.is_empty() && has_alias) {
                topic_name(&p.topic)?;
            }
            props(&p.properties, v, t)
        }
        Packet::PubAck(r) | Packet::PubRec(r) | Packet::PubRel(r) | Packet::PubComp(r) => {
            reason(r.reason, v, t)?;
            props(&r.properties, v, t)
        }
        Packet::Subscribe(s) => {
            if s.filters.is_empty() {
                return Err(DecodeError::EmptySubscribe);
            }
            for (f, o) in &s.filters {
                topic_filter(f)?;
                if v.is_v5() && o.no_local && f.starts_with("$share/") {
                    return Err(DecodeError::NoLocalOnSharedSubscription);
                }
            }
            props(&s.properties, v, t)
        }
        Packet::SubAck(s) => {
            if s.reasons.is_empty() {
                return Err(DecodeError::EmptyAck { packet: t });
            }
            for r in &s.reasons {
                reason(*r, v, t)?;
            }
            props(&s.properties, v, t)
        }
        Packet::Unsubscribe(u) => {
            if u.filters.is_empty() {
                return Err(DecodeError::EmptyUnsubscribe);
            }
            for f in &u.filters {
                topic_filter(f)?;
            }
            props(&u.properties, v, t)
        }
        Packet::UnsubAck(u) => {
            if v.is_v5() && u.reasons.is_empty() {
                return Err(DecodeError::EmptyAck { packet: t });
            }
            for r in &u.reasons {
                reason(*r, v, t)?;
            }
            props(&u.properties, v, t)
        }
        Packet::PingReq | Packet::PingResp => Ok(()),
        Packet::Disconnect(d) => {
            reason(d.reason, v, t)?;
            props(&d.properties, v, t)
        }
        Packet::Auth(a) => {
            reason(a.reason, v, t)?;
            props(&a.properties, v, t)
        }
    }
}
