//! Builders: a request per RFC 3261 §8.1.1, a response from a request per §8.2.6.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use bytestring::ByteString;

use super::headers::{Entries, Entry, Grown, Name, Text, clean};
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
        self.headers.push_parts(
            HeaderName::Via,
            &["SIP/2.0/", transport, " ", sent_by, ";branch=", branch],
        );
        self
    }

    /// Adds a Via asking for `rport` (RFC 3581 §3).
    pub fn via_rport(mut self, transport: &str, sent_by: &str, branch: &str) -> Self {
        self.headers.push_parts(
            HeaderName::Via,
            &[
                "SIP/2.0/", transport, " ", sent_by, ";branch=", branch, ";rport",
            ],
        );
        self
    }

    /// Sets From to `addr` (a name-addr or addr-spec) with `tag` (§8.1.1.3).
    pub fn from(mut self, addr: &str, tag: &str) -> Self {
        self.headers
            .set_parts(HeaderName::From, &[addr, ";tag=", tag]);
        self
    }

    /// Sets To to `addr`, with a tag inside a dialog (§8.1.1.2).
    pub fn to(mut self, addr: &str, tag: Option<&str>) -> Self {
        match tag {
            Some(t) => self.headers.set_parts(HeaderName::To, &[addr, ";tag=", t]),
            None => self.headers.set_parts(HeaderName::To, &[addr]),
        }
        self
    }

    /// Sets Call-ID (§8.1.1.4).
    pub fn call_id(mut self, id: &str) -> Self {
        self.headers.set_parts(HeaderName::CallId, &[id]);
        self
    }

    /// Sets CSeq to `seq` and the request's method (§8.1.1.5).
    pub fn cseq(mut self, seq: u32) -> Self {
        let seq = u64::from(seq);
        let method = self.method.as_str();
        let mut digits = [0u8; 20];
        self.headers.set_parts(
            HeaderName::CSeq,
            &[decimal_in(&mut digits, seq), " ", method],
        );
        self
    }

    /// Sets Max-Forwards (§8.1.1.6).
    pub fn max_forwards(mut self, n: u8) -> Self {
        let mut digits = [0u8; 20];
        self.headers.set_parts(
            HeaderName::MaxForwards,
            &[decimal_in(&mut digits, u64::from(n))],
        );
        self
    }

    /// Adds a Contact (§8.1.1.8).
    pub fn contact(mut self, addr: &str) -> Self {
        self.headers.push_parts(HeaderName::Contact, &[addr]);
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
        self.headers
            .set_parts(HeaderName::ContentType, &[content_type]);
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
        set_content_length(&mut self.headers, self.body.len());
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
        let src = &req.headers;
        let trying = status == StatusCode::TRYING;
        // The request's To value is clean already (stored values hold no CR or LF and are
        // trimmed): only the tag may need cleaning.
        let new_to = match (to_tag, src.get(HeaderName::To)) {
            (Some(tag), Some(to)) if !trying && !has_tag(to) => {
                let tag_clean =
                    !tag.bytes().any(|c| c == b'\r' || c == b'\n') && !tag.ends_with([' ', '\t']);
                Some(if tag_clean {
                    NewTo::Parts(to, tag)
                } else {
                    NewTo::Cleaned(clean(concat(&[to, ";tag=", tag]).into()))
                })
            }
            _ => None,
        };
        let headers = match copy_common(src, new_to.as_ref(), trying) {
            Some(h) => h,
            None => copy_general(src, new_to.as_ref(), trying),
        };
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
        set_content_length(&mut self.headers, self.body.len());
    }
}

/// The To value of a response that adds a tag: the request's value and the tag, joined
/// when written into the side buffer, or (a tag with CR, LF or trailing whitespace) the
/// whole value cleaned.
enum NewTo<'a> {
    Parts(&'a str, &'a str),
    Cleaned(Box<str>),
}

