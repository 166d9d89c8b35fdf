//! Password hashes in the encodings Mosquitto's password file uses.
//!
//! Three schemes are understood, each written as a string starting with `$`:
//!
//! * `$7$<iterations>$<base64 salt>$<base64 hash>`: PBKDF2-HMAC-SHA512 with a 64-byte
//!   derived key. Mosquitto 2.0 writes 101 iterations and a 12-byte salt; Mosquitto 2.1
//!   writes 1000 iterations and a 64-byte salt. Both verify here. New hashes use 1000
//!   iterations with a 12-byte salt by default: Mosquitto 2.1's cost in a shape
//!   Mosquitto 2.0 can still read (2.0.11 drops entries whose salt is not 12 bytes).
//! * `$6$<base64 salt>$<base64 hash>`: one round of SHA-512 over `password || salt`
//!   (the legacy Mosquitto 1.x format; verified, written only on request).
//! * `$argon2id$v=19$m=..,t=..,p=..$<salt>$<hash>`: an Argon2id PHC string, as Mosquitto
//!   2.1 writes when built with libargon2 (m=47104 KiB, t=1, p=1, 64-byte salt and hash).
//!
//! Verification always compares digests in constant time.

use std::fmt;

use argon2::{Algorithm, Argon2, Params, Version};
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha512};
use subtle::ConstantTimeEq;

/// Length in bytes of a SHA-512 digest and of a Mosquitto `$7$` derived key.
const SHA512_LEN: usize = 64;
/// Iterations Mosquitto 2.0 writes for `$7$` hashes.
pub const MOSQUITTO_2_0_ITERATIONS: u32 = 101;
/// Iterations Mosquitto 2.1 writes for `$7$` hashes (our default).
pub const MOSQUITTO_2_1_ITERATIONS: u32 = 1000;
/// Salt length Mosquitto 2.0 writes and reads (bytes; our default).
pub const MOSQUITTO_2_0_SALT_LEN: usize = 12;
/// Salt length Mosquitto 2.1 writes (bytes; Mosquitto 2.0 cannot read it).
pub const MOSQUITTO_2_1_SALT_LEN: usize = 64;
/// Upper bound on PBKDF2 iterations accepted from a file, so a hostile file cannot make
/// one login take minutes.
pub const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;
/// Upper bound on Argon2 memory cost accepted from a file, in KiB (1 GiB).
pub const MAX_ARGON2_MEMORY_KIB: u32 = 1 << 20;
/// Upper bound on Argon2 time cost accepted from a file.
pub const MAX_ARGON2_TIME_COST: u32 = 64;
/// Upper bound on Argon2 parallelism accepted from a file.
pub const MAX_ARGON2_PARALLELISM: u32 = 16;

/// Standard base64 with padding on output; padding optional on input (Mosquitto's
/// decoder is lenient about it).
const B64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
/// Unpadded standard base64, as used inside PHC strings.
const B64_NOPAD: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a hash string could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HashError {
    /// The string does not start with a known `$<id>$` prefix (for example a plain-text
    /// password that was never hashed).
    #[error("unknown or missing hash scheme (expected $6$, $7$ or $argon2id$)")]
    UnknownScheme,
    /// A field is missing, has the wrong number of parts or is not valid base64/decimal.
    #[error("malformed {scheme} hash: {reason}")]
    Malformed {
        /// Which scheme was being decoded.
        scheme: &'static str,
        /// What was wrong.
        reason: &'static str,
    },
}

fn malformed(scheme: &'static str, reason: &'static str) -> HashError {
    HashError::Malformed { scheme, reason }
}

/// Which algorithm to use when creating a new hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum HashScheme {
    /// `$7$`: PBKDF2-HMAC-SHA512 (Mosquitto's default).
    #[default]
    Pbkdf2Sha512,
    /// `$6$`: one round of salted SHA-512 (legacy, weak; only for old brokers).
    Sha512,
    /// `$argon2id$`: Argon2id with Mosquitto 2.1's parameters.
    Argon2id,
}

