//! Issue 9 at the broker level, on the SQLite store: restarts restore sessions, queued and
//! in-flight messages (QoS 2 resumes with PUBREL, never a second PUBLISH) and retained
//! messages; a failing store stops QoS 1/2 acknowledgements (0x97 for MQTT 5, a closed
//! connection for MQTT 3) while QoS 0 keeps flowing, and acknowledgements resume when
//! the store recovers.

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::{connect_packet, publish, test_config, Raw};
use petrel_broker::Broker;
use petrel_codec::{
    Connect, Disconnect, Packet, Property, ProtocolVersion, PubResp, QoS, ReasonCode,
};
use petrel_store::{SqliteOptions, SqliteStore, StoreError};

const V5: ProtocolVersion = ProtocolVersion::V5;
const V3: ProtocolVersion = ProtocolVersion::V3_1_1;

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("petrel-durability-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Self(dir)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn persistent(version: ProtocolVersion, id: &str) -> Connect {
    let mut c = connect_packet(version, id);
    c.clean_start = false;
    if version.is_v5() {
        c.properties.set(Property::SessionExpiryInterval(3600));
    }
    c
}

async fn start(dir: &Dir) -> (Broker, Arc<SqliteStore>) {
    let store = Arc::new(SqliteStore::open(&dir.0, SqliteOptions::default()).expect("open store"));
    let broker = Broker::start_with_store(test_config(), store.clone())
        .await
        .expect("broker starts");
    (broker, store)
}

async fn stop(broker: Broker, store: Arc<SqliteStore>) {
    broker.shutdown(Duration::from_secs(2)).await;
    // Release the database file so that the next broker can open it.
    store.close();
}

