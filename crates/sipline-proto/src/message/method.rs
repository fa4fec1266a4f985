//! Request methods (RFC 3261 §7.1, §25.1 `Method`) and the extensions sipline speaks.

use std::fmt;

use bytestring::ByteString;

/// A SIP request method. Method names are case-sensitive (RFC 3261 §7.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    /// INVITE (RFC 3261 §13)
    Invite,
    /// ACK (RFC 3261 §13.2.2.4, §17.1.1.3)
    Ack,
    /// BYE (RFC 3261 §15)
    Bye,
    /// CANCEL (RFC 3261 §9)
    Cancel,
    /// REGISTER (RFC 3261 §10)
    Register,
    /// OPTIONS (RFC 3261 §11)
    Options,
    /// INFO (RFC 6086)
    Info,
    /// PRACK (RFC 3262)
    Prack,
    /// UPDATE (RFC 3311)
    Update,
    /// SUBSCRIBE (RFC 6665)
    Subscribe,
    /// NOTIFY (RFC 6665)
    Notify,
    /// REFER (RFC 3515)
    Refer,
    /// MESSAGE (RFC 3428)
    Message,
    /// PUBLISH (RFC 3903)
    Publish,
    /// Any other method: an `extension-method` token, kept verbatim.
    Extension(ByteString),
}

impl Method {
    /// Parses a method token. `None` if `s` is not a token (RFC 3261 §25.1).
    pub fn parse(s: &str) -> Option<Method> {
        Self::from_known(s).or_else(|| {
            (!s.is_empty() && s.bytes().all(crate::parse::scan::is_token))
                .then(|| Method::Extension(ByteString::from(s)))
        })
    }

    /// Like [`Method::parse`], but an extension method shares the caller's buffer.
    pub(crate) fn parse_shared(buf: &ByteString, s: &str) -> Option<Method> {
        Self::from_known(s).or_else(|| {
            (!s.is_empty() && s.bytes().all(crate::parse::scan::is_token))
                .then(|| Method::Extension(buf.slice_ref(s)))
        })
    }

    fn from_known(s: &str) -> Option<Method> {
        Some(match s {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "REGISTER" => Method::Register,
            "OPTIONS" => Method::Options,
            "INFO" => Method::Info,
            "PRACK" => Method::Prack,
            "UPDATE" => Method::Update,
            "SUBSCRIBE" => Method::Subscribe,
            "NOTIFY" => Method::Notify,
            "REFER" => Method::Refer,
            "MESSAGE" => Method::Message,
            "PUBLISH" => Method::Publish,
            _ => return None,
        })
    }

    /// The method name as written on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Register => "REGISTER",
            Method::Options => "OPTIONS",
            Method::Info => "INFO",
            Method::Prack => "PRACK",
            Method::Update => "UPDATE",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Refer => "REFER",
            Method::Message => "MESSAGE",
            Method::Publish => "PUBLISH",
            Method::Extension(s) => s,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for Method {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}
