//! Digest authentication for SIP (RFC 3261 §22, RFC 2617, RFC 7616, RFC 8760), sans-IO.
//!
//! - [`Challenge`] and [`DigestResponse`] parse and write the header values: a challenge
//!   (WWW-Authenticate, Proxy-Authenticate) and credentials (Authorization,
//!   Proxy-Authorization).
//! - [`DigestClient`] answers challenges for a UAC: it keeps the nonce counts, picks the
//!   strongest algorithm per realm, retries on `stale=true` and refuses to loop when the
//!   server rejects the same credentials again ([`AuthError::Rejected`]).
//! - [`DigestServer`] issues challenges with nonces derived from a secret and a timestamp the
//!   caller passes, and verifies credentials against a password lookup.
//!
//! Nothing here reads the clock or the OS random source: the server takes `now` as seconds
//! (any epoch, as long as it is the same for every call), the client's cnonce comes from a
//! seed or a generator the caller provides.
//!
//! ```
//! use sipline_proto::auth::{AuthKind, Credentials, DigestClient, DigestServer};
//! use sipline_proto::Method;
//!
//! // A registrar challenges (RFC 3261 §22.1)...
//! let server = DigestServer::new("biloxi.com", b"registrar secret".to_vec());
//! let now = 1_700_000_000; // seconds, from the caller's clock
//! let challenge = &server.challenges(now, false)[0];
//! let www_authenticate = challenge.to_string();
//!
//! // ...the UAC answers (RFC 3261 §22.2)...
//! let mut client = DigestClient::new(Credentials::new("bob", "zanzibar"), b"seed from the OS");
//! let challenge = www_authenticate.parse()?;
//! let creds = client.respond(AuthKind::Www, &challenge, &Method::Register, "sip:biloxi.com", b"")?;
//! let authorization = creds.to_string();
//! assert!(authorization.starts_with("Digest username=\"bob\", realm=\"biloxi.com\""));
//!
//! // ...and the registrar checks the credentials against its user database.
//! let verified = server.verify(now + 5, &Method::Register, "sip:biloxi.com", b"", &authorization,
//!     |user, _hashed| (user == "bob").then(|| Credentials::new("bob", "zanzibar")))?;
//! assert_eq!(verified.username, "bob");
//! # Ok::<(), sipline_proto::auth::AuthError>(())
//! ```
//!
//! A UA normally uses [`DigestClient::handle_challenge`] with the request it sent and the
//! 401/407 it got, then [`apply_auth_headers`] on a copy of the request; bumping the CSeq and
//! taking a new Via branch (RFC 3261 §8.1.3.5, §22.2) remain the caller's job.

mod algorithm;
mod challenge;
mod client;
mod server;

use std::fmt;

pub use algorithm::Algorithm;
pub use challenge::{Challenge, DigestResponse, Qop};
pub use client::{
    AlgorithmPreference, AuthHeader, Credentials, DigestClient, MAX_STALE_RETRIES,
    apply_auth_headers,
};
pub use server::{DigestServer, Verified};

use crate::message::{HeaderName, StatusCode};

/// Which pair of headers an authentication exchange uses (RFC 3261 §22.2, §22.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthKind {
    /// A UAS or registrar: 401, WWW-Authenticate, Authorization (RFC 3261 §22.2).
    Www,
    /// A proxy: 407, Proxy-Authenticate, Proxy-Authorization (RFC 3261 §22.3).
    Proxy,
}

impl AuthKind {
    /// `Www` for 401 Unauthorized, `Proxy` for 407 Proxy Authentication Required.
    pub fn from_status(status: StatusCode) -> Option<AuthKind> {
        match status {
            StatusCode::UNAUTHORIZED => Some(AuthKind::Www),
            StatusCode::PROXY_AUTHENTICATION_REQUIRED => Some(AuthKind::Proxy),
            _ => None,
        }
    }

    /// The status that carries this kind of challenge (401 or 407).
    pub fn status(self) -> StatusCode {
        match self {
            AuthKind::Www => StatusCode::UNAUTHORIZED,
            AuthKind::Proxy => StatusCode::PROXY_AUTHENTICATION_REQUIRED,
        }
    }

    /// WWW-Authenticate or Proxy-Authenticate (RFC 3261 §20.44, §20.27).
    pub fn challenge_header(self) -> HeaderName {
        match self {
            AuthKind::Www => HeaderName::WwwAuthenticate,
            AuthKind::Proxy => HeaderName::ProxyAuthenticate,
        }
    }

    /// Authorization or Proxy-Authorization (RFC 3261 §20.7, §20.28).
    pub fn credentials_header(self) -> HeaderName {
        match self {
            AuthKind::Www => HeaderName::Authorization,
            AuthKind::Proxy => HeaderName::ProxyAuthorization,
        }
    }
}

