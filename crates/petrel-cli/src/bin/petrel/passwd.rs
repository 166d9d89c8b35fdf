//! `petrel passwd`: mosquitto_passwd's interface over petrel-auth.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use petrel_auth::{passwd, passwd_upgrade, HashOptions, HashScheme, PasswdAction, PasswdRequest};

use crate::Outcome;

/// Flags of `petrel passwd`.
#[derive(Args, Debug)]
pub struct PasswdArgs {
    /// Create a new file (overwrite an existing one).
    #[arg(short = 'c')]
    pub create: bool,
    /// Batch mode: the password is the last argument.
    #[arg(short = 'b')]
    pub batch: bool,
    /// Delete the user.
    #[arg(short = 'D')]
    pub delete: bool,
    /// Hash the plain-text passwords of FILE in place.
    #[arg(short = 'U')]
    pub upgrade: bool,
    /// Hash algorithm: sha512-pbkdf2 (default) or sha512.
    #[arg(short = 'H')]
    pub hash: Option<String>,
    /// PBKDF2 iterations.
    #[arg(short = 'I')]
    pub iterations: Option<u32>,
    /// Password file.
    pub file: PathBuf,
    /// User name.
    pub user: Option<String>,
    /// Password (with -b).
    pub password: Option<String>,
}

fn prompt(label: &str) -> Result<String> {
    eprint!("{label}");
    std::io::stderr().flush().ok();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

pub fn run(a: PasswdArgs) -> Result<Outcome> {
    let mut options = HashOptions::default();
    if let Some(h) = &a.hash {
        options.scheme = HashScheme::from_mosquitto_name(h)
            .with_context(|| format!("unknown hash algorithm {h:?}"))?;
    }
    if let Some(i) = a.iterations {
        options.iterations = i;
    }
    if a.upgrade {
        let n = passwd_upgrade(&a.file, &options)?;
        eprintln!("{n} password(s) hashed");
        return Ok(Outcome::Ok);
    }
    let user = a.user.as_deref().context("no user name given")?;
    let password;
    let action = if a.delete {
        if a.password.is_some() {
            bail!("-D takes no password");
        }
        PasswdAction::Delete
    } else {
        password = match (&a.password, a.batch) {
            (Some(p), true) => p.clone(),
            (Some(_), false) => bail!("a password on the command line needs -b"),
            (None, true) => bail!("-b needs the password as the last argument"),
            (None, false) => {
                let p1 = prompt("Password: ")?;
                let p2 = prompt("Reenter password: ")?;
                if p1 != p2 {
                    bail!("passwords do not match");
                }
                p1
            }
        };
        PasswdAction::Set(password.as_bytes())
    };
    let req = PasswdRequest::new(&a.file, user, action)
        .create(a.create)
        .options(options);
    passwd(&req)?;
    Ok(Outcome::Ok)
}
