//! TLS listeners (rustls with the ring provider): certificates from PEM files, TLS 1.2
//! and 1.3, optional client-certificate verification against a CA (mutual TLS) and the
//! certificate's common name as an identity.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection};
use tokio_rustls::TlsAcceptor;

use super::CertIdentity;
use crate::config::ListenerConfig;

fn certs(path: &Path, key: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("`{key}` {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("`{key}` {}: no PEM certificate", path.display()));
    }
    Ok(certs)
}

/// Builds the acceptor of a `tls` or `wss` listener.
pub(super) fn acceptor(l: &ListenerConfig) -> Result<TlsAcceptor, String> {
    let (Some(cert_path), Some(key_path)) = (&l.cert, &l.key) else {
        return Err("a TLS listener needs `cert` and `key`".into());
    };
    let chain = certs(cert_path, "cert")?;
    let key = PrivateKeyDer::from_pem_file(key_path)
        .map_err(|e| format!("`key` {}: {e}", key_path.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS12, &rustls::version::TLS13])
        .map_err(|e| e.to_string())?;
    let builder = match &l.ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for c in certs(ca, "ca")? {
                roots
                    .add(c)
                    .map_err(|e| format!("`ca` {}: {e}", ca.display()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if l.require_client_cert {
                verifier
            } else {
                verifier.allow_unauthenticated()
            };
            let verifier = verifier.build().map_err(|e| format!("`ca`: {e}"))?;
            builder.with_client_cert_verifier(verifier)
        }
        None if l.require_client_cert || l.use_cn_as_username => {
            return Err("`require_client_cert` and `use_cn_as_username` need `ca`".into());
        }
        None => builder.with_no_client_auth(),
    };
    let config = builder
        .with_single_cert(chain, key)
        .map_err(|e| format!("`cert`/`key`: {e}"))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The identity of a verified client certificate: its subject common name, or without
/// one its first DNS or e-mail subject alternative name; refused when missing or when it
/// holds `+`, `#` or `/` (it could widen `%u` ACL patterns).
pub(super) fn identity(conn: &ServerConnection) -> CertIdentity {
    let Some(cert) = conn.peer_certificates().and_then(|c| c.first()) else {
        return CertIdentity::None;
    };
    match common_name(cert).or_else(|| alternative_name(cert)) {
        Some(cn) if !cn.is_empty() && !cn.contains(['+', '#', '/']) => CertIdentity::Name(cn),
        _ => CertIdentity::Invalid,
    }
}

fn alternative_name(der: &[u8]) -> Option<String> {
    use x509_parser::extensions::GeneralName;
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let san = cert.subject_alternative_name().ok()??;
    san.value.general_names.iter().find_map(|n| match n {
        GeneralName::DNSName(s) | GeneralName::RFC822Name(s) => Some((*s).to_owned()),
        _ => None,
    })
}

fn common_name(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::{acceptor, alternative_name, common_name};
    use crate::config::{ListenerConfig, Transport};

    #[test]
    fn missing_or_unreadable_files_are_named() {
        let error = |l: &ListenerConfig| acceptor(l).err().unwrap_or_default();
        let mut l = ListenerConfig::new(([127, 0, 0, 1], 0).into()).with_transport(Transport::Tls);
        assert!(error(&l).contains("`cert` and `key`"));
        l.cert = Some("/nonexistent/server.pem".into());
        l.key = Some("/nonexistent/server.key".into());
        assert!(error(&l).contains("`cert` /nonexistent/server.pem"));
    }

    #[test]
    fn common_name_is_read() {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "sensor-7");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(common_name(cert.der()).as_deref(), Some("sensor-7"));
        assert_eq!(common_name(b"not a certificate"), None);
        assert_eq!(alternative_name(b"not a certificate"), None);
        // Without a common name, the first DNS name is the identity.
        let mut params = rcgen::CertificateParams::new(vec!["device-9.example".into()]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(common_name(cert.der()), None);
        assert_eq!(
            alternative_name(cert.der()).as_deref(),
            Some("device-9.example")
        );
    }
}
