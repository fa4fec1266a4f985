//! The REGISTER client of RFC 3261 §10.2, sans-IO.
//!
//! [`Registration`] builds the REGISTER requests for one address-of-record and reads their
//! final responses; it sends nothing and reads no clock. The caller (the user-agent core)
//! adds the Via, sends each request in a non-INVITE client transaction, feeds back the
//! response ([`Registration::on_response`]) or the transaction's failure
//! ([`Registration::on_timeout`], [`Registration::on_failure`]), and calls
//! [`Registration::register`] again at [`Registration::refresh_at`].
//!
//! ```text
//!                register()                      2xx (our Contact bound)
//!  Unregistered ────────────▶ Registering ──────────────────────────▶ Registered ◀─┐
//!       ▲                      │  ▲   │ 401/407 ─▶ Retry (Authorization, §22.2)   │  │
//!       │                      │  └───┘ 423     ─▶ Retry (Min-Expires, §10.2.8)    │  │
//!       │            other final, timeout,                          register() at │  │
//!       │            transport error, rejected credentials           refresh_at() │  │
//!       │                      ▼                                    (state stays) └──┘
//!       │                    Failed ◀───── a refresh fails the same way ───── Registered
//!       │  2xx                                                                   │
//!       └────────── Unregistering ◀──────────── unregister() / unregister_all() ─┘
//! ```
//!
//! Every REGISTER of a [`Registration`] carries the same Call-ID, From tag, To and
//! Request-URI, and a CSeq one higher than the previous one (RFC 3261 §10.2); a new REGISTER
//! is refused while one is outstanding (§10.2: "A UA MUST NOT send a new registration ...
//! until it has received a final response ... or the previous REGISTER request has timed
//! out").
//!
//! ```
//! use std::time::{Duration, Instant};
//! use sipline_proto::registration::{RegisterParams, Registration, RegistrationStep};
//! use sipline_proto::{Response, StatusCode, Uri};
//!
//! let params = RegisterParams::new(
//!     Uri::parse("sip:example.com")?,
//!     "<sip:alice@example.com>",
//!     "<sip:alice@192.0.2.10:5060>",
//! );
//! let mut reg = Registration::new(params, "a84b4c76e66710".into(), "456248".into())?;
//! let t0 = Instant::now();
//! let request = reg.register(t0)?; // the core adds a Via and sends it
//! assert_eq!(request.headers.get(sipline_proto::HeaderName::Expires), Some("600"));
//!
//! // The registrar answers 200 with our binding (RFC 3261 §10.3 step 8).
//! let mut ok = Response::from_request(&request, StatusCode::OK, Some("reg1"));
//! ok.headers.push("Contact", "<sip:alice@192.0.2.10:5060>;expires=3600")?;
//! let step = reg.on_response(t0, &ok);
//! assert!(matches!(step, RegistrationStep::Registered { expires: 3600, .. }));
//! // Refresh 32 s (Timer F) before the binding lapses.
//! assert_eq!(reg.refresh_at(), Some(t0 + Duration::from_secs(3600 - 32)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::time::{Duration, Instant};

use crate::auth::{AuthError, Credentials, DigestClient, apply_auth_headers};
use crate::message::{
    BuildError, ContactValue, HeaderName, Method, NameAddr, Parameterized, Request, Response,
    Scheme, StatusCode, Uri, UriRef,
};

/// The expiration interval asked for when [`RegisterParams::expires`] is not changed: 600 s,
/// SIP.js's `register_expires` default (RFC 3261 §10.2.1.1 leaves it to the UA; the
/// registrar's default is 3600 s).
pub const DEFAULT_EXPIRES: u32 = 600;

/// How long before the binding lapses [`Registration::refresh_at`] falls by default: 32 s,
/// Timer F (64*T1, RFC 3261 §17.1.2.2), the longest a REGISTER transaction can take over
/// UDP, so that a refresh that needs every retransmission still completes (or fails) while
/// the old binding holds. Bindings shorter than 64 s are refreshed at half their interval.
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(32);

/// How many 401/407 in a row one registration attempt answers before it gives up, on top of
/// [`DigestClient`]'s own loop detection (one answer per challenge, a few stale retries).
pub const MAX_AUTH_RETRIES: u8 = 4;

/// The largest CSeq number (RFC 3261 §8.1.1.5: below 2^31).
const MAX_CSEQ: u32 = (1 << 31) - 1;

