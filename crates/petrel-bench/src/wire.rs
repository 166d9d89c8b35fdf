//! One MQTT connection of the load generator: a TCP socket with TCP_NODELAY, a read buffer
//! decoded with `petrel-codec`, and a write buffer that collects every packet queued during
//! one wake-up so that it leaves in as few writes as possible.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use petrel_codec::{
    ByteString, Bytes, Connect, Packet, Properties, Property, ProtocolVersion, QoS, Subscribe,
    SubscriptionOptions,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::BenchError;

/// Largest packet accepted from the broker (the MQTT maximum).
const MAX_PACKET: u32 = 268_435_460;
/// Free space kept in the read buffer before each read.
const READ_CHUNK: usize = 64 * 1024;

/// How to reach the broker and what to say in CONNECT.
#[derive(Debug, Clone)]
pub(crate) struct ConnectOpts {
    /// Broker address.
    pub addr: SocketAddr,
    /// Protocol version to speak.
    pub version: ProtocolVersion,
    /// Keep-alive in seconds sent in CONNECT.
    pub keep_alive: u16,
    /// Optional user name.
    pub username: Option<String>,
    /// Optional password.
    pub password: Option<String>,
    /// Time allowed for TCP connect plus CONNACK, and for SUBACK.
    pub timeout: Duration,
    /// Ask for a persistent session: clean start 0 and, with MQTT 5, this session expiry
    /// interval in seconds. `None` is a clean, non-persistent session.
    pub persistent: Option<u32>,
}

/// An established MQTT connection.
pub(crate) struct Conn {
    pub stream: TcpStream,
    pub rbuf: BytesMut,
    pub wbuf: BytesMut,
    pub version: ProtocolVersion,
    pub client: Arc<str>,
    /// Receive Maximum announced by the broker (MQTT 5), else 65,535.
    pub receive_maximum: u16,
}

impl Conn {
    /// Opens a TCP connection, sends CONNECT (clean start) and waits for a successful
    /// CONNACK. Returns the connection and the time from TCP connect to CONNACK.
    pub async fn connect(
        opts: &ConnectOpts,
        client_id: &str,
    ) -> Result<(Conn, Duration), BenchError> {
        let client: Arc<str> = Arc::from(client_id);
        let started = Instant::now();
        let fut = async {
            let stream = TcpStream::connect(opts.addr)
                .await
                .map_err(|source| BenchError::Io {
                    client: client.to_string(),
                    what: "connect",
                    source,
                })?;
            let _ = stream.set_nodelay(true);
            let mut conn = Conn {
                stream,
                rbuf: BytesMut::new(),
                wbuf: BytesMut::new(),
                version: opts.version,
                client: client.clone(),
                receive_maximum: u16::MAX,
            };
            let connect = Connect {
                protocol: opts.version,
                clean_start: opts.persistent.is_none(),
                keep_alive: opts.keep_alive,
                client_id: ByteString::from(client_id),
                will: None,
                username: opts.username.as_deref().map(ByteString::from),
                password: opts
                    .password
                    .as_ref()
                    .map(|p| Bytes::from(p.clone().into_bytes())),
                properties: match opts.persistent {
                    Some(expiry) if opts.version.is_v5() => {
                        Properties::new().with(Property::SessionExpiryInterval(expiry))
                    }
                    _ => Properties::new(),
                },
            };
            conn.queue(&Packet::Connect(Box::new(connect)))?;
            conn.flush().await?;
            match conn.recv().await? {
                Packet::ConnAck(ack) if ack.reason.is_error() => Err(BenchError::Refused {
                    client: client.to_string(),
                    reason: ack.reason,
                }),
                Packet::ConnAck(ack) => {
                    if let Some(max) = ack.properties.receive_maximum() {
                        conn.receive_maximum = max.max(1);
                    }
                    Ok(conn)
                }
                other => Err(conn.unexpected(&other, "CONNACK")),
            }
        };
        let conn = tokio::time::timeout(opts.timeout, fut)
            .await
            .map_err(|_| BenchError::Timeout {
                client: client.to_string(),
                what: "CONNACK",
            })??;
        Ok((conn, started.elapsed()))
    }

