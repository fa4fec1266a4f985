//! TLS configuration for the TLS and WSS transports (RFC 3261 §26.2.1, RFC 5922, RFC 7118 §5).
//!
//! Servers present a certificate chain and key given as PEM. Clients verify the server's
//! certificate: against trust anchors ([`TlsClientConfig::with_roots`],
//! [`TlsClientConfig::trust_ca`]), checking the name, or against pinned certificates
//! ([`TlsClientConfig::pinned`]). There is no way to accept any certificate short of
//! handing in a whole rustls configuration ([`TlsClientConfig::from_rustls`]).
//!
//! Every configuration uses the aws-lc-rs crypto provider explicitly, so no process-wide
//! default provider needs installing.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::error::Error;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// What a TLS or WSS listener presents: a certificate chain and its private key.
#[derive(Clone)]
pub struct TlsServerConfig {
    inner: Arc<ServerConfig>,
}

impl fmt::Debug for TlsServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsServerConfig").finish_non_exhaustive()
    }
}

impl TlsServerConfig {
    /// From a PEM certificate chain (leaf first) and a PEM private key (PKCS#8, PKCS#1 or
    /// SEC1).
    pub fn from_pem(cert_chain_pem: &[u8], key_pem: &[u8]) -> Result<Self, Error> {
        let chain = CertificateDer::pem_slice_iter(cert_chain_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::tls("reading the certificate chain PEM", e))?;
        let key = PrivateKeyDer::from_pem_slice(key_pem)
            .map_err(|e| Error::tls("reading the private key PEM", e))?;
        Self::from_der(chain, key)
    }

    /// From a DER certificate chain (leaf first) and private key.
    pub fn from_der(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self, Error> {
        if chain.is_empty() {
            return Err(Error::Tls {
                context: "the certificate chain is empty".into(),
                source: None,
            });
        }
        let cfg = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::tls("choosing TLS versions", e))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| Error::tls("loading the certificate and key", e))?;
        Ok(Self {
            inner: Arc::new(cfg),
        })
    }

    /// A rustls configuration made by the caller (client authentication, ALPN, ...).
    pub fn from_rustls(cfg: Arc<ServerConfig>) -> Self {
        Self { inner: cfg }
    }

    pub(crate) fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.inner.clone())
    }
}

/// How the TLS and WSS client side checks servers (RFC 5922: the certificate must match the
/// server's name).
///
/// The name checked is the one given for the server's address with
/// [`TlsClientConfig::server_name`], else the default name, else the IP address itself
/// (which then must appear in the certificate's subjectAltName).
///
/// ```
/// use sipline_tokio::TlsClientConfig;
/// use rustls::RootCertStore;
///
/// let cfg = TlsClientConfig::with_roots(RootCertStore::empty())
///     .server_name("192.0.2.7:5061".parse()?, "proxy.example.com")?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct TlsClientConfig {
    trust: Trust,
    names: HashMap<SocketAddr, ServerName<'static>>,
    default_name: Option<ServerName<'static>>,
}

#[derive(Clone)]
enum Trust {
    Roots(RootCertStore),
    Pins(Vec<CertificateDer<'static>>),
    Custom(Arc<ClientConfig>),
}

impl fmt::Debug for TlsClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let trust = match &self.trust {
            Trust::Roots(r) => format!("{} trust anchors", r.len()),
            Trust::Pins(p) => format!("{} pinned certificates", p.len()),
            Trust::Custom(_) => "custom rustls configuration".into(),
        };
        f.debug_struct("TlsClientConfig")
            .field("trust", &trust)
            .field("names", &self.names)
            .field("default_name", &self.default_name)
            .finish()
    }
}

impl TlsClientConfig {
    /// Verifies servers against these trust anchors (e.g. `webpki-roots`, or the system's).
    pub fn with_roots(roots: RootCertStore) -> Self {
        Self::new(Trust::Roots(roots))
    }

