//! What survives of a packet when it is sent in a given protocol version.

use crate::{Packet, PacketType, Properties, ProtocolVersion, ReasonCode};

impl Packet {
    /// The packet a peer decodes after this one is encoded in `version`. For MQTT 5 (and
    /// for CONNECT, which carries its own version) it is the packet itself. For MQTT 3,
    /// properties are dropped, subscription options keep only the QoS, the reason codes
    /// of acknowledgements, UNSUBACK and DISCONNECT become absent (`Success` or empty),
    /// and CONNACK and SUBACK reason codes go through the MQTT 3 return code mapping.
    pub fn for_version(&self, version: ProtocolVersion) -> Packet {
        let mut p = self.clone();
        let v3 = |props: &mut Properties| *props = Properties::new();
        let version = match &p {
            Packet::Connect(c) => c.protocol,
            _ => version,
        };
        if version.is_v5() {
            return p;
        }
        match &mut p {
            Packet::Connect(c) => {
                v3(&mut c.properties);
                if let Some(w) = &mut c.will {
                    v3(&mut w.properties);
                }
            }
            Packet::ConnAck(c) => {
                v3(&mut c.properties);
                c.reason = c.reason.as_seen_by_v3(PacketType::ConnAck);
            }
            Packet::Publish(x) => v3(&mut x.properties),
            Packet::PubAck(r) | Packet::PubRec(r) | Packet::PubRel(r) | Packet::PubComp(r) => {
                v3(&mut r.properties);
                r.reason = ReasonCode::Success;
            }
            Packet::Subscribe(s) => {
                v3(&mut s.properties);
                for (_, o) in &mut s.filters {
                    *o = crate::SubscriptionOptions {
                        qos: o.qos,
                        ..Default::default()
                    };
                }
            }
            Packet::SubAck(s) => {
                v3(&mut s.properties);
                for r in &mut s.reasons {
                    *r = r.as_seen_by_v3(PacketType::SubAck);
                }
            }
            Packet::Unsubscribe(u) => v3(&mut u.properties),
            Packet::UnsubAck(u) => {
                v3(&mut u.properties);
                u.reasons.clear();
            }
            Packet::PingReq | Packet::PingResp => {}
            Packet::Disconnect(d) => {
                v3(&mut d.properties);
                d.reason = ReasonCode::Success;
            }
            Packet::Auth(a) => v3(&mut a.properties),
        }
        p
    }
}
