#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod acl;
mod enhanced;
mod filter;
pub mod hash;
pub mod passwd;
pub mod password_file;
pub mod rate_limit;
pub mod scram;
mod traits;

pub use acl::{Access, Acl, AclError, AclOptions};
pub use enhanced::{EnhancedAuthExchange, EnhancedAuthenticator, EnhancedStep, ScramAuthenticator};
pub use hash::{HashOptions, HashScheme, PasswordHash};
pub use passwd::{passwd, passwd_upgrade, PasswdAction, PasswdError, PasswdOutcome, PasswdRequest};
pub use password_file::{PasswordFile, PasswordFileError};
pub use rate_limit::{AuthRateLimiter, RateLimitConfig, Verdict};
pub use scram::{
    set_scram_user_in_text, ScramClient, ScramCredential, ScramCredentialStore, ScramError,
    ScramMechanism, ScramServer, ScramStore, ServerStep,
};
pub use traits::{
    allow_anonymous, AllowAll, AnonymousAuthenticator, AuthOutcome, AuthRequest, Authenticator,
    Authorizer, ClientInfo, PasswordFileAuthenticator,
};
