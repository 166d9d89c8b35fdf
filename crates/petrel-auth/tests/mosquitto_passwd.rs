//! Password files written by Mosquitto's own tools verify here, and files written here
//! are accepted by a real Mosquitto broker.
//!
//! Needs `mosquitto_passwd`, `mosquitto` and `mosquitto_pub` (Debian package `mosquitto`
//! and `mosquitto-clients`, installed by `.ci/run`).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{tmpdir, tool, Broker};

use petrel_auth::{
    passwd, HashOptions, HashScheme, PasswdAction, PasswdRequest, PasswordFile, PasswordHash,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn mosquitto_passwd(args: &[&str]) {
    let out = Command::new(tool("mosquitto_passwd"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mosquitto_passwd {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The committed fixture from Debian's mosquitto_passwd 2.0.11 (see fixtures/README.md).
#[test]
fn debian_2_0_11_fixture_verifies() {
    let f = PasswordFile::load(fixture("mosquitto-2.0.11.passwd")).unwrap();
    assert_eq!(f.len(), 4);
    assert!(f.verify("alice", b"correct horse"));
    assert!(f.verify("bob", b"p@ss:w0rd with spaces"));
    assert!(f.verify("carol", b"carolpw"));
    assert!(f.verify("dave", b"davepw"));
    assert!(!f.verify("alice", b"correct horse "));
    assert!(!f.verify("bob", b"p@ss"));
    assert!(!f.verify("carol", b"davepw"));
    assert!(!f.verify("eve", b"correct horse"));
}

/// Files generated now by the installed mosquitto_passwd, in each hash it offers.
#[test]
fn files_generated_by_mosquitto_passwd_verify() {
    let dir = tmpdir("mp-gen");
    let file = dir.join("pw");
    let f = file.to_str().unwrap();
    mosquitto_passwd(&["-c", "-b", f, "user1", "pass1"]);
    mosquitto_passwd(&["-b", f, "üser", "pässwörd ✓"]);
    mosquitto_passwd(&["-H", "sha512", "-b", f, "old", "legacy"]);
    mosquitto_passwd(&["-b", f, "user1", "changed"]);
    mosquitto_passwd(&["-b", f, "gone", "x"]);
    mosquitto_passwd(&["-D", f, "gone"]);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("old:$6$"), "{text}");
    assert!(text.contains("user1:$7$"), "{text}");
    let pw = PasswordFile::parse(&text).unwrap();
    assert_eq!(pw.len(), 3);
    assert!(pw.verify("user1", b"changed"));
    assert!(!pw.verify("user1", b"pass1"));
    assert!(pw.verify("üser", "pässwörd ✓".as_bytes()));
    assert!(pw.verify("old", b"legacy"));
    assert!(!pw.verify("old", b"Legacy"));
    assert!(!pw.contains("gone"));
    std::fs::remove_dir_all(dir).unwrap();
}

/// mosquitto_passwd can keep editing a file `petrel passwd` wrote, and the reverse.
#[test]
fn files_can_be_edited_by_both_tools() {
    let dir = tmpdir("mp-mix");
    let file = dir.join("pw");
    passwd(&PasswdRequest::new(&file, "ours", PasswdAction::Set(b"one")).create(true)).unwrap();
    mosquitto_passwd(&["-b", file.to_str().unwrap(), "theirs", "two"]);
    passwd(&PasswdRequest::new(
        &file,
        "ours2",
        PasswdAction::Set(b"three"),
    ))
    .unwrap();
    let pw = PasswordFile::load(&file).unwrap();
    assert!(
        pw.verify("ours", b"one") && pw.verify("theirs", b"two") && pw.verify("ours2", b"three")
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// `$6$` is sha512(password || salt): the hash computed here with a fixed salt equals the
/// line computed independently by Python's hashlib (fixtures/python-hashlib.passwd).
#[test]
fn sha512_matches_python_hashlib() {
    let text = std::fs::read_to_string(fixture("python-hashlib.passwd")).unwrap();
    let legacy = text
        .lines()
        .find_map(|l| l.strip_prefix("legacy:"))
        .unwrap();
    let ours = PasswordHash::sha512_with_salt(b"legacy-pass", b"petrel-salt1".to_vec());
    assert_eq!(ours.to_string(), legacy);
    let f = PasswordFile::parse(&text).unwrap();
    assert!(f.verify("legacy", b"legacy-pass"));
    assert!(!f.verify("legacy", b"legacy-pas"));
}

/// The Mosquitto 2.1 `$7$` shape (1000 iterations, 64-byte salt), computed by Python.
#[test]
fn pbkdf2_2_1_variant_matches_python_hashlib() {
    let text = std::fs::read_to_string(fixture("python-hashlib.passwd")).unwrap();
    let modern = text
        .lines()
        .find_map(|l| l.strip_prefix("modern:"))
        .unwrap();
    let salt: Vec<u8> = (0u8..64).collect();
    let ours = PasswordHash::pbkdf2_with_salt(b"twenty-one", salt, 1000);
    assert_eq!(ours.to_string(), modern);
    let f = PasswordFile::parse(&text).unwrap();
    assert!(f.verify("modern", b"twenty-one"));
    assert!(!f.verify("modern", b"twenty-two"));
}

/// Argon2id PHC strings made by argon2-cffi (the reference C implementation), one with
/// Mosquitto 2.1's parameters and 64-byte salt.
#[test]
fn argon2id_fixture_verifies() {
    let f = PasswordFile::load(fixture("argon2-cffi.passwd")).unwrap();
    assert!(f.verify("small", b"argon-small"));
    assert!(!f.verify("small", b"argon-smalL"));
    assert!(f.verify("mosq21", b"argon-pass"));
    assert!(!f.verify("mosq21", b"argon-pas"));
}

#[test]
fn argon2id_written_here_round_trips() {
    let opts = HashOptions::default()
        .with_argon2(256, 1)
        .with_scheme(HashScheme::Argon2id);
    let dir = tmpdir("argon");
    let file = dir.join("pw");
    passwd(
        &PasswdRequest::new(&file, "a", PasswdAction::Set(b"pw"))
            .create(true)
            .options(opts),
    )
    .unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.starts_with("a:$argon2id$v=19$m=256,t=1,p=1$"),
        "{text}"
    );
    let f = PasswordFile::parse(&text).unwrap();
    assert!(f.verify("a", b"pw") && !f.verify("a", b"pw2"));
    std::fs::remove_dir_all(dir).unwrap();
}

fn pub_ok(port: u16, user: &str, password: &str) -> bool {
    Command::new(tool("mosquitto_pub"))
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-u",
            user,
            "-P",
            password,
            "-t",
            "t",
            "-m",
            "m",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

/// A password file written by `petrel passwd` with default options is accepted by a real
/// Mosquitto 2.0 broker: right password connects, wrong one is refused.
#[test]
fn mosquitto_broker_accepts_our_file() {
    let dir = tmpdir("broker");
    let pwfile = dir.join("pw");
    passwd(&PasswdRequest::new(&pwfile, "alice", PasswdAction::Set(b"wonderland")).create(true))
        .unwrap();
    passwd(&PasswdRequest::new(
        &pwfile,
        "bob",
        PasswdAction::Set(b"builder"),
    ))
    .unwrap();
    let broker = Broker::start(
        &dir,
        &format!(
            "allow_anonymous false\npassword_file {}\n",
            pwfile.display()
        ),
    );
    let port = broker.port;
    assert!(pub_ok(port, "alice", "wonderland"));
    assert!(pub_ok(port, "bob", "builder"));
    assert!(!pub_ok(port, "alice", "builder"));
    assert!(!pub_ok(port, "carol", "wonderland"));
    drop(broker);
    std::fs::remove_dir_all(dir).unwrap();
}
