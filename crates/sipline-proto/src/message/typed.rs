//! Typed views of header values (RFC 3261 §20, §25.1 and the extension RFCs).
//!
//! Each view borrows from the message and is parsed on demand; [`Headers::validate`] parses
//! every known header once, for callers that want the whole message checked up front.

use std::borrow::Cow;

use super::params::{Params, scan_generic_params, scan_params_with};
use super::uri::{UriRef, valid_host};
use super::{HeaderName, Headers, Method};
use crate::error::{ParseError, ParseErrorKind};
use crate::message::headers::{Entry, Name};
use crate::parse::scan::{Cursor, Scan, is_token, is_word, unquote};

/// Byte classes of the fast paths below (RFC 3261 §25.1), one bit each, so that every byte
/// costs one table lookup however many characters a class holds.
const C_TOKEN: u8 = 1;
/// ALPHA / DIGIT (a hostname label, §25.1 `hostname`).
const C_ALNUM: u8 = 2;
/// `token / ":"`: a `gen-value` of the common shape (a token, a host, an IPv6 address
/// without brackets as `received` carries it, RFC 5118 §4.5).
const C_VALUE: u8 = 4;
/// `word` (§25.1), the characters of a Call-ID.
const C_WORD: u8 = 8;
/// Anything but `;`, `=`, DQUOTE, SP, HTAB: a parameter name in [`tag_param`].
const C_PNAME: u8 = 16;
/// Anything but `;`, DQUOTE, SP, HTAB: a parameter value in [`tag_param`].
const C_PVAL: u8 = 32;
/// ALPHA / DIGIT / `-`: the inside of a hostname label (§25.1 `domainlabel`).
const C_LABEL: u8 = 64;

static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let alnum = b.is_ascii_alphanumeric();
        let token = crate::parse::scan::token_byte(b);
        let word = crate::parse::scan::word_byte(b);
        let mut c = 0;
        if token {
            c |= C_TOKEN;
        }
        if alnum {
            c |= C_ALNUM;
        }
        if token || b == b':' {
            c |= C_VALUE;
        }
        if word {
            c |= C_WORD;
        }
        if !matches!(b, b';' | b'=' | b'"' | b' ' | b'\t') {
            c |= C_PNAME;
        }
        if !matches!(b, b';' | b'"' | b' ' | b'\t') {
            c |= C_PVAL;
        }
        if alnum || b == b'-' {
            c |= C_LABEL;
        }
        t[i] = c;
        i += 1;
    }
    t
};

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// The eight bytes at `i`, as a little-endian word.
#[inline]
fn word_at(b: &[u8], i: usize) -> Option<u64> {
    match b.get(i..i.checked_add(8)?) {
        Some(&[b0, b1, b2, b3, b4, b5, b6, b7]) => {
            Some(u64::from_le_bytes([b0, b1, b2, b3, b4, b5, b6, b7]))
        }
        _ => None,
    }
}

/// The end of the run of bytes of `class` starting at `i`. Eight bytes a step while they all
/// belong (header values are short: a SIMD search would not repay its setup). Always inlined:
/// the call cost ~10-15 instructions on runs that are often under 16 bytes.
#[inline(always)]
fn skip(b: &[u8], mut i: usize, class: u8) -> usize {
    let c = |x: u8| CLASS[x as usize];
    // The last start of a whole word, computed once: one compare a step.
    let last = b.len().saturating_sub(8);
    while i <= last {
        let Some(&[b0, b1, b2, b3, b4, b5, b6, b7]) = b.get(i..i + 8) else {
            break;
        };
        let all = c(b0) & c(b1) & c(b2) & c(b3) & c(b4) & c(b5) & c(b6) & c(b7);
        if all & class == 0 {
            break;
        }
        i += 8;
    }
    while let Some(&x) = b.get(i) {
        if c(x) & class == 0 {
            break;
        }
        i += 1;
    }
    i
}

/// [`skip`] for runs that usually reach the end of `b` (a Call-ID): once fewer than eight
/// bytes are left after a word, the last eight bytes are checked as one word (a byte read
/// twice belongs to the class either way) before going a byte at a time.
#[inline]
fn skip_to_end(b: &[u8], mut i: usize, class: u8) -> usize {
    let c = |x: u8| CLASS[x as usize];
    let word = |i: usize| match b.get(i..i.saturating_add(8)) {
        Some(&[b0, b1, b2, b3, b4, b5, b6, b7]) => {
            c(b0) & c(b1) & c(b2) & c(b3) & c(b4) & c(b5) & c(b6) & c(b7) & class != 0
        }
        _ => false,
    };
    if let Some(last) = b.len().checked_sub(8) {
        let from = i;
        while i <= last {
            if !word(i) {
                return skip(b, i, class);
            }
            i += 8;
        }
        if i > from && i < b.len() && word(last) {
            return b.len();
        }
    }
    skip(b, i, class)
}

/// The end of the run of decimal digits starting at `i`, and their value (the value wraps:
/// it is exact up to nine digits, which cannot overflow a `u32`). A run of up to seven
/// digits followed by another byte within eight bytes (a CSeq number, a Via port) is read
/// as one word: the digits found with a mask, their value with three multiplies instead of
/// a multiply-add and a branch per digit.
#[inline]
fn digits_at(b: &[u8], i: usize) -> (usize, u32) {
    if let Some(w) = word_at(b, i) {
        const F0: u64 = LO * 0xf0;
        const D0: u64 = LO * b'0' as u64;
        // A byte is a digit when its high nibble is 3 and adding 6 keeps it 3 (0x30..=0x39).
        // A carry out of a byte (from 0xfa..=0xff) only follows a non-digit: the lowest
        // flagged byte is exact.
        let other = ((w & F0) ^ D0) | ((w.wrapping_add(LO * 6) & F0) ^ D0);
        if other != 0 {
            let n = other.trailing_zeros() / 8;
            if n == 0 {
                return (i, 0);
            }
            // The digits to the top bytes, zeros below them: an eight-digit number.
            let v = w << (64 - 8 * n);
            let v = (v & (LO * 0x0f)).wrapping_mul(10 << 8 | 1) >> 8;
            let v = (v & 0x00ff_00ff_00ff_00ff).wrapping_mul(100 << 16 | 1) >> 16;
            let v = (v & 0x0000_ffff_0000_ffff).wrapping_mul(10000 << 32 | 1) >> 32;
            return (i + n as usize, v as u32);
        }
    }
    digits_bytewise(b, i)
}

/// [`digits_at`] a byte at a time: for values too short for a word (Max-Forwards,
/// Content-Length, Expires) and runs of eight digits or more.
#[inline]
fn digits_bytewise(b: &[u8], mut i: usize) -> (usize, u32) {
    let mut n = 0u32;
    while let Some(&c) = b.get(i) {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        n = n.wrapping_mul(10).wrapping_add(u32::from(d));
        i += 1;
    }
    (i, n)
}

