//! The digest algorithms (RFC 7616 §3.2, §6.1; RFC 8760 §2) and the hash helpers built on them.

use std::fmt;
use std::str::FromStr;

use md5::Md5;
use sha2::{Digest, Sha256, Sha512_256};

use super::AuthError;

/// A digest algorithm, the value of the `algorithm` parameter (RFC 7616 §3.3, §6.1; RFC 8760 §2).
///
/// The `-sess` variants hash the nonce and cnonce into A1 (RFC 7616 §3.4.2). Parsing is
/// case-insensitive; a challenge without `algorithm` means [`Algorithm::Md5`] (RFC 2617 §3.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// `MD5` (RFC 2617 §3.2.1; kept for backward compatibility, RFC 8760 §2.3).
    Md5,
    /// `MD5-sess` (RFC 2617 §3.2.2.2).
    Md5Sess,
    /// `SHA-256` (RFC 7616 §3.2, RFC 8760 §2).
    Sha256,
    /// `SHA-256-sess` (RFC 7616 §3.2).
    Sha256Sess,
    /// `SHA-512-256`: SHA-512/256 of FIPS 180-4 (RFC 7616 §3.2, RFC 8760 §2).
    Sha512_256,
    /// `SHA-512-256-sess` (RFC 7616 §3.2).
    Sha512_256Sess,
}

impl Algorithm {
    /// Every algorithm, weakest first.
    pub const ALL: [Algorithm; 6] = [
        Algorithm::Md5,
        Algorithm::Md5Sess,
        Algorithm::Sha256,
        Algorithm::Sha256Sess,
        Algorithm::Sha512_256,
        Algorithm::Sha512_256Sess,
    ];

    /// Parses the `algorithm` parameter value, case-insensitively (RFC 7616 §3.3).
    pub fn parse(s: &str) -> Result<Algorithm, AuthError> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| AuthError::UnsupportedAlgorithm(s.to_owned()))
    }

    /// The IANA name (RFC 7616 §6.1): `MD5`, `SHA-256-sess`, ...
    pub const fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
            Algorithm::Sha512_256 => "SHA-512-256",
            Algorithm::Sha512_256Sess => "SHA-512-256-sess",
        }
    }

    /// Whether this is a `-sess` variant (RFC 7616 §3.4.2: A1 includes nonce and cnonce).
    pub const fn is_session(self) -> bool {
        matches!(
            self,
            Algorithm::Md5Sess | Algorithm::Sha256Sess | Algorithm::Sha512_256Sess
        )
    }

    /// The relative strength of the hash function: 0 for MD5, 1 for SHA-256, 2 for
    /// SHA-512/256 (RFC 7616 §3.7, RFC 8760 §2.4: prefer the strongest one supported). The
    /// `-sess` variant has the strength of its hash.
    pub const fn strength(self) -> u8 {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => 0,
            Algorithm::Sha256 | Algorithm::Sha256Sess => 1,
            Algorithm::Sha512_256 | Algorithm::Sha512_256Sess => 2,
        }
    }

    /// `H(data)` as lower-case hex (RFC 7616 §3.4.1), where `data` is `parts` joined by `:`.
    pub fn hash_hex(self, parts: &[&[u8]]) -> String {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => hash_parts::<Md5>(parts),
            Algorithm::Sha256 | Algorithm::Sha256Sess => hash_parts::<Sha256>(parts),
            Algorithm::Sha512_256 | Algorithm::Sha512_256Sess => hash_parts::<Sha512_256>(parts),
        }
    }

    /// The hashed username sent when the server asks for `userhash` (RFC 7616 §3.4.4):
    /// `H(unq(username) ":" unq(realm))`. A registrar can precompute these to find users.
    pub fn userhash(self, username: &str, realm: &str) -> String {
        self.hash_hex(&[username.as_bytes(), realm.as_bytes()])
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = AuthError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Algorithm::parse(s)
    }
}

