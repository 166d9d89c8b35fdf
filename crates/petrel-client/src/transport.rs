//! Opening the byte stream: TCP, TLS (rustls), WebSocket and WebSocket over TLS. Every
//! transport ends up as one boxed [`ByteStream`] driven by the same connection code.

use std::fs::File;
use std::io::BufReader;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::error::Error;
use crate::options::{ConnectOptions, TlsOptions, Transport};
use crate::ws::WsByteStream;

/// A bidirectional byte stream MQTT can run over.
pub trait ByteStream: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> ByteStream for T {}

/// A boxed transport.
pub(crate) type BoxStream = Box<dyn ByteStream>;

/// Opens the transport described by `opts` (without the MQTT handshake).
pub(crate) async fn open(
    opts: &ConnectOptions,
    tls: Option<&TlsConnector>,
) -> Result<BoxStream, Error> {
    let fut = open_inner(opts, tls);
    match tokio::time::timeout(opts.transport_timeout, fut).await {
        Ok(r) => r,
        Err(_) => Err(Error::Transport("timed out opening the transport".into())),
    }
}

async fn open_inner(opts: &ConnectOptions, tls: Option<&TlsConnector>) -> Result<BoxStream, Error> {
    let tcp = TcpStream::connect((opts.host.as_str(), opts.port))
        .await
        .map_err(|e| Error::Transport(format!("{}:{}: {e}", opts.host, opts.port)))?;
    // Small packets (acks, pings) must not wait for Nagle.
    let _ = tcp.set_nodelay(true);
    let tls_stream = |tcp| async move {
        let connector = tls.ok_or_else(|| Error::Options("TLS is not configured".into()))?;
        let name = opts
            .tls
            .server_name
            .clone()
            .unwrap_or_else(|| opts.host.clone());
        let name = ServerName::try_from(name)
            .map_err(|e| Error::Options(format!("bad TLS server name: {e}")))?;
        connector
            .connect(name, tcp)
            .await
            .map_err(|e| Error::Transport(format!("TLS handshake: {e}")))
    };
    let scheme_host =
        |scheme: &str, path: &str| format!("{scheme}://{}:{}{path}", opts.host, opts.port);
    Ok(match &opts.transport {
        Transport::Tcp => Box::new(tcp),
        Transport::Tls => Box::new(tls_stream(tcp).await?),
        Transport::Ws { path } => {
            Box::new(WsByteStream::handshake(tcp, &scheme_host("ws", path)).await?)
        }
        Transport::Wss { path } => {
            let s = tls_stream(tcp).await?;
            Box::new(WsByteStream::handshake(s, &scheme_host("wss", path)).await?)
        }
    })
}

/// Builds the rustls connector for `tls` (ring provider, TLS 1.2 and 1.3).
pub(crate) fn tls_connector(tls: &TlsOptions) -> Result<TlsConnector, Error> {
    let mut roots = rustls::RootCertStore::empty();
    match &tls.ca_file {
        Some(path) => {
            for cert in read_certs(path)? {
                roots
                    .add(cert)
                    .map_err(|e| Error::Options(format!("{}: {e}", path.display())))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                let _ = roots.add(cert);
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Options(format!("TLS: {e}")))?
        .with_root_certificates(roots);
    let config = match (&tls.cert_file, &tls.key_file) {
        (Some(cert), Some(key)) => {
            let chain = read_certs(cert)?;
            let key = read_key(key)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| Error::Options(format!("client certificate: {e}")))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => return Err(Error::Options("--cert and --key go together".into())),
    };
    Ok(TlsConnector::from(Arc::new(config)))
}

fn open_pem(path: &std::path::Path) -> Result<BufReader<File>, Error> {
    File::open(path)
        .map(BufReader::new)
        .map_err(|e| Error::Options(format!("{}: {e}", path.display())))
}

fn read_certs(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    use rustls::pki_types::pem::PemObject;
    let mut r = open_pem(path)?;
    let certs: Result<Vec<_>, _> = CertificateDer::pem_reader_iter(&mut r).collect();
    let certs = certs.map_err(|e| Error::Options(format!("{}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(Error::Options(format!(
            "{}: no certificate found",
            path.display()
        )));
    }
    Ok(certs)
}

fn read_key(path: &std::path::Path) -> Result<PrivateKeyDer<'static>, Error> {
    use rustls::pki_types::pem::PemObject;
    let mut r = open_pem(path)?;
    PrivateKeyDer::from_pem_reader(&mut r)
        .map_err(|e| Error::Options(format!("{}: {e}", path.display())))
}
