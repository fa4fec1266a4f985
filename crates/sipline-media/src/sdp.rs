//! A small SDP model with a lenient parser and a canonical writer (RFC 8866, which obsoletes
//! RFC 4566).
//!
//! Only the lines that audio over RTP/AVP needs get a typed field (`v=`, `o=`, `s=`, `c=`,
//! `t=`, `m=`); every attribute is kept as a raw [`Attribute`] in order, with typed accessors
//! for `rtpmap`, `fmtp`, `ptime`, `rtcp` and the direction attributes, and any other line
//! (`i=`, `u=`, `b=`, `k=`, ...) is kept verbatim in `extra`. So an unknown line survives a
//! parse/write round trip.
//!
//! Leniency, because real SIP peers send imperfect SDP: LF or CRLF line ends, trailing
//! whitespace, empty lines, a missing `s=` or `t=`, and unknown line types are all accepted.
//! Strictness, because the bytes are untrusted: the first line must be `v=0`, `o=`, `c=` and
//! `m=` must have their fields, numbers must parse, and the input is capped at
//! [`MAX_SDP_LEN`] bytes. The parser never panics; every failure is an [`SdpError`] naming the
//! line.

use std::fmt::{self, Write as _};
use std::net::IpAddr;

/// Largest SDP body the parser accepts, in bytes. SIP bodies over UDP are far smaller; the cap
/// bounds the work an untrusted peer can cause.
pub const MAX_SDP_LEN: usize = 64 * 1024;

/// An SDP parse error: what went wrong and on which line (1-based; 0 for the whole body).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SDP line {line}: {kind}")]
pub struct SdpError {
    /// What went wrong.
    pub kind: SdpErrorKind,
    /// The 1-based line number, or 0 when the error is about the whole body.
    pub line: usize,
}

/// The kinds of [`SdpError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdpErrorKind {
    /// The body is not UTF-8 (RFC 8866 §5 allows other charsets only in some text fields,
    /// which SIP peers do not use).
    #[error("not UTF-8")]
    NotUtf8,
    /// The body is larger than [`MAX_SDP_LEN`].
    #[error("body larger than {MAX_SDP_LEN} bytes")]
    TooLarge,
    /// The body is empty.
    #[error("empty body")]
    Empty,
    /// The first line is not `v=0` (RFC 8866 §5.1).
    #[error("first line must be v=0")]
    BadVersion,
    /// A line is not of the form `<type>=<value>` (RFC 8866 §5).
    #[error("line is not <type>=<value>")]
    BadLine,
    /// The `o=` line is missing (RFC 8866 §5.2).
    #[error("missing o= line")]
    MissingOrigin,
    /// A line has too few fields or a field that does not parse.
    #[error("malformed {0}= line")]
    Malformed(char),
    /// A port or number does not parse.
    #[error("bad number {0:?}")]
    BadNumber(String),
}

impl SdpError {
    fn new(kind: SdpErrorKind, line: usize) -> Self {
        Self { kind, line }
    }
}

/// The address type of a `c=` or `o=` line (RFC 8866 §5.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrType {
    /// `IP4`.
    Ip4,
    /// `IP6`.
    Ip6,
}

impl AddrType {
    /// The SDP token.
    pub fn as_str(self) -> &'static str {
        match self {
            AddrType::Ip4 => "IP4",
            AddrType::Ip6 => "IP6",
        }
    }

    /// The address type of an IP address.
    pub fn of(ip: IpAddr) -> Self {
        if ip.is_ipv4() {
            AddrType::Ip4
        } else {
            AddrType::Ip6
        }
    }

    fn parse(s: &str) -> Option<Self> {
        if s.eq_ignore_ascii_case("IP4") {
            Some(AddrType::Ip4)
        } else if s.eq_ignore_ascii_case("IP6") {
            Some(AddrType::Ip6)
        } else {
            None
        }
    }
}