impl HashScheme {
    /// Parses the names `mosquitto_passwd -H` takes: `sha512-pbkdf2`, `sha512` and
    /// (Mosquitto 2.1) `argon2id`.
    pub fn from_mosquitto_name(name: &str) -> Option<Self> {
        match name {
            "sha512-pbkdf2" => Some(HashScheme::Pbkdf2Sha512),
            "sha512" => Some(HashScheme::Sha512),
            "argon2id" => Some(HashScheme::Argon2id),
            _ => None,
        }
    }

    /// The name `mosquitto_passwd -H` uses for this scheme.
    pub fn mosquitto_name(self) -> &'static str {
        match self {
            HashScheme::Pbkdf2Sha512 => "sha512-pbkdf2",
            HashScheme::Sha512 => "sha512",
            HashScheme::Argon2id => "argon2id",
        }
    }
}

/// Parameters for creating new hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HashOptions {
    /// The algorithm.
    pub scheme: HashScheme,
    /// PBKDF2 iterations for [`HashScheme::Pbkdf2Sha512`].
    pub iterations: u32,
    /// Salt length in bytes for `$6$` and `$7$` (Mosquitto accepts 12 or 64).
    pub salt_len: usize,
    /// Argon2 memory cost in KiB.
    pub argon2_memory_kib: u32,
    /// Argon2 time cost (passes).
    pub argon2_time_cost: u32,
}

impl Default for HashOptions {
    /// `$7$` with Mosquitto 2.1's 1000 iterations and a 12-byte random salt, readable
    /// by Mosquitto 2.0 and 2.1.
    fn default() -> Self {
        HashOptions {
            scheme: HashScheme::Pbkdf2Sha512,
            iterations: MOSQUITTO_2_1_ITERATIONS,
            salt_len: MOSQUITTO_2_0_SALT_LEN,
            argon2_memory_kib: 47104,
            argon2_time_cost: 1,
        }
    }
}

impl HashOptions {
    /// Options producing exactly what Mosquitto 2.0's `mosquitto_passwd` writes
    /// (`$7$`, 101 iterations, 12-byte salt), for files that must stay readable by
    /// Mosquitto 2.0 brokers.
    pub fn mosquitto_2_0() -> Self {
        HashOptions {
            iterations: MOSQUITTO_2_0_ITERATIONS,
            salt_len: MOSQUITTO_2_0_SALT_LEN,
            ..HashOptions::default()
        }
    }

    /// Options producing exactly what Mosquitto 2.1's `mosquitto_passwd` writes for
    /// `$7$` (1000 iterations, 64-byte salt; not readable by Mosquitto 2.0).
    pub fn mosquitto_2_1() -> Self {
        HashOptions {
            salt_len: MOSQUITTO_2_1_SALT_LEN,
            ..HashOptions::default()
        }
    }

    /// The same options with another scheme.
    pub fn with_scheme(mut self, scheme: HashScheme) -> Self {
        self.scheme = scheme;
        self
    }

    /// The same options with other Argon2 costs (memory in KiB, passes).
    pub fn with_argon2(mut self, memory_kib: u32, time_cost: u32) -> Self {
        self.argon2_memory_kib = memory_kib.clamp(8, MAX_ARGON2_MEMORY_KIB);
        self.argon2_time_cost = time_cost.clamp(1, MAX_ARGON2_TIME_COST);
        self
    }

    /// The same options with another PBKDF2 iteration count (at least 1).
    pub fn with_iterations(mut self, iterations: u32) -> Self {
        self.iterations = iterations.clamp(1, MAX_PBKDF2_ITERATIONS);
        self
    }
}

