//! The UAC side: answering challenges (RFC 3261 §22.2, §22.3; RFC 7616 §3.4; RFC 8760 §2.4).

use std::fmt;

use super::algorithm::DigestInput;
use super::challenge::quotable;
use super::{AuthError, AuthKind, Challenge, DigestResponse};
use crate::message::{Auth, Method, Request, Response};

/// How many `stale=true` challenges in a row a realm may answer with credentials that were
/// themselves fresh before [`DigestClient::handle_challenge`] gives up with
/// [`AuthError::Rejected`] (a server that calls every nonce stale would loop a UA forever).
pub const MAX_STALE_RETRIES: u8 = 2;

/// How many realms a [`DigestClient`] remembers (nonce, nonce count); the oldest is dropped.
const MAX_REALMS: usize = 16;

/// A username and password (RFC 3261 §22.1), optionally restricted to one realm.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The username (RFC 7616 §3.4 `username`).
    pub username: String,
    /// The password; it never goes on the wire.
    pub password: String,
    /// When set, these credentials answer challenges for this realm only; otherwise any
    /// realm without more specific credentials (RFC 3261 §22.1: realms name protection
    /// spaces, and a UA may hold different credentials for each).
    pub realm: Option<String>,
}

impl Credentials {
    /// Credentials for any realm.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Credentials {
        Credentials {
            username: username.into(),
            password: password.into(),
            realm: None,
        }
    }

    /// The same credentials, restricted to `realm`.
    pub fn for_realm(mut self, realm: impl Into<String>) -> Credentials {
        self.realm = Some(realm.into());
        self
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("realm", &self.realm)
            .finish()
    }
}

/// Which challenge to answer when a response offers several for one realm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AlgorithmPreference {
    /// The strongest supported algorithm ([`Algorithm::strength`](super::Algorithm::strength)),
    /// the first listed among equals (RFC 7616 §3.7).
    #[default]
    Strongest,
    /// The topmost supported challenge, the server's order of preference (RFC 8760 §2.4).
    ServerOrder,
}

/// A header to add to a request resubmitted after a 401/407 (RFC 3261 §22.2, §22.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthHeader {
    /// Authorization or Proxy-Authorization.
    pub kind: AuthKind,
    /// The realm the credentials answer.
    pub realm: String,
    /// The header value (`Digest username="...", ...`).
    pub value: String,
}

impl AuthHeader {
    /// Adds this header to `request`, replacing the credentials of the same kind for the
    /// same realm (RFC 3261 §22.3: one set of credentials per realm). Other realms' headers
    /// stay, in their order, after the fields of other names.
    pub fn apply_to(&self, request: &mut Request) {
        let name = self.kind.credentials_header();
        let keep: Vec<String> = request
            .headers
            .get_all(name)
            .filter(|v| realm_of(v).as_deref() != Some(self.realm.as_str()))
            .map(str::to_owned)
            .collect();
        request.headers.remove(name);
        for v in keep {
            request.headers.push_known(name, v);
        }
        request.headers.push_known(name, self.value.as_str());
    }
}

/// Applies every header of [`DigestClient::handle_challenge`] to `request` (see
/// [`AuthHeader::apply_to`]). The caller still increments the CSeq and takes a new Via
/// branch before sending (RFC 3261 §8.1.3.5, §22.2); Call-ID and From tag stay.
pub fn apply_auth_headers(request: &mut Request, headers: &[AuthHeader]) {
    for h in headers {
        h.apply_to(request);
    }
}

/// The realm of a credentials value, if it parses.
fn realm_of(v: &str) -> Option<String> {
    Auth::parse(v).ok()?.param("realm").map(|r| r.into_owned())
}

/// Where cnonces come from: a seed hashed with a counter, or the caller's generator.
enum CnonceSource {
    Seeded { seed: Vec<u8>, counter: u64 },
    Custom(Box<dyn FnMut() -> String + Send>),
}

/// What the client remembers per realm: the last challenge answered, its nonce count,
/// and what is needed to tell a rejection from a stale nonce.
#[derive(Debug, Clone)]
struct RealmState {
    kind: AuthKind,
    realm: String,
    challenge: Option<Challenge>,
    nc: u32,
    /// The (nonce, nc) of the last answer given straight to a challenge.
    fresh_answer: Option<(String, Option<u32>)>,
    stale_streak: u8,
}

