//! Rules about a packet's content rather than its byte layout. The decoder applies them to
//! every packet it builds and the encoder to every packet it is given, so that whatever
//! Petrel writes, Petrel (and any strict peer) accepts.

use crate::property_codec;
use crate::{
    ConnAck, Connect, DecodeError, Packet, PacketType, Properties, ProtocolVersion, Publish, QoS,
    ReasonCode,
};

/// Whether `bytes` holds a wildcard (`+`, `#`) and whether it holds U+0000: one pass
/// without early exit (strings here are short; measured under callgrind, this loop beats
/// 16-byte blocks, word-at-a-time tricks and a memchr call on a 45-byte topic).
#[inline]
pub(crate) fn scan(bytes: &[u8]) -> (bool, bool) {
    bytes.iter().fold((false, false), |(w, n), &b| {
        (w | (b == b'+') | (b == b'#'), n | (b == 0))
    })
}

/// How a packet is checked: in which protocol version, and whether its strings still need
/// the U+0000 check (the decoder did it while reading; a packet built in memory did not).
#[derive(Clone, Copy)]
pub(crate) struct Rules {
    pub(crate) version: ProtocolVersion,
    pub(crate) check_strings: bool,
}

impl Rules {
    /// Fails on U+0000 (MQTT-1.5.4-2), which a `ByteString` may hold but MQTT may not.
    pub(crate) fn text(self, s: &str) -> Result<(), DecodeError> {
        // Strings are short: an inlined loop the compiler vectorizes beats a memchr call.
        if self.check_strings && s.bytes().fold(false, |null, b| null | (b == 0)) {
            return Err(DecodeError::NullCharacter);
        }
        Ok(())
    }

    /// A topic name: at least one character (MQTT-4.7.3-1), no wildcard (MQTT-3.3.2-2).
    pub(crate) fn topic_name(self, t: &str) -> Result<(), DecodeError> {
        if t.is_empty() {
            return Err(DecodeError::EmptyTopic);
        }
        let (wild, null) = scan(t.as_bytes());
        if null && self.check_strings {
            return Err(DecodeError::NullCharacter);
        }
        if wild {
            return Err(DecodeError::WildcardInTopicName);
        }
        Ok(())
    }

    /// A topic filter is at least one character long (MQTT-4.7.3-1). Wildcard placement is
    /// checked by the topic layer, which knows the filter grammar.
    fn topic_filter(self, t: &str) -> Result<(), DecodeError> {
        if t.is_empty() {
            return Err(DecodeError::EmptyTopic);
        }
        self.text(t)
    }

    fn props(self, p: &Properties, t: PacketType) -> Result<(), DecodeError> {
        if self.version.is_v5() {
            property_codec::validate(p, t, false, self)?;
        }
        Ok(())
    }

    fn reason(self, r: ReasonCode, t: PacketType) -> Result<(), DecodeError> {
        // MQTT 3 packets carry no reason code; CONNACK and SUBACK codes are mapped.
        if self.version.is_v5() && !r.is_allowed_in(t) {
            return Err(DecodeError::InvalidReasonCode {
                packet: t,
                code: r.as_u8(),
            });
        }
        Ok(())
    }

    fn connect(self, c: &Connect) -> Result<(), DecodeError> {
        let rules = Rules {
            version: c.protocol,
            ..self
        };
        if !c.protocol.is_v5() && c.password.is_some() && c.username.is_none() {
            return Err(DecodeError::PasswordWithoutUsername);
        }
        rules.text(&c.client_id)?;
        if let Some(u) = &c.username {
            rules.text(u)?;
        }
        rules.props(&c.properties, PacketType::Connect)?;
        if let Some(w) = &c.will {
            rules.topic_name(&w.topic)?;
            if c.protocol.is_v5() {
                property_codec::validate(&w.properties, PacketType::Connect, true, rules)?;
            }
        }
        Ok(())
    }

