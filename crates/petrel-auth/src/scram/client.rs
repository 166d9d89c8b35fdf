//! The client side of a SCRAM exchange.

use subtle::ConstantTimeEq;

use super::{
    attributes, b64_decode, b64_encode, encode_saslname, new_nonce, valid_nonce, ScramError,
    ScramMechanism, DEFAULT_ITERATIONS,
};

/// The GS2 header we send: no channel binding, no authzid.
const GS2_HEADER: &str = "n,,";

enum State {
    Initial,
    SentFirst { client_first_bare: String },
    SentFinal { expected_server_signature: Vec<u8> },
    Done,
}

/// A sans-IO SCRAM client.
pub struct ScramClient {
    mechanism: ScramMechanism,
    username: String,
    password: Vec<u8>,
    nonce: String,
    min_iterations: u32,
    max_iterations: u32,
    state: State,
}

impl std::fmt::Debug for ScramClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramClient")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl ScramClient {
    /// A client for one exchange.
    pub fn new(mechanism: ScramMechanism, username: &str, password: &[u8]) -> Self {
        ScramClient {
            mechanism,
            username: username.to_owned(),
            password: password.to_vec(),
            nonce: new_nonce(),
            min_iterations: DEFAULT_ITERATIONS,
            max_iterations: 1_000_000,
            state: State::Initial,
        }
    }

    /// Uses a fixed client nonce (test vectors only).
    pub fn with_nonce(mut self, nonce: impl Into<String>) -> Self {
        self.nonce = nonce.into();
        self
    }

    /// Sets the accepted range of server iteration counts (default 4096..=1,000,000):
    /// too few weakens the exchange, too many lets a server burn the client's CPU.
    pub fn with_iteration_range(mut self, min: u32, max: u32) -> Self {
        self.min_iterations = min.max(1);
        self.max_iterations = max.max(self.min_iterations);
        self
    }

    /// The mechanism.
    pub fn mechanism(&self) -> ScramMechanism {
        self.mechanism
    }

    /// The client-first message (CONNECT authentication data).
    pub fn client_first(&mut self) -> String {
        let bare = format!("n={},r={}", encode_saslname(&self.username), self.nonce);
        let msg = format!("{GS2_HEADER}{bare}");
        self.state = State::SentFirst {
            client_first_bare: bare,
        };
        msg
    }

    /// Processes server-first and returns client-final.
    pub fn handle_server_first(&mut self, input: &[u8]) -> Result<String, ScramError> {
        let State::SentFirst { client_first_bare } =
            std::mem::replace(&mut self.state, State::Done)
        else {
            return Err(ScramError::OutOfOrder);
        };
        let msg = std::str::from_utf8(input).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        let attrs = attributes(msg)?;
        let mut it = attrs.iter();
        let nonce = match it.next() {
            Some(('m', _)) => return Err(ScramError::ExtensionUnsupported),
            Some(('r', r)) => *r,
            _ => return Err(ScramError::Malformed("expected r=")),
        };
        if !valid_nonce(nonce) || !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len()
        {
            return Err(ScramError::NonceMismatch);
        }
        let salt = match it.next() {
            Some(('s', s)) => b64_decode(s, "salt is not base64")?,
            _ => return Err(ScramError::Malformed("expected s=")),
        };
        let iterations: u32 = match it.next() {
            Some(('i', i)) => i
                .parse()
                .map_err(|_| ScramError::Malformed("bad iteration count"))?,
            _ => return Err(ScramError::Malformed("expected i=")),
        };
        if iterations < self.min_iterations || iterations > self.max_iterations {
            return Err(ScramError::IterationCount(iterations));
        }
        let mech = self.mechanism;
        let salted = mech.salted_password(&self.password, &salt, iterations);
        let client_key = mech.hmac(&salted, b"Client Key");
        let stored_key = mech.hash(&client_key);
        let without_proof = format!("c={},r={nonce}", b64_encode(GS2_HEADER.as_bytes()));
        let auth_message = format!("{client_first_bare},{msg},{without_proof}");
        let client_signature = mech.hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&client_signature)
            .map(|(a, b)| a ^ b)
            .collect();
        let server_key = mech.hmac(&salted, b"Server Key");
        let expected_server_signature = mech.hmac(&server_key, auth_message.as_bytes());
        self.state = State::SentFinal {
            expected_server_signature,
        };
        Ok(format!("{without_proof},p={}", b64_encode(&proof)))
    }

    /// Checks server-final: `Ok` means the server knows the credential too.
    pub fn handle_server_final(&mut self, input: &[u8]) -> Result<(), ScramError> {
        let State::SentFinal {
            expected_server_signature,
        } = std::mem::replace(&mut self.state, State::Done)
        else {
            return Err(ScramError::OutOfOrder);
        };
        let msg = std::str::from_utf8(input).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        let attrs = attributes(msg)?;
        match attrs.first() {
            Some(('e', e)) => Err(ScramError::ServerError((*e).to_owned())),
            Some(('v', v)) => {
                let sig = b64_decode(v, "server signature is not base64")?;
                if bool::from(sig.as_slice().ct_eq(&expected_server_signature)) {
                    Ok(())
                } else {
                    Err(ScramError::InvalidServerSignature)
                }
            }
            _ => Err(ScramError::Malformed("expected v= or e=")),
        }
    }
}