/// The first of `>`, SP or HTAB at or after `from` (the end of the URI in a name-addr's
/// `<...>`), eight bytes a step: after the XOR with a needle a matching byte is zero, and
/// `(x - 0x01..) & !x & 0x80..` flags zero bytes, its lowest flag exactly.
#[inline]
fn find_uri_end(b: &[u8], from: usize) -> Option<usize> {
    let zero = |x: u64| x.wrapping_sub(LO) & !x & HI;
    let mut i = from;
    while let Some(w) = word_at(b, i) {
        let m = zero(w ^ (LO * u64::from(b'>')))
            | zero(w ^ (LO * u64::from(b' ')))
            | zero(w ^ (LO * u64::from(b'\t')));
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        if matches!(c, b'>' | b' ' | b'\t') {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// The first `needle` at or after `from`, eight bytes a step (SWAR: after the XOR a matching
/// byte is zero, and `(x - 0x01..) & !x & 0x80..` flags zero bytes, the lowest flag exactly).
/// Fewer than eight bytes left after a word: the last eight bytes are read as one word instead
/// of a byte at a time (From/To values end a few bytes past a word). The bytes it reads again
/// hold no needle, so its lowest flag is still exact.
#[inline]
fn find_byte(b: &[u8], from: usize, needle: u8) -> Option<usize> {
    let pattern = LO * u64::from(needle);
    let zero = |w: u64| {
        let x = w ^ pattern;
        x.wrapping_sub(LO) & !x & HI
    };
    let mut i = from;
    if let Some(last) = b.len().checked_sub(8) {
        while i <= last {
            let z = word_at(b, i).map_or(0, zero);
            if z != 0 {
                return Some(i + (z.trailing_zeros() / 8) as usize);
            }
            i += 8;
        }
        if i > from && i < b.len() {
            let z = word_at(b, last).map_or(0, zero);
            return (z != 0).then(|| last + (z.trailing_zeros() / 8) as usize);
        }
    }
    while let Some(&c) = b.get(i) {
        if c == needle {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// `s.get(a..b)` as a `RangeFrom` get then a `RangeTo` get: the same result, but each is one
/// inlined char-boundary check where the `Range` get is an outlined call (~20 instructions a
/// slice on the fast paths below).
#[inline(always)]
fn sub(s: &str, a: usize, b: usize) -> Option<&str> {
    s.get(a..)?.get(..b.checked_sub(a)?)
}

/// Scans `s[i..]` as `*( ";" token [ "=" 1*value ] )` to its end, where `value` is a byte of
/// class `value` (a token, or [`C_VALUE`]): the common shape of `*( SEMI generic-param )`
/// (RFC 3261 §25.1) with no whitespace and no quoted or bracketed value. Calls
/// `each(name, value)` per parameter; `None` at any other shape, or when `each` refuses.
/// Always inlined: each caller's `each` is then a few compares, not a call per parameter.
#[inline(always)]
fn scan_common_params<'a>(
    s: &'a str,
    mut i: usize,
    value: u8,
    mut each: impl FnMut(&'a str, Option<&'a str>) -> bool,
) -> Option<()> {
    let b = s.as_bytes();
    while i < b.len() {
        if b[i] != b';' {
            return None;
        }
        let n0 = i + 1;
        i = skip(b, n0, C_TOKEN);
        if i == n0 {
            return None;
        }
        let name = sub(s, n0, i)?;
        let v = if b.get(i) == Some(&b'=') {
            let v0 = i + 1;
            i = skip(b, v0, value);
            if i == v0 {
                return None;
            }
            Some(sub(s, v0, i)?)
        } else {
            None
        };
        if !each(name, v) {
            return None;
        }
    }
    Some(())
}

/// Transport of a Via (RFC 3261 §20.42 `transport`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Via<'a> {
    /// `SIP` (protocol-name, as written).
    pub protocol: &'a str,
    /// `2.0`.
    pub version: &'a str,
    /// `UDP`, `TCP`, `TLS`, `SCTP`, `WS`, `WSS`, or another token, as written.
    pub transport: &'a str,
    /// sent-by host (an IPv6 reference keeps its brackets).
    pub host: &'a str,
    /// sent-by port.
    pub port: Option<u16>,
    /// via-params.
    pub params: Params<'a>,
    /// The branch, found while scanning the parameters.
    branch: Option<&'a str>,
}

impl<'a> Via<'a> {
    /// Parses one via-parm (RFC 3261 §20.42, §25.1).
    pub fn parse(s: &'a str) -> Scan<Via<'a>> {
        match Self::parse_common(s) {
            Some(v) => Ok(v),
            None => Self::parse_grammar(s),
        }
    }

    /// The common shape `SIP/2.0/<transport> <host>[:<port>]*(;<token>[=<token>])`, with no
    /// whitespace beyond the one space, no quotes and no IPv6 reference, in one pass.
    /// `None` when the value has any other shape: [`Via::parse_grammar`] then decides. What
    /// this accepts, the full grammar accepts with the same result (a unit test and a proptest
    /// compare the two).
    fn parse_common(s: &'a str) -> Option<Via<'a>> {
        Self::parse_common_inline(s)
    }

    /// [`Via::parse_common`], inlined into [`Headers::essentials`]: the fields are then
    /// written where the result is built, not returned through an `Option` and copied twice.
    #[inline(always)]
    fn parse_common_inline(s: &'a str) -> Option<Via<'a>> {
        let b = s.as_bytes();
        if b.len() < 10 || !b.starts_with(b"SIP/2.0/") {
            return None;
        }
        // The transport is a few bytes (`UDP`, `TLS`, `WSS`): a byte at a time, as a word
        // step would always stop at the space.
        let mut i = 8;
        while b.get(i).is_some_and(|&c| CLASS[c as usize] & C_TOKEN != 0) {
            i += 1;
        }
        if i == 8 || b.get(i) != Some(&b' ') {
            return None;
        }
        let transport = sub(s, 8, i)?;
        // host: alphanumerics, '.' and '-', as `valid_host` checks: no '.' or '-' first, none
        // right after a '.'. Read a label at a time (an alphanumeric, then alphanumerics and
        // '-' up to a '.'), so that no byte looks back at the one before it.
        let host_start = i + 1;
        i = host_start;
        'labels: while b.get(i).is_some_and(|&c| CLASS[c as usize] & C_ALNUM != 0) {
            i += 1;
            loop {
                match b.get(i) {
                    Some(&c) if CLASS[c as usize] & C_LABEL != 0 => i += 1,
                    Some(b'.') => {
                        i += 1;
                        continue 'labels;
                    }
                    _ => break 'labels,
                }
            }
        }
        if i == host_start {
            return None;
        }
        let host = sub(s, host_start, i)?;
        let mut port = None;
        if b.get(i) == Some(&b':') {
            let p0 = i + 1;
            let (end, n) = digits_at(b, p0);
            i = end;
            // More than five digits (a leading zero) is left to the grammar.
            if i == p0 || i - p0 > 5 {
                return None;
            }
            port = Some(u16::try_from(n).ok()?);
        }
        let params_start = i;
        let mut branch = None;
        // `;branch=` first, as nearly every Via has it: one eight-byte compare for the name.
        if word_at(b, i) == Some(u64::from_le_bytes(*b";branch=")) {
            let v0 = i + 8;
            i = skip(b, v0, C_TOKEN);
            if i == v0 {
                return None;
            }
            branch = Some(sub(s, v0, i)?);
        }
        // Then `;rport` alone (RFC 3581: the request of nearly every UA), which has nothing
        // to check: one compare instead of a parameter scan.
        if b.get(i..) != Some(b";rport") {
            scan_common_params(s, i, C_TOKEN, |name, value| match (name, value) {
                // The parameters of nearly every Via, as usually spelt, have nothing to check.
                ("branch", Some(_)) => {
                    branch = branch.or(value);
                    true
                }
                ("rport", None) => true,
                _ => via_param_ok(name, value, &mut branch),
            })?;
        }
        Some(Via {
            protocol: s.get(..3)?,
            version: s.get(4..7)?,
            transport,
            host,
            port,
            params: Params::new(s.get(params_start..)?),
            branch,
        })
    }

    /// The full via-parm grammar (RFC 3261 §25.1), for every shape.
    fn parse_grammar(s: &'a str) -> Scan<Via<'a>> {
        let mut c = Cursor::new(s);
        let protocol = c.token()?;
        if !c.eat_sep(b'/') {
            return c.fail();
        }
        let version = c.token()?;
        if !c.eat_sep(b'/') {
            return c.fail();
        }
        let transport = c.token()?;
        if !c.skip_ws() {
            return c.fail();
        }
        let (host, port) = sent_by(&mut c)?;
        // One pass over the parameters checks those with a grammar (§20.42, RFC 3581) and
        // keeps the branch.
        let mut branch = None;
        let params = scan_params_with(&mut c, |name, value| {
            if via_param_ok(name, value, &mut branch) {
                Ok(())
            } else {
                Err(0)
            }
        })?;
        c.end()?;
        let branch = branch.map(|b| {
            b.strip_prefix('"')
                .and_then(|b| b.strip_suffix('"'))
                .unwrap_or(b)
        });
        Ok(Via {
            protocol,
            version,
            transport,
            host,
            port,
            params,
            branch,
        })
    }

    /// The `branch` parameter.
    pub fn branch(&self) -> Option<&'a str> {
        self.branch
    }

    /// The `received` parameter (RFC 3261 §18.2.1).
    pub fn received(&self) -> Option<&'a str> {
        self.params.value("received")
    }

    /// The `rport` parameter (RFC 3581): `None` if absent, `Some(None)` if present without
    /// value (a request for it), `Some(Some(port))` once filled in.
    pub fn rport(&self) -> Option<Option<u16>> {
        self.params
            .get("rport")
            .map(|v| v.and_then(|p| p.parse().ok()))
    }

    /// The `maddr` parameter.
    pub fn maddr(&self) -> Option<&'a str> {
        self.params.value("maddr")
    }

    /// The `ttl` parameter.
    pub fn ttl(&self) -> Option<u8> {
        self.params.value("ttl").and_then(|t| t.parse().ok())
    }

    /// Whether the branch carries the RFC 3261 magic cookie `z9hG4bK` (§8.1.1.7).
    pub fn has_magic_cookie(&self) -> bool {
        self.branch().is_some_and(|b| b.starts_with("z9hG4bK"))
    }
}

/// Checks the via-params with a grammar of their own (RFC 3261 §20.42, RFC 3581) and keeps the
/// first `branch` value.
fn via_param_ok<'a>(name: &'a str, value: Option<&'a str>, branch: &mut Option<&'a str>) -> bool {
    match name.len() {
        6 if name.eq_ignore_ascii_case("branch") => {
            *branch = branch.or(value);
            value.is_some()
        }
        3 if name.eq_ignore_ascii_case("ttl") => value.and_then(|t| t.parse::<u8>().ok()).is_some(),
        5 if name.eq_ignore_ascii_case("maddr") => {
            value.is_some_and(|h| valid_host(h) || super::uri::valid_ipv6(h))
        }
        8 if name.eq_ignore_ascii_case("received") => {
            value.is_some_and(|h| valid_host(h) || super::uri::valid_ipv6(h))
        }
        5 if name.eq_ignore_ascii_case("rport") => value.is_none_or(|p| p.parse::<u16>().is_ok()),
        _ => true,
    }
}

/// `sent-by = host [ COLON port ]`.
fn sent_by<'a>(c: &mut Cursor<'a>) -> Scan<(&'a str, Option<u16>)> {
    let start = c.pos();
    let host = if c.peek() == Some(b'[') {
        c.take_while(|b| b != b']');
        c.expect(b']')?;
        c.slice(start, c.pos())
    } else {
        c.take_while(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    };
    if !valid_host(host) {
        return Err(start);
    }
    let port = if c.eat_sep(b':') {
        let at = c.pos();
        Some(u16::try_from(c.number(65535)?).map_err(|_| at)?)
    } else {
        None
    };
    Ok((host, port))
}

/// A `name-addr` or `addr-spec` with header parameters: the value of From, To, Contact,
/// Route, Record-Route, Reply-To, Refer-To, Referred-By (RFC 3261 §20.10, §25.1).
#[derive(Debug, Clone, Copy)]
pub struct NameAddr<'a> {
    display: Option<&'a str>,
    /// The URI.
    pub uri: UriRef<'a>,
    /// Header parameters after the URI (`;tag=...`, `;expires=...`).
    pub params: Params<'a>,
    /// Whether the URI was enclosed in `<...>`.
    pub angle: bool,
}

impl<'a> NameAddr<'a> {
    /// Parses `( name-addr / addr-spec ) *( SEMI generic-param )`.
    pub fn parse(s: &'a str) -> Scan<NameAddr<'a>> {
        match Self::parse_common(s) {
            Some((na, _)) => Ok(na),
            None => Self::parse_grammar(s),
        }
    }

    /// The full grammar, for every shape.
    fn parse_grammar(s: &'a str) -> Scan<NameAddr<'a>> {
        let mut c = Cursor::new(s);
        let na = Self::scan(&mut c)?;
        c.end()?;
        Ok(na)
    }

    /// The common shape `["display" *WSP]<URI>*(;token[=value])` (no display name or a quoted
    /// one without `\` escapes, no whitespace after the `<`, no quoted or bracketed parameter
    /// value) in one pass, with the `tag` parameter found on the way (as [`NameAddr::tag`]
    /// gives it). `None` when the value has any other shape or the URI is invalid:
    /// [`NameAddr::parse`] then decides. What this accepts, `parse` accepts with the same
    /// result (a proptest compares the two).
    pub(crate) fn parse_common(s: &'a str) -> Option<(NameAddr<'a>, Option<&'a str>)> {
        let c = Self::common_shape(s, find_uri_end)?;
        let uri = UriRef::parse(sub(s, c.lt + 1, c.gt)?).ok()?;
        let display = match c.display_end {
            0 => None,
            end => Some(s.get(..end)?),
        };
        let na = NameAddr {
            display,
            uri,
            params: Params::new(s.get(c.gt + 1..)?),
            angle: true,
        };
        Some((na, c.tag))
    }

    /// [`NameAddr::parse_common`] for a check: the tag of a valid value of the common shape,
    /// without building the address.
    fn common_tag(s: &'a str) -> Option<Option<&'a str>> {
        // A `sip:` URI of the common shape is checked in the pass that finds its `>` (one scan
        // of the URI, not a search for its end then a check); any other URI by `UriRef`.
        if let Some(c) = Self::common_shape(s, |b, from| {
            Some(from + super::uri::sip_common_end(b.get(from..)?)?)
        }) {
            return Some(c.tag);
        }
        let c = Self::common_shape(s, find_uri_end)?;
        UriRef::is_valid(sub(s, c.lt + 1, c.gt)?).then_some(c.tag)
    }

    /// The shape of [`NameAddr::parse_common`] without the URI check (inlined: outlined, its
    /// result went through memory).
    /// `uri_end` finds the end of the URI from the index after the `<`: the first `>`, SP or
    /// HTAB ([`find_uri_end`]), or `None`.
    #[inline(always)]
    fn common_shape(
        s: &'a str,
        uri_end: impl FnOnce(&[u8], usize) -> Option<usize>,
    ) -> Option<CommonShape<'a>> {
        let b = s.as_bytes();
        let (display_end, lt) = match b.first() {
            Some(b'<') => (0, 0),
            // A From of a UA with a user name: `"Alice" <sip:...>` (§20.20).
            Some(b'"') => quoted_display(b)?,
            _ => return None,
        };
        let gt = uri_end(b, lt + 1)?;
        if b.get(gt) != Some(&b'>') {
            return None;
        }
        let mut tag = None;
        let mut i = gt + 1;
        // `;tag=` first, as a From or To with a tag has it: one compare for the name.
        if b.get(i..i + 5) == Some(b";tag=") {
            let e = skip(b, i + 5, C_VALUE);
            if e > i + 5 {
                tag = Some(Some(sub(s, i + 5, e)?));
                i = e;
            }
        }
        scan_common_params(s, i, C_VALUE, |name, value| {
            if tag.is_none() && name.eq_ignore_ascii_case("tag") {
                tag = Some(value);
            }
            true
        })?;
        Some(CommonShape {
            display_end,
            lt,
            gt,
            tag: tag.flatten(),
        })
    }

    pub(crate) fn scan(c: &mut Cursor<'a>) -> Scan<NameAddr<'a>> {
        c.skip_ws();
        let start = c.pos();
        let mut display = None;
        // display-name = *(token LWS) / quoted-string
        if c.peek() == Some(b'"') {
            display = Some(c.quoted()?);
            c.skip_ws();
            if c.peek() != Some(b'<') {
                return c.fail();
            }
        } else {
            // Look ahead: tokens and spaces followed by '<' form a display name.
            let mut probe = c.clone();
            let mut end = probe.pos();
            loop {
                if probe.take_while(is_token).is_empty() {
                    break;
                }
                end = probe.pos();
                probe.skip_ws();
            }
            if probe.peek() == Some(b'<') {
                if end > start {
                    display = Some(c.slice(start, end));
                }
                *c = probe;
            }
        }
        if c.eat(b'<') {
            let u0 = c.pos();
            c.take_while(|b| b != b'>' && b != b' ' && b != b'\t');
            let uri_s = c.slice(u0, c.pos());
            c.expect(b'>')?;
            let uri = UriRef::parse(uri_s).map_err(|e| u0 + e.offset)?;
            let params = scan_generic_params(c)?;
            Ok(NameAddr {
                display,
                uri,
                params,
                angle: true,
            })
        } else {
            // addr-spec without brackets: it may not hold ',', ';' or '?' (RFC 3261 §20.10);
            // anything after ';' is a header parameter.
            let u0 = c.pos();
            c.take_while(|b| !matches!(b, b';' | b',' | b'?' | b' ' | b'\t'));
            let uri_s = c.slice(u0, c.pos());
            let uri = UriRef::parse(uri_s).map_err(|e| u0 + e.offset)?;
            let params = scan_generic_params(c)?;
            Ok(NameAddr {
                display: None,
                uri,
                params,
                angle: false,
            })
        }
    }

    /// The display name as written (quoted-string keeps its quotes), if any.
    pub fn display_name_raw(&self) -> Option<&'a str> {
        self.display
    }

    /// The display name, unquoted and unescaped.
    pub fn display_name(&self) -> Option<Cow<'a, str>> {
        self.display.map(unquote)
    }

    /// The `tag` parameter (RFC 3261 §19.3).
    pub fn tag(&self) -> Option<&'a str> {
        self.params.value("tag")
    }
}

/// Where the parts of a name-addr of the common shape ([`NameAddr::parse_common`]) are.
struct CommonShape<'a> {
    /// The end of the quoted display name (after its closing quote), 0 if there is none.
    display_end: usize,
    /// The index of the `<`.
    lt: usize,
    /// The index of the `>`.
    gt: usize,
    /// The first `tag` parameter's value.
    tag: Option<&'a str>,
}

/// A quoted display name without escapes at the start of `b` (which opens with `"`), then
/// optional whitespace and `<`: the end of the quoted-string and the index of the `<`. `None`
/// at an escape (`\`) or a control character (what RFC 3261 §25.1 `qdtext` refuses but
/// HTAB): the grammar decides those.
#[inline]
fn quoted_display(b: &[u8]) -> Option<(usize, usize)> {
    let q = find_byte(b, 1, b'"')?;
    if b[1..q]
        .iter()
        .any(|&c| c == b'\\' || (c < 0x20 && c != b'\t') || c == 0x7f)
    {
        return None;
    }
    let mut lt = q + 1;
    while matches!(b.get(lt), Some(b' ' | b'\t')) {
        lt += 1;
    }
    (b.get(lt) == Some(&b'<')).then_some((q + 1, lt))
}

/// A Contact header value (RFC 3261 §20.10): `*` or a list of addresses.
#[derive(Debug, Clone, Copy)]
pub enum ContactValue<'a> {
    /// `Contact: *` (only in a REGISTER with `Expires: 0`, §10.2.2).
    Star,
    /// One contact.
    Addr(NameAddr<'a>),
}

impl ContactValue<'_> {
    /// The `expires` parameter.
    pub fn expires(&self) -> Option<u32> {
        match self {
            ContactValue::Star => None,
            ContactValue::Addr(a) => a.params.value("expires").and_then(|e| e.parse().ok()),
        }
    }

    /// The `q` parameter (0 to 1, up to three decimals).
    pub fn q(&self) -> Option<f32> {
        match self {
            ContactValue::Star => None,
            ContactValue::Addr(a) => a.params.value("q").and_then(|e| e.parse().ok()),
        }
    }
}

