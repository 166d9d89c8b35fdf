//! Helpers shared by the integration tests: an in-process broker on an ephemeral port and a
//! raw MQTT client built on the codec.
#![allow(dead_code)]

pub mod rumqtt;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use petrel_broker::{Broker, Config, ListenerConfig};
use petrel_codec::{
    ByteString, Connect, Packet, PacketId, Properties, ProtocolVersion, PubResp, Publish, QoS,
    Subscribe, SubscriptionOptions, Will,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a test waits for something that should happen.
pub const WAIT: Duration = Duration::from_secs(5);

/// A config listening on 127.0.0.1:0 with `$SYS` off and a short connect timeout.
pub fn test_config() -> Config {
    let mut c = Config::default();
    c.listeners = vec![ListenerConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)))];
    c.sys.interval_secs = 0;
    c.limits.connect_timeout_secs = 1;
    c
}

/// Starts a broker with `test_config()` changed by `f`.
pub async fn start_with(f: impl FnOnce(&mut Config)) -> Broker {
    let mut c = test_config();
    f(&mut c);
    Broker::start(c).await.expect("broker starts")
}

/// Starts a broker with `test_config()`.
pub async fn start() -> Broker {
    start_with(|_| {}).await
}

/// A raw MQTT connection.
pub struct Raw {
    pub stream: TcpStream,
    pub version: ProtocolVersion,
    buf: BytesMut,
    next_id: u16,
}

/// A CONNECT packet with defaults: clean start, keep-alive 60.
pub fn connect_packet(version: ProtocolVersion, client_id: &str) -> Connect {
    Connect {
        protocol: version,
        clean_start: true,
        keep_alive: 60,
        client_id: client_id.into(),
        will: None,
        username: None,
        password: None,
        properties: Properties::new(),
    }
}

/// A will.
pub fn will(topic: &str, payload: &str, properties: Properties) -> Will {
    Will {
        topic: topic.into(),
        payload: payload.to_owned().into(),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties,
    }
}

/// A PUBLISH packet.
pub fn publish(topic: &str, payload: &str, qos: QoS, pid: u16) -> Publish {
    Publish {
        dup: false,
        qos,
        retain: false,
        topic: topic.into(),
        packet_id: if qos == QoS::AtMostOnce {
            None
        } else {
            PacketId::new(pid)
        },
        properties: Properties::new(),
        payload: payload.to_owned().into(),
    }
}

/// Packet id helper.
pub fn pid(n: u16) -> PacketId {
    PacketId::new(n).expect("nonzero id")
}

