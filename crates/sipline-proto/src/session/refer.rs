//! REFER helpers (RFC 3515), sans-IO: the `message/sipfrag` bodies of the NOTIFYs that
//! report a referral's progress (RFC 3515 §2.4.5, RFC 3420), the headers of those NOTIFYs
//! for the implicit subscription (RFC 3515 §2.4.4, RFC 6665 §8.2), and the Refer-To header:
//! its target and embedded headers such as Replaces (RFC 3515 §2.1, RFC 3891 §6.1).
//!
//! ```
//! use sipline_proto::session::refer::{ReferNotify, ReferTo, SipFrag};
//! use sipline_proto::StatusCode;
//!
//! // The transferee reports the INVITE's progress to the transferor.
//! let notify = ReferNotify::for_status(StatusCode::TRYING, None, 60);
//! assert_eq!(notify.body().bytes.as_ref(), b"SIP/2.0 100 Trying\r\n");
//! let (_, state) = &notify.headers()[1];
//! assert_eq!(state, "active;expires=60");
//!
//! // An attended transfer's Refer-To carries a Replaces for the target (RFC 3891 §6.1).
//! let r = ReferTo::parse("<sip:carol@example.com?Replaces=a1%40host%3Bto-tag%3D7%3Bfrom-tag%3D9>")?;
//! assert_eq!(r.uri.as_str(), "sip:carol@example.com");
//! let replaces = r.replaces()?.unwrap();
//! assert_eq!(replaces.call_id, "a1@host");
//! # Ok::<(), sipline_proto::session::refer::ReferError>(())
//! ```

use std::fmt;

use bytes::Bytes;

use super::Body;
use crate::message::uri::unescape;
use crate::message::{HeaderName, MediaType, NameAddr, Parameterized, Request, StatusCode, Uri};

/// The Content-Type of a REFER NOTIFY body (RFC 3515 §2.4.5; RFC 3420 §2: `version=2.0`).
pub const SIPFRAG_CONTENT_TYPE: &str = "message/sipfrag;version=2.0";

/// How long the implicit subscription lasts unless told otherwise, in seconds (a common
/// choice; RFC 3515 §2.4.4 leaves it to the notifier).
pub const DEFAULT_SUBSCRIPTION_EXPIRES: u32 = 60;

/// Why a sipfrag, a Refer-To or a REFER NOTIFY could not be read or built.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReferError {
    /// The sipfrag's first line is not a `SIP/2.0 <code> <reason>` Status-Line
    /// (RFC 3420 §2, RFC 3261 §7.2); the line is kept.
    InvalidSipFrag(String),
    /// The Refer-To value is not a name-addr or addr-spec (RFC 3515 §2.1); `offset` is
    /// where parsing stopped.
    InvalidReferTo {
        /// The value.
        value: String,
        /// Byte offset in it.
        offset: usize,
    },
    /// An embedded header of the Refer-To URI is not `name=value` (RFC 3261 §19.1.1).
    InvalidEmbeddedHeader(String),
    /// The embedded Replaces is not `callid *(;param)` (RFC 3891 §6.1).
    InvalidReplaces(String),
    /// A NOTIFY that is not about a referral: no `Event: refer` (RFC 3515 §2.4.4).
    NotReferEvent,
    /// A NOTIFY without a valid Subscription-State (RFC 6665 §8.2.3).
    InvalidSubscriptionState(String),
    /// A NOTIFY whose body is not `message/sipfrag` (RFC 3515 §2.4.5).
    NotSipFrag(String),
}

impl fmt::Display for ReferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidSipFrag(l) => write!(f, "sipfrag without a status line: {l:?}"),
            Self::InvalidReferTo { value, offset } => {
                write!(f, "invalid Refer-To {value:?} at byte {offset}")
            }
            Self::InvalidEmbeddedHeader(h) => write!(f, "invalid embedded URI header {h:?}"),
            Self::InvalidReplaces(r) => write!(f, "invalid embedded Replaces {r:?}"),
            Self::NotReferEvent => f.write_str("NOTIFY is not for the refer event package"),
            Self::InvalidSubscriptionState(s) => write!(f, "invalid Subscription-State {s:?}"),
            Self::NotSipFrag(t) => write!(f, "NOTIFY body is {t:?}, not message/sipfrag"),
        }
    }
}