/// A decoded password hash from a password file.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PasswordHash {
    /// `$6$`: SHA-512 of password followed by salt.
    Sha512 {
        /// The salt.
        salt: Vec<u8>,
        /// The 64-byte digest.
        hash: [u8; SHA512_LEN],
    },
    /// `$7$`: PBKDF2-HMAC-SHA512.
    Pbkdf2Sha512 {
        /// Iteration count.
        iterations: u32,
        /// The salt.
        salt: Vec<u8>,
        /// The 64-byte derived key.
        hash: [u8; SHA512_LEN],
    },
    /// `$argon2id$` PHC string.
    Argon2id {
        /// Argon2 version (0x13 = 19 or 0x10 = 16).
        version: u32,
        /// Memory cost in KiB.
        memory_kib: u32,
        /// Time cost (passes).
        time_cost: u32,
        /// Parallelism.
        parallelism: u32,
        /// The salt.
        salt: Vec<u8>,
        /// The output (its length is the output length).
        hash: Vec<u8>,
    },
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print digests into logs.
        match self {
            PasswordHash::Sha512 { .. } => f.write_str("PasswordHash::Sha512(..)"),
            PasswordHash::Pbkdf2Sha512 { iterations, .. } => {
                write!(f, "PasswordHash::Pbkdf2Sha512(iterations={iterations}, ..)")
            }
            PasswordHash::Argon2id {
                memory_kib,
                time_cost,
                parallelism,
                ..
            } => write!(
                f,
                "PasswordHash::Argon2id(m={memory_kib}, t={time_cost}, p={parallelism}, ..)"
            ),
        }
    }
}

fn decode_b64(
    scheme: &'static str,
    what: &'static str,
    s: &str,
    engine: &GeneralPurpose,
) -> Result<Vec<u8>, HashError> {
    if s.is_empty() {
        return Err(malformed(scheme, what));
    }
    engine.decode(s).map_err(|_| malformed(scheme, what))
}

fn digest64(scheme: &'static str, bytes: Vec<u8>) -> Result<[u8; SHA512_LEN], HashError> {
    bytes
        .try_into()
        .map_err(|_| malformed(scheme, "hash must be 64 bytes"))
}

fn check_salt(scheme: &'static str, salt: &[u8]) -> Result<(), HashError> {
    if salt.is_empty() || salt.len() > 1024 {
        return Err(malformed(scheme, "salt length out of range"));
    }
    Ok(())
}

fn parse_u32(scheme: &'static str, what: &'static str, s: &str) -> Result<u32, HashError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed(scheme, what));
    }
    s.parse::<u32>().map_err(|_| malformed(scheme, what))
}

impl PasswordHash {
    /// Decodes a hash string as found after the `:` of a password-file line.
    pub fn parse(s: &str) -> Result<Self, HashError> {
        if let Some(rest) = s.strip_prefix("$7$") {
            const S: &str = "$7$";
            let mut parts = rest.split('$');
            let (Some(iter), Some(salt), Some(hash), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(malformed(S, "expected $7$<iterations>$<salt>$<hash>"));
            };
            let iterations = parse_u32(S, "iterations must be a decimal number", iter)?;
            if iterations == 0 || iterations > MAX_PBKDF2_ITERATIONS {
                return Err(malformed(S, "iterations out of range"));
            }
            let salt = decode_b64(S, "salt is not base64", salt, &B64)?;
            check_salt(S, &salt)?;
            let hash = digest64(S, decode_b64(S, "hash is not base64", hash, &B64)?)?;
            Ok(PasswordHash::Pbkdf2Sha512 {
                iterations,
                salt,
                hash,
            })
        } else if let Some(rest) = s.strip_prefix("$6$") {
            const S: &str = "$6$";
            let mut parts = rest.split('$');
            let (Some(salt), Some(hash), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err(malformed(S, "expected $6$<salt>$<hash>"));
            };
            let salt = decode_b64(S, "salt is not base64", salt, &B64)?;
            check_salt(S, &salt)?;
            let hash = digest64(S, decode_b64(S, "hash is not base64", hash, &B64)?)?;
            Ok(PasswordHash::Sha512 { salt, hash })
        } else if let Some(rest) = s.strip_prefix("$argon2id$") {
            Self::parse_argon2id(rest)
        } else {
            Err(HashError::UnknownScheme)
        }
    }