/// The CSeq header (RFC 3261 §20.16).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    /// Sequence number, below 2^31 (§8.1.1.5).
    pub seq: u32,
    /// Method.
    pub method: Method,
}

impl CSeq {
    /// Parses `1*DIGIT LWS Method`. Inlined: the common case is a few instructions, and the
    /// result is then built in place instead of copied out of a `Scan`.
    #[inline(always)]
    pub fn parse(s: &str) -> Scan<CSeq> {
        // Common case: up to 9 digits (below 2^31), one space, a method token.
        let b = s.as_bytes();
        let (digits, seq) = digits_at(b, 0);
        if (1..=9).contains(&digits) && b.get(digits) == Some(&b' ') {
            // `Method::parse` takes a non-empty token only: no scan of the method here.
            if let Some(method) = s.get(digits + 1..).and_then(Method::parse) {
                return Ok(CSeq { seq, method });
            }
        }
        Self::parse_grammar(s)
    }

    fn parse_grammar(s: &str) -> Scan<CSeq> {
        let mut c = Cursor::new(s);
        c.skip_ws();
        let seq = c.number((1 << 31) - 1)? as u32;
        if !c.skip_ws() {
            return c.fail();
        }
        let at = c.pos();
        let m = c.token()?;
        c.end()?;
        let method = Method::parse(m).ok_or(at)?;
        Ok(CSeq { seq, method })
    }
}

/// RAck (RFC 3262 §7.2): `response-num LWS CSeq-num LWS Method`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RAck {
    /// The RSeq of the response being acknowledged.
    pub rseq: u32,
    /// The CSeq number of the request it answers.
    pub cseq: u32,
    /// The method of that request.
    pub method: Method,
}

impl RAck {
    /// Parses a RAck value.
    pub fn parse(s: &str) -> Scan<RAck> {
        let mut c = Cursor::new(s);
        let rseq = c.number(u32::MAX.into())? as u32;
        if !c.skip_ws() {
            return c.fail();
        }
        let cseq = c.number((1 << 31) - 1)? as u32;
        if !c.skip_ws() {
            return c.fail();
        }
        let at = c.pos();
        let method = Method::parse(c.token()?).ok_or(at)?;
        c.end()?;
        Ok(RAck { rseq, cseq, method })
    }
}

/// A media type with parameters (Content-Type, RFC 3261 §20.15; an Accept element, §20.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaType<'a> {
    /// `application`, or `*` in Accept.
    pub top: &'a str,
    /// `sdp`, or `*` in Accept.
    pub sub: &'a str,
    /// Parameters.
    pub params: Params<'a>,
}

