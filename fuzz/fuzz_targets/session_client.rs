//! Arbitrary bytes from a (hostile) server fed to a client session, mixed with publishes,
//! subscriptions, manual acks, timeouts and reconnects: never a panic, state within limits.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use petrel_codec::{BytesMut, ProtocolVersion, QoS, ReasonCode, SubscriptionOptions};
use petrel_session::{ClientConfig, ClientEvent, ClientSession, Message};

const RECEIVE_MAX: u16 = 8;
const MAX_INFLIGHT: u16 = 4;

fuzz_target!(|data: &[u8]| {
    let Some((&first, mut rest)) = data.split_first() else { return };
    let version = match first % 3 {
        0 => ProtocolVersion::V3_1,
        1 => ProtocolVersion::V3_1_1,
        _ => ProtocolVersion::V5,
    };
    let mut cfg = ClientConfig::new("fuzz", version);
    cfg.receive_maximum = RECEIVE_MAX;
    cfg.max_inflight = MAX_INFLIGHT;
    cfg.max_packet_size = 4096;
    cfg.topic_alias_maximum = 4;
    cfg.manual_acks = first & 4 != 0;
    cfg.keep_alive = 5;
    let t0 = Instant::now();
    let mut now = t0;
    let mut c = ClientSession::new(cfg);
    let _ = c.connect(now);
    let mut out = BytesMut::new();
    let mut acks = Vec::new();
    while let Some((&op, tail)) = rest.split_first() {
        rest = tail;
        let arg = rest.first().copied().unwrap_or(0);
        match op % 7 {
            0 | 1 => {
                let n = usize::from(arg).min(rest.len());
                let (chunk, tail) = rest.split_at(n);
                rest = tail;
                let _ = c.handle_bytes(now, chunk);
            }
            2 => {
                now += Duration::from_millis(u64::from(arg) * 100);
                c.handle_timeout(now);
            }
            3 => {
                let qos = QoS::from_u8(arg % 3).unwrap_or_default();
                let _ = c.publish(now, Message::new("fuzz/up", vec![arg; 8], qos));
            }
            4 => {
                let opts = SubscriptionOptions { qos: QoS::AtLeastOnce, ..Default::default() };
                let _ = c.subscribe(now, vec![("fuzz/#".into(), opts)], Default::default());
            }
            5 => {
                out.clear();
                let _ = c.encode_transmits(&mut out);
                if let Some(a) = acks.pop() {
                    let _ = c.ack(a, ReasonCode::Success);
                }
            }
            _ => {
                if arg & 1 == 1 {
                    let _ = c.reconnect(now);
                }
            }
        }
        while let Some(e) = c.poll_event() {
            if let ClientEvent::Message { ack: Some(a), .. } = e {
                acks.push(a);
            }
        }
        assert!(c.in_flight() <= usize::from(MAX_INFLIGHT));
        assert!(c.incoming_in_flight() <= usize::from(RECEIVE_MAX));
        acks.truncate(usize::from(RECEIVE_MAX) * 4);
    }
});
