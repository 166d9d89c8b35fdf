//! Certificates generated for a test with rcgen: a CA, a server certificate for
//! `localhost` and 127.0.0.1, and client certificates with chosen common names.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

/// PEM files of one test's PKI.
pub struct Pki {
    /// Where the files are.
    pub dir: PathBuf,
    /// The CA certificate.
    pub ca: PathBuf,
    /// Server certificate and key.
    pub server_cert: PathBuf,
    /// Server key.
    pub server_key: PathBuf,
    ca_issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A fresh directory under the system temp dir.
pub fn scratch_dir(tag: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "petrel-broker-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Writes `text` to `dir/name`.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write file");
    p
}

impl Pki {
    /// A CA and a server certificate for `localhost` and `127.0.0.1`.
    pub fn new() -> Self {
        let dir = scratch_dir("pki");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Petrel broker test CA");
        let ca_issuer =
            CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key")).expect("ca");
        let ca = write(&dir, "ca.pem", &ca_issuer.pem());
        let mut pki = Pki {
            server_cert: PathBuf::new(),
            server_key: PathBuf::new(),
            ca,
            dir,
            ca_issuer,
        };
        let (cert, key) = pki.leaf(
            "server",
            "localhost",
            vec!["localhost".into(), "127.0.0.1".into()],
        );
        pki.server_cert = cert;
        pki.server_key = key;
        pki
    }

    /// A certificate signed by the CA with common name `cn`; returns (cert, key) paths.
    pub fn leaf(&self, file: &str, cn: &str, names: Vec<String>) -> (PathBuf, PathBuf) {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(names).expect("params");
        params.distinguished_name.push(DnType::CommonName, cn);
        let cert = params.signed_by(&key, &self.ca_issuer).expect("sign");
        (
            write(&self.dir, &format!("{file}.pem"), &cert.pem()),
            write(&self.dir, &format!("{file}.key"), &key.serialize_pem()),
        )
    }

    /// A client certificate with common name `cn`.
    pub fn client(&self, file: &str, cn: &str) -> (PathBuf, PathBuf) {
        self.leaf(file, cn, Vec::new())
    }
}
