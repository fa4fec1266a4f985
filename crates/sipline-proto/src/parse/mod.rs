//! The parser: bytes to [`Message`] (RFC 3261 §7, §25), with explicit [`Limits`].
//!
//! [`parse_message`] does the structural work (start line, Request-URI, header names, line
//! folding, Content-Length framing) and copies no text: header values are spans of the input.
//! Typed views are parsed on demand ([`Headers::essentials`](crate::Headers::essentials) for the
//! transaction layer, [`Message::validate`] for everything).

mod framer;
mod lines;
pub(crate) mod scan;

use bytes::Bytes;
use bytestring::ByteString;

pub use framer::{Framed, StreamFramer};
pub use scan::unquote;

use crate::error::{ParseError, ParseErrorKind as K};
use crate::message::headers::{Entries, Entry, Grown, Name, Text};
use crate::message::{HeaderName, Headers, Message, Method, Request, Response, StatusCode, Uri};

/// Explicit bounds on what the parser accepts. Exceeding one is an error, never an
/// allocation: the parser allocates at most one entry per allowed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest whole message, header section and body, in bytes. Default 65,535 (the largest
    /// UDP payload; RFC 3261 §18.1.1 keeps UDP messages far below it).
    pub max_message_size: usize,
    /// Most header fields (lines after unfolding). Default 128.
    pub max_headers: usize,
    /// Longest line of the header section, folded lines counted apart. Default 8,192.
    pub max_line_length: usize,
    /// Most Via values. Default 70 (the Max-Forwards a UAC starts with, §8.1.1.6).
    pub max_vias: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_size: 65_535,
            max_headers: 128,
            max_line_length: 8_192,
            max_vias: 70,
        }
    }
}

fn err(kind: K, offset: usize) -> ParseError {
    ParseError::new(kind, offset)
}

/// Parses one message from a datagram (or a message cut out by [`StreamFramer`]).
///
/// Leading CRLFs are skipped (RFC 3261 §7.5). Without Content-Length the body runs to the end
/// of the input (§18.3, datagram rule); with one, bytes past it are discarded and fewer bytes
/// than it announces are an error ([`K::BodyTooShort`]).
pub fn parse_message(input: Bytes, limits: &Limits) -> Result<Message, ParseError> {
    parse_inner(input, limits, true)
}

/// Like [`parse_message`], but tolerating what a UAS must still answer rather than drop: any
/// well-formed `SIP/x.y` version (to send 505, RFC 3261 §21.5.6) and a Content-Length that
/// does not frame the body or appears twice (to send 400, §18.3, RFC 4475 §3.1.2.2, §3.3.9:
/// the body is then whatever came).
pub(crate) fn parse_salvage(input: Bytes, limits: &Limits) -> Result<Message, ParseError> {
    parse_inner(input, limits, false)
}

fn parse_inner(input: Bytes, limits: &Limits, strict: bool) -> Result<Message, ParseError> {
    match lines::scan_common(&input, limits, strict) {
        Some(scanned) => finish(input, scanned, limits, strict),
        None => parse_reference(input, limits, strict),
    }
}

/// The header section as cut into fields, before the Via count, the body framing and the
/// start line are read from it (the part both line scanners share).
pub(crate) struct Scanned {
    /// The header section through the last header line's CRLF, as text.
    head: ByteString,
    /// Where the start line begins (after leading CRLFs) and ends (its CR).
    line0: (usize, usize),
    entries: Entries,
    /// Where the body starts: after the empty line.
    body_start: usize,
    /// What the common scanner found on its way, so that `finish` need not search for it.
    counted: Option<Counted>,
}

/// Found by [`lines::scan_common`] while cutting the lines: the Via values are counted and
/// within the limit, and the first Content-Length is known.
pub(crate) struct Counted {
    /// The index of the first Content-Length entry.
    content_length: Option<usize>,
}

