//! The seams a broker plugs authentication and authorisation into, and the file-based
//! implementations.

use std::net::IpAddr;

use crate::acl::{Access, Acl};
use crate::password_file::PasswordFile;

/// What a client presented in CONNECT.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct AuthRequest<'a> {
    /// The client identifier.
    pub client_id: &'a str,
    /// The user name, if any.
    pub username: Option<&'a str>,
    /// The password (binary in MQTT), if any.
    pub password: Option<&'a [u8]>,
    /// The peer address, if known.
    pub peer: Option<IpAddr>,
}

impl<'a> AuthRequest<'a> {
    /// A request with no peer address.
    pub fn new(client_id: &'a str, username: Option<&'a str>, password: Option<&'a [u8]>) -> Self {
        AuthRequest {
            client_id,
            username,
            password,
            peer: None,
        }
    }

    /// Sets the peer address.
    pub fn with_peer(mut self, peer: IpAddr) -> Self {
        self.peer = Some(peer);
        self
    }
}

/// The result of authenticating a CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthOutcome {
    /// The client may connect. `username` is the identity to use for authorisation
    /// (normally the one from CONNECT; an authenticator may map it).
    Accepted {
        /// The authenticated user name, `None` for an anonymous client.
        username: Option<String>,
    },
    /// Wrong or missing user name/password: MQTT 5 reason 0x86, MQTT 3 return code 4.
    BadCredentials,
    /// The client is known but not allowed to connect (for example anonymous access is
    /// off): MQTT 5 reason 0x87, MQTT 3 return code 5.
    NotAuthorized,
}

impl AuthOutcome {
    /// Whether the client may connect.
    pub fn is_accepted(&self) -> bool {
        matches!(self, AuthOutcome::Accepted { .. })
    }
}

/// Decides whether a client may connect.
///
/// Implementations may be slow (password hashing, a network call): the broker calls
/// them off its I/O threads with bounded concurrency, so they must be `Send + Sync` and
/// must not assume any async runtime.
pub trait Authenticator: Send + Sync {
    /// Authenticates one CONNECT.
    fn authenticate(&self, request: &AuthRequest<'_>) -> AuthOutcome;
}

/// Who is asking, for authorisation checks.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ClientInfo<'a> {
    /// The client identifier.
    pub client_id: &'a str,
    /// The authenticated user name, if any.
    pub username: Option<&'a str>,
}

impl<'a> ClientInfo<'a> {
    /// Builds a client description.
    pub fn new(client_id: &'a str, username: Option<&'a str>) -> Self {
        ClientInfo {
            client_id,
            username,
        }
    }
}

/// Decides what a connected client may do with topics. Called on hot paths (every
/// publish and delivery): implementations should be fast and non-blocking.
pub trait Authorizer: Send + Sync {
    /// Whether `client` may perform `access` on `topic` (a topic name for
    /// [`Access::Read`] and [`Access::Write`], a topic filter for [`Access::Subscribe`]).
    fn authorize(&self, client: &ClientInfo<'_>, topic: &str, access: Access) -> bool;

    /// Whether `client` may publish to `topic` (else PUBACK/PUBREC 0x87 in MQTT 5).
    fn can_publish(&self, client: &ClientInfo<'_>, topic: &str) -> bool {
        self.authorize(client, topic, Access::Write)
    }

    /// Whether `client` may subscribe with `filter` (else SUBACK 0x87 in MQTT 5, 0x80 in
    /// MQTT 3.1.1).
    fn can_subscribe(&self, client: &ClientInfo<'_>, filter: &str) -> bool {
        self.authorize(client, filter, Access::Subscribe)
    }

    /// Whether a message on `topic` may be delivered to `client` (checked at each
    /// delivery, so revoked rules take effect on existing subscriptions).
    fn can_deliver(&self, client: &ClientInfo<'_>, topic: &str) -> bool {
        self.authorize(client, topic, Access::Read)
    }
}

impl Authorizer for Acl {
    fn authorize(&self, client: &ClientInfo<'_>, topic: &str, access: Access) -> bool {
        self.check(client.client_id, client.username, topic, access)
    }
}

/// Allows everything (the broker's behaviour with no ACL configured).
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

impl Authorizer for AllowAll {
    fn authorize(&self, _client: &ClientInfo<'_>, _topic: &str, _access: Access) -> bool {
        true
    }
}

/// Whether anonymous clients (no user name) may connect: what the configuration says if
/// it says anything, otherwise allowed only when no authenticator is configured.
pub fn allow_anonymous(configured: Option<bool>, authenticator_configured: bool) -> bool {
    configured.unwrap_or(!authenticator_configured)
}

/// An [`Authenticator`] backed by a password file.
#[derive(Debug, Clone)]
pub struct PasswordFileAuthenticator {
    file: PasswordFile,
    allow_anonymous: bool,
}

impl PasswordFileAuthenticator {
    /// Authenticates against `file`; anonymous clients are accepted only if
    /// `allow_anonymous` (see [`allow_anonymous`]).
    pub fn new(file: PasswordFile, allow_anonymous: bool) -> Self {
        PasswordFileAuthenticator {
            file,
            allow_anonymous,
        }
    }

