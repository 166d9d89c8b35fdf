//! SCRAM credentials and the credential store.
//!
//! The server keeps, per user and mechanism, the salt, the iteration count, `StoredKey`
//! and `ServerKey` (RFC 5802 §3). The salted password itself is not stored: it is
//! password-equivalent. The text form (one line per credential) follows the widely used
//! PostgreSQL layout:
//!
//! ```text
//! <user>:SCRAM-SHA-256$<iterations>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use rand::RngCore;
use subtle::ConstantTimeEq;

use super::{b64_decode, b64_encode, ScramMechanism, DEFAULT_ITERATIONS};

/// What the server stores for one user and mechanism.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramCredential {
    /// The mechanism these keys belong to.
    pub mechanism: ScramMechanism,
    /// PBKDF2 iteration count.
    pub iterations: u32,
    /// The salt.
    pub salt: Vec<u8>,
    /// `H(HMAC(SaltedPassword, "Client Key"))`.
    pub stored_key: Vec<u8>,
    /// `HMAC(SaltedPassword, "Server Key")`.
    pub server_key: Vec<u8>,
}

impl fmt::Debug for ScramCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramCredential")
            .field("mechanism", &self.mechanism)
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

impl ScramCredential {
    /// Derives the credential for `password` with the given salt and iterations.
    pub fn derive(
        mechanism: ScramMechanism,
        password: &[u8],
        salt: Vec<u8>,
        iterations: u32,
    ) -> Self {
        let salted = mechanism.salted_password(password, &salt, iterations.max(1));
        let client_key = mechanism.hmac(&salted, b"Client Key");
        ScramCredential {
            mechanism,
            iterations: iterations.max(1),
            stored_key: mechanism.hash(&client_key),
            server_key: mechanism.hmac(&salted, b"Server Key"),
            salt,
        }
    }

    /// Derives a credential with a fresh random 16-byte salt.
    pub fn generate(mechanism: ScramMechanism, password: &[u8], iterations: u32) -> Self {
        let mut salt = vec![0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        Self::derive(mechanism, password, salt, iterations)
    }

    /// Parses the text form `SCRAM-SHA-256$<i>:<salt>$<StoredKey>:<ServerKey>`.
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        let (name, rest) = s.split_once('$').ok_or("expected <mechanism>$...")?;
        let mechanism = ScramMechanism::from_name(name).ok_or("unknown mechanism")?;
        let (params, keys) = rest.split_once('$').ok_or("expected <i>:<salt>$<keys>")?;
        let (iter, salt) = params
            .split_once(':')
            .ok_or("expected <iterations>:<salt>")?;
        let (stored, server) = keys
            .split_once(':')
            .ok_or("expected <StoredKey>:<ServerKey>")?;
        let iterations: u32 = iter.parse().map_err(|_| "iterations must be a number")?;
        if iterations == 0 {
            return Err("iterations must be positive");
        }
        let salt = b64_decode(salt, "salt").map_err(|_| "salt is not base64")?;
        let stored_key = b64_decode(stored, "key").map_err(|_| "StoredKey is not base64")?;
        let server_key = b64_decode(server, "key").map_err(|_| "ServerKey is not base64")?;
        if salt.is_empty() {
            return Err("empty salt");
        }
        if stored_key.len() != mechanism.output_len() || server_key.len() != mechanism.output_len()
        {
            return Err("key length does not match the mechanism");
        }
        Ok(ScramCredential {
            mechanism,
            iterations,
            salt,
            stored_key,
            server_key,
        })
    }

    /// A credential nothing verifies against, whose salt is derived from `username` with
    /// a per-process secret: the same unknown name always gets the same salt, like a
    /// real user would.
    pub fn mock(mechanism: ScramMechanism, username: &str) -> Self {
        static KEY: OnceLock<[u8; 32]> = OnceLock::new();
        let key = KEY.get_or_init(|| {
            let mut k = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut k);
            k
        });
        let mut salt = mechanism.hmac(key, username.as_bytes());
        salt.truncate(16);
        let mut stored_key = vec![0u8; mechanism.output_len()];
        let mut server_key = vec![0u8; mechanism.output_len()];
        rand::rngs::OsRng.fill_bytes(&mut stored_key);
        rand::rngs::OsRng.fill_bytes(&mut server_key);
        ScramCredential {
            mechanism,
            iterations: DEFAULT_ITERATIONS,
            salt,
            stored_key,
            server_key,
        }
    }

    /// Constant-time check that `client_key` hashes to this credential's `StoredKey`.
    pub(crate) fn check_client_key(&self, client_key: &[u8]) -> bool {
        bool::from(self.mechanism.hash(client_key).ct_eq(&self.stored_key))
    }
}

