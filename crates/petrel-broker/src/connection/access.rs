//! Authentication during the CONNECT handshake (user name and password, client
//! certificate, MQTT 5 enhanced authentication with AUTH packets) and the authorisation
//! checks of an established connection.

use bytestring::ByteString;
use petrel_auth::{AuthOutcome, EnhancedAuthExchange, EnhancedStep};
use petrel_codec::{Auth, Connect, Packet, Properties, Property, ReasonCode};

use super::handshake::Io;
use super::Conn;
use crate::core::Core;
use crate::metrics::Metrics;
use crate::transport::{CertIdentity, Peer};

/// Why a login failed: `Some(reason)` refuses the CONNECT with that CONNACK reason (mapped
/// to the closest MQTT 3 return code by the session), `None` closes without one.
pub(super) type Refused = Option<ReasonCode>;

/// Who logged in, and what the CONNACK adds (enhanced authentication's final data).
#[derive(Default)]
pub(super) struct Login {
    /// The user name used for authorisation.
    pub username: Option<ByteString>,
    /// Properties for the CONNACK.
    pub properties: Vec<Property>,
    /// The enhanced authentication method, if one was used.
    pub reauth: Reauth,
}

/// Enhanced authentication after CONNACK (MQTT 5 section 4.12.1): the method used at
/// CONNECT and a re-authentication exchange in progress. Boxed: rarely used, and every
/// connection holds one.
#[derive(Default)]
pub(super) struct Reauth(Option<Box<ReauthState>>);

/// The state of [`Reauth`] once enhanced authentication was used.
struct ReauthState {
    method: ByteString,
    exchange: Option<Box<dyn EnhancedAuthExchange>>,
}

impl Reauth {
    /// Re-authentication with `method`, the one used at CONNECT.
    fn with_method(method: ByteString) -> Self {
        Reauth(Some(Box::new(ReauthState {
            method,
            exchange: None,
        })))
    }

    /// The method used at CONNECT, if any.
    fn method(&self) -> Option<ByteString> {
        self.0.as_ref().map(|s| s.method.clone())
    }

    /// Takes the exchange in progress.
    fn take_exchange(&mut self) -> Option<Box<dyn EnhancedAuthExchange>> {
        self.0.as_mut().and_then(|s| s.exchange.take())
    }

    /// Keeps an exchange in progress (only after CONNECT used a method).
    fn set_exchange(&mut self, exchange: Box<dyn EnhancedAuthExchange>) {
        if let Some(s) = self.0.as_mut() {
            s.exchange = Some(exchange);
        }
    }
}

/// Authenticates a CONNECT. On failure the reason to refuse it with: MQTT 5 0x86
/// (bad user name or password) or 0x87 (not authorised), MQTT 3 return codes 4 or 5.
pub(super) async fn login(
    core: &Core,
    peer: &Peer,
    connect: &Connect,
    io: &mut Io<'_, '_>,
) -> Result<Login, Refused> {
    let access = &core.access;
    if peer.cn_is_username {
        // The verified certificate is the credential.
        return match &peer.identity {
            CertIdentity::Name(cn) => Ok(Login {
                username: Some(ByteString::from(cn.as_str())),
                properties: Vec::new(),
                reauth: Reauth::default(),
            }),
            CertIdentity::None | CertIdentity::Invalid => {
                tracing::debug!(ip = %peer.ip, "no usable certificate common name");
                Err(Some(ReasonCode::NotAuthorized))
            }
        };
    }
    if let Some(method) = connect.properties.authentication_method() {
        return enhanced(core, peer.ip, &method, connect, io).await;
    }
    if connect.username.is_none() && connect.password.is_none() {
        // The listener's own anonymous setting overrides `[auth]`.
        match peer.allow_anonymous {
            Some(true) => return Ok(Login::default()),
            Some(false) => return Err(Some(ReasonCode::NotAuthorized)),
            None => {}
        }
    }
    if access.open() {
        return Ok(Login {
            username: connect.username.clone(),
            properties: Vec::new(),
            reauth: Reauth::default(),
        });
    }
    let user = connect.username.as_deref();
    if !access.admitted(Some(peer.ip), user) {
        // CHECKLIST 20: too many failures; refused without checking.
        tracing::debug!(ip = %peer.ip, ?user, "authentication rate limited");
        return Err(Some(ReasonCode::BadUserNameOrPassword));
    }
    let outcome = access
        .authenticate(
            &connect.client_id,
            user,
            connect.password.as_deref(),
            Some(peer.ip),
        )
        .await;
    match outcome {
        AuthOutcome::Accepted { username } => {
            access.record(true, Some(peer.ip), user);
            Ok(Login {
                username: username.map(ByteString::from),
                properties: Vec::new(),
                reauth: Reauth::default(),
            })
        }
        refused => {
            access.record(false, Some(peer.ip), user);
            let reason = if refused == AuthOutcome::BadCredentials {
                ReasonCode::BadUserNameOrPassword
            } else {
                ReasonCode::NotAuthorized
            };
            tracing::debug!(ip = %peer.ip, ?user, ?reason, "authentication failed");
            Err(Some(reason))
        }
    }
}