/// The `o=` line (RFC 8866 §5.2): `o=<username> <sess-id> <sess-version> IN <addrtype> <addr>`.
///
/// The id and version are kept as text: peers send numbers wider than 64 bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// `<username>`, `-` when there is none.
    pub username: String,
    /// `<sess-id>`.
    pub session_id: String,
    /// `<sess-version>`; RFC 3264 §8 requires it to grow by one with each new offer.
    pub session_version: String,
    /// `<addrtype>`; the network type is always `IN`.
    pub addr_type: AddrType,
    /// `<unicast-address>`, an IP address or a host name.
    pub address: String,
}

/// A `c=` line (RFC 8866 §5.7): `c=IN <addrtype> <connection-address>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// `<addrtype>`.
    pub addr_type: AddrType,
    /// `<connection-address>`, possibly with a multicast `/ttl` suffix.
    pub address: String,
}

impl Connection {
    /// The IP address of a `c=` line from an IP address.
    pub fn from_ip(ip: IpAddr) -> Self {
        Self {
            addr_type: AddrType::of(ip),
            address: ip.to_string(),
        }
    }

    /// The address as an IP address, without a multicast `/ttl` suffix; `None` for a host name.
    pub fn ip(&self) -> Option<IpAddr> {
        let addr = self.address.split('/').next().unwrap_or("");
        addr.parse().ok()
    }
}

/// An `a=` line (RFC 8866 §5.13): `a=<name>` or `a=<name>:<value>`, kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// The attribute name.
    pub name: String,
    /// The value after the first `:`, if any.
    pub value: Option<String>,
}

impl Attribute {
    /// A property attribute (`a=name`).
    pub fn flag(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            value: None,
        }
    }

    /// A value attribute (`a=name:value`).
    pub fn value(name: &str, value: impl Into<String>) -> Self {
        Self {
            name: name.to_owned(),
            value: Some(value.into()),
        }
    }

    fn parse(s: &str) -> Self {
        match s.split_once(':') {
            Some((n, v)) => Self {
                name: n.to_owned(),
                value: Some(v.to_owned()),
            },
            None => Self {
                name: s.to_owned(),
                value: None,
            },
        }
    }
}

/// The media direction attributes (RFC 8866 §6.7, RFC 3264 §5.1); `sendrecv` is the default
/// when none is present.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// `a=sendrecv`.
    #[default]
    SendRecv,
    /// `a=sendonly`.
    SendOnly,
    /// `a=recvonly`.
    RecvOnly,
    /// `a=inactive`.
    Inactive,
}

impl Direction {
    /// The attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// Parses an attribute name.
    pub fn from_attr(name: &str) -> Option<Self> {
        match name {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }

    /// Whether this side sends media.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether this side receives media.
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    /// The same stream seen from the other side: sendonly <-> recvonly (RFC 3264 §6.1).
    pub fn reversed(self) -> Self {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }

    /// The direction allowed by both `self` and `other` (both seen from the same side).
    pub fn intersect(self, other: Self) -> Self {
        Self::from_flags(
            self.sends() && other.sends(),
            self.receives() && other.receives(),
        )
    }

    fn from_flags(send: bool, recv: bool) -> Self {
        match (send, recv) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }
}

/// An `a=rtpmap` value (RFC 8866 §6.6): `<payload type> <encoding name>/<clock rate>[/<params>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    /// The payload type.
    pub payload_type: u8,
    /// The encoding name, as written (compare case-insensitively).
    pub encoding: String,
    /// The clock rate in Hz.
    pub clock_rate: u32,
    /// Encoding parameters (the channel count for audio), if any.
    pub params: Option<String>,
}

impl RtpMap {
    /// Parses an `rtpmap` value; `None` if malformed.
    pub fn parse(value: &str) -> Option<Self> {
        let (pt, rest) = value.trim().split_once(char::is_whitespace)?;
        let payload_type = pt.parse().ok()?;
        let mut parts = rest.trim().splitn(3, '/');
        let encoding = parts.next()?.to_owned();
        let clock_rate = parts.next()?.trim().parse().ok()?;
        let params = parts.next().map(str::to_owned);
        Some(Self {
            payload_type,
            encoding,
            clock_rate,
            params,
        })
    }
}

impl fmt::Display for RtpMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}/{}",
            self.payload_type, self.encoding, self.clock_rate
        )?;
        if let Some(p) = &self.params {
            write!(f, "/{p}")?;
        }
        Ok(())
    }
}

