//! Cutting messages out of a byte stream (TCP, TLS, WebSocket text frames): RFC 3261 §18.3
//! Content-Length framing and the CRLF keep-alives of RFC 5626 §3.5.1.

use bytes::{Buf, Bytes, BytesMut};

use super::Limits;
use crate::error::{ParseError, ParseErrorKind as K};

/// What the framer found at the front of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Framed {
    /// One whole message (header section and body), ready for [`super::parse_message`].
    Message(Bytes),
    /// A keep-alive ping, `CRLF CRLF` (RFC 5626 §3.5.1): answer with a pong (`CRLF`).
    Ping,
    /// A keep-alive pong, a single `CRLF`. A ping split across two reads right after its
    /// first CRLF shows as `Pong` then `Ping`; answering the `Ping` keeps the flow alive.
    Pong,
}

/// Accumulates stream bytes and yields whole messages.
///
/// Work is linear in the bytes received: the search for the end of the header section
/// resumes where it stopped. After an error the stream cannot be resynchronised; the framer
/// keeps returning that error and the connection should be closed.
#[derive(Debug)]
pub struct StreamFramer {
    buf: BytesMut,
    limits: Limits,
    scanned: usize,
    /// Total length of the message at the front, once its header section is known.
    expected: Option<usize>,
    failed: Option<ParseError>,
    consumed: usize,
    /// The last item was a lone CRLF that ended the buffer: a ping may have been split.
    lone_crlf: bool,
}

impl StreamFramer {
    /// A framer enforcing `limits` (the message size bounds the buffer).
    pub fn new(limits: Limits) -> Self {
        Self {
            buf: BytesMut::new(),
            limits,
            scanned: 0,
            expected: None,
            failed: None,
            consumed: 0,
            lone_crlf: false,
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, data: &[u8]) {
        if self.failed.is_none() {
            self.buf.extend_from_slice(data);
        }
    }

    /// Bytes buffered and not yet framed.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next framed item, `Ok(None)` if more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Framed>, ParseError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let r = self.next_inner();
        if let Err(e) = r {
            self.failed = Some(e);
            self.buf = BytesMut::new();
        }
        r
    }

    fn take(&mut self, n: usize) -> Bytes {
        self.consumed += n;
        self.scanned = 0;
        self.expected = None;
        self.buf.split_to(n).freeze()
    }

    fn next_inner(&mut self) -> Result<Option<Framed>, ParseError> {
        if self.expected.is_none() {
            // Keep-alives between messages.
            if self.buf.starts_with(b"\r\n\r\n") {
                self.buf.advance(4);
                self.consumed += 4;
                self.lone_crlf = false;
                return Ok(Some(Framed::Ping));
            }
            if self.buf.starts_with(b"\r\n") {
                if self.buf.len() == 3 && self.buf[2] == b'\r' {
                    return Ok(None); // maybe the first three bytes of a ping
                }
                // A lone CRLF is a pong, unless it completes a ping whose first half came
                // alone (a ping split across reads).
                let item = if self.lone_crlf {
                    Framed::Ping
                } else {
                    Framed::Pong
                };
                self.lone_crlf = self.buf.len() == 2 && item == Framed::Pong;
                self.buf.advance(2);
                self.consumed += 2;
                return Ok(Some(item));
            }
            if self.buf.len() < 4 && self.buf.iter().all(|&b| b == b'\r' || b == b'\n') {
                return Ok(None);
            }
            self.lone_crlf = false;
            let from = self.scanned.saturating_sub(3);
            let Some(i) = super::find_blank_line(&self.buf[from..]) else {
                self.scanned = self.buf.len();
                if self.buf.len() > self.limits.max_message_size {
                    return Err(ParseError::new(
                        K::MessageTooLarge,
                        self.consumed + self.limits.max_message_size,
                    ));
                }
                return Ok(None);
            };
            let head_len = from + i + 4;
            let cl = content_length(&self.buf[..head_len])
                .map_err(|k| ParseError::new(k, self.consumed))?;
            let total = head_len
                .checked_add(cl)
                .filter(|&t| t <= self.limits.max_message_size);
            let Some(total) = total else {
                return Err(ParseError::new(K::MessageTooLarge, self.consumed));
            };
            self.expected = Some(total);
        }
        match self.expected {
            Some(total) if self.buf.len() >= total => Ok(Some(Framed::Message(self.take(total)))),
            _ => Ok(None),
        }
    }
}