/// The side text of a response: its new To value, if any, then `0` (the Content-Length);
/// their spans in it.
fn response_side(new_to: Option<&NewTo<'_>>) -> (String, Option<Text>, Text) {
    let (to, tag) = match new_to {
        Some(NewTo::Parts(to, tag)) => (*to, *tag),
        Some(NewTo::Cleaned(v)) => (&**v, ""),
        None => ("", ""),
    };
    let tagged = !tag.is_empty() || matches!(new_to, Some(NewTo::Parts(..)));
    let mut side = String::with_capacity(to.len() + 5 + tag.len() + 1);
    side.push_str(to);
    if tagged {
        side.push_str(";tag=");
        side.push_str(tag);
    }
    side.push('0');
    let n = side.len() as u32;
    let to = new_to.map(|_| Text::side_span(0, n - 1));
    (side, to, Text::side_span(n - 1, n))
}

/// At most this many Vias take [`copy_common`]; more (a request that crossed many proxies)
/// take [`copy_general`].
const COMMON_VIAS: usize = 8;

/// The header section of a response to a request with `src` (RFC 3261 §8.2.6.2): its Vias,
/// From, To (or `new_to`, taken, in its place), Call-ID, CSeq and, in a 100, Timestamp
/// (§8.2.6.1), then `Content-Length: 0`; values share the request's buffer.
///
/// This is [`copy_general`] for the common request: at most [`COMMON_VIAS`] Vias and at most
/// one of each other copied field, found in one pass with no sort, into a vector of the size
/// known in advance (a 200 is built per transaction). `None`, `new_to` left in place,
/// otherwise.
// Inlined: called once, and outlined it cost ~50 instructions a 200 (the Headers returned
// through memory).
#[inline]
fn copy_common(src: &Headers, new_to: Option<&NewTo<'_>>, trying: bool) -> Option<Headers> {
    use HeaderName as H;
    const ONE: [HeaderName; 5] = [H::From, H::To, H::CallId, H::CSeq, H::Timestamp];
    let mut vias = [0usize; COMMON_VIAS];
    let mut n_vias = 0;
    // Where the field of each `ONE` name is.
    let mut one: [Option<usize>; 5] = [None; 5];
    let copy_to = new_to.is_none();
    for (i, e) in src.entries.iter().enumerate() {
        let Name::Known(h) = e.name else { continue };
        let slot = match h {
            H::Via => {
                *vias.get_mut(n_vias)? = i;
                n_vias += 1;
                continue;
            }
            H::From => 0,
            H::To if copy_to => 1,
            H::CallId => 2,
            H::CSeq => 3,
            H::Timestamp if trying => 4,
            _ => continue,
        };
        if one[slot].replace(i).is_some() {
            return None;
        }
    }
    // Side text from the request (a built one) would need copying: the general path does it.
    if !src.entries.side().is_empty() {
        return None;
    }
    // The copied fields, the new To, Content-Length, and room for two more (the Contact and
    // Content-Type a TU adds to a 2xx to an INVITE); the new To value and the `0` are the
    // side buffer.
    let n = n_vias + one.iter().flatten().count() + usize::from(!copy_to) + 1 + 2;
    let mut entries = Vec::with_capacity(n);
    let (side, to_text, zero) = response_side(new_to);
    let copy = |entries: &mut Vec<Entry>, name: HeaderName, i: usize| {
        if let Some(e) = src.entries.get(i) {
            entries.push(Entry {
                name: Name::Known(name),
                value: e.value,
                offset: e.offset,
            });
        }
    };
    for &i in &vias[..n_vias] {
        copy(&mut entries, H::Via, i);
    }
    for (slot, &name) in ONE.iter().enumerate() {
        if slot == 1
            && let Some(value) = to_text
        {
            entries.push(Entry {
                name: Name::Known(H::To),
                value,
                offset: 0,
            });
        }
        if let Some(i) = one[slot] {
            copy(&mut entries, name, i);
        }
    }
    entries.push(Entry {
        name: Name::Known(H::ContentLength),
        value: zero,
        offset: 0,
    });
    Some(Headers {
        buf: src.buf.clone(),
        entries: Entries::Growable(Arc::new(Grown {
            list: entries,
            side,
        })),
    })
}

