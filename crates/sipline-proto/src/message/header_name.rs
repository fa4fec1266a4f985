//! Known header field names (RFC 3261 §20) and their compact forms (§7.3.3).

/// A header field name known to sipline (RFC 3261 §20 and the extensions it implements).
///
/// Compact forms (RFC 3261 §7.3.3 and the extension RFCs) parse to the same variant; names
/// are matched case-insensitively (§7.3.1). Unknown names are kept verbatim by [`Headers`](crate::Headers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum HeaderName {
    /// `Accept`
    Accept,
    /// `Accept-Encoding`
    AcceptEncoding,
    /// `Accept-Language`
    AcceptLanguage,
    /// `Alert-Info`
    AlertInfo,
    /// `Allow`
    Allow,
    /// `Allow-Events` (compact `u`)
    AllowEvents,
    /// `Authentication-Info`
    AuthenticationInfo,
    /// `Authorization`
    Authorization,
    /// `Call-ID` (compact `i`)
    CallId,
    /// `Call-Info`
    CallInfo,
    /// `Contact` (compact `m`)
    Contact,
    /// `Content-Disposition`
    ContentDisposition,
    /// `Content-Encoding` (compact `e`)
    ContentEncoding,
    /// `Content-Language`
    ContentLanguage,
    /// `Content-Length` (compact `l`)
    ContentLength,
    /// `Content-Type` (compact `c`)
    ContentType,
    /// `CSeq`
    CSeq,
    /// `Date`
    Date,
    /// `Error-Info`
    ErrorInfo,
    /// `Event` (compact `o`)
    Event,
    /// `Expires`
    Expires,
    /// `From` (compact `f`)
    From,
    /// `In-Reply-To`
    InReplyTo,
    /// `Max-Forwards`
    MaxForwards,
    /// `MIME-Version`
    MimeVersion,
    /// `Min-Expires`
    MinExpires,
    /// `Min-SE`
    MinSe,
    /// `Organization`
    Organization,
    /// `Path`
    Path,
    /// `Priority`
    Priority,
    /// `Proxy-Authenticate`
    ProxyAuthenticate,
    /// `Proxy-Authorization`
    ProxyAuthorization,
    /// `Proxy-Require`
    ProxyRequire,
    /// `RAck`
    RAck,
    /// `Reason`
    Reason,
    /// `Record-Route`
    RecordRoute,
    /// `Referred-By` (compact `b`)
    ReferredBy,
    /// `Refer-To` (compact `r`)
    ReferTo,
    /// `Replaces`
    Replaces,
    /// `Reply-To`
    ReplyTo,
    /// `Require`
    Require,
    /// `Retry-After`
    RetryAfter,
    /// `Route`
    Route,
    /// `RSeq`
    RSeq,
    /// `Server`
    Server,
    /// `Service-Route`
    ServiceRoute,
    /// `Session-Expires` (compact `x`)
    SessionExpires,
    /// `Subject` (compact `s`)
    Subject,
    /// `Subscription-State`
    SubscriptionState,
    /// `Supported` (compact `k`)
    Supported,
    /// `Timestamp`
    Timestamp,
    /// `To` (compact `t`)
    To,
    /// `Unsupported`
    Unsupported,
    /// `User-Agent`
    UserAgent,
    /// `Via` (compact `v`)
    Via,
    /// `Warning`
    Warning,
    /// `WWW-Authenticate`
    WwwAuthenticate,
}