/// What a [`Registration`] registers (RFC 3261 §10.2). Build with [`RegisterParams::new`],
/// then set the public fields.
#[derive(Debug, Clone)]
pub struct RegisterParams {
    /// The Request-URI: the registrar's domain, e.g. `sip:example.com` (RFC 3261 §10.2: the
    /// userinfo and `@` MUST NOT be present).
    pub registrar: Uri,
    /// The address-of-record, a name-addr or addr-spec, used as To and From (§10.2: From is
    /// the address-of-record of the person responsible for the registration; sipline
    /// registers its own identity, so both are the same).
    pub aor: String,
    /// Our Contact (§10.2.1), a name-addr or addr-spec; an `expires` parameter in it is
    /// replaced by the one each request carries.
    pub contact: String,
    /// The expiration interval to ask for, in seconds (§10.2.1.1); [`DEFAULT_EXPIRES`].
    /// A 423 raises it to the registrar's Min-Expires (§10.2.8).
    pub expires: u32,
    /// Credentials for digest challenges (§22.2); without them a 401/407 fails.
    pub credentials: Option<Credentials>,
    /// Extra headers added to every REGISTER (e.g. `Allow`, `User-Agent`, `Path`). The
    /// headers the registration owns (Via, From, To, Call-ID, CSeq, Contact, Expires,
    /// Content-Length, Authorization, Proxy-Authorization) are refused.
    pub extra_headers: Vec<(String, String)>,
    /// The instance ID (`urn:uuid:...`), sent as `+sip.instance="<...>"` on the Contact
    /// (RFC 5626 §4.1). Only the parameter: outbound flows and keep-alives are not handled.
    pub instance_id: Option<String>,
    /// The `reg-id` Contact parameter (RFC 5626 §4.2.1), sent with `Supported: outbound`.
    pub reg_id: Option<u32>,
    /// How long before expiry to refresh, at most half the granted interval; see
    /// [`DEFAULT_REFRESH_MARGIN`].
    pub refresh_margin: Duration,
}

impl RegisterParams {
    /// Parameters with the defaults: [`DEFAULT_EXPIRES`], no credentials, no extra headers,
    /// no instance ID or reg-id, [`DEFAULT_REFRESH_MARGIN`].
    pub fn new(registrar: Uri, aor: impl Into<String>, contact: impl Into<String>) -> Self {
        Self {
            registrar,
            aor: aor.into(),
            contact: contact.into(),
            expires: DEFAULT_EXPIRES,
            credentials: None,
            extra_headers: Vec::new(),
            instance_id: None,
            reg_id: None,
            refresh_margin: DEFAULT_REFRESH_MARGIN,
        }
    }
}

/// Why a [`Registration`] could not be created or could not build a REGISTER.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistrationError {
    /// A REGISTER is outstanding: wait for its final response or its timeout (RFC 3261
    /// §10.2).
    Pending {
        /// The CSeq of the outstanding REGISTER.
        cseq: u32,
    },
    /// The registrar URI is not a `sip`/`sips` URI without userinfo (RFC 3261 §10.2).
    InvalidRegistrar(String),
    /// The address-of-record is not a name-addr or addr-spec (RFC 3261 §20.20, §20.39).
    InvalidAor {
        /// The value given.
        value: String,
        /// Byte offset where parsing stopped.
        offset: usize,
    },
    /// The Contact is not a name-addr or addr-spec (RFC 3261 §20.10).
    InvalidContact {
        /// The value given.
        value: String,
        /// Byte offset where parsing stopped.
        offset: usize,
    },
    /// An extra header names a header the registration owns, or is not a valid header.
    InvalidHeader {
        /// The header name given.
        name: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The CSeq reached 2^31 - 1 (RFC 3261 §8.1.1.5): start a new [`Registration`] with a
    /// new Call-ID.
    CSeqExhausted,
    /// The request did not build (a value breaking its header's grammar).
    Build(BuildError),
}

impl fmt::Display for RegistrationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pending { cseq } => write!(
                f,
                "REGISTER with CSeq {cseq} is still waiting for a final response"
            ),
            Self::InvalidRegistrar(u) => write!(
                f,
                "registrar {u:?} is not a sip/sips URI without userinfo (RFC 3261 §10.2)"
            ),
            Self::InvalidAor { value, offset } => {
                write!(f, "address-of-record {value:?} is invalid at byte {offset}")
            }
            Self::InvalidContact { value, offset } => {
                write!(f, "contact {value:?} is invalid at byte {offset}")
            }
            Self::InvalidHeader { name, reason } => write!(f, "extra header {name:?}: {reason}"),
            Self::CSeqExhausted => f.write_str("REGISTER CSeq exhausted (2^31 - 1)"),
            Self::Build(e) => write!(f, "REGISTER did not build: {e}"),
        }
    }
}

impl std::error::Error for RegistrationError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Build(e) => Some(e),
            _ => None,
        }
    }
}

