//! Strict, zero-copy, incremental codec for MQTT 3.1, 3.1.1 and 5.0.
#![doc = include_str!("../README.md")]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod packet;
mod property;
mod reason;
mod types;

pub use bytes::{Bytes, BytesMut};
pub use bytestring::ByteString;
pub use packet::{
    Auth, ConnAck, Connect, Disconnect, Packet, PubResp, Publish, SubAck, Subscribe, UnsubAck,
    Unsubscribe, Will,
};
pub use property::{Properties, Property, PropertyId};
pub use reason::ReasonCode;
pub use types::{PacketId, PacketType, ProtocolVersion, QoS, RetainHandling, SubscriptionOptions};