impl std::error::Error for ReferError {}

/// The status line a REFER NOTIFY reports (RFC 3515 §2.4.5: at least the Status-Line of
/// the response the referenced request got, RFC 3420).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipFrag {
    /// The status.
    pub status: StatusCode,
    /// The Reason-Phrase (may be empty).
    pub reason: String,
}

impl SipFrag {
    /// A fragment for `status` with its canonical reason phrase.
    pub fn new(status: StatusCode) -> SipFrag {
        SipFrag {
            status,
            reason: status.canonical_reason().to_owned(),
        }
    }

    /// A fragment with a chosen reason phrase (CR and LF become spaces).
    pub fn with_reason(status: StatusCode, reason: &str) -> SipFrag {
        SipFrag {
            status,
            reason: reason.replace(['\r', '\n'], " ").trim().to_owned(),
        }
    }

    /// Reads a `message/sipfrag` body: its first line must be a Status-Line
    /// (`SIP/2.0 200 OK`; version case-insensitive, `\n` or `\r\n`); header lines after it
    /// are allowed (RFC 3420 §2) and ignored.
    pub fn parse(body: &[u8]) -> Result<SipFrag, ReferError> {
        let text = String::from_utf8_lossy(body);
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("");
        let bad = || ReferError::InvalidSipFrag(line.to_owned());
        let (version, rest) = line.split_once([' ', '\t']).ok_or_else(bad)?;
        if !version.eq_ignore_ascii_case("SIP/2.0") {
            return Err(bad());
        }
        let rest = rest.trim_start();
        let (code, reason) = rest.split_once([' ', '\t']).unwrap_or((rest, ""));
        if code.len() != 3 {
            return Err(bad());
        }
        let status = code
            .parse::<u16>()
            .ok()
            .and_then(StatusCode::new)
            .ok_or_else(bad)?;
        Ok(SipFrag {
            status,
            reason: reason.trim().to_owned(),
        })
    }

    /// The body text: `SIP/2.0 200 OK\r\n`.
    pub fn to_body_string(&self) -> String {
        format!("SIP/2.0 {} {}\r\n", self.status, self.reason)
    }

    /// The NOTIFY body, with [`SIPFRAG_CONTENT_TYPE`].
    pub fn to_body(&self) -> Body {
        Body {
            content_type: SIPFRAG_CONTENT_TYPE.to_owned(),
            bytes: Bytes::from(self.to_body_string()),
        }
    }
}

impl fmt::Display for SipFrag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/2.0 {} {}", self.status, self.reason)
    }
}

/// The state of the implicit subscription a REFER creates (RFC 3515 §2.4.4; RFC 6665
/// §8.2.3 Subscription-State).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReferSubscriptionState {
    /// `pending;expires=N`: the referral is not yet accepted.
    Pending {
        /// Seconds left.
        expires: u32,
    },
    /// `active;expires=N`: the referenced request is under way.
    Active {
        /// Seconds left.
        expires: u32,
    },
    /// `terminated;reason=R`: the last NOTIFY (RFC 3515 §2.4.7). After a final response
    /// the reason is `noresource` (RFC 6665 §4.2.2: the resource has no more state).
    Terminated {
        /// The reason parameter (`noresource`, `timeout`, `rejected`, ...).
        reason: String,
    },
}

impl ReferSubscriptionState {
    /// The Subscription-State header value.
    pub fn to_header_value(&self) -> String {
        match self {
            Self::Pending { expires } => format!("pending;expires={expires}"),
            Self::Active { expires } => format!("active;expires={expires}"),
            Self::Terminated { reason } => format!("terminated;reason={reason}"),
        }
    }

