//! The serializer: writes a message into a caller's buffer (RFC 3261 §7).
//!
//! Known headers are written with their canonical long names; extension headers as received.
//! Content-Length is written as stored: builders keep it equal to the body length.
//!
//! Every line is written as `CRLF name ": " value`, the CRLF ending the line before it (the
//! start line or the previous field), and the header section ends with `CRLF CRLF`: for a
//! known header the CRLF, its name and the separator are one precomputed slice, so a field
//! costs two copies instead of four.

use std::fmt;

use bytes::{BufMut, Bytes};

use super::headers::{Entry, Name};
use super::{HeaderName, Headers, Message, Request, Response};

/// Room for `CRLF name ": "` of the longest known name (`Authentication-Info`, 19 bytes).
const HEAD_MAX: usize = 24;

/// Number of known header names.
const KNOWN: usize = HeaderName::ALL.len();

/// `CRLF name ": "` of one known header, in a fixed array.
#[derive(Clone, Copy)]
struct Head {
    bytes: [u8; HEAD_MAX],
    len: u8,
}

/// The `CRLF name ": "` of every known header (RFC 3261 §7.3.1: the canonical long name,
/// then `HCOLON` written as `": "`), indexed by `HeaderName as usize`; built at compile time.
static HEADS: [Head; KNOWN] = heads();

const fn heads() -> [Head; KNOWN] {
    let mut t = [Head {
        bytes: [0; HEAD_MAX],
        len: 0,
    }; KNOWN];
    let mut i = 0;
    while i < KNOWN {
        let h = HeaderName::ALL[i];
        let name = h.as_str().as_bytes();
        let at = h as usize;
        // `ALL` lists each name once with discriminants below its length: every slot is
        // filled exactly once (checked at compile time).
        assert!(at < KNOWN && t[at].len == 0 && name.len() + 4 <= HEAD_MAX);
        let head = &mut t[at];
        head.bytes[0] = b'\r';
        head.bytes[1] = b'\n';
        let mut j = 0;
        while j < name.len() {
            head.bytes[2 + j] = name[j];
            j += 1;
        }
        head.bytes[2 + j] = b':';
        head.bytes[3 + j] = b' ';
        head.len = (name.len() + 4) as u8;
        i += 1;
    }
    t
}

/// `CRLF name ": "` of a known header.
#[inline]
fn head(h: HeaderName) -> Option<&'static [u8]> {
    let head = HEADS.get(h as usize)?;
    head.bytes.get(..usize::from(head.len))
}

/// Writes one field as `CRLF name ": " value`.
#[inline]
fn write_entry<B: BufMut>(e: &Entry, h: &Headers, out: &mut B) {
    match &e.name {
        Name::Known(k) => match head(*k) {
            Some(head) => out.put_slice(head),
            None => {
                out.put_slice(b"\r\n");
                out.put_slice(k.as_str().as_bytes());
                out.put_slice(b": ");
            }
        },
        Name::Other(t) => {
            out.put_slice(b"\r\n");
            out.put_slice(h.text_bytes(*t));
            out.put_slice(b": ");
        }
    }
    out.put_slice(h.text_bytes(e.value));
}

/// Writes the header fields after a start line written without its CRLF, then the empty line.
fn write_headers<B: BufMut>(h: &Headers, out: &mut B) {
    for e in h.entries.iter() {
        write_entry(e, h, out);
    }
    out.put_slice(b"\r\n\r\n");
}

/// [`write_headers`] into a vector sized by [`headers_len`], as [`exact`] gives it: the
/// same bytes. While at least [`HEAD_MAX`] bytes of room are left, a known header's head is
/// copied as its whole fixed-size array and cut back to its length: a copy of constant size
/// is a couple of vector moves where one of variable size is a call to `memcpy` (a 200 has
/// seven fields, a request ten). Near the end the variable copy is used, so the vector is
/// never grown.
fn write_headers_vec(h: &Headers, out: &mut Vec<u8>) {
    for e in h.entries.iter() {
        if let Name::Known(k) = e.name
            && let Some(head) = HEADS.get(k as usize)
            && out.capacity() - out.len() >= HEAD_MAX
        {
            let at = out.len() + usize::from(head.len);
            out.extend_from_slice(&head.bytes);
            out.truncate(at);
            out.extend_from_slice(h.text_bytes(e.value));
        } else {
            write_entry(e, h, out);
        }
    }
    out.put_slice(b"\r\n\r\n");
}