/// MQTT 5 enhanced authentication (section 4.12): AUTH 0x18 exchanges until the
/// authenticator succeeds (CONNACK with the final data) or fails (CONNACK 0x86).
async fn enhanced(
    core: &Core,
    ip: std::net::IpAddr,
    method: &ByteString,
    connect: &Connect,
    io: &mut Io<'_, '_>,
) -> Result<Login, Refused> {
    let access = &core.access;
    let exchange = access.enhanced.as_ref().and_then(|e| e.start(method));
    let Some(mut exchange) = exchange else {
        return Err(Some(ReasonCode::BadAuthenticationMethod));
    };
    if !access.admitted(Some(ip), None) {
        return Err(Some(ReasonCode::BadUserNameOrPassword));
    }
    let mut data = connect
        .properties
        .authentication_data()
        .map(|d| d.to_vec())
        .unwrap_or_default();
    loop {
        let (back, step) = access
            .blocking(move || {
                let step = exchange.step(&data);
                (exchange, step)
            })
            .await
            .ok_or(None)?;
        exchange = back;
        match step {
            EnhancedStep::Continue(challenge) => {
                let auth = Auth {
                    reason: ReasonCode::ContinueAuthentication,
                    properties: Properties::new()
                        .with(Property::AuthenticationMethod(method.clone()))
                        .with(Property::AuthenticationData(challenge.into())),
                };
                if !io.send_auth(auth).await {
                    return Err(None);
                }
                match io.next_auth().await {
                    Ok(Some(a))
                        if a.reason == ReasonCode::ContinueAuthentication
                            && a.properties.authentication_method().as_ref() == Some(method) =>
                    {
                        data = a
                            .properties
                            .authentication_data()
                            .map(|d| d.to_vec())
                            .unwrap_or_default();
                    }
                    Ok(None) => return Err(None),
                    _ => {
                        // MQTT-4.12.0-4 / -5: only AUTH with the same method may follow.
                        Metrics::add(&core.metrics.protocol_errors, 1);
                        return Err(Some(ReasonCode::ProtocolError));
                    }
                }
            }
            EnhancedStep::Success { data, username } => {
                access.record(true, Some(ip), Some(&username));
                let mut properties = vec![Property::AuthenticationMethod(method.clone())];
                if let Some(d) = data {
                    properties.push(Property::AuthenticationData(d.into()));
                }
                return Ok(Login {
                    username: Some(ByteString::from(username)),
                    properties,
                    reauth: Reauth::with_method(method.clone()),
                });
            }
            _ => {
                access.record(false, Some(ip), None);
                return Err(Some(ReasonCode::BadUserNameOrPassword));
            }
        }
    }
}

impl Conn {
    /// Whether this client may publish to `topic` (else 0x87, MQTT-3.3.5 / CHECKLIST 19).
    pub(super) fn may_publish(&self, topic: &str) -> bool {
        let user = self.username.as_deref();
        self.core
            .access
            .allows(&self.session.client_id, user, |a, c| {
                a.can_publish(c, topic)
            })
    }

    /// Whether this client may subscribe with `filter` (else SUBACK 0x87 / 0x80).
    pub(super) fn may_subscribe(&self, filter: &str) -> bool {
        let user = self.username.as_deref();
        self.core
            .access
            .allows(&self.session.client_id, user, |a, c| {
                a.can_subscribe(c, filter)
            })
    }

    /// Whether a message on `topic` may be delivered to this client (checked at every
    /// delivery, so a revoked rule also stops existing subscriptions).
    pub(super) fn may_deliver(&self, topic: &str) -> bool {
        let user = self.username.as_deref();
        self.core
            .access
            .allows(&self.session.client_id, user, |a, c| {
                a.can_deliver(c, topic)
            })
    }
}

impl Conn {
    /// AUTH after CONNACK: re-authentication with the method used at CONNECT (MQTT 5
    /// section 4.12.1). Failure closes with DISCONNECT 0x87.
    pub(super) async fn on_auth(&mut self, auth: Auth) {
        let Some(method) = self.reauth.method() else {
            // MQTT-4.12.0-1: no AUTH without an Authentication Method in CONNECT.
            self.protocol_error(ReasonCode::ProtocolError, "MQTT-4.12.0-1");
            return;
        };
        if auth.properties.authentication_method().as_ref() != Some(&method) {
            // MQTT-4.12.1-1: the same method as in CONNECT.
            self.protocol_error(ReasonCode::ProtocolError, "MQTT-4.12.1-1");
            return;
        }
        let exchange = match (auth.reason, self.reauth.take_exchange()) {
            (ReasonCode::ReAuthenticate, None) => {
                let access = &self.core.access;
                access.enhanced.as_ref().and_then(|e| e.start(&method))
            }
            (ReasonCode::ContinueAuthentication, Some(x)) => Some(x),
            _ => None,
        };
        let Some(mut exchange) = exchange else {
            self.protocol_error(ReasonCode::ProtocolError, "MQTT-4.12.1");
            return;
        };
        let data = auth
            .properties
            .authentication_data()
            .map(|d| d.to_vec())
            .unwrap_or_default();
        let stepped = self
            .core
            .access
            .blocking(move || {
                let step = exchange.step(&data);
                (exchange, step)
            })
            .await;
        let Some((exchange, step)) = stepped else {
            self.close_with(super::Close::Server(ReasonCode::UnspecifiedError));
            return;
        };
        let (reason, data) = match step {
            EnhancedStep::Continue(challenge) => {
                self.reauth.set_exchange(exchange);
                (ReasonCode::ContinueAuthentication, Some(challenge))
            }
            EnhancedStep::Success { data, username }
                if self.username.as_deref() == Some(username.as_str()) =>
            {
                (ReasonCode::Success, data)
            }
            _ => {
                // Failed, or authenticated as someone else: DISCONNECT 0x87.
                tracing::debug!(client = %self.session.client_id, "re-authentication failed");
                self.close_with(super::Close::Server(ReasonCode::NotAuthorized));
                return;
            }
        };
        let mut properties = Properties::new().with(Property::AuthenticationMethod(method));
        if let Some(d) = data {
            properties.set(Property::AuthenticationData(d.into()));
        }
        self.send(Packet::Auth(Auth { reason, properties }));
    }
}
