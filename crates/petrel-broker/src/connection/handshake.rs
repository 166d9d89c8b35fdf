//! The CONNECT handshake: the session validates CONNECT (and refuses bad ones with the
//! right CONNACK) within the connect timeout; the broker authenticates, applies its own
//! policy to the will, attaches the session (taking it over from an older connection)
//! and accepts.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::BytesMut;
use bytestring::ByteString;
use petrel_codec::{Auth, Connect, Properties, ReasonCode};
use petrel_session::{
    AcceptParams, AliasPolicy, OverflowPolicy, QueueLimits, ServerConfig, ServerEvent,
    ServerSession, Subscription,
};
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use super::{buffers, encode_all, feed, now, write_out, BufGauge, Conn};
use crate::config::Config;
use crate::core::Core;
use crate::slot::SlotHold;
use crate::topic::validate_name;
use crate::transport::{Peer, Stream};

static ASSIGNED: AtomicU64 = AtomicU64::new(1);

/// The session's limits from the broker configuration.
pub(crate) fn server_config(config: &Config) -> ServerConfig {
    let l = &config.limits;
    ServerConfig {
        receive_maximum: l.receive_maximum,
        max_packet_size: l.max_packet_size,
        topic_alias_maximum: l.topic_alias_maximum,
        max_inflight: l.max_inflight_messages,
        max_keep_alive: Some(l.max_keep_alive_secs),
        max_session_expiry: Some(l.max_session_expiry_secs),
        connect_timeout: config.connect_timeout(),
        alias_policy: if config.features.outgoing_topic_aliases {
            AliasPolicy::FirstCome
        } else {
            AliasPolicy::Disabled
        },
        // The broker's shared queue holds and bounds messages (with its drop policy);
        // the session only ever holds the one it is about to send.
        queue: QueueLimits {
            max_messages: usize::MAX,
            max_bytes: usize::MAX,
            policy: OverflowPolicy::DropNewest,
        },
        max_filters_per_subscribe: l.max_filters_per_subscribe,
        max_topic_levels: l.max_topic_levels,
        max_user_properties: l.max_user_properties,
        // One event at a time: packets are answered in the order they arrived.
        max_pending_events: 1,
        ..ServerConfig::default()
    }
}

/// The transport and session during the handshake.
pub(super) struct Io<'a, 'b> {
    pub core: &'a Core,
    pub server: &'a mut ServerSession,
    pub stream: &'a mut Stream,
    pub gauge: &'a mut BufGauge<'b>,
}

/// What the next handshake step got.
enum Step {
    /// A valid CONNECT.
    Connect(Box<Connect>),
    /// An AUTH packet (enhanced authentication).
    Auth(Auth),
    /// Another packet arrived before the CONNECT was accepted.
    Other,
    /// The connection is over (closed, refused, timed out).
    Closed,
}

impl Io<'_, '_> {
    /// Writes what the session wants to send.
    async fn flush(&mut self) -> bool {
        let mut out = BytesMut::new();
        encode_all(self.server, &mut out);
        write_out(self.stream, &mut out, &self.core.metrics).await
    }

    /// Reads until the session reports CONNECT or AUTH, or the connection ends.
    async fn next(&mut self) -> Step {
        loop {
            while let Some(event) = self.server.poll_event() {
                match event {
                    ServerEvent::Connect(c) => return Step::Connect(c),
                    ServerEvent::Auth(a) => return Step::Auth(a),
                    _ => {}
                }
            }
            if self.server.is_closed() {
                return Step::Closed;
            }
            if !self.server.wants_input() {
                return Step::Other;
            }
            self.flush().await;
            let deadline = self.server.poll_timeout().map(Instant::from_std);
            let metrics = &self.core.metrics;
            let server = &mut *self.server;
            let read = buffers::read_with(self.stream, metrics, |b| feed(server, b, metrics));
            let n = match deadline {
                Some(at) => tokio::time::timeout_at(at, read).await.ok(),
                None => Some(read.await),
            };
            match n {
                None => {
                    tracing::debug!("connect timeout");
                    self.server.handle_timeout(now());
                }
                Some(0) => self.server.connection_lost(now()),
                Some(_) => {}
            }
            self.gauge.update(self.server);
            if n == Some(0) {
                return Step::Closed;
            }
        }
    }

    /// Sends an AUTH packet (enhanced authentication).
    pub async fn send_auth(&mut self, auth: Auth) -> bool {
        self.server.send_auth(auth).is_ok() && self.flush().await
    }

    /// The client's next AUTH packet: `Ok(None)` when the connection ended, `Err(())`
    /// when another packet came instead.
    pub async fn next_auth(&mut self) -> Result<Option<Auth>, ()> {
        match self.next().await {
            Step::Auth(a) => Ok(Some(a)),
            Step::Closed => Ok(None),
            Step::Connect(_) | Step::Other => Err(()),
        }
    }

    /// Refuses the CONNECT with `reason` (mapped for MQTT 3 by the session) and closes.
    async fn reject(&mut self, reason: ReasonCode) {
        self.core
            .metrics
            .refused(crate::metrics::RefuseReason::of_connack(reason));
        self.server.reject(now(), reason, Properties::new());
        self.close().await;
    }

