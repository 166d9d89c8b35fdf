//! The seam for MQTT 5 enhanced authentication (Authentication Method and Data
//! properties, AUTH packets), with SCRAM as the built-in implementation.
//!
//! The broker, on a CONNECT carrying an Authentication Method, asks its
//! [`EnhancedAuthenticator`] to [`start`](EnhancedAuthenticator::start) an exchange (no
//! exchange means reason 0x8C Bad authentication method), feeds the CONNECT's
//! Authentication Data to [`EnhancedAuthExchange::step`], and then each AUTH packet's
//! data, until the step says [`EnhancedStep::Success`] or [`EnhancedStep::Failure`].
//! Steps may hash: run them off the I/O threads like password checks.

use std::sync::Arc;

use crate::scram::{ScramCredentialStore, ScramMechanism, ScramServer, ServerStep};

/// What to answer after one step of an exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EnhancedStep {
    /// Send AUTH with reason 0x18 (Continue authentication) and this data.
    Continue(Vec<u8>),
    /// Authenticated: CONNACK 0x00 (or AUTH 0x00 on re-authentication) carrying `data`.
    Success {
        /// Authentication Data for the CONNACK, if any.
        data: Option<Vec<u8>>,
        /// The authenticated user name.
        username: String,
    },
    /// Failed: CONNACK 0x86 (Bad user name or password), then close.
    Failure,
}

/// One running exchange.
pub trait EnhancedAuthExchange: Send {
    /// Processes the client's next Authentication Data.
    fn step(&mut self, data: &[u8]) -> EnhancedStep;
}

/// Starts enhanced-authentication exchanges for the methods it supports.
pub trait EnhancedAuthenticator: Send + Sync {
    /// Starts an exchange for `method`, or `None` if the method is not supported.
    fn start(&self, method: &str) -> Option<Box<dyn EnhancedAuthExchange>>;
}

impl EnhancedAuthExchange for ScramServer {
    fn step(&mut self, data: &[u8]) -> EnhancedStep {
        match ScramServer::step(self, data) {
            Ok(ServerStep::Continue(msg)) => EnhancedStep::Continue(msg.into_bytes()),
            Ok(ServerStep::Success {
                server_final,
                username,
            }) => EnhancedStep::Success {
                data: Some(server_final.into_bytes()),
                username,
            },
            Err(_) => EnhancedStep::Failure,
        }
    }
}

/// SCRAM-SHA-256 and SCRAM-SHA-512 against a credential store.
#[derive(Clone)]
pub struct ScramAuthenticator {
    store: Arc<dyn ScramCredentialStore>,
}

impl std::fmt::Debug for ScramAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramAuthenticator").finish_non_exhaustive()
    }
}

impl ScramAuthenticator {
    /// Authenticates against `store`.
    pub fn new(store: Arc<dyn ScramCredentialStore>) -> Self {
        ScramAuthenticator { store }
    }
}

impl EnhancedAuthenticator for ScramAuthenticator {
    fn start(&self, method: &str) -> Option<Box<dyn EnhancedAuthExchange>> {
        let mechanism = ScramMechanism::from_name(method)?;
        Some(Box::new(ScramServer::new(mechanism, self.store.clone())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scram::{ScramClient, ScramCredential, ScramStore};

    fn authn() -> ScramAuthenticator {
        let mut store = ScramStore::new();
        store.insert(
            "u",
            ScramCredential::generate(ScramMechanism::Sha512, b"pw", 4096),
        );
        ScramAuthenticator::new(Arc::new(store))
    }

    fn exchange(password: &[u8]) -> EnhancedStep {
        let mut x = authn().start("SCRAM-SHA-512").expect("supported");
        let mut client = ScramClient::new(ScramMechanism::Sha512, "u", password);
        let EnhancedStep::Continue(first) = x.step(client.client_first().as_bytes()) else {
            panic!("expected continue");
        };
        let Ok(fin) = client.handle_server_first(&first) else {
            panic!("client rejected server-first");
        };
        let last = x.step(fin.as_bytes());
        if let EnhancedStep::Success { data: Some(d), .. } = &last {
            client.handle_server_final(d).expect("server proves itself");
        }
        last
    }

    #[test]
    fn scram_through_the_seam() {
        assert!(
            matches!(exchange(b"pw"), EnhancedStep::Success { ref username, .. } if username == "u")
        );
        assert_eq!(exchange(b"nope"), EnhancedStep::Failure);
        assert!(authn().start("PLAIN").is_none());
        let mut x = authn().start("SCRAM-SHA-256").expect("supported");
        assert_eq!(x.step(b"garbage"), EnhancedStep::Failure);
    }
}
