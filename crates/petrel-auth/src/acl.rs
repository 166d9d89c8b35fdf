//! Mosquitto's ACL file (`acl_file`).
//!
//! ```text
//! # A comment: `#` must be the first non-blank character (no comments after a rule).
//! # A general rule (see below):
//! topic read $SYS/#
//! pattern readwrite devices/%c/#
//! user alice
//! topic readwrite alice/#
//! topic deny alice/secret/#
//! ```
//!
//! * `topic [read|write|readwrite|deny] <filter>`: a rule for the current section. The
//!   access word is optional (default `readwrite`); a filter may contain spaces.
//! * `user <name>`: the following `topic` lines apply to the user with that name (the
//!   user name from CONNECT, not the client id). Several sections for one user merge.
//! * `pattern [read|write|readwrite|deny] <filter>`: a rule for every client, wherever it
//!   appears; a level that is exactly `%c` is replaced by the client id and one that is
//!   exactly `%u` by the user name. `%c`/`%u` inside a longer level stay literal.
//! * `topic` lines before the first `user` line are *general rules*. As in Mosquitto they
//!   apply to anonymous clients (no user name) only; set
//!   [`AclOptions::general_rules_apply_to_all`] to apply them to every client.
//!
//! Decision: a request is denied if any applicable `deny` rule matches it; otherwise it is
//! allowed if an applicable rule grants the access; otherwise denied. So an empty file
//! denies everything. Filters match as in MQTT, so a rule starting with `#` or `+` does
//! not reach `$SYS/...` topics (MQTT-4.7.2-1). Any line that is not one of the forms
//! above, or whose filter is not a valid MQTT filter, is an error naming the line.
//!
//! Pattern safety (CHECKLIST 19): a client id or user name that is empty or contains `+`,
//! `#` or `/` is never substituted. A granting pattern then does not apply at all; a
//! `deny` pattern instead applies to everything under the levels before the variable
//! (`a/%u/b` denies `a/#`), so such names can only lose access. Patterns using `%u` do
//! not apply to anonymous clients.
//!
//! Subscriptions ([`Access::Subscribe`]): Mosquitto 2.0 accepts every SUBSCRIBE and only
//! filters at delivery. Petrel checks at SUBSCRIBE too, without losing any message
//! Mosquitto would deliver: a filter is refused only if it can never receive anything,
//! that is if no `read`/`readwrite` rule's filter overlaps it (no topic matches both) or
//! a `deny` rule covers it entirely. So `#` is accepted for a user who may read
//! `alice/#`, and the broker then delivers only what [`Access::Read`] allows for each
//! topic name, exactly like Mosquitto. With [`AclOptions::strict_subscribe`] a filter is
//! accepted only if a single granting rule covers it (every topic it could match is
//! readable). A `$share/<group>/` prefix is removed before checking.

use std::collections::HashMap;
use std::path::Path;

use crate::filter::{covers, matches, overlaps, valid_filter};

/// The kind of access being checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Access {
    /// Receiving a message published on this topic name (checked at each delivery).
    Read,
    /// Publishing to this topic name.
    Write,
    /// Subscribing with this topic filter (may contain wildcards).
    Subscribe,
}

/// Permission a rule grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Perm {
    Read,
    Write,
    ReadWrite,
    Deny,
}

impl Perm {
    fn grants(self, access: Access) -> bool {
        matches!(
            (self, access),
            (
                Perm::Read | Perm::ReadWrite,
                Access::Read | Access::Subscribe
            ) | (Perm::Write | Perm::ReadWrite, Access::Write)
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Level {
    Literal(String),
    ClientId,
    Username,
}

#[derive(Debug, Clone)]
struct Rule {
    filter: String,
    perm: Perm,
}

#[derive(Debug, Clone)]
struct Pattern {
    levels: Vec<Level>,
    perm: Perm,
}

/// Options changing how an ACL file is interpreted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AclOptions {
    /// Apply `topic` lines that precede any `user` line to every client, not only to
    /// anonymous ones. Off by default (Mosquitto's behaviour).
    pub general_rules_apply_to_all: bool,
    /// Accept a SUBSCRIBE only if one granting rule covers the whole filter, instead of
    /// accepting every filter that could receive something. Off by default.
    pub strict_subscribe: bool,
}

impl AclOptions {
    /// Sets [`AclOptions::general_rules_apply_to_all`].
    pub fn general_rules_apply_to_all(mut self, on: bool) -> Self {
        self.general_rules_apply_to_all = on;
        self
    }

    /// Sets [`AclOptions::strict_subscribe`].
    pub fn strict_subscribe(mut self, on: bool) -> Self {
        self.strict_subscribe = on;
        self
    }
}

/// Why an ACL file could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AclError {
    /// A line is malformed.
    #[error("ACL file line {line}: {reason}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: AclLineError,
    },
    /// The file could not be read.
    #[error("ACL file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// What is wrong with one line of an ACL file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AclLineError {
    /// The first word is not `user`, `topic` or `pattern`.
    #[error("unknown keyword {0:?} (expected user, topic or pattern)")]
    UnknownKeyword(String),
    /// `user` without a name.
    #[error("user line without a user name")]
    MissingUsername,
    /// `topic`/`pattern` without a filter.
    #[error("missing topic filter")]
    MissingFilter,
    /// The filter is not a valid MQTT topic filter.
    #[error("invalid topic filter {0:?}")]
    InvalidFilter(String),
}

