//! A third-party MQTT 3.1.1 client for the integration tests: rumqttc's `AsyncClient`, its
//! event loop on a task, its incoming packets on a channel.

use std::net::SocketAddr;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::WAIT;

/// The next value from `rx` for which `f` holds (others are skipped), within [`WAIT`].
pub async fn next_matching<T>(rx: &mut mpsc::UnboundedReceiver<T>, f: impl Fn(&T) -> bool) -> T {
    loop {
        let p = tokio::time::timeout(WAIT, rx.recv())
            .await
            .expect("in time")
            .expect("open");
        if f(&p) {
            return p;
        }
    }
}

/// An MQTT 3.1.1 rumqttc client whose incoming packets arrive on a channel.
pub struct Rumqtt {
    /// The client, for requests the helpers below do not cover.
    pub client: AsyncClient,
    rx: mpsc::UnboundedReceiver<Packet>,
    /// The event loop's task (abort it to cut the connection without DISCONNECT).
    pub task: JoinHandle<()>,
}

impl Rumqtt {
    /// Connects with `o` and waits for CONNACK.
    pub async fn start(o: MqttOptions) -> Self {
        let (client, mut el) = AsyncClient::new(o, 64);
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            while let Ok(ev) = el.poll().await {
                if let Event::Incoming(p) = ev {
                    if tx.send(p).is_err() {
                        return;
                    }
                }
            }
        });
        let mut c = Self { client, rx, task };
        c.wait(|p| matches!(p, Packet::ConnAck(_))).await;
        c
    }

    /// Connects as `id` with keep-alive 60 s and the given clean-session flag.
    pub async fn connect(addr: SocketAddr, id: &str, clean: bool) -> Self {
        let mut o = MqttOptions::new(id, addr.ip().to_string(), addr.port());
        o.set_keep_alive(Duration::from_secs(60));
        o.set_clean_session(clean);
        Self::start(o).await
    }

    /// The next incoming packet for which `f` holds (others are skipped).
    pub async fn wait(&mut self, f: impl Fn(&Packet) -> bool) -> Packet {
        next_matching(&mut self.rx, f).await
    }

    /// Subscribes and waits for SUBACK.
    pub async fn subscribe(&mut self, filter: &str, qos: QoS) {
        self.client.subscribe(filter, qos).await.unwrap();
        self.wait(|p| matches!(p, Packet::SubAck(_))).await;
    }

    /// Publishes and waits for the acknowledgement of QoS 1 (PUBACK) and 2 (PUBCOMP).
    pub async fn publish(&mut self, topic: &str, qos: QoS, retain: bool, payload: &str) {
        self.client
            .publish(topic, qos, retain, payload.as_bytes().to_vec())
            .await
            .unwrap();
        match qos {
            QoS::AtMostOnce => {}
            QoS::AtLeastOnce => drop(self.wait(|p| matches!(p, Packet::PubAck(_))).await),
            QoS::ExactlyOnce => drop(self.wait(|p| matches!(p, Packet::PubComp(_))).await),
        }
    }

    /// The next incoming PUBLISH.
    pub async fn next_publish(&mut self) -> rumqttc::Publish {
        match self.wait(|p| matches!(p, Packet::Publish(_))).await {
            Packet::Publish(p) => p,
            _ => unreachable!(),
        }
    }

    /// Sends DISCONNECT.
    pub async fn disconnect(self) {
        self.client.disconnect().await.unwrap();
    }
}
