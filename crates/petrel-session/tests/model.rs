//! Model test: a client and a server session wired through a simulated TCP link that is
//! cut at random points (bytes in flight are lost), with reconnects that resume the
//! session. Property tests over random schedules check, in both directions:
//! QoS 2 exactly once (MQTT-4.3.3-10, MQTT-4.4.0-1), QoS 1 at least once (MQTT-4.3.2),
//! QoS 0 at most once, per-topic order of first deliveries (section 4.6), one completion
//! event per QoS 1/2 message, no protocol violation, and bounded state at every step.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use petrel_codec::{ProtocolVersion, QoS, ReasonCode};
use petrel_session::{
    AcceptParams, AliasPolicy, ClientConfig, ClientEvent, ClientSession, CloseReason, Message,
    OutgoingMessage, PendingAck, QueueLimits, ServerConfig, ServerEvent, ServerSession,
    ServerSessionState,
};
use proptest::prelude::*;

const TOPICS: [&str; 3] = ["t/a", "t/b", "t/c"];
const SERVER_RECEIVE_MAX: u16 = 8;
const CLIENT_RECEIVE_MAX: u16 = 8;
const CLIENT_MAX_INFLIGHT: u16 = 6;
const SERVER_MAX_INFLIGHT: u16 = 4;
const QUEUE_MAX: usize = 10_000;

#[derive(Debug, Clone)]
enum Action {
    ClientPublish(usize, u8),
    ServerDeliver(usize, u8),
    ToServer(usize),
    ToClient(usize),
    Cut,
    Tick(u64),
    /// Manual-ack mode: the broker and the application acknowledge their oldest message.
    Ack,
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        3 => (0..TOPICS.len(), 0u8..3).prop_map(|(t, q)| Action::ClientPublish(t, q)),
        3 => (0..TOPICS.len(), 0u8..3).prop_map(|(t, q)| Action::ServerDeliver(t, q)),
        4 => (1usize..80).prop_map(Action::ToServer),
        4 => (1usize..80).prop_map(Action::ToClient),
        1 => Just(Action::Cut),
        1 => (1u64..4000).prop_map(Action::Tick),
        2 => Just(Action::Ack),
    ]
}

fn qos(q: u8) -> QoS {
    QoS::from_u8(q).unwrap_or(QoS::AtMostOnce)
}

/// What was sent and what arrived, in one direction.
#[derive(Default)]
struct Ledger {
    sent: Vec<(usize, u32, QoS)>,
    received: Vec<(usize, u32)>,
    completions: usize,
}

impl Ledger {
    fn check(&self, dir: &str) {
        let mut counts: HashMap<(usize, u32), usize> = HashMap::new();
        for r in &self.received {
            *counts.entry(*r).or_default() += 1;
        }
        let mut expected_completions = 0;
        for (t, seq, q) in &self.sent {
            let n = counts.get(&(*t, *seq)).copied().unwrap_or(0);
            match q {
                QoS::ExactlyOnce => assert_eq!(n, 1, "{dir}: QoS 2 {t}/{seq} arrived {n} times"),
                QoS::AtLeastOnce => assert!(n >= 1, "{dir}: QoS 1 {t}/{seq} lost"),
                QoS::AtMostOnce => assert!(n <= 1, "{dir}: QoS 0 {t}/{seq} arrived {n} times"),
            }
            if *q != QoS::AtMostOnce {
                expected_completions += 1;
            }
        }
        assert_eq!(
            self.completions, expected_completions,
            "{dir}: completion events"
        );
        for t in 0..TOPICS.len() {
            let mut last = None;
            let mut seen = std::collections::HashSet::new();
            for (rt, seq) in &self.received {
                if *rt == t && seen.insert(*seq) {
                    assert!(last < Some(*seq), "{dir}: topic {t} out of order at {seq}");
                    last = Some(*seq);
                }
            }
        }
    }
}