/// The line scanner for every input, and the reference for [`lines::scan_common`]: it finds
/// each error in order, with its offset.
fn parse_reference(input: Bytes, limits: &Limits, strict: bool) -> Result<Message, ParseError> {
    let b = &input[..];
    if b.len() > limits.max_message_size {
        return Err(err(K::MessageTooLarge, limits.max_message_size));
    }
    let mut start = 0;
    while b[start..].starts_with(b"\r\n") {
        start += 2;
    }
    if start >= b.len() {
        return Err(err(K::Empty, start));
    }
    // The header section ends at the first empty line.
    let Some(blank) = find_blank_line(&b[start..]).map(|i| start + i) else {
        return Err(err(K::Incomplete, b.len()));
    };
    let head_end = blank + 2; // through the last header line's CRLF
    let body_start = blank + 4;
    let head = match ByteString::try_from(input.slice(..head_end)) {
        Ok(h) => h,
        Err(_) => {
            let at = std::str::from_utf8(&b[..head_end])
                .err()
                .map_or(0, |e| e.valid_up_to());
            return Err(err(K::InvalidUtf8, at));
        }
    };
    let text: &str = &head;

    // Lines: each ends in CRLF; a bare CR or LF is an error.
    let mut lines = Lines {
        text,
        pos: start,
        limit: limits.max_line_length,
    };
    let (line0_start, line0) = lines.next_line()?.ok_or(err(K::Incomplete, start))?;

    // Header lines, scanned byte by byte: lines are short, so one pass per line beats
    // several SIMD searches. Each line ends in CRLF; a bare CR or LF is an error.
    let hb = text.as_bytes();
    let end = hb.len();
    let is_ws = |c: u8| c == b' ' || c == b'\t';
    // One entry per remaining line (folded lines make this a little more than needed): the
    // vector is allocated once at its final size, never grown nor shrunk.
    let lines_left = memchr::memchr_iter(b'\n', &hb[lines.pos..]).count();
    let mut entries: Vec<Entry> = Vec::with_capacity(lines_left.min(limits.max_headers));
    let mut has_content_length = false;
    // Whether the last entry took continuation lines and must be unfolded (§7.3.1).
    let mut folded = false;
    // The unfolded values, end to end (the headers' side buffer).
    let mut side = String::new();
    let mut pos = lines.pos;
    // The end of a line: the first CR or LF from `from`, which must be CRLF (one SIMD pass).
    let eol = |from: usize| -> Result<usize, ParseError> {
        let le = memchr::memchr2(b'\r', b'\n', &hb[from..]).map_or(end, |i| from + i);
        if le >= end || hb[le] != b'\r' || hb.get(le + 1) != Some(&b'\n') {
            return Err(err(K::InvalidLineEnding, le));
        }
        Ok(le)
    };
    while pos < end {
        let ls = pos;
        if is_ws(hb[ls]) {
            // Folding: the line continues the previous field.
            let le = eol(ls)?;
            if le - ls > limits.max_line_length {
                return Err(err(K::LineTooLong, ls));
            }
            pos = le + 2;
            let Some(last) = entries.last_mut() else {
                return Err(err(K::InvalidHeaderName, ls));
            };
            let mut te = le;
            while te > ls && is_ws(hb[te - 1]) {
                te -= 1;
            }
            if !last.value.in_side() && te > ls {
                last.value.set_end(te as u32);
            }
            folded = true;
            continue;
        }
        if folded {
            unfold_last(&mut entries, text, &mut side);
            folded = false;
        }
        if entries.len() >= limits.max_headers {
            return Err(err(K::TooManyHeaders, ls));
        }
        // field-name HCOLON: token, optional whitespace, ':'
        let mut i = ls;
        while i < end && scan::is_token(hb[i]) {
            i += 1;
        }
        let name_end = i;
        while i < end && is_ws(hb[i]) {
            i += 1;
        }
        if name_end == ls || i >= end || hb[i] != b':' {
            return Err(err(K::InvalidHeaderName, ls));
        }
        i += 1;
        let le = eol(i)?;
        if le - ls > limits.max_line_length {
            return Err(err(K::LineTooLong, ls));
        }
        pos = le + 2;
        while i < le && is_ws(hb[i]) {
            i += 1;
        }
        let vs = i;
        let mut ve = le;
        while ve > vs && is_ws(hb[ve - 1]) {
            ve -= 1;
        }
        let name = match HeaderName::from_bytes(&hb[ls..name_end]) {
            Some(h) => Name::Known(h),
            None => Name::Other(Text::span(ls as u32, name_end as u32)),
        };
        if matches!(name, Name::Known(HeaderName::ContentLength)) {
            if has_content_length && strict {
                return Err(err(K::DuplicateHeader(HeaderName::ContentLength), ls));
            }
            has_content_length = true;
        }
        entries.push(Entry {
            name,
            value: Text::span(vs as u32, ve as u32),
            offset: vs as u32,
        });
    }
    if folded {
        unfold_last(&mut entries, text, &mut side);
    }
    let line0 = (line0_start, line0_start + line0.len());
    // The vector was reserved for more fields than most messages have; a kept message (an
    // INVITE lives as long as its call) should not carry the slack.
    entries.shrink_to_fit();
    let entries = Entries::Growable(std::sync::Arc::new(Grown {
        list: entries,
        side,
    }));
    finish(
        input,
        Scanned {
            head,
            line0,
            entries,
            body_start,
            counted: None,
        },
        limits,
        strict,
    )
}