impl HeaderName {
    /// Every known header, for iteration in tests and tools.
    pub const ALL: &'static [HeaderName] = &[
        HeaderName::Accept,
        HeaderName::AcceptEncoding,
        HeaderName::AcceptLanguage,
        HeaderName::AlertInfo,
        HeaderName::Allow,
        HeaderName::AllowEvents,
        HeaderName::AuthenticationInfo,
        HeaderName::Authorization,
        HeaderName::CallId,
        HeaderName::CallInfo,
        HeaderName::Contact,
        HeaderName::ContentDisposition,
        HeaderName::ContentEncoding,
        HeaderName::ContentLanguage,
        HeaderName::ContentLength,
        HeaderName::ContentType,
        HeaderName::CSeq,
        HeaderName::Date,
        HeaderName::ErrorInfo,
        HeaderName::Event,
        HeaderName::Expires,
        HeaderName::From,
        HeaderName::InReplyTo,
        HeaderName::MaxForwards,
        HeaderName::MimeVersion,
        HeaderName::MinExpires,
        HeaderName::MinSe,
        HeaderName::Organization,
        HeaderName::Path,
        HeaderName::Priority,
        HeaderName::ProxyAuthenticate,
        HeaderName::ProxyAuthorization,
        HeaderName::ProxyRequire,
        HeaderName::RAck,
        HeaderName::Reason,
        HeaderName::RecordRoute,
        HeaderName::ReferredBy,
        HeaderName::ReferTo,
        HeaderName::Replaces,
        HeaderName::ReplyTo,
        HeaderName::Require,
        HeaderName::RetryAfter,
        HeaderName::Route,
        HeaderName::RSeq,
        HeaderName::Server,
        HeaderName::ServiceRoute,
        HeaderName::SessionExpires,
        HeaderName::Subject,
        HeaderName::SubscriptionState,
        HeaderName::Supported,
        HeaderName::Timestamp,
        HeaderName::To,
        HeaderName::Unsupported,
        HeaderName::UserAgent,
        HeaderName::Via,
        HeaderName::Warning,
        HeaderName::WwwAuthenticate,
    ];

    /// The canonical spelling (the long form, as RFC 3261 §20 writes it).
    pub const fn as_str(self) -> &'static str {
        match self {
            HeaderName::Accept => "Accept",
            HeaderName::AcceptEncoding => "Accept-Encoding",
            HeaderName::AcceptLanguage => "Accept-Language",
            HeaderName::AlertInfo => "Alert-Info",
            HeaderName::Allow => "Allow",
            HeaderName::AllowEvents => "Allow-Events",
            HeaderName::AuthenticationInfo => "Authentication-Info",
            HeaderName::Authorization => "Authorization",
            HeaderName::CallId => "Call-ID",
            HeaderName::CallInfo => "Call-Info",
            HeaderName::Contact => "Contact",
            HeaderName::ContentDisposition => "Content-Disposition",
            HeaderName::ContentEncoding => "Content-Encoding",
            HeaderName::ContentLanguage => "Content-Language",
            HeaderName::ContentLength => "Content-Length",
            HeaderName::ContentType => "Content-Type",
            HeaderName::CSeq => "CSeq",
            HeaderName::Date => "Date",
            HeaderName::ErrorInfo => "Error-Info",
            HeaderName::Event => "Event",
            HeaderName::Expires => "Expires",
            HeaderName::From => "From",
            HeaderName::InReplyTo => "In-Reply-To",
            HeaderName::MaxForwards => "Max-Forwards",
            HeaderName::MimeVersion => "MIME-Version",
            HeaderName::MinExpires => "Min-Expires",
            HeaderName::MinSe => "Min-SE",
            HeaderName::Organization => "Organization",
            HeaderName::Path => "Path",
            HeaderName::Priority => "Priority",
            HeaderName::ProxyAuthenticate => "Proxy-Authenticate",
            HeaderName::ProxyAuthorization => "Proxy-Authorization",
            HeaderName::ProxyRequire => "Proxy-Require",
            HeaderName::RAck => "RAck",
            HeaderName::Reason => "Reason",
            HeaderName::RecordRoute => "Record-Route",
            HeaderName::ReferredBy => "Referred-By",
            HeaderName::ReferTo => "Refer-To",
            HeaderName::Replaces => "Replaces",
            HeaderName::ReplyTo => "Reply-To",
            HeaderName::Require => "Require",
            HeaderName::RetryAfter => "Retry-After",
            HeaderName::Route => "Route",
            HeaderName::RSeq => "RSeq",
            HeaderName::Server => "Server",
            HeaderName::ServiceRoute => "Service-Route",
            HeaderName::SessionExpires => "Session-Expires",
            HeaderName::Subject => "Subject",
            HeaderName::SubscriptionState => "Subscription-State",
            HeaderName::Supported => "Supported",
            HeaderName::Timestamp => "Timestamp",
            HeaderName::To => "To",
            HeaderName::Unsupported => "Unsupported",
            HeaderName::UserAgent => "User-Agent",
            HeaderName::Via => "Via",
            HeaderName::Warning => "Warning",
            HeaderName::WwwAuthenticate => "WWW-Authenticate",
        }
    }

    /// The compact form, if the header has one (RFC 3261 §7.3.3).
    pub const fn compact(self) -> Option<char> {
        match self {
            HeaderName::AllowEvents => Some('u'),
            HeaderName::CallId => Some('i'),
            HeaderName::Contact => Some('m'),
            HeaderName::ContentEncoding => Some('e'),
            HeaderName::ContentLength => Some('l'),
            HeaderName::ContentType => Some('c'),
            HeaderName::Event => Some('o'),
            HeaderName::From => Some('f'),
            HeaderName::ReferredBy => Some('b'),
            HeaderName::ReferTo => Some('r'),
            HeaderName::SessionExpires => Some('x'),
            HeaderName::Subject => Some('s'),
            HeaderName::Supported => Some('k'),
            HeaderName::To => Some('t'),
            HeaderName::Via => Some('v'),
            _ => None,
        }
    }

    /// Whether the header may appear at most once (RFC 3261 §7.3.1: its grammar is not a
    /// comma-separated list), so that a second field is an error.
    pub const fn is_single_valued(self) -> bool {
        use HeaderName as H;
        matches!(
            self,
            H::CallId
                | H::CSeq
                | H::From
                | H::To
                | H::MaxForwards
                | H::ContentLength
                | H::ContentType
                | H::Expires
                | H::MinExpires
                | H::RSeq
                | H::RAck
                | H::ReferTo
                | H::ReferredBy
                | H::Replaces
                | H::Event
                | H::SubscriptionState
                | H::SessionExpires
                | H::MinSe
                | H::Date
                | H::MimeVersion
                | H::Timestamp
                | H::ReplyTo
                | H::ContentDisposition
                | H::RetryAfter
        )
    }

    /// Whether the header's grammar is a comma-separated list (RFC 3261 §7.3.1), so that
    /// several values may share one line.
    pub const fn is_list(self) -> bool {
        matches!(
            self,
            HeaderName::Accept
                | HeaderName::AcceptEncoding
                | HeaderName::AcceptLanguage
                | HeaderName::AlertInfo
                | HeaderName::Allow
                | HeaderName::AllowEvents
                | HeaderName::CallInfo
                | HeaderName::Contact
                | HeaderName::ContentEncoding
                | HeaderName::ContentLanguage
                | HeaderName::ErrorInfo
                | HeaderName::InReplyTo
                | HeaderName::Path
                | HeaderName::ProxyRequire
                | HeaderName::Reason
                | HeaderName::RecordRoute
                | HeaderName::Require
                | HeaderName::Route
                | HeaderName::ServiceRoute
                | HeaderName::Supported
                | HeaderName::Unsupported
                | HeaderName::Via
                | HeaderName::Warning
        )
    }

    /// Looks a name up, case-insensitively, accepting compact forms. `None` for unknown names.
    /// Inlined: the line scanner calls it once per field, and the call spilled its registers.
    #[inline]
    pub fn from_bytes(name: &[u8]) -> Option<HeaderName> {
        // A switch on the length, then on the first letter, then one case-insensitive
        // comparison: no copy, and at most a few candidates per length.
        // `| 0x20` lower-cases a letter and maps no other byte onto one (a letter is
        // `0x41..=0x5A` or `0x61..=0x7A`, bit 0x20 apart): one OR instead of a range test.
        let first = name.first()? | 0x20;
        if name.len() == 1 {
            return Some(match first {
                b'b' => HeaderName::ReferredBy,
                b'c' => HeaderName::ContentType,
                b'e' => HeaderName::ContentEncoding,
                b'f' => HeaderName::From,
                b'i' => HeaderName::CallId,
                b'k' => HeaderName::Supported,
                b'l' => HeaderName::ContentLength,
                b'm' => HeaderName::Contact,
                b'o' => HeaderName::Event,
                b'r' => HeaderName::ReferTo,
                b's' => HeaderName::Subject,
                b't' => HeaderName::To,
                b'u' => HeaderName::AllowEvents,
                b'v' => HeaderName::Via,
                b'x' => HeaderName::SessionExpires,
                _ => return None,
            });
        }
        // `s` is lower case, of the same length as `name` (the match below is on the length).
        let is = |s: &[u8]| eq_lower(name, s);
        let found = match (name.len(), first) {
            (2, b't') if is(b"to") => HeaderName::To,
            (3, b'v') if is(b"via") => HeaderName::Via,
            (4, b'c') if is(b"cseq") => HeaderName::CSeq,
            (4, b'd') if is(b"date") => HeaderName::Date,
            (4, b'f') if is(b"from") => HeaderName::From,
            (4, b'p') if is(b"path") => HeaderName::Path,
            (4, b'r') if is(b"rack") => HeaderName::RAck,
            (4, b'r') if is(b"rseq") => HeaderName::RSeq,
            (5, b'a') if is(b"allow") => HeaderName::Allow,
            (5, b'e') if is(b"event") => HeaderName::Event,
            (5, b'r') if is(b"route") => HeaderName::Route,
            (6, b'a') if is(b"accept") => HeaderName::Accept,
            (6, b'm') if is(b"min-se") => HeaderName::MinSe,
            (6, b'r') if is(b"reason") => HeaderName::Reason,
            (6, b's') if is(b"server") => HeaderName::Server,
            (7, b'c') if is(b"call-id") => HeaderName::CallId,
            (7, b'c') if is(b"contact") => HeaderName::Contact,
            (7, b'e') if is(b"expires") => HeaderName::Expires,
            (7, b'r') if is(b"require") => HeaderName::Require,
            (7, b's') if is(b"subject") => HeaderName::Subject,
            (7, b'w') if is(b"warning") => HeaderName::Warning,
            (8, b'p') if is(b"priority") => HeaderName::Priority,
            (8, b'r') if is(b"refer-to") => HeaderName::ReferTo,
            (8, b'r') if is(b"replaces") => HeaderName::Replaces,
            (8, b'r') if is(b"reply-to") => HeaderName::ReplyTo,
            (9, b'c') if is(b"call-info") => HeaderName::CallInfo,
            (9, b's') if is(b"supported") => HeaderName::Supported,
            (9, b't') if is(b"timestamp") => HeaderName::Timestamp,
            (10, b'a') if is(b"alert-info") => HeaderName::AlertInfo,
            (10, b'e') if is(b"error-info") => HeaderName::ErrorInfo,
            (10, b'u') if is(b"user-agent") => HeaderName::UserAgent,
            (11, b'i') if is(b"in-reply-to") => HeaderName::InReplyTo,
            (11, b'm') if is(b"min-expires") => HeaderName::MinExpires,
            (11, b'r') if is(b"referred-by") => HeaderName::ReferredBy,
            (11, b'r') if is(b"retry-after") => HeaderName::RetryAfter,
            (11, b'u') if is(b"unsupported") => HeaderName::Unsupported,
            (12, b'a') if is(b"allow-events") => HeaderName::AllowEvents,
            (12, b'c') if is(b"content-type") => HeaderName::ContentType,
            (12, b'm') if is(b"max-forwards") => HeaderName::MaxForwards,
            (12, b'm') if is(b"mime-version") => HeaderName::MimeVersion,
            (12, b'o') if is(b"organization") => HeaderName::Organization,
            (12, b'r') if is(b"record-route") => HeaderName::RecordRoute,
            (13, b'a') if is(b"authorization") => HeaderName::Authorization,
            (13, b'p') if is(b"proxy-require") => HeaderName::ProxyRequire,
            (13, b's') if is(b"service-route") => HeaderName::ServiceRoute,
            (14, b'c') if is(b"content-length") => HeaderName::ContentLength,
            (15, b'a') if is(b"accept-encoding") => HeaderName::AcceptEncoding,
            (15, b'a') if is(b"accept-language") => HeaderName::AcceptLanguage,
            (15, b's') if is(b"session-expires") => HeaderName::SessionExpires,
            (16, b'c') if is(b"content-encoding") => HeaderName::ContentEncoding,
            (16, b'c') if is(b"content-language") => HeaderName::ContentLanguage,
            (16, b'w') if is(b"www-authenticate") => HeaderName::WwwAuthenticate,
            (18, b'p') if is(b"proxy-authenticate") => HeaderName::ProxyAuthenticate,
            (18, b's') if is(b"subscription-state") => HeaderName::SubscriptionState,
            (19, b'a') if is(b"authentication-info") => HeaderName::AuthenticationInfo,
            (19, b'c') if is(b"content-disposition") => HeaderName::ContentDisposition,
            (19, b'p') if is(b"proxy-authorization") => HeaderName::ProxyAuthorization,
            _ => return None,
        };
        Some(found)
    }
}

