//! Authentication and authorisation: a password file written by Debian's
//! `mosquitto_passwd` and an ACL file in Mosquitto's format, both used unchanged; CHECKLIST
//! items 19 (ACL at SUBSCRIBE, publish and delivery; `%c`/`%u` never widened; empty ACL
//! denies all; 0x87 for MQTT 5), 20 (failures rate-limited) and 21 (malformed lines are
//! startup errors naming the line); MQTT 5 enhanced authentication with SCRAM.

mod common;
mod pki;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use common::*;
use petrel_auth::{ScramClient, ScramCredential, ScramMechanism, ScramStore};
use petrel_broker::{Broker, Mqtt3PublishDenied};
use petrel_codec::{Auth, ConnAck, Packet, Properties, Property, ProtocolVersion, QoS, ReasonCode};

const V5: ProtocolVersion = ProtocolVersion::V5;
const V3: ProtocolVersion = ProtocolVersion::V3_1_1;

/// A password file made by `mosquitto_passwd -c -b` (then `-b` for more users).
fn mosquitto_passwd(users: &[(&str, &str)]) -> PathBuf {
    let dir = pki::scratch_dir("passwd");
    let path = dir.join("passwd");
    for (i, (user, pass)) in users.iter().enumerate() {
        let mut cmd = Command::new("mosquitto_passwd");
        if i == 0 {
            cmd.arg("-c");
        }
        let out = cmd
            .args(["-b", path.to_str().expect("utf-8 path"), user, pass])
            .output()
            .expect("mosquitto_passwd must be installed (apt install mosquitto)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    path
}

fn file(name: &str, text: &str) -> PathBuf {
    pki::write(&pki::scratch_dir("auth"), name, text)
}

async fn login(
    broker: &Broker,
    v: ProtocolVersion,
    id: &str,
    user: Option<&str>,
    pass: Option<&str>,
) -> (Raw, ConnAck) {
    let mut c = connect_packet(v, id);
    c.username = user.map(Into::into);
    c.password = pass.map(|p| p.to_owned().into());
    Raw::connect_with(broker.local_addr(), c).await
}

async fn reason(
    broker: &Broker,
    v: ProtocolVersion,
    user: Option<&str>,
    pass: Option<&str>,
) -> ReasonCode {
    login(broker, v, "auth-test", user, pass).await.1.reason
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_passwd_file_used_unchanged() {
    let passwd = mosquitto_passwd(&[("alice", "wonderland"), ("bob", "builder")]);
    let text = std::fs::read_to_string(&passwd).expect("read");
    assert!(
        text.contains("alice:$7$"),
        "Debian's mosquitto_passwd writes $7$: {text}"
    );
    let broker = start_with(|c| {
        c.auth.password_file = Some(passwd);
        c.auth.max_failures = 100;
    })
    .await;
    for v in [V5, V3] {
        assert_eq!(
            reason(&broker, v, Some("alice"), Some("wonderland")).await,
            ReasonCode::Success
        );
        assert_eq!(
            reason(&broker, v, Some("bob"), Some("builder")).await,
            ReasonCode::Success
        );
        // Wrong password and unknown user look the same: 0x86 (MQTT 3: return code 4).
        assert_eq!(
            reason(&broker, v, Some("alice"), Some("guess")).await,
            ReasonCode::BadUserNameOrPassword
        );
        assert_eq!(
            reason(&broker, v, Some("carol"), Some("wonderland")).await,
            ReasonCode::BadUserNameOrPassword
        );
        assert_eq!(
            reason(&broker, v, Some("alice"), None).await,
            ReasonCode::BadUserNameOrPassword
        );
        // A password file turns anonymous access off: 0x87 (MQTT 3: return code 5).
        assert_eq!(
            reason(&broker, v, None, None).await,
            ReasonCode::NotAuthorized
        );
    }
    // A real client with the same file.
    let port = broker.local_addr().port().to_string();
    let base = [
        "-h",
        "127.0.0.1",
        "-p",
        &port,
        "-t",
        "t",
        "-m",
        "m",
        "-u",
        "alice",
    ];
    let ok = Command::new("mosquitto_pub")
        .args(base)
        .args(["-P", "wonderland"])
        .output()
        .expect("mosquitto_pub");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let bad = Command::new("mosquitto_pub")
        .args(base)
        .args(["-P", "nope"])
        .output()
        .expect("mosquitto_pub");
    assert!(!bad.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_anonymous_can_be_turned_back_on() {
    let passwd = mosquitto_passwd(&[("alice", "wonderland")]);
    let broker = start_with(|c| {
        c.auth.password_file = Some(passwd);
        c.auth.allow_anonymous = Some(true);
    })
    .await;
    assert_eq!(reason(&broker, V5, None, None).await, ReasonCode::Success);
    assert_eq!(
        reason(&broker, V5, Some("alice"), Some("x")).await,
        ReasonCode::BadUserNameOrPassword
    );
}

/// CHECKLIST 21: a malformed line is a startup error naming the file and the line.
#[tokio::test]
async fn malformed_password_and_acl_lines_are_startup_errors() {
    let passwd = mosquitto_passwd(&[("alice", "wonderland")]);
    let mut text = std::fs::read_to_string(&passwd).expect("read");
    text.push_str("mallory-without-hash\n");
    let bad_passwd = file("passwd", &text);
    let mut c = test_config();
    c.auth.password_file = Some(bad_passwd);
    let err = Broker::start(c)
        .await
        .expect_err("bad password file")
        .to_string();
    assert!(
        err.contains("password_file") && err.contains("line 2"),
        "{err}"
    );

    let bad_acl = file(
        "acl",
        "user alice\ntopic readwrite a/#\ntopic readwrite a/#/b\n",
    );
    let mut c = test_config();
    c.auth.acl_file = Some(bad_acl);
    let err = Broker::start(c)
        .await
        .expect_err("bad ACL file")
        .to_string();
    assert!(err.contains("acl_file") && err.contains("line 3"), "{err}");

    let mut c = test_config();
    c.auth.acl_file = Some(PathBuf::from("/nonexistent/petrel.acl"));
    assert!(Broker::start(c).await.is_err());
}

const ACL: &str = "\
# A Mosquitto ACL file, used unchanged.
user alice
topic readwrite alice/#
topic write inbox/bob

user bob
topic read inbox/bob
topic read alice/public

user admin
topic write users/#

pattern readwrite clients/%c/#
pattern read users/%u/feed
";

fn qos1(topic: &str, id: u16) -> petrel_codec::Publish {
    publish(topic, topic, QoS::AtLeastOnce, id)
}

/// Sends a QoS 1 PUBLISH and returns the PUBACK reason.
async fn puback(c: &mut Raw, topic: &str, id: u16) -> ReasonCode {
    c.send(&Packet::Publish(qos1(topic, id))).await;
    match c.recv().await {
        Some(Packet::PubAck(a)) => a.reason,
        other => panic!("expected PUBACK, got {other:?}"),
    }
}

async fn suback(c: &mut Raw, filter: &str) -> ReasonCode {
    c.subscribe(filter, QoS::AtLeastOnce).await.reasons[0]
}

/// CHECKLIST 19: the ACL is checked at SUBSCRIBE, at PUBLISH and at each delivery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_checked_at_subscribe_publish_and_delivery() {
    let broker = start_with(|c| c.auth.acl_file = Some(file("acl", ACL))).await;
    let (mut alice, _) = login(&broker, V5, "alice-1", Some("alice"), None).await;
    let (mut bob, _) = login(&broker, V5, "bob-1", Some("bob"), None).await;
    // alice may write inbox/bob but not read it: SUBACK 0x87.
    assert_eq!(
        suback(&mut alice, "inbox/bob").await,
        ReasonCode::NotAuthorized
    );
    // bob may subscribe to `#` (he can read part of it) but receives only what he may read.
    assert_eq!(suback(&mut bob, "#").await, ReasonCode::GrantedQoS1);
    assert_eq!(
        puback(&mut alice, "inbox/bob", 1).await,
        ReasonCode::Success
    );
    assert_eq!(
        puback(&mut alice, "alice/private", 2).await,
        ReasonCode::Success
    );
    assert_eq!(
        puback(&mut alice, "alice/public", 3).await,
        ReasonCode::Success
    );
    // Unauthorised publish: 0x87 in the PUBACK (MQTT 5), and nothing is routed.
    assert_eq!(
        puback(&mut alice, "bob/anything", 4).await,
        ReasonCode::NotAuthorized
    );
    let got: Vec<String> = [bob.next_publish().await, bob.next_publish().await]
        .into_iter()
        .map(|p| p.expect("delivery").topic.to_string())
        .collect();
    assert_eq!(
        got,
        ["inbox/bob", "alice/public"],
        "alice/private must not be delivered to bob"
    );
    bob.expect_silence(std::time::Duration::from_millis(200))
        .await;

    // MQTT 3.1.1: SUBACK 0x80; an unauthorised publish is acknowledged and dropped.
    let (mut old, _) = login(&broker, V3, "alice-3", Some("alice"), None).await;
    assert_eq!(
        suback(&mut old, "inbox/bob").await,
        ReasonCode::UnspecifiedError
    );
    assert_eq!(
        puback(&mut old, "inbox/bob/x", 5).await,
        ReasonCode::Success
    );
    assert_eq!(puback(&mut old, "inbox/bob", 6).await, ReasonCode::Success);
    let p = bob
        .next_publish()
        .await
        .expect("allowed v3 publish delivered");
    assert_eq!(&*p.topic, "inbox/bob");
}

/// CHECKLIST 19: `+`, `#` or `/` in a client id or user name never widen `%c`/`%u`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsafe_ids_never_widen_pattern_acls() {
    let broker = start_with(|c| c.auth.acl_file = Some(file("acl", ACL))).await;
    let (mut dev, _) = login(&broker, V5, "dev1", None, None).await;
    assert_eq!(
        puback(&mut dev, "clients/dev1/status", 1).await,
        ReasonCode::Success
    );
    assert_eq!(
        suback(&mut dev, "clients/dev1/#").await,
        ReasonCode::GrantedQoS1
    );
    assert_eq!(
        puback(&mut dev, "clients/dev2/status", 2).await,
        ReasonCode::NotAuthorized
    );
    for id in ["+", "#"] {
        let (mut c, _) = login(&broker, V5, id, None, None).await;
        assert_eq!(
            suback(&mut c, "clients/+/#").await,
            ReasonCode::NotAuthorized,
            "client id {id}"
        );
        assert_eq!(
            suback(&mut c, "clients/#").await,
            ReasonCode::NotAuthorized,
            "client id {id}"
        );
    }
    let (mut slash, _) = login(&broker, V5, "dev1/x", None, None).await;
    assert_eq!(
        puback(&mut slash, "clients/dev1/x/status", 1).await,
        ReasonCode::NotAuthorized
    );
    assert_eq!(
        suback(&mut slash, "clients/dev1/#").await,
        ReasonCode::NotAuthorized
    );
    let (mut plus_user, _) = login(&broker, V5, "u1", Some("+"), None).await;
    assert_eq!(
        suback(&mut plus_user, "users/+/feed").await,
        ReasonCode::NotAuthorized
    );
    let (mut carol, _) = login(&broker, V5, "u2", Some("carol"), None).await;
    assert_eq!(
        suback(&mut carol, "users/carol/feed").await,
        ReasonCode::GrantedQoS1
    );
    // A wildcard that also covers others' feeds is granted (Mosquitto's rule: it can
    // receive something), but only carol's own feed is delivered.
    assert_eq!(
        suback(&mut carol, "users/+/feed").await,
        ReasonCode::GrantedQoS1
    );
    let (mut admin, _) = login(&broker, V5, "admin-1", Some("admin"), None).await;
    assert_eq!(
        puback(&mut admin, "users/dave/feed", 1).await,
        ReasonCode::Success
    );
    assert_eq!(
        puback(&mut admin, "users/carol/feed", 2).await,
        ReasonCode::Success
    );
    let p = carol.next_publish().await.expect("own feed");
    assert_eq!(&*p.topic, "users/carol/feed");
}

/// CHECKLIST 19: an empty ACL file denies everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_acl_file_denies_all() {
    let broker = start_with(|c| c.auth.acl_file = Some(file("acl", "# nothing\n"))).await;
    let (mut c, _) = login(&broker, V5, "c1", Some("alice"), None).await;
    assert_eq!(suback(&mut c, "a").await, ReasonCode::NotAuthorized);
    assert_eq!(suback(&mut c, "#").await, ReasonCode::NotAuthorized);
    assert_eq!(puback(&mut c, "a", 1).await, ReasonCode::NotAuthorized);
    let (mut c3, _) = login(&broker, V3, "c3", None, None).await;
    assert_eq!(suback(&mut c3, "a").await, ReasonCode::UnspecifiedError);
}

/// CHECKLIST 19: MQTT 3 unauthorised publish closes the connection when so configured.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt3_unauthorised_publish_can_disconnect() {
    let broker = start_with(|c| {
        c.auth.acl_file = Some(file("acl", ACL));
        c.auth.mqtt3_publish_denied = Mqtt3PublishDenied::Disconnect;
    })
    .await;
    let (mut c, _) = login(&broker, V3, "alice-3", Some("alice"), None).await;
    assert_eq!(puback(&mut c, "alice/ok", 1).await, ReasonCode::Success);
    c.send(&Packet::Publish(qos1("bob/x", 2))).await;
    assert_eq!(c.expect_closed().await, None);
    // MQTT 5 still gets 0x87 and stays connected.
    let (mut c5, _) = login(&broker, V5, "alice-5", Some("alice"), None).await;
    assert_eq!(puback(&mut c5, "bob/x", 1).await, ReasonCode::NotAuthorized);
    c5.sync().await;
}

/// CHECKLIST 20: failures are rate-limited; a blocked source is refused even with the
/// right password, without a password check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_rate_limited() {
    let passwd = mosquitto_passwd(&[("alice", "wonderland"), ("bob", "builder")]);
    let broker = start_with(|c| {
        c.auth.password_file = Some(passwd);
        c.auth.max_failures = 2;
    })
    .await;
    assert_eq!(
        reason(&broker, V5, Some("alice"), Some("wonderland")).await,
        ReasonCode::Success
    );
    for _ in 0..3 {
        assert_eq!(
            reason(&broker, V5, Some("alice"), Some("guess")).await,
            ReasonCode::BadUserNameOrPassword
        );
    }
    // Blocked: per user name and per source address.
    assert_eq!(
        reason(&broker, V5, Some("alice"), Some("wonderland")).await,
        ReasonCode::BadUserNameOrPassword
    );
    assert_eq!(
        reason(&broker, V3, Some("bob"), Some("builder")).await,
        ReasonCode::BadUserNameOrPassword
    );
    assert!(broker.metrics().connections_refused >= 2);
}