struct World {
    now: Instant,
    version: ProtocolVersion,
    client: ClientSession,
    server: Option<ServerSession>,
    stored: Option<ServerSessionState>,
    to_server: BytesMut,
    to_client: BytesMut,
    next_seq: [u32; 3],
    next_down_seq: [u32; 3],
    up: Ledger,
    down: Ledger,
    violations: Vec<String>,
    pending_down: VecDeque<OutgoingMessage>,
    cuts: usize,
    manual: bool,
    broker_acks: VecDeque<PendingAck>,
    app_acks: VecDeque<PendingAck>,
}

fn payload(t: usize, seq: u32) -> Vec<u8> {
    let mut v = vec![t as u8];
    v.extend_from_slice(&seq.to_be_bytes());
    v
}

fn parse(p: &[u8]) -> (usize, u32) {
    let t = usize::from(p[0]);
    (t, u32::from_be_bytes([p[1], p[2], p[3], p[4]]))
}

fn server_config() -> ServerConfig {
    ServerConfig {
        receive_maximum: SERVER_RECEIVE_MAX,
        max_inflight: SERVER_MAX_INFLIGHT,
        topic_alias_maximum: 2,
        alias_policy: AliasPolicy::LeastRecentlyUsed,
        queue: QueueLimits {
            max_messages: QUEUE_MAX,
            max_bytes: 1 << 30,
            ..QueueLimits::default()
        },
        ..ServerConfig::default()
    }
}

impl World {
    fn new(version: ProtocolVersion, manual: bool) -> Self {
        let mut cfg = ClientConfig::new("model", version);
        cfg.manual_acks = manual;
        cfg.clean_start = false;
        cfg.session_expiry_interval = 3600;
        cfg.keep_alive = 5;
        cfg.ping_timeout = Duration::from_secs(3);
        cfg.receive_maximum = CLIENT_RECEIVE_MAX;
        cfg.max_inflight = CLIENT_MAX_INFLIGHT;
        cfg.topic_alias_maximum = 2;
        cfg.alias_policy = AliasPolicy::LeastRecentlyUsed;
        let now = Instant::now();
        let mut w = Self {
            now,
            version,
            client: ClientSession::new(cfg),
            server: None,
            stored: None,
            to_server: BytesMut::new(),
            to_client: BytesMut::new(),
            next_seq: [0; 3],
            next_down_seq: [0; 3],
            up: Ledger::default(),
            down: Ledger::default(),
            violations: Vec::new(),
            pending_down: VecDeque::new(),
            cuts: 0,
            manual,
            broker_acks: VecDeque::new(),
            app_acks: VecDeque::new(),
        };
        w.reconnect();
        w
    }

    fn reconnect(&mut self) {
        self.server = Some(ServerSession::new(self.now, server_config()));
        self.client
            .connect(self.now)
            .expect("connect while disconnected");
        self.flush();
    }

    /// The link breaks: bytes in flight are lost, both ends learn it, the server's
    /// session state is saved for the next connection.
    fn cut(&mut self) {
        self.cuts += 1;
        self.to_server.clear();
        self.to_client.clear();
        self.broker_acks.clear();
        self.app_acks.clear();
        self.client.connection_lost(self.now);
        if let Some(mut s) = self.server.take() {
            s.connection_lost(self.now);
            self.server_events(&mut s);
            let state = s.take_state();
            // A session never accepted leaves the saved state untouched.
            let stored = match self.stored.take() {
                Some(mut old) => {
                    assert!(state.outgoing.is_empty());
                    old.queue.extend(state.queue);
                    old
                }
                None => state,
            };
            let mut stored = stored;
            stored.queue.extend(self.pending_down.drain(..));
            self.stored = Some(stored);
        }
        self.client_events();
        self.reconnect();
    }

    fn flush(&mut self) {
        self.client
            .encode_transmits(&mut self.to_server)
            .expect("client encodes");
        if let Some(s) = &mut self.server {
            s.encode_transmits(&mut self.to_client)
                .expect("server encodes");
        }
    }

