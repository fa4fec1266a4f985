//! The two header values of digest authentication: the challenge (WWW-Authenticate,
//! Proxy-Authenticate; RFC 7616 §3.3, RFC 3261 §20.27, §20.44) and the digest-response
//! (Authorization, Proxy-Authorization; RFC 7616 §3.4, RFC 3261 §20.7, §20.28).

use std::fmt;

use super::{Algorithm, AuthError};
use crate::message::Auth;

/// A quality of protection (RFC 7616 §3.3 `qop`, §3.4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Qop {
    /// `auth`: authentication of the method and Request-URI.
    Auth,
    /// `auth-int`: authentication with integrity protection of the body.
    AuthInt,
}

impl Qop {
    /// Parses a qop token, case-insensitively; `None` for an unknown one (RFC 7616 §3.3:
    /// unrecognized options MUST be ignored).
    pub fn parse(s: &str) -> Option<Qop> {
        if s.eq_ignore_ascii_case("auth") {
            Some(Qop::Auth)
        } else if s.eq_ignore_ascii_case("auth-int") {
            Some(Qop::AuthInt)
        } else {
            None
        }
    }

    /// `auth` or `auth-int`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Qop::Auth => "auth",
            Qop::AuthInt => "auth-int",
        }
    }
}

impl fmt::Display for Qop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Digest challenge: the value of a WWW-Authenticate or Proxy-Authenticate header
/// (RFC 7616 §3.3; RFC 3261 §22.1, §25.1 `digest-cln`).
///
/// [`Display`](fmt::Display) writes it back as a header value, as a server sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// `realm`, unquoted (mandatory; RFC 3261 §22.1).
    pub realm: String,
    /// `nonce`, unquoted (mandatory).
    pub nonce: String,
    /// `opaque`, echoed in the credentials (RFC 7616 §3.3).
    pub opaque: Option<String>,
    /// `stale=true`: the previous credentials were right but their nonce expired; retry
    /// with the new nonce without asking the user (RFC 7616 §3.3). Anything but `true`
    /// (case-insensitive) is false.
    pub stale: bool,
    /// `algorithm`; MD5 when absent (RFC 7616 §3.3).
    pub algorithm: Algorithm,
    /// The supported qop options, in the server's order; empty when the challenge has no
    /// `qop` (RFC 2069 compatibility, RFC 2617 §3.2.1). Unknown options are dropped.
    pub qop: Vec<Qop>,
    /// `domain`: the URIs of the protection space (RFC 7616 §3.3), unquoted and split.
    pub domain: Vec<String>,
    /// `userhash=true`: the server wants the username hashed (RFC 7616 §3.4.4).
    pub userhash: bool,
}

impl Challenge {
    /// A challenge for `realm` with `nonce`, algorithm MD5, no qop; set the other fields
    /// directly.
    pub fn new(realm: impl Into<String>, nonce: impl Into<String>) -> Challenge {
        Challenge {
            realm: realm.into(),
            nonce: nonce.into(),
            opaque: None,
            stale: false,
            algorithm: Algorithm::Md5,
            qop: Vec::new(),
            domain: Vec::new(),
            userhash: false,
        }
    }

    /// Parses a WWW-Authenticate or Proxy-Authenticate value (RFC 7616 §3.3). The scheme
    /// must be `Digest`, `realm` and `nonce` present, the algorithm known, and, when `qop`
    /// is present, at least one of its options known.
    pub fn parse(value: &str) -> Result<Challenge, AuthError> {
        let auth = digest_params(value)?;
        let mut realm = None;
        let mut nonce = None;
        let mut ch = Challenge::new("", "");
        let mut qop_raw: Option<String> = None;
        let mut seen = Seen::default();
        for (name, v) in auth.params() {
            let n = name.to_ascii_lowercase();
            seen.check(&n)?;
            match n.as_str() {
                "realm" => realm = Some(v.into_owned()),
                "nonce" => nonce = Some(v.into_owned()),
                "opaque" => ch.opaque = Some(v.into_owned()),
                "stale" => ch.stale = v.eq_ignore_ascii_case("true"),
                "algorithm" => ch.algorithm = Algorithm::parse(&v)?,
                "qop" => qop_raw = Some(v.into_owned()),
                "domain" => {
                    ch.domain = v.split_ascii_whitespace().map(str::to_owned).collect();
                }
                "userhash" => ch.userhash = v.eq_ignore_ascii_case("true"),
                // charset (always UTF-8 in SIP) and extensions: ignored (RFC 7616 §3.3).
                _ => {}
            }
        }
        ch.realm = realm.ok_or(AuthError::MissingParam("realm"))?;
        ch.nonce = nonce.ok_or(AuthError::MissingParam("nonce"))?;
        if let Some(q) = qop_raw {
            for t in q.split(',').map(str::trim) {
                if let Some(q) = Qop::parse(t)
                    && !ch.qop.contains(&q)
                {
                    ch.qop.push(q);
                }
            }
            if ch.qop.is_empty() {
                return Err(AuthError::UnsupportedQop(q));
            }
        }
        Ok(ch)
    }

