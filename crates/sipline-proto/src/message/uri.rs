//! URIs: SIP and SIPS (RFC 3261 §19.1, §25.1), tel (RFC 3966), and any other scheme kept as an
//! absolute URI (RFC 3986). Text is kept exactly as received, `%`-escapes included.

use std::fmt;

use bytestring::ByteString;

use super::params::Params;
use crate::error::{ParseError, ParseErrorKind};
use crate::parse::scan::check_escaped;

/// The scheme of a [`Uri`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `sip:` (RFC 3261 §19.1)
    Sip,
    /// `sips:` (RFC 3261 §19.1)
    Sips,
    /// `tel:` (RFC 3966)
    Tel,
    /// Any other scheme, kept as an absolute URI.
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Span(u32, u32);

impl Span {
    fn of<'a>(&self, s: &'a str) -> &'a str {
        s.get(self.0 as usize..self.1 as usize).unwrap_or("")
    }
}

/// Where the parts of a URI lie in its text; computed once by the parser. Kept in every
/// [`Uri`], so it stores only what cannot be derived (32 bytes): the user starts right after
/// the scheme's `:`, a password lies between the user and the `@` before the host, and the
/// headers follow the `?` that ends the parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UriParts {
    scheme: Scheme,
    /// Whether the userinfo has a `:password` (between `user_end + 1` and the `@`).
    password: bool,
    port: Option<u16>,
    scheme_end: u32,
    /// Where the user part (or a tel number) ends; no user when that is right after the `:`.
    user_end: u32,
    host: Span,
    /// The parameters, `;` included; anything after them is `?` and the headers.
    params: Span,
}

/// A borrowed, parsed URI: a view into some text.
#[derive(Debug, Clone, Copy)]
pub struct UriRef<'a> {
    raw: &'a str,
    parts: UriParts,
}

/// An owned, parsed URI. Cheap to clone when it shares a received message's buffer.
#[derive(Clone)]
pub struct Uri {
    raw: ByteString,
    parts: UriParts,
}

fn bad(at: usize) -> ParseError {
    ParseError::new(ParseErrorKind::InvalidUri, at)
}

/// `paramchar` (RFC 3261 §25.1).
fn is_paramchar(b: u8) -> bool {
    URI_CLASSES[b as usize] & C_PARAM != 0
}

/// Characters allowed unescaped in an absolute URI we do not interpret (RFC 3986 §2).
fn is_uric(b: u8) -> bool {
    b.is_ascii_graphic()
        && !matches!(
            b,
            b'<' | b'>' | b'"' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}'
        )
}

fn check(s: &str, base: usize, ok: impl Fn(u8) -> bool) -> Result<(), ParseError> {
    check_escaped(s, ok).map_err(|i| bad(base + i))
}

const C_USER: u8 = 1;
const C_PASSWORD: u8 = 2;
const C_PARAM: u8 = 4;
const C_HCHAR: u8 = 8;
const C_HOST: u8 = 16;
/// A hostname label character after its first: alphanumeric or `-` (RFC 3261 §25.1 `domainlabel`).
const C_LABEL: u8 = 32;
/// Alphanumeric: what a hostname label starts with.
const C_ALNUM: u8 = 64;

/// The URI character classes above, one bit each, looked up once per byte.
/// The bits: `user-unreserved` / unreserved (user), the password characters, `paramchar`,
/// `hnv-unreserved` / unreserved plus `=` and `&` (the header part), host characters, label
/// characters (alphanumerics and `-`) and alphanumerics.
static URI_CLASSES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let alnum = b.is_ascii_alphanumeric();
        let unreserved = alnum
            || matches!(
                b,
                b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
            );
        let user = unreserved || matches!(b, b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/');
        let password = unreserved || matches!(b, b'&' | b'=' | b'+' | b'$' | b',');
        let param = unreserved || matches!(b, b'[' | b']' | b'/' | b':' | b'&' | b'+' | b'$');
        let hchar = unreserved
            || matches!(
                b,
                b'[' | b']' | b'/' | b'?' | b':' | b'+' | b'$' | b'=' | b'&'
            );
        let host = alnum || b == b'-' || b == b'.';
        t[i] = (user as u8 * C_USER)
            | (password as u8 * C_PASSWORD)
            | (param as u8 * C_PARAM)
            | (hchar as u8 * C_HCHAR)
            | (host as u8 * C_HOST)
            | ((alnum || b == b'-') as u8 * C_LABEL)
            | (alnum as u8 * C_ALNUM);
        i += 1;
    }
    t
};

