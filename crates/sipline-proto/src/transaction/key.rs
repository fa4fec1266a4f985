//! Matching messages to transactions (RFC 3261 §17.1.3, §17.2.3).

use bytestring::ByteString;

use crate::message::{Headers, Method, Request, Response, Via};

/// The identity of a transaction, as matching computes it from a message. It borrows the
/// message's text: building one for a lookup allocates nothing (an RFC 2543 key excepted).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum TxKey<'a> {
    /// §17.1.3: a response matches the client transaction whose request had the same top Via
    /// branch, with the same CSeq method (so a CANCEL's responses do not hit its INVITE).
    Client { branch: &'a str, method: KeyMethod },
    /// §17.2.3 with the magic cookie: branch, sent-by and method, an ACK counting as INVITE.
    Server {
        branch: &'a str,
        host: &'a str,
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

/// A transaction's key as the endpoint keeps it: its own copy of the strings, inline when
/// short (see [`KeyText`]), else in one allocation. A key sharing the message's buffer would keep the whole datagram (and the
/// request we serialised) alive until the transaction ends: up to 32 s in Completed, where
/// only the key and the response are needed (§17.2.2). The index hashes [`TxKey`]s only (a
/// stored key's hash is kept beside it), so this form needs no `Hash`.
#[derive(Debug)]
pub(crate) enum StoredKey {
    /// See [`TxKey::Client`].
    Client { branch: KeyText, method: KeyMethod },
    /// See [`TxKey::Server`]; `text` is the branch followed by the host.
    Server {
        text: KeyText,
        /// `u32` (messages are far smaller): with `port` it fills one word.
        branch_len: u32,
        port: Option<u16>,
        method: KeyMethod,
    },
    /// See [`TxKey::Legacy`].
    Legacy(Box<LegacyKey>),
}

impl StoredKey {
    /// The stored form of `key`.
    pub(crate) fn of(key: TxKey<'_>) -> StoredKey {
        let own = |b: ByteString| ByteString::from(&*b);
        match key {
            TxKey::Client { branch, method } => StoredKey::Client {
                branch: KeyText::new(branch, ""),
                method,
            },
            TxKey::Server {
                branch,
                host,
                port,
                method,
            } => StoredKey::Server {
                text: KeyText::new(branch, host),
                branch_len: u32::try_from(branch.len()).unwrap_or(u32::MAX),
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
                StoredKey::Legacy(Box::new(LegacyKey {
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

    /// Whether `key` is this key (the equality of [`TxKey`], across the two forms).
    pub(crate) fn matches(&self, key: &TxKey<'_>) -> bool {
        match (self, key) {
            (
                StoredKey::Client { branch, method },
                TxKey::Client {
                    branch: b,
                    method: m,
                },
            ) => branch.as_bytes() == b.as_bytes() && method == m,
            (
                StoredKey::Server {
                    text,
                    branch_len,
                    port,
                    method,
                },
                TxKey::Server {
                    branch: b,
                    host: h,
                    port: p,
                    method: m,
                },
            ) => {
                let text = text.as_bytes();
                port == p
                    && text.len() == b.len() + h.len()
                    && text.get(..*branch_len as usize) == Some(b.as_bytes())
                    && text.get(*branch_len as usize..) == Some(h.as_bytes())
                    && method == m
            }
            (StoredKey::Legacy(k), TxKey::Legacy(l)) => k == l,
            _ => false,
        }
    }
}

/// How many bytes of key text are stored inline: a key of this endpoint's own branches
/// (`z9hG4bK` + 16 hex digits) with an IPv4 host fits, and then the slot holds the key with
/// no allocation of its own (one malloc and one free less per transaction; the 40 bytes of
/// a [`KeyText`] are 24 more than a boxed string, whose heap chunk is at least 32).
const INLINE_KEY: usize = 38;

/// The text of a stored key: one or two strings concatenated, inline when they fit in
/// [`INLINE_KEY`] bytes, else boxed. Only ever compared as bytes.
#[derive(Debug)]
pub(crate) enum KeyText {
    Inline { len: u8, bytes: [u8; INLINE_KEY] },
    Heap(Box<[u8]>),
}

impl KeyText {
    /// `a` followed by `b`.
    fn new(a: &str, b: &str) -> KeyText {
        let len = a.len() + b.len();
        if len <= INLINE_KEY
            && let Ok(short) = u8::try_from(len)
        {
            let mut bytes = [0u8; INLINE_KEY];
            bytes[..a.len()].copy_from_slice(a.as_bytes());
            bytes[a.len()..len].copy_from_slice(b.as_bytes());
            return KeyText::Inline { len: short, bytes };
        }
        let mut v = Vec::with_capacity(len);
        v.extend_from_slice(a.as_bytes());
        v.extend_from_slice(b.as_bytes());
        KeyText::Heap(v.into_boxed_slice())
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            KeyText::Inline { len, bytes } => bytes.get(..usize::from(*len)).unwrap_or(bytes),
            KeyText::Heap(b) => b,
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
pub(crate) fn client_key_of_response(r: &Response) -> Option<TxKey<'_>> {
    let via = r.headers.top_via().ok()?;
    let branch = via.branch()?;
    let method = r.headers.cseq().ok()?.method;
    Some(TxKey::Client {
        branch,
        method: method.into(),
    })
}

/// The key of the client transaction for a request this endpoint sends, given its parsed
/// top Via.
pub(crate) fn client_key_of_request<'a>(r: &Request, via: &Via<'a>) -> Option<TxKey<'a>> {
    Some(TxKey::Client {
        branch: via.branch()?,
        method: r.method.clone().into(),
    })
}

/// The key of the server transaction a request belongs to, given its parsed top Via;
/// `as_method` overrides the method (to find the INVITE a CANCEL cancels, §9.2).
pub(crate) fn server_key<'a>(
    r: &Request,
    via: &Via<'a>,
    as_method: Option<Method>,
) -> Option<TxKey<'a>> {
    let h: &Headers = &r.headers;
    let method = as_method.unwrap_or_else(|| method_for_server(&r.method));
    match via.branch() {
        Some(b) if via.has_magic_cookie() => Some(TxKey::Server {
            branch: b,
            host: via.host,
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn server<'a>(branch: &'a str, host: &'a str, port: Option<u16>, m: Method) -> TxKey<'a> {
        TxKey::Server {
            branch,
            host,
            port,
            method: m.into(),
        }
    }

    fn key<'a>(client: bool, branch: &'a str, host: &'a str) -> TxKey<'a> {
        if client {
            TxKey::Client {
                branch,
                method: Method::Options.into(),
            }
        } else {
            server(branch, host, Some(5060), Method::Options)
        }
    }

    #[test]
    fn stored_keys_match_as_the_keys_compare() {
        let keys = [
            server("z9hG4bKab", "c", None, Method::Options),
            server("z9hG4bKa", "bc", None, Method::Options),
            server("z9hG4bKab", "c", Some(5060), Method::Options),
            server("z9hG4bKab", "c", None, Method::Invite),
            server("z9hG4bKab", "c", None, Method::Extension("FOO".into())),
            TxKey::Client {
                branch: "z9hG4bKab",
                method: Method::Options.into(),
            },
            TxKey::Client {
                branch: "z9hG4bKab",
                method: Method::Cancel.into(),
            },
        ];
        for a in &keys {
            let stored = StoredKey::of(a.clone());
            for b in &keys {
                assert_eq!(stored.matches(b), a == b, "{a:?} / {b:?}");
            }
        }
    }

    proptest! {
        #[test]
        fn stored_server_keys_match_as_the_keys_compare(
            b1 in "[a-c]{0,3}", h1 in "[a-c]{0,3}", b2 in "[a-c]{0,3}", h2 in "[a-c]{0,3}",
            p1 in proptest::option::of(0u16..2), p2 in proptest::option::of(0u16..2),
        ) {
            let a = server(&b1, &h1, p1, Method::Options);
            let b = server(&b2, &h2, p2, Method::Options);
            prop_assert_eq!(StoredKey::of(a.clone()).matches(&b), a == b);
        }

        /// Keys on both sides of the inline capacity (and one byte changed) match exactly
        /// as the borrowed keys compare, server and client forms.
        #[test]
        fn stored_keys_inline_or_boxed_match_as_the_keys_compare(
            b1 in "z9hG4bK[a-f0-9]{0,40}", h1 in "[a-z0-9.]{0,20}",
            flip in 0usize..64, client in any::<bool>(),
        ) {
            let mut b2 = b1.clone().into_bytes();
            let mut h2 = h1.clone().into_bytes();
            if flip < b2.len() {
                b2[flip] ^= 1;
            } else if flip - b2.len() < h2.len() {
                let i = flip - b2.len();
                h2[i] ^= 1;
            }
            let b2 = String::from_utf8(b2).unwrap_or_default();
            let h2 = String::from_utf8(h2).unwrap_or_default();
            let a = key(client, &b1, &h1);
            for b in [key(client, &b1, &h1), key(client, &b2, &h2), key(client, &b1, &h2),
                key(client, &b2, &h1)] {
                prop_assert_eq!(StoredKey::of(a.clone()).matches(&b), a == b);
            }
        }
    }
}
