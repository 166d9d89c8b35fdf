//! TLS (rustls, with and without a client certificate), WebSocket and WebSocket over TLS
//! against Mosquitto listeners configured by the test.

mod common;

use std::path::{Path, PathBuf};

use common::scenarios::{opts, LONG};
use common::{scratch_dir, Mosquitto};
use futures_util::{SinkExt, StreamExt};
use petrel_client::{Client, ConnectOptions, ProtocolVersion, QoS, TlsOptions, Transport};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// A CA, a server certificate for `localhost`, and a client certificate, as PEM files.
struct Pki {
    ca: PathBuf,
    server_pem: (String, String),
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write pem");
    p
}

fn pki() -> Pki {
    let dir = scratch_dir("pki");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    // Distinct subjects: a leaf named like its CA would look self-signed to OpenSSL.
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Petrel test CA");
    let ca =
        CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key")).expect("ca");
    let leaf = |names: Vec<String>| {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(names.clone()).expect("params");
        params
            .distinguished_name
            .push(DnType::CommonName, names[0].clone());
        let cert = params.signed_by(&key, &ca).expect("sign");
        (cert.pem(), key.serialize_pem())
    };
    let (sc, sk) = leaf(vec!["localhost".into()]);
    let (cc, ck) = leaf(vec!["petrel-test-client".into()]);
    Pki {
        server_pem: (sc.clone(), sk.clone()),
        ca: write(&dir, "ca.pem", &ca.pem()),
        server_cert: write(&dir, "server.pem", &sc),
        server_key: write(&dir, "server.key", &sk),
        client_cert: write(&dir, "client.pem", &cc),
        client_key: write(&dir, "client.key", &ck),
    }
}

fn tls_conf(p: &Pki, require_cert: bool) -> String {
    format!(
        "cafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate {}\n",
        p.ca.display(),
        p.server_cert.display(),
        p.server_key.display(),
        require_cert
    )
}

fn tls_opts(port: u16, p: &Pki, with_cert: bool, transport: Transport) -> ConnectOptions {
    let mut tls = TlsOptions::default();
    tls.ca_file = Some(p.ca.clone());
    if with_cert {
        tls.cert_file = Some(p.client_cert.clone());
        tls.key_file = Some(p.client_key.clone());
    }
    ConnectOptions::new("localhost", port)
        .transport(transport)
        .tls(tls)
}

async fn roundtrip(client: &Client) {
    let topic = format!("tls/{}", common::scenarios::rand_suffix());
    let mut sub = client
        .subscribe(topic.clone(), QoS::ExactlyOnce)
        .await
        .expect("subscribe");
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        client
            .publish(topic.clone(), "over tls", qos, false)
            .await
            .expect("publish");
        let m = tokio::time::timeout(LONG, sub.recv())
            .await
            .expect("in time")
            .expect("message");
        assert_eq!(&m.payload[..], b"over tls");
    }
}

#[tokio::test]
async fn tls_with_ca_file() {
    let p = pki();
    let broker = Mosquitto::start_with(&tls_conf(&p, false)).await;
    let client = Client::connect(tls_opts(broker.port, &p, false, Transport::Tls))
        .await
        .expect("TLS connect");
    roundtrip(&client).await;
    client.disconnect().await.expect("disconnect");
    // A plain TCP client cannot talk to the TLS listener.
    let plain = opts(broker.addr(), ProtocolVersion::V5);
    assert!(Client::connect(plain).await.is_err());
}

#[tokio::test]
async fn tls_client_certificate_required() {
    let p = pki();
    let broker = Mosquitto::start_with(&tls_conf(&p, true)).await;
    let client = Client::connect(tls_opts(broker.port, &p, true, Transport::Tls))
        .await
        .expect("mutual TLS connect");
    roundtrip(&client).await;
    client.disconnect().await.expect("disconnect");
    let without = Client::connect(tls_opts(broker.port, &p, false, Transport::Tls)).await;
    assert!(without.is_err(), "the broker requires a client certificate");
}

