//! The control packets of MQTT 3.1, 3.1.1 and 5.0.
//!
//! One set of types serves all three versions. Fields that exist only in MQTT 5
//! (properties, most reason codes) are empty or `Success` for MQTT 3 and are not written by
//! the MQTT 3 encoder. String and binary fields are [`ByteString`] and [`Bytes`] slices of
//! the buffer they were decoded from.

use bytes::Bytes;
use bytestring::ByteString;

use crate::{
    PacketId, PacketType, Properties, ProtocolVersion, QoS, ReasonCode, SubscriptionOptions,
};

/// The will message carried in CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Will {
    /// Topic the will is published to.
    pub topic: ByteString,
    /// Will payload.
    pub payload: Bytes,
    /// QoS of the will publication.
    pub qos: QoS,
    /// RETAIN flag of the will publication.
    pub retain: bool,
    /// MQTT 5 will properties (will delay, message expiry, content type, ...).
    pub properties: Properties,
}

/// CONNECT (section 3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    /// Protocol version requested by the client.
    pub protocol: ProtocolVersion,
    /// Clean Start (MQTT 5) or Clean Session (MQTT 3).
    pub clean_start: bool,
    /// Keep alive in seconds; 0 turns keep-alive off.
    pub keep_alive: u16,
    /// Client identifier; may be empty.
    pub client_id: ByteString,
    /// The will, if any.
    pub will: Option<Will>,
    /// User name, if present.
    pub username: Option<ByteString>,
    /// Password, if present.
    pub password: Option<Bytes>,
    /// MQTT 5 properties.
    pub properties: Properties,
}

/// CONNACK (section 3.2). In MQTT 3 the return code is mapped to and from the closest
/// reason code: 1 UnsupportedProtocolVersion, 2 ClientIdentifierNotValid,
/// 3 ServerUnavailable, 4 BadUserNameOrPassword, 5 NotAuthorized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnAck {
    /// Session Present flag.
    pub session_present: bool,
    /// Connect reason code (MQTT 5) or mapped return code (MQTT 3).
    pub reason: ReasonCode,
    /// MQTT 5 properties.
    pub properties: Properties,
}

/// PUBLISH (section 3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// DUP flag.
    pub dup: bool,
    /// QoS.
    pub qos: QoS,
    /// RETAIN flag.
    pub retain: bool,
    /// Topic name; may be empty in MQTT 5 when a topic alias is set.
    pub topic: ByteString,
    /// Packet identifier: present exactly when `qos` is 1 or 2.
    pub packet_id: Option<PacketId>,
    /// MQTT 5 properties.
    pub properties: Properties,
    /// Application payload.
    pub payload: Bytes,
}

/// PUBACK, PUBREC, PUBREL and PUBCOMP share one layout (sections 3.4 to 3.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PubResp {
    /// Packet identifier of the PUBLISH being acknowledged.
    pub packet_id: PacketId,
    /// Reason code; always `Success` in MQTT 3.
    pub reason: ReasonCode,
    /// MQTT 5 properties (reason string, user properties).
    pub properties: Properties,
}

impl PubResp {
    /// A successful response without properties.
    pub fn new(packet_id: PacketId) -> Self {
        Self {
            packet_id,
            reason: ReasonCode::Success,
            properties: Properties::new(),
        }
    }
}

/// SUBSCRIBE (section 3.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    /// Packet identifier.
    pub packet_id: PacketId,
    /// Topic filters with their options; never empty on the wire (MQTT-3.8.3-2).
    pub filters: Vec<(ByteString, SubscriptionOptions)>,
    /// MQTT 5 properties (subscription identifier, user properties).
    pub properties: Properties,
}

/// SUBACK (section 3.9). MQTT 3 return codes map to `Success` (QoS 0), `GrantedQoS1`,
/// `GrantedQoS2` and `UnspecifiedError` (0x80, failure).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubAck {
    /// Packet identifier of the SUBSCRIBE.
    pub packet_id: PacketId,
    /// One reason code per filter, in order.
    pub reasons: Vec<ReasonCode>,
    /// MQTT 5 properties.
    pub properties: Properties,
}

/// UNSUBSCRIBE (section 3.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    /// Packet identifier.
    pub packet_id: PacketId,
    /// Topic filters; never empty on the wire (MQTT-3.10.3-2).
    pub filters: Vec<ByteString>,
    /// MQTT 5 properties.
    pub properties: Properties,
}

/// UNSUBACK (section 3.11). MQTT 3 carries no reason codes: `reasons` is empty there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubAck {
    /// Packet identifier of the UNSUBSCRIBE.
    pub packet_id: PacketId,
    /// MQTT 5: one reason code per filter, in order.
    pub reasons: Vec<ReasonCode>,
    /// MQTT 5 properties.
    pub properties: Properties,
}

/// DISCONNECT (section 3.14). MQTT 3 has no reason code: it is `Success` there.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Disconnect {
    /// Disconnect reason code.
    pub reason: ReasonCode,
    /// MQTT 5 properties.
    pub properties: Properties,
}

/// AUTH (section 3.15), MQTT 5 only.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Auth {
    /// Authenticate reason code: Success, ContinueAuthentication or ReAuthenticate.
    pub reason: ReasonCode,
    /// Properties (authentication method and data, reason string, user properties).
    pub properties: Properties,
}

/// Any control packet.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Packet {
    Connect(Box<Connect>),
    ConnAck(ConnAck),
    Publish(Publish),
    PubAck(PubResp),
    PubRec(PubResp),
    PubRel(PubResp),
    PubComp(PubResp),
    Subscribe(Subscribe),
    SubAck(SubAck),
    Unsubscribe(Unsubscribe),
    UnsubAck(UnsubAck),
    PingReq,
    PingResp,
    Disconnect(Disconnect),
    Auth(Auth),
}

impl Packet {
    /// The packet's type.
    pub const fn packet_type(&self) -> PacketType {
        match self {
            Packet::Connect(_) => PacketType::Connect,
            Packet::ConnAck(_) => PacketType::ConnAck,
            Packet::Publish(_) => PacketType::Publish,
            Packet::PubAck(_) => PacketType::PubAck,
            Packet::PubRec(_) => PacketType::PubRec,
            Packet::PubRel(_) => PacketType::PubRel,
            Packet::PubComp(_) => PacketType::PubComp,
            Packet::Subscribe(_) => PacketType::Subscribe,
            Packet::SubAck(_) => PacketType::SubAck,
            Packet::Unsubscribe(_) => PacketType::Unsubscribe,
            Packet::UnsubAck(_) => PacketType::UnsubAck,
            Packet::PingReq => PacketType::PingReq,
            Packet::PingResp => PacketType::PingResp,
            Packet::Disconnect(_) => PacketType::Disconnect,
            Packet::Auth(_) => PacketType::Auth,
        }
    }
}