fn scram_file() -> PathBuf {
    let mut store = ScramStore::new();
    for m in [ScramMechanism::Sha256, ScramMechanism::Sha512] {
        store.insert("alice", ScramCredential::generate(m, b"wonderland", 4096));
    }
    file("scram", &store.to_text())
}

fn auth_props(method: &str, data: &[u8]) -> Properties {
    Properties::new()
        .with(Property::AuthenticationMethod(method.into()))
        .with(Property::AuthenticationData(data.to_vec().into()))
}

/// Runs a SCRAM exchange over AUTH packets (MQTT 5 section 4.12); returns the CONNACK.
async fn scram_login(broker: &Broker, mechanism: ScramMechanism, password: &[u8]) -> ConnAck {
    scram_session(broker, mechanism, password).await.1
}

/// Sends AUTH with `reason` and the method's data.
async fn send_auth(raw: &mut Raw, reason: ReasonCode, method: &str, data: &[u8]) {
    raw.send(&Packet::Auth(Auth {
        reason,
        properties: auth_props(method, data),
    }))
    .await;
}

/// Like [`scram_login`], also returning the connection.
async fn scram_session(
    broker: &Broker,
    mechanism: ScramMechanism,
    password: &[u8],
) -> (Raw, ConnAck) {
    let mut client = ScramClient::new(mechanism, "alice", password);
    let mut c = connect_packet(V5, "scram-client");
    c.properties = auth_props(mechanism.name(), client.client_first().as_bytes());
    let mut raw = Raw::open(broker.local_addr(), V5).await;
    raw.send(&Packet::Connect(Box::new(c))).await;
    let server_first = match raw.recv().await {
        Some(Packet::Auth(a)) => {
            assert_eq!(a.reason, ReasonCode::ContinueAuthentication);
            assert_eq!(
                a.properties.authentication_method().as_deref(),
                Some(mechanism.name())
            );
            a.properties.authentication_data().expect("server-first")
        }
        other => panic!("expected AUTH, got {other:?}"),
    };
    let client_final = client
        .handle_server_first(&server_first)
        .expect("server-first");
    raw.send(&Packet::Auth(Auth {
        reason: ReasonCode::ContinueAuthentication,
        properties: auth_props(mechanism.name(), client_final.as_bytes()),
    }))
    .await;
    let ack = match raw.recv().await {
        Some(Packet::ConnAck(a)) => a,
        other => panic!("expected CONNACK, got {other:?}"),
    };
    if ack.reason == ReasonCode::Success {
        let server_final = ack.properties.authentication_data().expect("server-final");
        client
            .handle_server_final(&server_final)
            .expect("the server proves it knows the key");
        raw.sync().await;
    }
    (raw, ack)
}