    /// The qop a client answers with (RFC 7616 §3.4, RFC 3261 §22.4): `auth` when offered,
    /// `auth-int` when it is the only option, none for a challenge without qop.
    pub fn preferred_qop(&self) -> Option<Qop> {
        if self.qop.contains(&Qop::Auth) {
            Some(Qop::Auth)
        } else {
            self.qop.first().copied()
        }
    }
}

impl fmt::Display for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Digest realm={}, nonce={}",
            Quoted(&self.realm),
            Quoted(&self.nonce)
        )?;
        if let Some(o) = &self.opaque {
            write!(f, ", opaque={}", Quoted(o))?;
        }
        if self.stale {
            f.write_str(", stale=true")?;
        }
        write!(f, ", algorithm={}", self.algorithm)?;
        if !self.qop.is_empty() {
            f.write_str(", qop=\"")?;
            for (i, q) in self.qop.iter().enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                f.write_str(q.as_str())?;
            }
            f.write_str("\"")?;
        }
        if !self.domain.is_empty() {
            write!(f, ", domain={}", Quoted(&self.domain.join(" ")))?;
        }
        if self.userhash {
            f.write_str(", userhash=true")?;
        }
        Ok(())
    }
}

/// Digest credentials: the value of an Authorization or Proxy-Authorization header
/// (RFC 7616 §3.4, RFC 2617 §3.2.2 `digest-response`; RFC 3261 §22.2, §22.3, §25.1).
///
/// [`Display`](fmt::Display) writes it as a client sends it: quoted strings where RFC 3261
/// §25.1 wants them, `qop` and `nc` as tokens, `algorithm` always explicit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestResponse {
    /// `username`: the user name, or its hash when `userhash` is set (RFC 7616 §3.4.4).
    pub username: String,
    /// `realm`.
    pub realm: String,
    /// `nonce`, as received in the challenge.
    pub nonce: String,
    /// `uri`: the Request-URI (RFC 3261 §22.4).
    pub uri: String,
    /// `response`: the request-digest, lower-case hex (RFC 7616 §3.4.1).
    pub response: String,
    /// `algorithm`; MD5 when absent.
    pub algorithm: Algorithm,
    /// `cnonce`: present with a qop (and with a `-sess` algorithm).
    pub cnonce: Option<String>,
    /// `opaque`, echoed from the challenge.
    pub opaque: Option<String>,
    /// `qop`: the chosen quality of protection; `None` in RFC 2069 compatibility mode.
    pub qop: Option<Qop>,
    /// `nc`: the nonce count, sent as 8 hex digits (RFC 7616 §3.4).
    pub nc: Option<u32>,
    /// `userhash=true` (RFC 7616 §3.4.4).
    pub userhash: bool,
}