    /// The password file.
    pub fn file(&self) -> &PasswordFile {
        &self.file
    }
}

impl Authenticator for PasswordFileAuthenticator {
    fn authenticate(&self, request: &AuthRequest<'_>) -> AuthOutcome {
        match (request.username, request.password) {
            (None, None) if self.allow_anonymous => AuthOutcome::Accepted { username: None },
            (None, None) => AuthOutcome::NotAuthorized,
            (None, Some(_)) => AuthOutcome::BadCredentials,
            (Some(user), password) => {
                // A missing password is checked as an empty one so it costs the same.
                if self.file.verify(user, password.unwrap_or(b"")) && password.is_some() {
                    AuthOutcome::Accepted {
                        username: Some(user.to_owned()),
                    }
                } else {
                    AuthOutcome::BadCredentials
                }
            }
        }
    }
}

/// An [`Authenticator`] for brokers with no authentication configured: accepts
/// everyone if anonymous access is allowed, else only clients giving a user name (which
/// is then trusted as is; use a real authenticator in production).
#[derive(Debug, Clone, Copy)]
pub struct AnonymousAuthenticator {
    allow_anonymous: bool,
}

impl AnonymousAuthenticator {
    /// Builds the authenticator.
    pub fn new(allow_anonymous: bool) -> Self {
        AnonymousAuthenticator { allow_anonymous }
    }
}

impl Authenticator for AnonymousAuthenticator {
    fn authenticate(&self, request: &AuthRequest<'_>) -> AuthOutcome {
        match request.username {
            None if !self.allow_anonymous => AuthOutcome::NotAuthorized,
            u => AuthOutcome::Accepted {
                username: u.map(str::to_owned),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{HashOptions, PasswordHash};

    fn authn(allow: bool) -> PasswordFileAuthenticator {
        let h = PasswordHash::create(b"pw", &HashOptions::default().with_iterations(10));
        PasswordFileAuthenticator::new(PasswordFile::parse(&format!("alice:{h}\n")).unwrap(), allow)
    }

    #[test]
    fn password_file_authenticator() {
        let a = authn(false);
        let ok = a.authenticate(&AuthRequest::new("c", Some("alice"), Some(b"pw")));
        assert_eq!(
            ok,
            AuthOutcome::Accepted {
                username: Some("alice".into())
            }
        );
        for (u, p) in [
            (Some("alice"), Some(&b"bad"[..])),
            (Some("alice"), None),
            (Some("bob"), Some(b"pw")),
            (None, Some(b"pw")),
        ] {
            assert_eq!(
                a.authenticate(&AuthRequest::new("c", u, p)),
                AuthOutcome::BadCredentials
            );
        }
        assert_eq!(
            a.authenticate(&AuthRequest::new("c", None, None)),
            AuthOutcome::NotAuthorized
        );
        assert!(authn(true)
            .authenticate(&AuthRequest::new("c", None, None))
            .is_accepted());
    }

    #[test]
    fn anonymous_default_follows_configuration() {
        assert!(allow_anonymous(None, false));
        assert!(!allow_anonymous(None, true));
        assert!(allow_anonymous(Some(true), true));
        assert!(!allow_anonymous(Some(false), false));
        assert!(!AnonymousAuthenticator::new(false)
            .authenticate(&AuthRequest::new("c", None, None))
            .is_accepted());
        assert!(AnonymousAuthenticator::new(true)
            .authenticate(&AuthRequest::new("c", None, None))
            .is_accepted());
    }

    #[test]
    fn acl_as_authorizer() {
        let acl = Acl::parse("user u\ntopic read a/#\ntopic write b\n").unwrap();
        let c = ClientInfo::new("c", Some("u"));
        assert!(acl.can_subscribe(&c, "a/+"));
        assert!(acl.can_deliver(&c, "a/x"));
        assert!(!acl.can_publish(&c, "a/x"));
        assert!(acl.can_publish(&c, "b"));
        assert!(AllowAll.can_publish(&c, "anything"));
    }
}
