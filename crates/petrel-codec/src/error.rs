//! Decode and encode errors. Every rejection names the rule it enforces and the reason code
//! a server answers with.

use crate::{PacketType, PropertyId, ProtocolVersion, ReasonCode};

/// Why bytes could not be decoded into a packet (or why a packet breaks a rule the decoder
/// enforces, when returned inside [`EncodeError::Invalid`]).
///
/// [`DecodeError::reason_code`] is the MQTT 5 reason code to put in the DISCONNECT (or
/// CONNACK) sent before closing; [`DecodeError::normative_id`] names the rule of the
/// MQTT 5.0 specification, [`DecodeError::normative_id_for`] the rule of a given version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The fixed header declares a packet larger than the allowed maximum.
    #[error("packet of {size} bytes exceeds the maximum packet size of {max} bytes")]
    PacketTooLarge {
        /// Total size declared by the fixed header, in bytes.
        size: u64,
        /// The maximum that was allowed.
        max: u32,
    },
    /// A variable byte integer (such as the remaining length) is longer than four bytes
    /// (section 1.5.5).
    #[error("variable byte integer longer than four bytes")]
    VarIntTooLong,
    /// A variable byte integer uses more bytes than needed (MQTT-1.5.5-1).
    #[error("variable byte integer not in its shortest form")]
    NonMinimalVarInt,
    /// A field runs past the end of the packet.
    #[error("{packet:?} packet ends in the middle of a field")]
    UnexpectedEnd {
        /// The packet being decoded.
        packet: PacketType,
    },
    /// Bytes are left over after the last field of the packet.
    #[error("{packet:?} packet has bytes after its last field")]
    TrailingBytes {
        /// The packet being decoded.
        packet: PacketType,
    },
    /// The packet type is reserved (0, or 15 before MQTT 5).
    #[error("reserved packet type {0}")]
    ReservedPacketType(u8),
    /// The flag bits of the fixed header are not the value the spec requires
    /// (MQTT-2.1.3-1).
    #[error("invalid fixed header flags {flags:#06b} for {packet:?}")]
    ReservedFlags {
        /// The packet type.
        packet: PacketType,
        /// The four flag bits received.
        flags: u8,
    },
    /// A PUBLISH with both QoS bits set (MQTT-3.3.1-4).
    #[error("PUBLISH with QoS 3")]
    InvalidQoS,
    /// A QoS 0 PUBLISH with the DUP flag set (MQTT-3.3.1-2).
    #[error("DUP flag set on a QoS 0 PUBLISH")]
    DupWithQoS0,
    /// A packet identifier of 0 where one is required (MQTT-2.2.1-3).
    #[error("packet identifier 0")]
    ZeroPacketId,
    /// A string is not well-formed UTF-8 or holds a surrogate (MQTT-1.5.4-1).
    #[error("string is not well-formed UTF-8")]
    InvalidUtf8,
    /// A string holds the null character U+0000 (MQTT-1.5.4-2).
    #[error("string contains U+0000")]
    NullCharacter,
    /// CONNECT names a protocol other than MQTT / MQIsdp (MQTT-3.1.2-1).
    #[error("unknown protocol name in CONNECT")]
    UnknownProtocolName,
    /// CONNECT asks for a protocol level this codec does not speak (MQTT-3.1.2-2). The
    /// server answers CONNACK 0x01 (MQTT 3) or 0x84 (MQTT 5) and closes.
    #[error("unsupported protocol level {level}")]
    UnsupportedProtocolLevel {
        /// The protocol level byte received.
        level: u8,
    },
    /// The reserved bit of the CONNECT flags is set (MQTT-3.1.2-3).
    #[error("CONNECT reserved flag set")]
    ConnectReservedFlag,
    /// Will QoS is not 0 while the will flag is 0 (MQTT-3.1.2-11).
    #[error("will QoS set without a will")]
    WillQoSWithoutWill,
    /// Will QoS is 3 (MQTT-3.1.2-12).
    #[error("will QoS 3")]
    InvalidWillQoS,
    /// Will retain is set while the will flag is 0 (MQTT-3.1.2-13).
    #[error("will retain set without a will")]
    WillRetainWithoutWill,
    /// MQTT 3: a password without a user name (MQTT-3.1.2-22 in 3.1.1).
    #[error("password without user name")]
    PasswordWithoutUsername,
    /// Reserved bits of the CONNACK acknowledge flags are set (MQTT-3.2.2-1).
    #[error("CONNACK reserved flags set")]
    ConnAckReservedFlags,
    /// CONNACK reports a failure with Session Present set (MQTT-3.2.2-6).
    #[error("session present set on a failed CONNACK")]
    SessionPresentOnFailure,
    /// A reason code that is undefined or not allowed in this packet (section 2.4).
    #[error("reason code {code:#04x} not allowed in {packet:?}")]
    InvalidReasonCode {
        /// The packet type.
        packet: PacketType,
        /// The byte received.
        code: u8,
    },
    /// A property identifier that MQTT 5 does not define (section 2.2.2.2).
    #[error("unknown property identifier {0:#04x}")]
    UnknownProperty(u8),
    /// A property that may not appear in this packet (section 2.2.2.2).
    #[error("property {id:?} not allowed in {packet:?}{}", if *in_will { " will" } else { "" })]
    PropertyNotAllowed {
        /// The property.
        id: PropertyId,
        /// The packet it appeared in.
        packet: PacketType,
        /// True when it appeared in the will properties of CONNECT.
        in_will: bool,
    },
    /// A property that may appear at most once appears again (section 2.2.2.2).
    #[error("property {0:?} appears more than once")]
    DuplicateProperty(PropertyId),
    /// A property holds a value the spec forbids (for example Receive Maximum 0).
    #[error("invalid value for property {0:?}")]
    InvalidPropertyValue(PropertyId),
    /// Authentication Data without Authentication Method (section 3.1.2.11.10).
    #[error("authentication data without authentication method")]
    AuthDataWithoutMethod,
    /// Reserved bits of subscription options are set (MQTT-3.8.3-5).
    #[error("subscription options reserved bits set")]
    SubscriptionOptionsReserved,
    /// A subscription asks for QoS 3 (section 3.8.3.1; in 3.1.1 MQTT-3-8.3-4).
    #[error("subscription with maximum QoS 3")]
    InvalidSubscriptionQoS,
    /// Retain Handling has the value 3 (section 3.8.3.1).
    #[error("retain handling 3")]
    InvalidRetainHandling,
    /// No Local on a shared subscription (MQTT-3.8.3-4).
    #[error("no local set on a shared subscription")]
    NoLocalOnSharedSubscription,
    /// SUBSCRIBE without any topic filter (MQTT-3.8.3-2).
    #[error("SUBSCRIBE without topic filters")]
    EmptySubscribe,
    /// UNSUBSCRIBE without any topic filter (MQTT-3.10.3-2).
    #[error("UNSUBSCRIBE without topic filters")]
    EmptyUnsubscribe,
    /// SUBACK or MQTT 5 UNSUBACK without any reason code: they answer one per filter of a
    /// SUBSCRIBE or UNSUBSCRIBE, which is never empty.
    #[error("{packet:?} without reason codes")]
    EmptyAck {
        /// SUBACK or UNSUBACK.
        packet: PacketType,
    },
    /// A topic name or filter of zero length (MQTT-4.7.3-1).
    #[error("empty topic")]
    EmptyTopic,
    /// A wildcard character in a topic name (MQTT-3.3.2-2).
    #[error("wildcard in a topic name")]
    WildcardInTopicName,
}

