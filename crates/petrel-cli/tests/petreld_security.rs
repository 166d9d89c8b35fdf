//! `petreld` with `[auth]` files from Mosquitto (a `mosquitto_passwd` password file and an
//! ACL file, used unchanged) and several listeners; malformed lines stop the start-up with
//! an error naming the line (CHECKLIST 21).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{free_port, Daemon, PETRELD};

fn scratch(tag: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("petreld-sec-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn passwd(dir: &Path, users: &[(&str, &str)]) -> PathBuf {
    let path = dir.join("passwd");
    for (i, (u, p)) in users.iter().enumerate() {
        let mut cmd = Command::new("mosquitto_passwd");
        if i == 0 {
            cmd.arg("-c");
        }
        let st = cmd
            .args(["-b", path.to_str().expect("utf-8"), u, p])
            .status()
            .expect("mosquitto_passwd must be installed (apt install mosquitto)");
        assert!(st.success());
    }
    path
}

fn config(dir: &Path, tcp: u16, ws: u16, passwd: &Path, acl: &Path) -> PathBuf {
    let text = format!(
        "[[listener]]\nbind = \"127.0.0.1:{tcp}\"\n\n[[listener]]\nbind = \"127.0.0.1:{ws}\"\ntransport = \"ws\"\n\n[auth]\npassword_file = {:?}\nacl_file = {:?}\n",
        passwd.display().to_string(),
        acl.display().to_string()
    );
    let path = dir.join("petreld.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

fn pub_ok(port: u16, user: &str, pass: &str, topic: &str) -> bool {
    Command::new("mosquitto_pub")
        .args([
            "-p",
            &port.to_string(),
            "-u",
            user,
            "-P",
            pass,
            "-t",
            topic,
            "-m",
            "hi",
            "-q",
            "1",
        ])
        .stderr(Stdio::null())
        .status()
        .expect("mosquitto_pub must be installed (apt install mosquitto-clients)")
        .success()
}

#[test]
fn petreld_uses_mosquitto_password_and_acl_files() {
    let dir = scratch("ok");
    let pw = passwd(&dir, &[("alice", "wonderland"), ("bob", "builder")]);
    let acl = dir.join("acl");
    std::fs::write(
        &acl,
        "user alice\ntopic write inbox/#\n\nuser bob\ntopic read inbox/#\n",
    )
    .expect("acl");
    let (tcp, ws) = (free_port(), free_port());
    let cfg = config(&dir, tcp, ws, &pw, &acl);
    let cfg = cfg.to_str().expect("utf-8");
    let _daemon = Daemon::start(&dir, &["--config", cfg], Stdio::null(), &[tcp, ws]);
    let mut sub = Command::new("mosquitto_sub")
        .args([
            "-p",
            &tcp.to_string(),
            "-u",
            "bob",
            "-P",
            "builder",
            "-t",
            "inbox/#",
            "-C",
            "1",
            "-W",
            "10",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("mosquitto_sub must be installed (apt install mosquitto-clients)");
    // Wrong password, unknown user, anonymous: refused.
    assert!(!pub_ok(tcp, "alice", "guess", "inbox/bob"));
    assert!(!pub_ok(tcp, "mallory", "wonderland", "inbox/bob"));
    let anon = Command::new("mosquitto_pub")
        .args(["-p", &tcp.to_string(), "-t", "inbox/bob", "-m", "x"])
        .stderr(Stdio::null())
        .status()
        .expect("mosquitto_pub");
    assert!(!anon.success());
    // alice publishes until bob's subscriber (which may still be connecting) gets one.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(pub_ok(tcp, "alice", "wonderland", "inbox/bob"));
        if sub.try_wait().expect("wait").is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "bob received nothing");
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = sub.wait_with_output().expect("output");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "hi");
}

#[test]
fn petreld_refuses_malformed_auth_files_naming_the_line() {
    let dir = scratch("bad");
    let pw = passwd(&dir, &[("alice", "wonderland")]);
    let good_acl = dir.join("acl");
    std::fs::write(&good_acl, "user alice\ntopic readwrite a/#\n").expect("acl");
    // A line without a hash must not become a user.
    let mut text = std::fs::read_to_string(&pw).expect("read");
    text.push_str("mallory\n");
    let bad_pw = dir.join("bad_passwd");
    std::fs::write(&bad_pw, text).expect("write");
    let bad_acl = dir.join("bad_acl");
    std::fs::write(&bad_acl, "user alice\ntopic readwrite a/#\ntopci read b\n").expect("write");
    for (p, a, line) in [(&bad_pw, &good_acl, "line 2"), (&pw, &bad_acl, "line 3")] {
        let cfg = config(&dir, free_port(), free_port(), p, a);
        let out = Command::new(PETRELD)
            .current_dir(&dir)
            .args(["--config", cfg.to_str().expect("utf-8")])
            .output()
            .expect("petreld runs");
        assert!(
            !out.status.success(),
            "petreld started with a malformed file"
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(line), "{err}");
    }
}