    /// Reads a Subscription-State value; an unknown state is an error, a missing `expires`
    /// reads as 0, a missing `reason` as empty (RFC 6665 §8.2.3).
    pub fn parse(value: &str) -> Result<ReferSubscriptionState, ReferError> {
        let bad = || ReferError::InvalidSubscriptionState(value.to_owned());
        let p = Parameterized::parse_token(value).map_err(|_| bad())?;
        let expires = || {
            p.params
                .value("expires")
                .and_then(|e| e.parse().ok())
                .unwrap_or(0)
        };
        match p.value {
            v if v.eq_ignore_ascii_case("active") => Ok(Self::Active { expires: expires() }),
            v if v.eq_ignore_ascii_case("pending") => Ok(Self::Pending { expires: expires() }),
            v if v.eq_ignore_ascii_case("terminated") => Ok(Self::Terminated {
                reason: p.params.value("reason").unwrap_or("").to_owned(),
            }),
            _ => Err(bad()),
        }
    }

    /// Whether this ends the subscription.
    pub fn is_terminated(&self) -> bool {
        matches!(self, Self::Terminated { .. })
    }
}

/// A NOTIFY of the implicit REFER subscription, as headers and body for the dialog layer
/// to put in an in-dialog NOTIFY (RFC 3515 §2.4.4, §2.4.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferNotify {
    /// The subscription state.
    pub state: ReferSubscriptionState,
    /// What to report.
    pub frag: SipFrag,
    /// The REFER's CSeq number, for `Event: refer;id=N` when a dialog carries several
    /// REFERs (RFC 3515 §2.4.6); `None` for the first.
    pub id: Option<u32>,
}

impl ReferNotify {
    /// The NOTIFY for the referenced request's `status`: a provisional status keeps the
    /// subscription `active;expires=<expires>`, a final one ends it with
    /// `terminated;reason=noresource` (RFC 3515 §2.4.7). `reason` defaults to the
    /// canonical phrase.
    pub fn for_status(status: StatusCode, reason: Option<&str>, expires: u32) -> ReferNotify {
        let frag = match reason {
            Some(r) => SipFrag::with_reason(status, r),
            None => SipFrag::new(status),
        };
        let state = if status.is_final() {
            ReferSubscriptionState::Terminated {
                reason: "noresource".to_owned(),
            }
        } else {
            ReferSubscriptionState::Active { expires }
        };
        ReferNotify {
            state,
            frag,
            id: None,
        }
    }

    /// The same NOTIFY for the REFER with CSeq `id` (RFC 3515 §2.4.6).
    pub fn with_id(mut self, id: u32) -> ReferNotify {
        self.id = Some(id);
        self
    }

    /// `Event: refer[;id=N]` and `Subscription-State` (RFC 3515 §2.4.4, §2.4.6; RFC 6665
    /// §8.2.1, §8.2.3). Content-Type comes with [`ReferNotify::body`].
    pub fn headers(&self) -> Vec<(HeaderName, String)> {
        let event = match self.id {
            Some(id) => format!("refer;id={id}"),
            None => "refer".to_owned(),
        };
        vec![
            (HeaderName::Event, event),
            (HeaderName::SubscriptionState, self.state.to_header_value()),
        ]
    }

    /// The `message/sipfrag` body (RFC 3515 §2.4.5).
    pub fn body(&self) -> Body {
        self.frag.to_body()
    }

