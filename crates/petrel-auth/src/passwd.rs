//! Editing password files on disk, with `mosquitto_passwd`'s semantics. This is what
//! `petrel passwd` calls; prompting for the password is the caller's business.
//!
//! | mosquitto_passwd          | here                                                   |
//! |---------------------------|--------------------------------------------------------|
//! | `-c FILE USER` (`-b PASS`)| [`PasswdAction::Set`] with `create: true`: the file is created, or overwritten, holding only USER |
//! | `FILE USER` (`-b PASS`)   | [`PasswdAction::Set`]: the file must exist; USER is added or updated in place |
//! | `-D FILE USER`            | [`PasswdAction::Delete`]: the file must exist and hold USER |
//! | `-U FILE`                 | [`passwd_upgrade`]: hash the plain-text passwords in place |
//! | `-H sha512-pbkdf2 / -I N` | [`HashOptions`] ([`HashScheme::from_mosquitto_name`](crate::HashScheme::from_mosquitto_name)) |
//!
//! The file is replaced atomically (written beside it, then renamed), a new file is
//! created readable by its owner only, and an existing file keeps its permissions.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::hash::{HashOptions, PasswordHash};
use crate::password_file::{
    hash_plaintext_in_text, remove_user_from_text, set_user_in_text, validate_username,
    PasswordFileError,
};

/// What to do to the user.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum PasswdAction<'a> {
    /// Set (add or update) the user's password.
    Set(&'a [u8]),
    /// Remove the user (`-D`).
    Delete,
}

/// A `petrel passwd` request.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PasswdRequest<'a> {
    /// The password file.
    pub path: PathBuf,
    /// The user to change.
    pub username: &'a str,
    /// The change.
    pub action: PasswdAction<'a>,
    /// `-c`: create the file (overwriting any existing one) instead of editing it.
    pub create: bool,
    /// How new hashes are made.
    pub options: HashOptions,
}

impl<'a> PasswdRequest<'a> {
    /// A request with default hash options and `create` off.
    pub fn new(path: impl Into<PathBuf>, username: &'a str, action: PasswdAction<'a>) -> Self {
        PasswdRequest {
            path: path.into(),
            username,
            action,
            create: false,
            options: HashOptions::default(),
        }
    }

    /// Sets `-c` (create/overwrite).
    pub fn create(mut self, create: bool) -> Self {
        self.create = create;
        self
    }

    /// Sets the hash options.
    pub fn options(mut self, options: HashOptions) -> Self {
        self.options = options;
        self
    }
}

/// What [`passwd`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PasswdOutcome {
    /// A new file was written holding the user.
    Created,
    /// The user was added to an existing file.
    Added,
    /// The user's password was replaced.
    Updated,
    /// The user was removed.
    Deleted,
}

/// Why [`passwd`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PasswdError {
    /// `-c` together with `-D`.
    #[error("-c and -D cannot be used together")]
    CreateAndDelete,
    /// The file does not exist and `-c` was not given.
    #[error("password file {0} does not exist (use -c to create it)")]
    NotFound(String),
    /// `-D` for a user the file does not hold.
    #[error("user {0:?} not found")]
    UserNotFound(String),
    /// The file or the user name is invalid.
    #[error(transparent)]
    File(#[from] PasswordFileError),
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> PasswdError + '_ {
    move |source| PasswdError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Creates, updates or deletes a user in a password file (see the module docs).
pub fn passwd(req: &PasswdRequest<'_>) -> Result<PasswdOutcome, PasswdError> {
    let path = req.path.as_path();
    if req.create && matches!(req.action, PasswdAction::Delete) {
        return Err(PasswdError::CreateAndDelete);
    }
    validate_username(req.username)?;
    let existing = if req.create {
        None
    } else {
        match std::fs::read_to_string(path) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(PasswdError::NotFound(path.display().to_string()))
            }
            Err(e) => return Err(io_err(path)(e)),
        }
    };
    let (text, outcome) = match (req.action, existing) {
        (PasswdAction::Set(password), None) => {
            let hash = PasswordHash::create(password, &req.options);
            (
                set_user_in_text("", req.username, &hash)?,
                PasswdOutcome::Created,
            )
        }
        (PasswdAction::Set(password), Some(old)) => {
            let had = crate::PasswordFile::parse(&old)?.contains(req.username);
            let hash = PasswordHash::create(password, &req.options);
            let outcome = if had {
                PasswdOutcome::Updated
            } else {
                PasswdOutcome::Added
            };
            (set_user_in_text(&old, req.username, &hash)?, outcome)
        }
        (PasswdAction::Delete, Some(old)) => {
            let (text, found) = remove_user_from_text(&old, req.username)?;
            if !found {
                return Err(PasswdError::UserNotFound(req.username.to_owned()));
            }
            (text, PasswdOutcome::Deleted)
        }
        (PasswdAction::Delete, None) => return Err(PasswdError::CreateAndDelete),
    };
    write_atomically(path, text.as_bytes())?;
    Ok(outcome)
}

