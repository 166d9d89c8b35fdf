//! SCRAM-SHA-256/512 enhanced authentication (MQTT 5 section 4.12): the client sends the
//! method and client-first in CONNECT, answers the server-first AUTH with client-final,
//! and checks the server-final carried in CONNACK. Every connection runs a fresh exchange.

use bytes::Bytes;
use petrel_auth::{ScramClient, ScramMechanism};
use petrel_codec::{Auth, ByteString, Properties, Property, ReasonCode};
use petrel_session::ClientConfig;

/// SCRAM credentials, set with [`crate::ConnectOptions::scram`].
#[derive(Clone)]
pub struct ScramLogin {
    mechanism: ScramMechanism,
    username: String,
    password: Bytes,
}

impl std::fmt::Debug for ScramLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramLogin")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl ScramLogin {
    /// Credentials for `mechanism`.
    pub fn new(
        mechanism: ScramMechanism,
        username: impl Into<String>,
        password: impl Into<Bytes>,
    ) -> Self {
        Self {
            mechanism,
            username: username.into(),
            password: password.into(),
        }
    }

    /// The mechanism.
    pub fn mechanism(&self) -> ScramMechanism {
        self.mechanism
    }

    /// The user name.
    pub fn username(&self) -> &str {
        &self.username
    }
}

/// One exchange in progress (one connection attempt).
pub(crate) struct ScramExchange {
    client: ScramClient,
    method: &'static str,
    answered: bool,
}

impl ScramExchange {
    /// Starts an exchange with a fresh nonce and puts the method and client-first message
    /// into `config` (the CONNECT properties).
    pub(crate) fn start(login: &ScramLogin, config: &mut ClientConfig) -> Self {
        let mut client = ScramClient::new(login.mechanism, &login.username, &login.password);
        let first = client.client_first();
        let method = login.mechanism.name();
        config.auth_method = Some(ByteString::from_static(method));
        config.auth_data = Some(Bytes::from(first.into_bytes()));
        Self {
            client,
            method,
            answered: false,
        }
    }

    /// Answers the server-first AUTH (Continue Authentication) with client-final.
    pub(crate) fn on_auth(&mut self, auth: &Auth) -> Result<Auth, String> {
        if auth.reason != ReasonCode::ContinueAuthentication || self.answered {
            return Err(format!("unexpected AUTH {:?} from the server", auth.reason));
        }
        if auth.properties.authentication_method().as_deref() != Some(self.method) {
            return Err("AUTH from the server names another method".into());
        }
        let data = auth
            .properties
            .authentication_data()
            .ok_or("AUTH from the server carries no authentication data")?;
        let last = self
            .client
            .handle_server_first(&data)
            .map_err(|e| format!("SCRAM server-first: {e}"))?;
        self.answered = true;
        Ok(Auth {
            reason: ReasonCode::ContinueAuthentication,
            properties: Properties::new()
                .with(Property::AuthenticationMethod(ByteString::from_static(
                    self.method,
                )))
                .with(Property::AuthenticationData(Bytes::from(last.into_bytes()))),
        })
    }

    /// Checks the server-final message in CONNACK: the server proves it knows the
    /// credential too.
    pub(crate) fn verify(&mut self, data: Option<&Bytes>) -> Result<(), String> {
        let data = data.ok_or("CONNACK carries no SCRAM server-final message")?;
        self.client
            .handle_server_final(data)
            .map_err(|e| format!("SCRAM server-final: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use petrel_auth::{ScramCredential, ScramServer, ScramStore, ServerStep};

    use super::*;

    /// Runs an exchange against a real server up to the server-final message.
    fn exchange(m: ScramMechanism) -> (ScramExchange, String) {
        let mut store = ScramStore::new();
        store.insert("alice", ScramCredential::generate(m, b"wonderland", 4096));
        let mut server = ScramServer::new(m, Arc::new(store));
        let mut config = ClientConfig::new("c", petrel_codec::ProtocolVersion::V5);
        let mut x = ScramExchange::start(&ScramLogin::new(m, "alice", "wonderland"), &mut config);
        assert_eq!(config.auth_method.as_deref(), Some(m.name()));
        let first = config.auth_data.unwrap();
        let ServerStep::Continue(server_first) = server.step(&first).unwrap() else {
            panic!("server-first expected");
        };
        let auth = Auth {
            reason: ReasonCode::ContinueAuthentication,
            properties: Properties::new()
                .with(Property::AuthenticationMethod(ByteString::from_static(
                    m.name(),
                )))
                .with(Property::AuthenticationData(
                    server_first.into_bytes().into(),
                )),
        };
        let reply = x.on_auth(&auth).unwrap();
        assert!(
            x.on_auth(&auth).is_err(),
            "a second server-first is refused"
        );
        let ServerStep::Success { server_final, .. } = server
            .step(&reply.properties.authentication_data().unwrap())
            .unwrap()
        else {
            panic!("server-final expected");
        };
        (x, server_final)
    }

    #[test]
    fn server_signature_is_checked() {
        let (mut x, server_final) = exchange(ScramMechanism::Sha256);
        assert!(x.verify(Some(&Bytes::from(server_final))).is_ok());

        let (mut x, server_final) = exchange(ScramMechanism::Sha512);
        // A flipped signature character: the server does not know the credential.
        let mut forged = server_final.into_bytes();
        if let Some(c) = forged.get_mut(2) {
            *c = if *c == b'A' { b'B' } else { b'A' };
        }
        let err = x.verify(Some(&Bytes::from(forged))).unwrap_err();
        assert!(err.contains("server-final"), "{err}");

        let (mut x, _) = exchange(ScramMechanism::Sha256);
        assert!(x
            .verify(None)
            .unwrap_err()
            .contains("no SCRAM server-final"));
    }
}
