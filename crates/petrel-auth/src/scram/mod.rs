//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) as sans-IO state machines, for
//! MQTT 5 enhanced authentication (the Authentication Method property carries
//! [`ScramMechanism::name`], the Authentication Data property carries the messages).
//!
//! Exchange in MQTT 5 terms:
//!
//! 1. client CONNECT, data = [`ScramClient::client_first`]
//! 2. server AUTH 0x18 (continue), data = [`ScramServer::step`] → [`ServerStep::Continue`]
//! 3. client AUTH 0x18, data = [`ScramClient::handle_server_first`]
//! 4. server CONNACK 0x00, data = [`ServerStep::Success`]'s `server_final`; the client
//!    checks it with [`ScramClient::handle_server_final`]. On any error the server sends
//!    CONNACK 0x86 (bad user name or password) or 0x87.
//!
//! No channel binding is offered (`n,,`); SASLprep is not applied (names and passwords
//! are compared as their UTF-8 bytes). An unknown user gets a plausible server-first
//! message (a salt derived from the name with a per-process secret) and fails only at
//! the final step, exactly like a wrong password.

mod client;
mod credential;
mod server;

pub use client::ScramClient;
pub use credential::{
    set_scram_user_in_text, ScramCredential, ScramCredentialStore, ScramStore, ScramStoreError,
};
pub use server::{ScramServer, ServerStep};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256, Sha512};

/// Default iteration count for new credentials (RFC 7677's minimum).
pub const DEFAULT_ITERATIONS: u32 = 4096;

/// The hash function of a SCRAM mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ScramMechanism {
    /// SCRAM-SHA-256 (RFC 7677).
    Sha256,
    /// SCRAM-SHA-512.
    Sha512,
}

impl ScramMechanism {
    /// The SASL mechanism name, as used in the MQTT 5 Authentication Method property.
    pub fn name(self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => "SCRAM-SHA-256",
            ScramMechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    /// Looks a mechanism up by its SASL name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "SCRAM-SHA-256" => Some(ScramMechanism::Sha256),
            "SCRAM-SHA-512" => Some(ScramMechanism::Sha512),
            _ => None,
        }
    }

    /// Digest length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            ScramMechanism::Sha256 => 32,
            ScramMechanism::Sha512 => 64,
        }
    }

    pub(crate) fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        // HMAC accepts keys of any length, so construction cannot fail.
        match self {
            ScramMechanism::Sha256 => {
                let mut m =
                    <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
            ScramMechanism::Sha512 => {
                let mut m =
                    <Hmac<Sha512> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
        }
    }

    pub(crate) fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => Sha256::digest(data).to_vec(),
            ScramMechanism::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// `Hi(password, salt, i)`: PBKDF2 with this mechanism's HMAC.
    pub(crate) fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        let mut out = vec![0u8; self.output_len()];
        match self {
            ScramMechanism::Sha256 => {
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out)
            }
            ScramMechanism::Sha512 => {
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out)
            }
        }
        out
    }
}

/// Why a SCRAM exchange failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScramError {
    /// A message does not follow the SCRAM grammar.
    #[error("malformed SCRAM message: {0}")]
    Malformed(&'static str),
    /// The client asked for channel binding, which MQTT does not provide.
    #[error("channel binding is not supported")]
    ChannelBindingUnsupported,
    /// A mandatory extension (`m=`) was sent.
    #[error("unsupported mandatory extension")]
    ExtensionUnsupported,
    /// The nonce in a later message does not continue the exchange's nonce.
    #[error("nonce mismatch")]
    NonceMismatch,
    /// The channel-binding attribute does not repeat the GS2 header.
    #[error("channel binding data mismatch")]
    ChannelBindingMismatch,
    /// Wrong password or unknown user (deliberately indistinguishable).
    #[error("authentication failed")]
    AuthenticationFailed,
    /// The server's signature is wrong: the server does not know the password.
    #[error("server signature does not verify")]
    InvalidServerSignature,
    /// The server reported an error (`e=` attribute).
    #[error("server reported: {0}")]
    ServerError(String),
    /// The server's iteration count is outside the client's accepted range.
    #[error("iteration count {0} out of accepted range")]
    IterationCount(u32),
    /// A message arrived in a state that does not expect one.
    #[error("unexpected message in this state")]
    OutOfOrder,
}

/// A fresh random nonce: printable, without `,`.
pub(crate) fn new_nonce() -> String {
    let mut raw = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    B64.encode(raw)
}

/// Whether `n` is a valid nonce (printable ASCII except `,`).
pub(crate) fn valid_nonce(n: &str) -> bool {
    !n.is_empty() && n.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b',')
}

/// Escapes a user name for `n=` (`,` → `=2C`, `=` → `=3D`).
pub(crate) fn encode_saslname(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

/// Reverses [`encode_saslname`]; any other `=` is an error.
pub(crate) fn decode_saslname(s: &str) -> Result<String, ScramError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('=') {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        if let Some(t) = tail.strip_prefix("=2C") {
            out.push(',');
            rest = t;
        } else if let Some(t) = tail.strip_prefix("=3D") {
            out.push('=');
            rest = t;
        } else {
            return Err(ScramError::Malformed("bad escape in user name"));
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Splits `k=v,k=v` attributes.
pub(crate) fn attributes(msg: &str) -> Result<Vec<(char, &str)>, ScramError> {
    msg.split(',')
        .map(|a| {
            let mut chars = a.chars();
            match (chars.next(), chars.next()) {
                (Some(k), Some('=')) if k.is_ascii_alphabetic() => Ok((k, &a[2..])),
                _ => Err(ScramError::Malformed("attribute is not k=value")),
            }
        })
        .collect()
}

/// Decodes standard base64, as a SCRAM error.
pub(crate) fn b64_decode(s: &str, what: &'static str) -> Result<Vec<u8>, ScramError> {
    B64.decode(s).map_err(|_| ScramError::Malformed(what))
}

/// Encodes standard base64.
pub(crate) fn b64_encode(b: &[u8]) -> String {
    B64.encode(b)
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
