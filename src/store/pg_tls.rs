//! TLS to PostgreSQL: the `sslmode` and `sslrootcert` parameters of a store URL, with libpq's
//! meaning, and the rustls connector that carries them out for every connection the store
//! and its leases open.
//!
//! - `disable`: plain TCP;
//! - `prefer` (the default): TLS when the server offers it, else plain; the certificate is
//!   not checked (as libpq);
//! - `require`: TLS or no connection; the certificate is not checked, unless `sslrootcert`
//!   is given, which makes it `verify-ca` (as libpq);
//! - `verify-ca`: the server's chain must lead to one of the roots;
//! - `verify-full`: that, and the certificate must name the host the URL connects to.
//!
//! The roots are the PEM bundle `sslrootcert` names, else the system's. The postgres crate
//! parses neither `sslrootcert` nor the two verifying modes, so [`split`] takes them out of the
//! URL before it is parsed.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use postgres::config::SslMode;
use postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use postgres::Socket;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{aws_lc_rs, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl Mode {
    fn parse(value: &str) -> Result<Mode, String> {
        Ok(match value {
            "disable" => Mode::Disable,
            "prefer" => Mode::Prefer,
            "require" => Mode::Require,
            "verify-ca" => Mode::VerifyCa,
            "verify-full" => Mode::VerifyFull,
            _ => {
                return Err(format!(
                    "sslmode={value} is not one of disable, prefer, require, verify-ca, verify-full"
                ))
            }
        })
    }

    fn verifies(self) -> bool {
        matches!(self, Mode::VerifyCa | Mode::VerifyFull)
    }
}

/// The TLS a URL asks for.
pub(super) struct Tls {
    /// `None`: the URL does not say (or is in the `key=value` form, whose `sslmode` the
    /// postgres crate reads itself, see [`Tls::mode`]).
    mode: Option<Mode>,
    root: Option<PathBuf>,
}

/// `url` without `sslmode` and `sslrootcert` (for the postgres crate's parser), and the TLS
/// they ask for. Only the URL form carries them; a `key=value` string is left as it is.
pub(super) fn split(url: &str) -> Result<(String, Tls), String> {
    let mut tls = Tls {
        mode: None,
        root: None,
    };
    let is_url = url.starts_with("postgres://") || url.starts_with("postgresql://");
    let Some((base, query)) = url.split_once('?').filter(|_| is_url) else {
        return Ok((url.to_string(), tls));
    };
    let mut kept = Vec::new();
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("sslmode", v)) => tls.mode = Some(Mode::parse(&decode(v)?)?),
            Some(("sslrootcert", v)) => tls.root = Some(PathBuf::from(decode(v)?)),
            _ => kept.push(pair),
        }
    }
    let rest = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((rest, tls))
}

/// A percent-encoded URL value (a path may hold `%20` and the like).
fn decode(value: &str) -> Result<String, String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = value
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                    format!("{value:?} holds a % that is not followed by two hex digits")
                })?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{value:?} is not UTF-8 once decoded"))
}

impl Tls {
    /// The mode in force: the URL's, else what the parser read (`prefer` when nothing says).
    /// `require` with a root bundle verifies the chain, as libpq does.
    fn mode(&self, config: &postgres::Config) -> Mode {
        let mode = self.mode.unwrap_or(match config.get_ssl_mode() {
            SslMode::Disable => Mode::Disable,
            SslMode::Require => Mode::Require,
            _ => Mode::Prefer,
        });
        if mode == Mode::Require && self.root.is_some() {
            Mode::VerifyCa
        } else {
            mode
        }
    }

    /// Tells the postgres crate whether to ask the server for TLS and whether to go on
    /// without it; the verifying modes are `require` to it (the connector verifies).
    pub(super) fn apply(&self, config: &mut postgres::Config) {
        let wire = match self.mode(config) {
            Mode::Disable => SslMode::Disable,
            Mode::Prefer => SslMode::Prefer,
            Mode::Require | Mode::VerifyCa | Mode::VerifyFull => SslMode::Require,
        };
        config.ssl_mode(wire);
    }

    /// Why the TLS settings cannot be used, found without connecting (config validation).
    pub(super) fn check(&self) -> Result<(), String> {
        match &self.root {
            Some(path) => read_roots(path).map(|_| ()),
            None => Ok(()),
        }
    }

    /// The connector for `config` (parsed from this URL). Built at every connection, so a
    /// renewed CA bundle is read without restarting the daemon.
    pub(super) fn connector(&self, config: &postgres::Config) -> Result<MakeTls, String> {
        let provider = Arc::new(aws_lc_rs::default_provider());
        let mode = self.mode(config);
        let verifier: Arc<dyn ServerCertVerifier> = if mode.verifies() {
            let roots = match &self.root {
                Some(path) => read_roots(path)?,
                None => system_roots()?,
            };
            let webpki =
                WebPkiServerVerifier::builder_with_provider(roots.into(), provider.clone())
                    .build()
                    .map_err(|e| format!("cannot use the root certificates: {e}"))?;
            if mode == Mode::VerifyFull {
                webpki
            } else {
                Arc::new(ChainOnly(webpki))
            }
        } else {
            Arc::new(Unverified(provider.clone()))
        };
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("cannot set up TLS: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(MakeTls {
            tls: Arc::new(tls),
            mode,
            root: self.root.clone(),
        })
    }
}