    /// Subscribes to `filters` at `qos` in one SUBSCRIBE and waits for a SUBACK that grants
    /// every one of them.
    pub async fn subscribe(
        &mut self,
        filters: &[String],
        qos: QoS,
        timeout: Duration,
    ) -> Result<(), BenchError> {
        let opts = SubscriptionOptions {
            qos,
            ..SubscriptionOptions::default()
        };
        let sub = Subscribe {
            packet_id: petrel_codec::PacketId::MIN,
            filters: filters
                .iter()
                .map(|f| (ByteString::from(f.as_str()), opts))
                .collect(),
            properties: Properties::new(),
        };
        self.queue(&Packet::Subscribe(sub))?;
        self.flush().await?;
        let client = self.client.to_string();
        let ack = tokio::time::timeout(timeout, self.recv())
            .await
            .map_err(|_| BenchError::Timeout {
                client: client.clone(),
                what: "SUBACK",
            })??;
        let Packet::SubAck(ack) = ack else {
            return Err(self.unexpected(&ack, "SUBACK"));
        };
        if ack.reasons.len() != filters.len() {
            return Err(BenchError::Protocol {
                client,
                detail: format!(
                    "SUBACK has {} reason codes for {} filters",
                    ack.reasons.len(),
                    filters.len()
                ),
            });
        }
        for (filter, reason) in filters.iter().zip(&ack.reasons) {
            if reason.is_error() {
                return Err(BenchError::SubscribeRejected {
                    client,
                    filter: filter.clone(),
                    reason: *reason,
                });
            }
        }
        Ok(())
    }

    /// Encodes `packet` at the end of the write buffer.
    pub fn queue(&mut self, packet: &Packet) -> Result<(), BenchError> {
        packet
            .encode(self.version, &mut self.wbuf)
            .map_err(|e| BenchError::Protocol {
                client: self.client.to_string(),
                detail: format!("cannot encode {:?}: {e}", packet.packet_type()),
            })
    }

    /// Writes the whole write buffer, waiting as needed.
    pub async fn flush(&mut self) -> Result<(), BenchError> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        let res = self.stream.write_all(&self.wbuf).await;
        self.wbuf.clear();
        res.map_err(|source| self.io("write", source))
    }

    /// Writes as much of the write buffer as the socket takes without waiting.
    pub fn try_flush(&mut self) -> Result<(), BenchError> {
        while !self.wbuf.is_empty() {
            match self.stream.try_write(&self.wbuf) {
                Ok(0) => return Err(self.closed("")),
                Ok(n) => {
                    let _ = self.wbuf.split_to(n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Err(self.io("write", e)),
            }
        }
        if self.wbuf.is_empty() && self.wbuf.capacity() > 4 * READ_CHUNK {
            // Do not keep a large buffer around after a burst.
            self.wbuf = BytesMut::new();
        }
        Ok(())
    }

    /// Reads what the socket has without waiting. False when nothing was ready.
    pub fn try_read(&mut self) -> Result<bool, BenchError> {
        self.rbuf.reserve(READ_CHUNK);
        match self.stream.try_read_buf(&mut self.rbuf) {
            Ok(0) => Err(self.closed("")),
            Ok(_) => Ok(true),
            Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(self.io("read", e)),
        }
    }

    /// The next complete packet in the read buffer, if any.
    pub fn next_packet(&mut self) -> Result<Option<Packet>, BenchError> {
        petrel_codec::decode(&mut self.rbuf, self.version, MAX_PACKET).map_err(|e| {
            BenchError::Protocol {
                client: self.client.to_string(),
                detail: e.to_string(),
            }
        })
    }

    /// Waits for the next packet.
    pub async fn recv(&mut self) -> Result<Packet, BenchError> {
        loop {
            if let Some(p) = self.next_packet()? {
                return Ok(p);
            }
            self.rbuf.reserve(READ_CHUNK);
            match self.stream.read_buf(&mut self.rbuf).await {
                Ok(0) => return Err(self.closed("")),
                Ok(_) => {}
                Err(e) => return Err(self.io("read", e)),
            }
        }
    }

    /// Sends DISCONNECT and closes the socket, ignoring errors (the run is over).
    pub async fn disconnect(mut self) {
        let _ = self.try_flush();
        self.wbuf.clear();
        if self
            .queue(&Packet::Disconnect(petrel_codec::Disconnect::default()))
            .is_ok()
        {
            let _ = tokio::time::timeout(Duration::from_millis(500), self.flush()).await;
        }
        let _ = self.stream.shutdown().await;
    }

    /// An error for a packet that is not valid at this point.
    pub fn unexpected(&self, packet: &Packet, wanted: &str) -> BenchError {
        if let Packet::Disconnect(d) = packet {
            return self.closed(&format!(" with DISCONNECT {:?}", d.reason));
        }
        BenchError::Protocol {
            client: self.client.to_string(),
            detail: format!("expected {wanted}, got {:?}", packet.packet_type()),
        }
    }

    /// An error for a socket failure.
    pub fn io(&self, what: &'static str, source: std::io::Error) -> BenchError {
        BenchError::Io {
            client: self.client.to_string(),
            what,
            source,
        }
    }

    /// An error for a connection the broker closed.
    pub fn closed(&self, during: &str) -> BenchError {
        BenchError::Closed {
            client: self.client.to_string(),
            during: during.to_string(),
        }
    }
}
