use std::sync::Arc;

use super::*;

// RFC 7677 section 3 example (SCRAM-SHA-256, user "user", password "pencil").
const RFC_CLIENT_NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
const RFC_SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
const RFC_SALT: &str = "W22ZaJ0SNY7soEsUEjb6gQ==";
const RFC_CLIENT_FIRST: &str = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
const RFC_SERVER_FIRST: &str =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
const RFC_CLIENT_FINAL: &str =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
const RFC_SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

fn store_with(
    mech: ScramMechanism,
    user: &str,
    password: &[u8],
    iterations: u32,
) -> Arc<ScramStore> {
    let mut s = ScramStore::new();
    s.insert(user, ScramCredential::generate(mech, password, iterations));
    Arc::new(s)
}

fn rfc_store() -> Arc<ScramStore> {
    let salt = b64_decode(RFC_SALT, "salt").unwrap();
    let mut s = ScramStore::new();
    s.insert(
        "user",
        ScramCredential::derive(ScramMechanism::Sha256, b"pencil", salt, 4096),
    );
    Arc::new(s)
}

#[test]
fn rfc7677_client_vector() {
    let mut c =
        ScramClient::new(ScramMechanism::Sha256, "user", b"pencil").with_nonce(RFC_CLIENT_NONCE);
    assert_eq!(c.client_first(), RFC_CLIENT_FIRST);
    assert_eq!(
        c.handle_server_first(RFC_SERVER_FIRST.as_bytes()).unwrap(),
        RFC_CLIENT_FINAL
    );
    c.handle_server_final(RFC_SERVER_FINAL.as_bytes()).unwrap();
}

#[test]
fn rfc7677_server_vector() {
    let mut s =
        ScramServer::new(ScramMechanism::Sha256, rfc_store()).with_server_nonce(RFC_SERVER_NONCE);
    assert_eq!(
        s.step(RFC_CLIENT_FIRST.as_bytes()).unwrap(),
        ServerStep::Continue(RFC_SERVER_FIRST.into())
    );
    assert_eq!(
        s.step(RFC_CLIENT_FINAL.as_bytes()).unwrap(),
        ServerStep::Success {
            server_final: RFC_SERVER_FINAL.into(),
            username: "user".into()
        }
    );
    assert_eq!(s.step(b"again"), Err(ScramError::OutOfOrder));
}