impl DigestResponse {
    /// Parses an Authorization or Proxy-Authorization value (RFC 7616 §3.4). `username`,
    /// `realm`, `nonce`, `uri` and `response` are mandatory; with a `qop`, `cnonce` and `nc`
    /// too (RFC 7616 §3.4); `nc` must be 8 hex digits.
    pub fn parse(value: &str) -> Result<DigestResponse, AuthError> {
        let auth = digest_params(value)?;
        let mut f: [Option<String>; 5] = Default::default();
        let mut r = DigestResponse {
            username: String::new(),
            realm: String::new(),
            nonce: String::new(),
            uri: String::new(),
            response: String::new(),
            algorithm: Algorithm::Md5,
            cnonce: None,
            opaque: None,
            qop: None,
            nc: None,
            userhash: false,
        };
        let mut seen = Seen::default();
        for (name, v) in auth.params() {
            let n = name.to_ascii_lowercase();
            seen.check(&n)?;
            match n.as_str() {
                "username" => f[0] = Some(v.into_owned()),
                "realm" => f[1] = Some(v.into_owned()),
                "nonce" => f[2] = Some(v.into_owned()),
                "uri" => f[3] = Some(v.into_owned()),
                "response" => f[4] = Some(v.into_owned()),
                "algorithm" => r.algorithm = Algorithm::parse(&v)?,
                "cnonce" => r.cnonce = Some(v.into_owned()),
                "opaque" => r.opaque = Some(v.into_owned()),
                "qop" => {
                    r.qop = Some(
                        Qop::parse(&v).ok_or_else(|| AuthError::UnsupportedQop(v.into_owned()))?,
                    );
                }
                "nc" => {
                    let ok = v.len() == 8 && v.bytes().all(|b| b.is_ascii_hexdigit());
                    let nc = u32::from_str_radix(&v, 16).ok().filter(|_| ok);
                    r.nc = Some(nc.ok_or_else(|| AuthError::InvalidParam {
                        name: "nc",
                        value: v.into_owned(),
                    })?);
                }
                "userhash" => r.userhash = v.eq_ignore_ascii_case("true"),
                _ => {}
            }
        }
        let [username, realm, nonce, uri, response] = f;
        r.username = username.ok_or(AuthError::MissingParam("username"))?;
        r.realm = realm.ok_or(AuthError::MissingParam("realm"))?;
        r.nonce = nonce.ok_or(AuthError::MissingParam("nonce"))?;
        r.uri = uri.ok_or(AuthError::MissingParam("uri"))?;
        r.response = response.ok_or(AuthError::MissingParam("response"))?;
        if r.qop.is_some() {
            if r.cnonce.is_none() {
                return Err(AuthError::MissingParam("cnonce"));
            }
            if r.nc.is_none() {
                return Err(AuthError::MissingParam("nc"));
            }
        }
        Ok(r)
    }
}

impl fmt::Display for DigestResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Digest username={}, realm={}, nonce={}, uri={}, response={}, algorithm={}",
            Quoted(&self.username),
            Quoted(&self.realm),
            Quoted(&self.nonce),
            Quoted(&self.uri),
            Quoted(&self.response),
            self.algorithm,
        )?;
        if let Some(c) = &self.cnonce {
            write!(f, ", cnonce={}", Quoted(c))?;
        }
        if let Some(o) = &self.opaque {
            write!(f, ", opaque={}", Quoted(o))?;
        }
        if let Some(q) = self.qop {
            write!(f, ", qop={q}")?;
        }
        if let Some(nc) = self.nc {
            write!(f, ", nc={nc:08x}")?;
        }
        if self.userhash {
            f.write_str(", userhash=true")?;
        }
        Ok(())
    }
}

/// Parses `value` with the message layer's auth grammar and checks the scheme is Digest.
fn digest_params(value: &str) -> Result<Auth<'_>, AuthError> {
    let auth = Auth::parse(value).map_err(|offset| AuthError::Malformed { offset })?;
    if !auth.scheme.eq_ignore_ascii_case("Digest") {
        return Err(AuthError::UnsupportedScheme(auth.scheme.to_owned()));
    }
    Ok(auth)
}

/// Rejects a repeated parameter (RFC 7235 §2.1: each name occurs once per challenge).
#[derive(Default)]
struct Seen(Vec<String>);

impl Seen {
    fn check(&mut self, name: &str) -> Result<(), AuthError> {
        if self.0.iter().any(|n| n == name) {
            return Err(AuthError::DuplicateParam(name.to_owned()));
        }
        self.0.push(name.to_owned());
        Ok(())
    }
}

/// Writes a string as a quoted-string, escaping `"` and `\` (RFC 3261 §25.1).
pub(crate) struct Quoted<'a>(pub(crate) &'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        let mut rest = self.0;
        while let Some(i) = rest.find(['"', '\\']) {
            f.write_str(&rest[..i])?;
            f.write_str("\\")?;
            f.write_str(&rest[i..=i])?;
            rest = &rest[i + 1..];
        }
        f.write_str(rest)?;
        f.write_str("\"")
    }
}