/// Whether `b[i]` starts a valid `%HH` escape.
#[inline]
fn escape_at(b: &[u8], i: usize) -> bool {
    b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
        && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
}

/// Scans `b[i..]` while bytes are in `class` (or are `%HH` escapes); returns where it stopped.
#[inline]
fn scan_class(b: &[u8], mut i: usize, class: u8) -> Result<usize, ParseError> {
    while let Some(&c) = b.get(i) {
        if URI_CLASSES[c as usize] & class != 0 {
            i += 1;
        } else if c == b'%' {
            if !escape_at(b, i) {
                return Err(bad(i));
            }
            i += 3;
        } else {
            break;
        }
    }
    Ok(i)
}

/// The parts of a `sip:`/`sips:` URI after the scheme (RFC 3261 §25.1 `SIP-URI`), in one
/// forward pass: `[ userinfo ] hostport uri-parameters [ headers ]`.
fn sip_parts(b: &[u8], body_start: usize, parts: &mut UriParts) -> Result<(), ParseError> {
    let end = b.len();
    let sp = |a: usize, z: usize| Span(a as u32, z as u32);
    // userinfo: up to the first '@' (no '@' may appear unescaped after it).
    let mut host_start = body_start;
    if let Some(at) = b[body_start..].iter().position(|&c| c == b'@') {
        let at = body_start + at;
        // user: user-unreserved / unreserved / escaped, then [ ":" password ].
        let user_end = scan_class(&b[..at], body_start, C_USER)?;
        if user_end == body_start {
            return Err(bad(body_start));
        }
        parts.user_end = user_end as u32;
        if user_end < at {
            if b[user_end] != b':' {
                return Err(bad(user_end));
            }
            let p_end = scan_class(&b[..at], user_end + 1, C_PASSWORD)?;
            if p_end < at {
                return Err(bad(p_end));
            }
            parts.password = true;
        }
        host_start = at + 1;
    }
    // host: an IPv6 reference, or labels of alphanumerics and '-' separated by '.'.
    let host_end = if b.get(host_start) == Some(&b'[') {
        let close = b[host_start..]
            .iter()
            .position(|&c| c == b']')
            .map(|i| host_start + i + 1)
            .ok_or(bad(host_start))?;
        let inner =
            std::str::from_utf8(&b[host_start + 1..close - 1]).map_err(|_| bad(host_start))?;
        if !valid_ipv6(inner) {
            return Err(bad(host_start));
        }
        close
    } else {
        let mut prev = b'.';
        let mut i = host_start;
        while let Some(&c) = b.get(i) {
            if URI_CLASSES[c as usize] & C_HOST == 0 {
                break;
            }
            // No empty label, no label starting with '-'.
            if prev == b'.' && (c == b'.' || c == b'-') {
                return Err(bad(host_start));
            }
            prev = c;
            i += 1;
        }
        if i == host_start {
            return Err(bad(host_start));
        }
        i
    };
    parts.host = sp(host_start, host_end);
    let mut i = host_end;
    if b.get(i) == Some(&b':') {
        let p_start = i + 1;
        let mut port: u32 = 0;
        i = p_start;
        while let Some(&c) = b.get(i) {
            if !c.is_ascii_digit() {
                break;
            }
            port = port * 10 + u32::from(c - b'0');
            if i - p_start >= 5 || port > u32::from(u16::MAX) {
                return Err(bad(p_start));
            }
            i += 1;
        }
        if i == p_start || !matches!(b.get(i), None | Some(b';' | b'?')) {
            return Err(bad(p_start));
        }
        parts.port = u16::try_from(port).ok();
    }
    // uri-parameters: *( ";" pname [ "=" pvalue ] ), pname and pvalue 1*paramchar.
    let params_start = i;
    while b.get(i) == Some(&b';') {
        let name_start = i + 1;
        let name_end = scan_class(b, name_start, C_PARAM)?;
        if name_end == name_start {
            return Err(bad(name_start));
        }
        i = name_end;
        if b.get(i) == Some(&b'=') {
            i = scan_class(b, i + 1, C_PARAM)?;
        }
    }
    parts.params = sp(params_start, i);
    match b.get(i) {
        None => {}
        Some(b'?') => {
            let h_end = scan_class(b, i + 1, C_HCHAR)?;
            if h_end < end {
                return Err(bad(h_end));
            }
            // The headers: what follows the `?` after `params`.
        }
        Some(_) => return Err(bad(i)),
    }
    Ok(())
}

