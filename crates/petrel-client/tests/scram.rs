//! MQTT 5 enhanced authentication with SCRAM-SHA-256/512 (section 4.12) against the Petrel
//! broker, in process, configured with a SCRAM credential file.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use petrel_auth::{ScramCredential, ScramStore};
use petrel_client::{
    Client, ConnectOptions, Error, Event, Message, QoS, ReasonCode, ReconnectOptions,
    ScramMechanism,
};

const LONG: Duration = Duration::from_secs(20);

/// A SCRAM file with user `alice` / `wonderland` for both mechanisms.
fn scram_file() -> PathBuf {
    let mut store = ScramStore::new();
    for m in [ScramMechanism::Sha256, ScramMechanism::Sha512] {
        store.insert("alice", ScramCredential::generate(m, b"wonderland", 4096));
    }
    let path = common::scratch_dir("scram").join("scram");
    std::fs::write(&path, store.to_text()).expect("write the SCRAM file");
    path
}

async fn scram_broker(port: u16, file: PathBuf) -> petrel_broker::Broker {
    let mut c = petrel_broker::Config::default();
    c.listeners = vec![petrel_broker::ListenerConfig::new(SocketAddr::from((
        [127, 0, 0, 1],
        port,
    )))];
    c.auth.scram_file = Some(file);
    // Client-side PBKDF2 in a debug build must fit the connect timeout.
    c.limits.connect_timeout_secs = 10;
    c.auth.max_failures = 100;
    petrel_broker::Broker::start(c)
        .await
        .expect("broker starts")
}

fn opts(addr: SocketAddr, m: ScramMechanism, password: &'static [u8]) -> ConnectOptions {
    ConnectOptions::new(addr.ip().to_string(), addr.port())
        .scram(m, "alice", password)
        .reconnect(ReconnectOptions::backoff(
            Duration::from_millis(50),
            Duration::from_millis(400),
        ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scram_sha256_and_sha512_connect_and_exchange_messages() {
    let broker = scram_broker(0, scram_file()).await;
    for m in [ScramMechanism::Sha256, ScramMechanism::Sha512] {
        let client = tokio::time::timeout(
            LONG,
            Client::connect(opts(broker.local_addr(), m, b"wonderland")),
        )
        .await
        .expect("in time")
        .unwrap_or_else(|e| panic!("{m:?}: {e}"));
        let topic = format!("scram/{}", m.name());
        let mut sub = client
            .subscribe(topic.as_str(), QoS::AtLeastOnce)
            .await
            .expect("subscribe");
        client
            .publish_message(Message::new(topic.as_str(), "hello", QoS::AtLeastOnce))
            .await
            .expect("publish");
        let got = tokio::time::timeout(LONG, sub.recv())
            .await
            .expect("in time")
            .expect("message");
        assert_eq!(&got.payload[..], b"hello");
        client.disconnect().await.expect("disconnect");
    }
    broker.shutdown(Duration::from_millis(200)).await;
}

/// A wrong password: the server refuses the CONNECT with an authentication failure
/// (0x86 Bad User Name or Password, or 0x87 Not Authorized; MQTT-4.12.0-4 ends the
/// connection on a failed exchange).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scram_wrong_password_fails_the_connect() {
    let broker = scram_broker(0, scram_file()).await;
    for m in [ScramMechanism::Sha256, ScramMechanism::Sha512] {
        let o = opts(broker.local_addr(), m, b"guess").reconnect(ReconnectOptions::disabled());
        let err = tokio::time::timeout(LONG, Client::connect(o))
            .await
            .expect("in time")
            .expect_err("wrong password must fail");
        assert!(
            matches!(
                err,
                Error::Refused(ReasonCode::BadUserNameOrPassword | ReasonCode::NotAuthorized)
            ),
            "{m:?}: {err:?}"
        );
    }
    broker.shutdown(Duration::from_millis(200)).await;
}

/// The broker restarts: the client runs a new exchange (fresh nonce) on the reconnect and
/// works again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scram_runs_again_on_reconnect() {
    let file = scram_file();
    let broker = scram_broker(0, file.clone()).await;
    let addr = broker.local_addr();
    let client = Client::connect(opts(addr, ScramMechanism::Sha256, b"wonderland"))
        .await
        .expect("connect");
    let mut events = client.events();
    broker.shutdown(Duration::from_millis(200)).await;
    let broker = scram_broker(addr.port(), file).await;
    let reconnected = tokio::time::timeout(LONG, async {
        loop {
            match events.recv().await {
                Some(Event::Connected { .. }) => break true,
                Some(_) => {}
                None => break false,
            }
        }
    })
    .await
    .expect("reconnect in time");
    assert!(reconnected);
    let mut sub = client
        .subscribe("scram/again", QoS::AtMostOnce)
        .await
        .expect("subscribe after reconnect");
    client
        .publish_message(Message::new("scram/again", "x", QoS::AtLeastOnce))
        .await
        .expect("publish after reconnect");
    assert!(tokio::time::timeout(LONG, sub.recv())
        .await
        .expect("in time")
        .is_some());
    client.disconnect().await.expect("disconnect");
    broker.shutdown(Duration::from_millis(200)).await;
}
