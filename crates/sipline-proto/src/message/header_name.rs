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
    pub fn from_bytes(name: &[u8]) -> Option<HeaderName> {
        // Lower-case into a stack buffer once; the match compiles to a length switch and a
        // few comparisons. No known name is longer than 32 bytes.
        let mut buf = [0u8; 32];
        let lower = buf.get_mut(..name.len())?;
        for (d, s) in lower.iter_mut().zip(name) {
            *d = s.to_ascii_lowercase();
        }
        Some(match &*lower {
            b"u" | b"allow-events" => HeaderName::AllowEvents,
            b"i" | b"call-id" => HeaderName::CallId,
            b"m" | b"contact" => HeaderName::Contact,
            b"e" | b"content-encoding" => HeaderName::ContentEncoding,
            b"l" | b"content-length" => HeaderName::ContentLength,
            b"c" | b"content-type" => HeaderName::ContentType,
            b"o" | b"event" => HeaderName::Event,
            b"f" | b"from" => HeaderName::From,
            b"b" | b"referred-by" => HeaderName::ReferredBy,
            b"r" | b"refer-to" => HeaderName::ReferTo,
            b"x" | b"session-expires" => HeaderName::SessionExpires,
            b"s" | b"subject" => HeaderName::Subject,
            b"k" | b"supported" => HeaderName::Supported,
            b"t" | b"to" => HeaderName::To,
            b"v" | b"via" => HeaderName::Via,
            b"cseq" => HeaderName::CSeq,
            b"date" => HeaderName::Date,
            b"path" => HeaderName::Path,
            b"rack" => HeaderName::RAck,
            b"rseq" => HeaderName::RSeq,
            b"allow" => HeaderName::Allow,
            b"route" => HeaderName::Route,
            b"accept" => HeaderName::Accept,
            b"min-se" => HeaderName::MinSe,
            b"reason" => HeaderName::Reason,
            b"server" => HeaderName::Server,
            b"expires" => HeaderName::Expires,
            b"require" => HeaderName::Require,
            b"warning" => HeaderName::Warning,
            b"priority" => HeaderName::Priority,
            b"replaces" => HeaderName::Replaces,
            b"reply-to" => HeaderName::ReplyTo,
            b"call-info" => HeaderName::CallInfo,
            b"timestamp" => HeaderName::Timestamp,
            b"alert-info" => HeaderName::AlertInfo,
            b"error-info" => HeaderName::ErrorInfo,
            b"user-agent" => HeaderName::UserAgent,
            b"in-reply-to" => HeaderName::InReplyTo,
            b"min-expires" => HeaderName::MinExpires,
            b"retry-after" => HeaderName::RetryAfter,
            b"unsupported" => HeaderName::Unsupported,
            b"max-forwards" => HeaderName::MaxForwards,
            b"mime-version" => HeaderName::MimeVersion,
            b"organization" => HeaderName::Organization,
            b"record-route" => HeaderName::RecordRoute,
            b"authorization" => HeaderName::Authorization,
            b"proxy-require" => HeaderName::ProxyRequire,
            b"service-route" => HeaderName::ServiceRoute,
            b"accept-encoding" => HeaderName::AcceptEncoding,
            b"accept-language" => HeaderName::AcceptLanguage,
            b"content-language" => HeaderName::ContentLanguage,
            b"www-authenticate" => HeaderName::WwwAuthenticate,
            b"proxy-authenticate" => HeaderName::ProxyAuthenticate,
            b"subscription-state" => HeaderName::SubscriptionState,
            b"authentication-info" => HeaderName::AuthenticationInfo,
            b"content-disposition" => HeaderName::ContentDisposition,
            b"proxy-authorization" => HeaderName::ProxyAuthorization,
            _ => return None,
        })
    }
}