/// A line kept verbatim because the model has no field for it (`i=`, `u=`, `b=`, `k=`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawLine {
    /// The one-letter type.
    pub kind: char,
    /// Everything after `=`.
    pub value: String,
}

/// An `m=` section (RFC 8866 §5.14) with its `c=` and attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    /// `<media>`: `audio`, `video`, ...
    pub media: String,
    /// `<port>`; 0 marks a rejected or disabled stream (RFC 3264 §6, §8.2).
    pub port: u16,
    /// The `/<number of ports>` suffix, if present.
    pub port_count: Option<u16>,
    /// `<proto>`: `RTP/AVP`, `RTP/SAVP`, `UDP/TLS/RTP/SAVPF`, ...
    pub proto: String,
    /// `<fmt>` list: payload type numbers for RTP profiles.
    pub formats: Vec<String>,
    /// The media-level `c=` line, if any.
    pub connection: Option<Connection>,
    /// The `a=` lines, in order.
    pub attributes: Vec<Attribute>,
    /// Other lines (`i=`, `b=`, `k=`), in order.
    pub extra: Vec<RawLine>,
}

impl MediaDescription {
    /// The value of the first attribute `name`, `Some("")` for a property attribute.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.value.as_deref().unwrap_or(""))
    }

    /// All well-formed `a=rtpmap` entries.
    pub fn rtpmaps(&self) -> impl Iterator<Item = RtpMap> + '_ {
        self.attributes
            .iter()
            .filter(|a| a.name == "rtpmap")
            .filter_map(|a| a.value.as_deref().and_then(RtpMap::parse))
    }

    /// The `a=rtpmap` of payload type `pt`.
    pub fn rtpmap(&self, pt: u8) -> Option<RtpMap> {
        self.rtpmaps().find(|m| m.payload_type == pt)
    }

    /// The `a=fmtp` parameters of payload type `pt` (RFC 8866 §6.15).
    pub fn fmtp(&self, pt: u8) -> Option<&str> {
        self.attributes
            .iter()
            .filter(|a| a.name == "fmtp")
            .find_map(|a| {
                let v = a.value.as_deref()?;
                let (p, params) = v.split_once(char::is_whitespace)?;
                (p.parse::<u8>().ok()? == pt).then_some(params.trim())
            })
    }

    /// `a=ptime` in milliseconds (RFC 8866 §6.4).
    pub fn ptime(&self) -> Option<u32> {
        self.attribute("ptime")
            .and_then(|v| v.trim().parse::<f32>().ok())
            .map(|v| v as u32)
    }

    /// The direction attribute of this section, if it has one (RFC 8866 §6.7).
    pub fn direction_attr(&self) -> Option<Direction> {
        self.attributes
            .iter()
            .find_map(|a| Direction::from_attr(&a.name))
    }

    /// Replaces any direction attribute with `dir`.
    pub fn set_direction(&mut self, dir: Direction) {
        self.attributes
            .retain(|a| Direction::from_attr(&a.name).is_none());
        self.attributes.push(Attribute::flag(dir.as_str()));
    }

    /// `a=rtcp` (RFC 3605): the RTCP port and optional address.
    pub fn rtcp(&self) -> Option<(u16, Option<Connection>)> {
        let v = self.attribute("rtcp")?;
        let mut it = v.split_whitespace();
        let port = it.next()?.parse().ok()?;
        let conn = match (it.next(), it.next(), it.next()) {
            (Some(net), Some(at), Some(addr)) if net.eq_ignore_ascii_case("IN") => {
                AddrType::parse(at).map(|addr_type| Connection {
                    addr_type,
                    address: addr.to_owned(),
                })
            }
            _ => None,
        };
        Some((port, conn))
    }

    /// The payload types of the format list that are numbers.
    pub fn payload_types(&self) -> impl Iterator<Item = u8> + '_ {
        self.formats.iter().filter_map(|f| f.parse().ok())
    }
}