    fn parse_argon2id(rest: &str) -> Result<Self, HashError> {
        const S: &str = "$argon2id$";
        let parts: Vec<&str> = rest.split('$').collect();
        // Either v=..$params$salt$hash or (version omitted, means 0x10) params$salt$hash.
        let (version, params, salt, hash) = match parts.as_slice() {
            [v, p, s, h] => {
                let v = v
                    .strip_prefix("v=")
                    .ok_or(malformed(S, "expected v=<version>"))?;
                (parse_u32(S, "version must be a number", v)?, *p, *s, *h)
            }
            [p, s, h] => (0x10, *p, *s, *h),
            _ => {
                return Err(malformed(
                    S,
                    "expected $argon2id$v=19$m=..,t=..,p=..$<salt>$<hash>",
                ))
            }
        };
        if version != 0x13 && version != 0x10 {
            return Err(malformed(S, "unsupported version"));
        }
        let (mut m, mut t, mut p) = (None, None, None);
        for kv in params.split(',') {
            let (k, v) = kv
                .split_once('=')
                .ok_or(malformed(S, "parameter without ="))?;
            let slot = match k {
                "m" => &mut m,
                "t" => &mut t,
                "p" => &mut p,
                _ => return Err(malformed(S, "unknown parameter")),
            };
            if slot.is_some() {
                return Err(malformed(S, "repeated parameter"));
            }
            *slot = Some(parse_u32(S, "parameter must be a number", v)?);
        }
        let (Some(memory_kib), Some(time_cost), Some(parallelism)) = (m, t, p) else {
            return Err(malformed(S, "m, t and p are required"));
        };
        if !(1..=MAX_ARGON2_TIME_COST).contains(&time_cost)
            || !(1..=MAX_ARGON2_PARALLELISM).contains(&parallelism)
            || memory_kib > MAX_ARGON2_MEMORY_KIB
            || memory_kib < 8 * parallelism
        {
            return Err(malformed(S, "cost parameters out of range"));
        }
        let salt = decode_b64(S, "salt is not base64", salt, &B64_NOPAD)?;
        if salt.len() < 8 || salt.len() > 1024 {
            return Err(malformed(S, "salt length out of range"));
        }
        let hash = decode_b64(S, "hash is not base64", hash, &B64_NOPAD)?;
        if hash.len() < 4 || hash.len() > 1024 {
            return Err(malformed(S, "hash length out of range"));
        }
        Ok(PasswordHash::Argon2id {
            version,
            memory_kib,
            time_cost,
            parallelism,
            salt,
            hash,
        })
    }

    /// Creates a hash of `password` with a fresh random salt.
    pub fn create(password: &[u8], options: &HashOptions) -> Self {
        let mut rng = rand::rngs::OsRng;
        match options.scheme {
            HashScheme::Pbkdf2Sha512 => {
                let mut salt = vec![0u8; options.salt_len.clamp(8, 1024)];
                rng.fill_bytes(&mut salt);
                Self::pbkdf2_with_salt(
                    password,
                    salt,
                    options.iterations.clamp(1, MAX_PBKDF2_ITERATIONS),
                )
            }
            HashScheme::Sha512 => {
                let mut salt = vec![0u8; options.salt_len.clamp(8, 1024)];
                rng.fill_bytes(&mut salt);
                Self::sha512_with_salt(password, salt)
            }
            HashScheme::Argon2id => {
                let mut salt = vec![0u8; SHA512_LEN];
                rng.fill_bytes(&mut salt);
                let memory_kib = options.argon2_memory_kib.clamp(8, MAX_ARGON2_MEMORY_KIB);
                let time_cost = options.argon2_time_cost.clamp(1, MAX_ARGON2_TIME_COST);
                let mut hash = vec![0u8; SHA512_LEN];
                // Parameters are clamped into the range the argon2 crate accepts.
                let ok = argon2_into(0x13, memory_kib, time_cost, 1, password, &salt, &mut hash);
                debug_assert!(ok, "clamped argon2 parameters are valid");
                PasswordHash::Argon2id {
                    version: 0x13,
                    memory_kib,
                    time_cost,
                    parallelism: 1,
                    salt,
                    hash,
                }
            }
        }
    }

    /// A `$7$` hash with the given salt (deterministic; for tests and tools).
    pub fn pbkdf2_with_salt(password: &[u8], salt: Vec<u8>, iterations: u32) -> Self {
        let mut hash = [0u8; SHA512_LEN];
        pbkdf2::pbkdf2_hmac::<Sha512>(password, &salt, iterations, &mut hash);
        PasswordHash::Pbkdf2Sha512 {
            iterations,
            salt,
            hash,
        }
    }