impl fmt::Display for ScramCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}${}:{}${}:{}",
            self.mechanism.name(),
            self.iterations,
            b64_encode(&self.salt),
            b64_encode(&self.stored_key),
            b64_encode(&self.server_key)
        )
    }
}

/// Where a [`ScramServer`](super::ScramServer) looks credentials up.
pub trait ScramCredentialStore: Send + Sync {
    /// The credential of `username` for `mechanism`, if the user exists.
    fn credential(&self, mechanism: ScramMechanism, username: &str) -> Option<ScramCredential>;
}

impl<F> ScramCredentialStore for F
where
    F: Fn(ScramMechanism, &str) -> Option<ScramCredential> + Send + Sync,
{
    fn credential(&self, mechanism: ScramMechanism, username: &str) -> Option<ScramCredential> {
        self(mechanism, username)
    }
}

/// Why a SCRAM credential file could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SCRAM credential file line {line}: {reason}")]
#[non_exhaustive]
pub struct ScramStoreError {
    /// 1-based line number; 0 when the error is about an argument, not a line (an
    /// invalid user name given to [`set_scram_user_in_text`]).
    pub line: usize,
    /// What is wrong.
    pub reason: &'static str,
}

/// An in-memory credential store, loadable from the text form.
#[derive(Debug, Clone, Default)]
pub struct ScramStore {
    entries: HashMap<(String, ScramMechanism), ScramCredential>,
}

impl ScramStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a credential.
    pub fn insert(&mut self, username: impl Into<String>, credential: ScramCredential) {
        self.entries
            .insert((username.into(), credential.mechanism), credential);
    }

    /// Parses `user:credential` lines; `#` comments and blank lines are skipped.
    pub fn parse(text: &str) -> Result<Self, ScramStoreError> {
        let mut store = ScramStore::new();
        for (idx, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |reason| ScramStoreError {
                line: idx + 1,
                reason,
            };
            let (user, cred) = line
                .split_once(':')
                .ok_or_else(|| err("expected <user>:<credential>"))?;
            if user.is_empty() {
                return Err(err("empty user name"));
            }
            let cred = ScramCredential::parse(cred).map_err(err)?;
            if store
                .entries
                .contains_key(&(user.to_owned(), cred.mechanism))
            {
                return Err(err("user and mechanism already defined"));
            }
            store.insert(user, cred);
        }
        Ok(store)
    }

    /// The text form of the store, one line per credential, sorted.
    pub fn to_text(&self) -> String {
        let mut lines: Vec<String> = self
            .entries
            .iter()
            .map(|((u, _), c)| format!("{u}:{c}\n"))
            .collect();
        lines.sort();
        lines.concat()
    }
}

/// Returns the text of a credential file with `username`'s lines replaced by
/// `credentials` (an empty slice removes the user); other lines and comments are kept.
/// `text` must itself be a valid credential file; the user name must not contain `:`,
/// a control character or surrounding blanks, nor start with `#`.
pub fn set_scram_user_in_text(
    text: &str,
    username: &str,
    credentials: &[ScramCredential],
) -> Result<String, ScramStoreError> {
    ScramStore::parse(text)?;
    let bad_name = username.is_empty()
        || username.contains(':')
        || username.chars().any(char::is_control)
        || username.trim() != username
        || username.starts_with('#');
    if bad_name {
        return Err(ScramStoreError {
            line: 0,
            reason: "invalid user name",
        });
    }
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let t = line.trim();
        let is_user = !t.starts_with('#') && t.split_once(':').is_some_and(|(u, _)| u == username);
        if !is_user {
            out.push_str(line);
            out.push('\n');
        }
    }
    for c in credentials {
        out.push_str(&format!("{username}:{c}\n"));
    }
    Ok(out)
}

impl ScramCredentialStore for ScramStore {
    fn credential(&self, mechanism: ScramMechanism, username: &str) -> Option<ScramCredential> {
        self.entries.get(&(username.to_owned(), mechanism)).cloned()
    }
}