/// A session description (RFC 8866 §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// `o=`.
    pub origin: Origin,
    /// `s=`; `-` when the peer sent none or an empty one.
    pub session_name: String,
    /// The session-level `c=` line.
    pub connection: Option<Connection>,
    /// The first `t=` line as `(start, stop)`; `(0, 0)` when absent.
    pub timing: (u64, u64),
    /// Session-level `a=` lines, in order.
    pub attributes: Vec<Attribute>,
    /// Session-level lines without a field (`i=`, `u=`, `e=`, `p=`, `b=`, `r=`, `z=`, `k=`,
    /// further `t=`, unknown types), in order.
    pub extra: Vec<RawLine>,
    /// The `m=` sections, in order.
    pub media: Vec<MediaDescription>,
}

impl SessionDescription {
    /// Parses an SDP body from bytes (see the module docs for what is accepted).
    pub fn parse_bytes(body: &[u8]) -> Result<Self, SdpError> {
        if body.len() > MAX_SDP_LEN {
            return Err(SdpError::new(SdpErrorKind::TooLarge, 0));
        }
        let s = std::str::from_utf8(body).map_err(|_| SdpError::new(SdpErrorKind::NotUtf8, 0))?;
        Self::parse(s)
    }

    /// Parses an SDP body (see the module docs for what is accepted).
    pub fn parse(body: &str) -> Result<Self, SdpError> {
        if body.len() > MAX_SDP_LEN {
            return Err(SdpError::new(SdpErrorKind::TooLarge, 0));
        }
        let mut lines = body
            .split('\n')
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim_end_matches(['\r', ' ', '\t'])))
            .filter(|(_, l)| !l.is_empty());

        let Some((n, first)) = lines.next() else {
            return Err(SdpError::new(SdpErrorKind::Empty, 0));
        };
        if first.trim() != "v=0" {
            return Err(SdpError::new(SdpErrorKind::BadVersion, n));
        }

        let mut origin = None;
        let mut session_name = None;
        let mut connection = None;
        let mut timing = None;
        let mut attributes = Vec::new();
        let mut extra = Vec::new();
        let mut media: Vec<MediaDescription> = Vec::new();

        for (n, line) in lines {
            let (kind, value) = split_line(line).ok_or(SdpError::new(SdpErrorKind::BadLine, n))?;
            if let Some(m) = media.last_mut() {
                match kind {
                    'm' => media.push(parse_media(value, n)?),
                    'c' => m.connection = Some(parse_connection(value, n)?),
                    'a' => m.attributes.push(Attribute::parse(value)),
                    _ => m.extra.push(RawLine {
                        kind,
                        value: value.to_owned(),
                    }),
                }
                continue;
            }
            match kind {
                'o' if origin.is_none() => origin = Some(parse_origin(value, n)?),
                's' if session_name.is_none() => session_name = Some(value.trim().to_owned()),
                'c' if connection.is_none() => connection = Some(parse_connection(value, n)?),
                't' if timing.is_none() => timing = Some(parse_timing(value, n)?),
                'a' => attributes.push(Attribute::parse(value)),
                'm' => media.push(parse_media(value, n)?),
                _ => extra.push(RawLine {
                    kind,
                    value: value.to_owned(),
                }),
            }
        }

        // Keep extra lines in the order the writer puts them (RFC 8866 §5), so a parsed
        // description writes back and parses to itself.
        extra.sort_by_key(|l| session_rank(l.kind));
        for m in &mut media {
            m.extra.sort_by_key(|l| l.kind != 'i');
        }
        let origin = origin.ok_or(SdpError::new(SdpErrorKind::MissingOrigin, 0))?;
        let session_name = session_name
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "-".to_owned());
        Ok(Self {
            origin,
            session_name,
            connection,
            timing: timing.unwrap_or((0, 0)),
            attributes,
            extra,
            media,
        })
    }

    /// The direction of media section `index`: its own attribute, else the session-level one,
    /// else `sendrecv` (RFC 8866 §6.7).
    pub fn direction(&self, index: usize) -> Direction {
        self.media
            .get(index)
            .and_then(MediaDescription::direction_attr)
            .or_else(|| {
                self.attributes
                    .iter()
                    .find_map(|a| Direction::from_attr(&a.name))
            })
            .unwrap_or_default()
    }

    /// The `c=` line that applies to media section `index`: its own, else the session's
    /// (RFC 8866 §5.7).
    pub fn connection_for(&self, index: usize) -> Option<&Connection> {
        self.media
            .get(index)
            .and_then(|m| m.connection.as_ref())
            .or(self.connection.as_ref())
    }

    /// Writes the description with CRLF line ends in the order of RFC 8866 §5.
    pub fn write_to(&self, out: &mut String) {
        let _ = write!(out, "{self}");
    }
}

