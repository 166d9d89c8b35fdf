//! Session state that outlives a connection: plain data, saved by the broker (or the client
//! driver) when a connection ends and fed into the next one.

use petrel_codec::{ByteString, PacketId, SubscriptionOptions, Will};

use crate::message::OutgoingMessage;
use crate::qos_out::InFlight;

/// One subscription of a server session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The topic filter as subscribed (including a `$share/group/` prefix).
    pub filter: ByteString,
    /// Its options; `qos` is the granted QoS.
    pub options: SubscriptionOptions,
    /// MQTT 5 subscription identifier, if any.
    pub identifier: Option<u32>,
}

/// Everything a server keeps for a client between connections (section 4.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerSessionState {
    /// Client identifier.
    pub client_id: ByteString,
    /// Subscriptions, in the order they were made.
    pub subscriptions: Vec<Subscription>,
    /// Outgoing QoS 1/2 messages holding packet ids, in the order first sent; entries in
    /// `Released` state had PUBREL sent. Resent first on resume (MQTT-4.4.0-1).
    pub outgoing: Vec<InFlight>,
    /// Incoming QoS 2 packet ids delivered to the broker and not yet released by PUBREL.
    pub incoming_qos2: Vec<PacketId>,
    /// Messages waiting to be sent.
    pub queue: Vec<OutgoingMessage>,
    /// The will message from CONNECT, if any and not yet cancelled.
    pub will: Option<Will>,
    /// Will Delay Interval in seconds (MQTT 5).
    pub will_delay: u32,
    /// Session Expiry Interval in seconds (0: ends with the connection; `u32::MAX`: never).
    pub session_expiry_interval: u32,
    /// Next packet identifier to try.
    pub next_packet_id: u16,
}

/// What a client keeps between connections.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientSessionState {
    /// Outgoing QoS 1/2 messages in the order first sent.
    pub outgoing: Vec<InFlight>,
    /// Incoming QoS 2 ids awaiting PUBREL.
    pub incoming_qos2: Vec<PacketId>,
    /// Next packet identifier to try.
    pub next_packet_id: u16,
}