/// Why a registration failed (the `reason` of [`RegistrationStep::Failed`] and
/// [`RegistrationState::Failed`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureReason {
    /// The registrar answered with a final status the registration does not recover from
    /// (3xx-6xx other than 401/407 and a usable 423, RFC 3261 §10.2.8, §21).
    Rejected {
        /// The Reason-Phrase as received.
        phrase: String,
    },
    /// A 401/407 could not be answered, or our answer was refused again (RFC 3261 §22.2):
    /// no credentials, wrong password, unusable challenge.
    Auth(AuthError),
    /// More than [`MAX_AUTH_RETRIES`] challenges in a row.
    TooManyChallenges,
    /// A 423 without a Min-Expires above the interval we asked for (RFC 3261 §10.2.8,
    /// §20.23: the 423 MUST carry one).
    IntervalTooBrief {
        /// The Min-Expires received, if any parsed.
        min_expires: Option<u32>,
    },
    /// A 2xx to a REGISTER that does not list our Contact with a non-zero expiration
    /// (RFC 3261 §10.3 step 8: the registrar returns every current binding).
    NoBinding,
    /// The REGISTER transaction timed out (Timer F, RFC 3261 §17.1.2.2).
    Timeout,
    /// The transport reported an error (RFC 3261 §8.1.3.1).
    Transport(String),
    /// The retry could not be built (e.g. [`RegistrationError::CSeqExhausted`]).
    Local(RegistrationError),
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rejected { phrase } => write!(f, "registrar rejected the REGISTER: {phrase}"),
            Self::Auth(e) => write!(f, "authentication failed: {e}"),
            Self::TooManyChallenges => f.write_str("too many authentication challenges"),
            Self::IntervalTooBrief {
                min_expires: Some(m),
            } => write!(f, "423 Interval Too Brief with unusable Min-Expires {m}"),
            Self::IntervalTooBrief { min_expires: None } => {
                f.write_str("423 Interval Too Brief without Min-Expires")
            }
            Self::NoBinding => f.write_str("the 2xx does not list our Contact"),
            Self::Timeout => f.write_str("REGISTER transaction timed out"),
            Self::Transport(e) => write!(f, "transport error: {e}"),
            Self::Local(e) => write!(f, "retry not built: {e}"),
        }
    }
}

impl std::error::Error for FailureReason {}

/// Where a [`Registration`] stands (see the module's diagram).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationState {
    /// Never registered, or unregistered with a 2xx.
    Unregistered,
    /// The first REGISTER (or one after a failure) is outstanding.
    Registering,
    /// Our binding exists. Stays so while a refresh is outstanding.
    Registered {
        /// The granted expiration interval, in seconds (RFC 3261 §10.2.4).
        expires: u32,
        /// Every binding of the address-of-record, as listed by the 2xx (§10.2.3).
        contacts: Vec<String>,
    },
    /// An unregistering REGISTER (`expires=0` or `Contact: *`) is outstanding (§10.2.2).
    Unregistering,
    /// The last REGISTER failed.
    Failed {
        /// The final status, `None` for a timeout or transport error.
        status: Option<StatusCode>,
        /// Why.
        reason: FailureReason,
    },
}

/// What the caller does after [`Registration::on_response`], [`Registration::on_timeout`]
/// or [`Registration::on_failure`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationStep {
    /// The binding is in place (RFC 3261 §10.2.4): schedule [`Registration::register`] at
    /// [`Registration::refresh_at`].
    Registered {
        /// The granted expiration interval in seconds: our Contact's `expires`, else the
        /// Expires header, else the interval we asked for (§10.2.4).
        expires: u32,
        /// Every binding of the address-of-record listed by the 2xx (§10.2.3).
        contacts: Vec<String>,
    },
    /// The unregistering REGISTER succeeded (§10.2.2).
    Unregistered,
    /// Send this REGISTER (add a Via, new transaction): it answers a 401/407 with
    /// credentials (§22.2), or asks for the Min-Expires of a 423 (§10.2.8). Same Call-ID,
    /// CSeq one higher.
    Retry(Request),
    /// The registration failed; it stays failed until [`Registration::register`] is called
    /// again.
    Failed {
        /// The final status, `None` for a timeout or transport error.
        status: Option<StatusCode>,
        /// Why.
        reason: FailureReason,
        /// The Retry-After of the response in seconds, if any (RFC 3261 §20.33; a 503 or
        /// 500 may carry one).
        retry_after: Option<u32>,
    },
    /// Nothing to do: a provisional response, or a response that is not to the outstanding
    /// REGISTER (another Call-ID, an older CSeq, a retransmission).
    Ignore,
}

