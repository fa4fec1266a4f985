//! The UAS / registrar / proxy side: issuing challenges and verifying credentials
//! (RFC 3261 §22.1, §22.4; RFC 7616 §3.3, §3.5, §5.4; RFC 8760 §2.3).

use super::algorithm::{DigestInput, constant_time_eq};
use super::{Algorithm, AuthError, AuthKind, Challenge, Credentials, DigestResponse, Qop};
use crate::message::{Method, Request, Response};

/// Width of the timestamp at the start of a nonce, in hex digits.
const TS_LEN: usize = 16;

/// Issues digest challenges and verifies credentials, without state and without a clock
/// (RFC 7616 §3.3, §5.4; RFC 2617 §3.2.1 suggests this nonce construction).
///
/// A nonce is `hex(timestamp) || SHA-256(hex(timestamp) ":" realm ":" secret)`, so the
/// server recognises its own nonces and their age from the nonce alone. Timestamps are
/// seconds on any clock the caller chooses, the same for [`DigestServer::challenges`] and
/// [`DigestServer::verify`].
///
/// Not done here (it needs state): refusing a replayed nonce count within a nonce's
/// lifetime (RFC 7616 §5.3). Keep the lifetime short.
#[derive(Clone)]
pub struct DigestServer {
    realm: String,
    secret: Vec<u8>,
    algorithms: Vec<Algorithm>,
    qop: Vec<Qop>,
    nonce_lifetime: u64,
    opaque: Option<String>,
    userhash: bool,
}

impl std::fmt::Debug for DigestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DigestServer")
            .field("realm", &self.realm)
            .field("algorithms", &self.algorithms)
            .field("qop", &self.qop)
            .field("nonce_lifetime", &self.nonce_lifetime)
            .field("opaque", &self.opaque)
            .field("userhash", &self.userhash)
            .finish_non_exhaustive()
    }
}

/// The outcome of a successful [`DigestServer::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The authenticated user (the real name, also when the client sent its hash).
    pub username: String,
    /// The algorithm the client used.
    pub algorithm: Algorithm,
    /// The qop the client used.
    pub qop: Option<Qop>,
    /// The nonce count the client sent.
    pub nc: Option<u32>,
}

impl DigestServer {
    /// A server for `realm` (RFC 3261 §22.1: a globally unique realm, e.g. the domain)
    /// whose nonces are keyed by `secret`. It offers SHA-256 then MD5 (RFC 8760 §2.3: MD5
    /// only for backward compatibility), qop `auth`, nonces valid for 300 s.
    pub fn new(realm: impl Into<String>, secret: impl Into<Vec<u8>>) -> DigestServer {
        DigestServer {
            realm: realm.into(),
            secret: secret.into(),
            algorithms: vec![Algorithm::Sha256, Algorithm::Md5],
            qop: vec![Qop::Auth],
            nonce_lifetime: 300,
            opaque: None,
            userhash: false,
        }
    }

    /// The algorithms to offer, one challenge each, in order of preference (RFC 8760 §2.3).
    pub fn with_algorithms(mut self, algorithms: &[Algorithm]) -> DigestServer {
        self.algorithms = algorithms.to_vec();
        self
    }

    /// The qop options to offer; empty for an RFC 2069-style challenge (RFC 7616 §3.3).
    pub fn with_qop(mut self, qop: &[Qop]) -> DigestServer {
        self.qop = qop.to_vec();
        self
    }

    /// How many seconds a nonce stays valid (after that, a right digest gets `stale=true`).
    pub fn with_nonce_lifetime(mut self, seconds: u64) -> DigestServer {
        self.nonce_lifetime = seconds;
        self
    }

    /// An `opaque` value the client must echo (RFC 7616 §3.3).
    pub fn with_opaque(mut self, opaque: impl Into<String>) -> DigestServer {
        self.opaque = Some(opaque.into());
        self
    }

    /// Asks clients to hash the username (RFC 7616 §3.4.4).
    pub fn with_userhash(mut self, userhash: bool) -> DigestServer {
        self.userhash = userhash;
        self
    }

    /// The realm.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The nonce for timestamp `now` (seconds): deterministic, so a server needs no state.
    pub fn nonce(&self, now: u64) -> String {
        let ts = format!("{now:0TS_LEN$x}");
        let tag = self.tag(&ts);
        ts + &tag
    }

    fn tag(&self, ts: &str) -> String {
        Algorithm::Sha256.hash_hex(&[ts.as_bytes(), self.realm.as_bytes(), &self.secret])
    }

    /// The timestamp of one of our nonces, or [`AuthError::InvalidNonce`].
    fn nonce_time(&self, nonce: &str) -> Result<u64, AuthError> {
        let ts = nonce.get(..TS_LEN).ok_or(AuthError::InvalidNonce)?;
        let tag = nonce.get(TS_LEN..).ok_or(AuthError::InvalidNonce)?;
        if !ts.bytes().all(|b| b.is_ascii_hexdigit()) || !constant_time_eq(tag, &self.tag(ts)) {
            return Err(AuthError::InvalidNonce);
        }
        u64::from_str_radix(ts, 16).map_err(|_| AuthError::InvalidNonce)
    }

