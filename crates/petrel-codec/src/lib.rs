//! Strict, zero-copy, incremental codec for MQTT 3.1, 3.1.1 and 5.0.
#![doc = include_str!("../README.md")]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod decode;
mod encode;
mod encode_publish;
mod error;
#[cfg(feature = "arbitrary")]
mod fuzzing;
mod normalize;
mod packet;
mod property;
mod property_codec;
mod reason;
mod types;
mod validate;
mod wire;

pub use bytes::{Bytes, BytesMut};
pub use bytestring::ByteString;
pub use decode::decode;
pub use encode::encode;
pub use error::{DecodeError, EncodeError};
pub use packet::{
    Auth, ConnAck, Connect, Disconnect, Packet, PubResp, Publish, SubAck, Subscribe, UnsubAck,
    Unsubscribe, Will,
};
pub use property::{Properties, Property, PropertyId};
pub use reason::ReasonCode;
pub use types::{PacketId, PacketType, ProtocolVersion, QoS, RetainHandling, SubscriptionOptions};
pub use wire::VARINT_MAX;
