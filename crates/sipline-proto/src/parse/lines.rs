//! The header section's lines in the common case (RFC 3261 §7.3): a word-at-a-time search for
//! line ends and colons, and no other pass over the values than their trimming.
//!
//! [`scan_common`] accepts a header section whose every line ends in CRLF, holds no bare CR or
//! LF, no folding (§7.3.1), and no whitespace between a field name and its colon, within the
//! [`Limits`]. On anything else it returns `None` and the caller runs the reference scanner
//! (`parse_reference`), which finds the error, with its offset, or handles the rare shape. What
//! this accepts, the reference accepts with the same fields (a proptest compares the two).

use std::sync::Arc;

use bytes::Bytes;
use bytestring::ByteString;

use super::{Counted, Limits, Scanned, scan};
use crate::message::HeaderName;
use crate::message::headers::{Entries, Entry, Name, Text};

/// Most header fields the common scanner handles; longer header sections go to the
/// reference scanner.
const MAX_FIELDS: usize = 62;

/// Fields kept on the stack while cut; those past them (rare) go to a vector. Most messages
/// have 7 to 13 fields, and the array is zeroed whole before it is filled: 16 entries (384 B)
/// cost a fifth of what 62 did.
const INLINE_FIELDS: usize = 16;

#[inline]
fn is_ws(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// `0x01` in every byte of a word.
const LO: u64 = 0x0101_0101_0101_0101;
/// `0x80` in every byte of a word.
const HI: u64 = 0x8080_8080_8080_8080;

/// The 8 bytes of `b` at `i` as a little-endian word, if there are 8.
#[inline]
fn word(b: &[u8], i: usize) -> Option<u64> {
    b.get(i..i + 8)
        .and_then(|w| <[u8; 8]>::try_from(w).ok())
        .map(u64::from_le_bytes)
}

/// The first CR or LF of `b` from `i`.
///
/// Why not `memchr2`: header lines are ~30 bytes, and a call per line cost more in setup than
/// in searching. This reads 8 bytes at a time and flags bytes below 0x0E (`(w - 0x0E..) & !w &
/// 0x80..`, exact for the lowest flagged byte); a flagged byte that is neither CR nor LF (a
/// TAB, a control character) is stepped over and the search goes on after it.
#[inline]
fn find_eol(b: &[u8], mut i: usize) -> Option<usize> {
    while let Some(w) = word(b, i) {
        let m = w.wrapping_sub(LO * 0x0E) & !w & HI;
        if m == 0 {
            i += 8;
            continue;
        }
        let j = i + (m.trailing_zeros() / 8) as usize;
        if matches!(b[j], b'\r' | b'\n') {
            return Some(j);
        }
        i = j + 1;
    }
    b.get(i..)?
        .iter()
        .position(|&c| c == b'\r' || c == b'\n')
        .map(|k| i + k)
}

/// The first `:` of `line`, 8 bytes at a time (exact zero-byte test on `w ^ "::::::::"`).
#[inline]
fn find_colon(line: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(w) = word(line, i) {
        let x = w ^ (LO * u64::from(b':'));
        let m = !(((x & !HI) + !HI) | x) & HI;
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    line.get(i..)?
        .iter()
        .position(|&c| c == b':')
        .map(|k| i + k)
}

/// How many Via values `v` holds as `finish` counts them: one plus its commas (§20.42).
#[inline]
fn via_values(v: &[u8]) -> usize {
    1 + memchr::memchr(b',', v).map_or(0, |i| 1 + memchr::memchr_iter(b',', &v[i + 1..]).count())
}

/// The Via values of the fields cut (header-buffer spans of `b`), counted exactly.
#[cold]
#[inline(never)]
fn count_vias(b: &[u8], cuts: &[Entry], more: &[Entry]) -> usize {
    let mut vias = 0;
    for e in cuts.iter().chain(more) {
        if let (Name::Known(HeaderName::Via), Some((s, e))) = (e.name, e.value.buf_range()) {
            vias += b.get(s..e).map_or(1, via_values);
        }
    }
    vias
}

/// Whether `b[i..]` starts with CRLF.
#[inline]
fn crlf_at(b: &[u8], i: usize) -> bool {
    b.get(i..i + 2) == Some(b"\r\n")
}

/// Cuts the header section of `input` into fields, or `None` for the reference scanner.
///
/// One pass: for each line, the name up to its colon, then the line end from there.
pub(super) fn scan_common(input: &Bytes, limits: &Limits, strict: bool) -> Option<Scanned> {
    let b = &input[..];
    if b.len() > limits.max_message_size || b.starts_with(b"\r\n") {
        return None;
    }
    // The start line: its first CR or LF must be a CR followed by LF (no bare CR or LF).
    let line0_end = find_eol(b, 0)?;
    if !crlf_at(b, line0_end) || line0_end > limits.max_line_length {
        return None;
    }
    // The fields, written in place as they are cut (an entry is plain data: the array is
    // copied into its shared allocation as one block).
    let mut cuts = [Entry::EMPTY; INLINE_FIELDS];
    let mut more: Vec<Entry> = Vec::new();
    let max_fields = limits.max_headers.min(MAX_FIELDS);
    let mut n = 0;
    let mut content_length = None;
    // An upper bound of the Via values so far (see below).
    let mut vias = 0usize;
    let mut ls = line0_end + 2;
    let head_end = loop {
        // The empty line ends the header section.
        if b.get(ls) == Some(&b'\r') {
            if !crlf_at(b, ls) {
                return None;
            }
            break ls;
        }
        // field-name HCOLON, the colon right after the name: the name is what precedes the
        // first colon, and must be a non-empty token. A known name is one (every known name
        // is letters and `-`), so only unknown names are checked byte by byte. A line without
        // a colon gives a "name" holding CR or LF, which is no token.
        let rest = b.get(ls..)?;
        let name_len = find_colon(rest)?;
        let name = &rest[..name_len];
        let known = HeaderName::from_bytes(name);
        if known.is_none() && (name_len == 0 || !name.iter().all(|&c| scan::is_token(c))) {
            return None;
        }
        // The line ends at its first CR or LF, which must be CRLF.
        let le = find_eol(b, ls + name_len + 1)?;
        if !crlf_at(b, le) || le - ls > limits.max_line_length || n == max_fields {
            return None;
        }
        // The value between the colon and the CR, trimmed of SP/HTAB both sides (the LWS
        // around HCOLON and at the end of the line, §7.3.1). Fast path: nearly every line has
        // exactly one space after the colon and no whitespace before the CR, so one compare
        // settles each side; the loops run only on other shapes.
        let mut vs = ls + name_len + 1;
        if let Some(&[b' ', c]) = b.get(vs..vs + 2)
            && !is_ws(c)
        {
            vs += 1;
        } else {
            while vs < le && is_ws(b[vs]) {
                vs += 1;
            }
        }
        let mut ve = le;
        if b.get(le - 1).is_some_and(|&c| is_ws(c)) {
            while ve > vs && is_ws(b[ve - 1]) {
                ve -= 1;
            }
        }
        match known {
            Some(HeaderName::ContentLength) => {
                if content_length.is_none() {
                    content_length = Some(n);
                } else if strict {
                    return None;
                }
            }
            Some(HeaderName::Via) => {
                // Via values, counted as `finish` counts them (commas inside quoted
                // parameters count too). Why a bound: a value of `len` bytes holds at most
                // `len` commas, so a value shorter than the limit (one Via of ~60 bytes
                // against the default 70, the usual case) needs no comma search; longer ones
                // are counted. The sum is checked, and made exact if need be, after the loop.
                let len = ve - vs;
                vias += if len < limits.max_vias {
                    1 + len
                } else {
                    via_values(&b[vs..ve])
                };
            }
            _ => {}
        }
        let e = Entry {
            name: match known {
                Some(h) => Name::Known(h),
                None => Name::Other(Text::span(ls as u32, (ls + name_len) as u32)),
            },
            value: Text::span(vs as u32, ve as u32),
            offset: vs as u32,
        };
        match cuts.get_mut(n) {
            Some(slot) => *slot = e,
            None => more.push(e),
        }
        n += 1;
        ls = le + 2;
    };
    // Past the Via limit the reference reports the error; the bound past it (rare: several
    // Via fields) is replaced by the exact count.
    if vias > limits.max_vias
        && count_vias(b, cuts.get(..n).unwrap_or(&cuts), &more) > limits.max_vias
    {
        return None;
    }
    // Beyond 64 KiB the reference scanner takes over (as it did when cuts held 16-bit
    // offsets; the limits keep messages far below).
    if head_end > usize::from(u16::MAX) {
        return None;
    }
    let head = ByteString::try_from(input.slice(..head_end)).ok()?;
    // One allocation, at the final size, filled by one copy (two past the inline fields).
    let inline = cuts.get(..n).unwrap_or(&cuts);
    let entries: Arc<[Entry]> = if more.is_empty() {
        Arc::from(inline)
    } else {
        inline.iter().chain(&more).copied().collect()
    };
    Some(Scanned {
        head,
        line0: (0, line0_end),
        entries: Entries::Parsed(entries),
        body_start: head_end + 2,
        counted: Some(Counted { content_length }),
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
        // A header section past 64 KiB (cuts hold 16-bit offsets), within generous limits.
        let big = Limits {
            max_message_size: 200_000,
            max_line_length: 100_000,
            ..Limits::default()
        };
        let mut m = b"OPTIONS sip:a@b SIP/2.0\r\nX-Big: ".to_vec();
        m.extend(std::iter::repeat_n(b'x', 70_000));
        m.extend_from_slice(b"\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nl: 0\r\n\r\n");
        let b = bytes::Bytes::from(m.clone());
        assert!(super::scan_common(&b, &big, true).is_none());
        same(&m, &big);
        assert!(parse_inner(b, &big, true).is_ok());
    }

    /// A header section of `n` fields, known and unknown names mixed: past the inline fields
    /// the common scanner keeps the rest in a vector.
    fn long_message(n: usize) -> Vec<u8> {
        let mut m = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n".to_vec();
        for i in 0..n.saturating_sub(2) {
            if i % 3 == 0 {
                m.extend_from_slice(format!("X-F{i}: v{i}\r\n").as_bytes());
            } else {
                m.extend_from_slice(format!("Route: <sip:r{i}@h;lr>\r\n").as_bytes());
            }
        }
        m.extend_from_slice(b"l: 0\r\n\r\n");
        m
    }

    #[test]
    fn long_sections_take_the_common_path_with_the_reference_result() {
        let limits = Limits::default();
        for n in [15, 16, 17, 40, 62, 63] {
            let m = long_message(n);
            let b = bytes::Bytes::from(m.clone());
            assert_eq!(
                super::scan_common(&b, &limits, true).is_some(),
                n <= 62,
                "{n}"
            );
            same(&m, &limits);
        }
        // Unknown names of any length (names are spans of the buffer, with no length field).
        for len in [255, 256, 300, 5000] {
            let mut m = b"OPTIONS sip:a@b SIP/2.0\r\n".to_vec();
            m.extend(std::iter::repeat_n(b'x', len));
            m.extend_from_slice(b": v\r\nl: 0\r\n\r\n");
            let b = bytes::Bytes::from(m.clone());
            assert!(super::scan_common(&b, &limits, true).is_some());
            same(&m, &limits);
        }
    }

    /// The naive searches the word-at-a-time ones replace.
    fn naive(b: &[u8], from: usize, set: &[u8]) -> Option<usize> {
        b.get(from..)?
            .iter()
            .position(|c| set.contains(c))
            .map(|k| from + k)
    }

    proptest! {
        /// `find_eol` and `find_colon` find what a byte-by-byte search finds, whatever the
        /// bytes around (control characters just below and above CR and LF included).
        #[test]
        fn word_searches_match_the_byte_search(
            b in proptest::collection::vec(prop::sample::select(
                &b"\r\n\t\x00\x01\x0b\x0c\x0d\x0e\x8a\x8d\xff:;a "[..]), 0..40),
            from in 0usize..44,
        ) {
            prop_assert_eq!(super::find_eol(&b, from), naive(&b, from, b"\r\n"));
            prop_assert_eq!(super::find_colon(&b), naive(&b, 0, b":"));
        }

        /// A name `HeaderName::from_bytes` knows is a token: the common scanner checks only
        /// unknown names byte by byte.
        #[test]
        fn known_names_are_tokens(
            name in proptest::collection::vec(prop::sample::select(
                &b"aAcCdDeElLtTvVsSqQ-_\x00\x01\x0d\x20\x41\x61\x8d\xc3:.\x7f"[..]), 1..20),
            which in 0..crate::message::HeaderName::ALL.len(),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
        ) {
            // Random bytes, and known names with random bytes replaced.
            let known = crate::test_util::mutated(
                crate::message::HeaderName::ALL[which].as_str().as_bytes(),
                &flips,
            );
            for n in [&name[..], &known[..]] {
                if crate::message::HeaderName::from_bytes(n).is_some() {
                    prop_assert!(n.iter().all(|&c| super::scan::is_token(c)), "{:?}", n);
                }
            }
        }

        /// Values with runs of spaces and tabs on either side (none, one space, more), empty
        /// values, commas in Via values, and non-ASCII bytes: the common scanner's one-space
        /// fast path and its trims agree with the reference, as does the Via count at its limit.
        #[test]
        fn agrees_with_the_reference_on_whitespace_around_values(
            lines in proptest::collection::vec((
                prop::sample::select(&["Via", "v", "To", "X-A", "Content-Length"][..]),
                proptest::collection::vec(prop::sample::select(&b" \t"[..]), 0..4),
                proptest::collection::vec(prop::sample::select(&b"a ,\t\xc3\xa9;\""[..]), 0..12),
                proptest::collection::vec(prop::sample::select(&b" \t"[..]), 0..4),
            ), 1..6),
            max_vias in 1usize..6,
        ) {
            let mut m = b"OPTIONS sip:a@b SIP/2.0\r\n".to_vec();
            for (name, pre, value, post) in lines {
                m.extend_from_slice(name.as_bytes());
                m.push(b':');
                m.extend(pre);
                m.extend(value);
                m.extend(post);
                m.extend_from_slice(b"\r\n");
            }
            m.extend_from_slice(b"\r\n");
            same(&m, &Limits::default());
            same(&m, &Limits { max_vias, ..Limits::default() });
        }

        /// The common scanner agrees with the reference on corpus messages with bytes
        /// replaced by the characters the grammar cares about.
        #[test]
        fn agrees_with_the_reference_on_mutations(
            which in 0..CORPUS.len(),
            edits in proptest::collection::vec(
                (any::<prop::sample::Index>(), prop::sample::select(
                    &b" \t\r\n:;,\"<>@=a0\xff-\x0b\x0e\x01"[..])),
                1..4),
        ) {
            let m = crate::test_util::mutated(CORPUS[which], &edits);
            same(&m, &Limits::default());
        }

        /// The same on long header sections (fields past the inline ones).
        #[test]
        fn agrees_with_the_reference_on_long_mutations(
            n in 14usize..40,
            edits in proptest::collection::vec(
                (any::<prop::sample::Index>(), prop::sample::select(
                    &b" \t\r\n:;,\"<>@=a0\xff-\x0b\x0e\x01"[..])),
                0..4),
        ) {
            let m = crate::test_util::mutated(&long_message(n), &edits);
            same(&m, &Limits::default());
        }
    }
}