/// Scans `b[i..]` while bytes are in `class`, without escapes; returns where it stopped.
#[inline(always)]
fn scan_plain(b: &[u8], i: usize, class: u8) -> usize {
    let rest = b.get(i..).unwrap_or_default();
    i + rest
        .iter()
        .position(|&c| URI_CLASSES[c as usize] & class == 0)
        .unwrap_or(rest.len())
}

/// Scans a hostname or IPv4 address (RFC 3261 §25.1 `hostname` / `IPv4address`, as
/// [`sip_parts`] reads them) from `b[i..]`: labels of alphanumerics and `-`, each starting with
/// an alphanumeric, separated by `.`, with an optional final `.`. Returns where it stopped: at
/// the first byte that is not a host character, or at a label that does not start with an
/// alphanumeric (which [`sip_parts`] would reject, so the caller leaves it to it). One loop
/// over the bytes; only a `.` looks at the byte after it.
#[inline(always)]
fn hostname_end(b: &[u8], mut i: usize) -> usize {
    if b.get(i)
        .is_none_or(|&c| URI_CLASSES[c as usize] & C_ALNUM == 0)
    {
        return i;
    }
    while let Some(&c) = b.get(i) {
        if URI_CLASSES[c as usize] & C_LABEL != 0 {
            i += 1;
        } else if c == b'.' {
            i += 1;
            // The next label starts with an alphanumeric, or the host ends here.
            if matches!(b.get(i), Some(b'.' | b'-')) {
                break;
            }
        } else {
            break;
        }
    }
    i
}

/// The common shape of a `sip:`/`sips:` URI in one tight pass (RFC 3261 §19.1.1, §25.1):
/// a lower- or upper-case scheme, an optional user of unescaped `user-unreserved` /
/// unreserved characters other than `;`, `?` and `/` (no password), a hostname, IPv4 address
/// or IPv6 reference, an optional port, then `;pname[=pvalue]` parameters without escapes,
/// and no headers. It exists because every request and most headers carry such a URI, and the
/// general parser spends most of its time finding the `@` and checking classes byte by byte
/// again. `None` for anything else, left to the general parser (which also reports the errors):
/// what this accepts, [`parse_general`] accepts with the same parts (a proptest compares them).
#[inline(always)]
fn sip_common(b: &[u8]) -> Option<UriParts> {
    let (parts, end) = sip_common_prefix(b)?;
    (end == b.len()).then_some(parts)
}

/// Where a URI of [`sip_common`]'s shape at the start of `b` ends at a `>`: a name-addr's
/// `<URI>` (RFC 3261 §20.10) checked in the one pass that also finds its end, for a check
/// that needs no parts. `Some(i)` when `b[i]` is `>` and `sip_common(&b[..i])` accepts (no
/// byte that shape accepts is a `>`, SP or HTAB, so that `>` is the first of them); `None`
/// otherwise, left to the general path.
#[inline]
pub(crate) fn sip_common_end(b: &[u8]) -> Option<usize> {
    let (_, end) = sip_common_prefix(b)?;
    (b.get(end) == Some(&b'>')).then_some(end)
}

