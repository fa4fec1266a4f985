//! Matching messages to transactions (RFC 3261 §17.1.3, §17.2.3).

use bytestring::ByteString;

use crate::message::{Headers, Method, Request, Response, Via};

/// The identity of a transaction, as matching computes it from a message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum TxKey {
    /// §17.1.3: a response matches the client transaction whose request had the same top Via
    /// branch, with the same CSeq method (so a CANCEL's responses do not hit its INVITE).
    Client {
        branch: ByteString,
        method: KeyMethod,
    },
    /// §17.2.3 with the magic cookie: branch, sent-by and method, an ACK counting as INVITE.
    Server {
        branch: ByteString,
        host: ByteString,
        port: Option<u16>,
        method: KeyMethod,
    },
    /// §17.2.3 for RFC 2543 requests (no magic cookie); boxed, as it is rare and large.
    Legacy(Box<LegacyKey>),
}

/// §17.2.3 for RFC 2543 requests: Request-URI, From tag, Call-ID, CSeq number, method (ACK
/// counting as INVITE) and the whole top Via.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct LegacyKey {
    ruri: ByteString,
    from_tag: ByteString,
    call_id: ByteString,
    cseq: u32,
    method: Method,
    via: ByteString,
}

/// A method as part of a key: 16 B where a [`Method`] is 40 (a key lives as long as its
/// transaction, 32 s after an INVITE is answered).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum KeyMethod {
    Known(std::mem::Discriminant<Method>),
    Extension(Box<Method>),
}

impl From<Method> for KeyMethod {
    fn from(m: Method) -> Self {
        match m {
            Method::Extension(_) => KeyMethod::Extension(Box::new(m)),
            known => KeyMethod::Known(std::mem::discriminant(&known)),
        }
    }
}

impl TxKey {
    /// The key with its own copies of the strings. Matching builds keys that share the
    /// message's buffer (no allocation per lookup); a transaction's stored key must not, or
    /// it keeps the whole datagram (and the request we serialised) alive until the
    /// transaction ends: up to 32 s in Completed, where only the key and the response are
    /// needed (§17.2.2).
    ///
    /// A server INVITE transaction keeps sharing: its INVITE stays in memory anyway for as
    /// long as the call it starts (the dialog and `Session::request()` hold it), so copies
    /// would only add two allocations per call.
    pub(crate) fn detached(self) -> TxKey {
        let own = |b: ByteString| ByteString::from(&*b);
        match self {
            TxKey::Server { ref method, .. } if *method == KeyMethod::from(Method::Invite) => self,
            TxKey::Client { branch, method } => TxKey::Client {
                branch: own(branch),
                method,
            },
            TxKey::Server {
                branch,
                host,
                port,
                method,
            } => TxKey::Server {
                branch: own(branch),
                host: own(host),
                port,
                method,
            },
            TxKey::Legacy(k) => {
                let LegacyKey {
                    ruri,
                    from_tag,
                    call_id,
                    cseq,
                    method,
                    via,
                } = *k;
                TxKey::Legacy(Box::new(LegacyKey {
                    ruri: own(ruri),
                    from_tag: own(from_tag),
                    call_id: own(call_id),
                    cseq,
                    method,
                    via: own(via),
                }))
            }
        }
    }
}

fn method_for_server(m: &Method) -> Method {
    if *m == Method::Ack {
        Method::Invite
    } else {
        m.clone()
    }
}

/// The key of the client transaction a response belongs to.
pub(crate) fn client_key_of_response(r: &Response) -> Option<TxKey> {
    let via = r.headers.top_via().ok()?;
    let branch = r.headers.share(via.branch()?);
    let method = r.headers.cseq().ok()?.method;
    Some(TxKey::Client {
        branch,
        method: method.into(),
    })
}

/// The key of the client transaction for a request this endpoint sends, given its parsed
/// top Via.
pub(crate) fn client_key_of_request(r: &Request, via: &Via<'_>) -> Option<TxKey> {
    Some(TxKey::Client {
        branch: r.headers.share(via.branch()?),
        method: r.method.clone().into(),
    })
}

/// The key of the server transaction a request belongs to, given its parsed top Via;
/// `as_method` overrides the method (to find the INVITE a CANCEL cancels, §9.2).
pub(crate) fn server_key(r: &Request, via: &Via<'_>, as_method: Option<Method>) -> Option<TxKey> {
    let h: &Headers = &r.headers;
    let method = as_method.unwrap_or_else(|| method_for_server(&r.method));
    match via.branch() {
        Some(b) if via.has_magic_cookie() => Some(TxKey::Server {
            branch: h.share(b),
            host: h.share(via.host),
            port: via.port,
            method: method.into(),
        }),
        _ => {
            let from = h.from().ok()?;
            let raw_via = crate::message::headers::first_list_item(h.get(crate::HeaderName::Via)?);
            Some(TxKey::Legacy(Box::new(LegacyKey {
                ruri: ByteString::from(r.uri.as_str()),
                from_tag: h.share(from.tag().unwrap_or("")),
                call_id: h.share(h.call_id().ok()?),
                cseq: h.cseq().ok()?.seq,
                method,
                via: h.share(raw_via),
            })))
        }
    }
}