/// Writes `v o s [i u e p] c [b] t [r z k other] a m...`, CRLF-terminated (RFC 8866 §5).
impl fmt::Display for SessionDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.origin;
        write!(f, "v=0\r\n")?;
        write!(
            f,
            "o={} {} {} IN {} {}\r\n",
            o.username,
            o.session_id,
            o.session_version,
            o.addr_type.as_str(),
            o.address
        )?;
        write!(f, "s={}\r\n", self.session_name)?;
        for l in self.extra.iter().filter(|l| session_rank(l.kind) == 0) {
            write!(f, "{}={}\r\n", l.kind, l.value)?;
        }
        if let Some(c) = &self.connection {
            write!(f, "c=IN {} {}\r\n", c.addr_type.as_str(), c.address)?;
        }
        for l in self.extra.iter().filter(|l| session_rank(l.kind) == 1) {
            write!(f, "b={}\r\n", l.value)?;
        }
        write!(f, "t={} {}\r\n", self.timing.0, self.timing.1)?;
        for l in self.extra.iter().filter(|l| session_rank(l.kind) == 2) {
            write!(f, "{}={}\r\n", l.kind, l.value)?;
        }
        write_attributes(f, &self.attributes)?;
        for m in &self.media {
            write!(f, "m={} {}", m.media, m.port)?;
            if let Some(n) = m.port_count {
                write!(f, "/{n}")?;
            }
            write!(f, " {}", m.proto)?;
            for fmt in &m.formats {
                write!(f, " {fmt}")?;
            }
            write!(f, "\r\n")?;
            for l in m.extra.iter().filter(|l| l.kind == 'i') {
                write!(f, "i={}\r\n", l.value)?;
            }
            if let Some(c) = &m.connection {
                write!(f, "c=IN {} {}\r\n", c.addr_type.as_str(), c.address)?;
            }
            for l in m.extra.iter().filter(|l| l.kind != 'i') {
                write!(f, "{}={}\r\n", l.kind, l.value)?;
            }
            write_attributes(f, &m.attributes)?;
        }
        Ok(())
    }
}

/// Where a session-level extra line goes: before `c=`, between `c=` and `t=`, or after `t=`.
fn session_rank(kind: char) -> u8 {
    match kind {
        'i' | 'u' | 'e' | 'p' => 0,
        'b' => 1,
        _ => 2,
    }
}

fn write_attributes(f: &mut fmt::Formatter<'_>, attrs: &[Attribute]) -> fmt::Result {
    for a in attrs {
        match &a.value {
            Some(v) => write!(f, "a={}:{}\r\n", a.name, v)?,
            None => write!(f, "a={}\r\n", a.name)?,
        }
    }
    Ok(())
}

fn split_line(line: &str) -> Option<(char, &str)> {
    let mut chars = line.chars();
    let kind = chars.next()?;
    if !kind.is_ascii_alphabetic() || chars.next()? != '=' {
        return None;
    }
    Some((kind, &line[2..]))
}

fn parse_origin(value: &str, n: usize) -> Result<Origin, SdpError> {
    let f: Vec<&str> = value.split_whitespace().collect();
    let bad = || SdpError::new(SdpErrorKind::Malformed('o'), n);
    if f.len() != 6 || !f[3].eq_ignore_ascii_case("IN") {
        return Err(bad());
    }
    Ok(Origin {
        username: f[0].to_owned(),
        session_id: f[1].to_owned(),
        session_version: f[2].to_owned(),
        addr_type: AddrType::parse(f[4]).ok_or_else(bad)?,
        address: f[5].to_owned(),
    })
}