    fn server_events(&mut self, s: &mut ServerSession) -> bool {
        let mut dead = false;
        while let Some(e) = s.poll_event() {
            match e {
                ServerEvent::Connect(_) => {
                    let params = match self.stored.take() {
                        Some(mut st) => {
                            st.queue.extend(self.pending_down.drain(..));
                            AcceptParams::resume(st)
                        }
                        None => AcceptParams::new(),
                    };
                    s.accept(self.now, params).expect("accept");
                    for m in self.pending_down.drain(..) {
                        s.deliver(self.now, m);
                    }
                }
                ServerEvent::Publish { message, ack } => {
                    self.up.received.push(parse(&message.payload));
                    if let Some(a) = ack {
                        if self.manual {
                            self.broker_acks.push_back(a);
                        } else {
                            s.ack_publish(a, ReasonCode::Success).expect("ack");
                        }
                    }
                }
                ServerEvent::Delivered(_) => self.down.completions += 1,
                ServerEvent::Failed { .. } => panic!("client refused a message"),
                ServerEvent::Closed { reason, .. } => {
                    if let CloseReason::Protocol(v) = &reason {
                        self.violations.push(format!("server: {v}"));
                    }
                    dead = true;
                }
                _ => {}
            }
        }
        dead
    }

    fn client_events(&mut self) -> bool {
        let mut dead = false;
        while let Some(e) = self.client.poll_event() {
            match e {
                ClientEvent::Message { message, ack } => {
                    self.down.received.push(parse(&message.payload));
                    self.app_acks.extend(ack);
                }
                ClientEvent::Delivered(_) => self.up.completions += 1,
                ClientEvent::Failed { .. } => panic!("server refused a message"),
                ClientEvent::Closed(reason) => {
                    if let CloseReason::Protocol(v) = &reason {
                        self.violations.push(format!("client: {v}"));
                    }
                    if reason != CloseReason::ConnectionLost {
                        dead = true;
                    }
                }
                _ => {}
            }
        }
        dead
    }

    /// Handles events on both sides; a side that closed means the link is cut.
    fn settle_events(&mut self) {
        let mut dead = self.client_events();
        if let Some(mut s) = self.server.take() {
            dead |= self.server_events(&mut s);
            dead |= s.is_closed();
            self.server = Some(s);
        }
        self.flush();
        if dead {
            self.cut();
        }
    }

    fn step(&mut self, a: &Action) {
        match *a {
            Action::ClientPublish(t, q) => {
                let seq = self.next_seq[t];
                let m = Message::new(TOPICS[t], payload(t, seq), qos(q));
                if self.client.publish(self.now, m).is_ok() {
                    self.next_seq[t] += 1;
                    self.up.sent.push((t, seq, qos(q)));
                }
            }
            Action::ServerDeliver(t, q) => {
                let seq = self.next_down_seq[t];
                self.next_down_seq[t] += 1;
                self.down.sent.push((t, seq, qos(q)));
                let m = OutgoingMessage::new(
                    self.now,
                    Message::new(TOPICS[t], payload(t, seq), qos(q)),
                );
                match &mut self.server {
                    Some(s) if s.is_connected() => {
                        s.deliver(self.now, m);
                    }
                    _ => self.pending_down.push_back(m),
                }
            }
            Action::ToServer(n) => {
                let n = n.min(self.to_server.len());
                let chunk = self.to_server.split_to(n);
                if let Some(s) = &mut self.server {
                    let _ = s.handle_bytes(self.now, &chunk);
                }
            }
            Action::ToClient(n) => {
                let n = n.min(self.to_client.len());
                let chunk = self.to_client.split_to(n);
                let _ = self.client.handle_bytes(self.now, &chunk);
            }
            Action::Cut => self.cut(),
            Action::Ack => {
                if let Some(a) = self.app_acks.pop_front() {
                    self.client.ack(a, ReasonCode::Success).expect("app ack");
                }
                if let Some(a) = self.broker_acks.pop_front() {
                    if let Some(s) = &mut self.server {
                        s.ack_publish(a, ReasonCode::Success).expect("broker ack");
                    }
                }
            }
            Action::Tick(ms) => {
                self.now += Duration::from_millis(ms);
                self.client.handle_timeout(self.now);
                if let Some(s) = &mut self.server {
                    s.handle_timeout(self.now);
                }
            }
        }
        self.settle_events();
        self.check_bounds();
    }