/// Counts the Via values, frames the body by Content-Length and reads the start line.
fn finish(
    input: Bytes,
    scanned: Scanned,
    limits: &Limits,
    strict: bool,
) -> Result<Message, ParseError> {
    let Scanned {
        head,
        line0: (line0_start, line0_end),
        entries,
        body_start,
        counted,
    } = scanned;
    let b = &input[..];
    let text: &str = &head;

    let cl = match counted {
        Some(c) => c.content_length.and_then(|i| entries.get(i)),
        None => {
            count_vias(&entries, text, entries.side(), limits)?;
            entries
                .iter()
                .find(|e| matches!(e.name, Name::Known(HeaderName::ContentLength)))
        }
    };
    // Body framing (§18.3), from the complete (possibly unfolded) Content-Length value.
    let body = match cl {
        Some(e) => {
            let (at, v) = match e.value.buf_range() {
                Some((vs, ve)) => (vs, text.get(vs..ve).unwrap_or("")),
                None => (0, side_text(entries.side(), e.value)),
            };
            let framed = parse_content_length(v, limits)
                .map_err(|_| err(K::InvalidContentLength, at))
                .and_then(|len| {
                    body_start
                        .checked_add(len)
                        .ok_or(err(K::InvalidContentLength, at))
                })
                .and_then(|end| {
                    if end > b.len() {
                        Err(err(K::BodyTooShort, b.len()))
                    } else {
                        Ok(end)
                    }
                });
            match framed {
                Ok(end) => input.slice(body_start..end),
                Err(_) if !strict => input.slice(body_start..),
                Err(e) => return Err(e),
            }
        }
        None => input.slice(body_start..),
    };

    // The header buffer moves into the headers (no reference count taken and dropped);
    // the start line is read from it there.
    let headers = Headers::from_parts(head, entries);
    start_line(headers, line0_start, line0_end, body, strict)
}

/// Counts the Via values on the unfolded values (commas inside quoted parameters count too:
/// the limit errs on the safe side).
fn count_vias(
    entries: &[Entry],
    text: &str,
    side: &str,
    limits: &Limits,
) -> Result<(), ParseError> {
    let mut vias = 0usize;
    for e in entries
        .iter()
        .filter(|e| matches!(e.name, Name::Known(HeaderName::Via)))
    {
        let v = match e.value.buf_range() {
            Some((vs, ve)) => text.as_bytes().get(vs..ve).unwrap_or(b""),
            None => side_text(side, e.value).as_bytes(),
        };
        // Most values hold one via-parm: one search, and a count only past a first comma.
        vias += 1 + memchr::memchr(b',', v)
            .map_or(0, |i| 1 + memchr::memchr_iter(b',', &v[i + 1..]).count());
        if vias > limits.max_vias {
            return Err(err(
                K::TooManyVias,
                e.value.buf_range().map_or(0, |(vs, _)| vs),
            ));
        }
    }
    Ok(())
}