/// The UAC side of digest authentication (RFC 3261 §22.2, §22.3; RFC 7616 §3.4).
///
/// It computes credentials for challenges, counts the uses of each nonce (`nc`), caches
/// the last challenge per realm for [`DigestClient::authorize`], and decides when retrying
/// is pointless ([`DigestClient::handle_challenge`]). The cnonce comes from a seed or a
/// caller-provided generator, never from the OS: the client is deterministic.
pub struct DigestClient {
    credentials: Vec<Credentials>,
    cnonce: CnonceSource,
    preference: AlgorithmPreference,
    realms: Vec<RealmState>,
}

impl fmt::Debug for DigestClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestClient")
            .field("credentials", &self.credentials)
            .field("preference", &self.preference)
            .field("realms", &self.realms)
            .finish_non_exhaustive()
    }
}

impl DigestClient {
    /// A client with one set of credentials. Cnonces are derived from `seed` and a counter
    /// (SHA-256, 128 bits each): pass bytes from the OS random source in production, a
    /// constant in tests.
    pub fn new(credentials: Credentials, seed: &[u8]) -> DigestClient {
        DigestClient {
            credentials: vec![credentials],
            cnonce: CnonceSource::Seeded {
                seed: seed.to_vec(),
                counter: 0,
            },
            preference: AlgorithmPreference::default(),
            realms: Vec::new(),
        }
    }

    /// Adds credentials, typically restricted to another realm (a proxy's and a
    /// registrar's, RFC 3261 §22.3). Realm-restricted credentials win over unrestricted ones.
    pub fn with_credentials(mut self, credentials: Credentials) -> DigestClient {
        self.credentials.push(credentials);
        self
    }

    /// Takes cnonces from `generator` instead of the seed (RFC 7616 §3.4 `cnonce`: an opaque
    /// quoted string; a `"` or `\` in it is escaped).
    pub fn with_cnonce_generator(
        mut self,
        generator: impl FnMut() -> String + Send + 'static,
    ) -> DigestClient {
        self.cnonce = CnonceSource::Custom(Box::new(generator));
        self
    }

    /// Chooses how to pick among several challenges for one realm.
    pub fn with_preference(mut self, preference: AlgorithmPreference) -> DigestClient {
        self.preference = preference;
        self
    }

    /// Computes credentials answering `challenge` for a request (RFC 7616 §3.4, RFC 3261
    /// §22.4: `uri` is the Request-URI as sent; `body` only matters for `auth-int`).
    ///
    /// The qop is `auth` when offered, `auth-int` when it is the only option, and absent for
    /// a challenge without qop (RFC 2069 compatibility). The nonce count starts at 1 for a
    /// new nonce and grows by one for each use of the same nonce; `opaque` is echoed, and the
    /// username hashed when the challenge says `userhash=true` (RFC 7616 §3.4.4). The
    /// challenge is remembered for [`DigestClient::authorize`].
    pub fn respond(
        &mut self,
        kind: AuthKind,
        challenge: &Challenge,
        method: &Method,
        uri: &str,
        body: &[u8],
    ) -> Result<DigestResponse, AuthError> {
        self.answer(kind, challenge, method, uri, body, true)
    }