impl Raw {
    /// Opens a TCP connection without sending anything.
    pub async fn open(addr: SocketAddr, version: ProtocolVersion) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Self {
            stream,
            version,
            buf: BytesMut::new(),
            next_id: 0,
        }
    }

    /// Connects and expects a successful CONNACK, which is returned.
    pub async fn connect(addr: SocketAddr, version: ProtocolVersion, client_id: &str) -> Self {
        Self::connect_with(addr, connect_packet(version, client_id))
            .await
            .0
    }

    /// Sends `connect` and returns the CONNACK.
    pub async fn connect_with(addr: SocketAddr, connect: Connect) -> (Self, petrel_codec::ConnAck) {
        let mut raw = Self::open(addr, connect.protocol).await;
        raw.send(&Packet::Connect(Box::new(connect))).await;
        match raw.recv().await {
            Some(Packet::ConnAck(ack)) => (raw, ack),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    /// Sends a packet.
    pub async fn send(&mut self, packet: &Packet) {
        let mut buf = BytesMut::new();
        packet.encode(self.version, &mut buf).expect("encode");
        self.stream.write_all(&buf).await.expect("write");
    }

    /// Sends raw bytes; errors (the broker closed) are ignored.
    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes).await;
    }

    /// Next packet, or `None` when the connection closed or nothing came within [`WAIT`].
    pub async fn recv(&mut self) -> Option<Packet> {
        self.recv_within(WAIT).await
    }

    /// Next packet within `limit`.
    pub async fn recv_within(&mut self, limit: Duration) -> Option<Packet> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(p) = petrel_codec::decode(&mut self.buf, self.version, u32::MAX)
                .expect("broker sent valid bytes")
            {
                return Some(p);
            }
            let mut chunk = [0u8; 4096];
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return None,
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// True when the broker closes the connection within `limit` (packets before the
    /// close are skipped except the last DISCONNECT, which is returned in `Err`).
    pub async fn closed_within(&mut self, limit: Duration) -> Result<Option<Packet>, Packet> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut last = None;
        loop {
            while let Ok(Some(p)) = petrel_codec::decode(&mut self.buf, self.version, u32::MAX) {
                last = Some(p);
            }
            let mut chunk = [0u8; 4096];
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return Ok(last),
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
                Err(_) => return Err(last.unwrap_or(Packet::PingResp)),
            }
        }
    }

    /// Expects the broker to close the connection, returning the DISCONNECT reason if
    /// one was sent.
    pub async fn expect_closed(&mut self) -> Option<petrel_codec::ReasonCode> {
        match self.closed_within(WAIT).await {
            Ok(Some(Packet::Disconnect(d))) => Some(d.reason),
            Ok(_) => None,
            Err(p) => panic!("connection still open; last packet {p:?}"),
        }
    }

    /// Subscribes to one filter and waits for SUBACK.
    pub async fn subscribe(&mut self, filter: &str, qos: QoS) -> petrel_codec::SubAck {
        let opts = SubscriptionOptions {
            qos,
            ..Default::default()
        };
        self.subscribe_opts(filter, opts, Properties::new()).await
    }

    /// Subscribes with options and properties and waits for SUBACK.
    pub async fn subscribe_opts(
        &mut self,
        filter: &str,
        opts: SubscriptionOptions,
        properties: Properties,
    ) -> petrel_codec::SubAck {
        self.next_id += 1;
        let sub = Subscribe {
            packet_id: pid(self.next_id),
            filters: vec![(ByteString::from(filter), opts)],
            properties,
        };
        self.send(&Packet::Subscribe(sub)).await;
        match self.recv().await {
            Some(Packet::SubAck(a)) => a,
            other => panic!("expected SUBACK, got {other:?}"),
        }
    }

    /// Next PUBLISH, acknowledging QoS 1 and completing QoS 2.
    pub async fn next_publish(&mut self) -> Option<Publish> {
        loop {
            match self.recv().await? {
                Packet::Publish(p) => {
                    match (p.qos, p.packet_id) {
                        (QoS::AtLeastOnce, Some(id)) => {
                            self.send(&Packet::PubAck(PubResp::new(id))).await
                        }
                        (QoS::ExactlyOnce, Some(id)) => {
                            self.send(&Packet::PubRec(PubResp::new(id))).await;
                            match self.recv().await {
                                Some(Packet::PubRel(_)) => {}
                                other => panic!("expected PUBREL, got {other:?}"),
                            }
                            self.send(&Packet::PubComp(PubResp::new(id))).await;
                        }
                        _ => {}
                    }
                    return Some(p);
                }
                Packet::PingResp => {}
                other => panic!("expected PUBLISH, got {other:?}"),
            }
        }
    }

    /// Publishes and completes the QoS flow.
    pub async fn publish(&mut self, p: Publish) {
        let qos = p.qos;
        let id = p.packet_id;
        self.send(&Packet::Publish(p)).await;
        match (qos, id) {
            (QoS::AtLeastOnce, Some(_)) => match self.recv().await {
                Some(Packet::PubAck(_)) => {}
                other => panic!("expected PUBACK, got {other:?}"),
            },
            (QoS::ExactlyOnce, Some(id)) => {
                match self.recv().await {
                    Some(Packet::PubRec(_)) => {}
                    other => panic!("expected PUBREC, got {other:?}"),
                }
                self.send(&Packet::PubRel(PubResp::new(id))).await;
                match self.recv().await {
                    Some(Packet::PubComp(_)) => {}
                    other => panic!("expected PUBCOMP, got {other:?}"),
                }
            }
            _ => {}
        }
    }

    /// Round trip through the broker (PINGREQ/PINGRESP): everything sent before has been
    /// processed when this returns.
    pub async fn sync(&mut self) {
        self.send(&Packet::PingReq).await;
        match self.recv().await {
            Some(Packet::PingResp) => {}
            other => panic!("expected PINGRESP, got {other:?}"),
        }
    }

    /// Nothing arrives within `limit`.
    pub async fn expect_silence(&mut self, limit: Duration) {
        if let Some(p) = self.recv_within(limit).await {
            panic!("unexpected packet {p:?}");
        }
    }
}

/// Waits until `f` is true, polling.
pub async fn eventually(mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not reached in time"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