impl DecodeError {
    /// The MQTT 5 reason code a server sends (in CONNACK or DISCONNECT) before closing.
    /// MQTT 3 peers are simply disconnected, except for
    /// [`ReasonCode::UnsupportedProtocolVersion`], answered with CONNACK return code 1.
    pub fn reason_code(&self) -> ReasonCode {
        use DecodeError as E;
        match self {
            E::PacketTooLarge { .. } => ReasonCode::PacketTooLarge,
            E::UnknownProtocolName | E::UnsupportedProtocolLevel { .. } => {
                ReasonCode::UnsupportedProtocolVersion
            }
            E::WildcardInTopicName => ReasonCode::TopicNameInvalid,
            E::DuplicateProperty(_)
            | E::InvalidPropertyValue(_)
            | E::AuthDataWithoutMethod
            | E::InvalidRetainHandling
            | E::InvalidSubscriptionQoS
            | E::NoLocalOnSharedSubscription
            | E::EmptySubscribe
            | E::EmptyUnsubscribe
            | E::EmptyAck { .. }
            | E::SessionPresentOnFailure
            | E::InvalidReasonCode { .. }
            | E::EmptyTopic => ReasonCode::ProtocolError,
            _ => ReasonCode::MalformedPacket,
        }
    }

    /// The normative statement of the MQTT 5.0 specification this error enforces, if the
    /// rule has one (otherwise the rule is stated in the section named by the message).
    pub fn normative_id(&self) -> Option<&'static str> {
        self.normative_id_for(ProtocolVersion::V5)
    }

    /// The normative statement enforced, numbered as in the specification of `version`
    /// (MQTT 3.1 has no numbered statements; the 3.1.1 ones are returned for it).
    pub fn normative_id_for(&self, version: ProtocolVersion) -> Option<&'static str> {
        use DecodeError as E;
        let v5 = version.is_v5();
        let pick = |a: &'static str, b: &'static str| Some(if v5 { a } else { b });
        match self {
            E::NonMinimalVarInt => v5.then_some("MQTT-1.5.5-1"),
            E::ReservedFlags { .. } => pick("MQTT-2.1.3-1", "MQTT-2.2.2-1"),
            E::InvalidQoS => Some("MQTT-3.3.1-4"),
            E::DupWithQoS0 => Some("MQTT-3.3.1-2"),
            E::ZeroPacketId => pick("MQTT-2.2.1-3", "MQTT-2.3.1-1"),
            E::InvalidUtf8 => pick("MQTT-1.5.4-1", "MQTT-1.5.3-1"),
            E::NullCharacter => pick("MQTT-1.5.4-2", "MQTT-1.5.3-2"),
            E::UnknownProtocolName => Some("MQTT-3.1.2-1"),
            E::UnsupportedProtocolLevel { .. } => Some("MQTT-3.1.2-2"),
            E::ConnectReservedFlag => Some("MQTT-3.1.2-3"),
            E::WillQoSWithoutWill => pick("MQTT-3.1.2-11", "MQTT-3.1.2-13"),
            E::InvalidWillQoS => pick("MQTT-3.1.2-12", "MQTT-3.1.2-14"),
            E::WillRetainWithoutWill => pick("MQTT-3.1.2-13", "MQTT-3.1.2-15"),
            E::PasswordWithoutUsername => (!v5).then_some("MQTT-3.1.2-22"),
            E::ConnAckReservedFlags => v5.then_some("MQTT-3.2.2-1"),
            E::SessionPresentOnFailure => pick("MQTT-3.2.2-6", "MQTT-3.2.2-4"),
            E::SubscriptionOptionsReserved => pick("MQTT-3.8.3-5", "MQTT-3-8.3-4"),
            E::InvalidSubscriptionQoS => (!v5).then_some("MQTT-3-8.3-4"),
            E::NoLocalOnSharedSubscription => v5.then_some("MQTT-3.8.3-4"),
            E::EmptySubscribe => pick("MQTT-3.8.3-2", "MQTT-3.8.3-3"),
            E::EmptyUnsubscribe => Some("MQTT-3.10.3-2"),
            E::EmptyTopic => Some("MQTT-4.7.3-1"),
            E::WildcardInTopicName => Some("MQTT-3.3.2-2"),
            _ => None,
        }
    }
}

/// Why a packet could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The packet breaks a rule that a receiver enforces; it would be rejected.
    #[error("packet would be rejected by a receiver: {0}")]
    Invalid(#[from] DecodeError),
    /// A string or binary field is longer than 65,535 bytes.
    #[error("field of {len} bytes is longer than 65535 bytes")]
    FieldTooLong {
        /// Length of the field.
        len: usize,
    },
    /// The packet is larger than the 268,435,455 bytes a remaining length can express.
    #[error("packet body of {len} bytes is too large for MQTT")]
    PacketTooLarge {
        /// Length of the packet body.
        len: usize,
    },
    /// The packet does not exist in this protocol version (AUTH before MQTT 5).
    #[error("{packet:?} does not exist in {version:?}")]
    NotInVersion {
        /// The packet type.
        packet: PacketType,
        /// The version asked for.
        version: ProtocolVersion,
    },
    /// A PUBLISH has a packet identifier at QoS 0 or none at QoS 1 and 2 (MQTT-2.2.1-2).
    #[error("packet identifier present at QoS 0 or missing at QoS 1 or 2")]
    PacketIdMismatch,
}