/// What the outstanding REGISTER does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Register,
    Unregister,
}

/// The outstanding REGISTER.
#[derive(Debug, Clone)]
struct Pending {
    /// As built (without Via).
    request: Request,
    cseq: u32,
    purpose: Purpose,
    /// The expiration interval it asked for.
    expires: u32,
    /// When it was built (sent right after): the registrar's timer starts later, so
    /// counting from here never overestimates the binding's life.
    sent_at: Instant,
    auth_retries: u8,
}

/// A REGISTER client for one address-of-record at one registrar (RFC 3261 §10.2). See the
/// [module documentation](self).
#[derive(Debug)]
pub struct Registration {
    params: RegisterParams,
    /// Our Contact as a name-addr, without `expires`, with `reg-id`/`+sip.instance`.
    contact: String,
    call_id: String,
    from_tag: String,
    cseq: u32,
    expires: u32,
    auth: Option<DigestClient>,
    state: RegistrationState,
    pending: Option<Pending>,
    expires_at: Option<Instant>,
    refresh_at: Option<Instant>,
}

/// Headers a [`Registration`] writes itself.
const OWNED_HEADERS: [HeaderName; 10] = [
    HeaderName::Via,
    HeaderName::From,
    HeaderName::To,
    HeaderName::CallId,
    HeaderName::CSeq,
    HeaderName::Contact,
    HeaderName::Expires,
    HeaderName::ContentLength,
    HeaderName::Authorization,
    HeaderName::ProxyAuthorization,
];

impl Registration {
    /// A registration for `params`, using `call_id` and `from_tag` for all its REGISTERs
    /// (RFC 3261 §10.2: the same Call-ID for every registration to a registrar; both
    /// should come from a random source, §8.1.1.3, §8.1.1.4).
    ///
    /// With [`RegisterParams::credentials`], a [`DigestClient`] is seeded with the Call-ID
    /// and From tag; give it a seed from the OS with [`Registration::with_digest_client`].
    pub fn new(
        params: RegisterParams,
        call_id: String,
        from_tag: String,
    ) -> Result<Self, RegistrationError> {
        let r = params.registrar.as_ref();
        if !matches!(r.scheme(), Scheme::Sip | Scheme::Sips)
            || r.user().is_some()
            || r.headers().is_some()
        {
            return Err(RegistrationError::InvalidRegistrar(
                params.registrar.to_string(),
            ));
        }
        NameAddr::parse(&params.aor).map_err(|offset| RegistrationError::InvalidAor {
            value: params.aor.clone(),
            offset,
        })?;
        let contact = normalize_contact(&params)?;
        for (name, value) in &params.extra_headers {
            let mut probe = crate::message::Headers::new();
            probe
                .push(name, value)
                .map_err(|_| RegistrationError::InvalidHeader {
                    name: name.clone(),
                    reason: "not a token name with a single-line value",
                })?;
            if probe
                .iter()
                .any(|f| f.known.is_some_and(|h| OWNED_HEADERS.contains(&h)))
            {
                return Err(RegistrationError::InvalidHeader {
                    name: name.clone(),
                    reason: "the registration sets this header itself",
                });
            }
        }
        let auth = params.credentials.clone().map(|c| {
            let seed = format!("{call_id}\u{0}{from_tag}");
            DigestClient::new(c, seed.as_bytes())
        });
        Ok(Self {
            expires: params.expires,
            params,
            contact,
            call_id,
            from_tag,
            cseq: 0,
            auth,
            state: RegistrationState::Unregistered,
            pending: None,
            expires_at: None,
            refresh_at: None,
        })
    }

    /// Uses `client` to answer challenges (a seed from the OS, several realms' credentials,
    /// an algorithm preference) instead of the one built from
    /// [`RegisterParams::credentials`].
    pub fn with_digest_client(mut self, client: DigestClient) -> Self {
        self.auth = Some(client);
        self
    }

    /// The next REGISTER (RFC 3261 §10.2.1): the first one, or a refresh of the binding
    /// (§10.2.4). It has no Via: the caller adds one with a new branch and sends it in a
    /// new non-INVITE client transaction. Contact carries `expires` and an Expires header
    /// the same value (§10.2.1.1); credentials for realms that challenged before are added
    /// (§22.3, with the next nonce count).
    ///
    /// Refused while a REGISTER is outstanding (§10.2).
    pub fn register(&mut self, now: Instant) -> Result<Request, RegistrationError> {
        self.check_idle()?;
        let request = self.build(now, Purpose::Register, self.expires)?;
        if !matches!(self.state, RegistrationState::Registered { .. }) {
            self.state = RegistrationState::Registering;
        }
        Ok(request)
    }

