//! Fuzzes petrel-auth's parsers: the Mosquitto ACL file, the password file (and editing
//! it), and the SCRAM server's handling of client messages. None may panic.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use petrel_auth::acl::AclOptions;
use petrel_auth::password_file::{remove_user_from_text, set_user_in_text};
use petrel_auth::{
    Access, Acl, PasswordFile, PasswordHash, ScramMechanism, ScramServer, ScramStore,
};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    match selector % 3 {
        0 => {
            for options in [
                AclOptions::default(),
                AclOptions::default().general_rules_apply_to_all(true),
            ] {
                if let Ok(acl) = Acl::parse_with_options(&text, options) {
                    for (id, user) in [
                        ("c", None),
                        ("c", Some("u")),
                        ("+", Some("#")),
                        ("a/b", Some("a/b")),
                    ] {
                        for topic in ["a", "a/b", "$SYS/x", "#", "a/+", "", "$share/g/a/#"] {
                            for access in [Access::Read, Access::Write, Access::Subscribe] {
                                let allowed = acl.check(id, user, topic, access);
                                // A wildcard in a topic name is never readable or writable.
                                if topic.contains(['+', '#']) && access != Access::Subscribe {
                                    assert!(!allowed);
                                }
                            }
                        }
                    }
                    if acl.is_empty() {
                        assert!(!acl.check("c", Some("u"), "a", Access::Read));
                    }
                }
            }
        }
        1 => {
            // Parsing must not hash anything expensive: only parse and edit here.
            if let Ok(file) = PasswordFile::parse(&text) {
                let hash = PasswordHash::sha512_with_salt(b"pw", vec![1; 12]);
                let edited =
                    set_user_in_text(&text, "fuzz-user", &hash).expect("valid file stays editable");
                let reparsed = PasswordFile::parse(&edited).expect("edited file parses");
                assert!(reparsed.contains("fuzz-user"));
                let (removed, found) =
                    remove_user_from_text(&edited, "fuzz-user").expect("removable");
                assert!(found);
                let before = file.len() - usize::from(file.contains("fuzz-user"));
                assert_eq!(PasswordFile::parse(&removed).expect("parses").len(), before);
            }
            let _ = PasswordHash::parse(&text);
        }
        _ => {
            let store = Arc::new(ScramStore::new());
            let mut server = ScramServer::new(ScramMechanism::Sha256, store);
            let mut parts = rest.splitn(2, |&b| b == 0);
            let first = parts.next().unwrap_or_default();
            if server.step(first).is_ok() {
                let _ = server.step(parts.next().unwrap_or_default());
            }
        }
    }
});