    /// Reads a NOTIFY received for a REFER we sent: `Event: refer` (any `id`),
    /// Subscription-State, and the sipfrag body (RFC 3515 §2.4.4, §2.4.5). A NOTIFY for
    /// another event package gives [`ReferError::NotReferEvent`] (answer 489, RFC 6665
    /// §8.3.1). A NOTIFY without a sipfrag body, even a terminating one, gives
    /// [`ReferError::NotSipFrag`]: RFC 3515 §2.4.5 requires the body in every NOTIFY.
    pub fn parse(request: &Request) -> Result<ReferNotify, ReferError> {
        let event = request
            .headers
            .event()
            .ok()
            .flatten()
            .ok_or(ReferError::NotReferEvent)?;
        if !event.value.eq_ignore_ascii_case("refer") {
            return Err(ReferError::NotReferEvent);
        }
        let id = event.params.value("id").and_then(|v| v.parse().ok());
        let state_value = request
            .headers
            .get(HeaderName::SubscriptionState)
            .ok_or_else(|| ReferError::InvalidSubscriptionState(String::new()))?;
        let state = ReferSubscriptionState::parse(state_value)?;
        let content_type = request.headers.get(HeaderName::ContentType).unwrap_or("");
        let is_frag = MediaType::parse(content_type).is_ok_and(|m| m.is("message", "sipfrag"));
        if !is_frag {
            return Err(ReferError::NotSipFrag(content_type.to_owned()));
        }
        Ok(ReferNotify {
            state,
            frag: SipFrag::parse(&request.body)?,
            id,
        })
    }
}

/// The dialog an embedded Replaces names (RFC 3891 §6.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replaces {
    /// The Call-ID.
    pub call_id: String,
    /// `to-tag`.
    pub to_tag: String,
    /// `from-tag`.
    pub from_tag: String,
    /// `early-only`.
    pub early_only: bool,
}

impl Replaces {
    /// Reads a Replaces value: `callid;to-tag=..;from-tag=..[;early-only]` (RFC 3891 §6.1;
    /// both tags are mandatory there).
    pub fn parse(value: &str) -> Result<Replaces, ReferError> {
        let bad = || ReferError::InvalidReplaces(value.to_owned());
        let p = Parameterized::parse_callid(value).map_err(|_| bad())?;
        Ok(Replaces {
            call_id: p.value.to_owned(),
            to_tag: p.params.value("to-tag").ok_or_else(bad)?.to_owned(),
            from_tag: p.params.value("from-tag").ok_or_else(bad)?.to_owned(),
            early_only: p.params.contains("early-only"),
        })
    }

    /// The header value: `callid;to-tag=..;from-tag=..[;early-only]`.
    pub fn to_header_value(&self) -> String {
        let mut v = format!(
            "{};to-tag={};from-tag={}",
            self.call_id, self.to_tag, self.from_tag
        );
        if self.early_only {
            v.push_str(";early-only");
        }
        v
    }
}

/// A Refer-To header, read (RFC 3515 §2.1): the URI to send the referenced request to, and
/// the headers embedded in it (`?Replaces=...&Require=replaces`), unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferTo {
    /// The target without its `?headers` part, e.g. `sip:carol@example.com`.
    pub uri: Uri,
    /// The display name, unquoted, if any.
    pub display_name: Option<String>,
    /// The embedded headers, names and values with `%HH` resolved, in order (RFC 3261
    /// §19.1.1: they go into the request built from the URI).
    pub headers: Vec<(String, String)>,
}

impl ReferTo {
    /// Reads a Refer-To value. A URI with `?`, `,` or `;` must be in `<...>` (RFC 3515
    /// §2.1); header parameters after it are ignored.
    pub fn parse(value: &str) -> Result<ReferTo, ReferError> {
        let na = NameAddr::parse(value).map_err(|offset| ReferError::InvalidReferTo {
            value: value.to_owned(),
            offset,
        })?;
        let raw = na.uri.as_str();
        let (base, embedded) = match na.uri.headers() {
            Some(h) => (&raw[..raw.len() - h.len() - 1], h),
            None => (raw, ""),
        };
        let uri = Uri::parse(base).map_err(|e| ReferError::InvalidReferTo {
            value: value.to_owned(),
            offset: e.offset,
        })?;
        let mut headers = Vec::new();
        for h in embedded.split('&').filter(|h| !h.is_empty()) {
            let (name, v) = h
                .split_once('=')
                .ok_or_else(|| ReferError::InvalidEmbeddedHeader(h.to_owned()))?;
            let name = unescape(name);
            if name.is_empty() {
                return Err(ReferError::InvalidEmbeddedHeader(h.to_owned()));
            }
            headers.push((name.into_owned(), unescape(v).into_owned()));
        }
        Ok(ReferTo {
            uri,
            display_name: na.display_name().map(|d| d.into_owned()),
            headers,
        })
    }