    /// A REGISTER removing our binding (RFC 3261 §10.2.2): our Contact with `expires=0` and
    /// `Expires: 0`. Refused while a REGISTER is outstanding (§10.2).
    pub fn unregister(&mut self, now: Instant) -> Result<Request, RegistrationError> {
        self.check_idle()?;
        let request = self.build(now, Purpose::Unregister, 0)?;
        self.start_unregistering();
        Ok(request)
    }

    /// A REGISTER removing every binding of the address-of-record, ours and other UAs'
    /// (RFC 3261 §10.2.2): `Contact: *` with `Expires: 0`.
    pub fn unregister_all(&mut self, now: Instant) -> Result<Request, RegistrationError> {
        self.check_idle()?;
        let mut request = self.build(now, Purpose::Unregister, 0)?;
        request.headers.set(HeaderName::Contact, "*");
        if let Some(p) = &mut self.pending {
            p.request = request.clone();
        }
        self.start_unregistering();
        Ok(request)
    }

    /// Reads a response to the outstanding REGISTER (RFC 3261 §10.2.4, §10.2.8, §22.2).
    ///
    /// - Not for the outstanding REGISTER (Call-ID, CSeq or method differ), or 1xx:
    ///   [`RegistrationStep::Ignore`].
    /// - 2xx to a registration: our Contact is looked up among the bindings (same URI; else
    ///   the same `+sip.instance`; else the same user part, as SIP.js does, for registrars
    ///   that rewrite the host behind NAT; else the only Contact listed). Its `expires`,
    ///   else the Expires header, else the interval asked for, is the granted interval.
    ///   No such Contact, or 0 s: [`FailureReason::NoBinding`].
    /// - 2xx to an unregistration: [`RegistrationStep::Unregistered`].
    /// - 401/407: [`RegistrationStep::Retry`] with credentials from the [`DigestClient`]
    ///   (which answers each challenge once, and a `stale=true` one again); a refused
    ///   answer fails with [`FailureReason::Auth`].
    /// - 423 with a Min-Expires above the interval asked for: [`RegistrationStep::Retry`]
    ///   asking for Min-Expires, which later refreshes keep asking for (§10.2.8).
    /// - Any other final response: [`RegistrationStep::Failed`]. A 3xx is not followed.
    pub fn on_response(&mut self, now: Instant, response: &Response) -> RegistrationStep {
        let Some(pending) = &self.pending else {
            return RegistrationStep::Ignore;
        };
        let matches = response.headers.call_id().is_ok_and(|c| c == self.call_id)
            && response
                .headers
                .cseq()
                .is_ok_and(|c| c.seq == pending.cseq && c.method == Method::Register);
        if !matches || response.status.is_provisional() {
            return RegistrationStep::Ignore;
        }
        let Some(pending) = self.pending.take() else {
            return RegistrationStep::Ignore;
        };
        let status = response.status;
        if status.is_success() {
            return match pending.purpose {
                Purpose::Unregister => {
                    self.state = RegistrationState::Unregistered;
                    self.expires_at = None;
                    self.refresh_at = None;
                    RegistrationStep::Unregistered
                }
                Purpose::Register => self.on_registered(&pending, response),
            };
        }
        match status {
            StatusCode::UNAUTHORIZED | StatusCode::PROXY_AUTHENTICATION_REQUIRED => {
                self.on_challenge(now, pending, response)
            }
            StatusCode::INTERVAL_TOO_BRIEF if pending.purpose == Purpose::Register => {
                let min = response
                    .headers
                    .get(HeaderName::MinExpires)
                    .and_then(|v| v.trim().parse::<u32>().ok());
                match min {
                    Some(m) if m > pending.expires => {
                        self.expires = m;
                        self.retry(now, Purpose::Register, m, pending.auth_retries)
                    }
                    _ => self.fail(
                        Some(status),
                        FailureReason::IntervalTooBrief { min_expires: min },
                        None,
                    ),
                }
            }
            _ => {
                let retry_after = response
                    .headers
                    .get(HeaderName::RetryAfter)
                    .and_then(|v| Parameterized::parse_delta(v).ok())
                    .and_then(|p| p.seconds());
                self.fail(
                    Some(status),
                    FailureReason::Rejected {
                        phrase: response.reason.to_string(),
                    },
                    retry_after,
                )
            }
        }
    }