async fn disconnect(c: &mut Raw) {
    c.send(&Packet::Disconnect(Disconnect::default())).await;
    c.expect_closed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_restores_sessions_queues_in_flight_and_retained() {
    let dir = Dir::new("restart");
    let (broker, store) = start(&dir).await;
    let addr = broker.local_addr();
    let (mut s, ack) = Raw::connect_with(addr, persistent(V5, "durable")).await;
    assert!(!ack.session_present);
    s.subscribe("d/#", QoS::ExactlyOnce).await;
    let mut p = Raw::connect(addr, V5, "pub").await;
    // In flight at QoS 1 (never acknowledged) and QoS 2 past PUBREC (PUBREL sent).
    p.publish(publish("d/1", "one", QoS::AtLeastOnce, 1)).await;
    let first = match s.recv().await {
        Some(Packet::Publish(m)) => m,
        other => panic!("expected PUBLISH, got {other:?}"),
    };
    assert_eq!(&first.payload[..], b"one");
    p.publish(publish("d/2", "two", QoS::ExactlyOnce, 2)).await;
    let second = match s.recv().await {
        Some(Packet::Publish(m)) => m,
        other => panic!("expected PUBLISH, got {other:?}"),
    };
    let second_id = second.packet_id.expect("QoS 2 id");
    s.send(&Packet::PubRec(PubResp::new(second_id))).await;
    match s.recv().await {
        Some(Packet::PubRel(r)) => assert_eq!(r.packet_id, second_id),
        other => panic!("expected PUBREL, got {other:?}"),
    }
    disconnect(&mut s).await;
    // Queued while offline, and a retained message.
    p.publish(publish("d/3", "three", QoS::AtLeastOnce, 3))
        .await;
    let mut retained = publish("r/x", "kept", QoS::AtLeastOnce, 4);
    retained.retain = true;
    p.publish(retained).await;
    disconnect(&mut p).await;
    stop(broker, store).await;

    let (broker, store) = start(&dir).await;
    assert_eq!(broker.retained_count(), 1);
    let (mut s, ack) = Raw::connect_with(broker.local_addr(), persistent(V5, "durable")).await;
    assert!(ack.session_present, "the session survived the restart");
    // MQTT-4.4.0-1: unacknowledged PUBLISH again with DUP, the QoS 2 flow resumes with
    // PUBREL only, then the queued message.
    match s.recv().await {
        Some(Packet::Publish(m)) => {
            assert!(m.dup);
            assert_eq!(m.packet_id, first.packet_id);
            assert_eq!(&m.payload[..], b"one");
            s.send(&Packet::PubAck(PubResp::new(m.packet_id.expect("id"))))
                .await;
        }
        other => panic!("expected the in-flight PUBLISH again, got {other:?}"),
    }
    match s.recv().await {
        Some(Packet::PubRel(r)) => {
            assert_eq!(r.packet_id, second_id);
            s.send(&Packet::PubComp(PubResp::new(second_id))).await;
        }
        other => panic!("expected PUBREL (never the QoS 2 PUBLISH twice), got {other:?}"),
    }
    let third = s.next_publish().await.expect("queued message");
    assert_eq!(&third.payload[..], b"three");
    s.expect_silence(Duration::from_millis(300)).await;
    // Subscriptions survived too: a new message is routed to the session.
    let mut p = Raw::connect(broker.local_addr(), V5, "pub2").await;
    p.publish(publish("d/4", "four", QoS::AtLeastOnce, 1)).await;
    assert_eq!(&s.next_publish().await.expect("live").payload[..], b"four");
    disconnect(&mut s).await;
    stop(broker, store).await;

    // Everything acknowledged is gone from the store after a third start.
    let (broker, store) = start(&dir).await;
    let (mut s, ack) = Raw::connect_with(broker.local_addr(), persistent(V5, "durable")).await;
    assert!(ack.session_present);
    s.expect_silence(Duration::from_millis(300)).await;
    stop(broker, store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_store_refuses_acks_keeps_qos0_and_recovers() {
    let dir = Dir::new("full");
    let (broker, store) = start(&dir).await;
    let addr = broker.local_addr();
    let (mut s, _) = Raw::connect_with(addr, persistent(V5, "sub")).await;
    s.subscribe("f/#", QoS::AtLeastOnce).await;
    let mut p = Raw::connect(addr, V5, "pub").await;
    let fault = store.fault_switch();
    fault.fail_with(StoreError::Full);

    // MQTT 5: PUBACK 0x97 (Quota exceeded), and the message is not delivered.
    p.send(&Packet::Publish(publish(
        "f/1",
        "refused",
        QoS::AtLeastOnce,
        1,
    )))
    .await;
    match p.recv().await {
        Some(Packet::PubAck(a)) => assert_eq!(a.reason, ReasonCode::QuotaExceeded),
        other => panic!("expected PUBACK 0x97, got {other:?}"),
    }
    // QoS 0 is not stored and keeps flowing.
    p.publish(publish("f/0", "qos0", QoS::AtMostOnce, 0)).await;
    let m = s.next_publish().await.expect("QoS 0 delivered");
    assert_eq!(&m.payload[..], b"qos0");
    // MQTT 3 cannot refuse: the connection is closed instead of acknowledging.
    let mut p3 = Raw::connect(addr, V3, "pub3").await;
    p3.send(&Packet::Publish(publish("f/3", "v3", QoS::AtLeastOnce, 1)))
        .await;
    p3.expect_closed().await;

    // Space returns: acknowledgements and deliveries resume.
    fault.clear();
    p.publish(publish("f/2", "stored", QoS::AtLeastOnce, 2))
        .await;
    let m = s.next_publish().await.expect("delivered after recovery");
    assert_eq!(&m.payload[..], b"stored");
    s.expect_silence(Duration::from_millis(200)).await;
    stop(broker, store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_broker_on_the_same_directory_is_refused() {
    let dir = Dir::new("locked");
    let (broker, store) = start(&dir).await;
    match SqliteStore::open(&dir.0, SqliteOptions::default()) {
        Err(StoreError::Io(msg)) => assert!(msg.contains("in use"), "{msg}"),
        other => panic!("expected refusal, got {other:?}"),
    }
    stop(broker, store).await;
}

/// Writes the state a killed broker leaves: a persistent "watcher" subscribed to `w/#`,
/// and the session `dying` with a QoS 1 will on `w/dying` delayed by `delay` seconds.
async fn killed_with_will(dir: &Dir, dying: petrel_store::StoredSession, delay: u32) {
    use petrel_store::{Batch, Op, Store, StoredMessage, StoredSession, StoredSubscription};
    let store = SqliteStore::open(&dir.0, SqliteOptions::default()).expect("open");
    let mut b = Batch::new();
    b.push(Op::PutSession(StoredSession::new("watcher", 3600)));
    b.push(Op::Subscribe {
        client_id: "watcher".into(),
        subscription: StoredSubscription::new(
            "w/#",
            petrel_codec::SubscriptionOptions {
                qos: QoS::AtLeastOnce,
                ..Default::default()
            },
            None,
        ),
    });
    let client_id = dying.client_id.clone();
    b.push(Op::PutSession(dying));
    b.push(Op::SetWill {
        client_id,
        will: petrel_store::StoredWill::new(
            StoredMessage::new("w/dying", "gone", QoS::AtLeastOnce),
            delay,
        ),
    });
    store.commit(b).await.expect("commit");
}

/// Milliseconds since the Unix epoch, as the store records deadlines.
fn wall_ms() -> u64 {
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis();
    u64::try_from(wall).expect("ms")
}

/// Connects the persistent "watcher" and expects the will of `dying` as its next PUBLISH.
async fn watcher_gets_the_will(broker: &Broker, why: &str) -> Raw {
    let (mut s, ack) = Raw::connect_with(broker.local_addr(), persistent(V5, "watcher")).await;
    assert!(ack.session_present, "the watcher's session is restored");
    let m = s.next_publish().await.expect(why);
    assert_eq!(&m.payload[..], b"gone");
    s
}

/// A will stored with a persistent session whose broker died is published after the
/// restart (the client was cut off), and delivered to a persistent subscriber.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_will_is_published_after_a_crash() {
    let dir = Dir::new("will");
    killed_with_will(&dir, petrel_store::StoredSession::new("dying", 3600), 0).await;
    let (broker, store) = start(&dir).await;
    let mut s = watcher_gets_the_will(&broker, "will delivered").await;
    disconnect(&mut s).await;
    stop(broker, store).await;
    // Published once: not again at the next start.
    let (broker, store) = start(&dir).await;
    let (mut s, _) = Raw::connect_with(broker.local_addr(), persistent(V5, "watcher")).await;
    s.expect_silence(Duration::from_millis(300)).await;
    stop(broker, store).await;
}

/// MQTT-3.1.3-9: the will of a client that disconnected before the stop is due when its
/// delay has passed since the disconnect, not a whole delay after the restart. Here the
/// client went 59.5 s before the stop with a 60 s delay: the will comes at once, where a
/// restarted delay would hold it for another minute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_will_keeps_its_deadline_across_a_restart() {
    let dir = Dir::new("will-deadline");
    let mut dying = petrel_store::StoredSession::new("dying", 3600);
    dying.expires_at_ms = Some(wall_ms() + 3_600_000 - 59_500);
    killed_with_will(&dir, dying, 60).await;
    let (broker, store) = start(&dir).await;
    let mut s = watcher_gets_the_will(&broker, "will due before the restart delivered").await;
    disconnect(&mut s).await;
    stop(broker, store).await;
}

/// MQTT-3.1.3-9: the will is published when the session ends, if that is before the will
/// delay. A session that expired while the broker was down publishes its will at start-up
/// and is not restored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn will_of_a_session_that_expired_while_down_is_published_at_start() {
    let dir = Dir::new("will-expired");
    let mut dying = petrel_store::StoredSession::new("dying", 60);
    dying.expires_at_ms = Some(wall_ms() - 1000);
    killed_with_will(&dir, dying, 3600).await;
    let (broker, store) = start(&dir).await;
    let mut s = watcher_gets_the_will(&broker, "will of the ended session delivered").await;
    assert_eq!(
        broker.session_count(),
        1,
        "only the watcher's session is back"
    );
    disconnect(&mut s).await;
    stop(broker, store).await;
}

/// A session that was offline when the broker stopped keeps its deadline across the
/// restart (MQTT-3.1.2-23: it is removed when its expiry interval has passed since the
/// disconnect), instead of getting its whole interval again from the start-up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_session_expires_at_its_stored_deadline_after_a_restart() {
    use petrel_store::{Batch, Op, Store, StoredSession};
    let dir = Dir::new("deadline");
    {
        // Expiry interval one hour, of which all but one second had passed at the stop.
        let store = SqliteStore::open(&dir.0, SqliteOptions::default()).expect("open");
        let mut record = StoredSession::new("sleeper", 3600);
        record.expires_at_ms = Some(wall_ms() + 1000);
        store
            .commit(Batch::from(Op::PutSession(record)))
            .await
            .expect("commit");
    }
    let (broker, store) = start(&dir).await;
    // Within a few seconds (not an hour) the restored session is gone.
    let mut present = true;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if broker.session_count() == 0 {
            present = false;
            break;
        }
    }
    assert!(
        !present,
        "the restored session outlived its stored deadline"
    );
    let (mut c, ack) = Raw::connect_with(broker.local_addr(), persistent(V5, "sleeper")).await;
    assert!(
        !ack.session_present,
        "MQTT-3.1.2-23: the expired session is not resumed"
    );
    disconnect(&mut c).await;
    stop(broker, store).await;
}