impl<'a> MediaType<'a> {
    /// Parses `m-type SLASH m-subtype *(SEMI m-parameter)`.
    pub fn parse(s: &'a str) -> Scan<MediaType<'a>> {
        match Self::parse_common(s) {
            Some(m) => Ok(m),
            None => Self::parse_grammar(s),
        }
    }

    /// The full grammar, for every shape.
    fn parse_grammar(s: &'a str) -> Scan<MediaType<'a>> {
        let mut c = Cursor::new(s);
        c.skip_ws();
        let top = c.token()?;
        if !c.eat_sep(b'/') {
            return c.fail();
        }
        let sub = c.token()?;
        let params = scan_generic_params(&mut c)?;
        c.end()?;
        Ok(MediaType { top, sub, params })
    }

    /// The common shape `token "/" token *(;token[=value])`, no whitespace, no quoted value,
    /// in one pass; `None` otherwise ([`MediaType::parse`] decides). Equal to `parse` on what
    /// it accepts (a proptest compares the two).
    fn parse_common(s: &'a str) -> Option<MediaType<'a>> {
        let (t, u) = Self::common_split(s)?;
        Some(MediaType {
            top: s.get(..t)?,
            sub: sub(s, t + 1, u)?,
            params: Params::new(s.get(u..)?),
        })
    }

    /// Whether `s` has the shape [`MediaType::parse_common`] accepts, without building the
    /// value: the Content-Type and Accept checks need only the verdict.
    #[inline]
    fn is_common(s: &str) -> bool {
        Self::common_split(s).is_some()
    }

    /// The shape of [`MediaType::parse_common`]: the end of the type and of the subtype.
    #[inline(always)]
    fn common_split(s: &str) -> Option<(usize, usize)> {
        let b = s.as_bytes();
        let t = skip(b, 0, C_TOKEN);
        if t == 0 || b.get(t) != Some(&b'/') {
            return None;
        }
        let u = skip(b, t + 1, C_TOKEN);
        if u == t + 1 {
            return None;
        }
        scan_common_params(s, u, C_VALUE, |_, _| true)?;
        Some((t, u))
    }

    /// Whether this is `top/sub`, case-insensitively.
    pub fn is(&self, top: &str, sub: &str) -> bool {
        self.top.eq_ignore_ascii_case(top) && self.sub.eq_ignore_ascii_case(sub)
    }
}

/// A value with a leading token or number and parameters: Event, Subscription-State, Reason,
/// Session-Expires, Min-SE, Replaces (its Call-ID), Retry-After, Content-Disposition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parameterized<'a> {
    /// The leading value (`presence`, `active`, `SIP`, `1800`, a Call-ID...).
    pub value: &'a str,
    /// Parameters.
    pub params: Params<'a>,
}

impl<'a> Parameterized<'a> {
    fn scan(s: &'a str, first: impl Fn(u8) -> bool) -> Scan<Parameterized<'a>> {
        let mut c = Cursor::new(s);
        c.skip_ws();
        let at = c.pos();
        let value = c.take_while(first);
        if value.is_empty() {
            return Err(at);
        }
        let params = scan_generic_params(&mut c)?;
        c.end()?;
        Ok(Parameterized { value, params })
    }

    /// `token *(SEMI generic-param)`: Event, Subscription-State, Reason, Content-Disposition.
    pub fn parse_token(s: &'a str) -> Scan<Parameterized<'a>> {
        Self::scan(s, is_token)
    }

    /// `delta-seconds *(SEMI generic-param)`: Session-Expires, Min-SE (RFC 4028), Retry-After.
    pub fn parse_delta(s: &'a str) -> Scan<Parameterized<'a>> {
        let p = Self::scan(s, |b| b.is_ascii_digit())?;
        p.value.parse::<u32>().map_err(|_| 0usize)?;
        Ok(p)
    }

    /// `callid *(SEMI replaces-param)` (RFC 3891 §6.1).
    pub fn parse_callid(s: &'a str) -> Scan<Parameterized<'a>> {
        let p = Self::scan(s, |b| is_word(b) || b == b'@')?;
        Ok(p)
    }

    /// The leading value as a number of seconds.
    pub fn seconds(&self) -> Option<u32> {
        self.value.parse().ok()
    }
}

/// A challenge or credentials (RFC 3261 §20.27, §20.7, §25.1; RFC 7616): a scheme and
/// comma-separated `name=value` parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Auth<'a> {
    /// `Digest`, as written.
    pub scheme: &'a str,
    params: &'a str,
}

impl<'a> Auth<'a> {
    /// Parses `scheme LWS auth-param *(COMMA auth-param)`.
    pub fn parse(s: &'a str) -> Scan<Auth<'a>> {
        let mut c = Cursor::new(s);
        c.skip_ws();
        let scheme = c.token()?;
        if c.clone().end().is_ok() {
            return Ok(Auth { scheme, params: "" });
        }
        if !c.skip_ws() {
            return c.fail();
        }
        let p0 = c.pos();
        loop {
            c.token()?;
            if !c.eat_sep(b'=') {
                return c.fail();
            }
            if c.peek() == Some(b'"') {
                c.quoted()?;
            } else {
                c.token()?;
            }
            if !c.eat_sep(b',') {
                break;
            }
        }
        let params = c.slice(p0, c.pos());
        c.end()?;
        Ok(Auth { scheme, params })
    }

    /// Each parameter, value unquoted.
    pub fn params(&self) -> impl Iterator<Item = (&'a str, Cow<'a, str>)> + 'a {
        let mut rest = Some(self.params);
        std::iter::from_fn(move || {
            loop {
                let r = rest?;
                let (item, tail) = super::headers::split_list_item(r);
                rest = tail;
                if let Some((n, v)) = item.split_once('=') {
                    return Some((n.trim(), unquote(v.trim())));
                }
                rest?;
            }
        })
    }

    /// One parameter by case-insensitive name, unquoted.
    pub fn param(&self, name: &str) -> Option<Cow<'a, str>> {
        self.params()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

/// The fields a transaction layer needs from every message, parsed in one go (the
/// "transaction-ready" level of parsing): top Via, CSeq, Call-ID, tags, Max-Forwards.
#[derive(Debug, Clone)]
pub struct Essentials<'a> {
    /// The top Via value.
    pub via: Via<'a>,
    /// CSeq.
    pub cseq: CSeq,
    /// Call-ID.
    pub call_id: &'a str,
    /// From tag.
    pub from_tag: Option<&'a str>,
    /// To tag.
    pub to_tag: Option<&'a str>,
    /// Max-Forwards, if present.
    pub max_forwards: Option<u8>,
}

/// What [`Headers::check_all`] parsed of the transaction fields, each `None` if absent.
#[derive(Debug, Clone, Default)]
pub(crate) struct Checked<'a> {
    pub(crate) via: Option<Via<'a>>,
    pub(crate) cseq: Option<CSeq>,
    pub(crate) call_id: Option<&'a str>,
    pub(crate) from_tag: Option<Option<&'a str>>,
    pub(crate) to_tag: Option<Option<&'a str>>,
    pub(crate) max_forwards: Option<u8>,
}

impl<'a> Checked<'a> {
    /// Whether `name`, one of the transaction fields, was present.
    pub(crate) fn has(&self, name: HeaderName) -> bool {
        match name {
            HeaderName::Via => self.via.is_some(),
            HeaderName::CSeq => self.cseq.is_some(),
            HeaderName::CallId => self.call_id.is_some(),
            HeaderName::From => self.from_tag.is_some(),
            HeaderName::To => self.to_tag.is_some(),
            HeaderName::MaxForwards => self.max_forwards.is_some(),
            _ => false,
        }
    }

    /// The [`Essentials`], or a `MissingHeader` error for the first of `order` (the five
    /// required fields, RFC 3261 §8.1.1) found absent. One match on the five fields: the
    /// error is only looked for when one is missing (no per-field check on the success path).
    #[inline]
    pub(crate) fn into_essentials(
        self,
        order: &[HeaderName; 5],
    ) -> Result<Essentials<'a>, ParseError> {
        match self {
            Checked {
                via: Some(via),
                cseq: Some(cseq),
                call_id: Some(call_id),
                from_tag: Some(from_tag),
                to_tag: Some(to_tag),
                max_forwards,
            } => Ok(Essentials {
                via,
                cseq,
                call_id,
                from_tag,
                to_tag,
                max_forwards,
            }),
            _ => Err(self.missing(order)),
        }
    }

    /// The error for the first of `order` absent.
    #[cold]
    fn missing(&self, order: &[HeaderName; 5]) -> ParseError {
        let h = order
            .iter()
            .copied()
            .find(|&h| !self.has(h))
            .unwrap_or(order[0]);
        ParseError::new(ParseErrorKind::MissingHeader(h), 0)
    }
}

/// The slot of each [`Essentials`] field in [`Headers::essentials`]'s lookup (1 to 6, in the
/// order the reference parses them), 0 for every other header: one load instead of a match.
static ESSENTIAL_SLOT: [u8; 256] = {
    let mut t = [0u8; 256];
    t[HeaderName::Via as usize] = 1;
    t[HeaderName::CSeq as usize] = 2;
    t[HeaderName::CallId as usize] = 3;
    t[HeaderName::From as usize] = 4;
    t[HeaderName::To as usize] = 5;
    t[HeaderName::MaxForwards as usize] = 6;
    t
};

/// The `tag` of a From or To value, without parsing its URI: the header parameters follow the
/// `>` of a name-addr, or the first `;` of a bare addr-spec (which may hold no `;`, §20.10).
pub(crate) fn tag_of(v: &str) -> Scan<Option<&str>> {
    let b = v.as_bytes();
    // Most values open with the '<' of a name-addr without display name.
    if b.first() == Some(&b'<') {
        let gt = find_byte(b, 1, b'>').ok_or(0usize)?;
        // Nothing after the `>` (the To of a request out of a dialog): no parameter.
        if gt + 1 == b.len() {
            return Ok(None);
        }
        return Ok(tag_param(v.get(gt + 1..).unwrap_or("")));
    }
    let mut i = 0;
    // A quoted display name may hold '<', '>' and ';'.
    while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
        i += 1;
    }
    if b.get(i) == Some(&b'"') {
        i += 1;
        while i < b.len() && b[i] != b'"' {
            i += if b[i] == b'\\' { 2 } else { 1 };
        }
        i += 1;
    }
    let rest = v.get(i.min(v.len())..).ok_or(i)?;
    // A name-addr's '<' comes before any ';'; a bare addr-spec's parameters start at its ';'.
    let r = rest.as_bytes();
    let params = match r.iter().position(|&c| c == b'<' || c == b';') {
        Some(lt) if r[lt] == b'<' => {
            let gt = find_byte(r, lt, b'>').ok_or(i + lt)?;
            rest.get(gt + 1..).unwrap_or("")
        }
        Some(semi) => rest.get(semi..).unwrap_or(""),
        None => "",
    };
    Ok(tag_param(params))
}

/// [`tag_of`] for the shape of nearly every From and To, inlined into
/// [`Headers::essentials`]: `<uri>` alone, or followed by `;tag=` and a value running to the
/// end. `None` for any other shape ([`tag_of`] decides); what it returns, [`tag_of`] returns
/// too (a proptest compares the two).
#[inline(always)]
fn tag_of_common(v: &str) -> Option<Option<&str>> {
    let b = v.as_bytes();
    if b.first() != Some(&b'<') {
        return None;
    }
    let gt = find_byte(b, 1, b'>')?;
    let p = gt + 1;
    if p == b.len() {
        return Some(None);
    }
    if b.get(p..p + 5) != Some(b";tag=") || skip_to_end(b, p + 5, C_PVAL) != b.len() {
        return None;
    }
    Some(Some(v.get(p + 5..)?))
}

/// `Params::new(params).value("tag")` in one pass, up to the `tag` parameter, while the
/// parameters have no whitespace and no quoted value (the general iterator decides otherwise).
fn tag_param(params: &str) -> Option<&str> {
    // As the iterator does: text before the first ';' is not a parameter; a name ends at the
    // first '=', a value at the next ';'; the first parameter named `tag` decides (a flag has
    // no value); empty names are skipped.
    let b = params.as_bytes();
    // `;tag=` first, as a From or To of the common shape has it: the first parameter is the
    // tag, its value runs to the next ';' (a quote or whitespace: the loop below decides).
    if let Some(b";tag=") = b.get(..5) {
        let k = skip(b, 5, C_PVAL);
        if k == b.len() || b[k] == b';' {
            return sub(params, 5, k);
        }
    }
    let mut i = find_byte(b, 0, b';')?;
    loop {
        let n0 = i + 1;
        let j = skip(b, n0, C_PNAME);
        let k = if b.get(j) == Some(&b'=') {
            skip(b, j + 1, C_PVAL)
        } else {
            j
        };
        match b.get(k) {
            None | Some(b';') => {}
            // A quote or whitespace: trimming and quoting rules apply.
            _ => return Params::new(params).value("tag"),
        }
        if b[n0..j].eq_ignore_ascii_case(b"tag") {
            return if k > j { sub(params, j + 1, k) } else { None };
        }
        if k == b.len() {
            return None;
        }
        i = k;
    }
}

/// One to four bare digits (a Content-Length, a Max-Forwards), one case per length: what
/// [`delta_seconds`] reads first, without a loop. `None` for any other value.
#[inline]
fn short_number(b: &[u8]) -> Option<u32> {
    let d = |c: u8| {
        let d = c.wrapping_sub(b'0');
        (d <= 9).then_some(u32::from(d))
    };
    match *b {
        [a] => d(a),
        [a, b] => Some(d(a)? * 10 + d(b)?),
        [a, b, c] => Some(d(a)? * 100 + d(b)? * 10 + d(c)?),
        [a, b, c, e] => Some(d(a)? * 1000 + d(b)? * 100 + d(c)? * 10 + d(e)?),
        _ => None,
    }
}

/// `delta-seconds` (RFC 3261 §25.1) up to 2^32-1, with optional surrounding whitespace.
fn delta_seconds(s: &str) -> Scan<u32> {
    // Common case: 1 to 9 bare digits, which cannot overflow.
    let b = s.as_bytes();
    let (end, n) = digits_bytewise(b, 0);
    if end == b.len() && (1..=9).contains(&end) {
        return Ok(n);
    }
    delta_seconds_grammar(s)
}

fn delta_seconds_grammar(s: &str) -> Scan<u32> {
    let mut c = Cursor::new(s);
    c.skip_ws();
    // RFC 3261 §20.19: delta-seconds up to 2^32-1; larger values are an error here.
    let n = c.number(u32::MAX.into())? as u32;
    c.end()?;
    Ok(n)
}

fn token_list(s: &str) -> Scan<()> {
    // Allow/Require/Supported elements: a token each; the list may be empty.
    let mut off = 0;
    let mut rest = Some(s);
    while let Some(r) = rest {
        let (item, tail) = super::headers::split_list_item(r);
        if !item.is_empty() && !item.bytes().all(is_token) {
            return Err(off);
        }
        off += r.len() - tail.map_or(0, str::len);
        rest = tail;
    }
    Ok(())
}

/// `callid = word [ "@" word ]` (RFC 3261 §25.1).
fn call_id(s: &str) -> Scan<&str> {
    // One pass over the common shape; the cursor finds the failing offset otherwise.
    let b = s.as_bytes();
    // Each word usually runs to the end of the value (a random string, or a host after '@').
    let w = skip_to_end(b, 0, C_WORD);
    if w > 0
        && (w == b.len()
            || (b[w] == b'@' && skip_to_end(b, w + 1, C_WORD) == b.len() && w + 1 < b.len()))
    {
        return Ok(s);
    }
    call_id_grammar(s)
}

fn call_id_grammar(s: &str) -> Scan<&str> {
    let mut c = Cursor::new(s);
    let w = c.take_while(is_word);
    if w.is_empty() {
        return c.fail();
    }
    if c.eat(b'@') && c.take_while(is_word).is_empty() {
        return c.fail();
    }
    if !c.is_empty() {
        return c.fail();
    }
    Ok(s)
}

/// `rfc1123-date = wkday "," SP date1 SP time SP "GMT"` (RFC 3261 §20.17, §25.1).
fn rfc1123_date(v: &str) -> Scan<()> {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    if !v.is_ascii() {
        return Err(0);
    }
    let b = v.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let ok = b.len() == 29
        && DAYS.contains(&&v[..3])
        && &v[3..5] == ", "
        && digits(5..7)
        && b[7] == b' '
        && MONTHS.contains(&&v[8..11])
        && b[11] == b' '
        && digits(12..16)
        && b[16] == b' '
        && digits(17..19)
        && b[19] == b':'
        && digits(20..22)
        && b[22] == b':'
        && digits(23..25)
        && &v[25..] == " GMT";
    if ok { Ok(()) } else { Err(0) }
}

/// Checks a From or To value (`NameAddr::parse`) and returns its tag.
fn name_addr_tag(v: &str) -> Scan<Option<&str>> {
    match NameAddr::common_tag(v) {
        Some(tag) => Ok(tag),
        None => NameAddr::parse_grammar(v).map(|na| na.tag()),
    }
}

/// The first via-parm of a Via field value (RFC 3261 §20.42: `via-parm *(COMMA via-parm)`).
/// A value of the common shape holds one via-parm (its characters include no comma, quote or
/// `<`, and it opens and ends with a non-blank): the list split, which would return it
/// unchanged, is skipped.
fn top_via_of(v: &str) -> Scan<Via<'_>> {
    match Via::parse_common(v) {
        Some(via) => Ok(via),
        None => first_via(v),
    }
}

/// The non-empty elements of a comma-separated field value, each with its offset in the value
/// (empty elements, as in `Via:,SIP/2.0/UDP h`, are skipped, as [`Headers::values`] does).
fn list_items(v: &str) -> impl Iterator<Item = (&str, usize)> {
    let mut rest = Some(v);
    let mut off = 0;
    std::iter::from_fn(move || {
        while let Some(r) = rest {
            let (item, tail) = super::headers::split_list_item(r);
            let at = off + r.len() - r.trim_start_matches([' ', '\t']).len();
            off += r.len() - tail.map_or(0, str::len);
            rest = tail;
            if !item.is_empty() {
                return Some((item, at));
            }
        }
        None
    })
}

/// The first via-parm of a Via field value, as [`check_vias`] reads the list: a value that
/// validates has a top Via.
#[cold]
#[inline(never)]
fn first_via(v: &str) -> Scan<Via<'_>> {
    let (item, at) = list_items(v).next().ok_or(0usize)?;
    Via::parse(item).map_err(|e| at + e)
}