    /// The retry policy of a UAC that got a 401 or 407 to `request` (RFC 3261 §8.1.3.5,
    /// §22.2, §22.3): the credentials headers to add to the resubmitted request, one per
    /// challenged realm, or an error when retrying is pointless.
    ///
    /// - Several challenges for one realm (different algorithms, RFC 8760 §2.4): the
    ///   strongest supported one is answered (see [`AlgorithmPreference`]). Challenges with
    ///   another scheme or an unknown algorithm are skipped (RFC 7616 §3.3).
    /// - [`AuthError::Rejected`] when `request` already carried our credentials for the realm
    ///   and the new challenge is not `stale=true` while either naming the same nonce or
    ///   following credentials computed straight from a challenge (nonce count 1): the
    ///   username or password is wrong. A stale challenge is answered with its new nonce, up
    ///   to [`MAX_STALE_RETRIES`] times in a row for fresh credentials.
    /// - Realms without [`Credentials`] are skipped; [`AuthError::NoCredentials`] if none is
    ///   left.
    ///
    /// Apply the result with [`apply_auth_headers`] to a copy of `request`, then increment
    /// its CSeq and give it a new Via branch: that part is the caller's (transaction) job.
    /// A CANCEL cannot be resubmitted this way and an ACK reuses its INVITE's credentials
    /// (RFC 3261 §22.1).
    pub fn handle_challenge(
        &mut self,
        request: &Request,
        response: &Response,
    ) -> Result<Vec<AuthHeader>, AuthError> {
        let kind = AuthKind::from_status(response.status)
            .ok_or(AuthError::NotAChallenge(response.status))?;
        let mut chosen: Vec<Challenge> = Vec::new();
        let mut first_error = None;
        for v in response.headers.get_all(kind.challenge_header()) {
            let c = match Challenge::parse(v) {
                Ok(c) => c,
                Err(e) => {
                    first_error.get_or_insert(e);
                    continue;
                }
            };
            match chosen.iter_mut().find(|x| x.realm == c.realm) {
                Some(x) => {
                    if self.preference == AlgorithmPreference::Strongest
                        && c.algorithm.strength() > x.algorithm.strength()
                    {
                        *x = c;
                    }
                }
                None => chosen.push(c),
            }
        }
        if chosen.is_empty() {
            return Err(AuthError::NoUsableChallenge {
                kind,
                reason: first_error.map(Box::new),
            });
        }
        let sent: Vec<DigestResponse> = request
            .headers
            .get_all(kind.credentials_header())
            .filter_map(|v| DigestResponse::parse(v).ok())
            .collect();
        // Check every realm first: one rejection stops the whole retry.
        for ch in &chosen {
            let prev = sent.iter().find(|s| s.realm == ch.realm);
            self.check_rejection(kind, ch, prev)?;
        }
        let mut out = Vec::with_capacity(chosen.len());
        let mut missing = None;
        for ch in &chosen {
            if self.credentials_for(&ch.realm).is_none() {
                missing.get_or_insert_with(|| ch.realm.clone());
                continue;
            }
            let r = self.answer(
                kind,
                ch,
                &request.method,
                request.uri.as_str(),
                &request.body,
                true,
            )?;
            out.push(AuthHeader {
                kind,
                realm: ch.realm.clone(),
                value: r.to_string(),
            });
        }
        if out.is_empty() {
            return Err(AuthError::NoCredentials {
                realm: missing.unwrap_or_default(),
            });
        }
        Ok(out)
    }

    /// Adds credentials for every remembered realm to `request` before sending it
    /// (RFC 3261 §22.3: a UAC MAY cache credentials per realm and send them with later
    /// requests), each with the next nonce count. Returns how many headers were set. If the
    /// nonce has expired, the server answers with `stale=true` and
    /// [`DigestClient::handle_challenge`] retries.
    pub fn authorize(&mut self, request: &mut Request) -> Result<usize, AuthError> {
        let cached: Vec<(AuthKind, Challenge)> = self
            .realms
            .iter()
            .filter_map(|s| s.challenge.clone().map(|c| (s.kind, c)))
            .collect();
        let mut n = 0;
        for (kind, ch) in cached {
            if self.credentials_for(&ch.realm).is_none() {
                continue;
            }
            let r = self.answer(
                kind,
                &ch,
                &request.method,
                request.uri.as_str(),
                &request.body,
                false,
            )?;
            AuthHeader {
                kind,
                realm: ch.realm.clone(),
                value: r.to_string(),
            }
            .apply_to(request);
            n += 1;
        }
        Ok(n)
    }

    /// Forgets every remembered challenge and nonce count (after a change of credentials).
    pub fn clear_cache(&mut self) {
        self.realms.clear();
    }

    /// The credentials for `realm`: restricted to it first, else unrestricted.
    fn credentials_for(&self, realm: &str) -> Option<&Credentials> {
        self.credentials
            .iter()
            .find(|c| c.realm.as_deref() == Some(realm))
            .or_else(|| self.credentials.iter().find(|c| c.realm.is_none()))
    }

