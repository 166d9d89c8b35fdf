//! Authentication and authorisation as the broker runs them: which authenticator,
//! authoriser and enhanced authenticator are plugged in, the failed-login rate limiter and
//! the bound on concurrent password checks.

pub mod config;

use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use petrel_auth::scram::ScramStoreError;
use petrel_auth::{
    Acl, AclError, AnonymousAuthenticator, AuthOutcome, AuthRateLimiter, AuthRequest,
    Authenticator, Authorizer, ClientInfo, EnhancedAuthenticator, PasswordFile,
    PasswordFileAuthenticator, PasswordFileError, RateLimitConfig, ScramAuthenticator, ScramStore,
    Verdict,
};
use tokio::sync::Semaphore;

use self::config::{AuthConfig, Mqtt3PublishDenied};

/// Why the authentication or authorisation files could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecurityError {
    /// The password file is unreadable or has a malformed line (the error names it).
    #[error("auth.password_file {path}: {source}")]
    PasswordFile {
        /// The file.
        path: String,
        /// What is wrong.
        source: PasswordFileError,
    },
    /// The ACL file is unreadable or has a malformed line (the error names it).
    #[error("auth.acl_file {path}: {source}")]
    Acl {
        /// The file.
        path: String,
        /// What is wrong.
        source: AclError,
    },
    /// The SCRAM credential file has a malformed line (the error names it).
    #[error("auth.scram_file {path}: {source}")]
    Scram {
        /// The file.
        path: String,
        /// What is wrong.
        source: ScramStoreError,
    },
    /// The SCRAM credential file cannot be read.
    #[error("auth.scram_file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The authentication and authorisation a broker uses. Built from `[auth]` by
/// [`Security::from_config`]; any part can be replaced by a user's own implementation of
/// the `petrel-auth` traits (an HTTP or database authenticator, say).
#[derive(Clone, Default)]
pub struct Security {
    authenticator: Option<Arc<dyn Authenticator>>,
    authorizer: Option<Arc<dyn Authorizer>>,
    enhanced: Option<Arc<dyn EnhancedAuthenticator>>,
}

impl fmt::Debug for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Security")
            .field("authenticator", &self.authenticator.is_some())
            .field("authorizer", &self.authorizer.is_some())
            .field("enhanced", &self.enhanced.is_some())
            .finish()
    }
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

impl Security {
    /// Loads the files named in `[auth]`. A malformed line in any of them is an error
    /// naming the file and the line.
    pub fn from_config(auth: &AuthConfig) -> Result<Self, SecurityError> {
        let mut security = Security::default();
        if let Some(path) = &auth.password_file {
            let file = PasswordFile::load(path).map_err(|source| SecurityError::PasswordFile {
                path: display(path),
                source,
            })?;
            let anonymous = petrel_auth::allow_anonymous(auth.allow_anonymous, true);
            security.authenticator =
                Some(Arc::new(PasswordFileAuthenticator::new(file, anonymous)));
        }
        if let Some(path) = &auth.acl_file {
            let acl = Acl::load(path).map_err(|source| SecurityError::Acl {
                path: display(path),
                source,
            })?;
            security.authorizer = Some(Arc::new(acl));
        }
        if let Some(path) = &auth.scram_file {
            let text = std::fs::read_to_string(path).map_err(|source| SecurityError::Read {
                path: display(path),
                source,
            })?;
            let store = ScramStore::parse(&text).map_err(|source| SecurityError::Scram {
                path: display(path),
                source,
            })?;
            security.enhanced = Some(Arc::new(ScramAuthenticator::new(Arc::new(store))));
        }
        Ok(security)
    }

    /// Uses `authenticator` for CONNECT user names and passwords. It decides about
    /// anonymous clients itself.
    pub fn with_authenticator(mut self, authenticator: Arc<dyn Authenticator>) -> Self {
        self.authenticator = Some(authenticator);
        self
    }

    /// Uses `authorizer` for publish, subscribe and delivery checks.
    pub fn with_authorizer(mut self, authorizer: Arc<dyn Authorizer>) -> Self {
        self.authorizer = Some(authorizer);
        self
    }

    /// Uses `enhanced` for MQTT 5 enhanced authentication (CONNECT with an
    /// Authentication Method).
    pub fn with_enhanced_authenticator(mut self, enhanced: Arc<dyn EnhancedAuthenticator>) -> Self {
        self.enhanced = Some(enhanced);
        self
    }
}