/// Checks a Via field value (`via-parm *(COMMA via-parm)`) and returns its first via-parm.
fn check_vias(v: &str) -> Scan<Via<'_>> {
    let mut first = None;
    for (item, at) in list_items(v) {
        let via = Via::parse(item).map_err(|e| at + e)?;
        first = first.or(Some(via));
    }
    first.ok_or(0)
}

/// Checks one value of a known header against its grammar.
pub(crate) fn check_value(name: HeaderName, v: &str) -> Scan<()> {
    use HeaderName as H;
    let list = |f: &dyn Fn(&str) -> Scan<()>| -> Scan<()> {
        let mut rest = Some(v);
        let mut off = 0;
        let mut any = false;
        while let Some(r) = rest {
            let (item, tail) = super::headers::split_list_item(r);
            let lead = r.len() - r.trim_start_matches([' ', '\t']).len();
            if !item.is_empty() {
                any = true;
                f(item).map_err(|e| off + lead + e)?;
            }
            off += r.len() - tail.map_or(0, str::len);
            rest = tail;
        }
        if any { Ok(()) } else { Err(0) }
    };
    match name {
        H::Via if Via::parse_common(v).is_some() => Ok(()),
        H::Via => check_vias(v).map(drop),
        H::From | H::To | H::ReplyTo | H::ReferTo | H::ReferredBy => NameAddr::parse(v).map(drop),
        // One name-addr of the common shape is a list of one (no comma outside its '<>').
        H::Contact if NameAddr::common_tag(v).is_some() => Ok(()),
        H::Contact => {
            if v.trim() == "*" {
                Ok(())
            } else {
                list(&|i| NameAddr::parse(i).map(drop))
            }
        }
        H::Route | H::RecordRoute | H::Path | H::ServiceRoute => list(&|i| {
            let na = NameAddr::parse(i)?;
            if na.angle { Ok(()) } else { Err(0) }
        }),
        H::CallId => call_id(v).map(drop),
        H::CSeq => CSeq::parse(v).map(drop),
        H::RAck => RAck::parse(v).map(drop),
        H::MaxForwards => delta_seconds(v).and_then(|n| if n <= 255 { Ok(()) } else { Err(0) }),
        H::ContentLength | H::Expires | H::MinExpires => delta_seconds(v).map(drop),
        H::RSeq => delta_seconds(v).and_then(|n| if n >= 1 { Ok(()) } else { Err(0) }),
        H::ContentType if MediaType::is_common(v) => Ok(()),
        H::ContentType => MediaType::parse_grammar(v).map(drop),
        // One media range of the common shape (no comma, quote or whitespace) is a list of
        // one, the whole value.
        H::Accept if MediaType::is_common(v) => Ok(()),
        H::Accept => {
            if v.trim().is_empty() {
                Ok(())
            } else {
                list(&|i| MediaType::parse(i).map(drop))
            }
        }
        H::Allow
        | H::Require
        | H::ProxyRequire
        | H::Supported
        | H::Unsupported
        | H::AllowEvents
        | H::ContentEncoding
        | H::ContentLanguage => token_list(v),
        // codings / language-range *(SEMI accept-param) (§20.2, §20.3); may be empty.
        H::AcceptEncoding | H::AcceptLanguage => {
            if v.trim().is_empty() {
                Ok(())
            } else {
                list(&|i| Parameterized::parse_token(i).map(drop))
            }
        }
        // In-Reply-To: callid *(COMMA callid) (§20.21).
        // A Call-ID may hold '"' and '<' (`word`), so split on bare commas.
        H::InReplyTo => {
            let mut off = 0;
            for item in v.split(',') {
                let lead = item.len() - item.trim_start().len();
                call_id(item.trim()).map_err(|i| off + lead + i)?;
                off += item.len() + 1;
            }
            Ok(())
        }
        H::Event | H::SubscriptionState | H::ContentDisposition => {
            Parameterized::parse_token(v).map(drop)
        }
        H::Reason => list(&|i| Parameterized::parse_token(i).map(drop)),
        H::SessionExpires | H::MinSe | H::RetryAfter => {
            let s = v.split('(').next().unwrap_or(v); // Retry-After may carry a comment
            Parameterized::parse_delta(s).map(drop)
        }
        H::Replaces => Parameterized::parse_callid(v).map(drop),
        H::WwwAuthenticate | H::ProxyAuthenticate | H::Authorization | H::ProxyAuthorization => {
            Auth::parse(v).map(drop)
        }
        H::Date => rfc1123_date(v),
        // Free text or grammars sipline does not interpret: any TEXT-UTF8 is fine.
        _ => Ok(()),
    }
}

impl Headers {
    fn offset_of(&self, e: &Entry) -> usize {
        e.offset as usize
    }

    /// Finds the first value of `name` with its offset, or a `MissingHeader` error.
    fn required(&self, name: HeaderName) -> Result<(&str, usize), ParseError> {
        self.entries
            .iter()
            .find(|e| matches!(e.name, Name::Known(h) if h == name))
            .map(|e| (self.value_of(e), self.offset_of(e)))
            .ok_or(ParseError::new(ParseErrorKind::MissingHeader(name), 0))
    }

    fn value_of<'a>(&'a self, e: &'a Entry) -> &'a str {
        self.text(e.value)
    }

    fn typed<'a, T>(
        &'a self,
        name: HeaderName,
        f: impl FnOnce(&'a str) -> Scan<T>,
    ) -> Result<T, ParseError> {
        let (v, at) = self.required(name)?;
        f(v).map_err(|i| ParseError::new(ParseErrorKind::InvalidHeader(name), at + i))
    }

    fn typed_opt<'a, T>(
        &'a self,
        name: HeaderName,
        f: impl FnOnce(&'a str) -> Scan<T>,
    ) -> Result<Option<T>, ParseError> {
        match self.typed(name, f) {
            Err(ParseError {
                kind: ParseErrorKind::MissingHeader(_),
                ..
            }) => Ok(None),
            r => r.map(Some),
        }
    }