/// Whether `name` equals `lower` (lower-case letters and `-`) ignoring ASCII case. Bit 0x20
/// is forced on where `lower` has a letter (bit 0x40 marks letters, not `-`): that lower-cases
/// an upper-case letter and maps no other byte onto a lower-case letter; every other byte must
/// be equal. A word at a time: two overlapping words of 2, 4 or 8 bytes cover any length from
/// 2 to 16, and longer names take more 8-byte words (the last one overlapping).
#[inline]
fn eq_lower(name: &[u8], lower: &[u8]) -> bool {
    let n = name.len();
    if n != lower.len() {
        return false;
    }
    // The little-endian word of `N` bytes of `b` at `i` (0 if out of bounds: never here).
    fn word<const N: usize>(b: &[u8], i: usize) -> u64 {
        b.get(i..)
            .and_then(|r| r.first_chunk::<N>())
            .map_or(0, |w| {
                let mut x = [0u8; 8];
                x[..N].copy_from_slice(w);
                u64::from_le_bytes(x)
            })
    }
    fn same<const N: usize>(name: &[u8], lower: &[u8], i: usize) -> bool {
        let l = word::<N>(lower, i);
        word::<N>(name, i) | ((l & 0x4040_4040_4040_4040) >> 1) == l
    }
    match n {
        0 => true,
        1 => name[0] | ((lower[0] & 0x40) >> 1) == lower[0],
        2..=3 => same::<2>(name, lower, 0) && same::<2>(name, lower, n - 2),
        4..=7 => same::<4>(name, lower, 0) && same::<4>(name, lower, n - 4),
        _ => {
            let mut i = 0;
            while i + 8 < n {
                if !same::<8>(name, lower, i) {
                    return false;
                }
                i += 8;
            }
            same::<8>(name, lower, n - 8)
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The lookup by definition: a case-insensitive comparison with every name and compact form.
    fn reference(name: &[u8]) -> Option<HeaderName> {
        let name = std::str::from_utf8(name).ok()?;
        HeaderName::ALL.iter().copied().find(|h| {
            h.as_str().eq_ignore_ascii_case(name)
                || h.compact().is_some_and(|c| {
                    name.len() == 1 && name.eq_ignore_ascii_case(c.encode_utf8(&mut [0; 4]))
                })
        })
    }

    proptest! {
        /// `from_bytes` (length and first-letter switch, word comparisons) agrees with the
        /// definition on known names with bytes changed, case flipped or cut short.
        #[test]
        fn lookup_matches_the_definition(
            which in 0..HeaderName::ALL.len(),
            edits in proptest::collection::vec((any::<prop::sample::Index>(), prop::sample::select(
                &b"\r\x0d\x2d-_aAzZ@`{[\x00\x7f\xc3"[..])), 0..3),
            flips in proptest::collection::vec(any::<prop::sample::Index>(), 0..4),
            cut in 0usize..3,
        ) {
            let mut n = HeaderName::ALL[which].as_str().as_bytes().to_vec();
            for i in flips {
                let i = i.index(n.len());
                n[i] ^= 0x20;
            }
            let mut n = crate::test_util::mutated(&n, &edits);
            n.truncate(n.len().saturating_sub(cut).max(1));
            prop_assert_eq!(HeaderName::from_bytes(&n), reference(&n), "{:?}", n);
        }
    }

    /// The first-byte switch (`| 0x20`) maps only letters onto letters: every byte in the
    /// first place of every name and compact form, and every single byte, as the definition.
    #[test]
    fn every_first_byte_matches_the_definition() {
        for &h in HeaderName::ALL {
            let mut buf = [0u8; 4];
            let compact = h
                .compact()
                .map(|c| c.encode_utf8(&mut buf).as_bytes().to_vec());
            for name in [Some(h.as_str().as_bytes().to_vec()), compact]
                .into_iter()
                .flatten()
            {
                for b in 0..=u8::MAX {
                    let mut n = name.clone();
                    n[0] = b;
                    assert_eq!(HeaderName::from_bytes(&n), reference(&n), "{n:?}");
                }
            }
        }
    }

    #[test]
    fn every_name_and_compact_form_is_found_in_any_case() {
        for &h in HeaderName::ALL {
            let name = h.as_str();
            assert_eq!(HeaderName::from_bytes(name.as_bytes()), Some(h), "{name}");
            let upper = name.to_ascii_uppercase();
            assert_eq!(HeaderName::from_bytes(upper.as_bytes()), Some(h), "{upper}");
            let lower = name.to_ascii_lowercase();
            assert_eq!(HeaderName::from_bytes(lower.as_bytes()), Some(h), "{lower}");
            if let Some(c) = h.compact() {
                let mut b = [0u8; 4];
                let c = c.encode_utf8(&mut b);
                assert_eq!(HeaderName::from_bytes(c.as_bytes()), Some(h), "{c}");
                let upper = c.to_ascii_uppercase();
                assert_eq!(HeaderName::from_bytes(upper.as_bytes()), Some(h), "{upper}");
            }
        }
        for unknown in [
            "",
            "a",
            "x-foo",
            "vias",
            "fro",
            "call_id",
            "contact-",
            "to ",
            "call\rid",
            "CALL\rID",
            "max\rforwards",
            "t\u{f}",
            "vi\u{1}",
            "call-i\u{4}",
            "content-lengtH ",
            "content-length\u{0}",
            "ca@l-id",
        ] {
            assert_eq!(
                HeaderName::from_bytes(unknown.as_bytes()),
                None,
                "{unknown}"
            );
        }
    }
}