    fn connack(self, c: &ConnAck) -> Result<(), DecodeError> {
        self.reason(c.reason, PacketType::ConnAck)?;
        let seen = if self.version.is_v5() {
            c.reason
        } else {
            c.reason.as_seen_by_v3(PacketType::ConnAck)
        };
        if c.session_present && seen.is_error() {
            return Err(DecodeError::SessionPresentOnFailure);
        }
        self.props(&c.properties, PacketType::ConnAck)
    }

    /// The rules of a PUBLISH. `wild` tells whether the topic holds a wildcard when the
    /// decoder already scanned it (and found no U+0000); `None` scans it here.
    pub(crate) fn publish(self, p: &Publish, wild: Option<bool>) -> Result<(), DecodeError> {
        if p.dup && p.qos == QoS::AtMostOnce {
            return Err(DecodeError::DupWithQoS0);
        }
        let has_alias = self.version.is_v5() && p.properties.topic_alias().is_some();
        if !(p.topic.is_empty() && has_alias) {
            match wild {
                None => self.topic_name(&p.topic)?,
                Some(_) if p.topic.is_empty() => return Err(DecodeError::EmptyTopic),
                Some(true) => return Err(DecodeError::WildcardInTopicName),
                Some(false) => {}
            }
        }
        self.props(&p.properties, PacketType::Publish)
    }

    /// Checks the content rules of `packet` (CONNECT in its own version).
    pub(crate) fn packet(self, packet: &Packet) -> Result<(), DecodeError> {
        let t = packet.packet_type();
        let v5 = self.version.is_v5();
        match packet {
            Packet::Connect(c) => self.connect(c),
            Packet::ConnAck(c) => self.connack(c),
            Packet::Publish(p) => self.publish(p, None),
            Packet::PubAck(r) | Packet::PubRec(r) | Packet::PubRel(r) | Packet::PubComp(r) => {
                self.reason(r.reason, t)?;
                self.props(&r.properties, t)
            }
            Packet::Subscribe(s) => {
                if s.filters.is_empty() {
                    return Err(DecodeError::EmptySubscribe);
                }
                for (f, o) in &s.filters {
                    self.topic_filter(f)?;
                    if v5 && o.no_local && f.starts_with("$share/") {
                        return Err(DecodeError::NoLocalOnSharedSubscription);
                    }
                }
                self.props(&s.properties, t)
            }
            Packet::SubAck(s) => {
                if s.reasons.is_empty() {
                    return Err(DecodeError::EmptyAck { packet: t });
                }
                for r in &s.reasons {
                    self.reason(*r, t)?;
                }
                self.props(&s.properties, t)
            }
            Packet::Unsubscribe(u) => {
                if u.filters.is_empty() {
                    return Err(DecodeError::EmptyUnsubscribe);
                }
                for f in &u.filters {
                    self.topic_filter(f)?;
                }
                self.props(&u.properties, t)
            }
            Packet::UnsubAck(u) => {
                if v5 && u.reasons.is_empty() {
                    return Err(DecodeError::EmptyAck { packet: t });
                }
                for r in &u.reasons {
                    self.reason(*r, t)?;
                }
                self.props(&u.properties, t)
            }
            Packet::PingReq | Packet::PingResp => Ok(()),
            Packet::Disconnect(d) => {
                self.reason(d.reason, t)?;
                self.props(&d.properties, t)
            }
            Packet::Auth(a) => {
                self.reason(a.reason, t)?;
                self.props(&a.properties, t)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::scan;

    /// Every length around the block size, with the interesting byte at every position
    /// (MQTT-3.3.2-2 wildcards, MQTT-1.5.4-2 U+0000).
    #[test]
    fn scan_finds_wildcards_and_nulls_anywhere_mqtt_3_3_2_2_and_1_5_4_2() {
        for len in 0..50 {
            let plain = vec![b'x'; len];
            assert_eq!(scan(&plain), (false, false), "len {len}");
            for at in 0..len {
                for (byte, want) in [
                    (b'+', (true, false)),
                    (b'#', (true, false)),
                    (0, (false, true)),
                ] {
                    let mut s = plain.clone();
                    s[at] = byte;
                    assert_eq!(scan(&s), want, "len {len} at {at} byte {byte}");
                }
            }
        }
    }
}