    /// The top Via value (RFC 3261 §8.1.1.7, §18.2.2).
    pub fn top_via(&self) -> Result<Via<'_>, ParseError> {
        let (v, at) = self.required(HeaderName::Via)?;
        // The common shape straight into the result, without a `Scan` in between.
        match Via::parse_common(v) {
            Some(via) => Ok(via),
            None => first_via(v).map_err(|i| {
                ParseError::new(ParseErrorKind::InvalidHeader(HeaderName::Via), at + i)
            }),
        }
    }

    /// Every Via value, top first.
    pub fn vias(&self) -> impl Iterator<Item = Result<Via<'_>, ParseError>> + '_ {
        self.typed_values(HeaderName::Via, Via::parse)
    }

    /// Every value of `name` (as [`Headers::values`]) parsed by `f`; errors carry the offset
    /// of the value in the message.
    fn typed_values<'a, T: 'a>(
        &'a self,
        name: HeaderName,
        f: impl Fn(&'a str) -> Scan<T> + 'a,
    ) -> impl Iterator<Item = Result<T, ParseError>> + 'a {
        self.values_at(name).map(move |(v, at)| {
            f(v).map_err(|i| ParseError::new(ParseErrorKind::InvalidHeader(name), at + i))
        })
    }

    /// From (RFC 3261 §20.20).
    pub fn from(&self) -> Result<NameAddr<'_>, ParseError> {
        self.typed(HeaderName::From, NameAddr::parse)
    }

    /// To (RFC 3261 §20.39).
    pub fn to(&self) -> Result<NameAddr<'_>, ParseError> {
        self.typed(HeaderName::To, NameAddr::parse)
    }

    /// Call-ID (RFC 3261 §20.8).
    pub fn call_id(&self) -> Result<&str, ParseError> {
        self.typed(HeaderName::CallId, call_id)
    }

    /// CSeq (RFC 3261 §20.16).
    pub fn cseq(&self) -> Result<CSeq, ParseError> {
        self.typed(HeaderName::CSeq, CSeq::parse)
    }

    /// Max-Forwards (RFC 3261 §20.22), if present.
    pub fn max_forwards(&self) -> Result<Option<u8>, ParseError> {
        self.typed_opt(HeaderName::MaxForwards, |v| {
            delta_seconds(v).and_then(|n| u8::try_from(n).map_err(|_| 0))
        })
    }

    /// Content-Length (RFC 3261 §20.14), if present.
    pub fn content_length(&self) -> Result<Option<u32>, ParseError> {
        // Asked of every message: the first field by a bare name compare, and its value of
        // the common shape (up to four bare digits) without a `Scan` to map.
        let Some(e) = self
            .entries
            .iter()
            .find(|e| matches!(e.name, Name::Known(HeaderName::ContentLength)))
        else {
            return Ok(None);
        };
        match short_number(self.value_of(e).as_bytes()) {
            Some(n) => Ok(Some(n)),
            None => self.content_length_slow(e),
        }
    }

    /// [`Headers::content_length`] of a value with whitespace, too long, or no number.
    #[cold]
    #[inline(never)]
    fn content_length_slow(&self, e: &Entry) -> Result<Option<u32>, ParseError> {
        self.parse_entry(e, HeaderName::ContentLength, delta_seconds)
            .map(Some)
    }

    /// Content-Type (RFC 3261 §20.15), if present.
    pub fn content_type(&self) -> Result<Option<MediaType<'_>>, ParseError> {
        self.typed_opt(HeaderName::ContentType, MediaType::parse)
    }

    /// Expires (RFC 3261 §20.19), if present.
    pub fn expires(&self) -> Result<Option<u32>, ParseError> {
        self.typed_opt(HeaderName::Expires, delta_seconds)
    }

    /// Every Contact value; `Contact: *` yields [`ContactValue::Star`].
    pub fn contacts(&self) -> impl Iterator<Item = Result<ContactValue<'_>, ParseError>> + '_ {
        self.typed_values(HeaderName::Contact, |v| {
            if v == "*" {
                Ok(ContactValue::Star)
            } else {
                NameAddr::parse(v).map(ContactValue::Addr)
            }
        })
    }

    /// Every value of a list of name-addrs (Route, Record-Route, Path, Service-Route).
    pub fn name_addrs(
        &self,
        name: HeaderName,
    ) -> impl Iterator<Item = Result<NameAddr<'_>, ParseError>> + '_ {
        self.typed_values(name, NameAddr::parse)
    }

    /// The tokens of an option-tag or method list: Require, Supported, Unsupported, Allow,
    /// Proxy-Require, Allow-Events (RFC 3261 §20.5, §20.32, §20.37, §20.40).
    pub fn tokens(&self, name: HeaderName) -> impl Iterator<Item = &str> + '_ {
        self.values(name)
    }

    /// Whether `tag` is listed in Supported or Require (e.g. `100rel`, `timer`, `replaces`).
    pub fn has_option_tag(&self, name: HeaderName, tag: &str) -> bool {
        self.values(name).any(|t| t.eq_ignore_ascii_case(tag))
    }

    /// Every media range of Accept (RFC 3261 §20.1); an empty Accept yields nothing.
    pub fn accept(&self) -> impl Iterator<Item = Result<MediaType<'_>, ParseError>> + '_ {
        self.typed_values(HeaderName::Accept, MediaType::parse)
    }

    /// RSeq (RFC 3262 §7.1), if present.
    pub fn rseq(&self) -> Result<Option<u32>, ParseError> {
        self.typed_opt(HeaderName::RSeq, |v| {
            delta_seconds(v).and_then(|n| if n >= 1 { Ok(n) } else { Err(0) })
        })
    }

    /// RAck (RFC 3262 §7.2), if present.
    pub fn rack(&self) -> Result<Option<RAck>, ParseError> {
        self.typed_opt(HeaderName::RAck, RAck::parse)
    }

    /// Refer-To (RFC 3515 §2.1), if present.
    pub fn refer_to(&self) -> Result<Option<NameAddr<'_>>, ParseError> {
        self.typed_opt(HeaderName::ReferTo, NameAddr::parse)
    }

    /// Referred-By (RFC 3892), if present.
    pub fn referred_by(&self) -> Result<Option<NameAddr<'_>>, ParseError> {
        self.typed_opt(HeaderName::ReferredBy, NameAddr::parse)
    }

    /// Replaces (RFC 3891 §6.1): Call-ID with `to-tag`, `from-tag`, `early-only`.
    pub fn replaces(&self) -> Result<Option<Parameterized<'_>>, ParseError> {
        self.typed_opt(HeaderName::Replaces, Parameterized::parse_callid)
    }

    /// Event (RFC 6665 §8.2.1), if present.
    pub fn event(&self) -> Result<Option<Parameterized<'_>>, ParseError> {
        self.typed_opt(HeaderName::Event, Parameterized::parse_token)
    }

    /// Subscription-State (RFC 6665 §8.2.3), if present.
    pub fn subscription_state(&self) -> Result<Option<Parameterized<'_>>, ParseError> {
        self.typed_opt(HeaderName::SubscriptionState, Parameterized::parse_token)
    }

    /// Session-Expires (RFC 4028 §4), if present; `refresher` is a parameter.
    pub fn session_expires(&self) -> Result<Option<Parameterized<'_>>, ParseError> {
        self.typed_opt(HeaderName::SessionExpires, Parameterized::parse_delta)
    }

    /// Min-SE (RFC 4028 §5), if present.
    pub fn min_se(&self) -> Result<Option<Parameterized<'_>>, ParseError> {
        self.typed_opt(HeaderName::MinSe, Parameterized::parse_delta)
    }

    /// Every Reason value (RFC 3326): protocol with `cause` and `text`.
    pub fn reasons(&self) -> impl Iterator<Item = Result<Parameterized<'_>, ParseError>> + '_ {
        self.typed_values(HeaderName::Reason, Parameterized::parse_token)
    }

    /// Every challenge or credentials of an auth header (WWW-Authenticate, Proxy-Authenticate,
    /// Authorization, Proxy-Authorization), one per field.
    pub fn auths(
        &self,
        name: HeaderName,
    ) -> impl Iterator<Item = Result<Auth<'_>, ParseError>> + '_ {
        self.typed_values(name, Auth::parse)
    }

    /// User-Agent (RFC 3261 §20.41), as text.
    pub fn user_agent(&self) -> Option<&str> {
        self.get(HeaderName::UserAgent)
    }

    /// Server (RFC 3261 §20.35), as text.
    pub fn server(&self) -> Option<&str> {
        self.get(HeaderName::Server)
    }

    /// Parses every known header against its grammar and rejects repeated single-valued
    /// headers (the "full typed parse" level). The error points at the offending value.
    pub fn validate(&self) -> Result<(), ParseError> {
        self.check_all(&mut Checked::default())
    }

    /// [`validate`](Self::validate), keeping the transaction fields parsed on the way in
    /// `found` (the caller's, all `None`): the first Via, CSeq, Call-ID, From and To tags and
    /// Max-Forwards, each `None` if absent. Filled in place rather than returned: the
    /// `Result` of the whole struct was one more copy of it.
    pub(crate) fn check_all<'a>(&'a self, found: &mut Checked<'a>) -> Result<(), ParseError> {
        use HeaderName as H;
        let mut seen = [0u64; 2];
        for e in self.entries.iter() {
            let Name::Known(h) = e.name else { continue };
            let v = self.value_of(e);
            let at = self.offset_of(e);
            let fail = |i| ParseError::new(ParseErrorKind::InvalidHeader(h), at + i);
            // The first of each transaction field is kept from its check (the grammar is the
            // one `check_value` applies); every other value is only checked.
            match h {
                // A value of the common shape holds one via-parm: no list to split.
                H::Via if found.via.is_none() => {
                    // Written in place: a `Some(match ...)` of the `Via` went through a temporary copy.
                    found.via = Via::parse_common(v);
                    if found.via.is_none() {
                        found.via = Some(check_vias(v).map_err(fail)?);
                    }
                }
                H::CSeq => found.cseq = Some(CSeq::parse(v).map_err(fail)?),
                H::CallId => found.call_id = Some(call_id(v).map_err(fail)?),
                H::From => found.from_tag = Some(name_addr_tag(v).map_err(fail)?),
                H::To => found.to_tag = Some(name_addr_tag(v).map_err(fail)?),
                H::MaxForwards => {
                    let n = delta_seconds(v).map_err(fail)?;
                    found.max_forwards = Some(u8::try_from(n).map_err(|_| fail(0))?);
                }
                // The usual other fields of a request, checked here with `check_value`'s
                // grammar (one dispatch per field, no call through its match); a value of
                // another shape goes to `check_value`.
                H::ContentLength => {
                    delta_seconds(v).map_err(fail)?;
                }
                H::Contact if NameAddr::common_tag(v).is_some() => {}
                H::ContentType | H::Accept if MediaType::is_common(v) => {}
                _ => check_value(h, v).map_err(fail)?,
            }
            if h.is_single_valued() {
                let (word, bit) = (&mut seen[(h as usize / 64) % 2], 1u64 << (h as u32 % 64));
                if *word & bit != 0 {
                    // Repeated with the same value (e.g. two equal Content-Length lines) is
                    // tolerated by the framer; anything here is a second field.
                    return Err(ParseError::new(ParseErrorKind::DuplicateHeader(h), at));
                }
                *word |= bit;
            }
        }
        Ok(())
    }

    /// Parses the transaction-relevant headers (see [`Essentials`]).
    pub fn essentials(&self) -> Result<Essentials<'_>, ParseError> {
        // The path every well-formed message takes: the first of each field found in one pass,
        // each parsed by the same functions as [`Headers::essentials_reference`], but without
        // an error to build per field. Any field missing or failing goes to the reference, which reports the
        // first problem in its fixed order (Via, CSeq, Call-ID, From, To, Max-Forwards).
        // The fields from the last to the first, each stored in its slot unconditionally: the
        // first of each is stored last. Slot 0 takes every other header. No test or branch
        // per field but the loop's (a header section holds ~10 fields; an early stop once
        // all six are found cost more in its bookkeeping than the fields it skipped).
        let mut first: [Option<&Entry>; 8] = [None; 8];
        for e in self.entries.iter().rev() {
            let slot = match e.name {
                Name::Known(h) => ESSENTIAL_SLOT[h as usize % ESSENTIAL_SLOT.len()],
                Name::Other(_) => 0,
            };
            first[usize::from(slot % 8)] = Some(e);
        }
        let [
            _,
            Some(via),
            Some(cseq),
            Some(call),
            Some(from),
            Some(to),
            mf,
            _,
        ] = first
        else {
            return self.essentials_reference();
        };
        let max_forwards = match mf {
            Some(e) => match short_number(self.value_of(e).as_bytes())
                .map_or_else(|| delta_seconds(self.value_of(e)), Ok)
                .map(u8::try_from)
            {
                Ok(Ok(n)) => Some(n),
                _ => return self.essentials_reference(),
            },
            None => None,
        };
        // Tags without validating the URIs: that is `validate()`'s work.
        let tag = |v| tag_of_common(v).map_or_else(|| tag_of(v), Ok);
        let (Ok(cseq), Ok(call_id), Ok(from_tag), Ok(to_tag)) = (
            CSeq::parse(self.value_of(cseq)),
            call_id(self.value_of(call)),
            tag(self.value_of(from)),
            tag(self.value_of(to)),
        ) else {
            return self.essentials_reference();
        };
        // The Via last: its fields go straight into the result, not kept across the calls.
        let via = self.value_of(via);
        match Via::parse_common_inline(via).or_else(|| first_via(via).ok()) {
            Some(via) => Ok(Essentials {
                via,
                cseq,
                call_id,
                from_tag,
                to_tag,
                max_forwards,
            }),
            _ => self.essentials_reference(),
        }
    }

    /// [`Headers::essentials`] field by field, each error built where it is found: the
    /// reference the one-pass path is compared with, and its fallback for the first error.
    #[cold]
    #[inline(never)]
    fn essentials_reference(&self) -> Result<Essentials<'_>, ParseError> {
        let first = |name: HeaderName| {
            self.entries
                .iter()
                .find(|e| matches!(e.name, Name::Known(h) if h == name))
        };
        fn req(e: Option<&Entry>, name: HeaderName) -> Result<&Entry, ParseError> {
            e.ok_or(ParseError::new(ParseErrorKind::MissingHeader(name), 0))
        }
        let (via, cseq, call) = (
            first(HeaderName::Via),
            first(HeaderName::CSeq),
            first(HeaderName::CallId),
        );
        let (from, to, mf) = (
            first(HeaderName::From),
            first(HeaderName::To),
            first(HeaderName::MaxForwards),
        );
        let via = self.parse_entry(req(via, HeaderName::Via)?, HeaderName::Via, top_via_of)?;
        let cseq = self.parse_entry(req(cseq, HeaderName::CSeq)?, HeaderName::CSeq, CSeq::parse)?;
        let call_id =
            self.parse_entry(req(call, HeaderName::CallId)?, HeaderName::CallId, call_id)?;
        let from_tag = self.parse_entry(req(from, HeaderName::From)?, HeaderName::From, tag_of)?;
        let to_tag = self.parse_entry(req(to, HeaderName::To)?, HeaderName::To, tag_of)?;
        let max_forwards = match mf {
            Some(e) => Some(self.parse_entry(e, HeaderName::MaxForwards, |v| {
                delta_seconds(v).and_then(|n| u8::try_from(n).map_err(|_| 0))
            })?),
            None => None,
        };
        Ok(Essentials {
            via,
            cseq,
            call_id,
            from_tag,
            to_tag,
            max_forwards,
        })
    }

    /// Parses one field's value with `f`, mapping a failure to an error at its offset.
    fn parse_entry<'a, T>(
        &'a self,
        e: &'a Entry,
        name: HeaderName,
        f: impl FnOnce(&'a str) -> Scan<T>,
    ) -> Result<T, ParseError> {
        let at = self.offset_of(e);
        f(self.value_of(e))
            .map_err(|i| ParseError::new(ParseErrorKind::InvalidHeader(name), at + i))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// `validated()` reports the first missing required field in its order: To, From, CSeq,
    /// Call-ID, Via for a request; Via, From, To, Call-ID, CSeq for a response.
    #[test]
    fn validated_reports_the_first_missing_field() {
        use crate::{Limits, Message, parse_message};
        let all = [
            "Via: SIP/2.0/UDP h;branch=z9hG4bK1",
            "From: <sip:a@h>;tag=1",
            "To: <sip:b@h>",
            "Call-ID: c",
            "CSeq: 1 OPTIONS",
        ];
        let check = |start: &str, gone: &[usize], want: HeaderName| {
            let mut m = format!("{start}\r\n");
            for (i, h) in all.iter().enumerate() {
                if !gone.contains(&i) {
                    m += h;
                    m += "\r\n";
                }
            }
            m += "Content-Length: 0\r\n\r\n";
            let msg = parse_message(bytes::Bytes::from(m), &Limits::default())
                .unwrap_or_else(|e| panic!("{e:?}"));
            let err = match &msg {
                Message::Request(r) => r.validated().map(drop),
                Message::Response(r) => r.validated().map(drop),
            };
            assert_eq!(
                err.map_err(|e| (e.kind, e.offset)),
                Err((ParseErrorKind::MissingHeader(want), 0)),
                "{start} without {gone:?}"
            );
        };
        let req = "OPTIONS sip:b@h SIP/2.0";
        check(req, &[0, 1, 2, 3, 4], HeaderName::To);
        check(req, &[0, 1, 3, 4], HeaderName::From);
        check(req, &[0, 3, 4], HeaderName::CSeq);
        check(req, &[0, 3], HeaderName::CallId);
        check(req, &[0], HeaderName::Via);
        let resp = "SIP/2.0 200 OK";
        check(resp, &[0, 1, 2, 3, 4], HeaderName::Via);
        check(resp, &[1, 2, 3, 4], HeaderName::From);
        check(resp, &[2, 3, 4], HeaderName::To);
        check(resp, &[3, 4], HeaderName::CallId);
        check(resp, &[4], HeaderName::CSeq);
    }

    /// An empty list element before the first via-parm (`Via:,SIP/2.0/UDP h`) is skipped by
    /// `validate()`, so `essentials()` and `top_via()` skip it too (found by the mutation
    /// proptest in tests/roundtrip.rs).
    #[test]
    fn the_top_via_skips_empty_list_elements() {
        for via in [
            ",SIP/2.0/UDP a.example;branch=z9hG4bKA",
            " , ,SIP/2.0/UDP  a.example ;branch=z9hG4bKA ;received=192.0.2.1",
        ] {
            let raw = format!(
                "OPTIONS sip:b@example.com SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\n\
                 To: <sip:b@example.com>\r\nFrom: <sip:a@example.com>;tag=1\r\n\
                 Call-ID: c@a\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
            );
            let m =
                crate::parse_message(bytes::Bytes::from(raw), &crate::Limits::default()).unwrap();
            assert!(m.validate().is_ok(), "{via}");
            let e = m.essentials().unwrap();
            assert_eq!(e.via.branch(), Some("z9hG4bKA"), "{via}");
            assert_eq!(m.headers().top_via().unwrap().host, "a.example", "{via}");
        }
        // Only empty elements: no Via to read, and an error rather than a panic.
        assert_eq!(first_via(" , ,").err(), Some(0));
    }

    #[test]
    fn common_via_shape_matches_the_grammar() {
        for v in [
            "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport",
            "SIP/2.0/TCP host.example;branch=z9hG4bKx;received=192.0.2.1;rport=5061",
            "SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bK;ttl=16;maddr=10.0.0.1",
            "SIP/2.0/UDP a:0",
        ] {
            assert_eq!(Via::parse_common(v), Via::parse_grammar(v).ok(), "{v}");
            assert!(Via::parse_common(v).is_some(), "{v}");
        }
        for v in [
            "SIP/2.0/UDP a:65536",
            "SIP/2.0/UDP -a;branch=x",
            "SIP/2.0/UDP a..b",
            "SIP/2.0/UDP a;branch",
            "SIP/2.0/UDP a;ttl=256",
            "SIP/2.0/UDP a;rport=x",
            "SIP/2.0/UDP a;",
            "SIP/2.0/UDP a;received=-x",
        ] {
            assert_eq!(Via::parse_common(v), None, "{v}");
            assert!(Via::parse_grammar(v).is_err(), "{v}");
        }
        // Shapes the common path leaves to the grammar, which accepts them.
        for v in ["SIP/2.0/UDP a:050600", "sip/2.0/udp a", "SIP/2.0/UDP a ;lr"] {
            assert_eq!(Via::parse_common(v), None, "{v}");
            assert!(Via::parse_grammar(v).is_ok(), "{v}");
        }
    }

    #[test]
    fn tag_matches_the_params_iterator() {
        for p in [
            "",
            ";tag=1",
            ";Tag=1;tag=2",
            ";tag;tag=2",
            ";x=tag=1;tag=",
            "junk;tag=a=b",
            ";;tag=x",
            "; tag = x",
            ";tag=\"q;x\"",
        ] {
            assert_eq!(tag_param(p), Params::new(p).value("tag"), "{p}");
        }
    }

    /// `tag_of` as it was before its single-pass rewrite: the reference its fast paths are
    /// compared with.
    fn tag_of_reference(v: &str) -> Scan<Option<&str>> {
        let b = v.as_bytes();
        let mut i = 0;
        while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
            i += 1;
        }
        if b.get(i) == Some(&b'"') {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
        }
        let rest = v.get(i.min(v.len())..).ok_or(i)?;
        let r = rest.as_bytes();
        let params = match r.iter().position(|&c| c == b'<' || c == b';') {
            Some(lt) if r[lt] == b'<' => {
                let gt = r[lt..].iter().position(|&c| c == b'>').ok_or(i + lt)?;
                &rest[lt + gt + 1..]
            }
            Some(semi) => &rest[semi..],
            None => "",
        };
        Ok(Params::new(params).value("tag"))
    }

    #[test]
    fn common_name_addr_and_media_type_shapes_match_the_grammar() {
        for v in [
            "<sip:alice@example.com>;tag=1928301774",
            "<sip:bob@example.net>",
            "<sip:alice@192.0.2.10:5060;transport=tcp>;expires=3600;+sip.instance=x",
            "<sip:a@b>;Tag=x;tag=y",
            "<sip:a@b>;tag;tag=y",
            "<sip:a@b>;received=2001:db8::1",
            "\"Alice\" <sip:alice@example.com>;tag=1928301774",
            "\"\"<sip:a@b>",
            "\"A <;>, B\"\t <sip:a@b>;tag=x",
            "\"Ålice\" <sip:a@b>",
        ] {
            let (na, tag) = NameAddr::parse_common(v).expect(v);
            let g = NameAddr::parse_grammar(v).unwrap();
            assert_eq!(format!("{na:?}"), format!("{g:?}"), "{v}");
            assert_eq!(tag, g.tag(), "{v}");
        }
        for v in [
            "A <sip:a@b>",
            "\"A\\\"\" <sip:a@b>",
            "\"A\" x <sip:a@b>",
            "\"A\x01\" <sip:a@b>",
            "\"A <sip:a@b>",
            "<sip:a@b> ;tag=x",
            "<sip:a@b>;tag=\"x\"",
            "<sip:a@b>;tag=",
            "<sip:a b>",
            "<sip:a@b>,<sip:c@d>",
        ] {
            assert!(NameAddr::parse_common(v).is_none(), "{v}");
        }
        for v in [
            "application/sdp",
            "multipart/mixed;boundary=unique-boundary-1",
        ] {
            assert_eq!(
                MediaType::parse_common(v),
                MediaType::parse_grammar(v).ok(),
                "{v}"
            );
            assert!(MediaType::parse_common(v).is_some(), "{v}");
        }
        for v in [
            "a84b4c76e66710",
            "f81d4fae@foo.example.com",
            "a@b",
            "x<y>@[z]",
        ] {
            assert_eq!(call_id(v), call_id_grammar(v), "{v}");
        }
        for v in ["", "@", "a@", "@b", "a@b@c", "a b", "a;b"] {
            assert_eq!(call_id(v), call_id_grammar(v), "{v}");
            assert!(call_id(v).is_err(), "{v}");
        }
    }

    /// Parameters mostly of the common shape, with now and then whitespace, a quote, a
    /// bracket or an empty part (the fast paths must hand those to the general grammar).
    fn params_strategy() -> impl Strategy<Value = String> {
        let sep = prop_oneof![8 => "[;]", 1 => " ;", 1 => "; ", 1 => ";;"];
        let name = prop_oneof![
            4 => "tag",
            1 => "Tag",
            1 => "branch",
            1 => "rport",
            1 => "received",
            1 => "ttl",
            1 => "maddr",
            2 => "[a-zA-Z+.]{0,4}",
        ];
        let value = prop_oneof![
            3 => "",
            4 => "=[a-z0-9.\\-]{1,8}",
            1 => "=[0-9]{1,4}",
            1 => "=[0-9:.]{1,8}",
            1 => "=\\[::1\\]",
            1 => "=\"[a-z;]{0,3}\"",
            1 => "=[a-z0-9:.\\[\\]\"= ]{0,4}",
        ];
        proptest::collection::vec((sep, name, value), 0..4).prop_map(|ps| {
            ps.into_iter()
                .map(|(a, b, c)| format!("{a}{b}{c}"))
                .collect()
        })
    }

    fn tail_strategy() -> impl Strategy<Value = String> {
        prop_oneof![8 => "", 1 => " ", 1 => ",", 1 => ";", 1 => ", <sip:x>"]
    }

    fn name_addr_strategy() -> impl Strategy<Value = String> {
        let display = prop_oneof![
            6 => "",
            2 => "\"A\" ",
            1 => "A ",
            1 => " ",
            1 => "\"<;>\"",
            2 => "\"[A-Za-z ,;<>\\\\\"\t\x01é]{0,4}\"[ \t]{0,2}",
        ];
        let uri = prop_oneof![
            4 => "sip:alice@example\\.com",
            3 => "sips?:[a-z]{1,3}@[a-z0-9.\\-]{1,6}(:5060)?(;lr|;transport=tcp)?",
            1 => "[a-z0-9@.:;= \\[\\]]{0,12}",
        ];
        let close = prop_oneof![8 => ">", 1 => ""];
        (display, uri, close, params_strategy(), tail_strategy())
            .prop_map(|(d, u, c, p, t)| format!("{d}<{u}{c}{p}{t}"))
    }

    fn via_strategy() -> impl Strategy<Value = String> {
        let transport = prop_oneof![4 => "UDP", 1 => "[A-Za-z]{1,4}", 1 => ""];
        let space = prop_oneof![8 => " ", 1 => "  ", 1 => "\t"];
        let host = prop_oneof![
            3 => "192\\.0\\.2\\.10",
            3 => "[a-z0-9]{1,3}([.\\-]{1,2}[a-z0-9]{0,3}){0,3}",
            1 => "[a-z0-9.\\-\\[\\]:]{1,12}",
        ];
        let port = prop_oneof![3 => "", 4 => ":[0-9]{1,5}", 1 => ":[0-9]{0,7}"];
        (
            transport,
            space,
            host,
            port,
            params_strategy(),
            tail_strategy(),
        )
            .prop_map(|(t, s, h, p, ps, tl)| format!("SIP/2.0/{t}{s}{h}{p}{ps}{tl}"))
    }

    fn media_type_strategy() -> impl Strategy<Value = String> {
        let top = prop_oneof![4 => "application", 1 => "[a-z*]{0,4}", 1 => " text"];
        let slash = prop_oneof![8 => "/", 1 => " / ", 1 => ""];
        let sub = prop_oneof![4 => "sdp", 1 => "[a-z+*.\\-]{0,5}"];
        (top, slash, sub, params_strategy(), tail_strategy())
            .prop_map(|(a, b, c, p, t)| format!("{a}{b}{c}{p}{t}"))
    }

    proptest! {
        // The fast paths take 10-30% of these inputs; more cases reach more of their edges.
        #![proptest_config(ProptestConfig::with_cases(1024))]

        #[test]
        fn digits_at_agrees_with_a_byte_loop(
            b in proptest::collection::vec(
                prop_oneof![6 => proptest::char::range('0', '9').prop_map(|c| c as u8), 1 => any::<u8>()],
                0..14,
            ),
            i in 0usize..4,
        ) {
            let mut end = i;
            let mut n = 0u32;
            while let Some(&c) = b.get(end).filter(|c| c.is_ascii_digit()) {
                n = n.wrapping_mul(10).wrapping_add(u32::from(c - b'0'));
                end += 1;
            }
            let (e, v) = digits_at(&b, i);
            prop_assert_eq!(e, end.max(i));
            if e - i <= 9 {
                prop_assert_eq!(v, n);
            }
            prop_assert_eq!(digits_bytewise(&b, i), (end.max(i), n));
        }

        #[test]
        fn sub_is_a_range_get(s in "[a-zé€;<>]{0,6}", a in 0usize..16, b in 0usize..16) {
            prop_assert_eq!(sub(&s, a, b), s.get(a..b));
        }

        #[test]
        fn skip_and_find_agree_with_byte_loops(
            b in proptest::collection::vec(
                prop_oneof![6 => proptest::char::range('0', 'z').prop_map(|c| c as u8), 1 => any::<u8>()],
                0..40,
            ),
            from in 0usize..44,
        ) {
            for class in [C_TOKEN, C_ALNUM, C_VALUE, C_WORD, C_PNAME, C_PVAL] {
                let mut i = from;
                while b.get(i).is_some_and(|&c| CLASS[c as usize] & class != 0) {
                    i += 1;
                }
                prop_assert_eq!(skip(&b, from, class), i.max(from));
                prop_assert_eq!(skip_to_end(&b, from, class), i.max(from));
            }
            let uri_end = b.iter().skip(from).position(|c| matches!(c, b'>' | b' ' | b'\t'));
            prop_assert_eq!(find_uri_end(&b, from), uri_end.map(|p| p + from));
            let semi = b.iter().skip(from).position(|&c| c == b';');
            prop_assert_eq!(find_byte(&b, from, b';'), semi.map(|p| p + from));
        }

        #[test]
        fn tag_of_agrees_with_the_reference(
            s in prop_oneof![name_addr_strategy(), "[ \t]?(|\"[a-z<>;\\\\\"]{0,4}\"? ?|[a-z]{1,3} )(<[a-z:@;=>]{0,8}>?|[a-z:@<]{0,6})( ?;( ?tag|Tag|[a-z]{0,3})(=[a-z0-9 \"=;]{0,5})?){0,3}"]
        ) {
            prop_assert_eq!(tag_of(&s), tag_of_reference(&s));
            if let Some(t) = tag_of_common(&s) {
                prop_assert_eq!(Ok(t), tag_of(&s));
            }
        }

        #[test]
        fn name_addr_fast_path_agrees(
            s in name_addr_strategy()
        ) {
            if let Some((na, tag)) = NameAddr::parse_common(&s) {
                let g = NameAddr::parse_grammar(&s);
                prop_assert!(g.is_ok(), "{}", s);
                let g = g.unwrap();
                prop_assert_eq!(format!("{na:?}"), format!("{g:?}"));
                prop_assert_eq!(tag, g.tag());
                // What the general Contact check does: one list item, the whole value.
                let (item, rest) = crate::message::headers::split_list_item(&s);
                prop_assert_eq!((item, rest), (s.as_str(), None));
                prop_assert_eq!(NameAddr::common_tag(&s), Some(tag));
            }
            prop_assert_eq!(
                name_addr_tag(&s),
                NameAddr::parse_grammar(&s).map(|na| na.tag())
            );
        }

        /// The From/To check (its `sip:` URI checked in the pass that finds the `>`) agrees
        /// with the grammar on common values with a few bytes replaced.
        #[test]
        fn name_addr_check_agrees_on_mutated_values(
            which in 0..4usize,
            edits in proptest::collection::vec(
                (any::<proptest::sample::Index>(),
                 proptest::sample::select(&b"<>@:;=?%[]. \t\"-_+,/\\0aZ\xc3"[..])),
                1..4),
        ) {
            let base = [
                "\"Alice\" <sip:alice@example.com>;tag=1928301774",
                "<sip:bob@example.com>",
                "<sips:[2001:db8::10]:5061;transport=tls>;tag=a;x",
                "<sip:192.0.2.10:5060;lr>",
            ][which];
            let m = crate::test_util::mutated(base.as_bytes(), &edits);
            if let Ok(v) = std::str::from_utf8(&m) {
                prop_assert_eq!(
                    name_addr_tag(v),
                    NameAddr::parse_grammar(v).map(|na| na.tag()),
                    "{:?}", v
                );
            }
        }

        /// `check_all`'s own dispatch of Content-Length, Contact, Content-Type and Accept
        /// gives `check_value`'s verdict: same acceptance, same error kind and offset.
        #[test]
        fn check_all_dispatch_agrees_with_check_value(
            which in 0..5usize,
            edits in proptest::collection::vec(
                (any::<proptest::sample::Index>(),
                 proptest::sample::select(&b"<>@:;=?%[]./\",\"*-0aZ"[..])),
                0..3),
        ) {
            use crate::{Limits, Message, parse_message};
            let (name, h, base) = [
                ("Content-Length", HeaderName::ContentLength, "0"),
                ("Contact", HeaderName::Contact, "<sip:alice@192.0.2.10:5060>;expires=60"),
                ("Content-Type", HeaderName::ContentType, "application/sdp;charset=utf-8"),
                ("Accept", HeaderName::Accept, "application/sdp,text/plain"),
                ("Contact", HeaderName::Contact, "\"A\" <sips:a@b>,<sip:c@d;lr>"),
            ][which];
            let m = crate::test_util::mutated(base.as_bytes(), &edits);
            let Ok(v) = std::str::from_utf8(&m) else { return Ok(()) };
            let head = format!(
                "OPTIONS sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
                 From: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\
                 {name}: "
            );
            let text = format!("{head}{v}\r\n\r\n");
            let Ok(Message::Request(r)) =
                parse_message(bytes::Bytes::from(text), &Limits::default())
            else {
                return Ok(());
            };
            let want = check_value(h, v)
                .map_err(|i| (ParseErrorKind::InvalidHeader(h), head.len() + i));
            prop_assert_eq!(r.validate().map_err(|e| (e.kind, e.offset)), want, "{:?}", v);
        }

        #[test]
        fn media_type_and_call_id_fast_paths_agree(
            m in media_type_strategy(),
            tail in prop_oneof![6 => "", 1 => ",", 1 => ", text/html", 1 => " ", 1 => ",,"],
            c in "[a-z0-9@<>\"\\[\\]: ;.]{0,10}",
        ) {
            prop_assert_eq!(MediaType::is_common(&m), MediaType::parse_common(&m).is_some());
            if let Some(t) = MediaType::parse_common(&m) {
                prop_assert_eq!(Ok(t), MediaType::parse_grammar(&m));
                // What the general Accept check does: one list item, the whole value.
                let (item, rest) = crate::message::headers::split_list_item(&m);
                prop_assert_eq!((item, rest), (m.as_str(), None));
            }
            // An Accept list: the fast path of `check_value` takes a whole value or none.
            let a = format!("{m}{tail}");
            prop_assert_eq!(MediaType::is_common(&a), MediaType::parse_common(&a).is_some());
            if MediaType::parse_common(&a).is_some() {
                prop_assert_eq!(crate::message::headers::split_list_item(&a), (a.as_str(), None));
                prop_assert!(MediaType::parse(&a).is_ok());
            }
            prop_assert_eq!(call_id(&c), call_id_grammar(&c));
        }
    }

    proptest! {
        #[test]
        fn via_fast_path_agrees(
            s in via_strategy()
        ) {
            if let Some(v) = Via::parse_common(&s) {
                prop_assert_eq!(Some(v), Via::parse_grammar(&s).ok());
                prop_assert_eq!(Ok(v), check_vias(&s));
            }
        }

        /// The one-pass `essentials()` gives what the reference gives, value or first error,
        /// on header sections with the six fields shuffled, repeated, missing or malformed.
        #[test]
        fn essentials_agrees_with_the_reference(
            lines in proptest::collection::vec(
                prop_oneof![
                    Just("Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport"),
                    Just("v: SIP/2.0/TCP h.example;branch=z9hG4bKx, SIP/2.0/UDP b"),
                    Just("Via: SIP/2.0/UDP -bad"),
                    Just("CSeq: 314159 INVITE"),
                    Just("CSeq: 1  OPTIONS"),
                    Just("CSeq: x INVITE"),
                    Just("Call-ID: a84b4c76e66710"),
                    Just("i: a84b4c76e66710@host"),
                    Just("Call-ID: a b"),
                    Just("From: <sip:alice@example.com>;tag=1928301774"),
                    Just("f: \"A;B\" <sip:a@b>;x;tag=9"),
                    Just("From: <sip:a@b"),
                    Just("To: <sip:bob@example.net>"),
                    Just("t: sip:bob@b;tag=2"),
                    Just("Max-Forwards: 70"),
                    Just("Max-Forwards: 256"),
                    Just("Max-Forwards:  7x"),
                    Just("Contact: <sip:alice@192.0.2.10:5060>"),
                    Just("Content-Length: 0"),
                    Just("X-Other: 1"),
                ],
                0..12,
            )
        ) {
            let text = format!("OPTIONS sip:a@b SIP/2.0\r\n{}\r\n\r\n", lines.join("\r\n"));
            let limits = crate::Limits::default();
            if let Ok(m) = crate::parse::parse_message(bytes::Bytes::from(text), &limits) {
                let h = m.headers();
                prop_assert_eq!(
                    format!("{:?}", h.essentials()),
                    format!("{:?}", h.essentials_reference())
                );
            }
        }

        #[test]
        fn tag_fast_path_agrees(s in "[a-z;=\" \t]{0,6}(;(tag|TAG|x|)(=[a-z\"= ;]{0,4})?[ \"]?){0,4}") {
            prop_assert_eq!(tag_param(&s), Params::new(&s).value("tag"));
        }

        #[test]
        fn cseq_and_delta_fast_paths_agree(n in "[0-9 \t]{0,12}", m in "[A-Za-z \t]{0,8}") {
            let s = format!("{n}{m}");
            prop_assert_eq!(CSeq::parse(&s), CSeq::parse_grammar(&s));
            prop_assert_eq!(delta_seconds(&n), delta_seconds_grammar(&n));
            if let Some(v) = short_number(n.as_bytes()) {
                prop_assert_eq!(Ok(v), delta_seconds(&n));
            }
        }
    }
}