/// [`copy_common`] for any request: the copied fields grouped by name in the response's order,
/// each group in the request's order.
fn copy_general(src: &Headers, new_to: Option<&NewTo<'_>>, trying: bool) -> Headers {
    use HeaderName as H;
    let mut headers = Headers::with_capacity(8);
    // Via, From, To, Call-ID, CSeq (and Timestamp in a 100), in this order, in one pass
    // over the request's fields; a To with the new tag replaces the request's.
    let names: &[HeaderName] = match (new_to.is_none(), trying) {
        (true, true) => &[H::Via, H::From, H::To, H::CallId, H::CSeq, H::Timestamp],
        (true, false) => &[H::Via, H::From, H::To, H::CallId, H::CSeq],
        (false, true) => &[H::Via, H::From, H::CallId, H::CSeq, H::Timestamp],
        (false, false) => &[H::Via, H::From, H::CallId, H::CSeq],
    };
    let to = match new_to {
        Some(NewTo::Parts(to, tag)) => Some(concat(&[to, ";tag=", tag])),
        Some(NewTo::Cleaned(v)) => Some(v.to_string()),
        None => None,
    };
    headers.copy_ordered(src, names, to.as_deref().map(|v| (2, H::To, v)));
    headers.push_static(H::ContentLength, "0");
    headers
}

/// `parts` end to end in a string of the exact size (it becomes a `Box<str>` without
/// reallocating): what `format!` of plain strings makes, without the formatting machinery.
fn concat(parts: &[&str]) -> String {
    let mut s = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        s.push_str(p);
    }
    s
}

/// Sets Content-Length to `len` (RFC 3261 §20.14); a static `0` when there was none (no
/// allocation for the common empty body).
fn set_content_length(headers: &mut Headers, len: usize) {
    if len == 0 && !headers.contains(HeaderName::ContentLength) {
        headers.push_static(HeaderName::ContentLength, "0");
    } else {
        let len = u64::try_from(len).unwrap_or(u64::MAX);
        let mut digits = [0u8; 20];
        headers.set_parts(HeaderName::ContentLength, &[decimal_in(&mut digits, len)]);
    }
}

/// `n` in decimal, written at the end of `digits` (room for any `u64`).
fn decimal_in(digits: &mut [u8; 20], mut n: u64) -> &str {
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // ASCII digits: this cannot fail.
    std::str::from_utf8(&digits[i..]).unwrap_or("0")
}