    /// Verifies servers against the CA certificate(s) in this PEM.
    pub fn trust_ca(ca_pem: &[u8]) -> Result<Self, Error> {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca_pem) {
            let cert = cert.map_err(|e| Error::tls("reading the CA PEM", e))?;
            roots
                .add(cert)
                .map_err(|e| Error::tls("adding a CA certificate", e))?;
        }
        Ok(Self::with_roots(roots))
    }

    /// Accepts exactly this server certificate (DER), whoever signed it and whatever names it
    /// carries: for self-signed servers. Add more with [`TlsClientConfig::pin`]. The server
    /// still has to prove it holds the certificate's key.
    pub fn pinned(cert: CertificateDer<'static>) -> Self {
        Self::new(Trust::Pins(vec![cert]))
    }

    /// Like [`TlsClientConfig::pinned`], with the certificate(s) given as PEM.
    pub fn pinned_pem(cert_pem: &[u8]) -> Result<Self, Error> {
        let certs = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::tls("reading the pinned certificate PEM", e))?;
        if certs.is_empty() {
            return Err(Error::Tls {
                context: "no certificate in the pinned PEM".into(),
                source: None,
            });
        }
        Ok(Self::new(Trust::Pins(certs)))
    }

    /// Also accepts this server certificate. On a configuration with trust anchors, this
    /// replaces them: a configuration either pins or verifies chains.
    pub fn pin(mut self, cert: CertificateDer<'static>) -> Self {
        match &mut self.trust {
            Trust::Pins(p) => p.push(cert),
            _ => self.trust = Trust::Pins(vec![cert]),
        }
        self
    }

    /// A rustls configuration made by the caller, used as is: its verifier decides.
    pub fn from_rustls(cfg: Arc<ClientConfig>) -> Self {
        Self::new(Trust::Custom(cfg))
    }

    /// Verifies the server at `addr` under this name (RFC 5922 §7: the domain the request
    /// was routed for).
    pub fn server_name(mut self, addr: SocketAddr, name: &str) -> Result<Self, Error> {
        self.names.insert(addr, parse_name(name)?);
        Ok(self)
    }

    /// Verifies servers with no name of their own under this one.
    pub fn default_server_name(mut self, name: &str) -> Result<Self, Error> {
        self.default_name = Some(parse_name(name)?);
        Ok(self)
    }

    fn new(trust: Trust) -> Self {
        Self {
            trust,
            names: HashMap::new(),
            default_name: None,
        }
    }

    /// Builds the rustls configuration once, when the runtime starts.
    pub(crate) fn build(&self) -> Result<TlsClient, Error> {
        let provider = provider();
        let cfg = match &self.trust {
            Trust::Custom(cfg) => cfg.clone(),
            Trust::Roots(roots) => {
                let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
                    Arc::new(roots.clone()),
                    provider.clone(),
                )
                .build()
                .map_err(|e| Error::tls("building the certificate verifier", e))?;
                Arc::new(
                    ClientConfig::builder_with_provider(provider)
                        .with_safe_default_protocol_versions()
                        .map_err(|e| Error::tls("choosing TLS versions", e))?
                        .with_webpki_verifier(verifier)
                        .with_no_client_auth(),
                )
            }
            Trust::Pins(pins) => {
                let verifier = Arc::new(PinnedVerifier {
                    pins: pins.clone(),
                    provider: provider.clone(),
                });
                Arc::new(
                    ClientConfig::builder_with_provider(provider)
                        .with_safe_default_protocol_versions()
                        .map_err(|e| Error::tls("choosing TLS versions", e))?
                        .dangerous()
                        .with_custom_certificate_verifier(verifier)
                        .with_no_client_auth(),
                )
            }
        };
        Ok(TlsClient {
            connector: TlsConnector::from(cfg),
            names: self.names.clone(),
            default_name: self.default_name.clone(),
        })
    }
}

fn parse_name(name: &str) -> Result<ServerName<'static>, Error> {
    ServerName::try_from(name.to_owned())
        .map_err(|e| Error::tls(format!("server name {name:?}"), e))
}

/// The built client side, shared by every outgoing TLS and WSS connection.
#[derive(Clone)]
pub(crate) struct TlsClient {
    pub(crate) connector: TlsConnector,
    names: HashMap<SocketAddr, ServerName<'static>>,
    default_name: Option<ServerName<'static>>,
}

impl TlsClient {
    /// The name to verify the server at `addr` under.
    pub(crate) fn name_for(&self, addr: SocketAddr) -> ServerName<'static> {
        self.names
            .get(&addr)
            .or(self.default_name.as_ref())
            .cloned()
            .unwrap_or_else(|| ServerName::IpAddress(addr.ip().into()))
    }
}

/// Accepts the pinned certificates only (compared byte for byte), and checks the handshake
/// signatures with the certificate's key as usual.
#[derive(Debug)]
struct PinnedVerifier {
    pins: Vec<CertificateDer<'static>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.pins.iter().any(|p| p.as_ref() == end_entity.as_ref()) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
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
            &self.provider.signature_verification_algorithms,
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
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