/// [`sip_common`] up to the first byte that does not continue the URI: the parts and that
/// byte's index (`b.len()` at the end).
#[inline(always)]
fn sip_common_prefix(b: &[u8]) -> Option<(UriParts, usize)> {
    let sp = |a: usize, z: usize| Span(a as u32, z as u32);
    // The scheme, in any case: OR-ing 0x20 lowercases letters only, and `:` is compared as is.
    let head = u32::from_le_bytes([*b.first()?, *b.get(1)?, *b.get(2)?, *b.get(3)?]);
    let (scheme, body) = if head | 0x0020_2020 == u32::from_le_bytes(*b"sip:") {
        (Scheme::Sip, 4)
    } else if head | 0x2020_2020 == u32::from_le_bytes(*b"sips") && b.get(4) == Some(&b':') {
        (Scheme::Sips, 5)
    } else {
        return None;
    };
    // A user or a host: a hostname followed by `@` (or by other user characters, then `@`) is
    // a user. No byte this path accepts after the user is an `@`, so the `@` found here is the
    // first one, where the general parser splits the userinfo.
    let first_end = hostname_end(b, body);
    let (user_end, host_start) = match b.get(first_end) {
        Some(b'@') if first_end > body => (first_end, first_end + 1),
        Some(&c) if URI_CLASSES[c as usize] & C_PASSWORD != 0 => {
            let at = scan_plain(b, first_end, C_PASSWORD);
            if b.get(at) != Some(&b'@') {
                return None;
            }
            (at, at + 1)
        }
        _ => (body, body),
    };
    let host_end = if host_start == body && first_end > body {
        first_end
    } else if b.get(host_start) == Some(&b'[') {
        // IPv6reference: up to the first `]`, checked as the general parser does.
        let close = host_start + b[host_start..].iter().position(|&c| c == b']')? + 1;
        let inner = std::str::from_utf8(&b[host_start + 1..close - 1]).ok()?;
        if !valid_ipv6(inner) {
            return None;
        }
        close
    } else {
        let e = hostname_end(b, host_start);
        if e == host_start {
            return None;
        }
        e
    };
    let mut i = host_end;
    // A port of 1 to 5 digits, at most 65535.
    let mut port = None;
    if b.get(i) == Some(&b':') {
        let p_start = i + 1;
        let mut v: u32 = 0;
        i = p_start;
        while let Some(&c) = b.get(i) {
            if !c.is_ascii_digit() || i - p_start == 5 {
                break;
            }
            v = v * 10 + u32::from(c - b'0');
            i += 1;
        }
        if i == p_start || b.get(i).is_some_and(u8::is_ascii_digit) {
            return None;
        }
        port = Some(u16::try_from(v).ok()?);
    }
    // uri-parameters: *( ";" pname [ "=" pvalue ] ), pname 1*paramchar, pvalue *paramchar.
    let params_start = i;
    while b.get(i) == Some(&b';') {
        let name_start = i + 1;
        i = scan_plain(b, name_start, C_PARAM);
        if i == name_start {
            return None;
        }
        if b.get(i) == Some(&b'=') {
            i = scan_plain(b, i + 1, C_PARAM);
        }
    }
    let parts = UriParts {
        scheme,
        password: false,
        port,
        scheme_end: body as u32 - 1,
        user_end: user_end as u32,
        host: sp(host_start, host_end),
        params: sp(params_start, i),
    };
    Some((parts, i))
}