/// The bytes [`write_headers`] writes.
fn headers_len(h: &Headers) -> usize {
    let mut n = 4;
    for e in h.entries.iter() {
        n += match &e.name {
            Name::Known(k) => head(*k).map_or(k.as_str().len() + 4, <[u8]>::len),
            Name::Other(t) => h.text_bytes(*t).len() + 4,
        };
        n += h.text_bytes(e.value).len();
    }
    n
}

/// `wire` as [`Bytes`]: `len` is the exact size, so the vector is full and becomes the
/// buffer of the `Bytes` as it is (no second allocation for a shared header).
fn exact(len: usize, write: impl FnOnce(&mut Vec<u8>)) -> Bytes {
    let mut v = Vec::with_capacity(len);
    write(&mut v);
    v.into()
}

impl Request {
    /// Appends the wire form to `out`.
    pub fn write_to<B: BufMut>(&self, out: &mut B) {
        out.put_slice(self.method.as_str().as_bytes());
        out.put_u8(b' ');
        out.put_slice(self.uri.as_str().as_bytes());
        out.put_slice(b" SIP/2.0");
        write_headers(&self.headers, out);
        out.put_slice(&self.body);
    }

    /// The wire form as new bytes.
    pub fn to_bytes(&self) -> Bytes {
        let start = self.method.as_str().len() + 1 + self.uri.as_str().len() + 8;
        let len = start + headers_len(&self.headers) + self.body.len();
        exact(len, |v| {
            v.put_slice(self.method.as_str().as_bytes());
            v.put_u8(b' ');
            v.put_slice(self.uri.as_str().as_bytes());
            v.put_slice(b" SIP/2.0");
            write_headers_vec(&self.headers, v);
            v.put_slice(&self.body);
        })
    }
}

impl Response {
    /// Appends the wire form to `out`.
    pub fn write_to<B: BufMut>(&self, out: &mut B) {
        out.put_slice(&self.status_line());
        out.put_slice(self.reason.as_bytes());
        write_headers(&self.headers, out);
        out.put_slice(&self.body);
    }

    /// The start line without its CRLF.
    fn status_line(&self) -> [u8; 12] {
        let c = self.status.as_u16();
        [
            b'S',
            b'I',
            b'P',
            b'/',
            b'2',
            b'.',
            b'0',
            b' ',
            b'0' + (c / 100) as u8,
            b'0' + (c / 10 % 10) as u8,
            b'0' + (c % 10) as u8,
            b' ',
        ]
    }

    /// The wire form as new bytes.
    pub fn to_bytes(&self) -> Bytes {
        let len = 12 + self.reason.len() + headers_len(&self.headers) + self.body.len();
        exact(len, |v| {
            v.put_slice(&self.status_line());
            v.put_slice(self.reason.as_bytes());
            write_headers_vec(&self.headers, v);
            v.put_slice(&self.body);
        })
    }
}

impl Message {
    /// Appends the wire form to `out`.
    pub fn write_to<B: BufMut>(&self, out: &mut B) {
        match self {
            Message::Request(r) => r.write_to(out),
            Message::Response(r) => r.write_to(out),
        }
    }

    /// The wire form as new bytes.
    pub fn to_bytes(&self) -> Bytes {
        match self {
            Message::Request(r) => r.to_bytes(),
            Message::Response(r) => r.to_bytes(),
        }
    }
}

impl fmt::Display for Message {
    /// The wire form, lossily decoded (bodies may be binary).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.to_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Limits, Method, StatusCode, Uri, parse_message};

