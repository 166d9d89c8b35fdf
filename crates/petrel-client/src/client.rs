//! The cloneable client handle.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use petrel_codec::{ByteString, Properties, ProtocolVersion, QoS, ReasonCode, SubscriptionOptions};
use petrel_session::{ConnectionInfo, Message};
use tokio::sync::{broadcast, mpsc, oneshot, Semaphore};

use crate::driver::{Command, Driver, PendingPub, SubReq, UnsubReq};
use crate::error::Error;
use crate::events::{Event, EventStream};
use crate::options::ConnectOptions;
use crate::request::Responder;
use crate::subscription::{MessageStream, Subscription};
use crate::transport;

/// A handle to one MQTT client connection (and its session across reconnects).
///
/// Cheap to clone; every clone drives the same connection. The connection task ends with
/// a DISCONNECT when [`Client::disconnect`] is called or when every handle (including
/// those held by subscriptions) is dropped.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    cmd: mpsc::UnboundedSender<Command>,
    events: broadcast::Sender<Event>,
    permits: Arc<Semaphore>,
    info: Arc<Mutex<Option<ConnectionInfo>>>,
    version: ProtocolVersion,
    client_id: ByteString,
    pub(crate) responder: tokio::sync::OnceCell<Responder>,
}

impl Client {
    /// Connects and waits for the server's CONNACK. The first connection is not retried:
    /// a refusal ([`Error::Refused`]) or a transport error is returned. Later losses of the
    /// connection are handled by reconnecting (see [`crate::ReconnectOptions`]).
    pub async fn connect(options: ConnectOptions) -> Result<Self, Error> {
        let tls = if options.transport.is_tls() {
            Some(transport::tls_connector(&options.tls)?)
        } else {
            None
        };
        let version = options.session.version;
        let client_id = options.session.client_id.clone();
        let permits = Arc::new(Semaphore::new(options.max_outstanding.max(1)));
        let spawned = Driver::spawn(options, tls);
        let client = Self {
            inner: Arc::new(Inner {
                cmd: spawned.cmd,
                events: spawned.events,
                permits,
                info: spawned.info,
                version,
                client_id,
                responder: tokio::sync::OnceCell::new(),
            }),
        };
        match spawned.first.await {
            Ok(Ok(_)) => Ok(client),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::Closed),
        }
    }

    /// The protocol version in use.
    pub fn version(&self) -> ProtocolVersion {
        self.inner.version
    }

    /// The client identifier sent in CONNECT.
    pub fn client_id(&self) -> &ByteString {
        &self.inner.client_id
    }

    /// What the latest CONNACK said.
    pub fn connection_info(&self) -> Option<ConnectionInfo> {
        self.inner.info.lock().ok().and_then(|g| g.clone())
    }

    /// Connection events from now on.
    pub fn events(&self) -> EventStream {
        EventStream {
            rx: self.inner.events.subscribe(),
        }
    }

    fn send(&self, c: Command) -> Result<(), Error> {
        self.inner.cmd.send(c).map_err(|_| Error::Closed)
    }

    /// Publishes `payload` to `topic` and waits until it is acknowledged at `qos` (QoS 0:
    /// handed to the connection).
    pub async fn publish(
        &self,
        topic: impl Into<ByteString>,
        payload: impl Into<Bytes>,
        qos: QoS,
        retain: bool,
    ) -> Result<(), Error> {
        self.publish_message(Message::new(topic, payload, qos).with_retain(retain))
            .await
    }

    /// Publishes a message (with MQTT 5 properties) and waits for its acknowledgement.
    pub async fn publish_message(&self, message: Message) -> Result<(), Error> {
        self.enqueue(message).await?.await
    }

    /// Queues a message, waiting only for room (at most
    /// [`ConnectOptions::max_outstanding`] publishes are outstanding). The returned
    /// [`Delivery`] resolves when the message is acknowledged; dropping it does not
    /// cancel the message. Use this to keep many messages in flight.
    pub async fn enqueue(&self, message: Message) -> Result<Delivery, Error> {
        let permit = Arc::clone(&self.inner.permits)
            .acquire_owned()
            .await
            .map_err(|_| Error::Closed)?;
        let (done, rx) = oneshot::channel();
        self.send(Command::Publish(PendingPub {
            msg: message,
            done,
            _permit: permit,
        }))?;
        Ok(Delivery { rx })
    }

    /// Subscribes to one filter at `qos` and waits for SUBACK.
    pub async fn subscribe(
        &self,
        filter: impl Into<ByteString>,
        qos: QoS,
    ) -> Result<Subscription, Error> {
        let options = SubscriptionOptions {
            qos,
            ..SubscriptionOptions::default()
        };
        self.subscribe_with(vec![(filter.into(), options)], Properties::new())
            .await
    }

    /// Subscribes to several filters in one SUBSCRIBE, with options and MQTT 5 properties
    /// (e.g. a Subscription Identifier), and waits for SUBACK. The returned stream carries
    /// the messages whose topic matches any of the filters. The subscription is made
    /// again by itself when the server lost the session. If the server refuses a filter,
    /// [`Error::SubscribeRefused`] is returned (the other filters stay subscribed).
    pub async fn subscribe_with(
        &self,
        filters: Vec<(ByteString, SubscriptionOptions)>,
        properties: Properties,
    ) -> Result<Subscription, Error> {
        let (done, rx) = oneshot::channel();
        self.send(Command::Subscribe(SubReq {
            filters,
            properties,
            done,
        }))?;
        let (route, rx, granted) = rx.await.map_err(|_| Error::Closed)??;
        Ok(Subscription {
            rx,
            route,
            granted,
            client: self.clone(),
        })
    }

    /// Unsubscribes from `filter` and waits for UNSUBACK; no stream receives messages for
    /// it any more.
    pub async fn unsubscribe(&self, filter: impl Into<ByteString>) -> Result<(), Error> {
        self.unsubscribe_route(vec![filter.into()], None).await
    }

    pub(crate) async fn unsubscribe_route(
        &self,
        filters: Vec<ByteString>,
        route: Option<u64>,
    ) -> Result<(), Error> {
        let (done, rx) = oneshot::channel();
        let properties = Properties::new();
        self.send(Command::Unsubscribe(UnsubReq {
            filters,
            properties,
            route,
            done,
        }))?;
        rx.await.map_err(|_| Error::Closed)?
    }

    /// A stream of every message received from now on, whatever its subscription.
    pub fn messages(&self) -> MessageStream {
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = self.send(Command::AllMessages(tx));
        MessageStream { rx }
    }

    /// Sends DISCONNECT (normal disconnection) and stops; outstanding publishes fail with
    /// [`Error::Closed`]. The session's in-flight messages are not kept.
    pub async fn disconnect(&self) -> Result<(), Error> {
        self.disconnect_with(ReasonCode::Success, Properties::new())
            .await
    }

    /// Sends DISCONNECT with a reason code and MQTT 5 properties (e.g.
    /// `DisconnectWithWillMessage`) and stops.
    pub async fn disconnect_with(
        &self,
        reason: ReasonCode,
        properties: Properties,
    ) -> Result<(), Error> {
        let (done, rx) = oneshot::channel();
        self.send(Command::Disconnect {
            reason,
            properties,
            done,
        })?;
        let _ = rx.await;
        Ok(())
    }

    pub(crate) fn responder_cell(&self) -> &tokio::sync::OnceCell<Responder> {
        &self.inner.responder
    }
}

/// The completion of one publish: resolves to `Ok(())` when the server acknowledged it
/// at its QoS, or to the error (e.g. [`Error::Rejected`] with the reason code).
#[derive(Debug)]
pub struct Delivery {
    rx: oneshot::Receiver<Result<(), Error>>,
}

impl Future for Delivery {
    type Output = Result<(), Error>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(Error::Closed)))
    }
}