/// Validates an IPv6 address inside a reference. RFC 5118 §4.10: RFC 3261's ABNF wrongly
/// allows `2001:db8:::192.0.2.1` (three colons) and implementations must tolerate it, so
/// beyond what `Ipv6Addr` accepts, hex groups, `:` and a dotted IPv4 tail are allowed.
pub(crate) fn valid_ipv6(v: &str) -> bool {
    v.parse::<std::net::Ipv6Addr>().is_ok()
        || (v.len() <= 45
            && v.bytes().filter(|&b| b == b':').count() >= 2
            && v.bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.'))
}

/// Validates a host (RFC 3261 §25.1 `host`): hostname, IPv4address or IPv6reference.
pub(crate) fn valid_host(h: &str) -> bool {
    if let Some(inner) = h.strip_prefix('[') {
        return inner.strip_suffix(']').is_some_and(valid_ipv6);
    }
    // One pass: alphanumerics, '-' and '.'; no empty label; no leading '-' or '.'.
    let mut prev = b'.';
    for b in h.bytes() {
        let ok =
            b.is_ascii_alphanumeric() || (b == b'-' && prev != b'.') || (b == b'.' && prev != b'.');
        if !ok {
            return false;
        }
        prev = b;
    }
    !h.is_empty()
}

/// Any URI: the scheme, then the grammar of its kind.
#[inline(never)]
fn parse_general(s: &str) -> Result<UriParts, ParseError> {
    let b = s.as_bytes();
    let colon = b.iter().position(|&c| c == b':').ok_or(bad(0))?;
    let scheme_str = &s[..colon];
    if scheme_str.is_empty()
        || !b[0].is_ascii_alphabetic()
        || !scheme_str
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
    {
        return Err(bad(0));
    }
    let scheme = if scheme_str.eq_ignore_ascii_case("sip") {
        Scheme::Sip
    } else if scheme_str.eq_ignore_ascii_case("sips") {
        Scheme::Sips
    } else if scheme_str.eq_ignore_ascii_case("tel") {
        Scheme::Tel
    } else {
        Scheme::Other
    };
    let body_start = colon + 1;
    let end = s.len();
    let sp = |a: usize, z: usize| Span(a as u32, z as u32);
    let mut parts = UriParts {
        scheme,
        password: false,
        port: None,
        scheme_end: colon as u32,
        user_end: body_start as u32,
        host: sp(body_start, body_start),
        params: sp(end, end),
    };
    match scheme {
        Scheme::Other => {
            if body_start == end {
                return Err(bad(body_start));
            }
            check(&s[body_start..], body_start, is_uric)?;
        }
        Scheme::Tel => {
            // telephone-subscriber = global-number / local-number, then ;params (RFC 3966 §3).
            let num_end = s[body_start..].find(';').map_or(end, |i| body_start + i);
            let num = &s[body_start..num_end];
            if num.is_empty() {
                return Err(bad(body_start));
            }
            check(num, body_start, |c| {
                c.is_ascii_hexdigit() || matches!(c, b'+' | b'-' | b'.' | b'(' | b')' | b'*' | b'#')
            })?;
            parts.user_end = num_end as u32;
            check(&s[num_end..], num_end, |c| {
                is_paramchar(c) || matches!(c, b';' | b'=' | b'+')
            })?;
            parts.params = sp(num_end, end);
        }
        Scheme::Sip | Scheme::Sips => sip_parts(b, body_start, &mut parts)?,
    }
    Ok(parts)
}

impl<'a> UriRef<'a> {
    /// Parses a URI from text.
    pub fn parse(s: &'a str) -> Result<UriRef<'a>, ParseError> {
        if s.len() > u32::MAX as usize {
            return Err(bad(0));
        }
        // The common shape returns from here: no intermediate `Result` of the parts to copy.
        if let Some(parts) = sip_common(s.as_bytes()) {
            return Ok(UriRef { raw: s, parts });
        }
        Ok(UriRef {
            raw: s,
            parts: parse_general(s)?,
        })
    }

    /// Whether [`UriRef::parse`] accepts `s`, without building the parts: a From or To check
    /// needs only the verdict (the one-pass [`sip_common`] then stores nothing).
    #[inline]
    pub(crate) fn is_valid(s: &str) -> bool {
        s.len() <= u32::MAX as usize
            && (sip_common(s.as_bytes()).is_some() || parse_general(s).is_ok())
    }

    /// The whole URI as written.
    pub fn as_str(&self) -> &'a str {
        self.raw
    }

    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.parts.scheme
    }

    /// The scheme as written (`sip`, `SIP`, `urn`, ...).
    pub fn scheme_str(&self) -> &'a str {
        &self.raw[..self.parts.scheme_end as usize]
    }

    /// Everything after `scheme:`.
    pub fn opaque(&self) -> &'a str {
        self.raw
            .get(self.parts.scheme_end as usize + 1..)
            .unwrap_or("")
    }

    /// The user part (escapes kept), or the number of a tel URI.
    pub fn user(&self) -> Option<&'a str> {
        let start = self.parts.scheme_end + 1;
        (self.parts.user_end > start).then(|| Span(start, self.parts.user_end).of(self.raw))
    }

    /// The user part with `%HH` escapes resolved (RFC 3261 §19.1.4 compares it so). Escapes that
    /// do not decode to UTF-8 are left escaped.
    pub fn user_unescaped(&self) -> Option<std::borrow::Cow<'a, str>> {
        self.user().map(unescape)
    }

    /// The password, if any (its use is NOT RECOMMENDED, RFC 3261 §19.1.1).
    pub fn password(&self) -> Option<&'a str> {
        let p = self.parts;
        p.password
            .then(|| Span(p.user_end + 1, p.host.0.saturating_sub(1)).of(self.raw))
    }

    /// The host; an IPv6 reference keeps its brackets. Empty for tel and other schemes.
    pub fn host(&self) -> &'a str {
        self.parts.host.of(self.raw)
    }

    /// The port, if given.
    pub fn port(&self) -> Option<u16> {
        self.parts.port
    }

    /// The URI parameters (`;transport=tcp;lr`).
    pub fn params(&self) -> Params<'a> {
        Params::new(self.parts.params.of(self.raw))
    }

    /// The `transport` parameter.
    pub fn transport(&self) -> Option<&'a str> {
        self.params().value("transport")
    }

    /// The header part after `?`, raw.
    pub fn headers(&self) -> Option<&'a str> {
        let end = self.parts.params.1 as usize;
        (end < self.raw.len()).then(|| self.raw.get(end + 1..).unwrap_or(""))
    }

    /// An owned copy.
    pub fn to_owned(&self) -> Uri {
        Uri {
            raw: ByteString::from(self.raw),
            parts: self.parts,
        }
    }

    /// An owned URI sharing the buffer of `headers` when its text lies there (a URI of a
    /// parsed message), else a copy. The URI then keeps that whole buffer alive: for parts
    /// of a message that is kept anyway.
    pub(crate) fn to_shared(self, headers: &crate::message::Headers) -> Uri {
        Uri {
            raw: headers.share(self.raw),
            parts: self.parts,
        }
    }
}

