//! The password file `mosquitto_passwd` writes: one `user:hash` per line.
//!
//! Blank lines and lines whose first non-blank character is `#` are ignored. Every other
//! line must be `<user>:<hash>` with a non-empty user name and a hash [`PasswordHash`]
//! understands; anything else (including a plain-text password that was never hashed,
//! or a user listed twice) is an error naming the line, never a silently different user.

use std::collections::HashMap;
use std::path::Path;

use crate::hash::{HashError, HashScheme, PasswordHash};

/// Why a password file could not be loaded or edited.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordFileError {
    /// A line is malformed.
    #[error("password file line {line}: {reason}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: LineError,
    },
    /// A user name that cannot be written into a password file.
    #[error("invalid user name: {0}")]
    InvalidUsername(&'static str),
    /// The file could not be read or written.
    #[error("password file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// What is wrong with one line of a password file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LineError {
    /// No `:` separates user and hash.
    #[error("expected <user>:<hash>")]
    MissingColon,
    /// The user name before `:` is empty.
    #[error("empty user name")]
    EmptyUsername,
    /// The user name contains a control character.
    #[error("user name contains a control character")]
    ControlCharacter,
    /// The same user appears on an earlier line.
    #[error("user {user:?} already defined on line {first_line}")]
    DuplicateUser {
        /// The user name.
        user: String,
        /// Where it was first defined.
        first_line: usize,
    },
    /// The hash cannot be decoded.
    #[error(transparent)]
    Hash(#[from] HashError),
}

/// Checks that `username` can be stored in a password file.
pub fn validate_username(username: &str) -> Result<(), PasswordFileError> {
    if username.is_empty() {
        return Err(PasswordFileError::InvalidUsername("empty"));
    }
    if username.contains(':') {
        return Err(PasswordFileError::InvalidUsername("contains ':'"));
    }
    if username.chars().any(char::is_control) {
        return Err(PasswordFileError::InvalidUsername(
            "contains a control character",
        ));
    }
    if username.trim() != username || username.starts_with('#') {
        return Err(PasswordFileError::InvalidUsername(
            "starts with '#' or has leading/trailing blanks",
        ));
    }
    Ok(())
}

/// One meaningful line of a password file.
struct ParsedLine<'a> {
    line_no: usize,
    user: &'a str,
    hash: &'a str,
}

/// Splits `text` into its user lines, checking the syntax of each (not the hash).
fn user_lines(text: &str) -> Result<Vec<ParsedLine<'_>>, PasswordFileError> {
    let mut out = Vec::new();
    for (idx, raw) in text.lines().enumerate() {
        let line_no = idx + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let err = |reason| PasswordFileError::Line {
            line: line_no,
            reason,
        };
        let (user, hash) = line
            .split_once(':')
            .ok_or_else(|| err(LineError::MissingColon))?;
        if user.is_empty() {
            return Err(err(LineError::EmptyUsername));
        }
        if user.chars().any(char::is_control) {
            return Err(err(LineError::ControlCharacter));
        }
        out.push(ParsedLine {
            line_no,
            user,
            hash,
        });
    }
    Ok(out)
}

/// What makes two hashes cost the same to verify.
type CostKey = (HashScheme, u32, u32, u32, usize);

fn cost_key(h: &PasswordHash) -> CostKey {
    match h {
        PasswordHash::Sha512 { salt, .. } => (HashScheme::Sha512, 0, 0, 0, salt.len()),
        PasswordHash::Pbkdf2Sha512 {
            iterations, salt, ..
        } => (HashScheme::Pbkdf2Sha512, *iterations, 0, 0, salt.len()),
        PasswordHash::Argon2id {
            memory_kib,
            time_cost,
            parallelism,
            hash,
            ..
        } => (
            HashScheme::Argon2id,
            *memory_kib,
            *time_cost,
            *parallelism,
            hash.len(),
        ),
    }
}

/// A loaded password file.
#[derive(Debug, Clone)]
pub struct PasswordFile {
    users: HashMap<String, PasswordHash>,
    /// Verified against when the user is unknown, so that an unknown user costs the
    /// same as a wrong password.
    dummy: PasswordHash,
}

