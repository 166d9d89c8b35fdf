//! petrel-codec against rumqttc's `mqttbytes` codecs: decode and encode of PUBLISH (16 B,
//! 1 KiB, 64 KiB payloads; MQTT 3.1.1 and MQTT 5 with a few properties), CONNECT with a
//! will and properties, and SUBSCRIBE with 10 filters. Each group reports throughput in
//! bytes of encoded packet; both codecs handle the very same bytes. `petrel/encode_trusted`
//! skips the content checks `petrel/encode` makes (rumqttc makes none).

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use petrel_codec::{
    decode, Connect, Packet, PacketId, Properties, Property, ProtocolVersion, Publish, QoS,
    Subscribe, SubscriptionOptions, Will,
};
use rumqttc::mqttbytes::v4 as rv4;
use rumqttc::v5::mqttbytes::v5 as rv5;

const V4: ProtocolVersion = ProtocolVersion::V3_1_1;
const V5: ProtocolVersion = ProtocolVersion::V5;

fn id(v: u16) -> PacketId {
    PacketId::new(v).expect("non-zero")
}

fn publish(payload: usize, v5: bool) -> Packet {
    let properties = if v5 {
        Properties(vec![
            Property::MessageExpiryInterval(3600),
            Property::ContentType("application/json".into()),
            Property::UserProperty("trace".into(), "4bf92f3577b34da6".into()),
        ])
    } else {
        Properties::new()
    };
    Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic: "site/7/building/3/floor/2/sensor/temperature".into(),
        packet_id: Some(id(42)),
        properties,
        payload: Bytes::from(vec![0xA5; payload]),
    })
}

fn connect(v: ProtocolVersion) -> Packet {
    let v5 = v.is_v5();
    let (properties, will_properties) = if v5 {
        (
            Properties(vec![
                Property::SessionExpiryInterval(3600),
                Property::ReceiveMaximum(100),
                Property::MaximumPacketSize(1 << 20),
                Property::UserProperty("region".into(), "eu-west".into()),
            ]),
            Properties(vec![
                Property::WillDelayInterval(30),
                Property::MessageExpiryInterval(60),
            ]),
        )
    } else {
        (Properties::new(), Properties::new())
    };
    Packet::Connect(Box::new(Connect {
        protocol: v,
        clean_start: true,
        keep_alive: 60,
        client_id: "petrel-bench-client-0001".into(),
        will: Some(Will {
            topic: "clients/petrel-bench-client-0001/status".into(),
            payload: Bytes::from_static(b"offline"),
            qos: QoS::AtLeastOnce,
            retain: true,
            properties: will_properties,
        }),
        username: Some("bench-user".into()),
        password: Some(Bytes::from_static(b"correct horse battery staple")),
        properties,
    }))
}

fn subscribe(v: ProtocolVersion) -> Packet {
    let properties = if v.is_v5() {
        Properties(vec![Property::SubscriptionIdentifier(12)])
    } else {
        Properties::new()
    };
    let filters = (0..10)
        .map(|i| {
            let opts = SubscriptionOptions {
                qos: QoS::AtLeastOnce,
                ..Default::default()
            };
            (format!("site/{i}/building/+/floor/+/sensor/#").into(), opts)
        })
        .collect();
    Packet::Subscribe(Subscribe {
        packet_id: id(7),
        filters,
        properties,
    })
}

fn bytes_of(p: &Packet, v: ProtocolVersion) -> BytesMut {
    let mut buf = BytesMut::new();
    p.encode(v, &mut buf).expect("bench packets are valid");
    buf
}

/// Benchmarks one packet in one group: decode and encode, Petrel and rumqttc.
fn case(c: &mut Criterion, group: &str, p: &Packet, v: ProtocolVersion) {
    let wire = bytes_of(p, v);
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Bytes(wire.len() as u64));
    let max = u32::MAX;

    g.bench_function("petrel/decode", |b| {
        b.iter_batched_ref(
            || wire.clone(),
            |buf| black_box(decode(buf, v, max).expect("decodes")),
            BatchSize::SmallInput,
        )
    });
    let mut out = BytesMut::with_capacity(wire.len());
    g.bench_function("petrel/encode", |b| {
        b.iter(|| {
            out.clear();
            black_box(p).encode(v, &mut out).expect("encodes");
            black_box(&out);
        })
    });
    // What a broker or client writes for packets it built from decoded, checked parts.
    g.bench_function("petrel/encode_trusted", |b| {
        b.iter(|| {
            out.clear();
            black_box(p).encode_trusted(v, &mut out).expect("encodes");
            black_box(&out);
        })
    });

    if v.is_v5() {
        let theirs = rv5::Packet::read(&mut wire.clone(), None).expect("rumqttc v5 reads");
        g.bench_function("rumqttc/decode", |b| {
            b.iter_batched_ref(
                || wire.clone(),
                |buf| black_box(rv5::Packet::read(buf, None).expect("decodes")),
                BatchSize::SmallInput,
            )
        });
        g.bench_function("rumqttc/encode", |b| {
            b.iter(|| {
                out.clear();
                black_box(&theirs).write(&mut out, None).expect("encodes");
                black_box(&out);
            })
        });
    } else {
        let theirs = rv4::Packet::read(&mut wire.clone(), usize::MAX).expect("rumqttc reads");
        g.bench_function("rumqttc/decode", |b| {
            b.iter_batched_ref(
                || wire.clone(),
                |buf| black_box(rv4::Packet::read(buf, usize::MAX).expect("decodes")),
                BatchSize::SmallInput,
            )
        });
        g.bench_function("rumqttc/encode", |b| {
            b.iter(|| {
                out.clear();
                black_box(&theirs)
                    .write(&mut out, usize::MAX)
                    .expect("encodes");
                black_box(&out);
            })
        });
    }
    g.finish();
}

fn codec(c: &mut Criterion) {
    for (name, size) in [("16B", 16), ("1KiB", 1024), ("64KiB", 64 * 1024)] {
        case(
            c,
            &format!("publish_{name}_v311"),
            &publish(size, false),
            V4,
        );
        case(c, &format!("publish_{name}_v5"), &publish(size, true), V5);
    }
    case(c, "connect_will_v311", &connect(V4), V4);
    case(c, "connect_will_props_v5", &connect(V5), V5);
    case(c, "subscribe_10_v311", &subscribe(V4), V4);
    case(c, "subscribe_10_v5", &subscribe(V5), V5);
}

criterion_group!(benches, codec);
criterion_main!(benches);