/// One re-authentication exchange (AUTH 0x19, 0x18, then AUTH 0x00 or DISCONNECT).
async fn reauthenticate(raw: &mut Raw, password: &[u8]) -> Option<ReasonCode> {
    let m = ScramMechanism::Sha256;
    let mut client = ScramClient::new(m, "alice", password);
    send_auth(
        raw,
        ReasonCode::ReAuthenticate,
        m.name(),
        client.client_first().as_bytes(),
    )
    .await;
    let server_first = match raw.recv().await {
        Some(Packet::Auth(a)) if a.reason == ReasonCode::ContinueAuthentication => {
            a.properties.authentication_data().expect("server-first")
        }
        other => panic!("expected AUTH 0x18, got {other:?}"),
    };
    let client_final = client
        .handle_server_first(&server_first)
        .expect("server-first");
    send_auth(
        raw,
        ReasonCode::ContinueAuthentication,
        m.name(),
        client_final.as_bytes(),
    )
    .await;
    match raw.recv().await {
        Some(Packet::Auth(a)) => {
            assert_eq!(a.reason, ReasonCode::Success);
            let server_final = a.properties.authentication_data().expect("server-final");
            client
                .handle_server_final(&server_final)
                .expect("server proof");
            Some(a.reason)
        }
        Some(Packet::Disconnect(d)) => Some(d.reason),
        other => panic!("expected AUTH or DISCONNECT, got {other:?}"),
    }
}