    /// Reads the Refer-To header of a REFER (RFC 3515 §2.4.1: exactly one).
    pub fn from_request(request: &Request) -> Result<ReferTo, ReferError> {
        let mut values = request.headers.get_all(HeaderName::ReferTo);
        match (values.next(), values.next()) {
            (Some(v), None) => ReferTo::parse(v),
            (v, _) => Err(ReferError::InvalidReferTo {
                value: v.unwrap_or("").to_owned(),
                offset: 0,
            }),
        }
    }

    /// The first embedded header named `name` (case-insensitive; compact forms are not
    /// expanded).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The embedded Replaces, if any (RFC 3891 §6.1: attended transfer).
    pub fn replaces(&self) -> Result<Option<Replaces>, ReferError> {
        self.header("Replaces").map(Replaces::parse).transpose()
    }

    /// A Refer-To value for `target` with embedded headers, escaped as RFC 3261 §19.1.1
    /// `hname`/`hvalue` require (`@` becomes `%40`, `;` `%3B`, `=` `%3D`, ...).
    pub fn format(target: &Uri, headers: &[(&str, &str)]) -> String {
        let mut out = format!("<{target}");
        for (i, (n, v)) in headers.iter().enumerate() {
            out.push(if i == 0 { '?' } else { '&' });
            escape_into(&mut out, n);
            out.push('=');
            escape_into(&mut out, v);
        }
        out.push('>');
        out
    }

    /// The Refer-To of an attended transfer (RFC 3891 §6.1, RFC 5589 §7): `target` with an
    /// embedded Replaces naming `replaces`.
    pub fn with_replaces(target: &Uri, replaces: &Replaces) -> String {
        ReferTo::format(target, &[("Replaces", &replaces.to_header_value())])
    }
}

