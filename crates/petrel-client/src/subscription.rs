//! What the application receives: messages (with their acknowledgement when acks are
//! manual) and the streams that carry them.

use std::ops::Deref;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;
use petrel_codec::{ByteString, QoS, ReasonCode};
use petrel_session::{Message, PendingAck};

use crate::client::Client;
use crate::driver::Command;
use crate::error::Error;
use crate::router::QueueRx;

/// A QoS 1/2 message's acknowledgement, owed to the server (manual acks).
#[derive(Debug)]
pub(crate) struct AckHandle {
    pending: PendingAck,
    done: AtomicBool,
    /// Automatic acks: sent when the application takes the message from a stream, or
    /// when every copy is dropped.
    auto: bool,
    cmd: tokio::sync::mpsc::UnboundedSender<Command>,
}

impl AckHandle {
    pub(crate) fn new(
        pending: PendingAck,
        auto: bool,
        cmd: tokio::sync::mpsc::UnboundedSender<Command>,
    ) -> Arc<Self> {
        Arc::new(Self {
            pending,
            done: AtomicBool::new(false),
            auto,
            cmd,
        })
    }

    fn send(&self, reason: ReasonCode) -> Result<(), Error> {
        if self.done.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.cmd
            .send(Command::Ack {
                ack: self.pending,
                reason,
            })
            .map_err(|_| Error::Closed)
    }
}

/// A message received from the server.
///
/// It dereferences to the [`Message`] (topic, payload, QoS, retain, MQTT 5 properties).
/// When the client uses manual acks, QoS 1/2 messages must be acknowledged with
/// [`ReceivedMessage::ack`]; a message delivered to several streams is acknowledged once.
#[derive(Debug, Clone)]
pub struct ReceivedMessage {
    /// The message.
    pub message: Message,
    ack: Option<Arc<AckHandle>>,
}

impl Drop for AckHandle {
    fn drop(&mut self) {
        if self.auto {
            let _ = self.send(ReasonCode::Success);
        }
    }
}

impl ReceivedMessage {
    pub(crate) fn new(message: Message, ack: Option<Arc<AckHandle>>) -> Self {
        Self { message, ack }
    }

    /// True if an acknowledgement is still owed (manual acks, QoS 1/2).
    pub fn needs_ack(&self) -> bool {
        self.ack
            .as_ref()
            .is_some_and(|a| !a.auto && !a.done.load(Ordering::Acquire))
    }

    /// With automatic acks, the message is acknowledged when the application takes it.
    fn taken(self) -> Self {
        if let Some(a) = self.ack.as_ref().filter(|a| a.auto) {
            let _ = a.send(ReasonCode::Success);
        }
        self
    }

    /// Acknowledges the message (PUBACK or PUBREC with Success). Does nothing for QoS 0 or
    /// when already acknowledged (with automatic acks, taking the message from a stream
    /// acknowledged it).
    pub fn ack(&self) -> Result<(), Error> {
        self.ack_with(ReasonCode::Success)
    }

    /// Acknowledges with a reason code (MQTT 5; e.g. `ImplementationSpecificError` refuses it).
    pub fn ack_with(&self, reason: ReasonCode) -> Result<(), Error> {
        match &self.ack {
            Some(a) => a.send(reason),
            None => Ok(()),
        }
    }

    /// The packet identifier the server used (QoS 1/2).
    pub fn packet_id(&self) -> Option<petrel_codec::PacketId> {
        self.ack.as_ref().map(|a| a.pending.packet_id)
    }

    /// The message, without its acknowledgement.
    pub fn into_message(self) -> Message {
        self.message
    }
}

impl Deref for ReceivedMessage {
    type Target = Message;
    fn deref(&self) -> &Message {
        &self.message
    }
}

fn poll_queue(rx: &mut QueueRx, cx: &mut Context<'_>) -> Poll<Option<ReceivedMessage>> {
    rx.poll_recv(cx).map(|q| q.map(|q| q.msg.taken()))
}

/// The messages of one subscription (a `Stream`, or call [`Subscription::recv`]).
///
/// Dropping it stops the delivery to it but does not unsubscribe; call
/// [`Subscription::unsubscribe`] for that.
#[derive(Debug)]
pub struct Subscription {
    pub(crate) rx: QueueRx,
    pub(crate) route: u64,
    pub(crate) granted: Vec<(ByteString, QoS)>,
    pub(crate) client: Client,
}

impl Subscription {
    /// The next message; `None` once the client is closed.
    pub async fn recv(&mut self) -> Option<ReceivedMessage> {
        self.rx.recv().await.map(|q| q.msg.taken())
    }

    /// The filters and the QoS the server granted for each.
    pub fn granted(&self) -> &[(ByteString, QoS)] {
        &self.granted
    }

    /// Unsubscribes every filter of this subscription and waits for UNSUBACK.
    pub async fn unsubscribe(self) -> Result<(), Error> {
        let filters = self.granted.iter().map(|(f, _)| f.clone()).collect();
        self.client
            .unsubscribe_route(filters, Some(self.route))
            .await
    }
}

impl Stream for Subscription {
    type Item = ReceivedMessage;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        poll_queue(&mut self.rx, cx)
    }
}

/// Every message the client receives, whatever the subscription (see
/// [`Client::messages`]).
#[derive(Debug)]
pub struct MessageStream {
    pub(crate) rx: QueueRx,
}

impl MessageStream {
    /// The next message; `None` once the client is closed.
    pub async fn recv(&mut self) -> Option<ReceivedMessage> {
        self.rx.recv().await.map(|q| q.msg.taken())
    }
}

impl Stream for MessageStream {
    type Item = ReceivedMessage;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        poll_queue(&mut self.rx, cx)
    }
}
