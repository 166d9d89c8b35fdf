//! The connection task: one per client. It owns the sans-IO [`ClientSession`], the
//! transport, and every queue. It never waits on the application and never stops
//! reading: received messages go to channels counted by a budget (QoS 1/2 are bounded by
//! holding their acknowledgement until the application takes them), and publishers wait
//! on a semaphore before a command ever reaches this task.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::{Buf, BytesMut};
use petrel_codec::{ByteString, PacketId, Properties, QoS, ReasonCode, SubscriptionOptions};
use petrel_session::{ClientEvent, ClientSession, ConnectionInfo, Message, PendingAck, SendError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{broadcast, mpsc, oneshot, OwnedSemaphorePermit};
use tokio_rustls::TlsConnector;

use crate::error::{DisconnectReason, Error};
use crate::events::Event;
use crate::options::ConnectOptions;
use crate::router::{QueueRx, QueueTx, Router};
use crate::scram::ScramExchange;
use crate::subscription::{AckHandle, ReceivedMessage};
use crate::transport::{self, BoxStream};

/// Bytes waiting to be written above which no more publishes are handed to the session.
const WRITE_HIGH_WATER: usize = 256 * 1024;

/// Commands taken at once when one arrives.
const COMMAND_BURST: usize = 255;

pub(crate) type Reply<T> = oneshot::Sender<Result<T, Error>>;

/// A publish accepted from the application, not yet complete.
#[derive(Debug)]
pub(crate) struct PendingPub {
    pub(crate) msg: Message,
    pub(crate) done: Reply<()>,
    pub(crate) _permit: OwnedSemaphorePermit,
}

/// What a successful subscribe hands back.
pub(crate) type Subscribed = (u64, QueueRx, Vec<(ByteString, QoS)>);

/// A SUBSCRIBE requested by the application.
#[derive(Debug)]
pub(crate) struct SubReq {
    pub(crate) filters: Vec<(ByteString, SubscriptionOptions)>,
    pub(crate) properties: Properties,
    pub(crate) done: Reply<Subscribed>,
}

/// An UNSUBSCRIBE requested by the application.
#[derive(Debug)]
pub(crate) struct UnsubReq {
    pub(crate) filters: Vec<ByteString>,
    pub(crate) properties: Properties,
    /// The stream to stop routing to (every stream when `None`).
    pub(crate) route: Option<u64>,
    pub(crate) done: Reply<()>,
}

/// Commands from the handles to the connection task.
#[derive(Debug)]
pub(crate) enum Command {
    Publish(PendingPub),
    Subscribe(SubReq),
    Unsubscribe(UnsubReq),
    Ack {
        ack: PendingAck,
        reason: ReasonCode,
    },
    AllMessages(QueueTx),
    Disconnect {
        reason: ReasonCode,
        properties: Properties,
        done: oneshot::Sender<()>,
    },
}

#[derive(Debug)]
struct SubWait {
    req: SubReq,
    route: u64,
    rx: QueueRx,
}

#[derive(Debug)]
enum Deferred {
    Sub(SubWait),
    Unsub(UnsubReq),
}

/// One remembered subscription, sent again when the server lost the session.
#[derive(Debug, Clone)]
struct Registered {
    filter: ByteString,
    options: SubscriptionOptions,
    properties: Properties,
}

enum Input {
    Wrote(std::io::Result<usize>),
    Flushed(std::io::Result<()>),
    Read(std::io::Result<usize>),
    Cmd(Option<Command>),
    Timer,
}

/// The connection task's state.
pub(crate) struct Driver {
    opts: Arc<ConnectOptions>,
    tls: Option<TlsConnector>,
    session: ClientSession,
    cmd_rx: mpsc::UnboundedReceiver<Command>,
    cmd_weak: mpsc::WeakUnboundedSender<Command>,
    events: broadcast::Sender<Event>,
    info: Arc<Mutex<Option<ConnectionInfo>>>,
    router: Router,
    pending: VecDeque<PendingPub>,
    publishes: HashMap<PacketId, PendingPub>,
    sub_waits: HashMap<PacketId, SubWait>,
    unsub_waits: HashMap<PacketId, UnsubReq>,
    deferred: VecDeque<Deferred>,
    registry: Vec<Registered>,
    resubs: HashSet<PacketId>,
    resub_needed: bool,
    first: Option<Reply<ConnectionInfo>>,
    shutdown: Vec<oneshot::Sender<()>>,
    stop: bool,
    cmds_closed: bool,
    closed: Option<DisconnectReason>,
    connected_now: bool,
    auto_ack: bool,
    /// The SCRAM exchange of the current connection attempt.
    scram: Option<ScramExchange>,
    /// A CONNACK was accepted once (later CONNECTs resume the session).
    ever_connected: bool,
}

/// What the handle keeps of a spawned driver.
pub(crate) struct Spawned {
    pub(crate) cmd: mpsc::UnboundedSender<Command>,
    pub(crate) events: broadcast::Sender<Event>,
    pub(crate) info: Arc<Mutex<Option<ConnectionInfo>>>,
    pub(crate) first: oneshot::Receiver<Result<ConnectionInfo, Error>>,
}

impl Driver {
    /// Starts the connection task.
    pub(crate) fn spawn(opts: ConnectOptions, tls: Option<TlsConnector>) -> Spawned {
        let (cmd, cmd_rx) = mpsc::unbounded_channel();
        let (events, _) = broadcast::channel(64);
        let (first_tx, first) = oneshot::channel();
        let info = Arc::new(Mutex::new(None));
        // Acks are always held by the session until the application takes the message
        // (automatic) or acknowledges it (manual): that is the flow control for QoS 1/2.
        let mut config = opts.session.clone();
        config.manual_acks = true;
        if !config.version.is_v5() {
            // MQTT 3 has no Receive Maximum: accept whatever window the server uses.
            config.receive_maximum = u16::MAX;
            config.max_inflight = config.max_inflight.min(opts.mqtt3_max_inflight.max(1));
        }
        let d = Self {
            auto_ack: !opts.session.manual_acks,
            session: ClientSession::new(config),
            router: Router::new(opts.max_buffered_messages),
            opts: Arc::new(opts),
            tls,
            cmd_rx,
            cmd_weak: cmd.downgrade(),
            events: events.clone(),
            info: Arc::clone(&info),
            pending: VecDeque::new(),
            publishes: HashMap::new(),
            sub_waits: HashMap::new(),
            unsub_waits: HashMap::new(),
            deferred: VecDeque::new(),
            registry: Vec::new(),
            resubs: HashSet::new(),
            resub_needed: false,
            first: Some(first_tx),
            shutdown: Vec::new(),
            stop: false,
            cmds_closed: false,
            closed: None,
            connected_now: false,
            scram: None,
            ever_connected: false,
        };
        tokio::spawn(d.run());
        Spawned {
            cmd,
            events,
            info,
            first,
        }
    }

    fn emit(&self, e: Event) {
        let _ = self.events.send(e);
    }

    async fn run(mut self) {
        let mut attempt: u32 = 0;
        while !self.stop {
            let opts = Arc::clone(&self.opts);
            let tls = self.tls.clone();
            let fut = async move { transport::open(&opts, tls.as_ref()).await };
            tokio::pin!(fut);
            let opened = loop {
                tokio::select! {
                    r = &mut fut => break Some(r),
                    c = self.cmd_rx.recv(), if !self.cmds_closed => self.on_command(c),
                }
                if self.stop {
                    break None;
                }
            };
            let Some(opened) = opened else { break };
            match opened {
                Ok(stream) => {
                    let reason = self.run_connection(stream).await;
                    let was_connected = std::mem::take(&mut self.connected_now);
                    if was_connected {
                        attempt = 0;
                    }
                    if let Some(first) = self.first.take() {
                        let _ = first.send(Err(first_error(&reason)));
                        break;
                    }
                    tracing::debug!(%reason, "connection ended");
                    self.emit(Event::Disconnected { reason });
                }
                Err(e) => {
                    if let Some(first) = self.first.take() {
                        let _ = first.send(Err(e));
                        break;
                    }
                    tracing::debug!(error = %e, "reconnect failed");
                }
            }
            if self.stop || !self.opts.reconnect.enabled {
                break;
            }
            if self
                .opts
                .reconnect
                .max_attempts
                .is_some_and(|m| attempt >= m)
            {
                break;
            }
            let delay = self.opts.reconnect.delay(attempt);
            attempt = attempt.saturating_add(1);
            self.emit(Event::Reconnecting { attempt, delay });
            let sleep = tokio::time::sleep(delay);
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    _ = &mut sleep => break,
                    c = self.cmd_rx.recv(), if !self.cmds_closed => self.on_command(c),
                }
                if self.stop {
                    break;
                }
            }
        }
        self.finish();
    }

    /// Runs one connection until it ends; returns why.
    async fn run_connection(&mut self, stream: BoxStream) -> DisconnectReason {
        let (mut rd, mut wr) = tokio::io::split(stream);
        let now = Instant::now();
        self.session.connection_lost(now);
        self.drain_session_events(now);
        self.closed = None;
        self.start_scram();
        if self.session.connect(now).is_err() {
            return DisconnectReason::Transport("session refused to connect".into());
        }
        let mut wbuf = BytesMut::with_capacity(16 * 1024);
        let mut rbuf = BytesMut::with_capacity(16 * 1024);
        let mut needs_flush = false;
        let mut transport_dead = false;
        loop {
            self.step(&mut wbuf);
            if let Some(reason) = self.closed.clone() {
                if !transport_dead {
                    let flush = async {
                        wr.write_all(&wbuf).await?;
                        wr.flush().await?;
                        wr.shutdown().await
                    };
                    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), flush).await;
                }
                return reason;
            }
            let deadline = self.session.poll_timeout();
            let timer = async move {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d.into()).await,
                    None => std::future::pending().await,
                }
            };
            let want_io = !wbuf.is_empty() || needs_flush;
            let io = async {
                if wbuf.is_empty() {
                    Input::Flushed(wr.flush().await)
                } else {
                    Input::Wrote(wr.write(&wbuf).await)
                }
            };
            let input = tokio::select! {
                r = io, if want_io => r,
                r = rd.read_buf(&mut rbuf) => Input::Read(r),
                c = self.cmd_rx.recv(), if !self.cmds_closed => Input::Cmd(c),
                _ = timer => Input::Timer,
            };
            let now = Instant::now();
            match input {
                Input::Wrote(Ok(0)) => {
                    transport_dead = true;
                    self.lost(now, "write returned zero".into());
                }
                Input::Wrote(Ok(n)) => {
                    wbuf.advance(n);
                    needs_flush = true;
                }
                Input::Flushed(Ok(())) => needs_flush = false,
                Input::Read(Ok(0)) => {
                    transport_dead = true;
                    self.lost(now, "connection closed by the server".into());
                }
                Input::Read(Ok(_)) => {
                    if let Err(e) = self.session.handle_bytes(now, &rbuf) {
                        tracing::warn!(error = %e, "protocol error from the server");
                    }
                    rbuf.clear();
                }
                Input::Wrote(Err(e)) | Input::Flushed(Err(e)) | Input::Read(Err(e)) => {
                    transport_dead = true;
                    self.lost(now, e.to_string());
                }
                Input::Cmd(c) => {
                    self.on_command(c);
                    // Take a burst of commands before the next step: one encode pass
                    // and one write for many publishes.
                    for _ in 0..COMMAND_BURST {
                        match self.cmd_rx.try_recv() {
                            Ok(c) => self.on_command(Some(c)),
                            Err(_) => break,
                        }
                    }
                }
                Input::Timer => self.session.handle_timeout(now),
            }
        }
    }

    fn lost(&mut self, now: Instant, why: String) {
        if self.closed.is_none() {
            self.closed = Some(DisconnectReason::Transport(why));
        }
        self.session.connection_lost(now);
    }

    /// Reacts to session events, hands queued publishes to the session and encodes what
    /// it wants to send.
    fn step(&mut self, wbuf: &mut BytesMut) {
        let now = Instant::now();
        self.drain_session_events(now);
        if self.session.is_connected() {
            self.issue_deferred(now);
            self.pump(now, wbuf.len());
        }
        if let Err(e) = self.session.encode_transmits(wbuf) {
            tracing::warn!(error = %e, "cannot encode a packet");
        }
    }

    fn pump(&mut self, now: Instant, mut buffered: usize) {
        while buffered < WRITE_HIGH_WATER {
            let Some(p) = self.pending.front() else { break };
            let size = p.msg.payload.len() + p.msg.topic.len();
            match self.session.publish(now, p.msg.clone()) {
                Err(SendError::Backpressure | SendError::NoPacketId) => break,
                r => {
                    let Some(p) = self.pending.pop_front() else {
                        break;
                    };
                    match r {
                        Ok(Some(id)) => {
                            self.publishes.insert(id, p);
                        }
                        Ok(None) => {
                            let _ = p.done.send(Ok(()));
                        }
                        Err(e) => {
                            let _ = p.done.send(Err(Error::Send(e)));
                        }
                    }
                    buffered += size;
                }
            }
        }
    }

    fn offline_allowed(&self) -> bool {
        self.opts.reconnect.enabled || self.first.is_some()
    }

    fn on_command(&mut self, c: Option<Command>) {
        let Some(c) = c else {
            // Every handle is gone: leave politely.
            self.cmds_closed = true;
            self.request_stop(ReasonCode::Success, Properties::new());
            return;
        };
        let connected = self.session.is_connected();
        match c {
            Command::Publish(p) => {
                let room = self.pending.len() < self.opts.offline_queue && self.offline_allowed();
                if connected || room {
                    self.pending.push_back(p);
                } else {
                    let _ = p.done.send(Err(Error::NotConnected));
                }
            }
            Command::Subscribe(req) => {
                let filters: Vec<ByteString> = req.filters.iter().map(|(f, _)| f.clone()).collect();
                let (route, rx) = self.router.add_route(&filters);
                let wait = SubWait { req, route, rx };
                if connected || self.offline_allowed() {
                    self.deferred.push_back(Deferred::Sub(wait));
                } else {
                    self.router.remove(route, None);
                    let _ = wait.req.done.send(Err(Error::NotConnected));
                }
            }
            Command::Unsubscribe(req) => {
                self.registry.retain(|r| !req.filters.contains(&r.filter));
                match req.route {
                    Some(id) => self.router.remove(id, Some(&req.filters)),
                    None => self.router.remove_filters_everywhere(&req.filters),
                }
                if connected || self.offline_allowed() {
                    self.deferred.push_back(Deferred::Unsub(req));
                } else {
                    let _ = req.done.send(Err(Error::NotConnected));
                }
            }
            Command::Ack { ack, reason } => {
                if let Err(e) = self.session.ack(ack, reason) {
                    tracing::debug!(error = %e, "ack not sent (the server will send the message again)");
                }
            }
            Command::AllMessages(tx) => self.router.add_all(tx),
            Command::Disconnect {
                reason,
                properties,
                done,
            } => {
                self.shutdown.push(done);
                self.request_stop(reason, properties);
            }
        }
    }

    fn request_stop(&mut self, reason: ReasonCode, properties: Properties) {
        self.stop = true;
        if self.closed.is_none() {
            self.closed = Some(DisconnectReason::Requested);
        }
        self.session.disconnect(Instant::now(), reason, properties);
    }

    /// Sends the SUBSCRIBE/UNSUBSCRIBE requests that waited for a connection, in order.
    fn issue_deferred(&mut self, now: Instant) {
        while let Some(d) = self.deferred.pop_front() {
            match d {
                Deferred::Sub(w) => {
                    let r = self.session.subscribe(
                        now,
                        w.req.filters.clone(),
                        w.req.properties.clone(),
                    );
                    match r {
                        Ok(id) => {
                            self.sub_waits.insert(id, w);
                        }
                        Err(SendError::NotConnected | SendError::NoPacketId) => {
                            self.deferred.push_front(Deferred::Sub(w));
                            return;
                        }
                        Err(e) => {
                            self.router.remove(w.route, None);
                            let _ = w.req.done.send(Err(Error::Send(e)));
                        }
                    }
                }
                Deferred::Unsub(u) => {
                    match self
                        .session
                        .unsubscribe(now, u.filters.clone(), u.properties.clone())
                    {
                        Ok(id) => {
                            self.unsub_waits.insert(id, u);
                        }
                        Err(SendError::NotConnected | SendError::NoPacketId) => {
                            self.deferred.push_front(Deferred::Unsub(u));
                            return;
                        }
                        Err(e) => {
                            let _ = u.done.send(Err(Error::Send(e)));
                        }
                    }
                }
            }
        }
    }

    /// The server has no session for us: subscribe again to everything.
    fn resubscribe(&mut self, now: Instant) {
        self.resub_needed = true;
        for r in self.registry.clone() {
            match self
                .session
                .subscribe(now, vec![(r.filter.clone(), r.options)], r.properties)
            {
                Ok(id) => {
                    self.resubs.insert(id);
                }
                Err(e) => tracing::warn!(filter = %r.filter, error = %e, "cannot resubscribe"),
            }
        }
        if self.resubs.is_empty() {
            self.resub_needed = false;
        }
    }

    /// With SCRAM, rebuilds the (disconnected) session around a CONNECT carrying a fresh
    /// client-first message; the session state is kept.
    fn start_scram(&mut self) {
        let Some(login) = self.opts.scram.as_ref() else {
            return;
        };
        let mut config = self.session.config().clone();
        let exchange = ScramExchange::start(login, &mut config);
        if self.ever_connected {
            config.clean_start = false;
        }
        let state = self.session.state();
        self.session = ClientSession::from_state(config, state);
        self.scram = Some(exchange);
    }

    /// Ends the connection attempt because enhanced authentication failed.
    fn auth_failed(&mut self, now: Instant, why: String) {
        tracing::warn!(error = %why, "enhanced authentication failed");
        self.scram = None;
        if self.closed.is_none() {
            self.closed = Some(DisconnectReason::Authentication(why));
        }
        self.session
            .disconnect(now, ReasonCode::NotAuthorized, Properties::default());
    }

    fn drain_session_events(&mut self, now: Instant) {
        while let Some(ev) = self.session.poll_event() {
            self.on_session_event(now, ev);
        }
    }

    fn on_session_event(&mut self, now: Instant, ev: ClientEvent) {
        match ev {
            ClientEvent::Connected(info) => {
                if let Some(mut x) = self.scram.take() {
                    if let Err(why) = x.verify(info.authentication_data.as_ref()) {
                        self.auth_failed(now, why);
                        return;
                    }
                }
                self.connected_now = true;
                self.ever_connected = true;
                if !info.session_present || self.resub_needed {
                    self.resubscribe(now);
                }
                if let Ok(mut slot) = self.info.lock() {
                    *slot = Some((*info).clone());
                }
                if let Some(first) = self.first.take() {
                    let _ = first.send(Ok((*info).clone()));
                }
                tracing::debug!(session_present = info.session_present, "connected");
                self.emit(Event::Connected {
                    session_present: info.session_present,
                    info,
                });
            }
            ClientEvent::Message { message, ack } => {
                let auto = self.auto_ack;
                let handle = ack.and_then(|a| {
                    self.cmd_weak
                        .upgrade()
                        .map(|tx| AckHandle::new(a, auto, tx))
                });
                let taken = self.router.dispatch(ReceivedMessage::new(message, handle));
                if taken == 0 && !auto {
                    if let Some(a) = ack {
                        let _ = self.session.ack(a, ReasonCode::Success);
                    }
                }
            }
            ClientEvent::Delivered(id) => {
                if let Some(p) = self.publishes.remove(&id) {
                    let _ = p.done.send(Ok(()));
                }
            }
            ClientEvent::Failed { packet_id, reason } => {
                if let Some(p) = self.publishes.remove(&packet_id) {
                    let _ = p.done.send(Err(Error::Rejected(reason)));
                }
            }
            ClientEvent::Subscribed { packet_id, results } => self.on_suback(packet_id, results),
            ClientEvent::Unsubscribed { packet_id, results } => {
                if let Some(u) = self.unsub_waits.remove(&packet_id) {
                    let refused = results.into_iter().find(|(_, r)| r.is_error());
                    let r = match refused {
                        Some((f, reason)) => Err(Error::UnsubscribeRefused {
                            filter: f.to_string(),
                            reason,
                        }),
                        None => Ok(()),
                    };
                    let _ = u.done.send(r);
                }
            }
            ClientEvent::RequestAborted(id) => {
                // Sent again after the next CONNACK; resubscriptions are redone then.
                if let Some(w) = self.sub_waits.remove(&id) {
                    self.deferred.push_front(Deferred::Sub(w));
                } else if let Some(u) = self.unsub_waits.remove(&id) {
                    self.deferred.push_front(Deferred::Unsub(u));
                }
                self.resubs.remove(&id);
            }
            ClientEvent::Closed(reason) => {
                if self.closed.is_none() {
                    self.closed = Some(DisconnectReason::Session(reason));
                }
            }
            ClientEvent::Auth(a) => match self.scram.as_mut().map(|x| x.on_auth(&a)) {
                Some(Ok(reply)) => {
                    if let Err(e) = self.session.auth(reply) {
                        self.auth_failed(now, format!("could not answer AUTH: {e}"));
                    }
                }
                Some(Err(why)) => self.auth_failed(now, why),
                None => tracing::debug!("AUTH from the server ignored (no SCRAM exchange)"),
            },
            other => tracing::debug!(?other, "session event ignored"),
        }
    }

    fn on_suback(&mut self, id: PacketId, results: Vec<(ByteString, Result<QoS, ReasonCode>)>) {
        if self.resubs.remove(&id) {
            for (f, r) in &results {
                if let Err(reason) = r {
                    tracing::warn!(filter = %f, ?reason, "resubscription refused");
                    self.registry.retain(|x| x.filter != *f);
                }
            }
            if self.resubs.is_empty() {
                self.resub_needed = false;
            }
            return;
        }
        let Some(w) = self.sub_waits.remove(&id) else {
            return;
        };
        let mut granted = Vec::new();
        let mut refused = None;
        for ((f, r), (_, options)) in results.into_iter().zip(&w.req.filters) {
            match r {
                Ok(q) => {
                    self.registry.retain(|x| x.filter != f);
                    self.registry.push(Registered {
                        filter: f.clone(),
                        options: *options,
                        properties: w.req.properties.clone(),
                    });
                    granted.push((f, q));
                }
                Err(reason) => refused = refused.or(Some((f, reason))),
            }
        }
        let r = match refused {
            Some((f, reason)) => {
                self.router.remove(w.route, None);
                Err(Error::SubscribeRefused {
                    filter: f.to_string(),
                    reason,
                })
            }
            None => Ok((w.route, w.rx, granted)),
        };
        let _ = w.req.done.send(r);
    }

    /// The client stops: every waiter learns it.
    fn finish(mut self) {
        let now = Instant::now();
        self.session.connection_lost(now);
        self.drain_session_events(now);
        for p in self
            .pending
            .drain(..)
            .chain(self.publishes.drain().map(|(_, p)| p))
        {
            let _ = p.done.send(Err(Error::Closed));
        }
        for (_, w) in self.sub_waits.drain() {
            let _ = w.req.done.send(Err(Error::Closed));
        }
        for (_, u) in self.unsub_waits.drain() {
            let _ = u.done.send(Err(Error::Closed));
        }
        for d in self.deferred.drain(..) {
            match d {
                Deferred::Sub(w) => {
                    let _ = w.req.done.send(Err(Error::Closed));
                }
                Deferred::Unsub(u) => {
                    let _ = u.done.send(Err(Error::Closed));
                }
            }
        }
        if let Some(first) = self.first.take() {
            let _ = first.send(Err(Error::Closed));
        }
        for s in self.shutdown.drain(..) {
            let _ = s.send(());
        }
        self.emit(Event::Closed);
    }
}

/// The error `Client::connect` reports when the first connection ends before CONNACK.
fn first_error(reason: &DisconnectReason) -> Error {
    match reason {
        DisconnectReason::Session(petrel_session::CloseReason::Refused(code)) => {
            Error::Refused(*code)
        }
        DisconnectReason::Requested => Error::Closed,
        DisconnectReason::Authentication(why) => Error::Authentication(why.clone()),
        other => Error::Handshake(other.to_string()),
    }
}