/// Escapes what RFC 3261 §25.1 `hvalue` does not allow: everything but `unreserved`
/// (alphanumerics and `-_.!~*'()`) and `hnv-unreserved` (`[]/?:+$`).
fn escape_into(out: &mut String, s: &str) {
    for b in s.bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'_'
                    | b'.'
                    | b'!'
                    | b'~'
                    | b'*'
                    | b'\''
                    | b'('
                    | b')'
                    | b'['
                    | b']'
                    | b'/'
                    | b'?'
                    | b':'
                    | b'+'
                    | b'$'
            );
        if keep {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Method;

    #[test]
    fn sipfrag_round_trip() {
        for (status, text) in [
            (StatusCode::TRYING, "SIP/2.0 100 Trying\r\n"),
            (StatusCode::RINGING, "SIP/2.0 180 Ringing\r\n"),
            (StatusCode::OK, "SIP/2.0 200 OK\r\n"),
            (StatusCode::BUSY_HERE, "SIP/2.0 486 Busy Here\r\n"),
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "SIP/2.0 503 Service Unavailable\r\n",
            ),
        ] {
            let frag = SipFrag::new(status);
            assert_eq!(frag.to_body_string(), text);
            assert_eq!(SipFrag::parse(text.as_bytes()).unwrap(), frag);
        }
        let body = SipFrag::new(StatusCode::OK).to_body();
        assert_eq!(body.content_type, "message/sipfrag;version=2.0");
    }

    #[test]
    fn sipfrag_parse_is_tolerant() {
        let f = SipFrag::parse(b"sip/2.0 603 Declined Here\nContact: <sip:x@y>\n").unwrap();
        assert_eq!(f.status, StatusCode::DECLINE);
        assert_eq!(f.reason, "Declined Here");
        let f = SipFrag::parse(b"\r\nSIP/2.0 200\r\n").unwrap();
        assert_eq!((f.status, f.reason.as_str()), (StatusCode::OK, ""));
        let f = SipFrag::parse(b"SIP/2.0 200 OK").unwrap();
        assert_eq!(f.status, StatusCode::OK);
        for bad in [
            &b""[..],
            b"INVITE sip:bob@example.com SIP/2.0\r\n",
            b"SIP/2.0 2000 OK\r\n",
            b"SIP/2.0 099 Low\r\n",
            b"SIP/3.0 200 OK\r\n",
            b"SIP/2.0\r\n",
        ] {
            assert!(
                SipFrag::parse(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(
            SipFrag::with_reason(StatusCode::OK, "Fine\r\nX: y").to_body_string(),
            "SIP/2.0 200 Fine  X: y\r\n"
        );
    }

    #[test]
    fn notify_headers_for_provisional_and_final() {
        let n = ReferNotify::for_status(StatusCode::TRYING, None, 60);
        assert_eq!(
            n.headers(),
            [
                (HeaderName::Event, "refer".to_owned()),
                (
                    HeaderName::SubscriptionState,
                    "active;expires=60".to_owned()
                )
            ]
        );
        let n = ReferNotify::for_status(StatusCode::OK, None, 60).with_id(93809824);
        assert_eq!(
            n.headers(),
            [
                (HeaderName::Event, "refer;id=93809824".to_owned()),
                (
                    HeaderName::SubscriptionState,
                    "terminated;reason=noresource".to_owned()
                )
            ]
        );
        assert_eq!(n.body().bytes.as_ref(), b"SIP/2.0 200 OK\r\n");
        let n = ReferNotify::for_status(StatusCode::BUSY_HERE, Some("Busy"), 60);
        assert!(n.state.is_terminated());
        assert_eq!(n.frag.reason, "Busy");
    }

    #[test]
    fn subscription_state_parse() {
        assert_eq!(
            ReferSubscriptionState::parse("Active; expires=30").unwrap(),
            ReferSubscriptionState::Active { expires: 30 }
        );
        assert_eq!(
            ReferSubscriptionState::parse("pending").unwrap(),
            ReferSubscriptionState::Pending { expires: 0 }
        );
        assert_eq!(
            ReferSubscriptionState::parse("terminated;reason=noresource").unwrap(),
            ReferSubscriptionState::Terminated {
                reason: "noresource".into()
            }
        );
        assert!(ReferSubscriptionState::parse("gone").is_err());
        assert!(ReferSubscriptionState::parse("").is_err());
    }

    fn notify(headers: &[(&str, &str)], body: &'static [u8]) -> Request {
        let mut b = Request::builder(Method::Notify, Uri::parse("sip:a@192.0.2.1").unwrap())
            .via("UDP", "192.0.2.2", "z9hG4bK1")
            .from("<sip:b@example.com>", "1")
            .to("<sip:a@example.com>", Some("2"))
            .call_id("c")
            .cseq(5);
        for (n, v) in headers {
            b = b.header(n, v);
        }
        if !body.is_empty() {
            b = b.body("message/sipfrag;version=2.0", body);
        }
        b.build().unwrap()
    }

    #[test]
    fn notify_parse() {
        let req = notify(
            &[
                ("Event", "refer;id=7"),
                ("Subscription-State", "active;expires=60"),
            ],
            b"SIP/2.0 180 Ringing\r\n",
        );
        let n = ReferNotify::parse(&req).unwrap();
        assert_eq!(n.id, Some(7));
        assert_eq!(n.frag.status, StatusCode::RINGING);
        assert_eq!(n.state, ReferSubscriptionState::Active { expires: 60 });
        let req = notify(
            &[("Event", "presence"), ("Subscription-State", "active")],
            b"SIP/2.0 180 Ringing\r\n",
        );
        assert_eq!(ReferNotify::parse(&req), Err(ReferError::NotReferEvent));
        let req = notify(&[("Event", "refer")], b"SIP/2.0 180 Ringing\r\n");
        assert!(matches!(
            ReferNotify::parse(&req),
            Err(ReferError::InvalidSubscriptionState(_))
        ));
        let req = notify(
            &[("Event", "refer"), ("Subscription-State", "terminated")],
            b"",
        );
        assert!(matches!(
            ReferNotify::parse(&req),
            Err(ReferError::NotSipFrag(_))
        ));
    }

    #[test]
    fn refer_to_plain() {
        let r = ReferTo::parse("sip:bob@example.com").unwrap();
        assert_eq!(r.uri.as_str(), "sip:bob@example.com");
        assert!(r.headers.is_empty());
        assert_eq!(r.replaces().unwrap(), None);
        let r = ReferTo::parse("\"Bob B\" <sips:bob@example.com;transport=tls>;x=1").unwrap();
        assert_eq!(r.uri.as_str(), "sips:bob@example.com;transport=tls");
        assert_eq!(r.display_name.as_deref(), Some("Bob B"));
    }

    #[test]
    fn refer_to_with_replaces_rfc3891_example() {
        // RFC 3891 §6.1 / RFC 5589 §7.
        let v = "<sips:bob@biloxi.example.com?Replaces=12345%40192.168.118.3%3B\
                 to-tag%3D12345%3Bfrom-tag%3D5FFE-3994&Require=replaces>";
        let r = ReferTo::parse(v).unwrap();
        assert_eq!(r.uri.as_str(), "sips:bob@biloxi.example.com");
        assert_eq!(
            r.header("replaces"),
            Some("12345@192.168.118.3;to-tag=12345;from-tag=5FFE-3994")
        );
        assert_eq!(r.header("Require"), Some("replaces"));
        let rep = r.replaces().unwrap().unwrap();
        assert_eq!(
            rep,
            Replaces {
                call_id: "12345@192.168.118.3".into(),
                to_tag: "12345".into(),
                from_tag: "5FFE-3994".into(),
                early_only: false,
            }
        );
        // And back.
        let out = ReferTo::with_replaces(&r.uri, &rep);
        assert_eq!(
            out,
            "<sips:bob@biloxi.example.com?Replaces=12345%40192.168.118.3%3B\
             to-tag%3D12345%3Bfrom-tag%3D5FFE-3994>"
        );
        let again = ReferTo::parse(&out).unwrap();
        assert_eq!(again.replaces().unwrap(), Some(rep));
    }

    #[test]
    fn refer_to_errors() {
        assert!(matches!(
            ReferTo::parse("<sip:bob@example.com"),
            Err(ReferError::InvalidReferTo { .. })
        ));
        assert!(matches!(
            ReferTo::parse("<sip:bob@example.com?Replaces>"),
            Err(ReferError::InvalidEmbeddedHeader(_))
        ));
        let r = ReferTo::parse("<sip:bob@example.com?Replaces=abc%3Bto-tag%3D1>").unwrap();
        assert!(matches!(r.replaces(), Err(ReferError::InvalidReplaces(_))));
        let r = ReferTo::parse("<sip:b@x?Replaces=a%3Bto-tag%3D1%3Bfrom-tag%3D2%3Bearly-only>")
            .unwrap();
        assert!(r.replaces().unwrap().unwrap().early_only);
    }

    #[test]
    fn refer_to_from_request() {
        let base = || {
            Request::builder(Method::Refer, Uri::parse("sip:a@192.0.2.1").unwrap())
                .via("UDP", "192.0.2.2", "z9hG4bK1")
                .from("<sip:b@example.com>", "1")
                .to("<sip:a@example.com>", Some("2"))
                .call_id("c")
                .cseq(5)
        };
        let req = base()
            .header("Refer-To", "<sip:carol@example.com>")
            .build()
            .unwrap();
        assert_eq!(
            ReferTo::from_request(&req).unwrap().uri.as_str(),
            "sip:carol@example.com"
        );
        let none = base().build().unwrap();
        assert!(ReferTo::from_request(&none).is_err());
    }
}