fn hash_parts<D: Digest>(parts: &[&[u8]]) -> String {
    let mut d = D::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            d.update(b":");
        }
        d.update(p);
    }
    hex(&d.finalize())
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// Compares two strings in time independent of where they differ (digest responses, nonces).
pub(crate) fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What the request-digest needs besides the algorithm (RFC 7616 §3.4.1 to §3.4.3).
pub(crate) struct DigestInput<'a> {
    pub(crate) algorithm: Algorithm,
    pub(crate) username: &'a str,
    pub(crate) realm: &'a str,
    pub(crate) password: &'a str,
    pub(crate) nonce: &'a str,
    pub(crate) cnonce: Option<&'a str>,
    pub(crate) nc: Option<u32>,
    pub(crate) qop: Option<super::Qop>,
    pub(crate) method: &'a str,
    pub(crate) uri: &'a str,
    pub(crate) body: &'a [u8],
}

impl DigestInput<'_> {
    /// The `response` value (RFC 7616 §3.4.1; RFC 2617 §3.2.2.1 without qop, RFC 2069).
    pub(crate) fn response(&self) -> String {
        let alg = self.algorithm;
        let cnonce = self.cnonce.unwrap_or("").as_bytes();
        // A1 (RFC 7616 §3.4.2).
        let mut ha1 = alg.hash_hex(&[
            self.username.as_bytes(),
            self.realm.as_bytes(),
            self.password.as_bytes(),
        ]);
        if alg.is_session() {
            ha1 = alg.hash_hex(&[ha1.as_bytes(), self.nonce.as_bytes(), cnonce]);
        }
        // A2 (RFC 7616 §3.4.3).
        let ha2 = match self.qop {
            Some(super::Qop::AuthInt) => {
                let hbody = alg.hash_hex(&[self.body]);
                alg.hash_hex(&[
                    self.method.as_bytes(),
                    self.uri.as_bytes(),
                    hbody.as_bytes(),
                ])
            }
            _ => alg.hash_hex(&[self.method.as_bytes(), self.uri.as_bytes()]),
        };
        match self.qop {
            Some(q) => {
                let nc = format!("{:08x}", self.nc.unwrap_or(1));
                alg.hash_hex(&[
                    ha1.as_bytes(),
                    self.nonce.as_bytes(),
                    nc.as_bytes(),
                    cnonce,
                    q.as_str().as_bytes(),
                    ha2.as_bytes(),
                ])
            }
            None => alg.hash_hex(&[ha1.as_bytes(), self.nonce.as_bytes(), ha2.as_bytes()]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_case_insensitively() {
        assert_eq!(Algorithm::parse("md5").unwrap(), Algorithm::Md5);
        assert_eq!(
            Algorithm::parse("sha-512-256-SESS").unwrap(),
            Algorithm::Sha512_256Sess
        );
        assert_eq!("SHA-256".parse::<Algorithm>().unwrap(), Algorithm::Sha256);
        assert!(matches!(
            Algorithm::parse("SHA-1"),
            Err(AuthError::UnsupportedAlgorithm(a)) if a == "SHA-1"
        ));
        for a in Algorithm::ALL {
            assert_eq!(Algorithm::parse(a.as_str()).unwrap(), a);
        }
    }

    #[test]
    fn known_hashes() {
        assert_eq!(
            Algorithm::Md5.hash_hex(&[b"abc"]),
            "900150983cd24fb0d6963f7d28e17f72"
        );
        assert_eq!(
            Algorithm::Sha256.hash_hex(&[b"a", b"bc"]),
            Algorithm::Sha256.hash_hex(&[b"a:bc"])
        );
        // FIPS 180-4 SHA-512/256 of "abc".
        assert_eq!(
            Algorithm::Sha512_256.hash_hex(&[b"abc"]),
            "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23"
        );
    }

    #[test]
    fn constant_time_eq_works() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
    }
}