    fn check_bounds(&self) {
        assert!(self.client.in_flight() <= usize::from(CLIENT_MAX_INFLIGHT));
        assert!(self.client.incoming_in_flight() <= usize::from(CLIENT_RECEIVE_MAX));
        assert!(self.client.pending_transmits() <= 64);
        if let Some(s) = &self.server {
            assert!(s.in_flight() <= usize::from(SERVER_MAX_INFLIGHT));
            assert!(s.incoming_in_flight() <= usize::from(SERVER_RECEIVE_MAX));
            assert!(s.queued() <= QUEUE_MAX);
        }
    }

    /// Runs the link without faults until nothing moves.
    fn finish(&mut self) {
        for _ in 0..10_000 {
            let moved = !self.to_server.is_empty()
                || !self.to_client.is_empty()
                || !self.app_acks.is_empty()
                || !self.broker_acks.is_empty();
            while !self.app_acks.is_empty() || !self.broker_acks.is_empty() {
                self.step(&Action::Ack);
            }
            self.step(&Action::ToServer(usize::MAX));
            self.step(&Action::ToClient(usize::MAX));
            let idle = self.client.in_flight() == 0
                && self.client.is_connected()
                && self.pending_down.is_empty()
                && self
                    .server
                    .as_ref()
                    .is_some_and(|s| s.in_flight() == 0 && s.queued() == 0);
            if !moved && idle && self.to_server.is_empty() && self.to_client.is_empty() {
                break;
            }
        }
        self.up.check(&format!("{:?} client->server", self.version));
        self.down
            .check(&format!("{:?} server->client", self.version));
        assert!(self.violations.is_empty(), "{:?}", self.violations);
    }
}

fn version(v: u8) -> ProtocolVersion {
    match v {
        0 => ProtocolVersion::V3_1,
        1 => ProtocolVersion::V3_1_1,
        _ => ProtocolVersion::V5,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn qos_guarantees_hold_across_random_disconnects(
        v in 0u8..4,
        manual in any::<bool>(),
        schedule in prop::collection::vec(action(), 1..60),
    ) {
        let mut w = World::new(version(v), manual);
        for a in &schedule {
            w.step(a);
        }
        w.finish();
    }
}

#[test]
fn long_schedule_with_many_cuts() {
    let mut w = World::new(ProtocolVersion::V5, true);
    for i in 0..3000u32 {
        let a = match i % 11 {
            _ if i % 53 == 0 => Action::Cut,
            0 | 5 => Action::ClientPublish((i % 3) as usize, (i % 3) as u8),
            1 | 7 => Action::ServerDeliver((i % 3) as usize, ((i / 3) % 3) as u8),
            2 | 8 => Action::ToServer((i % 37 + 1) as usize),
            3 | 9 => Action::ToClient((i % 41 + 1) as usize),
            4 => Action::Tick(u64::from(i % 700)),
            6 | 10 => Action::Ack,
            _ => Action::ToServer(5),
        };
        w.step(&a);
    }
    w.finish();
    // The schedule really exercised reconnects and traffic both ways.
    assert!(w.cuts >= 20, "cuts: {}", w.cuts);
    let (up, down) = (w.up.received.len(), w.down.received.len());
    assert!(up >= 200 && down >= 200, "received {up} up, {down} down");
}
