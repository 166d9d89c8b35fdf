//! The same ACL file gives the same decisions here as in a real Mosquitto broker
//! (asked through paho-mqtt over MQTT 5: SUBACK and PUBACK reason codes, and deliveries).
//!
//! Needs `mosquitto` (Debian) and the Python package paho-mqtt 2.x (installed by `.ci/run`).

mod common;

use std::path::Path;
use std::process::Command;

use common::{tmpdir, Broker};
use petrel_auth::{passwd, Access, Acl, PasswdAction, PasswdRequest};

const ACL: &str = "\
# general rules (Mosquitto: anonymous clients only)
topic read public/#
topic write anon/in

user alice
topic readwrite alice/#
topic deny alice/secret/#
topic read shared/+/data

user bob
topic read alice/#

user admin
topic readwrite #

user a/b
topic read somewhere/#

pattern readwrite devices/%c/#
pattern read users/%u/inbox
";

/// (user or "-", client id, kind, filter or topic, delivered topic for "deliver").
///
/// Mosquitto 2.0 grants every SUBSCRIBE and filters at delivery, so subscriptions are
/// compared by what they deliver: Petrel's answer is "SUBSCRIBE accepted and the topic
/// readable", Mosquitto's is "the message arrived".
type Case = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

const CASES: &[Case] = &[
    // General rules apply to anonymous clients only.
    ("-", "anon1", "deliver", "public/#", "public/news"),
    ("-", "anon1", "pub", "public/news", ""),
    ("-", "anon1", "pub", "anon/in", ""),
    ("-", "anon1", "deliver", "alice/x", "alice/x"),
    ("alice", "c-alice", "deliver", "public/news", "public/news"),
    ("alice", "c-alice", "pub", "anon/in", ""),
    // User rules, deny first, default readwrite.
    ("alice", "c-alice", "pub", "alice/x", ""),
    ("alice", "c-alice", "deliver", "alice/+/y", "alice/k/y"),
    ("alice", "c-alice", "deliver", "alice/#", "alice/x"),
    ("alice", "c-alice", "deliver", "alice/#", "alice/secret/k"),
    (
        "alice",
        "c-alice",
        "deliver",
        "alice/secret/#",
        "alice/secret/k",
    ),
    ("alice", "c-alice", "pub", "alice/secret/k", ""),
    (
        "alice",
        "c-alice",
        "deliver",
        "shared/+/data",
        "shared/x/data",
    ),
    ("alice", "c-alice", "deliver", "shared/#", "shared/x/data"),
    ("alice", "c-alice", "deliver", "shared/#", "shared/x/other"),
    ("alice", "c-alice", "deliver", "#", "alice/x"),
    ("alice", "c-alice", "deliver", "#", "bob/x"),
    ("alice", "c-alice", "pub", "shared/x/data", ""),
    ("bob", "c-bob", "deliver", "alice/x", "alice/x"),
    ("bob", "c-bob", "pub", "alice/x", ""),
    ("bob", "c-bob", "deliver", "bob/x", "bob/x"),
    // `#` does not grant `$SYS`... (the admin can publish there, a `$` topic is a topic)
    ("admin", "c-admin", "pub", "anything/at/all", ""),
    ("admin", "c-admin", "deliver", "#", "anything/at/all"),
    // Patterns.
    ("-", "dev7", "pub", "devices/dev7/t", ""),
    ("-", "dev7", "pub", "devices/dev8/t", ""),
    ("-", "dev7", "deliver", "devices/dev7/#", "devices/dev7/t"),
    (
        "alice",
        "c-alice",
        "deliver",
        "users/alice/inbox",
        "users/alice/inbox",
    ),
    (
        "alice",
        "c-alice",
        "deliver",
        "users/+/inbox",
        "users/bob/inbox",
    ),
    ("bob", "dev7", "pub", "devices/dev7/t", ""),
];

/// Cases where Petrel is deliberately stricter than Mosquitto 2.0.11 (CHECKLIST 19):
/// wildcard or `/` characters in a client id or user name never reach a pattern.
const STRICTER: &[Case] = &[
    ("-", "+", "deliver", "devices/+/t", "devices/x/t"),
    ("-", "#", "deliver", "devices/#", "devices/x/t"),
    ("-", "a/b", "pub", "devices/a/b/t", ""),
    (
        "a/b",
        "c-ab",
        "deliver",
        "users/a/b/inbox",
        "users/a/b/inbox",
    ),
];

fn ours(acl: &Acl, case: &Case) -> bool {
    let (user, client_id, kind, a, b) = *case;
    let user = (user != "-").then_some(user);
    match kind {
        "pub" => acl.check(client_id, user, a, Access::Write),
        "deliver" => {
            acl.check(client_id, user, a, Access::Subscribe)
                && acl.check(client_id, user, b, Access::Read)
        }
        _ => unreachable!(),
    }
}

fn mosquitto_decisions(dir: &Path, port: u16, cases: &[Case]) -> Vec<bool> {
    let mut lines = String::new();
    for (user, client_id, kind, a, b) in cases {
        let password = if *user == "-" { "" } else { user };
        let pw = if *user == "admin" { "admin" } else { password };
        lines.push_str(&[*user, pw, client_id, kind, a, b].join("\t"));
        lines.push('\n');
    }
    let cases_file = dir.join("cases.tsv");
    std::fs::write(&cases_file, lines).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mosquitto_acl.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(port.to_string())
        .arg(&cases_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "probe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decisions: Vec<bool> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l == "1")
        .collect();
    assert_eq!(decisions.len(), cases.len());
    decisions
}

#[test]
fn decisions_match_mosquitto() {
    let dir = tmpdir("acl-interop");
    let pwfile = dir.join("pw");
    let aclfile = dir.join("acl");
    std::fs::write(&aclfile, ACL).unwrap();
    // Each user's password is its name.
    let mut create = true;
    for user in ["alice", "bob", "admin", "a/b"] {
        passwd(
            &PasswdRequest::new(&pwfile, user, PasswdAction::Set(user.as_bytes())).create(create),
        )
        .unwrap();
        create = false;
    }
    let broker = Broker::start(
        &dir,
        &format!(
            "allow_anonymous true\npassword_file {}\nacl_file {}\n",
            pwfile.display(),
            aclfile.display()
        ),
    );
    let acl = Acl::load(&aclfile).unwrap();

    let theirs = mosquitto_decisions(&dir, broker.port, CASES);
    let mut mismatches = Vec::new();
    for (case, mosq) in CASES.iter().zip(theirs) {
        if ours(&acl, case) != mosq {
            mismatches.push(format!("{case:?}: mosquitto {mosq}, petrel {}", !mosq));
        }
    }
    assert!(
        mismatches.is_empty(),
        "decisions differ:\n{}",
        mismatches.join("\n")
    );

    // Whatever Mosquitto does with the odd names, Petrel refuses.
    let theirs = mosquitto_decisions(&dir, broker.port, STRICTER);
    for (case, mosq) in STRICTER.iter().zip(theirs) {
        eprintln!("{case:?}: mosquitto {mosq}, petrel false");
        assert!(!ours(&acl, case), "{case:?} must be denied");
    }
    drop(broker);
    std::fs::remove_dir_all(dir).unwrap();
}