#[tokio::test]
async fn tls_rejects_an_unknown_server() {
    let p = pki();
    let other = pki();
    let broker = Mosquitto::start_with(&tls_conf(&p, false)).await;
    // Trusting another CA: the handshake fails.
    let r = Client::connect(tls_opts(broker.port, &other, false, Transport::Tls)).await;
    assert!(
        matches!(r, Err(petrel_client::Error::Transport(_))),
        "{r:?}"
    );
}

/// Mosquitto's own WebSocket listener does not start on this system, so the test runs a
/// small WebSocket-to-TCP bridge (optionally behind TLS) in front of its TCP listener. It
/// checks that the client asks for the `mqtt` subprotocol and carries MQTT in binary
/// frames.
async fn ws_bridge(target: std::net::SocketAddr, tls: Option<tokio_rustls::TlsAcceptor>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let tls = tls.clone();
            tokio::spawn(async move {
                let stream: Box<dyn petrel_client::ByteStream> = match tls {
                    Some(acceptor) => Box::new(acceptor.accept(tcp).await.expect("tls accept")),
                    None => Box::new(tcp),
                };
                // The callback's error type is tungstenite's, large by design.
                #[allow(clippy::result_large_err)]
                let check = |req: &tokio_tungstenite::tungstenite::handshake::server::Request,
                             mut resp: tokio_tungstenite::tungstenite::handshake::server::Response| {
                    let proto = req.headers().get("Sec-WebSocket-Protocol").cloned();
                    assert_eq!(proto.as_ref().and_then(|v| v.to_str().ok()), Some("mqtt"));
                    if let Some(p) = proto {
                        resp.headers_mut().insert("Sec-WebSocket-Protocol", p);
                    }
                    Ok(resp)
                };
                let ws = tokio_tungstenite::accept_hdr_async(stream, check)
                    .await
                    .expect("ws accept");
                let (mut ws_tx, mut ws_rx) = ws.split();
                let broker = TcpStream::connect(target).await.expect("connect broker");
                let (mut br, mut bw) = broker.into_split();
                let up = async {
                    while let Some(Ok(m)) = ws_rx.next().await {
                        match m {
                            WsMessage::Binary(b) => bw.write_all(&b).await.expect("to broker"),
                            WsMessage::Close(_) => break,
                            WsMessage::Text(_) => panic!("MQTT must travel in binary frames"),
                            _ => {}
                        }
                    }
                };
                let down = async {
                    let mut buf = vec![0u8; 16 * 1024];
                    loop {
                        let n = br.read(&mut buf).await.unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        let frame = WsMessage::binary(buf[..n].to_vec());
                        if ws_tx.send(frame).await.is_err() {
                            break;
                        }
                    }
                };
                tokio::select! {
                    _ = up => {}
                    _ = down => {}
                }
            });
        }
    });
    port
}

fn tls_acceptor(p: &Pki) -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(p.server_pem.0.as_bytes())
            .collect::<Result<_, _>>()
            .expect("certs");
    let key = PrivateKeyDer::from_pem_slice(p.server_pem.1.as_bytes()).expect("key");
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config");
    tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config))
}

#[tokio::test]
async fn websocket() {
    let broker = Mosquitto::start().await;
    let port = ws_bridge(broker.addr(), None).await;
    let url = format!("ws://127.0.0.1:{port}/mqtt");
    let client = Client::connect(ConnectOptions::from_url(&url).expect("url"))
        .await
        .expect("ws");
    roundtrip(&client).await;
    client.disconnect().await.expect("disconnect");
}

#[tokio::test]
async fn websocket_over_tls() {
    let p = pki();
    let broker = Mosquitto::start().await;
    let port = ws_bridge(broker.addr(), Some(tls_acceptor(&p))).await;
    let o = tls_opts(
        port,
        &p,
        false,
        Transport::Wss {
            path: "/mqtt".into(),
        },
    );
    let client = Client::connect(o).await.expect("wss connect");
    roundtrip(&client).await;
    client.disconnect().await.expect("disconnect");
}
