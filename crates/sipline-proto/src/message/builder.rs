//! Builders: a request per RFC 3261 §8.1.1, a response from a request per §8.2.6.

use std::fmt;

use bytes::Bytes;
use bytestring::ByteString;

use super::{HeaderName, Headers, Method, Request, Response, StatusCode, Uri};
use crate::error::ParseError;

/// Why a [`RequestBuilder`] could not build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildError {
    /// A header RFC 3261 §8.1.1 makes mandatory was not given.
    Missing(HeaderName),
    /// A given value does not follow its header's grammar.
    Invalid(ParseError),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Missing(h) => {
                write!(f, "request lacks the mandatory {} header", h.as_str())
            }
            BuildError::Invalid(e) => write!(f, "invalid header value: {e}"),
        }
    }
}

impl std::error::Error for BuildError {}

/// Builds a request with the headers RFC 3261 §8.1.1 requires: To, From, CSeq, Call-ID,
/// Max-Forwards (70 unless set, §8.1.1.6), Via; Content-Length is set from the body.
///
/// ```
/// use sipline_proto::{Method, Request, Uri};
/// let req = Request::builder(Method::Options, Uri::parse("sip:bob@example.com")?)
///     .via("UDP", "192.0.2.1:5060", "z9hG4bK74bf9")
///     .from("Alice <sip:alice@example.com>", "9fxced76sl")
///     .to("<sip:bob@example.com>", None)
///     .call_id("3848276298220188511@192.0.2.1")
///     .cseq(1)
///     .build()?;
/// assert_eq!(req.headers.max_forwards()?, Some(70));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct RequestBuilder {
    method: Method,
    uri: Uri,
    headers: Headers,
    body: Bytes,
    error: Option<BuildError>,
}

impl RequestBuilder {
    /// A request for `method` to `uri`.
    pub fn new(method: Method, uri: Uri) -> Self {
        Self {
            method,
            uri,
            headers: Headers::with_capacity(10),
            body: Bytes::new(),
            error: None,
        }
    }

    /// Adds a Via: `SIP/2.0/{transport} {sent_by};branch={branch}` (§8.1.1.7). Add `;rport`
    /// (RFC 3581) with [`RequestBuilder::header`] if wanted, or use [`RequestBuilder::via_rport`].
    pub fn via(mut self, transport: &str, sent_by: &str, branch: &str) -> Self {
        self.headers.push_known(
            HeaderName::Via,
            format!("SIP/2.0/{transport} {sent_by};branch={branch}"),
        );
        self
    }

    /// Adds a Via asking for `rport` (RFC 3581 §3).
    pub fn via_rport(mut self, transport: &str, sent_by: &str, branch: &str) -> Self {
        self.headers.push_known(
            HeaderName::Via,
            format!("SIP/2.0/{transport} {sent_by};branch={branch};rport"),
        );
        self
    }

    /// Sets From to `addr` (a name-addr or addr-spec) with `tag` (§8.1.1.3).
    pub fn from(mut self, addr: &str, tag: &str) -> Self {
        self.headers
            .set(HeaderName::From, format!("{addr};tag={tag}"));
        self
    }

    /// Sets To to `addr`, with a tag inside a dialog (§8.1.1.2).
    pub fn to(mut self, addr: &str, tag: Option<&str>) -> Self {
        let v = match tag {
            Some(t) => format!("{addr};tag={t}"),
            None => addr.to_owned(),
        };
        self.headers.set(HeaderName::To, v);
        self
    }

    /// Sets Call-ID (§8.1.1.4).
    pub fn call_id(mut self, id: &str) -> Self {
        self.headers.set(HeaderName::CallId, id);
        self
    }

    /// Sets CSeq to `seq` and the request's method (§8.1.1.5).
    pub fn cseq(mut self, seq: u32) -> Self {
        self.headers
            .set(HeaderName::CSeq, format!("{seq} {}", self.method));
        self
    }