impl Uri {
    /// Parses a URI from text.
    pub fn parse(s: &str) -> Result<Uri, ParseError> {
        UriRef::parse(s).map(|u| u.to_owned())
    }

    /// Parses a URI lying in a shared buffer, without copying.
    pub(crate) fn parse_shared(buf: &ByteString, s: &str) -> Result<Uri, ParseError> {
        if s.len() > u32::MAX as usize {
            return Err(bad(0));
        }
        if let Some(parts) = sip_common(s.as_bytes()) {
            return Ok(Uri {
                raw: buf.slice_ref(s),
                parts,
            });
        }
        let parts = parse_general(s)?;
        Ok(Uri {
            raw: buf.slice_ref(s),
            parts,
        })
    }

    /// A borrowed view, to reach every accessor.
    pub fn as_ref(&self) -> UriRef<'_> {
        UriRef {
            raw: &self.raw,
            parts: self.parts,
        }
    }

    /// The whole URI as written.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// See [`UriRef::scheme`].
    pub fn scheme(&self) -> Scheme {
        self.parts.scheme
    }

    /// See [`UriRef::user`].
    pub fn user(&self) -> Option<&str> {
        self.as_ref().user()
    }

    /// See [`UriRef::host`].
    pub fn host(&self) -> &str {
        self.as_ref().host()
    }

    /// See [`UriRef::port`].
    pub fn port(&self) -> Option<u16> {
        self.parts.port
    }

    /// See [`UriRef::params`].
    pub fn params(&self) -> Params<'_> {
        self.as_ref().params()
    }
}

/// Resolves `%HH` escapes; leaves the text as is if the result is not UTF-8.
pub fn unescape(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains('%') {
        return s.into();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |j: usize| b.get(j).and_then(|c| (*c as char).to_digit(16));
        match (b[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, ..) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_or(s.into(), Into::into)
}

impl PartialEq for Uri {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}

impl Eq for Uri {}

impl fmt::Debug for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uri({:?})", &*self.raw)
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl fmt::Display for UriRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.raw)
    }
}

impl std::str::FromStr for Uri {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uri::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sip_uri_parts() {
        let u = UriRef::parse("sip:alice:secret@[2001:db8::10]:5070;transport=tcp;lr?subject=project%20x&priority=urgent").unwrap();
        assert_eq!(u.scheme(), Scheme::Sip);
        assert_eq!(u.user(), Some("alice"));
        assert_eq!(u.password(), Some("secret"));
        assert_eq!(u.host(), "[2001:db8::10]");
        assert_eq!(u.port(), Some(5070));
        assert_eq!(u.transport(), Some("tcp"));
        assert!(u.params().contains("lr"));
        assert_eq!(u.headers(), Some("subject=project%20x&priority=urgent"));
    }

    #[test]
    fn user_with_semicolon_and_escapes() {
        let u = UriRef::parse("sip:user;par=u%40example.net@example.com").unwrap();
        assert_eq!(u.user(), Some("user;par=u%40example.net"));
        assert_eq!(u.user_unescaped().unwrap(), "user;par=u@example.net");
        assert_eq!(u.host(), "example.com");
        assert!(u.params().is_empty());
    }