/// The run-time state: the plugged-in parts plus the limiter and the check bound.
pub(crate) struct Access {
    /// `None`: anonymous access only decided by `allow_anonymous` (no expensive check).
    authenticator: Option<Arc<dyn Authenticator>>,
    /// `None`: everything is allowed.
    pub authorizer: Option<Arc<dyn Authorizer>>,
    /// MQTT 5 enhanced authentication.
    pub enhanced: Option<Arc<dyn EnhancedAuthenticator>>,
    allow_anonymous: bool,
    /// What MQTT 3 clients get for an unauthorised PUBLISH.
    pub mqtt3_publish_denied: Mqtt3PublishDenied,
    limiter: Mutex<AuthRateLimiter>,
    checks: Semaphore,
}

impl fmt::Debug for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Access")
            .field("authenticator", &self.authenticator.is_some())
            .field("authorizer", &self.authorizer.is_some())
            .field("allow_anonymous", &self.allow_anonymous)
            .finish_non_exhaustive()
    }
}

impl Access {
    /// Combines the plugged-in parts with the settings of `[auth]`.
    pub fn new(security: Security, auth: &AuthConfig) -> Self {
        let mut limits = RateLimitConfig::default();
        limits.free_failures = auth.max_failures;
        limits.max_delay = Duration::from_secs(auth.max_backoff_secs.max(1));
        let configured = security.authenticator.is_some() || security.enhanced.is_some();
        Access {
            authenticator: security.authenticator,
            authorizer: security.authorizer,
            enhanced: security.enhanced,
            allow_anonymous: petrel_auth::allow_anonymous(auth.allow_anonymous, configured),
            mqtt3_publish_denied: auth.mqtt3_publish_denied,
            limiter: Mutex::new(AuthRateLimiter::new(limits)),
            checks: Semaphore::new(auth.max_concurrent_checks.max(1)),
        }
    }

    /// Whether every CONNECT is accepted without any check (the fast path).
    pub fn open(&self) -> bool {
        self.authenticator.is_none() && self.enhanced.is_none() && self.allow_anonymous
    }

    fn limiter(&self) -> std::sync::MutexGuard<'_, AuthRateLimiter> {
        self.limiter.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether an attempt from `peer` for `username` may be checked at all.
    pub fn admitted(&self, peer: Option<IpAddr>, username: Option<&str>) -> bool {
        matches!(
            self.limiter().check(Instant::now(), peer, username),
            Verdict::Allowed
        )
    }

    /// Records the result of an attempt for the rate limiter.
    pub fn record(&self, ok: bool, peer: Option<IpAddr>, username: Option<&str>) {
        let now = Instant::now();
        if ok {
            self.limiter().record_success(now, username);
        } else {
            self.limiter().record_failure(now, peer, username);
        }
    }

    /// Checks a user name and password off the I/O threads, at most
    /// `max_concurrent_checks` at once.
    pub async fn authenticate(
        &self,
        client_id: &str,
        username: Option<&str>,
        password: Option<&[u8]>,
        peer: Option<IpAddr>,
    ) -> AuthOutcome {
        let Some(authenticator) = self.authenticator.clone() else {
            if self.enhanced.is_some() && (username.is_some() || password.is_some()) {
                // Only enhanced authentication can check credentials: a plain user
                // name is never trusted as is.
                return AuthOutcome::BadCredentials;
            }
            let anonymous = AnonymousAuthenticator::new(self.allow_anonymous);
            return anonymous.authenticate(&AuthRequest::new(client_id, username, password));
        };
        let Ok(_permit) = self.checks.acquire().await else {
            return AuthOutcome::NotAuthorized;
        };
        let client_id = client_id.to_owned();
        let username = username.map(str::to_owned);
        let password = password.map(<[u8]>::to_vec);
        let task = tokio::task::spawn_blocking(move || {
            let mut request =
                AuthRequest::new(&client_id, username.as_deref(), password.as_deref());
            if let Some(ip) = peer {
                request = request.with_peer(ip);
            }
            authenticator.authenticate(&request)
        });
        task.await.unwrap_or(AuthOutcome::NotAuthorized)
    }

    /// Runs a blocking step (such as a SCRAM step) off the I/O threads within the bound.
    pub async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let _permit = self.checks.acquire().await.ok()?;
        tokio::task::spawn_blocking(f).await.ok()
    }

    /// Whether `client` may do `check` on `topic`; true without an authoriser.
    pub fn allows(
        &self,
        client_id: &str,
        username: Option<&str>,
        check: impl FnOnce(&dyn Authorizer, &ClientInfo<'_>) -> bool,
    ) -> bool {
        match &self.authorizer {
            None => true,
            Some(a) => check(a.as_ref(), &ClientInfo::new(client_id, username)),
        }
    }
}
