//! Connection events: connected, disconnected (with the reason), reconnecting.

use std::time::Duration;

use petrel_session::ConnectionInfo;
use tokio::sync::broadcast;

use crate::error::DisconnectReason;

/// Something that happened to the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// CONNACK accepted a connection.
    Connected {
        /// Whether the server resumed the session (when false, the client subscribes
        /// again by itself).
        session_present: bool,
        /// Everything the CONNACK said.
        info: Box<ConnectionInfo>,
    },
    /// The connection ended. In-flight messages are kept and resent on reconnect.
    Disconnected {
        /// Why.
        reason: DisconnectReason,
    },
    /// The client waits `delay` before connection attempt number `attempt` (from 1).
    Reconnecting {
        /// Attempt number since the last successful connection.
        attempt: u32,
        /// Backoff delay before the attempt.
        delay: Duration,
    },
    /// The client stopped for good (disconnect requested, reconnect off or given up).
    Closed,
}

/// The stream of [`Event`]s from [`crate::Client::events`].
///
/// It holds a bounded buffer; a receiver that falls more than 64 events behind misses the
/// oldest ones (the connection never waits for it).
#[derive(Debug)]
pub struct EventStream {
    pub(crate) rx: broadcast::Receiver<Event>,
}

impl EventStream {
    /// The next event; `None` once the client has stopped and every event was read.
    pub async fn recv(&mut self) -> Option<Event> {
        loop {
            match self.rx.recv().await {
                Ok(e) => return Some(e),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// The next event if one is ready now.
    pub fn try_recv(&mut self) -> Option<Event> {
        loop {
            match self.rx.try_recv() {
                Ok(e) => return Some(e),
                Err(broadcast::error::TryRecvError::Lagged(_)) => continue,
                Err(_) => return None,
            }
        }
    }
}