    /// The challenges for a 401/407 at time `now`, one per algorithm in order of preference
    /// (RFC 8760 §2.3, RFC 7616 §3.7); `stale` after [`AuthError::StaleNonce`] (RFC 7616 §3.3).
    pub fn challenges(&self, now: u64, stale: bool) -> Vec<Challenge> {
        let nonce = self.nonce(now);
        self.algorithms
            .iter()
            .map(|&algorithm| Challenge {
                realm: self.realm.clone(),
                nonce: nonce.clone(),
                opaque: self.opaque.clone(),
                stale,
                algorithm,
                qop: self.qop.clone(),
                domain: Vec::new(),
                userhash: self.userhash,
            })
            .collect()
    }

    /// Adds the challenges of [`DigestServer::challenges`] to a 401 or 407 `response`
    /// (WWW-Authenticate or Proxy-Authenticate, one field each; RFC 3261 §22.1, §22.3).
    pub fn add_challenges(&self, response: &mut Response, kind: AuthKind, now: u64, stale: bool) {
        for c in self.challenges(now, stale) {
            response
                .headers
                .push_known(kind.challenge_header(), c.to_string());
        }
    }

    /// Verifies the credentials of `request` for our realm in its Authorization
    /// (`AuthKind::Www`) or Proxy-Authorization (`AuthKind::Proxy`) header, against the
    /// Request-URI and method (RFC 3261 §22.4). See [`DigestServer::verify`].
    pub fn verify_request(
        &self,
        now: u64,
        request: &Request,
        kind: AuthKind,
        lookup: impl FnOnce(&str, bool) -> Option<Credentials>,
    ) -> Result<Verified, AuthError> {
        let value = request
            .headers
            .get_all(kind.credentials_header())
            .find(|v| DigestResponse::parse(v).is_ok_and(|r| r.realm == self.realm))
            .ok_or(AuthError::MissingCredentials)?;
        self.verify(
            now,
            &request.method,
            request.uri.as_str(),
            &request.body,
            value,
            lookup,
        )
    }

    /// Verifies a credentials value (RFC 7616 §3.4, §3.5; RFC 3261 §22.4) for a request with
    /// `method`, Request-URI `uri` and `body` (for `auth-int`), at time `now`.
    ///
    /// `lookup(username, hashed)` returns the user's credentials: `username` as sent, which
    /// is `H(user ":" realm)` when `hashed` (RFC 7616 §3.4.4; see
    /// [`Algorithm::userhash`]). Checks, in order: realm, algorithm and qop offered, opaque
    /// echoed, uri equal to the Request-URI, nonce ours, user known, digest right; then
    /// the nonce's age, so that only a right digest gets [`AuthError::StaleNonce`] (answer
    /// it with `stale=true`, RFC 7616 §3.3).
    pub fn verify(
        &self,
        now: u64,
        method: &Method,
        uri: &str,
        body: &[u8],
        value: &str,
        lookup: impl FnOnce(&str, bool) -> Option<Credentials>,
    ) -> Result<Verified, AuthError> {
        let r = DigestResponse::parse(value)?;
        if r.realm != self.realm {
            return Err(AuthError::RealmMismatch {
                expected: self.realm.clone(),
                got: r.realm,
            });
        }
        if !self.algorithms.contains(&r.algorithm) {
            return Err(AuthError::NotOffered {
                param: "algorithm",
                value: r.algorithm.to_string(),
            });
        }
        let qop_ok = match r.qop {
            Some(q) => self.qop.contains(&q),
            None => self.qop.is_empty(),
        };
        if !qop_ok {
            return Err(AuthError::NotOffered {
                param: "qop",
                value: r.qop.map(|q| q.to_string()).unwrap_or_default(),
            });
        }
        if self.opaque.is_some() && r.opaque != self.opaque {
            return Err(AuthError::NotOffered {
                param: "opaque",
                value: r.opaque.unwrap_or_default(),
            });
        }
        if r.algorithm.is_session() && r.cnonce.is_none() {
            return Err(AuthError::MissingParam("cnonce"));
        }
        if r.uri != uri {
            return Err(AuthError::UriMismatch {
                expected: uri.to_owned(),
                got: r.uri,
            });
        }
        let issued = self.nonce_time(&r.nonce)?;
        let user = lookup(&r.username, r.userhash)
            .ok_or_else(|| AuthError::UnknownUser(r.username.clone()))?;
        let expected = DigestInput {
            algorithm: r.algorithm,
            username: &user.username,
            realm: &self.realm,
            password: &user.password,
            nonce: &r.nonce,
            cnonce: r.cnonce.as_deref(),
            nc: r.nc,
            qop: r.qop,
            method: method.as_str(),
            uri,
            body,
        }
        .response();
        if !constant_time_eq(&expected, &r.response.to_ascii_lowercase()) {
            return Err(AuthError::WrongResponse);
        }
        if now.saturating_sub(issued) > self.nonce_lifetime {
            return Err(AuthError::StaleNonce);
        }
        Ok(Verified {
            username: user.username,
            algorithm: r.algorithm,
            qop: r.qop,
            nc: r.nc,
        })
    }
}