    /// The outstanding REGISTER's transaction timed out (Timer F, RFC 3261 §17.1.2.2, or
    /// a 408 from the transaction layer): the registration fails. Without an outstanding
    /// REGISTER: [`RegistrationStep::Ignore`].
    pub fn on_timeout(&mut self, _now: Instant) -> RegistrationStep {
        if self.pending.take().is_none() {
            return RegistrationStep::Ignore;
        }
        self.fail(None, FailureReason::Timeout, None)
    }

    /// The transport failed to deliver the outstanding REGISTER (RFC 3261 §8.1.3.1): the
    /// registration fails. Without an outstanding REGISTER: [`RegistrationStep::Ignore`].
    pub fn on_failure(&mut self, _now: Instant, error: impl Into<String>) -> RegistrationStep {
        if self.pending.take().is_none() {
            return RegistrationStep::Ignore;
        }
        self.fail(None, FailureReason::Transport(error.into()), None)
    }

    /// When to send the refresh (RFC 3261 §10.2.4: "before the expiration interval has
    /// elapsed"): [`RegisterParams::refresh_margin`] (32 s by default, Timer F) before the
    /// binding lapses, or half-way for intervals shorter than twice the margin, counted from
    /// when the successful REGISTER was built. `None` unless registered.
    ///
    /// SIP.js 0.5 refreshes 3 s before expiry (`RegisterContext.js`:
    /// `setTimeout(..., (expires * 1000) - 3000)`); 3 s is too short for a REGISTER that
    /// loses a datagram or meets a 401, hence the larger margin.
    pub fn refresh_at(&self) -> Option<Instant> {
        self.refresh_at
    }

    /// When our binding lapses at the registrar (at the latest), if registered.
    pub fn expires_at(&self) -> Option<Instant> {
        self.expires_at
    }

    /// Where the registration stands.
    pub fn state(&self) -> &RegistrationState {
        &self.state
    }

    /// Whether a REGISTER is waiting for its final response.
    pub fn is_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// The Call-ID of every REGISTER (RFC 3261 §10.2).
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// The CSeq number of the last REGISTER built (0 before the first).
    pub fn cseq(&self) -> u32 {
        self.cseq
    }

    /// The expiration interval the next REGISTER asks for (raised by a 423, §10.2.8).
    pub fn requested_expires(&self) -> u32 {
        self.expires
    }

    /// Our Contact as sent (without `expires`).
    pub fn contact(&self) -> &str {
        &self.contact
    }

    fn check_idle(&self) -> Result<(), RegistrationError> {
        match &self.pending {
            Some(p) => Err(RegistrationError::Pending { cseq: p.cseq }),
            None => Ok(()),
        }
    }

    fn start_unregistering(&mut self) {
        self.state = RegistrationState::Unregistering;
        self.refresh_at = None;
    }

    fn next_cseq(&mut self) -> Result<u32, RegistrationError> {
        if self.cseq >= MAX_CSEQ {
            return Err(RegistrationError::CSeqExhausted);
        }
        self.cseq += 1;
        Ok(self.cseq)
    }

    /// Builds a REGISTER with the next CSeq and makes it the outstanding one.
    fn build(
        &mut self,
        now: Instant,
        purpose: Purpose,
        expires: u32,
    ) -> Result<Request, RegistrationError> {
        let cseq = self.next_cseq()?;
        let contact = format!("{};expires={expires}", self.contact);
        let mut b = Request::builder(Method::Register, self.params.registrar.clone())
            // The builder insists on a Via; the caller's transport layer supplies the real
            // one, so the placeholder is removed below.
            .via("UDP", "invalid.invalid", "z9hG4bKplaceholder")
            .from(&self.params.aor, &self.from_tag)
            .to(&self.params.aor, None)
            .call_id(&self.call_id)
            .cseq(cseq)
            .contact(&contact)
            .header("Expires", &expires.to_string());
        if self.params.reg_id.is_some() {
            b = b.header("Supported", "outbound");
        }
        for (n, v) in &self.params.extra_headers {
            b = b.header(n, v);
        }
        let mut request = b.build().map_err(RegistrationError::Build)?;
        request.headers.remove(HeaderName::Via);
        if let Some(auth) = &mut self.auth
            && auth.authorize(&mut request).is_err()
        {
            // An exhausted nonce count: forget the cached challenges and let the registrar
            // challenge afresh.
            auth.clear_cache();
        }
        self.pending = Some(Pending {
            request: request.clone(),
            cseq,
            purpose,
            expires,
            sent_at: now,
            auth_retries: 0,
        });
        Ok(request)
    }