/// `mosquitto_passwd -U FILE`: hashes every plain-text password in an existing file in
/// place (lines already hashed are kept) and returns how many were hashed.
pub fn passwd_upgrade(path: &Path, options: &HashOptions) -> Result<usize, PasswdError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(PasswdError::NotFound(path.display().to_string()))
        }
        Err(e) => return Err(io_err(path)(e)),
    };
    let (out, n) = hash_plaintext_in_text(&text, options)?;
    if n > 0 {
        write_atomically(path, out.as_bytes())?;
    }
    Ok(n)
}

/// Writes `bytes` to a sibling temporary file and renames it over `path`.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), PasswdError> {
    let file_name = path.file_name().ok_or_else(|| {
        io_err(path)(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a file path",
        ))
    })?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let old_perms = std::fs::metadata(path).ok().map(|m| m.permissions());
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let result = (|| {
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        if let Some(p) = old_perms {
            f.set_permissions(p)?;
        }
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io_err(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PasswordFile;

    fn fast() -> HashOptions {
        HashOptions::default().with_iterations(10)
    }

    fn tmpdir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("petrel-auth-passwd-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn create_add_update_delete() {
        let dir = tmpdir("cycle");
        let file = dir.join("pw");
        let set = |user, pw, create| {
            passwd(
                &PasswdRequest::new(&file, user, PasswdAction::Set(pw))
                    .create(create)
                    .options(fast()),
            )
        };
        assert!(matches!(
            set("a", b"1", false),
            Err(PasswdError::NotFound(_))
        ));
        assert_eq!(set("a", b"1", true).unwrap(), PasswdOutcome::Created);
        assert_eq!(set("b", b"2", false).unwrap(), PasswdOutcome::Added);
        assert_eq!(set("a", b"3", false).unwrap(), PasswdOutcome::Updated);
        let f = PasswordFile::load(&file).unwrap();
        assert!(f.verify("a", b"3") && f.verify("b", b"2") && !f.verify("a", b"1"));
        let del = |user| passwd(&PasswdRequest::new(&file, user, PasswdAction::Delete));
        assert_eq!(del("a").unwrap(), PasswdOutcome::Deleted);
        assert!(matches!(del("a"), Err(PasswdError::UserNotFound(_))));
        let f = PasswordFile::load(&file).unwrap();
        assert!(!f.contains("a") && f.contains("b"));
        // -c overwrites: only the new user remains.
        assert_eq!(set("c", b"4", true).unwrap(), PasswdOutcome::Created);
        let f = PasswordFile::load(&file).unwrap();
        assert_eq!(f.len(), 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(
                mode & 0o077,
                0,
                "new password file must not be group/world readable"
            );
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn upgrade_hashes_plaintext_in_place() {
        let dir = tmpdir("upgrade");
        let file = dir.join("pw");
        assert!(matches!(
            passwd_upgrade(&file, &fast()),
            Err(PasswdError::NotFound(_))
        ));
        std::fs::write(&file, "a:one\nb:two\n").unwrap();
        assert_eq!(passwd_upgrade(&file, &fast()).unwrap(), 2);
        let f = PasswordFile::load(&file).unwrap();
        assert!(f.verify("a", b"one") && f.verify("b", b"two"));
        assert_eq!(passwd_upgrade(&file, &fast()).unwrap(), 0);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn refuses_to_edit_a_malformed_file() {
        let dir = tmpdir("bad");
        let file = dir.join("pw");
        std::fs::write(&file, "ok-looking\n").unwrap();
        let r = passwd(&PasswdRequest::new(&file, "a", PasswdAction::Set(b"x")).options(fast()));
        assert!(matches!(
            r,
            Err(PasswdError::File(PasswordFileError::Line { line: 1, .. }))
        ));
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "ok-looking\n");
        let r = passwd(&PasswdRequest::new(&file, "a", PasswdAction::Delete).create(true));
        assert!(matches!(r, Err(PasswdError::CreateAndDelete)));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