/// MQTT 5 section 4.12.1: re-authentication with the CONNECT's method; a failure closes
/// with DISCONNECT 0x87; AUTH without enhanced authentication is a protocol error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scram_re_authentication() {
    let broker = start_with(|c| {
        c.auth.scram_file = Some(scram_file());
        // The exchange (client-side PBKDF2 in a debug build) must fit the connect timeout.
        c.limits.connect_timeout_secs = 10;
        c.auth.allow_anonymous = Some(true);
    })
    .await;
    let (mut raw, ack) = scram_session(&broker, ScramMechanism::Sha256, b"wonderland").await;
    assert_eq!(ack.reason, ReasonCode::Success);
    assert_eq!(
        reauthenticate(&mut raw, b"wonderland").await,
        Some(ReasonCode::Success)
    );
    raw.sync().await;
    assert_eq!(
        reauthenticate(&mut raw, b"guess").await,
        Some(ReasonCode::NotAuthorized)
    );
    raw.expect_closed().await;
    // A different method than at CONNECT: protocol error (MQTT-4.12.1-1).
    let (mut raw, _) = scram_session(&broker, ScramMechanism::Sha256, b"wonderland").await;
    send_auth(
        &mut raw,
        ReasonCode::ReAuthenticate,
        "SCRAM-SHA-512",
        b"n,,n=alice,r=x",
    )
    .await;
    assert_eq!(raw.expect_closed().await, Some(ReasonCode::ProtocolError));
    // No method at CONNECT: AUTH is a protocol error (MQTT-4.12.0-1).
    let (mut anon, _) = login(&broker, V5, "anon", None, None).await;
    send_auth(&mut anon, ReasonCode::ReAuthenticate, "SCRAM-SHA-256", b"x").await;
    assert_eq!(anon.expect_closed().await, Some(ReasonCode::ProtocolError));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scram_enhanced_authentication() {
    let broker = start_with(|c| {
        c.auth.scram_file = Some(scram_file());
        // The exchange (client-side PBKDF2 in a debug build) must fit the connect timeout.
        c.limits.connect_timeout_secs = 10;
        c.auth.max_failures = 100;
    })
    .await;
    for m in [ScramMechanism::Sha256, ScramMechanism::Sha512] {
        assert_eq!(
            scram_login(&broker, m, b"wonderland").await.reason,
            ReasonCode::Success
        );
        assert_eq!(
            scram_login(&broker, m, b"guess").await.reason,
            ReasonCode::BadUserNameOrPassword
        );
    }
    // An unknown method: 0x8C.
    let mut c = connect_packet(V5, "plain");
    c.properties = auth_props("PLAIN", b"x");
    let (_, ack) = Raw::connect_with(broker.local_addr(), c).await;
    assert_eq!(ack.reason, ReasonCode::BadAuthenticationMethod);
    // Enhanced authentication configured: anonymous access is off, and a plain user
    // name and password cannot bypass the exchange.
    assert_eq!(
        reason(&broker, V5, None, None).await,
        ReasonCode::NotAuthorized
    );
    assert_eq!(
        reason(&broker, V5, Some("alice"), Some("wonderland")).await,
        ReasonCode::BadUserNameOrPassword
    );
}