    /// A new outstanding REGISTER after a 423, keeping the count of challenges.
    fn retry(
        &mut self,
        now: Instant,
        purpose: Purpose,
        expires: u32,
        auth_retries: u8,
    ) -> RegistrationStep {
        match self.build(now, purpose, expires) {
            Ok(r) => {
                if let Some(p) = &mut self.pending {
                    p.auth_retries = auth_retries;
                }
                RegistrationStep::Retry(r)
            }
            Err(e) => self.fail(None, FailureReason::Local(e), None),
        }
    }

    fn on_challenge(
        &mut self,
        now: Instant,
        pending: Pending,
        response: &Response,
    ) -> RegistrationStep {
        let status = Some(response.status);
        if pending.auth_retries >= MAX_AUTH_RETRIES {
            return self.fail(status, FailureReason::TooManyChallenges, None);
        }
        let Some(auth) = &mut self.auth else {
            let realm = response
                .headers
                .auths(if response.status == StatusCode::UNAUTHORIZED {
                    HeaderName::WwwAuthenticate
                } else {
                    HeaderName::ProxyAuthenticate
                })
                .find_map(|a| a.ok()?.param("realm").map(|r| r.into_owned()))
                .unwrap_or_default();
            return self.fail(
                status,
                FailureReason::Auth(AuthError::NoCredentials { realm }),
                None,
            );
        };
        let headers = match auth.handle_challenge(&pending.request, response) {
            Ok(h) => h,
            Err(e) => return self.fail(status, FailureReason::Auth(e), None),
        };
        let cseq = match self.next_cseq() {
            Ok(c) => c,
            Err(e) => return self.fail(status, FailureReason::Local(e), None),
        };
        // RFC 3261 §8.1.3.5, §22.2: the same request with credentials and CSeq + 1.
        let mut request = pending.request.clone();
        apply_auth_headers(&mut request, &headers);
        request
            .headers
            .set(HeaderName::CSeq, format!("{cseq} {}", Method::Register));
        self.pending = Some(Pending {
            request: request.clone(),
            cseq,
            sent_at: now,
            auth_retries: pending.auth_retries + 1,
            ..pending
        });
        RegistrationStep::Retry(request)
    }

    fn on_registered(&mut self, pending: &Pending, response: &Response) -> RegistrationStep {
        let ours = self.our_binding(response);
        let contacts: Vec<String> = response
            .headers
            .values(HeaderName::Contact)
            .filter(|v| *v != "*")
            .map(str::to_owned)
            .collect();
        let Some(contact_expires) = ours else {
            return self.fail(Some(response.status), FailureReason::NoBinding, None);
        };
        let expires = contact_expires
            .or_else(|| response.headers.expires().ok().flatten())
            .unwrap_or(pending.expires);
        if expires == 0 {
            return self.fail(Some(response.status), FailureReason::NoBinding, None);
        }
        let life = Duration::from_secs(u64::from(expires));
        let lead = self.params.refresh_margin.min(life / 2);
        self.expires_at = pending.sent_at.checked_add(life);
        self.refresh_at = pending.sent_at.checked_add(life - lead);
        self.state = RegistrationState::Registered {
            expires,
            contacts: contacts.clone(),
        };
        RegistrationStep::Registered { expires, contacts }
    }

    /// Finds our Contact among the bindings of a 2xx: `Some(its expires param)` when found.
    fn our_binding(&self, response: &Response) -> Option<Option<u32>> {
        let mine = NameAddr::parse(&self.contact).ok()?;
        let instance = mine.params.value("+sip.instance");
        let theirs: Vec<NameAddr<'_>> = response
            .headers
            .contacts()
            .filter_map(|c| match c {
                Ok(ContactValue::Addr(a)) => Some(a),
                _ => None,
            })
            .collect();
        let expires_of = |a: &NameAddr<'_>| a.params.value("expires").and_then(|e| e.parse().ok());
        let found = theirs
            .iter()
            .find(|a| same_uri(&a.uri, &mine.uri))
            .or_else(|| {
                let inst = instance?;
                theirs
                    .iter()
                    .find(|a| a.params.value("+sip.instance") == Some(inst))
            })
            .or_else(|| {
                let user = mine.uri.user()?;
                theirs.iter().find(|a| a.uri.user() == Some(user))
            })
            .or(match theirs.as_slice() {
                [only] => Some(only),
                _ => None,
            })?;
        Some(expires_of(found))
    }

    fn fail(
        &mut self,
        status: Option<StatusCode>,
        reason: FailureReason,
        retry_after: Option<u32>,
    ) -> RegistrationStep {
        self.pending = None;
        self.expires_at = None;
        self.refresh_at = None;
        self.state = RegistrationState::Failed {
            status,
            reason: reason.clone(),
        };
        RegistrationStep::Failed {
            status,
            reason,
            retry_after,
        }
    }
}