fn parse_connection(value: &str, n: usize) -> Result<Connection, SdpError> {
    let f: Vec<&str> = value.split_whitespace().collect();
    let bad = || SdpError::new(SdpErrorKind::Malformed('c'), n);
    if f.len() != 3 || !f[0].eq_ignore_ascii_case("IN") {
        return Err(bad());
    }
    Ok(Connection {
        addr_type: AddrType::parse(f[1]).ok_or_else(bad)?,
        address: f[2].to_owned(),
    })
}

fn parse_timing(value: &str, n: usize) -> Result<(u64, u64), SdpError> {
    let mut f = value.split_whitespace();
    let mut num = || -> Result<u64, SdpError> {
        let s = f
            .next()
            .ok_or(SdpError::new(SdpErrorKind::Malformed('t'), n))?;
        s.parse()
            .map_err(|_| SdpError::new(SdpErrorKind::BadNumber(s.to_owned()), n))
    };
    Ok((num()?, num()?))
}

fn parse_media(value: &str, n: usize) -> Result<MediaDescription, SdpError> {
    let mut f = value.split_whitespace();
    let bad = || SdpError::new(SdpErrorKind::Malformed('m'), n);
    let media = f.next().ok_or_else(bad)?.to_owned();
    let port_field = f.next().ok_or_else(bad)?;
    let proto = f.next().ok_or_else(bad)?.to_owned();
    let formats: Vec<String> = f.map(str::to_owned).collect();
    if formats.is_empty() {
        return Err(bad());
    }
    let num = |s: &str| {
        s.parse::<u16>()
            .map_err(|_| SdpError::new(SdpErrorKind::BadNumber(s.to_owned()), n))
    };
    let (port, port_count) = match port_field.split_once('/') {
        Some((p, c)) => (num(p)?, Some(num(c)?)),
        None => (num(port_field)?, None),
    };
    Ok(MediaDescription {
        media,
        port,
        port_count,
        proto,
        formats,
        connection: None,
        attributes: Vec::new(),
        extra: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIPP: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

    #[test]
    fn parses_and_round_trips_sipp() {
        let sdp = SessionDescription::parse(SIPP).unwrap();
        assert_eq!(sdp.origin.session_id, "53655765");
        assert_eq!(
            sdp.connection.as_ref().unwrap().ip(),
            Some("127.0.0.1".parse().unwrap())
        );
        assert_eq!(sdp.media.len(), 1);
        let m = &sdp.media[0];
        assert_eq!(
            (m.media.as_str(), m.port, m.proto.as_str()),
            ("audio", 6000, "RTP/AVP")
        );
        assert_eq!(m.rtpmap(0).unwrap().encoding, "PCMU");
        assert_eq!(sdp.to_string(), SIPP);
    }

    #[test]
    fn lenient_on_lf_whitespace_and_missing_lines() {
        let body = "v=0\no=- 1 1 IN IP4 1.2.3.4  \n\nc=IN IP4 1.2.3.4\nm=audio 4000 RTP/AVP 0 101\t\nb=AS:64\na=x-unknown:yes\n";
        let sdp = SessionDescription::parse(body).unwrap();
        assert_eq!(sdp.session_name, "-");
        assert_eq!(sdp.timing, (0, 0));
        let m = &sdp.media[0];
        assert_eq!(m.formats, ["0", "101"]);
        assert_eq!(m.attribute("x-unknown"), Some("yes"));
        let out = sdp.to_string();
        assert!(out.contains("b=AS:64\r\na=x-unknown:yes\r\n"), "{out}");
        assert_eq!(SessionDescription::parse(&out).unwrap(), sdp);
    }

    #[test]
    fn typed_accessors() {
        let body = "v=0\r\no=- 1 1 IN IP4 h\r\ns=x\r\nt=0 0\r\na=sendonly\r\nm=audio 4000/2 RTP/AVP 8 101\r\nc=IN IP6 ::1\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:30\r\na=rtcp:4001 IN IP4 10.0.0.1\r\n";
        let sdp = SessionDescription::parse(body).unwrap();
        let m = &sdp.media[0];
        assert_eq!(m.port_count, Some(2));
        assert_eq!(m.fmtp(101), Some("0-16"));
        assert_eq!(m.fmtp(8), None);
        assert_eq!(m.ptime(), Some(30));
        let (port, c) = m.rtcp().unwrap();
        assert_eq!((port, c.unwrap().address.as_str()), (4001, "10.0.0.1"));
        assert_eq!(sdp.direction(0), Direction::SendOnly);
        assert_eq!(
            sdp.connection_for(0).unwrap().ip(),
            Some("::1".parse().unwrap())
        );
        assert_eq!(m.rtpmap(101).unwrap().clock_rate, 8000);
        assert_eq!(m.payload_types().collect::<Vec<_>>(), [8, 101]);
    }

    #[test]
    fn errors_name_the_line() {
        let e = |b: &str| SessionDescription::parse(b).unwrap_err();
        assert_eq!(e("").kind, SdpErrorKind::Empty);
        assert_eq!(e("v=1\r\n").kind, SdpErrorKind::BadVersion);
        assert_eq!(e("v=0\r\ns=x\r\n").kind, SdpErrorKind::MissingOrigin);
        let err = e("v=0\r\no=- 1 1 IN IP4 h\r\nm=audio x RTP/AVP 0\r\n");
        assert_eq!(
            (err.kind, err.line),
            (SdpErrorKind::BadNumber("x".into()), 3)
        );
        assert_eq!(
            e("v=0\r\no=- 1 1 IN IP4 h\r\nm=audio 1 RTP/AVP\r\n").kind,
            SdpErrorKind::Malformed('m')
        );
        assert_eq!(e("v=0\r\nbogus\r\n").kind, SdpErrorKind::BadLine);
        assert_eq!(
            e("v=0\r\no=- 1 1 IN IP4 h\r\nc=IN IP9 x\r\n").kind,
            SdpErrorKind::Malformed('c')
        );
        assert_eq!(
            SessionDescription::parse_bytes(&[b'v', b'=', 0xff])
                .unwrap_err()
                .kind,
            SdpErrorKind::NotUtf8
        );
        assert_eq!(
            SessionDescription::parse(&"a".repeat(MAX_SDP_LEN + 1))
                .unwrap_err()
                .kind,
            SdpErrorKind::TooLarge
        );
    }

    #[test]
    fn out_of_order_and_duplicate_lines_round_trip() {
        // Found by proptest: extras out of RFC 8866 §5 order, a second c= at session level.
        let body = "v=0\nc=IN IP4 .\no=- 0 0 IN IP4 0\nb=AS:1\nc=IN IP4 .\ne=\nm=audio 1 RTP/AVP 0\nb=x\ni=y\n";
        let sdp = SessionDescription::parse(body).unwrap();
        let written = sdp.to_string();
        assert_eq!(
            SessionDescription::parse(&written).unwrap(),
            sdp,
            "{written}"
        );
        assert!(written.starts_with("v=0\r\no=- 0 0 IN IP4 0\r\ns=-\r\ne=\r\nc=IN IP4 .\r\nb=AS:1\r\nt=0 0\r\nc=IN IP4 .\r\n"), "{written}");
        assert!(
            written.ends_with("m=audio 1 RTP/AVP 0\r\ni=y\r\nb=x\r\n"),
            "{written}"
        );
    }

    #[test]
    fn direction_algebra() {
        assert_eq!(Direction::SendOnly.reversed(), Direction::RecvOnly);
        assert_eq!(Direction::Inactive.reversed(), Direction::Inactive);
        assert_eq!(
            Direction::SendRecv.intersect(Direction::RecvOnly),
            Direction::RecvOnly
        );
        assert_eq!(
            Direction::SendOnly.intersect(Direction::RecvOnly),
            Direction::Inactive
        );
    }

    #[test]
    fn multibyte_first_char_is_a_bad_line_not_a_panic() {
        assert!(SessionDescription::parse("v=0\r\né=x\r\n").is_err());
        assert!(SessionDescription::parse("v=0\r\nx\u{e9}\r\n").is_err());
    }
}