    fn state(&mut self, kind: AuthKind, realm: &str) -> &mut RealmState {
        let i = match self.realms.iter().position(|s| s.realm == realm) {
            Some(i) => i,
            None => {
                if self.realms.len() >= MAX_REALMS {
                    self.realms.remove(0);
                }
                self.realms.push(RealmState {
                    kind,
                    realm: realm.to_owned(),
                    challenge: None,
                    nc: 0,
                    fresh_answer: None,
                    stale_streak: 0,
                });
                self.realms.len() - 1
            }
        };
        &mut self.realms[i]
    }

    /// Decides whether a new challenge for a realm means the credentials in `prev` failed.
    fn check_rejection(
        &mut self,
        kind: AuthKind,
        ch: &Challenge,
        prev: Option<&DigestResponse>,
    ) -> Result<(), AuthError> {
        // No credentials for this realm in the request: a first challenge, always answered.
        let Some(prev) = prev else { return Ok(()) };
        let rejected = || AuthError::Rejected {
            kind,
            realm: ch.realm.clone(),
        };
        let st = self.state(kind, &ch.realm);
        // Were `prev` computed straight from a challenge (not reused from the cache)?
        let fresh = match &st.fresh_answer {
            Some((nonce, nc)) if *nonce == prev.nonce && *nc == prev.nc => true,
            _ => prev.nc == Some(1),
        };
        if !ch.stale {
            if prev.nonce == ch.nonce || fresh {
                return Err(rejected());
            }
            // Reused credentials whose nonce the server forgot without saying stale: one
            // retry with the new nonce.
            st.stale_streak = 0;
        } else if fresh || prev.nonce == ch.nonce {
            st.stale_streak = st.stale_streak.saturating_add(1);
            if st.stale_streak > MAX_STALE_RETRIES {
                return Err(rejected());
            }
        } else {
            st.stale_streak = 0;
        }
        Ok(())
    }

    fn next_cnonce(&mut self) -> String {
        match &mut self.cnonce {
            CnonceSource::Seeded { seed, counter } => {
                *counter = counter.wrapping_add(1);
                let mut h = super::Algorithm::Sha256
                    .hash_hex(&[seed.as_slice(), counter.to_string().as_bytes()]);
                h.truncate(32);
                h
            }
            CnonceSource::Custom(f) => f(),
        }
    }

    fn answer(
        &mut self,
        kind: AuthKind,
        ch: &Challenge,
        method: &Method,
        uri: &str,
        body: &[u8],
        fresh: bool,
    ) -> Result<DigestResponse, AuthError> {
        let cred =
            self.credentials_for(&ch.realm)
                .cloned()
                .ok_or_else(|| AuthError::NoCredentials {
                    realm: ch.realm.clone(),
                })?;
        if !quotable(&cred.username) {
            return Err(AuthError::InvalidParam {
                name: "username",
                value: cred.username,
            });
        }
        let qop = ch.preferred_qop();
        let st = self.state(kind, &ch.realm);
        let same_nonce = st.challenge.as_ref().is_some_and(|c| c.nonce == ch.nonce);
        let nc = if same_nonce {
            st.nc.checked_add(1).ok_or(AuthError::NonceCountExhausted)?
        } else {
            1
        };
        st.kind = kind;
        st.challenge = Some(ch.clone());
        st.nc = nc;
        let nc = qop.map(|_| nc);
        st.fresh_answer = fresh.then(|| (ch.nonce.clone(), nc));
        let cnonce = (qop.is_some() || ch.algorithm.is_session()).then(|| self.next_cnonce());
        let response = DigestInput {
            algorithm: ch.algorithm,
            username: &cred.username,
            realm: &ch.realm,
            password: &cred.password,
            nonce: &ch.nonce,
            cnonce: cnonce.as_deref(),
            nc,
            qop,
            method: method.as_str(),
            uri,
            body,
        }
        .response();
        let username = if ch.userhash {
            ch.algorithm.userhash(&cred.username, &ch.realm)
        } else {
            cred.username
        };
        Ok(DigestResponse {
            username,
            realm: ch.realm.clone(),
            nonce: ch.nonce.clone(),
            uri: uri.to_owned(),
            response,
            algorithm: ch.algorithm,
            cnonce,
            opaque: ch.opaque.clone(),
            qop,
            nc,
            userhash: ch.userhash,
        })
    }
}