/// The pluggable seam: a user's own authenticator replaces the files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_authenticator_through_security() {
    struct OkPrefix;
    impl petrel_auth::Authenticator for OkPrefix {
        fn authenticate(&self, r: &petrel_auth::AuthRequest<'_>) -> petrel_auth::AuthOutcome {
            if r.client_id.starts_with("ok-") {
                petrel_auth::AuthOutcome::Accepted {
                    username: Some("plugged".into()),
                }
            } else {
                petrel_auth::AuthOutcome::NotAuthorized
            }
        }
    }
    let security = petrel_broker::Security::default().with_authenticator(Arc::new(OkPrefix));
    let broker = Broker::start_with_security(
        test_config(),
        Arc::new(petrel_store::MemoryStore::new()),
        security,
    )
    .await
    .expect("start");
    assert_eq!(
        login(&broker, V5, "ok-1", None, None).await.1.reason,
        ReasonCode::Success
    );
    assert_eq!(
        login(&broker, V5, "other", None, None).await.1.reason,
        ReasonCode::NotAuthorized
    );
}

/// Each listener may have its own anonymous-access setting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_access_per_listener() {
    let passwd = mosquitto_passwd(&[("alice", "wonderland")]);
    let broker = start_with(|c| {
        c.auth.password_file = Some(passwd);
        let mut open = c.listeners[0].clone();
        open.allow_anonymous = Some(true);
        c.listeners.push(open);
    })
    .await;
    let addrs = broker.local_addrs().to_vec();
    let anonymous = |addr| async move {
        Raw::connect_with(addr, connect_packet(V5, "anon"))
            .await
            .1
            .reason
    };
    assert_eq!(anonymous(addrs[0]).await, ReasonCode::NotAuthorized);
    assert_eq!(anonymous(addrs[1]).await, ReasonCode::Success);
    // Passwords are still checked on the open listener.
    let mut c = connect_packet(V5, "pw");
    c.username = Some("alice".into());
    c.password = Some("guess".to_owned().into());
    assert_eq!(
        Raw::connect_with(addrs[1], c).await.1.reason,
        ReasonCode::BadUserNameOrPassword
    );
}