    /// Sets Max-Forwards (§8.1.1.6).
    pub fn max_forwards(mut self, n: u8) -> Self {
        self.headers.set(HeaderName::MaxForwards, n.to_string());
        self
    }

    /// Adds a Contact (§8.1.1.8).
    pub fn contact(mut self, addr: &str) -> Self {
        self.headers.push_known(HeaderName::Contact, addr);
        self
    }

    /// Adds any header; a known name is normalised. A name that is not a token, or a value
    /// holding CR or LF (which would inject headers), makes [`RequestBuilder::build`] fail.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        if let Err(e) = self.headers.push(name, value) {
            self.error.get_or_insert(BuildError::Invalid(e));
        }
        self
    }

    /// Sets the body and its Content-Type.
    pub fn body(mut self, content_type: &str, body: impl Into<Bytes>) -> Self {
        self.headers.set(HeaderName::ContentType, content_type);
        self.body = body.into();
        self
    }

    /// Checks the mandatory headers and every value's grammar, sets Content-Length.
    pub fn build(mut self) -> Result<Request, BuildError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        // RFC 3261 §19.1.1 Table 1: a Request-URI carries no headers component.
        if self.uri.as_ref().headers().is_some() {
            return Err(BuildError::Invalid(ParseError::new(
                crate::ParseErrorKind::InvalidUri,
                0,
            )));
        }
        for h in [
            HeaderName::Via,
            HeaderName::From,
            HeaderName::To,
            HeaderName::CallId,
            HeaderName::CSeq,
        ] {
            if !self.headers.contains(h) {
                return Err(BuildError::Missing(h));
            }
        }
        if !self.headers.contains(HeaderName::MaxForwards) {
            self.headers.push_static(HeaderName::MaxForwards, "70");
        }
        self.headers
            .set(HeaderName::ContentLength, self.body.len().to_string());
        self.headers.validate().map_err(BuildError::Invalid)?;
        Ok(Request {
            method: self.method,
            uri: self.uri,
            headers: self.headers,
            body: self.body,
        })
    }
}

impl Response {
    /// A response to `req` per RFC 3261 §8.2.6: the Via stack, From, Call-ID and CSeq copied,
    /// To copied with `to_tag` added when it has no tag yet (§8.2.6.2; a 100 carries no new
    /// tag), Timestamp copied into a 100 (§8.2.6.1), `Content-Length: 0`.
    ///
    /// Copied values share the request's buffer: no text is copied.
    pub fn from_request(req: &Request, status: StatusCode, to_tag: Option<&str>) -> Response {
        let mut headers = Headers::with_capacity(8);
        let src = &req.headers;
        headers.copy_from(src, HeaderName::Via);
        headers.copy_from(src, HeaderName::From);
        match (to_tag, src.get(HeaderName::To)) {
            (Some(tag), Some(to)) if status != StatusCode::TRYING && !has_tag(to) => {
                let mut v = String::with_capacity(to.len() + 5 + tag.len());
                v.push_str(to);
                v.push_str(";tag=");
                v.push_str(tag);
                headers.push_known(HeaderName::To, v);
            }
            _ => headers.copy_from(src, HeaderName::To),
        }
        headers.copy_from(src, HeaderName::CallId);
        headers.copy_from(src, HeaderName::CSeq);
        if status == StatusCode::TRYING {
            headers.copy_from(src, HeaderName::Timestamp);
        }
        headers.push_static(HeaderName::ContentLength, "0");
        Response {
            status,
            reason: ByteString::from_static(status.canonical_reason()),
            headers,
            body: Bytes::new(),
        }
    }

    /// Sets the body and its Content-Type, updating Content-Length.
    pub fn set_body(&mut self, content_type: &str, body: impl Into<Bytes>) {
        self.body = body.into();
        self.headers.set(HeaderName::ContentType, content_type);
        self.headers
            .set(HeaderName::ContentLength, self.body.len().to_string());
    }
}

/// Whether a To value already carries a tag (read without parsing its URI).
fn has_tag(to: &str) -> bool {
    super::typed::tag_of(to).is_ok_and(|t| t.is_some())
}