    #[test]
    fn tel_and_other_schemes() {
        let t = UriRef::parse("tel:+1-201-555-0123;phone-context=example.com").unwrap();
        assert_eq!(t.scheme(), Scheme::Tel);
        assert_eq!(t.user(), Some("+1-201-555-0123"));
        assert_eq!(t.params().value("phone-context"), Some("example.com"));
        let o = UriRef::parse("urn:service:sos").unwrap();
        assert_eq!(o.scheme(), Scheme::Other);
        assert_eq!(o.opaque(), "service:sos");
    }

    #[test]
    fn rejects() {
        for bad in [
            "",
            "sip:",
            "sip:a@",
            "sip:host:",
            "sip:host:99999",
            "sip:ho st",
            "sip:[::1",
            "1sip:x",
            "sip:a@b;=x",
            "sip:a%zz@b",
            "sip:a:p:q@b",
            "sip:a@-b.example",
            "sip:a@b..example",
            "sip:a@.b",
            "sip:b:123456",
            "sip:b:65536",
            "sip:b:5060x",
            "sip:b;lr=a=b",
            "sip:b;lr;",
            "sip:b?x=<y>",
            "sip:b>",
            "sip:[zz::1]",
            "sip:b;p=%4",
        ] {
            assert!(UriRef::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn accepts() {
        for (good, user, host, port, params) in [
            ("sip:b", None, "b", None, ""),
            ("sip:a@b:65535", Some("a"), "b", Some(65535), ""),
            ("sip:a:@b", Some("a"), "b", None, ""),
            (
                "sip:%61lice@b-c.example.;x=%41;lr",
                Some("%61lice"),
                "b-c.example.",
                None,
                ";x=%41;lr",
            ),
            (
                "sip:a@[::1]:5;maddr=[::1]?h=v",
                Some("a"),
                "[::1]",
                Some(5),
                ";maddr=[::1]",
            ),
            ("sip:b;p=", None, "b", None, ";p="),
        ] {
            let u = UriRef::parse(good).unwrap_or_else(|e| panic!("{good}: {e}"));
            assert_eq!(
                (u.user(), u.host(), u.port(), u.params().as_str()),
                (user, host, port, params),
                "{good}"
            );
        }
    }

    #[test]
    fn parts_are_compact_and_derive_password_and_headers() {
        assert!(std::mem::size_of::<UriParts>() <= 32);
        for (s, password, headers) in [
            ("sip:a:@b", Some(""), None),
            ("sip:a:p%41ss@b;lr?x=y", Some("p%41ss"), Some("x=y")),
            ("sip:b?", None, Some("")),
            ("sip:a@b;x?", None, Some("")),
            ("tel:+1;x=y", None, None),
            ("urn:a?b", None, None),
        ] {
            let u = UriRef::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!((u.password(), u.headers()), (password, headers), "{s}");
        }
    }

    #[test]
    fn error_points_at_the_fault() {
        assert_eq!(UriRef::parse("sip:a@b c").unwrap_err().offset, 7);
        assert_eq!(UriRef::parse("sip:a%zz@b").unwrap_err().offset, 5);
        assert_eq!(UriRef::parse("sip:a@b;=x").unwrap_err().offset, 8);
    }

    /// The general parser's outcome for `s`, for comparing with the common path.
    fn general(s: &str) -> Result<UriParts, ParseError> {
        parse_general(s)
    }

    #[test]
    fn common_shapes_take_the_fast_path_with_the_general_result() {
        for s in [
            "sip:bob@example.net",
            "SIP:bob@example.net",
            "sips:alice@atlanta.com:5061;transport=tls",
            "SiPs:a@b",
            "sip:alice@192.0.2.10:5060",
            "sip:p1.example.com;lr",
            "sip:example.com.",
            "sip:[2001:db8::10]:5070;maddr=[::1];lr",
            "sip:a@[::1]",
            "sip:b:0;p=",
            "sip:b:65535",
            "sip:b:00001",
            "sip:+1-212_555.0101!~*'()&=+$,@gw.example;user=phone",
            "sip:-x.@h",
            "sip:.a..b@h",
            "sip:b;x=a:b/c[d]&e+$;y",
        ] {
            let fast = sip_common(s.as_bytes());
            assert!(fast.is_some(), "{s}");
            assert_eq!(fast.map(Ok), Some(general(s)), "{s}");
        }
        for s in [
            "sip:a:pw@b",
            "sip:a%40b@c",
            "sip:b;p=%41",
            "sip:b?h=v",
            "sip:user;p=x@host",
            "sip:b:123456",
            "sip:b:65536",
            "sip:b:5060x",
            "sip:@b",
            "sip:a@-b",
            "sip:a@b..c",
            "sip:a@",
            "sip:",
            "sip:[zz::1]",
            "sip:b;=x",
            "sip:b;lr=a=b",
            "sip:a@b@c",
            "tel:+1",
            "si:b",
            "sipx:b",
        ] {
            assert_eq!(sip_common(s.as_bytes()), None, "{s}");
        }
    }

    /// Characters the URI grammar cares about, for mutating URIs.
    const EDITS: &[u8] = b"@:;=?%[]. -_+&$,/!~*'()<>\"#0aZ\xc3";

    fn same(s: &str) {
        if let Some(fast) = sip_common(s.as_bytes()) {
            assert_eq!(Ok(fast), general(s), "{s:?}");
        }
        assert_eq!(UriRef::parse(s).map(|u| u.parts), general(s), "{s:?}");
        // The check without the parts gives `parse`'s verdict.
        assert_eq!(UriRef::is_valid(s), UriRef::parse(s).is_ok(), "{s:?}");
        // The end of a `<URI>` found in the same pass: the first `>`, SP or HTAB, and what
        // precedes it is a URI `sip_common` accepts.
        for tail in [">", ">;tag=x", "> ", ">>", ">\t;a"] {
            let b = format!("{s}{tail}");
            let first = b.find(['>', ' ', '\t']);
            match sip_common_end(b.as_bytes()) {
                Some(end) => {
                    assert_eq!(Some(end), first, "{b:?}");
                    assert_eq!(b.as_bytes()[end], b'>', "{b:?}");
                    assert!(sip_common(&b.as_bytes()[..end]).is_some(), "{b:?}");
                }
                None => assert!(
                    first.is_none_or(
                        |e| b.as_bytes()[e] != b'>' || sip_common(&b.as_bytes()[..e]).is_none()
                    ),
                    "{b:?}"
                ),
            }
        }
    }

    proptest::proptest! {
        /// The common path agrees with the general parser on generated SIP URIs.
        #[test]
        fn common_path_agrees_on_generated_uris(
            s in "(sip|sips|SIP|Sip|sIps|tel|sipx)(:)(([a-z0-9._!~*'()&=+$,%;?/-]{1,8})(:[a-z0-9]{0,3})?@)?([a-z0-9.-]{1,12}|\\[[0-9a-f:.]{1,12}\\]|[0-9]{1,3}(\\.[0-9]{1,3}){3})(:[0-9]{0,7})?(;[a-z0-9\\[\\]/:&+$%-]{0,6}(=[a-z0-9\\[\\]/:&+$%=.-]{0,6})?){0,3}(\\?[a-z=&%]{0,5})?"
        ) {
            same(&s);
        }

        /// ... on URIs of the common shape, about half of them valid (the common path takes
        /// every valid one of these) ...
        #[test]
        fn common_path_agrees_on_common_shapes(
            s in "(sip|sips|SIP|sIpS)(:)([a-z0-9._!~*'()&=+$,-]{1,8}@)?([a-z0-9][a-z0-9.-]{0,12}|\\[[0-9a-f:]{2,12}\\]|[0-9]{1,3}(\\.[0-9]{1,3}){3})(:[0-9]{1,6})?(;[a-z0-9-]{1,6}(=[a-z0-9\\[\\]:.-]{0,6})?){0,3}"
        ) {
            proptest::prop_assert_eq!(sip_common(s.as_bytes()).is_some(), general(&s).is_ok(), "{:?}", s);
            same(&s);
        }

        /// ... and on common URIs with a few bytes replaced by the characters the grammar
        /// cares about.
        #[test]
        fn common_path_agrees_on_mutated_uris(
            which in 0..4usize,
            edits in proptest::collection::vec(
                (proptest::prelude::any::<proptest::sample::Index>(),
                 proptest::sample::select(EDITS)),
                1..4),
        ) {
            let base = [
                "sip:bob@example.net",
                "sips:alice@192.0.2.10:5061;transport=tls;lr",
                "sip:[2001:db8::10]:5070;maddr=[::1]",
                "sip:p1.example.com;lr;x=a:b",
            ][which];
            let m = crate::test_util::mutated(base.as_bytes(), &edits);
            if let Ok(s) = std::str::from_utf8(&m) {
                same(s);
            }
        }
    }
}