/// Why a challenge or credentials could not be parsed, answered or verified.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthError {
    /// The value does not follow `challenge` / `credentials` of RFC 3261 §25.1; `offset` is
    /// the byte index in the value where parsing stopped.
    Malformed {
        /// Byte offset in the header value.
        offset: usize,
    },
    /// The scheme is not `Digest` (RFC 3261 §22.1 only defines Digest).
    UnsupportedScheme(String),
    /// A mandatory parameter is absent (`realm`, `nonce`, `response`, ...).
    MissingParam(&'static str),
    /// A parameter appears twice (RFC 7235 §2.1).
    DuplicateParam(String),
    /// A parameter's value does not follow its grammar (e.g. `nc` not 8 hex digits).
    InvalidParam {
        /// The parameter.
        name: &'static str,
        /// Its value as received.
        value: String,
    },
    /// The `algorithm` is not one of [`Algorithm`] (RFC 7616 §3.3: such a challenge is
    /// ignored if there is another one).
    UnsupportedAlgorithm(String),
    /// The `qop` offers no option sipline knows (`auth`, `auth-int`).
    UnsupportedQop(String),
    /// The response is neither 401 nor 407.
    NotAChallenge(StatusCode),
    /// A 401/407 without any Digest challenge sipline can answer.
    NoUsableChallenge {
        /// Which header was looked at.
        kind: AuthKind,
        /// Why the first challenge found was unusable, if there was one.
        reason: Option<Box<AuthError>>,
    },
    /// No [`Credentials`] apply to the challenged realm.
    NoCredentials {
        /// The realm.
        realm: String,
    },
    /// The server rejected credentials for this realm again (same nonce, or a fresh answer
    /// met by a new non-stale challenge, or too many stale retries): do not retry, the
    /// username or password is wrong (RFC 7616 §3.3 `stale`, RFC 3261 §22.2).
    Rejected {
        /// Which header pair.
        kind: AuthKind,
        /// The realm.
        realm: String,
    },
    /// The nonce count of a nonce reached 2^32 - 1 (RFC 7616 §3.4: `nc` is 8 hex digits).
    NonceCountExhausted,
    /// Server: the request carries no credentials for our realm.
    MissingCredentials,
    /// Server: the credentials name another realm.
    RealmMismatch {
        /// The server's realm.
        expected: String,
        /// The credentials' realm.
        got: String,
    },
    /// Server: the `uri` differs from the Request-URI (RFC 2617 §3.2.2.5, RFC 3261 §22.4).
    UriMismatch {
        /// The Request-URI.
        expected: String,
        /// The `uri` parameter.
        got: String,
    },
    /// Server: the credentials use an algorithm, qop or opaque the server did not offer.
    NotOffered {
        /// `algorithm`, `qop` or `opaque`.
        param: &'static str,
        /// What the client sent (empty when it sent none).
        value: String,
    },
    /// Server: the nonce was not issued by this server (wrong format or tag).
    InvalidNonce,
    /// Server: the user is unknown to the password lookup.
    UnknownUser(String),
    /// Server: the `response` digest is wrong: wrong password, or tampered request.
    WrongResponse,
    /// Server: the digest is right but the nonce has expired; challenge again with
    /// `stale=true` (RFC 7616 §3.3).
    StaleNonce,
}

impl AuthError {
    /// Whether a server should answer this with a `stale=true` challenge (RFC 7616 §3.3).
    pub fn is_stale(&self) -> bool {
        matches!(self, AuthError::StaleNonce)
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::Malformed { offset } => {
                write!(f, "malformed authentication header at byte {offset}")
            }
            AuthError::UnsupportedScheme(s) => write!(f, "unsupported auth scheme {s:?}"),
            AuthError::MissingParam(p) => write!(f, "digest parameter {p:?} is missing"),
            AuthError::DuplicateParam(p) => write!(f, "digest parameter {p:?} appears twice"),
            AuthError::InvalidParam { name, value } => {
                write!(f, "invalid value {value:?} for digest parameter {name:?}")
            }
            AuthError::UnsupportedAlgorithm(a) => write!(f, "unsupported digest algorithm {a:?}"),
            AuthError::UnsupportedQop(q) => write!(f, "no supported qop in {q:?}"),
            AuthError::NotAChallenge(s) => write!(f, "status {s} is not a 401 or 407 challenge"),
            AuthError::NoUsableChallenge { kind, reason } => {
                write!(
                    f,
                    "no usable {} challenge",
                    kind.challenge_header().as_str()
                )?;
                match reason {
                    Some(r) => write!(f, ": {r}"),
                    None => Ok(()),
                }
            }
            AuthError::NoCredentials { realm } => write!(f, "no credentials for realm {realm:?}"),
            AuthError::Rejected { kind, realm } => write!(
                f,
                "credentials for realm {realm:?} rejected ({})",
                kind.status()
            ),
            AuthError::NonceCountExhausted => f.write_str("nonce count exhausted"),
            AuthError::MissingCredentials => f.write_str("no credentials for this realm"),
            AuthError::RealmMismatch { expected, got } => {
                write!(f, "credentials for realm {got:?}, expected {expected:?}")
            }
            AuthError::UriMismatch { expected, got } => {
                write!(f, "credentials for uri {got:?}, expected {expected:?}")
            }
            AuthError::NotOffered { param, value } => {
                write!(f, "{param} {value:?} was not offered by the server")
            }
            AuthError::InvalidNonce => f.write_str("nonce not issued by this server"),
            AuthError::UnknownUser(u) => write!(f, "unknown user {u:?}"),
            AuthError::WrongResponse => f.write_str("wrong digest response"),
            AuthError::StaleNonce => f.write_str("stale nonce"),
        }
    }
}

impl std::error::Error for AuthError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AuthError::NoUsableChallenge {
                reason: Some(r), ..
            } => Some(r.as_ref()),
            _ => None,
        }
    }
}

impl std::str::FromStr for Challenge {
    type Err = AuthError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Challenge::parse(s)
    }
}

impl std::str::FromStr for DigestResponse {
    type Err = AuthError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DigestResponse::parse(s)
    }
}