impl PasswordFile {
    /// Parses the text of a password file.
    pub fn parse(text: &str) -> Result<Self, PasswordFileError> {
        let mut users: HashMap<String, (usize, PasswordHash)> = HashMap::new();
        // How many entries share each cost; the dummy copies the most common one.
        let mut costs: HashMap<CostKey, (usize, usize)> = HashMap::new();
        for l in user_lines(text)? {
            let err = |reason| PasswordFileError::Line {
                line: l.line_no,
                reason,
            };
            let hash = PasswordHash::parse(l.hash).map_err(|e| err(LineError::Hash(e)))?;
            if let Some((first_line, _)) = users.get(l.user) {
                return Err(err(LineError::DuplicateUser {
                    user: l.user.to_owned(),
                    first_line: *first_line,
                }));
            }
            let seen = costs.entry(cost_key(&hash)).or_insert((0, l.line_no));
            seen.0 += 1;
            users.insert(l.user.to_owned(), (l.line_no, hash));
        }
        // The dummy has the cost most users have (ties: the earliest line), so an unknown
        // user costs what a typical known one does; an empty file gets the default cost.
        let typical = costs
            .values()
            .max_by_key(|(count, line)| (*count, std::cmp::Reverse(*line)))
            .map(|(_, line)| *line);
        let dummy = users
            .values()
            .find(|(line, _)| Some(*line) == typical)
            .map_or_else(PasswordHash::dummy, |(_, h)| h.dummy_like());
        Ok(PasswordFile {
            users: users.into_iter().map(|(u, (_, h))| (u, h)).collect(),
            dummy,
        })
    }

    /// Reads and parses a password file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, PasswordFileError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| PasswordFileError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text)
    }

    /// Checks a user's password. An unknown user is verified against a dummy hash of
    /// the same cost and always fails, so it takes as long as a wrong password.
    ///
    /// This is CPU-heavy (PBKDF2 or Argon2): call it off the I/O threads.
    pub fn verify(&self, username: &str, password: &[u8]) -> bool {
        match self.users.get(username) {
            Some(hash) => hash.verify(password),
            None => {
                // Spend the same effort; the result is ignored.
                let _ = self.dummy.verify(password);
                false
            }
        }
    }

    /// Whether the file defines `username`.
    pub fn contains(&self, username: &str) -> bool {
        self.users.contains_key(username)
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether the file defines no user.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The user names, in no particular order.
    pub fn usernames(&self) -> impl Iterator<Item = &str> {
        self.users.keys().map(String::as_str)
    }
}

