//! The header section's lines in the common case (RFC 3261 §7.3): one SIMD search per line
//! end, and no other pass over the values than their trimming.
//!
//! [`scan_common`] accepts a header section whose every line ends in CRLF, holds no bare CR or
//! LF, no folding (§7.3.1), and no whitespace between a field name and its colon, within the
//! [`Limits`]. On anything else it returns `None` and the caller runs the reference scanner
//! (`parse_reference`), which finds the error, with its offset, or handles the rare shape. What
//! this accepts, the reference accepts with the same fields (a proptest compares the two).

use bytes::Bytes;
use bytestring::ByteString;

use super::{Limits, Scanned, scan};
use crate::message::HeaderName;
use crate::message::headers::{Entry, Name, Text};

/// Most lines (start line, header fields and the empty line) the common scanner handles;
/// longer header sections go to the reference scanner.
const MAX_LINES: usize = 64;

#[inline]
fn is_ws(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// Cuts the header section of `input` into fields, or `None` for the reference scanner.
pub(super) fn scan_common(input: &Bytes, limits: &Limits, strict: bool) -> Option<Scanned> {
    let b = &input[..];
    if b.len() > limits.max_message_size || b.starts_with(b"\r\n") {
        return None;
    }
    // Pass 1: where each line ends (its CR), up to the empty line. The first CR or LF of a
    // line must be a CR followed by LF: no bare CR or LF.
    let mut ends = [0u32; MAX_LINES];
    let mut n = 0;
    let mut ls = 0;
    let head_end = loop {
        let le = ls + memchr::memchr2(b'\r', b'\n', &b[ls..])?;
        if b[le] != b'\r' || b.get(le + 1) != Some(&b'\n') || n == MAX_LINES {
            return None;
        }
        if le - ls > limits.max_line_length {
            return None;
        }
        ends[n] = le as u32;
        n += 1;
        if le == ls {
            break ls;
        }
        ls = le + 2;
    };
    // `n` >= 2: the start line is not empty (no leading CRLF), the last line is.
    let body_start = head_end + 2;
    let head = ByteString::try_from(input.slice(..head_end)).ok()?;
    let fields = n - 2;
    if fields > limits.max_headers {
        return None;
    }

    // Pass 2: each header line, whose bounds are known.
    let hb = head.as_bytes();
    let mut entries: Vec<Entry> = Vec::with_capacity(fields);
    let mut has_content_length = false;
    for k in 1..n - 1 {
        let ls = ends[k - 1] as usize + 2;
        let le = ends[k] as usize;
        let line = &hb[ls..le];
        // field-name HCOLON, the colon right after the name.
        let name_len = line.iter().position(|&c| !scan::is_token(c))?;
        if name_len == 0 || line[name_len] != b':' {
            return None;
        }
        let mut vs = ls + name_len + 1;
        while vs < le && is_ws(hb[vs]) {
            vs += 1;
        }
        let mut ve = le;
        while ve > vs && is_ws(hb[ve - 1]) {
            ve -= 1;
        }
        let name = match HeaderName::from_bytes(&line[..name_len]) {
            Some(h) => Name::Known(h),
            None => Name::Other(Box::new(Text::Span(ls as u32, (ls + name_len) as u32))),
        };
        if matches!(name, Name::Known(HeaderName::ContentLength)) {
            if has_content_length && strict {
                return None;
            }
            has_content_length = true;
        }
        entries.push(Entry {
            name,
            value: Text::Span(vs as u32, ve as u32),
            offset: vs as u32,
        });
    }
    Some(Scanned {
        head,
        line0: (0, ends[0] as usize),
        entries,
        body_start,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::{Limits, parse_inner, parse_reference};
    use crate::{Message, ParseError};

    const CORPUS: &[&[u8]] = &[
        include_bytes!("../../../../corpus/invite_g711.sip"),
        include_bytes!("../../../../corpus/response_100.sip"),
        include_bytes!("../../../../corpus/response_180.sip"),
        include_bytes!("../../../../corpus/response_200_invite.sip"),
        include_bytes!("../../../../corpus/ack.sip"),
        include_bytes!("../../../../corpus/bye.sip"),
        include_bytes!("../../../../corpus/register_auth.sip"),
        include_bytes!("../../../../corpus/invite_webrtc.sip"),
        include_bytes!("../../../../corpus/prack.sip"),
        include_bytes!("../../../../corpus/refer.sip"),
        include_bytes!("../../../../corpus/info_dtmf.sip"),
    ];

    /// Everything a parse yields, offsets included, for comparing two scanners.
    fn outcome(r: Result<Message, ParseError>) -> String {
        match r {
            Ok(m) => {
                let offsets: Vec<u32> = m.headers().entries.iter().map(|e| e.offset).collect();
                format!("{m:?} {offsets:?} {:?}", m.body())
            }
            Err(e) => format!("{e:?}"),
        }
    }

    fn same(input: &[u8], limits: &Limits) {
        for strict in [true, false] {
            let b = bytes::Bytes::copy_from_slice(input);
            let fast = parse_inner(b.clone(), limits, strict);
            let reference = parse_reference(b, limits, strict);
            assert_eq!(
                outcome(fast),
                outcome(reference),
                "strict {strict}: {:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn the_corpus_takes_the_common_path_with_the_reference_result() {
        let limits = Limits::default();
        for raw in CORPUS {
            let b = bytes::Bytes::from_static(raw);
            assert!(super::scan_common(&b, &limits, true).is_some());
            same(raw, &limits);
        }
    }

    #[test]
    fn rare_shapes_fall_back_to_the_reference() {
        let limits = Limits::default();
        for raw in [
            &b"\r\nOPTIONS sip:a@b SIP/2.0\r\nl: 0\r\n\r\n"[..],
            b"OPTIONS sip:a@b SIP/2.0\r\nVia : x\r\nl: 0\r\n\r\n",
            b"OPTIONS sip:a@b SIP/2.0\r\nTo: a\r\n b\r\nl: 0\r\n\r\n",
            b"OPTIONS sip:a@b SIP/2.0\r\nTo: a\rb\r\nl: 0\r\n\r\n",
            b"OPTIONS sip:a@b SIP/2.0\r\nTo: a\nl: 0\r\n\r\n",
            b"OPTIONS sip:a@b SIP/2.0\r\nl: 0\r\nl: 0\r\n\r\n",
            b"OPTIONS sip:a@b SIP/2.0\r\nTo: \xff\r\n\r\n",
            b"OPTIONS sip:a@b SIP/2.0\r\nTo: a\r\n",
        ] {
            let b = bytes::Bytes::from_static(raw);
            assert!(super::scan_common(&b, &limits, true).is_none());
            same(raw, &limits);
        }
        let tight = Limits {
            max_headers: 3,
            max_line_length: 30,
            ..Limits::default()
        };
        for raw in CORPUS {
            same(raw, &tight);
        }
    }

    proptest! {
        /// The common scanner agrees with the reference on corpus messages with bytes
        /// replaced by the characters the grammar cares about.
        #[test]
        fn agrees_with_the_reference_on_mutations(
            which in 0..CORPUS.len(),
            edits in proptest::collection::vec(
                (any::<prop::sample::Index>(), prop::sample::select(
                    &b" \t\r\n:;,\"<>@=a0\xff-"[..])),
                1..4),
        ) {
            let mut m = CORPUS[which].to_vec();
            for (at, byte) in edits {
                let i = at.index(m.len());
                m[i] = byte;
            }
            same(&m, &Limits::default());
        }
    }
}
