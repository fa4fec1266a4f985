//! The SIP message model (RFC 3261 §7): requests, responses, URIs, headers, and their writer
//! and builders.

mod builder;
mod header_name;
pub(crate) mod headers;
mod method;
pub mod params;
mod status;
pub mod typed;
pub mod uri;
mod write;

use bytes::Bytes;
use bytestring::ByteString;

pub use builder::{BuildError, RequestBuilder};
pub use header_name::HeaderName;
pub use headers::{Field, Headers};
pub use method::Method;
pub use params::{Params, ParamsIter};
pub use status::StatusCode;
pub use typed::{
    Auth, CSeq, ContactValue, Essentials, MediaType, NameAddr, Parameterized, RAck, Via,
};
pub use uri::{Scheme, Uri, UriRef};

use crate::error::{ParseError, ParseErrorKind};
use typed::Checked;

/// A SIP request (RFC 3261 §7.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method of the Request-Line.
    pub method: Method,
    /// The Request-URI.
    pub uri: Uri,
    /// Header fields, in order.
    pub headers: Headers,
    /// The body (framed by Content-Length).
    pub body: Bytes,
}

/// A SIP response (RFC 3261 §7.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The Status-Code.
    pub status: StatusCode,
    /// The Reason-Phrase, as received (may be empty).
    pub reason: ByteString,
    /// Header fields, in order.
    pub headers: Headers,
    /// The body (framed by Content-Length).
    pub body: Bytes,
}

/// A request or a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A request.
    Request(Request),
    /// A response.
    Response(Response),
}

impl Request {
    /// Starts a request (RFC 3261 §8.1.1); see [`RequestBuilder`].
    pub fn builder(method: Method, uri: Uri) -> RequestBuilder {
        RequestBuilder::new(method, uri)
    }

    /// The top Via (shortcut for `headers.top_via()`).
    pub fn top_via(&self) -> Result<Via<'_>, ParseError> {
        self.headers.top_via()
    }

    /// The transaction-relevant fields (see [`Essentials`]).
    pub fn essentials(&self) -> Result<Essentials<'_>, ParseError> {
        self.headers.essentials()
    }

    /// Full check: every known header against its grammar, the mandatory headers of §8.1.1
    /// (To, From, CSeq, Call-ID, Via; Max-Forwards is tolerated missing, as §16.6 lets a proxy
    /// add it) and the CSeq method matching the request method (§8.1.1.5).
    pub fn validate(&self) -> Result<(), ParseError> {
        self.validated().map(drop)
    }

    /// [`validate`](Self::validate), returning the [`Essentials`] it parsed on the way (the
    /// full level and the transaction-ready level in one pass).
    pub fn validated(&self) -> Result<Essentials<'_>, ParseError> {
        // A missing field is reported in this order (To first, as before).
        let mut found = Checked::default();
        self.headers.check_all(&mut found)?;
        let ess = found.into_essentials(&[
            HeaderName::To,
            HeaderName::From,
            HeaderName::CSeq,
            HeaderName::CallId,
            HeaderName::Via,
        ])?;
        if ess.cseq.method != self.method {
            let at = self
                .headers
                .values_at(HeaderName::CSeq)
                .next()
                .map_or(0, |(_, at)| at);
            return Err(ParseError::new(ParseErrorKind::CSeqMethodMismatch, at));
        }
        Ok(ess)
    }
}

impl Response {
    /// The top Via (shortcut for `headers.top_via()`).
    pub fn top_via(&self) -> Result<Via<'_>, ParseError> {
        self.headers.top_via()
    }

    /// The transaction-relevant fields (see [`Essentials`]).
    pub fn essentials(&self) -> Result<Essentials<'_>, ParseError> {
        self.headers.essentials()
    }

    /// Full check: every known header against its grammar and the headers a response must
    /// carry (Via, From, To, Call-ID, CSeq; RFC 3261 §8.2.6.2).
    pub fn validate(&self) -> Result<(), ParseError> {
        self.validated().map(drop)
    }

    /// [`validate`](Self::validate), returning the [`Essentials`] it parsed on the way.
    pub fn validated(&self) -> Result<Essentials<'_>, ParseError> {
        let mut found = Checked::default();
        self.headers.check_all(&mut found)?;
        found.into_essentials(&[
            HeaderName::Via,
            HeaderName::From,
            HeaderName::To,
            HeaderName::CallId,
            HeaderName::CSeq,
        ])
    }
}

impl Message {
    /// The header fields.
    pub fn headers(&self) -> &Headers {
        match self {
            Message::Request(r) => &r.headers,
            Message::Response(r) => &r.headers,
        }
    }

    /// The header fields, mutably.
    pub fn headers_mut(&mut self) -> &mut Headers {
        match self {
            Message::Request(r) => &mut r.headers,
            Message::Response(r) => &mut r.headers,
        }
    }

    /// The body.
    pub fn body(&self) -> &Bytes {
        match self {
            Message::Request(r) => &r.body,
            Message::Response(r) => &r.body,
        }
    }

    /// The transaction-relevant fields (see [`Essentials`]).
    pub fn essentials(&self) -> Result<Essentials<'_>, ParseError> {
        self.headers().essentials()
    }

    /// Full check, see [`Request::validate`] and [`Response::validate`].
    pub fn validate(&self) -> Result<(), ParseError> {
        self.validated().map(drop)
    }

    /// Full check returning the [`Essentials`], see [`Request::validated`].
    pub fn validated(&self) -> Result<Essentials<'_>, ParseError> {
        match self {
            Message::Request(r) => r.validated(),
            Message::Response(r) => r.validated(),
        }
    }

    /// Whether this is a request.
    pub fn is_request(&self) -> bool {
        matches!(self, Message::Request(_))
    }
}

impl From<Request> for Message {
    fn from(r: Request) -> Self {
        Message::Request(r)
    }
}

impl From<Response> for Message {
    fn from(r: Response) -> Self {
        Message::Response(r)
    }
}