/// The first `CRLF CRLF`: the end of the header section (a searcher built once, not per call).
fn find_blank_line(b: &[u8]) -> Option<usize> {
    static FINDER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"\r\n\r\n"));
    FINDER.find(b)
}

/// Parses a Content-Length value: 1*DIGIT, at most the message size limit.
fn parse_content_length(v: &str, limits: &Limits) -> Result<usize, ()> {
    // Stored values are trimmed already; the check is cheaper than the trim.
    let ws = |c: Option<&u8>| matches!(c, Some(b' ' | b'\t'));
    let v = if ws(v.as_bytes().first()) || ws(v.as_bytes().last()) {
        v.trim_matches([' ', '\t'])
    } else {
        v
    };
    if v.is_empty() || v.len() > 10 || !v.bytes().all(|c| c.is_ascii_digit()) {
        return Err(());
    }
    // At most 10 digits: no overflow in a u64.
    let n = v.bytes().fold(0u64, |n, c| n * 10 + u64::from(c - b'0'));
    let n = usize::try_from(n).map_err(|_| ())?;
    if n > limits.max_message_size {
        Err(())
    } else {
        Ok(n)
    }
}

/// A text of the side buffer being built, before the headers hold it.
fn side_text(side: &str, t: Text) -> &str {
    t.side_range().and_then(|r| side.get(r)).unwrap_or("")
}

/// Turns the last entry's span, which crosses continuation lines, into its unfolded text,
/// appended to `side` (the headers' side buffer, in the making).
fn unfold_last(entries: &mut [Entry], text: &str, side: &mut String) {
    if let Some(last) = entries.last_mut()
        && let Some((vs, ve)) = last.value.buf_range()
    {
        let start = side.len();
        side.push_str(&unfold(text.get(vs..ve).unwrap_or("")));
        last.value = Text::side_span(start as u32, side.len() as u32);
    }
}

/// Replaces every `*WSP CRLF 1*WSP` by one SP (RFC 3261 §7.3.1) and trims.
fn unfold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, part) in s.split("\r\n").enumerate() {
        if i == 0 {
            out.push_str(part.trim_end_matches([' ', '\t']));
        } else {
            let p = part.trim_matches([' ', '\t']);
            if !p.is_empty() {
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(p);
            }
        }
    }
    out
}

struct Lines<'a> {
    text: &'a str,
    pos: usize,
    limit: usize,
}

impl<'a> Lines<'a> {
    /// The next non-empty line (without CRLF) and its offset; `None` at the end.
    fn next_line(&mut self) -> Result<Option<(usize, &'a str)>, ParseError> {
        let b = self.text.as_bytes();
        if self.pos >= b.len() {
            return Ok(None);
        }
        let ls = self.pos;
        // The first CR or LF ends the line; it must be a CR followed by LF (one SIMD pass).
        let le = memchr::memchr2(b'\r', b'\n', &b[ls..])
            .map(|i| ls + i)
            .ok_or(err(K::InvalidLineEnding, b.len()))?;
        if b[le] != b'\r' || b.get(le + 1) != Some(&b'\n') {
            return Err(err(K::InvalidLineEnding, le));
        }
        let nl = le + 1;
        if le - ls > self.limit {
            return Err(err(K::LineTooLong, ls));
        }
        self.pos = nl + 1;
        if le == ls {
            // Only the final empty line can be empty; the caller cut the text before it.
            return Err(err(K::InvalidLineEnding, ls));
        }
        Ok(Some((ls, &self.text[ls..le])))
    }
}

/// Checks `SIP/2.0` (case-insensitive literal, §25.1); distinguishes other versions (505).
fn check_version(v: &str, at: usize) -> Result<(), ParseError> {
    // Nearly every message writes it in capitals: one comparison before the general check.
    if v == "SIP/2.0" || v.eq_ignore_ascii_case("SIP/2.0") {
        return Ok(());
    }
    let well_formed = v.len() > 4
        && v.as_bytes()[..4].eq_ignore_ascii_case(b"SIP/")
        && v[4..].split_once('.').is_some_and(|(a, b)| {
            !a.is_empty()
                && !b.is_empty()
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.bytes().all(|c| c.is_ascii_digit())
        });
    Err(err(
        if well_formed {
            K::UnsupportedVersion
        } else {
            K::InvalidVersion
        },
        at,
    ))
}

