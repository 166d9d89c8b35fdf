//! The `petrel` binary against a real Mosquitto broker: what `petrel pub` sends,
//! `mosquitto_sub` receives, and the other way round; exit codes; `petrel passwd`;
//! `petrel rr`.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const PETREL: &str = env!("CARGO_BIN_EXE_petrel");

/// Mosquitto on a free port with `listener PORT 127.0.0.1` + `allow_anonymous true`,
/// killed on drop.
struct Mosquitto {
    port: u16,
    child: Child,
}

impl Mosquitto {
    fn start() -> Self {
        Self::start_with("")
    }

    fn start_with(extra: &str) -> Self {
        let bin = "/usr/sbin/mosquitto";
        assert!(
            std::path::Path::new(bin).exists(),
            "{bin} is missing: install mosquitto"
        );
        // Retry when another process takes the probed port before Mosquitto binds it.
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("free port")
                .port();
            let dir = scratch("mosq");
            let conf = dir.join("mosquitto.conf");
            let text = format!("listener {port} 127.0.0.1\nallow_anonymous true\n{extra}\n");
            std::fs::write(&conf, text).expect("conf");
            let mut child = Command::new(bin)
                .arg("-c")
                .arg(&conf)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start mosquitto");
            let deadline = Instant::now() + Duration::from_secs(5);
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(Instant::now() < deadline, "mosquitto did not start");
                std::thread::sleep(Duration::from_millis(20));
            }
            std::thread::sleep(Duration::from_millis(30));
            if let Ok(None) = child.try_wait() {
                return Self { port, child };
            }
        }
        panic!("could not start mosquitto on a free port");
    }

    fn port(&self) -> String {
        self.port.to_string()
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn scratch(tag: &str) -> PathBuf {
    let n: u64 = rand::random();
    let dir = std::env::temp_dir().join(format!("petrel-cli-{tag}-{}-{n:x}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn petrel(args: &[&str]) -> Output {
    Command::new(PETREL)
        .args(args)
        .output()
        .expect("run petrel")
}

/// Starts a subscriber process and waits until its subscription is in place (a probe
/// message on the same filter comes back through a second subscriber is overkill: we
/// poll the broker with a retained-free delay instead).
fn spawn(cmd: &str, args: &[&str]) -> Child {
    let c = Command::new(cmd)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Give the subscriber time to connect and subscribe.
    std::thread::sleep(Duration::from_millis(400));
    c
}

fn finish(c: Child) -> Output {
    c.wait_with_output().expect("wait")
}

#[test]
fn petrel_pub_reaches_mosquitto_sub() {
    let m = Mosquitto::start();
    for (v, mv) in [("311", "mqttv311"), ("5", "mqttv5"), ("31", "mqttv31")] {
        let sub = spawn(
            "mosquitto_sub",
            &[
                "-p",
                &m.port(),
                "-V",
                mv,
                "-t",
                "cli/#",
                "-v",
                "-C",
                "3",
                "-W",
                "10",
            ],
        );
        for q in ["0", "1", "2"] {
            let out = petrel(&[
                "pub",
                "-p",
                &m.port(),
                "-V",
                v,
                "-q",
                q,
                "-t",
                "cli/p",
                "-m",
                &format!("q{q}"),
            ]);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let out = finish(sub);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "cli/p q0\ncli/p q1\ncli/p q2\n",
            "-V {v}"
        );
        assert_eq!(out.status.code(), Some(0));
    }
}

#[test]
fn mosquitto_pub_reaches_petrel_sub() {
    let m = Mosquitto::start();
    let sub = spawn(
        PETREL,
        &[
            "sub",
            "-p",
            &m.port(),
            "-t",
            "m2p/+",
            "-t",
            "other",
            "-q",
            "2",
            "-v",
            "-C",
            "3",
            "-W",
            "10",
        ],
    );
    for (q, t) in [("0", "m2p/a"), ("1", "m2p/b"), ("2", "other")] {
        let st = Command::new("mosquitto_pub")
            .args([
                "-p",
                &m.port(),
                "-q",
                q,
                "-t",
                t,
                "-m",
                &format!("from mosquitto {q}"),
            ])
            .status()
            .expect("mosquitto_pub");
        assert!(st.success());
    }
    let out = finish(sub);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "m2p/a from mosquitto 0\nm2p/b from mosquitto 1\nother from mosquitto 2\n"
    );
}

#[test]
fn sub_format_and_retained() {
    let m = Mosquitto::start();
    let st = Command::new("mosquitto_pub")
        .args([
            "-p",
            &m.port(),
            "-q",
            "1",
            "-r",
            "-t",
            "fmt/x",
            "-m",
            "kept",
        ])
        .status()
        .expect("mosquitto_pub");
    assert!(st.success());
    let out = petrel(&[
        "sub",
        "-p",
        &m.port(),
        "-t",
        "fmt/#",
        "-q",
        "1",
        "-C",
        "1",
        "-W",
        "10",
        "-F",
        "%t|%p|%q|%r|%l|%%",
    ]);
    assert_eq!(out.status.code(), Some(0));
    // -F prints no newline of its own; retained messages carry the retain flag.
    assert_eq!(String::from_utf8_lossy(&out.stdout), "fmt/x|kept|1|1|4|%");
}

#[test]
fn pub_lines_from_stdin_and_retain() {
    let m = Mosquitto::start();
    let sub = spawn(
        "mosquitto_sub",
        &["-p", &m.port(), "-t", "lines", "-C", "3", "-W", "10"],
    );
    let mut p = Command::new(PETREL)
        .args(["pub", "-p", &m.port(), "-t", "lines", "-l", "-q", "1"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("petrel pub -l");
    p.stdin
        .take()
        .expect("stdin")
        .write_all(b"one\ntwo\nthree\n")
        .expect("write");
    assert!(p.wait().expect("wait").success());
    assert_eq!(
        String::from_utf8_lossy(&finish(sub).stdout),
        "one\ntwo\nthree\n"
    );
    // -r: a later subscriber gets the retained message.
    assert!(petrel(&[
        "pub",
        "-p",
        &m.port(),
        "-t",
        "ret",
        "-m",
        "r1",
        "-r",
        "-q",
        "1"
    ])
    .status
    .success());
    let out = Command::new("mosquitto_sub")
        .args(["-p", &m.port(), "-t", "ret", "-C", "1", "-W", "5"])
        .output()
        .expect("mosquitto_sub");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "r1\n");
}

#[test]
fn mqtt5_properties_with_d() {
    let m = Mosquitto::start();
    let sub = spawn(
        "mosquitto_sub",
        &[
            "-p",
            &m.port(),
            "-V",
            "mqttv5",
            "-t",
            "props",
            "-C",
            "1",
            "-W",
            "10",
            "-F",
            "%p %C",
        ],
    );
    let out = petrel(&[
        "pub",
        "-p",
        &m.port(),
        "-V",
        "5",
        "-t",
        "props",
        "-m",
        "x",
        "-D",
        "publish",
        "content-type",
        "text/plain",
        "-D",
        "publish",
        "user-property",
        "k",
        "v",
        "-D",
        "publish",
        "message-expiry-interval",
        "60",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&finish(sub).stdout),
        "x text/plain\n"
    );
    // -D needs MQTT 5.
    let out = petrel(&[
        "pub",
        "-p",
        &m.port(),
        "-t",
        "p",
        "-m",
        "x",
        "-D",
        "publish",
        "content-type",
        "a",
    ]);
    assert_eq!(out.status.code(), Some(1));
}

/// Exit codes scripts rely on: 27 when -W expires, 1 for usage and connection errors.
#[test]
fn exit_codes() {
    let m = Mosquitto::start();
    let out = petrel(&["sub", "-p", &m.port(), "-t", "nothing/here", "-W", "1"]);
    assert_eq!(
        out.status.code(),
        Some(27),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = petrel(&[
        "rr",
        "-p",
        &m.port(),
        "-t",
        "nobody/answers",
        "-m",
        "x",
        "-W",
        "1",
    ]);
    assert_eq!(
        out.status.code(),
        Some(27),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port().to_string();
    drop(closed);
    let out = petrel(&["pub", "-p", &port, "-t", "x", "-m", "x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Error"));
    assert_eq!(
        petrel(&["pub", "-p", &m.port(), "-m", "no topic"])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(petrel(&["sub", "--no-such-flag"]).status.code(), Some(1));
    assert_eq!(
        petrel(&["pub", "-p", &m.port(), "-t", "x", "-m", "x", "-q", "3"])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        petrel(&["pub", "-V", "6", "-t", "x", "-m", "x"])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(petrel(&["sub", "--help"]).status.code(), Some(0));
    // --url with a topic path.
    let url = format!("mqtt://127.0.0.1:{}/via/url", m.port());
    let sub = spawn(
        "mosquitto_sub",
        &["-p", &m.port(), "-t", "via/url", "-C", "1", "-W", "10"],
    );
    assert!(petrel(&["pub", "--url", &url, "-m", "u"]).status.success());
    assert_eq!(String::from_utf8_lossy(&finish(sub).stdout), "u\n");
}

#[test]
fn request_response() {
    let m = Mosquitto::start();
    // A responder written with mosquitto's tools is awkward; use the library.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let port = m.port;
    let responder = rt.block_on(async move {
        let o = petrel_client::ConnectOptions::new("127.0.0.1", port);
        let c = petrel_client::Client::connect(o).await.expect("connect");
        let mut sub = c
            .subscribe("rr/svc", petrel_client::QoS::AtLeastOnce)
            .await
            .expect("sub");
        let c2 = c.clone();
        tokio::spawn(async move {
            while let Some(req) = sub.recv().await {
                let mut body = b"re:".to_vec();
                body.extend_from_slice(&req.payload);
                if let Some(r) = petrel_client::response_to(&req, body) {
                    let _ = c2.publish_message(r).await;
                }
            }
        });
        c
    });
    let out = petrel(&[
        "rr",
        "-p",
        &m.port(),
        "-t",
        "rr/svc",
        "-m",
        "ping",
        "-W",
        "10",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "re:ping\n");
    let out = petrel(&[
        "rr",
        "-p",
        &m.port(),
        "-t",
        "rr/svc",
        "-e",
        "rr/mine",
        "-m",
        "x",
        "-v",
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "rr/mine re:x\n");
    rt.block_on(async { responder.disconnect().await.expect("disconnect") });
}

#[test]
fn passwd_creates_updates_and_deletes() {
    let dir = scratch("passwd");
    let file = dir.join("pw");
    let f = file.to_str().expect("utf8 path");
    assert!(petrel(&["passwd", "-c", "-b", f, "alice", "secret"])
        .status
        .success());
    assert!(petrel(&["passwd", "-b", f, "bob", "hunter2"])
        .status
        .success());
    let pw = petrel_auth::PasswordFile::load(&file).expect("load");
    assert!(pw.verify("alice", b"secret"));
    assert!(pw.verify("bob", b"hunter2"));
    assert!(!pw.verify("bob", b"wrong"));
    assert!(petrel(&["passwd", "-D", f, "alice"]).status.success());
    let pw = petrel_auth::PasswordFile::load(&file).expect("load");
    assert!(!pw.contains("alice") && pw.contains("bob"));
    // Prompted password (twice on stdin).
    let mut p = Command::new(PETREL)
        .args(["passwd", f, "carol"])
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    p.stdin
        .take()
        .expect("stdin")
        .write_all(b"pw3\npw3\n")
        .expect("write");
    assert!(p.wait().expect("wait").success());
    assert!(petrel_auth::PasswordFile::load(&file)
        .expect("load")
        .verify("carol", b"pw3"));
    // Errors: missing file without -c, unknown user for -D.
    let missing = dir.join("none");
    let out = petrel(&["passwd", "-b", missing.to_str().expect("utf8"), "u", "p"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        petrel(&["passwd", "-D", f, "nobody"]).status.code(),
        Some(1)
    );
}

/// PEM files: a CA, a server certificate for localhost and a client certificate.
fn pki(dir: &std::path::Path) -> [PathBuf; 5] {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "petrel cli test CA");
    let ca =
        CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key")).expect("ca");
    let leaf = |name: &str| {
        let key = KeyPair::generate().expect("key");
        let mut p = CertificateParams::new(vec![name.to_owned()]).expect("params");
        p.distinguished_name.push(DnType::CommonName, name);
        (
            p.signed_by(&key, &ca).expect("sign").pem(),
            key.serialize_pem(),
        )
    };
    let (sc, sk) = leaf("localhost");
    let (cc, ck) = leaf("cli-client");
    let files = [
        ("ca.pem", ca.pem()),
        ("s.pem", sc),
        ("s.key", sk),
        ("c.pem", cc),
        ("c.key", ck),
    ];
    files.map(|(n, text)| {
        let p = dir.join(n);
        std::fs::write(&p, text).expect("write");
        p
    })
}

/// `--cafile`, `--cert`, `--key` and `mqtts://` URLs against a Mosquitto TLS listener that
/// requires a client certificate.
#[test]
fn tls_flags() {
    let dir = scratch("tls");
    let [ca, sc, sk, cc, ck] = pki(&dir);
    let conf = format!(
        "cafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate true",
        ca.display(),
        sc.display(),
        sk.display()
    );
    let m = Mosquitto::start_with(&conf);
    let s = |p: &PathBuf| p.to_str().expect("utf8").to_owned();
    let (ca, cc, ck) = (s(&ca), s(&cc), s(&ck));
    let url = format!("mqtts://localhost:{}/tls/t", m.port);
    let sub = spawn(
        PETREL,
        &[
            "sub", "--url", &url, "--cafile", &ca, "--cert", &cc, "--key", &ck, "-C", "1", "-W",
            "10",
        ],
    );
    let out = petrel(&[
        "pub",
        "-h",
        "localhost",
        "-p",
        &m.port(),
        "--cafile",
        &ca,
        "--cert",
        &cc,
        "--key",
        &ck,
        "-t",
        "tls/t",
        "-m",
        "secret",
        "-q",
        "1",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = finish(sub);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "secret\n");
    // Without the client certificate the broker refuses the handshake: exit 1.
    let out = petrel(&[
        "pub",
        "-h",
        "localhost",
        "-p",
        &m.port(),
        "--cafile",
        &ca,
        "-t",
        "x",
        "-m",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(1));
}