/// The CA certificates of the PEM bundle at `path` (at least one).
fn read_roots(path: &Path) -> Result<RootCertStore, String> {
    let shown = path.display();
    let bytes =
        std::fs::read(path).map_err(|e| format!("sslrootcert={shown}: cannot read it: {e}"))?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&bytes) {
        let cert =
            cert.map_err(|e| format!("sslrootcert={shown}: not a PEM file of certificates: {e}"))?;
        roots.add(cert).map_err(|e| {
            format!("sslrootcert={shown}: a certificate in it cannot be used as a root: {e}")
        })?;
    }
    if roots.is_empty() {
        return Err(format!(
            "sslrootcert={shown}: holds no PEM certificate (-----BEGIN CERTIFICATE-----); give the CA bundle, e.g. RDS's global-bundle.pem"
        ));
    }
    Ok(roots)
}

fn system_roots() -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if roots.is_empty() {
        return Err(
            "this system has no root certificates to verify the server with; name the CA bundle in the URL with sslrootcert=/path/to/ca.pem"
                .into(),
        );
    }
    Ok(roots)
}

/// The connection error `e` with its causes (the postgres crate's text leaves them out), and
/// what to do when the server refused TLS the URL requires.
pub(super) fn explain(e: &postgres::Error) -> String {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text = format!("{text}: {c}");
        cause = c.source();
    }
    if text.ends_with("server does not support TLS") {
        text.push_str("; the URL's sslmode requires TLS: turn on ssl in the server, or use sslmode=prefer (TLS when the server offers it) or sslmode=disable");
    }
    text
}

/// `prefer` and `require` without roots: encrypted, the server's key proven by its handshake
/// signature, but the certificate not checked (libpq does the same).
#[derive(Debug)]
struct Unverified(Arc<CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain as WebPKI checks it, whatever host name the certificate holds.
/// WebPKI checks the chain before the name, so a name mismatch means the chain verified.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// What the postgres crate connects with: one [`Handshake`] per server it tries.
#[derive(Clone)]
pub(super) struct MakeTls {
    tls: Arc<rustls::ClientConfig>,
    mode: Mode,
    root: Option<PathBuf>,
}

impl MakeTlsConnect<Socket> for MakeTls {
    type Stream = Stream;
    type TlsConnect = Handshake;
    type Error = String;

    /// `host` is empty for a Unix socket: no error here, since the server then declines TLS
    /// and the handshake never starts.
    fn make_tls_connect(&mut self, host: &str) -> Result<Handshake, String> {
        Ok(Handshake {
            make: self.clone(),
            host: host.to_string(),
            name: ServerName::try_from(host.to_string()).ok(),
        })
    }
}

pub(super) struct Handshake {
    make: MakeTls,
    host: String,
    name: Option<ServerName<'static>>,
}

impl TlsConnect<Socket> for Handshake {
    type Stream = Stream;
    type Error = String;
    type Future = Pin<Box<dyn Future<Output = Result<Stream, String>> + Send>>;

    fn connect(self, socket: Socket) -> Self::Future {
        Box::pin(async move {
            let Some(name) = self.name.clone() else {
                return Err(format!(
                    "{:?} is not a host name or IP address TLS can check",
                    self.host
                ));
            };
            let connector = tokio_rustls::TlsConnector::from(self.make.tls.clone());
            match connector.connect(name, socket).await {
                Ok(s) => Ok(Stream(s)),
                Err(e) => Err(self.refused(&e)),
            }
        })
    }
}

impl Handshake {
    /// What failed, and what to change.
    fn refused(&self, e: &io::Error) -> String {
        let Some(rustls::Error::InvalidCertificate(cert)) =
            e.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>())
        else {
            return format!("TLS with {} failed: {e}", self.host);
        };
        let roots = match &self.make.root {
            Some(path) => format!("the CA certificates in {} (sslrootcert)", path.display()),
            None => "the system's root certificates (no sslrootcert in the URL)".into(),
        };
        match cert {
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => format!(
                "the server's certificate is not valid for the host name {} ({e}); connect to a name the certificate holds (on RDS, the instance's endpoint), or use sslmode=verify-ca to check the chain only",
                self.host
            ),
            CertificateError::UnknownIssuer | CertificateError::BadSignature => format!(
                "the server's certificate does not verify against {roots} ({e}); give the bundle of the CA that signed it in sslrootcert (on RDS, global-bundle.pem)"
            ),
            _ => format!(
                "the server's certificate was refused ({e}) under sslmode={}, checked against {roots}",
                match self.make.mode {
                    Mode::VerifyFull => "verify-full",
                    _ => "verify-ca",
                }
            ),
        }
    }
}

/// An established TLS session with the server.
pub(super) struct Stream(tokio_rustls::client::TlsStream<Socket>);

impl AsyncRead for Stream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl TlsStream for Stream {
    /// None offered: SCRAM then authenticates without binding to this session (the server
    /// accepts that unless the client insists, and this one does not).
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}