/// A parsed ACL file.
#[derive(Debug, Clone, Default)]
pub struct Acl {
    general: Vec<Rule>,
    users: HashMap<String, Vec<Rule>>,
    patterns: Vec<Pattern>,
    options: AclOptions,
}

fn parse_access(rest: &str) -> Result<(Perm, &str), AclLineError> {
    let (word, tail) = match rest.split_once(char::is_whitespace) {
        Some((w, t)) => (w, t.trim()),
        None => (rest, ""),
    };
    let perm = match word {
        "read" => Perm::Read,
        "write" => Perm::Write,
        "readwrite" => Perm::ReadWrite,
        "deny" => Perm::Deny,
        _ => {
            return if rest.is_empty() {
                Err(AclLineError::MissingFilter)
            } else {
                Ok((Perm::ReadWrite, rest))
            };
        }
    };
    if tail.is_empty() {
        return Err(AclLineError::MissingFilter);
    }
    Ok((perm, tail))
}

/// Strips a `$share/<group>/` prefix from a subscription filter.
fn strip_share(filter: &str) -> Option<&str> {
    match filter.strip_prefix("$share/") {
        Some(rest) => rest.split_once('/').map(|(_, f)| f),
        None => Some(filter),
    }
}

/// Whether a client id or user name may be substituted into a pattern.
fn safe_value(v: &str) -> bool {
    !v.is_empty() && !v.contains(['+', '#', '/', '\0'])
}

/// Whether pattern `p`, substituted for this client, matches the topic name `topic`;
/// the same answer as `matches(substitute(p), topic)` without building the filter.
fn pattern_matches(p: &Pattern, client_id: &str, username: Option<&str>, topic: &str) -> bool {
    // MQTT-4.7.2-1: a wildcard first level never matches a `$` topic.
    let dollar = topic.starts_with('$');
    let mut t = topic.split('/');
    for (i, level) in p.levels.iter().enumerate() {
        let first_of_dollar = i == 0 && dollar;
        let want = match level {
            Level::Literal(l) => l.as_str(),
            Level::ClientId | Level::Username => {
                let value = match level {
                    Level::ClientId => Some(client_id),
                    _ => username,
                };
                match value {
                    None => return false,
                    Some(v) if safe_value(v) => v,
                    // Unsafe name in a deny pattern: it stands for `<levels so far>/#`.
                    Some(_) if p.perm == Perm::Deny => return !first_of_dollar,
                    Some(_) => return false,
                }
            }
        };
        let is_literal = matches!(level, Level::Literal(_));
        match (want, t.next()) {
            ("#", _) if is_literal => return !first_of_dollar,
            ("+", Some(_)) if is_literal => {
                if first_of_dollar {
                    return false;
                }
            }
            (w, Some(tl)) if w == tl => {}
            _ => return false,
        }
    }
    t.next().is_none()
}

impl Acl {
    /// Parses an ACL file with Mosquitto's semantics.
    pub fn parse(text: &str) -> Result<Self, AclError> {
        Self::parse_with_options(text, AclOptions::default())
    }