/// Our Contact as `[display] <uri>;params` without `expires`, with the RFC 5626 parameters.
fn normalize_contact(params: &RegisterParams) -> Result<String, RegistrationError> {
    let na =
        NameAddr::parse(&params.contact).map_err(|offset| RegistrationError::InvalidContact {
            value: params.contact.clone(),
            offset,
        })?;
    if na.uri.headers().is_some() {
        return Err(RegistrationError::InvalidContact {
            value: params.contact.clone(),
            offset: 0,
        });
    }
    let mut out = String::with_capacity(params.contact.len() + 64);
    if let Some(d) = na.display_name_raw() {
        out.push_str(d);
        out.push(' ');
    }
    out.push('<');
    out.push_str(na.uri.as_str());
    out.push('>');
    for (name, value) in na.params.iter() {
        let skip = name.eq_ignore_ascii_case("expires")
            || (params.reg_id.is_some() && name.eq_ignore_ascii_case("reg-id"))
            || (params.instance_id.is_some() && name.eq_ignore_ascii_case("+sip.instance"));
        if skip {
            continue;
        }
        out.push(';');
        out.push_str(name);
        if let Some(v) = value {
            out.push('=');
            out.push_str(v);
        }
    }
    if let Some(id) = &params.reg_id {
        out.push_str(&format!(";reg-id={id}"));
    }
    if let Some(inst) = &params.instance_id {
        let inst = inst.trim().trim_start_matches('<').trim_end_matches('>');
        if inst.is_empty() || inst.contains(['"', '\\', '<', '>', '\r', '\n']) {
            return Err(RegistrationError::InvalidContact {
                value: inst.to_owned(),
                offset: 0,
            });
        }
        out.push_str(&format!(";+sip.instance=\"<{inst}>\""));
    }
    Ok(out)
}

/// Whether two Contact URIs name the same place (RFC 3261 §19.1.4, loosely: scheme, user,
/// host case-insensitively, port with the scheme's default; URI parameters ignored, as
/// registrars add some, e.g. `ob`).
fn same_uri(a: &UriRef<'_>, b: &UriRef<'_>) -> bool {
    let port = |u: &UriRef<'_>| {
        u.port().unwrap_or(match u.scheme() {
            Scheme::Sips => 5061,
            _ => 5060,
        })
    };
    a.scheme() == b.scheme()
        && a.user_unescaped() == b.user_unescaped()
        && a.host().eq_ignore_ascii_case(b.host())
        && port(a) == port(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> RegisterParams {
        RegisterParams::new(
            Uri::parse("sip:example.com").unwrap(),
            "Alice <sip:alice@example.com>",
            "sip:alice@192.0.2.10:5070;transport=tcp",
        )
    }

    #[test]
    fn contact_is_normalized_to_name_addr() {
        let mut p = params();
        p.contact = "sip:alice@192.0.2.10;expires=30;+foo".into();
        p.reg_id = Some(1);
        p.instance_id = Some("urn:uuid:00000000-0000-1000-8000-000A95A0E128".into());
        let r = Registration::new(p, "c".into(), "t".into()).unwrap();
        assert_eq!(
            r.contact(),
            "<sip:alice@192.0.2.10>;+foo;reg-id=1;\
             +sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\""
        );
    }

    #[test]
    fn bad_params_are_refused() {
        let mut p = params();
        p.registrar = Uri::parse("sip:bob@example.com").unwrap();
        assert!(matches!(
            Registration::new(p, "c".into(), "t".into()),
            Err(RegistrationError::InvalidRegistrar(_))
        ));
        let mut p = params();
        p.contact = "<sip:alice@host".into();
        assert!(matches!(
            Registration::new(p, "c".into(), "t".into()),
            Err(RegistrationError::InvalidContact { .. })
        ));
        let mut p = params();
        p.extra_headers = vec![("CSeq".into(), "1 REGISTER".into())];
        let e = Registration::new(p, "c".into(), "t".into()).unwrap_err();
        assert!(matches!(e, RegistrationError::InvalidHeader { .. }), "{e}");
        let mut p = params();
        p.extra_headers = vec![("X-Bad".into(), "a\r\nVia: x".into())];
        assert!(Registration::new(p, "c".into(), "t".into()).is_err());
    }

    #[test]
    fn uri_comparison_defaults_ports() {
        let a = UriRef::parse("sip:Alice@HOST").unwrap();
        let b = UriRef::parse("sip:Alice@host:5060;ob").unwrap();
        let c = UriRef::parse("sip:alice@host").unwrap();
        assert!(same_uri(&a, &b));
        assert!(!same_uri(&a, &c));
    }
}