/// Reads the start line, `ls..le` of the header buffer, into the message.
fn start_line(
    headers: Headers,
    ls: usize,
    le: usize,
    body: Bytes,
    strict_version: bool,
) -> Result<Message, ParseError> {
    let head = &headers.buf;
    let line = head.get(ls..le).ok_or(err(K::InvalidStartLine, ls))?;
    let check_version = |v: &str, at: usize| match check_version(v, at) {
        Err(e) if !strict_version && e.kind == K::UnsupportedVersion => Ok(()),
        r => r,
    };
    if line.len() >= 4 && line.as_bytes()[..4].eq_ignore_ascii_case(b"SIP/") {
        // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase (§7.2)
        let sp = line
            .bytes()
            .position(|c| c == b' ')
            .ok_or(err(K::InvalidStartLine, ls))?;
        let (version, rest) = (&line[..sp], &line[sp + 1..]);
        check_version(version, ls)?;
        let at = ls + version.len() + 1;
        let (code, reason) = match rest.bytes().position(|c| c == b' ') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };
        if code.len() != 3 || !code.bytes().all(|c| c.is_ascii_digit()) {
            return Err(err(K::InvalidStatusCode, at));
        }
        let status = code
            .parse()
            .ok()
            .and_then(StatusCode::new)
            .ok_or(err(K::InvalidStatusCode, at))?;
        if has_ctl(reason.as_bytes()) {
            return Err(err(K::InvalidReasonPhrase, at + 4));
        }
        return Ok(Message::Response(Response {
            status,
            reason: head.slice_ref(reason),
            headers,
            body,
        }));
    }
    match request_line(head, ls, line, check_version) {
        Ok((method, uri)) => Ok(Message::Request(Request {
            method,
            uri,
            headers,
            body,
        })),
        // Salvage: a request whose start line is broken still has the headers a 400 needs
        // (RFC 4475 §3.1.2.7-11); the placeholder URI never leaves the endpoint.
        Err(e) if !strict_version => {
            let token = line.split(' ').next().unwrap_or("");
            let method = Method::parse(token)
                .unwrap_or(Method::Extension(ByteString::from_static("UNKNOWN")));
            let uri = Uri::parse("sip:invalid.invalid").map_err(|_| e)?;
            Ok(Message::Request(Request {
                method,
                uri,
                headers,
                body,
            }))
        }
        Err(e) => Err(e),
    }
}

/// Whether `b` holds SP or HTAB: a fold without early exit, which the compiler vectorises.
fn has_ws(b: &[u8]) -> bool {
    b.iter()
        .fold(0u8, |a, &c| a | u8::from(c == b' ') | u8::from(c == b'\t'))
        != 0
}

/// Whether `b` holds a control character other than HTAB (not allowed in a Reason-Phrase,
/// §25.1 TEXT-UTF8): a fold without early exit, which the compiler vectorises.
fn has_ctl(b: &[u8]) -> bool {
    b.iter().fold(0u8, |a, &c| {
        a | u8::from(c < 0x20 && c != b'\t') | u8::from(c == 0x7f)
    }) != 0
}