/// Whether a To value already carries a tag (read without parsing its URI).
fn has_tag(to: &str) -> bool {
    // A tag is a parameter (RFC 3261 §20.39: `*( SEMI to-param )`): a value without ';', the
    // To of most out-of-dialog requests, has none, whatever `tag_of` would make of the rest.
    memchr::memchr(b';', to.as_bytes()).is_some()
        && super::typed::tag_of(to).is_ok_and(|t| t.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Limits, Message, parse_message};

    /// `from_request` as one copy per header name: the definition the one-pass copy keeps.
    fn reference(req: &Request, status: StatusCode, to_tag: Option<&str>) -> Response {
        let mut headers = Headers::with_capacity(8);
        let src = &req.headers;
        headers.copy_from(src, HeaderName::Via);
        headers.copy_from(src, HeaderName::From);
        match (to_tag, src.get(HeaderName::To)) {
            (Some(tag), Some(to)) if status != StatusCode::TRYING && !has_tag(to) => {
                headers.push_known(HeaderName::To, format!("{to};tag={tag}"));
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

    #[test]
    fn one_pass_copy_matches_the_per_name_copies() {
        let many_vias: String = (0..40)
            .map(|i| format!("Via: SIP/2.0/UDP h{i};branch=z9hG4bK{i}\r\n"))
            .collect();
        let msgs = [
            include_str!("../../../../corpus/invite_g711.sip").to_owned(),
            include_str!("../../../../corpus/bye.sip").to_owned(),
            "OPTIONS sip:a@b SIP/2.0\r\nCSeq: 1 OPTIONS\r\nTo: <sip:b@b>;tag=x\r\n\
             Via: SIP/2.0/UDP a;branch=z9hG4bK1\r\nTimestamp: 5\r\nFrom: <sip:a@a>;tag=1\r\n\
             v: SIP/2.0/TCP c;branch=z9hG4bK2, SIP/2.0/UDP d\r\nCall-ID: c1\r\nCall-ID: c2\r\n\
             X-A: 1\r\nf: <sip:x@x>\r\nl: 0\r\n\r\n"
                .to_owned(),
            "OPTIONS sip:a@b SIP/2.0\r\nTo: <sip:b@b>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\
             Via: SIP/2.0/UDP a\r\nl: 0\r\n\r\n"
                .to_owned(),
            format!(
                "OPTIONS sip:a@b SIP/2.0\r\n{many_vias}To: <sip:b@b>\r\nFrom: <sip:a@a>;tag=1\r\n\
                 Call-ID: c\r\nCSeq: 1 OPTIONS\r\nl: 0\r\n\r\n"
            ),
        ];
        for m in &msgs {
            let Ok(Message::Request(req)) =
                parse_message(Bytes::copy_from_slice(m.as_bytes()), &Limits::default())
            else {
                panic!("{m}")
            };
            for status in [StatusCode::TRYING, StatusCode::OK, StatusCode::BUSY_HERE] {
                for tag in [None, Some("t1"), Some("t\r\nX-Injected: 1 "), Some("t ")] {
                    let fast = Response::from_request(&req, status, tag);
                    let slow = reference(&req, status, tag);
                    assert_eq!(fast.to_bytes(), slow.to_bytes(), "{m}");
                    let offsets = |r: &Response| -> Vec<u32> {
                        r.headers.entries.iter().map(|e| e.offset).collect()
                    };
                    assert_eq!(offsets(&fast), offsets(&slow));
                }
            }
        }
    }

    /// The fields a generated request is made of: the copied ones (long and compact names,
    /// tagged or not), others, an extension header.
    const LINES: &[&str] = &[
        "Via: SIP/2.0/UDP a;branch=z9hG4bK1",
        "v: SIP/2.0/TCP b;branch=z9hG4bK2, SIP/2.0/UDP c",
        "From: <sip:a@a>;tag=1",
        "f: \"A\" <sip:x@x>",
        "To: <sip:b@b>",
        "t: <sip:b@b>;tag=x",
        "To: sip:b@b;TAG=y",
        "Call-ID: c1",
        "i: c2",
        "CSeq: 1 OPTIONS",
        "Timestamp: 5 0.1",
        "Max-Forwards: 70",
        "Contact: <sip:a@h>",
        "X-A: 1",
    ];

    proptest::proptest! {
        /// The common copy agrees with the per-name copies on requests made of any fields in
        /// any order: duplicates, many Vias, missing fields.
        #[test]
        fn common_copy_matches_the_per_name_copies(
            lines in proptest::collection::vec(0..LINES.len(), 0..24),
        ) {
            let mut m = String::from("OPTIONS sip:a@b SIP/2.0\r\n");
            for &l in &lines {
                m.push_str(LINES[l]);
                m.push_str("\r\n");
            }
            m.push_str("\r\n");
            let raw = Bytes::copy_from_slice(m.as_bytes());
            let req = match parse_message(raw, &Limits::default()) {
                Ok(Message::Request(req)) => req,
                other => panic!("{m}: {other:?}"),
            };
            for status in [StatusCode::TRYING, StatusCode::OK, StatusCode::BUSY_HERE] {
                for tag in [None, Some("t1"), Some("t\r\nX: 1 ")] {
                    let fast = Response::from_request(&req, status, tag);
                    let slow = reference(&req, status, tag);
                    proptest::prop_assert_eq!(fast.to_bytes(), slow.to_bytes(), "{}", m);
                    let offsets = |r: &Response| -> Vec<u32> {
                        r.headers.entries.iter().map(|e| e.offset).collect()
                    };
                    proptest::prop_assert_eq!(offsets(&fast), offsets(&slow));
                }
            }
        }
    }

    proptest::proptest! {
        /// `decimal_in` writes what `to_string` writes.
        #[test]
        fn decimal_matches_to_string(n in proptest::prelude::any::<u64>()) {
            for n in [n, n % 1000, n >> 32] {
                let mut digits = [0u8; 20];
                proptest::prop_assert_eq!(decimal_in(&mut digits, n), &n.to_string());
            }
        }
    }

    #[test]
    fn decimal_edges() {
        for n in [0, 9, 10, 99, 100, u64::from(u32::MAX), u64::MAX] {
            assert_eq!(decimal_in(&mut [0u8; 20], n), n.to_string());
        }
    }
    /// What the builder writes, pinned byte for byte (the values `format!` made before the
    /// builder stopped using it).
    #[test]
    fn built_request_bytes_are_pinned() {
        let uri = || Uri::parse("sip:bob@b").unwrap();
        let req = Request::builder(Method::Invite, uri())
            .via("UDP", "h:5060", "z9hG4bK1")
            .via_rport("TCP", "p", "z9hG4bK2")
            .from("\"A\" <sip:a@a>", "t1")
            .to("<sip:b@b>", Some("t2"))
            .call_id("c@h")
            .cseq(2147483647)
            .max_forwards(0)
            .body("application/sdp", "v=0\r\n")
            .build()
            .unwrap();
        assert_eq!(
            req.to_bytes(),
            "INVITE sip:bob@b SIP/2.0\r\nVia: SIP/2.0/UDP h:5060;branch=z9hG4bK1\r\n\
             Via: SIP/2.0/TCP p;branch=z9hG4bK2;rport\r\nFrom: \"A\" <sip:a@a>;tag=t1\r\n\
             To: <sip:b@b>;tag=t2\r\nCall-ID: c@h\r\nCSeq: 2147483647 INVITE\r\n\
             Max-Forwards: 0\r\nContent-Type: application/sdp\r\nContent-Length: 5\r\n\r\nv=0\r\n"
        );
        let req = Request::builder(Method::Options, uri())
            .cseq(0)
            .to(" <sip:b@b> ", None)
            .from("sip:a@a", "x")
            .via("UDP", "h", "z9hG4bK3")
            .call_id("c")
            .max_forwards(255)
            .max_forwards(10)
            .header("Content-Length", "0")
            .build()
            .unwrap();
        assert_eq!(
            req.to_bytes(),
            "OPTIONS sip:bob@b SIP/2.0\r\nCSeq: 0 OPTIONS\r\nTo: <sip:b@b>\r\n\
             From: sip:a@a;tag=x\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK3\r\nCall-ID: c\r\n\
             Max-Forwards: 10\r\nContent-Length: 0\r\n\r\n"
        );
        let mut resp = Response::from_request(&req, StatusCode::OK, Some("y"));
        resp.set_body("text/plain", "");
        assert_eq!(
            resp.to_bytes(),
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK3\r\nFrom: sip:a@a;tag=x\r\n\
             To: <sip:b@b>;tag=y\r\nCall-ID: c\r\nCSeq: 0 OPTIONS\r\nContent-Length: 0\r\n\
             Content-Type: text/plain\r\n\r\n"
        );
    }
}
