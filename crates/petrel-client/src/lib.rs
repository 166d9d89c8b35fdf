#![doc = include_str!("../README.md")]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

mod client;
mod driver;
mod error;
mod events;
mod options;
mod request;
mod router;
mod scram;
mod subscription;
mod transport;
mod ws;

pub use client::{Client, Delivery};
pub use error::{DisconnectReason, Error};
pub use events::{Event, EventStream};
pub use options::{ConnectOptions, ReconnectOptions, TlsOptions, Transport};
pub use petrel_auth::ScramMechanism;
pub use petrel_codec::{
    ByteString, Bytes, Properties, Property, ProtocolVersion, QoS, ReasonCode, RetainHandling,
    SubscriptionOptions, Will,
};
pub use petrel_session::{
    AliasPolicy, ClientConfig, CloseReason, ConnectionInfo, Message, SendError,
};
pub use request::response_to;
pub use scram::ScramLogin;
pub use subscription::{MessageStream, ReceivedMessage, Subscription};
pub use transport::ByteStream;
