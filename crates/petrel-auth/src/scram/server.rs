//! The server side of a SCRAM exchange.

use std::sync::Arc;

use subtle::ConstantTimeEq;

use super::{
    attributes, b64_decode, b64_encode, decode_saslname, new_nonce, valid_nonce, ScramCredential,
    ScramCredentialStore, ScramError, ScramMechanism,
};

/// Longest SCRAM message accepted (bytes); longer input is malformed.
const MAX_MESSAGE: usize = 4096;

/// What the server sends next.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerStep {
    /// The server-first message; the exchange continues (MQTT 5 AUTH 0x18).
    Continue(String),
    /// The client proved its identity. Send `server_final` (CONNACK authentication
    /// data) so the client can check the server too.
    Success {
        /// The server-final message (`v=...`).
        server_final: String,
        /// The authenticated user name.
        username: String,
    },
}

enum State {
    Initial,
    SentFirst {
        credential: ScramCredential,
        username: String,
        gs2_header: String,
        client_first_bare: String,
        server_first: String,
        nonce: String,
    },
    Done,
}

/// A sans-IO SCRAM server: feed it the client's messages with [`ScramServer::step`].
pub struct ScramServer {
    mechanism: ScramMechanism,
    store: Arc<dyn ScramCredentialStore>,
    server_nonce: Option<String>,
    state: State,
}

impl std::fmt::Debug for ScramServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramServer")
            .field("mechanism", &self.mechanism)
            .finish_non_exhaustive()
    }
}

impl ScramServer {
    /// A server for one exchange, looking credentials up in `store`.
    pub fn new(mechanism: ScramMechanism, store: Arc<dyn ScramCredentialStore>) -> Self {
        ScramServer {
            mechanism,
            store,
            server_nonce: None,
            state: State::Initial,
        }
    }

    /// Uses a fixed server nonce instead of a random one (test vectors only: a fixed
    /// nonce makes replay possible).
    pub fn with_server_nonce(mut self, nonce: impl Into<String>) -> Self {
        self.server_nonce = Some(nonce.into());
        self
    }

    /// The mechanism.
    pub fn mechanism(&self) -> ScramMechanism {
        self.mechanism
    }

    /// Processes the next client message: client-first first, then client-final. Any
    /// error ends the exchange.
    pub fn step(&mut self, input: &[u8]) -> Result<ServerStep, ScramError> {
        let state = std::mem::replace(&mut self.state, State::Done);
        if input.len() > MAX_MESSAGE {
            return Err(ScramError::Malformed("message too long"));
        }
        let msg = std::str::from_utf8(input).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        match state {
            State::Initial => self.client_first(msg),
            State::SentFirst {
                credential,
                username,
                gs2_header,
                client_first_bare,
                server_first,
                nonce,
            } => {
                let final_without_proof_and_proof = client_final(msg, &gs2_header, &nonce)?;
                let (without_proof, proof) = final_without_proof_and_proof;
                let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
                let mech = self.mechanism;
                let client_signature = mech.hmac(&credential.stored_key, auth_message.as_bytes());
                if proof.len() != client_signature.len() {
                    return Err(ScramError::AuthenticationFailed);
                }
                let client_key: Vec<u8> = proof
                    .iter()
                    .zip(&client_signature)
                    .map(|(a, b)| a ^ b)
                    .collect();
                if !credential.check_client_key(&client_key) {
                    return Err(ScramError::AuthenticationFailed);
                }
                let server_signature = mech.hmac(&credential.server_key, auth_message.as_bytes());
                Ok(ServerStep::Success {
                    server_final: format!("v={}", b64_encode(&server_signature)),
                    username,
                })
            }
            State::Done => Err(ScramError::OutOfOrder),
        }
    }

    fn client_first(&mut self, msg: &str) -> Result<ServerStep, ScramError> {
        // gs2-header: cbind-flag "," [authzid] ","
        let (flag, rest) = msg
            .split_once(',')
            .ok_or(ScramError::Malformed("missing GS2 header"))?;
        match flag {
            "n" | "y" => {}
            f if f.starts_with("p=") => return Err(ScramError::ChannelBindingUnsupported),
            _ => return Err(ScramError::Malformed("bad channel-binding flag")),
        }
        let (authzid, bare) = rest
            .split_once(',')
            .ok_or(ScramError::Malformed("missing GS2 header"))?;
        if !authzid.is_empty() && !authzid.starts_with("a=") {
            return Err(ScramError::Malformed("bad authzid"));
        }
        let gs2_header = &msg[..flag.len() + authzid.len() + 2];
        let attrs = attributes(bare)?;
        let mut it = attrs.iter();
        let username = match it.next() {
            Some(('m', _)) => return Err(ScramError::ExtensionUnsupported),
            Some(('n', n)) => decode_saslname(n)?,
            _ => return Err(ScramError::Malformed("expected n=<user>")),
        };
        if let Some(a) = authzid.strip_prefix("a=") {
            // Acting for another identity is not supported; naming oneself is harmless.
            if decode_saslname(a)? != username {
                return Err(ScramError::AuthenticationFailed);
            }
        }
        let client_nonce = match it.next() {
            Some(('r', r)) if valid_nonce(r) => *r,
            _ => return Err(ScramError::Malformed("expected r=<nonce>")),
        };
        let credential = self
            .store
            .credential(self.mechanism, &username)
            .filter(|c| c.mechanism == self.mechanism)
            .unwrap_or_else(|| ScramCredential::mock(self.mechanism, &username));
        let server_nonce = self.server_nonce.take().unwrap_or_else(new_nonce);
        let nonce = format!("{client_nonce}{server_nonce}");
        let server_first = format!(
            "r={nonce},s={},i={}",
            b64_encode(&credential.salt),
            credential.iterations
        );
        self.state = State::SentFirst {
            credential,
            username,
            gs2_header: gs2_header.to_owned(),
            client_first_bare: bare.to_owned(),
            server_first: server_first.clone(),
            nonce,
        };
        Ok(ServerStep::Continue(server_first))
    }
}

/// Parses client-final; returns (client-final-without-proof, proof).
fn client_final<'a>(
    msg: &'a str,
    gs2_header: &str,
    nonce: &str,
) -> Result<(&'a str, Vec<u8>), ScramError> {
    let (without_proof, proof) = msg
        .rsplit_once(",p=")
        .ok_or(ScramError::Malformed("missing proof"))?;
    let attrs = attributes(without_proof)?;
    let mut it = attrs.iter();
    match it.next() {
        Some(('c', c)) => {
            let cb = b64_decode(c, "channel binding is not base64")?;
            if !bool::from(cb.as_slice().ct_eq(gs2_header.as_bytes())) {
                return Err(ScramError::ChannelBindingMismatch);
            }
        }
        _ => return Err(ScramError::Malformed("expected c=")),
    }
    match it.next() {
        Some(('r', r)) if *r == nonce => {}
        Some(('r', _)) => return Err(ScramError::NonceMismatch),
        _ => return Err(ScramError::Malformed("expected r=")),
    }
    let proof = b64_decode(proof, "proof is not base64")?;
    Ok((without_proof, proof))
}