    /// The writer as it was before the precomputed heads: four copies per field. The
    /// definition the fast writer keeps, byte for byte.
    fn reference(m: &Message) -> Vec<u8> {
        fn headers(h: &Headers, out: &mut Vec<u8>) {
            for f in h.iter() {
                out.extend_from_slice(f.name.as_bytes());
                out.extend_from_slice(b": ");
                out.extend_from_slice(f.value.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"\r\n");
        }
        let mut out = Vec::new();
        match m {
            Message::Request(r) => {
                out.extend_from_slice(r.method.as_str().as_bytes());
                out.push(b' ');
                out.extend_from_slice(r.uri.as_str().as_bytes());
                out.extend_from_slice(b" SIP/2.0\r\n");
                headers(&r.headers, &mut out);
                out.extend_from_slice(&r.body);
            }
            Message::Response(r) => {
                out.extend_from_slice(format!("SIP/2.0 {:03} ", r.status.as_u16()).as_bytes());
                out.extend_from_slice(r.reason.as_bytes());
                out.extend_from_slice(b"\r\n");
                headers(&r.headers, &mut out);
                out.extend_from_slice(&r.body);
            }
        }
        out
    }

    fn check(m: &Message) {
        let want = reference(m);
        let mut got = Vec::new();
        m.write_to(&mut got);
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want)
        );
        let bytes = m.to_bytes();
        assert_eq!(&bytes[..], &want[..]);
    }

    proptest::proptest! {
        /// `to_bytes` (fixed-size head copies while there is room) writes what `write_to`
        /// (the general writer) writes, for any mix of known and extension fields and value
        /// lengths around the room threshold, on requests and responses.
        #[test]
        fn to_bytes_is_write_to(
            fields in proptest::collection::vec(
                (0..HeaderName::ALL.len() + 1, "[a-z0-9 ;=]{0,40}"), 0..12),
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..30),
        ) {
            let mut headers = Headers::new();
            for (i, v) in &fields {
                match HeaderName::ALL.get(*i) {
                    Some(&h) => headers.push_known(h, v.as_str()),
                    None => headers.push("X-Other", v).unwrap(),
                }
            }
            let req = Request {
                method: Method::Options,
                uri: Uri::parse("sip:a@b").unwrap(),
                headers: headers.clone(),
                body: Bytes::from(body.clone()),
            };
            let resp = Response {
                status: StatusCode::OK,
                reason: "OK".into(),
                headers,
                body: Bytes::from(body),
            };
            for m in [Message::from(req), Message::from(resp)] {
                let mut general = Vec::new();
                m.write_to(&mut general);
                proptest::prop_assert_eq!(&m.to_bytes()[..], &general[..]);
            }
        }
    }

    #[test]
    fn every_known_head_is_crlf_name_colon_space() {
        for &h in HeaderName::ALL {
            let want = format!("\r\n{}: ", h.as_str());
            assert_eq!(head(h), Some(want.as_bytes()), "{h:?}");
        }
    }

    #[test]
    fn written_bytes_match_the_reference_writer() {
        let corpus: [&[u8]; 11] = [
            include_bytes!("../../../../corpus/invite_g711.sip"),
            include_bytes!("../../../../corpus/response_100.sip"),
            include_bytes!("../../../../corpus/response_180.sip"),
            include_bytes!("../../../../corpus/response_200_invite.sip"),
            include_bytes!("../../../../corpus/ack.sip"),
            include_bytes!("../../../../corpus/info_dtmf.sip"),
            include_bytes!("../../../../corpus/bye.sip"),
            include_bytes!("../../../../corpus/refer.sip"),
            include_bytes!("../../../../corpus/prack.sip"),
            include_bytes!("../../../../corpus/register_auth.sip"),
            include_bytes!("../../../../corpus/invite_webrtc.sip"),
        ];
        for raw in corpus {
            let m = parse_message(Bytes::from_static(raw), &Limits::default()).unwrap();
            check(&m);
            if let Message::Request(req) = &m {
                for (status, tag) in [
                    (StatusCode::TRYING, None),
                    (StatusCode::OK, Some("a6c85cf")),
                    (StatusCode::BUSY_HERE, Some("x")),
                ] {
                    let mut resp = Response::from_request(req, status, tag);
                    check(&resp.clone().into());
                    resp.reason = "".into();
                    resp.set_body("text/plain", "hello");
                    check(&resp.into());
                }
            }
        }
        // Folded values, compact and extension names, an empty header section, odd codes.
        let folded = "MESSAGE sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP a\r\n ;branch=z9hG4bK1\r\n\
                      X-Ext:  v1 \r\nx-ext: v2\r\nf: <sip:a@a>;tag=1\r\nt: <sip:b@b>\r\n\
                      i: c\r\nCSeq: 1 MESSAGE\r\nl: 2\r\n\r\nhi";
        check(&parse_message(Bytes::from_static(folded.as_bytes()), &Limits::default()).unwrap());
        let bare = Request {
            method: Method::Options,
            uri: Uri::parse("sip:a@b").unwrap(),
            headers: Headers::new(),
            body: Bytes::new(),
        };
        check(&bare.into());
        for code in [100, 199, 200, 302, 487, 599, 699] {
            let r = Response {
                status: StatusCode::new(code).unwrap(),
                reason: "Some Reason".into(),
                headers: Headers::new(),
                body: Bytes::from_static(b"\0\xff"),
            };
            check(&r.into());
        }
        let built = Request::builder(Method::Message, Uri::parse("sip:bob@b").unwrap())
            .via_rport("TLS", "h:5061", "z9hG4bK9")
            .from("\"A\" <sip:a@a>", "t1")
            .to("<sip:b@b>", Some("t2"))
            .call_id("c@h")
            .cseq(7)
            .max_forwards(9)
            .contact("<sip:a@h>")
            .header("X-Any", "thing")
            .header("subject", "s")
            .body("text/plain", "body")
            .build()
            .unwrap();
        check(&built.into());
    }
}