fn run(
    mech: ScramMechanism,
    store: Arc<ScramStore>,
    user: &str,
    password: &[u8],
) -> Result<String, ScramError> {
    let mut c = ScramClient::new(mech, user, password);
    let mut s = ScramServer::new(mech, store);
    let ServerStep::Continue(first) = s.step(c.client_first().as_bytes())? else {
        panic!("expected server-first");
    };
    let fin = c.handle_server_first(first.as_bytes())?;
    match s.step(fin.as_bytes())? {
        ServerStep::Success {
            server_final,
            username,
        } => {
            c.handle_server_final(server_final.as_bytes())?;
            Ok(username)
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn round_trips_both_mechanisms() {
    for mech in [ScramMechanism::Sha256, ScramMechanism::Sha512] {
        let store = store_with(mech, "a,b=c", b"s3cret", 4096);
        assert_eq!(
            run(mech, store.clone(), "a,b=c", b"s3cret").unwrap(),
            "a,b=c"
        );
        assert_eq!(
            run(mech, store.clone(), "a,b=c", b"wrong"),
            Err(ScramError::AuthenticationFailed)
        );
        assert_eq!(
            run(mech, store, "nobody", b"s3cret"),
            Err(ScramError::AuthenticationFailed)
        );
    }
}

#[test]
fn credential_of_other_mechanism_is_not_used() {
    let store = store_with(ScramMechanism::Sha512, "u", b"p", 4096);
    assert_eq!(
        run(ScramMechanism::Sha256, store, "u", b"p"),
        Err(ScramError::AuthenticationFailed)
    );
}

#[test]
fn unknown_user_gets_a_stable_plausible_challenge() {
    let empty = Arc::new(ScramStore::new());
    let first = |nonce: &str| {
        let mut s = ScramServer::new(ScramMechanism::Sha256, empty.clone()).with_server_nonce("S");
        match s.step(format!("n,,n=ghost,r={nonce}").as_bytes()).unwrap() {
            ServerStep::Continue(m) => m,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(first("x"), first("x"));
    assert!(first("x").starts_with("r=xS,s="));
}

#[test]
fn tampered_nonce_fails() {
    let mut s =
        ScramServer::new(ScramMechanism::Sha256, rfc_store()).with_server_nonce(RFC_SERVER_NONCE);
    s.step(RFC_CLIENT_FIRST.as_bytes()).unwrap();
    let tampered = RFC_CLIENT_FINAL.replace("r=rOpr", "r=xOpr");
    assert_eq!(s.step(tampered.as_bytes()), Err(ScramError::NonceMismatch));

    // The client refuses a server nonce that does not extend its own.
    let mut c =
        ScramClient::new(ScramMechanism::Sha256, "user", b"pencil").with_nonce(RFC_CLIENT_NONCE);
    c.client_first();
    let bad = RFC_SERVER_FIRST.replace("r=rOpr", "r=zOpr");
    assert_eq!(
        c.handle_server_first(bad.as_bytes()),
        Err(ScramError::NonceMismatch)
    );
}

#[test]
fn tampered_proof_and_binding_fail() {
    let mut s =
        ScramServer::new(ScramMechanism::Sha256, rfc_store()).with_server_nonce(RFC_SERVER_NONCE);
    s.step(RFC_CLIENT_FIRST.as_bytes()).unwrap();
    let tampered = RFC_CLIENT_FINAL.replace("p=dHzb", "p=dHzc");
    assert_eq!(
        s.step(tampered.as_bytes()),
        Err(ScramError::AuthenticationFailed)
    );

    let mut s =
        ScramServer::new(ScramMechanism::Sha256, rfc_store()).with_server_nonce(RFC_SERVER_NONCE);
    s.step(RFC_CLIENT_FIRST.as_bytes()).unwrap();
    let tampered = RFC_CLIENT_FINAL.replace("c=biws", "c=eSws");
    assert_eq!(
        s.step(tampered.as_bytes()),
        Err(ScramError::ChannelBindingMismatch)
    );
}

#[test]
fn client_detects_forged_server_final() {
    let mut c =
        ScramClient::new(ScramMechanism::Sha256, "user", b"pencil").with_nonce(RFC_CLIENT_NONCE);
    c.client_first();
    c.handle_server_first(RFC_SERVER_FIRST.as_bytes()).unwrap();
    let forged = RFC_SERVER_FINAL.replace("v=6rri", "v=7rri");
    assert_eq!(
        c.handle_server_final(forged.as_bytes()),
        Err(ScramError::InvalidServerSignature)
    );
}

#[test]
fn client_bounds_iterations() {
    let mut c =
        ScramClient::new(ScramMechanism::Sha256, "user", b"pencil").with_nonce(RFC_CLIENT_NONCE);
    c.client_first();
    let cheap = RFC_SERVER_FIRST.replace("i=4096", "i=1");
    assert_eq!(
        c.handle_server_first(cheap.as_bytes()),
        Err(ScramError::IterationCount(1))
    );
}

#[test]
fn server_rejects_bad_client_first() {
    for (msg, err) in [
        (
            "p=tls-unique,,n=u,r=x",
            ScramError::ChannelBindingUnsupported,
        ),
        ("n,,m=ext,n=u,r=x", ScramError::ExtensionUnsupported),
        ("n,,n=u", ScramError::Malformed("expected r=<nonce>")),
        (
            "n,,n=a=b,r=x",
            ScramError::Malformed("bad escape in user name"),
        ),
        (
            "x,,n=u,r=x",
            ScramError::Malformed("bad channel-binding flag"),
        ),
        ("n,,n=u,r=a b", ScramError::Malformed("expected r=<nonce>")),
        ("", ScramError::Malformed("missing GS2 header")),
    ] {
        let mut s = ScramServer::new(ScramMechanism::Sha256, rfc_store());
        assert_eq!(s.step(msg.as_bytes()), Err(err), "{msg}");
    }
    let mut s = ScramServer::new(ScramMechanism::Sha256, rfc_store());
    assert!(s.step(&[0xff, 0xfe]).is_err());
}

#[test]
fn credential_text_round_trip_and_store_errors() {
    let c = ScramCredential::generate(ScramMechanism::Sha512, b"pw", 4096);
    assert_eq!(ScramCredential::parse(&c.to_string()).unwrap(), c);
    let text = format!("# creds\nalice:{c}\n");
    let store = ScramStore::parse(&text).unwrap();
    assert_eq!(
        store.credential(ScramMechanism::Sha512, "alice"),
        Some(c.clone())
    );
    assert!(store.to_text().contains("alice:SCRAM-SHA-512$4096:"));
    let err = ScramStore::parse(&format!("alice:{c}\nalice:{c}\n")).unwrap_err();
    assert_eq!(err.line, 2);
    assert_eq!(
        ScramStore::parse("bob:SCRAM-SHA-1$1:AA==$AA==:AA==\n")
            .unwrap_err()
            .line,
        1
    );
    assert_eq!(
        ScramMechanism::from_name("SCRAM-SHA-512"),
        Some(ScramMechanism::Sha512)
    );
}

#[test]
fn saslname_escaping() {
    assert_eq!(encode_saslname("a,b=c"), "a=2Cb=3Dc");
    assert_eq!(decode_saslname("a=2Cb=3Dc").unwrap(), "a,b=c");
    assert!(decode_saslname("a=2").is_err());
}

/// SCRAM-SHA-512 has no RFC example; these values were computed independently with
/// Python's hashlib/hmac from RFC 7677's inputs (same user, password, nonces, salt and
/// iteration count, SHA-512 throughout).
#[test]
fn sha512_matches_python_reference() {
    const CLIENT_FINAL: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
        p=gMGXRcevScNtxZ6/8lQYpGtnsNAc3mGcmNomv+xnoOMw+3R2xNJdMNnzMlTN8PPC6wdp6dybEmDYXYTxwnYPJQ==";
    const SERVER_FINAL: &str =
        "v=ZQnYEgWQMFmmsM8aQMF0nDDCy/AgCzkwk8CmMZYcMg0vSVlKDanekLtifDSeVGT4+5ZxXnJq199RVG2rR7N7Zw==";
    let mech = ScramMechanism::Sha512;
    let mut c = ScramClient::new(mech, "user", b"pencil").with_nonce(RFC_CLIENT_NONCE);
    assert_eq!(c.client_first(), RFC_CLIENT_FIRST);
    assert_eq!(
        c.handle_server_first(RFC_SERVER_FIRST.as_bytes()).unwrap(),
        CLIENT_FINAL
    );
    c.handle_server_final(SERVER_FINAL.as_bytes()).unwrap();

    let salt = b64_decode(RFC_SALT, "salt").unwrap();
    let mut store = ScramStore::new();
    store.insert("user", ScramCredential::derive(mech, b"pencil", salt, 4096));
    let mut s = ScramServer::new(mech, Arc::new(store)).with_server_nonce(RFC_SERVER_NONCE);
    assert_eq!(
        s.step(RFC_CLIENT_FIRST.as_bytes()).unwrap(),
        ServerStep::Continue(RFC_SERVER_FIRST.into())
    );
    assert_eq!(
        s.step(CLIENT_FINAL.as_bytes()).unwrap(),
        ServerStep::Success {
            server_final: SERVER_FINAL.into(),
            username: "user".into()
        }
    );
}

#[test]
fn editing_a_credential_file() {
    let a256 = ScramCredential::generate(ScramMechanism::Sha256, b"a", 4096);
    let a512 = ScramCredential::generate(ScramMechanism::Sha512, b"a", 4096);
    let b256 = ScramCredential::generate(ScramMechanism::Sha256, b"b", 4096);
    let text = set_scram_user_in_text("# creds\n", "alice", &[a256.clone(), a512.clone()]).unwrap();
    let text = set_scram_user_in_text(&text, "bob", std::slice::from_ref(&b256)).unwrap();
    let store = ScramStore::parse(&text).unwrap();
    assert_eq!(
        store.credential(ScramMechanism::Sha512, "alice"),
        Some(a512)
    );
    let new = ScramCredential::generate(ScramMechanism::Sha256, b"a2", 4096);
    let text = set_scram_user_in_text(&text, "alice", std::slice::from_ref(&new)).unwrap();
    assert!(text.starts_with("# creds\n"));
    let store = ScramStore::parse(&text).unwrap();
    assert_eq!(store.credential(ScramMechanism::Sha256, "alice"), Some(new));
    assert_eq!(store.credential(ScramMechanism::Sha512, "alice"), None);
    assert_eq!(store.credential(ScramMechanism::Sha256, "bob"), Some(b256));
    let text = set_scram_user_in_text(&text, "alice", &[]).unwrap();
    assert_eq!(
        ScramStore::parse(&text)
            .unwrap()
            .credential(ScramMechanism::Sha256, "alice"),
        None
    );
    assert!(set_scram_user_in_text(&text, "a:b", &[]).is_err());
    assert!(set_scram_user_in_text("broken\n", "x", &[]).is_err());
}