/// Finds Content-Length (or `l`) in a header section; mandatory on streams (§18.3). A value
/// folded onto continuation lines (§7.3.1) is read across them. No allocation: the digits
/// are accumulated as they are met.
fn content_length(head: &[u8]) -> Result<usize, K> {
    let mut lines = SplitLf { rest: Some(head) }
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .skip(1)
        .peekable();
    let mut found = None;
    while let Some(line) = lines.next() {
        // Only a line starting with `c` or `l` can name Content-Length (the name is not
        // trimmed at its start): every other line is skipped without a search.
        if !matches!(line.first(), Some(b'c' | b'C' | b'l' | b'L')) {
            continue;
        }
        let Some(colon) = memchr::memchr(b':', line) else {
            continue;
        };
        let name = line[..colon].trim_ascii_end();
        if !(name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l")) {
            continue;
        }
        let (mut n, mut digits) = (0usize, 0usize);
        let mut add = |part: &[u8]| -> Result<(), K> {
            for &d in part.trim_ascii() {
                if !d.is_ascii_digit() || digits == 10 {
                    return Err(K::InvalidContentLength);
                }
                n = n * 10 + usize::from(d - b'0');
                digits += 1;
            }
            Ok(())
        };
        add(&line[colon + 1..])?;
        while let Some(cont) =
            lines.next_if(|l| l.first().is_some_and(|&b| b == b' ' || b == b'\t'))
        {
            add(cont)?;
        }
        if digits == 0 {
            return Err(K::InvalidContentLength);
        }
        if found.is_some() {
            return Err(K::DuplicateHeader(crate::HeaderName::ContentLength));
        }
        found = Some(n);
    }
    found.ok_or(K::MissingContentLength)
}

/// The pieces of a byte string between LFs (as `split(|&b| b == b'\n')`), one SIMD search per
/// line rather than a test per byte.
struct SplitLf<'a> {
    rest: Option<&'a [u8]>,
}

impl<'a> Iterator for SplitLf<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let rest = self.rest?;
        match memchr::memchr(b'\n', rest) {
            Some(i) => {
                self.rest = rest.get(i + 1..);
                rest.get(..i)
            }
            None => self.rest.take(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 3\r\n\r\nabc";

    fn frame_all(chunks: &[&[u8]]) -> Vec<Framed> {
        let mut f = StreamFramer::new(Limits::default());
        let mut out = Vec::new();
        for c in chunks {
            f.push(c);
            while let Some(x) = f.next_frame().unwrap() {
                out.push(x);
            }
        }
        out
    }

    #[test]
    fn keepalives_in_whole_reads() {
        let m = Framed::Message(Bytes::from_static(MSG));
        assert_eq!(
            frame_all(&[b"\r\n\r\n", MSG, b"\r\n"]),
            [Framed::Ping, m.clone(), Framed::Pong]
        );
        assert_eq!(frame_all(&[b"\r\n\r\n\r\n"]), [Framed::Ping, Framed::Pong]);
    }

    #[test]
    fn frames_byte_by_byte_with_keepalives() {
        let mut f = StreamFramer::new(Limits::default());
        let mut stream = b"\r\n\r\n".to_vec();
        stream.extend_from_slice(MSG);
        stream.extend_from_slice(MSG);
        stream.extend_from_slice(b"\r\n");
        let mut out = Vec::new();
        for b in &stream {
            f.push(std::slice::from_ref(b));
            while let Some(x) = f.next_frame().unwrap() {
                out.push(x);
            }
        }
        assert_eq!(
            out,
            [
                Framed::Pong,
                Framed::Ping,
                Framed::Message(Bytes::from_static(MSG)),
                Framed::Message(Bytes::from_static(MSG)),
                Framed::Pong
            ]
        );
    }

    #[test]
    fn lines_split_as_the_slice_split_does() {
        for s in [
            &b""[..],
            b"\n",
            b"a",
            b"a\n",
            b"a\r\nb\r\n\r\n",
            b"\n\nx\ny",
        ] {
            let ours: Vec<&[u8]> = SplitLf { rest: Some(s) }.collect();
            let std: Vec<&[u8]> = s.split(|&b| b == b'\n').collect();
            assert_eq!(ours, std);
        }
    }

    #[test]
    fn content_length_in_any_spelling() {
        for (head, want) in [
            (&b"X\r\nContent-Length: 12\r\n\r\n"[..], Ok(12)),
            (b"X\r\nl: 7\r\n\r\n", Ok(7)),
            (b"X\r\nCONTENT-LENGTH :1\r\n 2\r\n\r\n", Ok(12)),
            (
                b"X\r\n content-length: 5\r\n\r\n",
                Err(K::MissingContentLength),
            ),
            (
                b"X\r\nL: 1\r\nl: 1\r\n\r\n",
                Err(K::DuplicateHeader(crate::HeaderName::ContentLength)),
            ),
            (b"X\r\nl: x\r\n\r\n", Err(K::InvalidContentLength)),
        ] {
            assert_eq!(
                content_length(head),
                want,
                "{:?}",
                String::from_utf8_lossy(head)
            );
        }
    }

    #[test]
    fn errors_are_sticky() {
        let mut f = StreamFramer::new(Limits::default());
        f.push(b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n");
        assert_eq!(f.next_frame().unwrap_err().kind, K::MissingContentLength);
        f.push(MSG);
        assert!(f.next_frame().is_err());
        let mut g = StreamFramer::new(Limits {
            max_message_size: 100,
            ..Limits::default()
        });
        g.push(&[b'x'; 101]);
        assert_eq!(g.next_frame().unwrap_err().kind, K::MessageTooLarge);
    }
}