/// Returns `text` with `username`'s line set to `hash`: the existing line is replaced in
/// place, or a new line is appended. Comments and other lines are kept byte for byte.
/// `text` must itself be a valid password file.
pub fn set_user_in_text(
    text: &str,
    username: &str,
    hash: &PasswordHash,
) -> Result<String, PasswordFileError> {
    validate_username(username)?;
    PasswordFile::parse(text)?;
    let new_line = format!("{username}:{hash}");
    let target = user_lines(text)?
        .into_iter()
        .find(|l| l.user == username)
        .map(|l| l.line_no);
    let mut out = String::with_capacity(text.len() + new_line.len() + 1);
    for (idx, line) in text.lines().enumerate() {
        if Some(idx + 1) == target {
            out.push_str(&new_line);
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    if target.is_none() {
        out.push_str(&new_line);
        out.push('\n');
    }
    Ok(out)
}

/// Returns `text` without `username`'s line, and whether it was there.
/// `text` must itself be a valid password file.
pub fn remove_user_from_text(
    text: &str,
    username: &str,
) -> Result<(String, bool), PasswordFileError> {
    PasswordFile::parse(text)?;
    let target = user_lines(text)?
        .into_iter()
        .find(|l| l.user == username)
        .map(|l| l.line_no);
    let mut out = String::with_capacity(text.len());
    for (idx, line) in text.lines().enumerate() {
        if Some(idx + 1) != target {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok((out, target.is_some()))
}

/// `mosquitto_passwd -U`: returns `text` with every plain-text password hashed, and how
/// many were. Lines already holding a hash are kept; a line whose value starts with `$`
/// but is not a valid hash is an error (it is never mistaken for a password). Leading and
/// trailing blanks are not part of a plain-text password.
pub fn hash_plaintext_in_text(
    text: &str,
    options: &crate::hash::HashOptions,
) -> Result<(String, usize), PasswordFileError> {
    let mut replace: HashMap<usize, String> = HashMap::new();
    for l in user_lines(text)? {
        if l.hash.starts_with('$') {
            PasswordHash::parse(l.hash).map_err(|e| PasswordFileError::Line {
                line: l.line_no,
                reason: LineError::Hash(e),
            })?;
        } else {
            let hash = PasswordHash::create(l.hash.as_bytes(), options);
            replace.insert(l.line_no, format!("{}:{hash}", l.user));
        }
    }
    let mut out = String::with_capacity(text.len());
    for (idx, line) in text.lines().enumerate() {
        out.push_str(replace.get(&(idx + 1)).map_or(line, String::as_str));
        out.push('\n');
    }
    PasswordFile::parse(&out)?;
    Ok((out, replace.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::HashOptions;

    fn fast() -> HashOptions {
        HashOptions::default().with_iterations(10)
    }

    #[test]
    fn parse_skips_comments_and_blanks() {
        let h = PasswordHash::create(b"pw", &fast());
        let text = format!("# comment\n\n   \nalice:{h}\r\n  # indented comment\n");
        let f = PasswordFile::parse(&text).unwrap();
        assert_eq!(f.len(), 1);
        assert!(f.verify("alice", b"pw"));
        assert!(!f.verify("alice", b"pw "));
        assert!(!f.verify("bob", b"pw"));
    }

    /// CHECKLIST 21 and the peers' regression "a malformed password line becoming a user".
    #[test]
    fn malformed_lines_name_the_line() {
        let h = PasswordHash::create(b"pw", &fast());
        let cases = [
            (format!("alice:{h}\nbob\n"), 2),
            (format!("alice:{h}\n:{h}\n"), 2),
            ("# c\nalice:plaintext\n".to_owned(), 2),
            (format!("\n\nalice:{h}\nalice:{h}\n"), 4),
            ("carol:$7$101$AAAA\n".to_owned(), 1),
        ];
        for (text, line) in cases {
            match PasswordFile::parse(&text) {
                Err(PasswordFileError::Line { line: l, .. }) => assert_eq!(l, line, "{text}"),
                other => panic!("expected line error for {text:?}, got {other:?}"),
            }
        }
        let err = PasswordFile::parse("x").unwrap_err().to_string();
        assert!(err.contains("line 1"), "{err}");
    }

    /// CHECKLIST 20: the dummy hash for unknown users has the cost most users have.
    #[test]
    fn dummy_has_the_most_common_cost() {
        let cheap = PasswordHash::create(b"x", &fast().with_scheme(HashScheme::Sha512));
        let a = PasswordHash::create(b"x", &fast().with_iterations(77));
        let b = PasswordHash::create(b"y", &fast().with_iterations(77));
        let f = PasswordFile::parse(&format!("c:{cheap}\na:{a}\nb:{b}\n")).unwrap();
        assert_eq!(cost_key(&f.dummy), cost_key(&a));
        assert!(!f.verify("nobody", b"x"));
    }

    #[test]
    fn empty_file_has_no_users_and_rejects_everyone() {
        let f = PasswordFile::parse("").unwrap();
        assert!(f.is_empty());
        assert!(!f.verify("", b""));
        assert!(!f.verify("root", b"root"));
    }

    #[test]
    fn set_and_remove_keep_other_lines() {
        let a = PasswordHash::create(b"a", &fast());
        let text = format!("# users\nalice:{a}\n");
        let b = PasswordHash::create(b"b", &fast().with_scheme(HashScheme::Sha512));
        let text = set_user_in_text(&text, "bob", &b).unwrap();
        assert!(text.starts_with("# users\nalice:"));
        let a2 = PasswordHash::create(b"a2", &fast());
        let text = set_user_in_text(&text, "alice", &a2).unwrap();
        let f = PasswordFile::parse(&text).unwrap();
        assert!(f.verify("alice", b"a2"));
        assert!(!f.verify("alice", b"a"));
        assert!(f.verify("bob", b"b"));
        let (text, found) = remove_user_from_text(&text, "alice").unwrap();
        assert!(found);
        assert_eq!(PasswordFile::parse(&text).unwrap().len(), 1);
        assert!(text.starts_with("# users\nbob:"));
        let (_, found) = remove_user_from_text(&text, "nobody").unwrap();
        assert!(!found);
    }

    #[test]
    fn plaintext_upgrade() {
        let h = PasswordHash::create(b"kept", &fast());
        let text = format!("# c\nplain:secret\nkept:{h}\nempty:\n");
        let (out, n) = hash_plaintext_in_text(&text, &fast()).unwrap();
        assert_eq!(n, 2);
        assert!(out.starts_with("# c\nplain:$7$10$"));
        let f = PasswordFile::parse(&out).unwrap();
        assert!(
            f.verify("plain", b"secret") && f.verify("kept", b"kept") && f.verify("empty", b"")
        );
        // Idempotent: nothing left to hash.
        assert_eq!(hash_plaintext_in_text(&out, &fast()).unwrap().1, 0);
        let err = hash_plaintext_in_text("a:$7$broken\n", &fast()).unwrap_err();
        assert!(matches!(err, PasswordFileError::Line { line: 1, .. }));
    }

    #[test]
    fn bad_usernames_refused() {
        let h = PasswordHash::create(b"pw", &fast());
        for u in ["", "a:b", "a\nb", " a", "#a"] {
            assert!(set_user_in_text("", u, &h).is_err(), "{u:?}");
        }
    }
}
