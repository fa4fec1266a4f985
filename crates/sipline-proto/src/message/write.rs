//! The serializer: writes a message into a caller's buffer (RFC 3261 §7).
//!
//! Known headers are written with their canonical long names; extension headers as received.
//! Content-Length is written as stored: builders keep it equal to the body length.

use std::fmt;

use bytes::{BufMut, Bytes};

use super::headers::Name;
use super::{Headers, Message, Request, Response};

fn write_headers<B: BufMut>(h: &Headers, out: &mut B) {
    let buf = h.buf.as_bytes();
    for e in h.entries.iter() {
        let name = match &e.name {
            Name::Known(k) => k.as_str().as_bytes(),
            Name::Other(t) => t.resolve_bytes(buf),
        };
        out.put_slice(name);
        out.put_slice(b": ");
        out.put_slice(e.value.resolve_bytes(buf));
        out.put_slice(b"\r\n");
    }
    out.put_slice(b"\r\n");
}

impl Request {
    /// Appends the wire form to `out`.
    pub fn write_to<B: BufMut>(&self, out: &mut B) {
        out.put_slice(self.method.as_str().as_bytes());
        out.put_u8(b' ');
        out.put_slice(self.uri.as_str().as_bytes());
        out.put_slice(b" SIP/2.0\r\n");
        write_headers(&self.headers, out);
        out.put_slice(&self.body);
    }

    /// The wire form as new bytes.
    pub fn to_bytes(&self) -> Bytes {
        let mut v = Vec::with_capacity(512 + self.body.len());
        self.write_to(&mut v);
        v.into()
    }
}

impl Response {
    /// Appends the wire form to `out`.
    pub fn write_to<B: BufMut>(&self, out: &mut B) {
        let c = self.status.as_u16();
        out.put_slice(b"SIP/2.0 ");
        out.put_slice(&[
            b'0' + (c / 100) as u8,
            b'0' + (c / 10 % 10) as u8,
            b'0' + (c % 10) as u8,
            b' ',
        ]);
        out.put_slice(self.reason.as_bytes());
        out.put_slice(b"\r\n");
        write_headers(&self.headers, out);
        out.put_slice(&self.body);
    }

    /// The wire form as new bytes.
    pub fn to_bytes(&self) -> Bytes {
        let mut v = Vec::with_capacity(512 + self.body.len());
        self.write_to(&mut v);
        v.into()
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