/// `Method SP Request-URI SP SIP-Version` (§7.1): single spaces, no others.
fn request_line(
    head: &ByteString,
    ls: usize,
    line: &str,
    check_version: impl Fn(&str, usize) -> Result<(), ParseError>,
) -> Result<(Method, Uri), ParseError> {
    let lb = line.as_bytes();
    let sp1 = lb
        .iter()
        .position(|&c| c == b' ')
        .ok_or(err(K::InvalidStartLine, ls))?;
    // Most request lines end in " SIP/2.0": its space is the last one.
    let sp2 = if lb.ends_with(b" SIP/2.0") {
        lb.len() - 8
    } else {
        lb.iter()
            .rposition(|&c| c == b' ')
            .ok_or(err(K::InvalidStartLine, ls))?
    };
    if sp1 == sp2 {
        return Err(err(K::InvalidStartLine, ls + sp1));
    }
    // Extra whitespace around the elements (RFC 4475 §3.1.2.9 lwsstart, §3.1.2.10 trws).
    if lb[sp1 + 1] == b' ' || lb[sp2 - 1] == b' ' || line.ends_with([' ', '\t']) {
        return Err(err(
            K::InvalidStartLine,
            ls + if lb[sp1 + 1] == b' ' { sp1 + 1 } else { sp2 },
        ));
    }
    let method = Method::parse_shared(head, &line[..sp1]).ok_or(err(K::InvalidMethod, ls))?;
    let uri_s = &line[sp1 + 1..sp2];
    let uri_at = ls + sp1 + 1;
    if uri_s.is_empty() || has_ws(uri_s.as_bytes()) || uri_s.starts_with('<') {
        return Err(err(K::InvalidUri, uri_at));
    }
    check_version(&line[sp2 + 1..], ls + sp2 + 1)?;
    let uri = Uri::parse_shared(head, uri_s).map_err(|e| e.shifted(uri_at))?;
    // RFC 3261 §19.1.1 Table 1: no headers component in a Request-URI (RFC 4475 §3.1.2.11).
    if let Some(h) = uri.as_ref().headers() {
        return Err(err(K::InvalidUri, uri_at + uri_s.len() - h.len() - 1));
    }
    Ok((method, uri))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Message, ParseError> {
        parse_message(Bytes::copy_from_slice(s.as_bytes()), &Limits::default())
    }

    const INVITE: &str = "INVITE sip:bob@biloxi.com SIP/2.0\r\n\
v: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds, SIP/2.0/TCP p2.x.com:5061;branch=z9hG4bKx\r\n\
Max-Forwards: 70\r\nt: Bob\r\n <sip:bob@biloxi.com>\r\n\
From: \"Alice \\\"A\\\"\" <sip:alice@atlanta.com>;tag=1928301774\r\n\
i: a84b4c76e66710@pc33.atlanta.com\r\nCSeq: 314159 INVITE\r\n\
X-Custom-Thing:  keep me  \r\nc: application/sdp\r\nl: 4\r\n\r\nv=0\r\nextra";

    #[test]
    fn parses_request_with_compact_and_folded_headers() {
        let Message::Request(r) = parse(INVITE).unwrap() else {
            panic!()
        };
        assert_eq!(r.method, Method::Invite);
        assert_eq!(r.uri.as_str(), "sip:bob@biloxi.com");
        assert_eq!(
            r.headers.get(HeaderName::To),
            Some("Bob <sip:bob@biloxi.com>")
        );
        assert_eq!(r.headers.get_other("x-custom-thing"), Some("keep me"));
        assert_eq!(&r.body[..], b"v=0\r");
        let e = r.essentials().unwrap();
        assert_eq!(e.via.branch(), Some("z9hG4bK776asdhds"));
        assert_eq!(e.cseq.seq, 314159);
        assert_eq!(e.from_tag, Some("1928301774"));
        assert_eq!(e.to_tag, None);
        assert_eq!(e.call_id, "a84b4c76e66710@pc33.atlanta.com");
        assert_eq!(r.headers.vias().count(), 2);
        assert_eq!(
            r.headers.from().unwrap().display_name().unwrap(),
            "Alice \"A\""
        );
        r.validate().unwrap();
    }

    #[test]
    fn rejects_with_kinds() {
        assert_eq!(parse("").unwrap_err().kind, K::Empty);
        assert_eq!(parse("\r\n\r\n").unwrap_err().kind, K::Empty);
        assert_eq!(
            parse("INVITE sip:a@b SIP/2.0\r\n").unwrap_err().kind,
            K::Incomplete
        );
        assert_eq!(
            parse("INVITE sip:a@b SIP/7.0\r\n\r\n").unwrap_err().kind,
            K::UnsupportedVersion
        );
        assert_eq!(
            parse("INVITE sip:a@b SIP/2.x\r\n\r\n").unwrap_err().kind,
            K::InvalidVersion
        );
        assert_eq!(
            parse("INVITE  sip:a@b SIP/2.0\r\n\r\n").unwrap_err().kind,
            K::InvalidStartLine
        );
        assert_eq!(
            parse("INVITE sip:a@b;x y SIP/2.0\r\n\r\n")
                .unwrap_err()
                .kind,
            K::InvalidUri
        );
        assert_eq!(
            parse("INVITE sip:a@b SIP/2.0\nVia: x\r\n\r\n")
                .unwrap_err()
                .kind,
            K::InvalidLineEnding
        );
        assert_eq!(
            parse("SIP/2.0 99 Odd\r\n\r\n").unwrap_err().kind,
            K::InvalidStatusCode
        );
        assert_eq!(
            parse("OPTIONS sip:a@b SIP/2.0\r\nl: 10\r\n\r\nabc")
                .unwrap_err()
                .kind,
            K::BodyTooShort
        );
        assert_eq!(
            parse("OPTIONS sip:a@b SIP/2.0\r\nl: -1\r\n\r\n")
                .unwrap_err()
                .kind,
            K::InvalidContentLength
        );
        let e = parse("OPTIONS sip:a@b SIP/2.0\r\nBad Name: x\r\n\r\n").unwrap_err();
        assert_eq!((e.kind, e.offset), (K::InvalidHeaderName, 25));
        assert_eq!(
            e.to_string(),
            "invalid_header_name at byte 25: malformed header name"
        );
    }

    #[test]
    fn limits_are_enforced() {
        let l = Limits {
            max_headers: 2,
            max_line_length: 40,
            max_vias: 1,
            max_message_size: 200,
        };
        let p = |s: &str| {
            parse_message(Bytes::copy_from_slice(s.as_bytes()), &l)
                .unwrap_err()
                .kind
        };
        assert_eq!(
            p("OPTIONS sip:a@b SIP/2.0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"),
            K::TooManyHeaders
        );
        assert_eq!(
            p(&format!(
                "OPTIONS sip:a@b SIP/2.0\r\nA: {}\r\n\r\n",
                "x".repeat(50)
            )),
            K::LineTooLong
        );
        assert_eq!(
            p("OPTIONS sip:a@b SIP/2.0\r\nVia: a, b\r\n\r\n"),
            K::TooManyVias
        );
        assert_eq!(p(&"x".repeat(201)), K::MessageTooLarge);
    }

    proptest::proptest! {
        /// The folds the start line uses find what `any` finds.
        #[test]
        fn folds_match_any(b in proptest::collection::vec(proptest::sample::select(
            &b" \t\x00\x1f\x7f\x80ab:"[..]), 0..40)) {
            proptest::prop_assert_eq!(has_ws(&b), b.iter().any(|&c| c == b' ' || c == b'\t'));
            proptest::prop_assert_eq!(
                has_ctl(&b),
                b.iter().any(|&c| c < 0x20 && c != b'\t' || c == 0x7f)
            );
        }

        /// The Content-Length parse gives what the general code (`trim`, `str::parse`) gives.
        #[test]
        fn content_length_matches_the_general_code(
            v in "[0-9 \t+a-]{0,13}",
            max in proptest::sample::select(vec![65_535usize, usize::MAX]),
        ) {
            let limits = Limits { max_message_size: max, ..Limits::default() };
            let t = v.trim_matches([' ', '\t']);
            let general = if t.is_empty() || t.len() > 10 || !t.bytes().all(|c| c.is_ascii_digit()) {
                Err(())
            } else {
                t.parse::<usize>().map_err(drop).and_then(|n| if n > max { Err(()) } else { Ok(n) })
            };
            proptest::prop_assert_eq!(parse_content_length(&v, &limits), general);
        }
    }

    #[test]
    fn response_reason_may_be_empty() {
        let Message::Response(r) = parse("SIP/2.0 200\r\nl: 0\r\n\r\n").unwrap() else {
            panic!()
        };
        assert_eq!((r.status, &*r.reason), (StatusCode::OK, ""));
    }
}