    /// Parses an ACL file with the given options.
    pub fn parse_with_options(text: &str, options: AclOptions) -> Result<Self, AclError> {
        let mut acl = Acl {
            options,
            ..Acl::default()
        };
        let mut section: Option<String> = None;
        for (idx, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |reason| AclError::Line {
                line: idx + 1,
                reason,
            };
            let (keyword, rest) = match line.split_once(char::is_whitespace) {
                Some((k, r)) => (k, r.trim()),
                None => (line, ""),
            };
            match keyword {
                "user" => {
                    if rest.is_empty() {
                        return Err(err(AclLineError::MissingUsername));
                    }
                    acl.users.entry(rest.to_owned()).or_default();
                    section = Some(rest.to_owned());
                }
                "topic" => {
                    let (perm, filter) = parse_access(rest).map_err(err)?;
                    if !valid_filter(filter) {
                        return Err(err(AclLineError::InvalidFilter(filter.to_owned())));
                    }
                    let rule = Rule {
                        filter: filter.to_owned(),
                        perm,
                    };
                    match &section {
                        Some(user) => acl.users.entry(user.clone()).or_default().push(rule),
                        None => acl.general.push(rule),
                    }
                }
                "pattern" => {
                    let (perm, filter) = parse_access(rest).map_err(err)?;
                    if !valid_filter(filter) {
                        return Err(err(AclLineError::InvalidFilter(filter.to_owned())));
                    }
                    let levels = filter
                        .split('/')
                        .map(|l| match l {
                            "%c" => Level::ClientId,
                            "%u" => Level::Username,
                            other => Level::Literal(other.to_owned()),
                        })
                        .collect();
                    acl.patterns.push(Pattern { levels, perm });
                }
                other => return Err(err(AclLineError::UnknownKeyword(other.to_owned()))),
            }
        }
        Ok(acl)
    }

    /// Reads and parses an ACL file with Mosquitto's semantics.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, AclError> {
        Self::load_with_options(path, AclOptions::default())
    }

    /// Reads and parses an ACL file with the given options.
    pub fn load_with_options(
        path: impl AsRef<Path>,
        options: AclOptions,
    ) -> Result<Self, AclError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| AclError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse_with_options(&text, options)
    }

    /// Whether the file holds no rule at all (then everything is denied).
    pub fn is_empty(&self) -> bool {
        self.general.is_empty()
            && self.patterns.is_empty()
            && self.users.values().all(Vec::is_empty)
    }

    /// Decides whether a client may perform `access` on `topic` (a topic name for
    /// [`Access::Read`]/[`Access::Write`], a topic filter for [`Access::Subscribe`]).
    pub fn check(
        &self,
        client_id: &str,
        username: Option<&str>,
        topic: &str,
        access: Access,
    ) -> bool {
        let topic = match access {
            Access::Subscribe => match strip_share(topic) {
                Some(f) if valid_filter(f) => f,
                _ => return false,
            },
            Access::Read | Access::Write => {
                if topic.contains(['+', '#', '\0']) {
                    return false;
                }
                topic
            }
        };
        let strict = self.options.strict_subscribe;
        // Does a rule with this filter take part in the decision?
        let applies = |filter: &str, perm: Perm| match access {
            Access::Subscribe if perm == Perm::Deny || strict => covers(filter, topic),
            Access::Subscribe => overlaps(filter, topic),
            Access::Read | Access::Write => matches(filter, topic),
        };

        let general = match username {
            None => Some(&self.general),
            Some(_) if self.options.general_rules_apply_to_all => Some(&self.general),
            Some(_) => None,
        };
        let user_rules = username.and_then(|u| self.users.get(u));
        let rules = || {
            general
                .into_iter()
                .flatten()
                .chain(user_rules.into_iter().flatten())
        };
        // Publish and delivery (the hot path) match patterns without allocating.
        let pattern_applies = |p: &Pattern| match access {
            Access::Read | Access::Write => pattern_matches(p, client_id, username, topic),
            Access::Subscribe => self
                .substitute(p, client_id, username)
                .is_some_and(|f| applies(&f, p.perm)),
        };
        let denied = rules().any(|r| r.perm == Perm::Deny && applies(&r.filter, r.perm))
            || self
                .patterns
                .iter()
                .any(|p| p.perm == Perm::Deny && pattern_applies(p));
        if denied {
            return false;
        }
        rules().any(|r| r.perm.grants(access) && applies(&r.filter, r.perm))
            || self
                .patterns
                .iter()
                .any(|p| p.perm.grants(access) && pattern_applies(p))
    }

    /// The filter a pattern stands for with this client, or `None` if it does not apply.
    fn substitute(&self, p: &Pattern, client_id: &str, username: Option<&str>) -> Option<String> {
        let mut out: Vec<&str> = Vec::with_capacity(p.levels.len());
        for level in &p.levels {
            let value = match level {
                Level::Literal(l) => {
                    out.push(l);
                    continue;
                }
                Level::ClientId => Some(client_id),
                Level::Username => username,
            };
            match value {
                // An anonymous client has no user name: `%u` rules are not about it.
                None => return None,
                Some(v) if safe_value(v) => out.push(v),
                // Unsafe: a granting pattern does not apply; a deny pattern widens to
                // everything below the levels seen so far.
                Some(_) if p.perm == Perm::Deny => {
                    out.push("#");
                    return Some(out.join("/"));
                }
                _ => return None,
            }
        }
        Some(out.join("/"))
    }
}

#[cfg(test)]
#[path = "acl_tests.rs"]
mod tests;