    /// A `$6$` hash with the given salt (deterministic; for tests and tools).
    pub fn sha512_with_salt(password: &[u8], salt: Vec<u8>) -> Self {
        let hash = sha512_salted(password, &salt);
        PasswordHash::Sha512 { salt, hash }
    }

    /// Checks `password` against this hash. The final comparison is constant-time.
    pub fn verify(&self, password: &[u8]) -> bool {
        match self {
            PasswordHash::Sha512 { salt, hash } => {
                bool::from(sha512_salted(password, salt).ct_eq(hash))
            }
            PasswordHash::Pbkdf2Sha512 {
                iterations,
                salt,
                hash,
            } => {
                let mut out = [0u8; SHA512_LEN];
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, *iterations, &mut out);
                bool::from(out.ct_eq(hash))
            }
            PasswordHash::Argon2id {
                version,
                memory_kib,
                time_cost,
                parallelism,
                salt,
                hash,
            } => {
                let mut out = vec![0u8; hash.len()];
                argon2_into(
                    *version,
                    *memory_kib,
                    *time_cost,
                    *parallelism,
                    password,
                    salt,
                    &mut out,
                ) && bool::from(out.ct_eq(hash))
            }
        }
    }

    /// The scheme of this hash.
    pub fn scheme(&self) -> HashScheme {
        match self {
            PasswordHash::Sha512 { .. } => HashScheme::Sha512,
            PasswordHash::Pbkdf2Sha512 { .. } => HashScheme::Pbkdf2Sha512,
            PasswordHash::Argon2id { .. } => HashScheme::Argon2id,
        }
    }

    /// A hash of a random password with the same scheme and cost as `self`, so that
    /// verifying against it costs the same time as verifying against `self`.
    pub fn dummy_like(&self) -> Self {
        // Random salt and random digest: nothing verifies against it, verifying costs
        // the same as for `self`, and making it costs nothing.
        let random = |len: usize| {
            let mut v = vec![0u8; len];
            rand::rngs::OsRng.fill_bytes(&mut v);
            v
        };
        match self {
            PasswordHash::Sha512 { salt, hash } => {
                let mut h = *hash;
                rand::rngs::OsRng.fill_bytes(&mut h);
                PasswordHash::Sha512 {
                    salt: random(salt.len()),
                    hash: h,
                }
            }
            PasswordHash::Pbkdf2Sha512 {
                iterations,
                salt,
                hash,
            } => {
                let mut h = *hash;
                rand::rngs::OsRng.fill_bytes(&mut h);
                PasswordHash::Pbkdf2Sha512 {
                    iterations: *iterations,
                    salt: random(salt.len()),
                    hash: h,
                }
            }
            PasswordHash::Argon2id {
                version,
                memory_kib,
                time_cost,
                parallelism,
                salt,
                hash,
            } => PasswordHash::Argon2id {
                version: *version,
                memory_kib: *memory_kib,
                time_cost: *time_cost,
                parallelism: *parallelism,
                salt: random(salt.len()),
                hash: random(hash.len()),
            },
        }
    }

    /// A `$7$` hash with default cost that nothing verifies against (see
    /// [`PasswordHash::dummy_like`]).
    pub fn dummy() -> Self {
        PasswordHash::Pbkdf2Sha512 {
            iterations: MOSQUITTO_2_1_ITERATIONS,
            salt: vec![0; MOSQUITTO_2_0_SALT_LEN],
            hash: [0; SHA512_LEN],
        }
        .dummy_like()
    }
}

impl fmt::Display for PasswordHash {
    /// Encodes the hash the way Mosquitto writes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PasswordHash::Sha512 { salt, hash } => {
                write!(f, "$6${}${}", B64.encode(salt), B64.encode(hash))
            }
            PasswordHash::Pbkdf2Sha512 {
                iterations,
                salt,
                hash,
            } => {
                write!(
                    f,
                    "$7${iterations}${}${}",
                    B64.encode(salt),
                    B64.encode(hash)
                )
            }
            PasswordHash::Argon2id {
                version,
                memory_kib,
                time_cost,
                parallelism,
                salt,
                hash,
            } => write!(
                f,
                "$argon2id$v={version}$m={memory_kib},t={time_cost},p={parallelism}${}${}",
                B64_NOPAD.encode(salt),
                B64_NOPAD.encode(hash)
            ),
        }
    }
}

