//! Arbitrary byte streams (chunked), timeouts, deliveries and broker answers driven into a
//! server session: it must never panic and its state must stay within the configured limits.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use petrel_codec::{BytesMut, Packet, ProtocolVersion, QoS, ReasonCode};
use petrel_session::{
    AcceptParams, Message, OutgoingMessage, OverflowPolicy, QueueLimits, ServerConfig,
    ServerEvent, ServerSession,
};

const RECEIVE_MAX: u16 = 16;
const MAX_INFLIGHT: u16 = 8;
const QUEUE_MESSAGES: usize = 32;
const QUEUE_BYTES: usize = 4096;

fn config() -> ServerConfig {
    ServerConfig {
        receive_maximum: RECEIVE_MAX,
        max_inflight: MAX_INFLIGHT,
        max_packet_size: 2048,
        topic_alias_maximum: 4,
        max_pending_subscribes: 4,
        max_keep_alive: Some(30),
        queue: QueueLimits {
            max_messages: QUEUE_MESSAGES,
            max_bytes: QUEUE_BYTES,
            policy: OverflowPolicy::DropOldest,
        },
        ..ServerConfig::default()
    }
}

fn check(s: &ServerSession) {
    assert!(s.in_flight() <= usize::from(MAX_INFLIGHT));
    assert!(s.incoming_in_flight() <= usize::from(RECEIVE_MAX));
    assert!(s.queued() <= QUEUE_MESSAGES);
    assert!(s.queued_bytes() <= QUEUE_BYTES);
}

fn answer(s: &mut ServerSession, now: Instant, byte: u8, state: &mut Option<petrel_session::ServerSessionState>) {
    while let Some(e) = s.poll_event() {
        match e {
            ServerEvent::Connect(_) => match byte % 3 {
                0 => s.reject(now, ReasonCode::NotAuthorized, Default::default()),
                1 => {
                    let params = match state.take() {
                        Some(st) => AcceptParams::resume(st),
                        None => AcceptParams::new(),
                    };
                    let _ = s.accept(now, params);
                }
                _ => {
                    let _ = s.accept(now, AcceptParams::new());
                }
            },
            ServerEvent::Publish { ack: Some(a), .. } => {
                let reason = if byte & 8 == 0 { ReasonCode::Success } else { ReasonCode::QuotaExceeded };
                let _ = s.ack_publish(a, reason);
            }
            ServerEvent::Subscribe { packet_id, requests, .. } => {
                let reasons = requests.iter().map(|_| ReasonCode::GrantedQoS1).collect();
                let _ = s.suback(packet_id, reasons, Default::default());
            }
            _ => {}
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let t0 = Instant::now();
    let mut now = t0;
    let mut s = ServerSession::new(now, config());
    let mut out = BytesMut::new();
    let mut saved = None;
    let mut rest = data;
    // Half of the inputs start with a valid CONNECT so the fuzzer reaches the connected state.
    if let Some((&first, tail)) = rest.split_first() {
        rest = tail;
        if first & 1 == 1 {
            let version = if first & 2 == 0 { ProtocolVersion::V5 } else { ProtocolVersion::V3_1_1 };
            let c = petrel_codec::Connect {
                protocol: version,
                clean_start: first & 4 == 0,
                keep_alive: u16::from(first >> 4),
                client_id: "fuzz".into(),
                will: None,
                username: None,
                password: None,
                properties: Default::default(),
            };
            let mut buf = BytesMut::new();
            if Packet::Connect(Box::new(c)).encode(version, &mut buf).is_ok() {
                let _ = s.handle_bytes(now, &buf);
            }
        }
    }
    while let Some((&op, tail)) = rest.split_first() {
        rest = tail;
        let arg = rest.first().copied().unwrap_or(0);
        match op % 6 {
            0 | 1 => {
                let n = usize::from(arg).min(rest.len());
                let (chunk, tail) = rest.split_at(n);
                rest = tail;
                let _ = s.handle_bytes(now, chunk);
            }
            2 => {
                now += Duration::from_millis(u64::from(arg) * 250);
                s.handle_timeout(now);
            }
            3 => {
                let qos = QoS::from_u8(arg % 3).unwrap_or_default();
                let m = Message::new("fuzz/out", vec![arg; usize::from(arg)], qos);
                s.deliver(now, OutgoingMessage::new(now, m));
            }
            4 => {
                out.clear();
                let _ = s.encode_transmits(&mut out);
            }
            _ => {
                if arg & 1 == 1 {
                    // The connection ends; the next one resumes the saved state.
                    s.connection_lost(now);
                    saved = Some(s.take_state());
                    s = ServerSession::new(now, config());
                }
            }
        }
        answer(&mut s, now, arg, &mut saved);
        check(&s);
        if let Some(deadline) = s.poll_timeout() {
            assert!(deadline >= t0);
        }
    }
    out.clear();
    let _ = s.encode_transmits(&mut out);
});