/// Peers' regression list: a revoked ACL must not leave existing (durable) subscriptions
/// delivering. The authoriser is consulted at every delivery, so revoking read access
/// stops messages on a subscription made while it was allowed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_read_access_stops_existing_subscriptions() {
    use std::sync::atomic::{AtomicBool, Ordering};
    struct Revocable(AtomicBool);
    impl petrel_auth::Authorizer for Revocable {
        fn authorize(
            &self,
            client: &petrel_auth::ClientInfo<'_>,
            _topic: &str,
            access: petrel_auth::Access,
        ) -> bool {
            access == petrel_auth::Access::Write
                || client.client_id != "reader"
                || !self.0.load(Ordering::Relaxed)
        }
    }
    let authz = Arc::new(Revocable(AtomicBool::new(false)));
    let security = petrel_broker::Security::default().with_authorizer(authz.clone());
    let broker = Broker::start_with_security(
        test_config(),
        Arc::new(petrel_store::MemoryStore::new()),
        security,
    )
    .await
    .expect("start");
    let mut c = connect_packet(V5, "reader");
    c.clean_start = false;
    c.properties = Properties::new().with(Property::SessionExpiryInterval(300));
    let (mut reader, _) = Raw::connect_with(broker.local_addr(), c).await;
    assert_eq!(suback(&mut reader, "news/#").await, ReasonCode::GrantedQoS1);
    let (mut writer, _) = login(&broker, V5, "writer", None, None).await;
    assert_eq!(puback(&mut writer, "news/1", 1).await, ReasonCode::Success);
    assert_eq!(
        &*reader.next_publish().await.expect("allowed").topic,
        "news/1"
    );
    authz.0.store(true, Ordering::Relaxed);
    assert_eq!(puback(&mut writer, "news/2", 2).await, ReasonCode::Success);
    reader
        .expect_silence(std::time::Duration::from_millis(300))
        .await;
    // A new subscription is refused too.
    assert_eq!(
        suback(&mut reader, "other").await,
        ReasonCode::NotAuthorized
    );
}
