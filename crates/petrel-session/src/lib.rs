#![doc = include_str!("../README.md")]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

mod alias;
pub mod client;
mod error;
mod ids;
mod keepalive;
mod message;
mod qos_in;
mod qos_out;
mod queue;
pub mod server;
mod state;
pub mod validate;
mod wire;

pub use alias::AliasPolicy;
pub use client::{ClientConfig, ClientEvent, ClientSession, ConnectionInfo};
pub use error::{CloseReason, ProtocolViolation, SendError, SessionError};
pub use message::{Message, OutgoingMessage, PendingAck};
pub use petrel_codec;
pub use qos_out::{InFlight, OutState};
pub use queue::{OverflowPolicy, QueueLimits};
pub use server::{
    AcceptParams, DeliverOutcome, ServerConfig, ServerCounters, ServerEvent, ServerSession,
    SubscribeRequest,
};
pub use state::{ClientSessionState, ServerSessionState, Subscription};
