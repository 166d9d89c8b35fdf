//! MQTT 5 request/response: a request carries a Response Topic and Correlation Data; the
//! responder publishes its answer there with the same Correlation Data.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use petrel_codec::{ByteString, Property, QoS};
use petrel_session::Message;
use tokio::sync::oneshot;

use crate::client::Client;
use crate::error::Error;
use crate::subscription::{ReceivedMessage, Subscription};

type Waiting = Arc<Mutex<HashMap<Bytes, oneshot::Sender<ReceivedMessage>>>>;

/// The client's response topic and the requests waiting for an answer.
#[derive(Debug)]
pub(crate) struct Responder {
    topic: ByteString,
    waiting: Waiting,
    next: AtomicU64,
}

impl Responder {
    async fn start(client: &Client) -> Result<Self, Error> {
        if !client.version().is_v5() {
            return Err(Error::Options("request/response needs MQTT 5".into()));
        }
        let topic = ByteString::from(format!(
            "petrel/response/{}/{:016x}",
            client.client_id(),
            rand::random::<u64>()
        ));
        let sub = client.subscribe(topic.clone(), QoS::AtLeastOnce).await?;
        let waiting: Waiting = Arc::default();
        // The task keeps the stream, not a client handle, so it never keeps the client alive.
        let Subscription { mut rx, .. } = sub;
        let w = Arc::clone(&waiting);
        tokio::spawn(async move {
            while let Some(q) = rx.recv().await {
                let msg = q.msg;
                let _ = msg.ack();
                let Some(cd) = msg.properties.correlation_data() else {
                    continue;
                };
                let tx = w.lock().ok().and_then(|mut m| m.remove(&cd));
                if let Some(tx) = tx {
                    let _ = tx.send(msg);
                }
            }
        });
        Ok(Self {
            topic,
            waiting,
            next: AtomicU64::new(1),
        })
    }
}

impl Client {
    /// Sends `request` with this client's Response Topic and fresh Correlation Data, and
    /// waits up to `timeout` for the response (MQTT 5). The response subscription is made
    /// on first use and kept.
    pub async fn request(
        &self,
        request: Message,
        timeout: Duration,
    ) -> Result<ReceivedMessage, Error> {
        let r = self
            .responder_cell()
            .get_or_try_init(|| Responder::start(self))
            .await?;
        let n = r.next.fetch_add(1, Ordering::Relaxed);
        let cd = Bytes::from(format!("{n:x}-{:08x}", rand::random::<u32>()));
        let (tx, rx) = oneshot::channel();
        if let Ok(mut m) = r.waiting.lock() {
            m.insert(cd.clone(), tx);
        }
        let mut request = request;
        request
            .properties
            .set(Property::ResponseTopic(r.topic.clone()));
        request
            .properties
            .set(Property::CorrelationData(cd.clone()));
        let outcome = async {
            self.publish_message(request).await?;
            rx.await.map_err(|_| Error::Closed)
        };
        let result = tokio::time::timeout(timeout, outcome).await;
        if let Ok(mut m) = r.waiting.lock() {
            m.remove(&cd);
        }
        result.unwrap_or(Err(Error::Timeout))
    }
}

/// The response to `request`: `payload` addressed to its Response Topic with its
/// Correlation Data, or `None` when the request has no Response Topic.
pub fn response_to(request: &Message, payload: impl Into<Bytes>) -> Option<Message> {
    let topic = request.properties.response_topic()?;
    let mut m = Message::new(topic, payload, request.qos);
    if let Some(cd) = request.properties.correlation_data() {
        m.properties.set(Property::CorrelationData(cd));
    }
    Some(m)
}
