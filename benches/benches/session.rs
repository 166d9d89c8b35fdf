//! petrel-session throughput: inbound QoS 1 publishes through a server session, outbound
//! deliveries with acknowledgements, and a full client/server QoS 2 exchange.

use std::hint::black_box;
use std::time::Instant;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use petrel_codec::{Packet, Properties, ProtocolVersion, PubResp, Publish, QoS, ReasonCode};
use petrel_session::{
    AcceptParams, ClientConfig, ClientEvent, ClientSession, Message, OutgoingMessage, ServerConfig,
    ServerEvent, ServerSession,
};

const N: u16 = 1000;

fn connected_server(now: Instant) -> ServerSession {
    let mut s = ServerSession::new(now, ServerConfig::default());
    let c = petrel_codec::Connect {
        protocol: ProtocolVersion::V5,
        clean_start: true,
        keep_alive: 60,
        client_id: "bench".into(),
        will: None,
        username: None,
        password: None,
        properties: Properties::new(),
    };
    s.handle_packet(now, Packet::Connect(Box::new(c)))
        .expect("connect");
    while s.poll_event().is_some() {}
    s.accept(now, AcceptParams::new()).expect("accept");
    let mut out = BytesMut::new();
    s.encode_transmits(&mut out).expect("connack");
    s
}

fn inbound_qos1(c: &mut Criterion) {
    let mut wire = BytesMut::new();
    for id in 1..=N {
        let p = Publish {
            dup: false,
            qos: QoS::AtLeastOnce,
            retain: false,
            topic: "sensors/room1/temp".into(),
            packet_id: petrel_codec::PacketId::new(id),
            properties: Properties::new(),
            payload: bytes::Bytes::from_static(&[0u8; 64]),
        };
        Packet::Publish(p)
            .encode(ProtocolVersion::V5, &mut wire)
            .expect("encode");
    }
    let wire = wire.freeze();
    let mut g = c.benchmark_group("session");
    g.throughput(Throughput::Elements(u64::from(N)));
    g.bench_function("server_inbound_qos1_1000", |b| {
        let now = Instant::now();
        b.iter(|| {
            let mut s = connected_server(now);
            let mut out = BytesMut::new();
            for chunk in wire.chunks(4096) {
                s.handle_bytes(now, chunk).expect("input");
                while let Some(e) = s.poll_event() {
                    if let ServerEvent::Publish { ack: Some(a), .. } = e {
                        s.ack_publish(a, ReasonCode::Success).expect("ack");
                    }
                }
                s.encode_transmits(&mut out).expect("acks");
            }
            black_box(out.len())
        })
    });
    g.bench_function("server_deliver_qos1_1000", |b| {
        let now = Instant::now();
        let payload = bytes::Bytes::from_static(&[1u8; 64]);
        b.iter(|| {
            let mut s = connected_server(now);
            let mut out = BytesMut::new();
            for _ in 0..N {
                let m = Message::new("sensors/room1/temp", payload.clone(), QoS::AtLeastOnce);
                s.deliver(now, OutgoingMessage::new(now, m));
            }
            let mut acked = 0;
            while acked < N {
                let mut ids = Vec::new();
                while let Some(p) = s.poll_transmit() {
                    if let Packet::Publish(p) = &p {
                        ids.extend(p.packet_id);
                    }
                    p.encode(ProtocolVersion::V5, &mut out).expect("encode");
                }
                for id in ids {
                    s.handle_packet(now, Packet::PubAck(PubResp::new(id)))
                        .expect("ack");
                    acked += 1;
                }
            }
            black_box(out.len())
        })
    });
    g.throughput(Throughput::Elements(100));
    g.bench_function("client_server_qos2_100", |b| {
        let now = Instant::now();
        b.iter(|| {
            let mut client = ClientSession::new(ClientConfig::new("b", ProtocolVersion::V5));
            let mut server = ServerSession::new(now, ServerConfig::default());
            client.connect(now).expect("connect");
            let mut wire = BytesMut::new();
            let (mut sent, mut done) = (0, 0);
            while done < 100 {
                client.encode_transmits(&mut wire).expect("c");
                server.handle_bytes(now, &wire.split()).expect("s");
                while let Some(e) = server.poll_event() {
                    match e {
                        ServerEvent::Connect(_) => {
                            server.accept(now, AcceptParams::new()).expect("accept")
                        }
                        ServerEvent::Publish { ack: Some(a), .. } => {
                            server.ack_publish(a, ReasonCode::Success).expect("ack")
                        }
                        _ => {}
                    }
                }
                server.encode_transmits(&mut wire).expect("s");
                client.handle_bytes(now, &wire.split()).expect("c");
                while let Some(e) = client.poll_event() {
                    if let ClientEvent::Delivered(_) = e {
                        done += 1;
                    }
                }
                while client.is_connected() && sent < 100 {
                    let m = Message::new("t", "payload", QoS::ExactlyOnce);
                    if client.publish(now, m).is_err() {
                        break;
                    }
                    sent += 1;
                }
            }
            black_box(done)
        })
    });
    g.finish();
}

criterion_group!(benches, inbound_qos1);
criterion_main!(benches);