/// Whether `s` can travel inside a quoted-string: no control characters (RFC 3261 §25.1
/// `qdtext`).
pub(crate) fn quotable(s: &str) -> bool {
    !s.chars().any(|c| c.is_control() && c != '\t')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_challenge() {
        let c = Challenge::parse(
            r#"Digest realm="atlanta.com", domain="sip:ss1.carrier.com sip:ss2.carrier.com", qop="auth,auth-int,auth-conf", nonce="f84f1cec41e6cbe5aea9c8e88d359", opaque="", stale=FALSE, algorithm=md5-SESS, userhash=TRUE, charset=UTF-8"#,
        )
        .unwrap();
        assert_eq!(c.realm, "atlanta.com");
        assert_eq!(c.nonce, "f84f1cec41e6cbe5aea9c8e88d359");
        assert_eq!(c.opaque.as_deref(), Some(""));
        assert!(!c.stale);
        assert_eq!(c.algorithm, Algorithm::Md5Sess);
        assert_eq!(c.qop, [Qop::Auth, Qop::AuthInt]);
        assert_eq!(c.domain, ["sip:ss1.carrier.com", "sip:ss2.carrier.com"]);
        assert!(c.userhash);
        assert_eq!(c.preferred_qop(), Some(Qop::Auth));
    }

    #[test]
    fn challenge_defaults_and_round_trip() {
        let c = Challenge::parse("digest realm=r,nonce=n").unwrap();
        assert_eq!(c.algorithm, Algorithm::Md5);
        assert!(c.qop.is_empty() && !c.stale && !c.userhash && c.opaque.is_none());
        assert_eq!(c.preferred_qop(), None);
        let mut c = c;
        c.realm = r#"a "quoted" \ realm"#.into();
        c.qop = vec![Qop::AuthInt];
        c.stale = true;
        c.opaque = Some("o".into());
        c.domain = vec!["sip:a".into(), "sip:b".into()];
        c.userhash = true;
        let again = Challenge::parse(&c.to_string()).unwrap();
        assert_eq!(again, c);
        assert_eq!(again.preferred_qop(), Some(Qop::AuthInt));
    }

    #[test]
    fn challenge_errors() {
        use AuthError as E;
        type Check = fn(&AuthError) -> bool;
        let cases: &[(&str, Check)] = &[
            (
                "Basic realm=\"x\"",
                |e| matches!(e, E::UnsupportedScheme(s) if s == "Basic"),
            ),
            ("Digest nonce=\"n\"", |e| {
                matches!(e, E::MissingParam("realm"))
            }),
            ("Digest realm=\"r\"", |e| {
                matches!(e, E::MissingParam("nonce"))
            }),
            (
                "Digest realm=r, nonce=n, algorithm=SHA-1",
                |e| matches!(e, E::UnsupportedAlgorithm(a) if a == "SHA-1"),
            ),
            (
                "Digest realm=r, nonce=n, qop=\"auth-conf\"",
                |e| matches!(e, E::UnsupportedQop(q) if q == "auth-conf"),
            ),
            (
                "Digest realm=r, realm=s, nonce=n",
                |e| matches!(e, E::DuplicateParam(p) if p == "realm"),
            ),
            ("Digest realm=\"r, nonce=n", |e| {
                matches!(e, E::Malformed { .. })
            }),
            ("Digest realm", |e| matches!(e, E::Malformed { .. })),
            ("", |e| matches!(e, E::Malformed { .. })),
            ("Digest", |e| matches!(e, E::MissingParam("realm"))),
        ];
        for (s, ok) in cases {
            let e = Challenge::parse(s).unwrap_err();
            assert!(ok(&e), "{s:?} gave {e:?}");
            assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn digest_response_round_trip_and_errors() {
        let v = r#"Digest username="bob", realm="biloxi.com", nonce="dcd98b", uri="sip:bob@biloxi.com", qop=auth, nc=0000000a, cnonce="0a4f113b", response="6629fae4", opaque="5ccc", algorithm=SHA-256"#;
        let r = DigestResponse::parse(v).unwrap();
        assert_eq!(r.nc, Some(10));
        assert_eq!(r.qop, Some(Qop::Auth));
        assert_eq!(r.algorithm, Algorithm::Sha256);
        assert_eq!(DigestResponse::parse(&r.to_string()).unwrap(), r);
        assert!(r.to_string().contains("nc=0000000a"));

        let no_nc = v.replace("nc=0000000a, ", "");
        assert!(matches!(
            DigestResponse::parse(&no_nc),
            Err(AuthError::MissingParam("nc"))
        ));
        let bad_nc = v.replace("nc=0000000a", "nc=1");
        assert!(matches!(
            DigestResponse::parse(&bad_nc),
            Err(AuthError::InvalidParam { name: "nc", .. })
        ));
        let no_resp = v.replace(r#"response="6629fae4", "#, "");
        assert!(matches!(
            DigestResponse::parse(&no_resp),
            Err(AuthError::MissingParam("response"))
        ));
    }

    #[test]
    fn quoting_escapes() {
        assert_eq!(Quoted(r#"a"b\c"#).to_string(), r#""a\"b\\c""#);
        assert!(quotable("Jäsøn Doe\t"));
        assert!(!quotable("a\r\nb"));
    }
}