fn sha512_salted(password: &[u8], salt: &[u8]) -> [u8; SHA512_LEN] {
    let mut h = Sha512::new();
    h.update(password);
    h.update(salt);
    h.finalize().into()
}

/// Runs Argon2id; false if the parameters are rejected by the implementation.
fn argon2_into(
    version: u32,
    m: u32,
    t: u32,
    p: u32,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> bool {
    let version = if version == 0x10 {
        Version::V0x10
    } else {
        Version::V0x13
    };
    let Ok(params) = Params::new(m, t, p, Some(out.len())) else {
        return false;
    };
    Argon2::new(Algorithm::Argon2id, version, params)
        .hash_password_into(password, salt, out)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pbkdf2_round_trip_through_text() {
        let h = PasswordHash::create(b"secret", &HashOptions::default());
        let text = h.to_string();
        assert!(text.starts_with("$7$1000$"));
        let parsed = PasswordHash::parse(&text).unwrap();
        assert_eq!(parsed, h);
        assert!(parsed.verify(b"secret"));
        assert!(!parsed.verify(b"Secret"));
    }

    #[test]
    fn sha512_round_trip_through_text() {
        let h = PasswordHash::create(
            b"pw",
            &HashOptions::default().with_scheme(HashScheme::Sha512),
        );
        let parsed = PasswordHash::parse(&h.to_string()).unwrap();
        assert!(parsed.verify(b"pw"));
        assert!(!parsed.verify(b"pw2"));
    }

    #[test]
    fn argon2_small_round_trip() {
        let opts = HashOptions {
            argon2_memory_kib: 64,
            ..HashOptions::default()
        }
        .with_scheme(HashScheme::Argon2id);
        let h = PasswordHash::create(b"pw", &opts);
        let text = h.to_string();
        assert!(text.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{text}");
        let parsed = PasswordHash::parse(&text).unwrap();
        assert!(parsed.verify(b"pw"));
        assert!(!parsed.verify(b"px"));
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "plaintext",
            "$7$",
            "$7$abc$AAAA$AAAA",
            "$7$0$AAAAAAAAAAAAAAAA$AAAA",
            "$7$101$!!$AAAA",
            "$7$101$AAAAAAAAAAAAAAAA$AAAA",
            "$6$AAAAAAAAAAAAAAAA",
            "$6$AAAAAAAAAAAAAAAA$AAAA$extra",
            "$argon2id$v=19$m=64,t=1$AAAAAAAAAAA$AAAAAAAAAAA",
            "$argon2id$v=99$m=64,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAA",
            "$argon2id$v=19$m=64,t=0,p=1$AAAAAAAAAAA$AAAAAAAAAAA",
            "$argon2i$v=19$m=64,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAA",
        ] {
            assert!(PasswordHash::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn dummy_keeps_cost_and_never_verifies() {
        let h = PasswordHash::pbkdf2_with_salt(b"pw", vec![7; 12], 300);
        let d = h.dummy_like();
        assert!(
            matches!(d, PasswordHash::Pbkdf2Sha512 { iterations: 300, ref salt, .. } if salt.len() == 12)
        );
        assert!(!d.verify(b"pw"));
        assert!(!PasswordHash::dummy().verify(b""));
    }

    #[test]
    fn mosquitto_scheme_names() {
        for s in [
            HashScheme::Pbkdf2Sha512,
            HashScheme::Sha512,
            HashScheme::Argon2id,
        ] {
            assert_eq!(HashScheme::from_mosquitto_name(s.mosquitto_name()), Some(s));
        }
        assert_eq!(HashScheme::from_mosquitto_name("md5"), None);
    }

    #[test]
    fn debug_does_not_leak_digest() {
        let h = PasswordHash::sha512_with_salt(b"x", vec![1; 12]);
        assert_eq!(format!("{h:?}"), "PasswordHash::Sha512(..)");
    }
}