    /// Writes what is left (a refusing CONNACK) and closes the transport.
    async fn close(&mut self) {
        self.flush().await;
        let _ = self.stream.shutdown().await;
    }
}

/// Waits for CONNECT (MQTT-3.1.0-1), authenticates it, attaches the session and accepts.
/// Returns `None` when the connection was refused or closed.
pub(super) async fn accept(
    core: &Arc<Core>,
    peer: &Peer,
    stream: &mut Stream,
    gauge: &mut BufGauge<'_>,
) -> Option<Conn> {
    let mut server = ServerSession::new(now(), core.session_config.clone());
    let mut io = Io {
        core,
        server: &mut server,
        stream,
        gauge,
    };
    let connect = match io.next().await {
        Step::Connect(c) => c,
        _ => {
            io.close().await;
            return None;
        }
    };
    // Authentication (passwords, certificates, enhanced) before anything else.
    let login = match super::access::login(core, peer, &connect, &mut io).await {
        Ok(login) => login,
        Err(Some(reason)) => {
            io.reject(reason).await;
            return None;
        }
        Err(None) => return None,
    };
    if let Some(reason) = will_refused(core, &connect) {
        io.reject(reason).await;
        return None;
    }
    establish(core, server, *connect, login).await
}

/// The broker's own rules for a will: not on `$SYS`, within the topic level limit.
fn will_refused(core: &Core, connect: &Connect) -> Option<ReasonCode> {
    let w = connect.will.as_ref()?;
    let bad = validate_name(&w.topic, core.config.limits.max_topic_levels).is_err()
        || w.topic.starts_with("$SYS");
    bad.then_some(ReasonCode::TopicNameInvalid)
}

async fn establish(
    core: &Arc<Core>,
    mut server: ServerSession,
    mut connect: Connect,
    login: super::access::Login,
) -> Option<Conn> {
    // The decoded id is a slice of the CONNECT packet's buffer: kept as it is, the session
    // (online or not) would hold the whole packet, password included, for its lifetime.
    connect.client_id = ByteString::from(&*connect.client_id);
    let mut params = AcceptParams::new();
    let client_id = if connect.client_id.is_empty() {
        // The session refused an empty id where it needs a clean session (MQTT-3.1.3-8).
        let id = ByteString::from(format!(
            "petrel-{:016x}",
            ASSIGNED.fetch_add(1, Ordering::Relaxed)
        ));
        params = params.with_assigned_client_id(id.clone());
        id
    } else {
        connect.client_id.clone()
    };
    let conn_id = core.next_conn_id();
    let (session, present) = core.attach(&client_id, connect.clean_start, 0, conn_id);
    // Wait for a connection this one takes over to hand the protocol state back.
    // If it does not within the connect timeout (a peer that stopped reading keeps its
    // task in a write), go on without its in-flight messages: they come back to the
    // session when that task ends, for a later connection.
    let wait = core.config.connect_timeout();
    let (slot, saved) = match SlotHold::acquire(&session, wait).await {
        Some((hold, saved)) => (Some(hold), saved.map(|s| *s).unwrap_or_default()),
        None => {
            tracing::warn!(client = %client_id, "previous connection still holds the session state");
            (None, crate::session::Saved::default())
        }
    };
    if present {
        let mut state = saved.state;
        state.client_id = client_id.clone();
        state.subscriptions = session
            .lock()
            .subscriptions
            .iter()
            .map(|(filter, info)| Subscription {
                filter: filter.clone(),
                options: info.options,
                identifier: info.id,
            })
            .collect();
        params.state = Some(state);
    }
    params.properties = Properties(login.properties);
    if let Err(e) = server.accept(now(), params) {
        tracing::debug!(client = %client_id, error = %e, "cannot accept");
        drop(slot);
        core.detach(&session, conn_id).await;
        return None;
    }
    let stored = (present && !saved.stored.is_empty()).then(|| Box::new(saved.stored));
    session.lock().expiry_interval = server.session_expiry_interval();
    let will = connect.will.as_ref().map(|w| {
        let msg = crate::message::Message::new(
            w.topic.clone(),
            w.payload.clone(),
            w.qos,
            w.retain,
            &w.properties,
            Instant::now(),
            Some(client_id.clone()),
        );
        (msg, w.properties.will_delay_interval().unwrap_or(0))
    });
    core.persist_attach(&session, present, will.as_ref()).await;
    tracing::debug!(client = %client_id, version = ?connect.protocol, present, "client connected");
    let conn = Conn {
        core: core.clone(),
        conn_id,
        username: login.username.map(|u| Box::from(&*u)),
        reauth: login.reauth,
        session,
        server,
        slot,
        out: BytesMut::new(),
        stored,
        pending: None,
        counted: Default::default(),
        closed: None,
        persist: petrel_store::Batch::new(),
        persist_later: petrel_store::Batch::new(),
        publishes: Default::default(),
        has_will: connect.will.is_some(),
    };
    Some(conn)
}
