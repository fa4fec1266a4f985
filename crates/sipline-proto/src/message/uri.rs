//! URIs: SIP and SIPS (RFC 3261 §19.1, §25.1), tel (RFC 3966), and any other scheme kept as an
//! absolute URI (RFC 3986). Text is kept exactly as received, `%`-escapes included.

use std::fmt;

use bytestring::ByteString;

use super::params::Params;
use crate::error::{ParseError, ParseErrorKind};
use crate::parse::scan::{check_escaped, is_unreserved};

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

/// Where the parts of a URI lie in its text; computed once by the parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UriParts {
    scheme: Scheme,
    scheme_end: u32,
    user: Option<Span>,
    password: Option<Span>,
    host: Span,
    port: Option<u16>,
    params: Span,
    headers: Option<Span>,
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

/// `user-unreserved` (RFC 3261 §25.1) plus unreserved.
fn is_user(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/')
}

fn is_password(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'&' | b'=' | b'+' | b'$' | b',')
}

/// `paramchar` (RFC 3261 §25.1).
fn is_paramchar(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'[' | b']' | b'/' | b':' | b'&' | b'+' | b'$')
}

/// `hnv-unreserved` / unreserved, plus `=` and `&` that structure the header part.
fn is_hchar(b: u8) -> bool {
    is_unreserved(b)
        || matches!(
            b,
            b'[' | b']' | b'/' | b'?' | b':' | b'+' | b'$' | b'=' | b'&'
        )
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

fn parse_parts(s: &str) -> Result<UriParts, ParseError> {
    let b = s.as_bytes();
    let colon = s.find(':').ok_or(bad(0))?;
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
        scheme_end: colon as u32,
        user: None,
        password: None,
        host: sp(body_start, body_start),
        port: None,
        params: sp(end, end),
        headers: None,
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
            parts.user = Some(sp(body_start, num_end));
            check(&s[num_end..], num_end, |c| {
                is_paramchar(c) || matches!(c, b';' | b'=' | b'+')
            })?;
            parts.params = sp(num_end, end);
        }
        Scheme::Sip | Scheme::Sips => {
            // userinfo: up to the first '@' (no '@' may appear unescaped after it).
            let mut host_start = body_start;
            if let Some(at) = memchr::memchr(b'@', &b[body_start..]) {
                let at = body_start + at;
                let ui = &s[body_start..at];
                let (user, pass) = match ui.find(':') {
                    Some(i) => (&ui[..i], Some((body_start + i + 1, &ui[i + 1..]))),
                    None => (ui, None),
                };
                if user.is_empty() {
                    return Err(bad(body_start));
                }
                check(user, body_start, is_user)?;
                parts.user = Some(sp(body_start, body_start + user.len()));
                if let Some((p_at, p)) = pass {
                    check(p, p_at, is_password)?;
                    parts.password = Some(sp(p_at, p_at + p.len()));
                }
                host_start = at + 1;
            }
            // host
            let host_end = if b.get(host_start) == Some(&b'[') {
                memchr::memchr(b']', &b[host_start..])
                    .map(|i| host_start + i + 1)
                    .ok_or(bad(host_start))?
            } else {
                b[host_start..]
                    .iter()
                    .position(|&c| matches!(c, b':' | b';' | b'?'))
                    .map_or(end, |i| host_start + i)
            };
            if !valid_host(&s[host_start..host_end]) {
                return Err(bad(host_start));
            }
            parts.host = sp(host_start, host_end);
            let mut i = host_end;
            if b.get(i) == Some(&b':') {
                let p_end = b[i + 1..]
                    .iter()
                    .position(|&c| matches!(c, b';' | b'?'))
                    .map_or(end, |j| i + 1 + j);
                let digits = &s[i + 1..p_end];
                if digits.is_empty()
                    || digits.len() > 5
                    || !digits.bytes().all(|c| c.is_ascii_digit())
                {
                    return Err(bad(i + 1));
                }
                parts.port = Some(digits.parse::<u16>().map_err(|_| bad(i + 1))?);
                i = p_end;
            }
            let hdr_start = memchr::memchr(b'?', &b[i..]).map_or(end, |j| i + j);
            // uri-parameters: *( ";" pname [ "=" pvalue ] )
            let params = &s[i..hdr_start];
            for (k, p) in params.split(';').enumerate().skip(1) {
                let (name, value) = match p.split_once('=') {
                    Some((n, v)) => (n, Some(v)),
                    None => (p, None),
                };
                let at = i + params
                    .split(';')
                    .take(k)
                    .map(|x| x.len() + 1)
                    .sum::<usize>();
                if name.is_empty() {
                    return Err(bad(at));
                }
                check(name, at, is_paramchar)?;
                if let Some(v) = value {
                    check(v, at + name.len() + 1, is_paramchar)?;
                }
            }
            if !params.is_empty() && !params.starts_with(';') {
                return Err(bad(i));
            }
            parts.params = sp(i, hdr_start);
            if hdr_start < end {
                check(&s[hdr_start + 1..], hdr_start + 1, is_hchar)?;
                parts.headers = Some(sp(hdr_start + 1, end));
            }
        }
    }
    Ok(parts)
}

impl<'a> UriRef<'a> {
    /// Parses a URI from text.
    pub fn parse(s: &'a str) -> Result<UriRef<'a>, ParseError> {
        if s.len() > u32::MAX as usize {
            return Err(bad(0));
        }
        Ok(UriRef {
            raw: s,
            parts: parse_parts(s)?,
        })
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
        self.parts.user.map(|s| s.of(self.raw))
    }

    /// The user part with `%HH` escapes resolved (RFC 3261 §19.1.4 compares it so). Escapes that
    /// do not decode to UTF-8 are left escaped.
    pub fn user_unescaped(&self) -> Option<std::borrow::Cow<'a, str>> {
        self.user().map(unescape)
    }

    /// The password, if any (its use is NOT RECOMMENDED, RFC 3261 §19.1.1).
    pub fn password(&self) -> Option<&'a str> {
        self.parts.password.map(|s| s.of(self.raw))
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
        self.parts.headers.map(|s| s.of(self.raw))
    }

    /// An owned copy.
    pub fn to_owned(&self) -> Uri {
        Uri {
            raw: ByteString::from(self.raw),
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
        let parts = UriRef::parse(s)?.parts;
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
        ] {
            assert!(UriRef::parse(bad).is_err(), "{bad}");
        }
    }
}
