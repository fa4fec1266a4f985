//! Property tests of the sipline-proto message layer (RFC 3261 §7, §18.3, §20, §25).
//!
//! * `wire_text_roundtrips`, `built_messages_roundtrip`: generated requests and responses, written
//!   as text by a generator or built with [`Request::builder`] / [`Response::from_request`],
//!   parse, validate, survive write → parse unchanged, and the typed accessors give back the
//!   generated values.
//! * `random_bytes_never_panic`, `mutated_messages_never_panic`: whatever the input, the parser,
//!   the typed views, the writer and the framer return instead of panicking; what parses once
//!   parses again, equal, after being written.
//! * `framer_ignores_read_boundaries`: [`StreamFramer`] cuts the same messages out of a stream
//!   whatever the read boundaries, with CRLF keep-alives (RFC 5626 §3.5.1) between messages.
//! * `limits_are_enforced`: [`Limits`] fail with the documented [`ParseErrorKind`]s, exactly
//!   past each bound.
//!
//! Bugs these properties found are pinned by the `regression_*` tests at the end, each with its
//! minimal input.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::RangeInclusive;

use bytes::Bytes;
use bytestring::ByteString;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::TestCaseError;
use sipline_proto::message::typed::{
    Auth, CSeq, ContactValue, MediaType, NameAddr, Parameterized, RAck, Via,
};
use sipline_proto::message::uri::unescape;
use sipline_proto::message::{Scheme, UriRef};
use sipline_proto::parse::{Framed, unquote};
use sipline_proto::{
    HeaderName, Headers, Limits, Message, Method, ParseErrorKind, Request, Response, StatusCode,
    StreamFramer, Uri, parse_message,
};

type TestResult = Result<(), TestCaseError>;

/// `cases` per property, unless `PROPTEST_CASES` asks for another number (deeper local runs).
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(cases),
        // Failures are reported with their minimal input; no regression files in the tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn parse(b: impl Into<Bytes>) -> Result<Message, sipline_proto::ParseError> {
    parse_message(b.into(), &Limits::default())
}

// ------------------------------------------------------------------------------------------
// Alphabets (RFC 3261 §25.1)
// ------------------------------------------------------------------------------------------

macro_rules! alnum {
    () => {
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    };
}
macro_rules! unreserved {
    () => {
        concat!(alnum!(), "-_.!~*'()")
    };
}

const ALNUM: &str = alnum!();
const ALPHA: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const LOWER: &str = "abcdefghijklmnopqrstuvwxyz0123456789";
const DIGITS: &str = "0123456789";
/// `token`.
const TOKEN: &str = concat!(alnum!(), "-.!%*_+`'~");
/// `word` (Call-ID).
const WORD: &str = concat!(alnum!(), "-.!%*_+`'~()<>:\\\"/[]?{}");
/// `user`: unreserved / user-unreserved.
const USER: &str = concat!(unreserved!(), "&=+$,;?/");
/// `user` for an addr-spec outside `<>`, which may not hold `,` `;` `?` (RFC 3261 §20.10).
const USER_PLAIN: &str = concat!(unreserved!(), "&=+$/");
const PASSWORD: &str = concat!(unreserved!(), "&=+$,");
const PASSWORD_PLAIN: &str = concat!(unreserved!(), "&=+$");
/// `paramchar` (less escapes).
const PARAMCHAR: &str = concat!(unreserved!(), "[]/:&+$");
/// `hname` / `hvalue` characters (less escapes).
const HNV: &str = concat!(unreserved!(), "[]/?:+$");
/// Unescaped characters of an absolute URI of another scheme (RFC 3986), `%` apart.
const URIC: &str = concat!(alnum!(), "!#$&'()*+,./:;=?@[]_~-");
const URIC_PLAIN: &str = concat!(alnum!(), "!#$&'()*+./:=@[]_~-");

const KNOWN_METHODS: &[&str] = &[
    "INVITE",
    "ACK",
    "BYE",
    "CANCEL",
    "REGISTER",
    "OPTIONS",
    "INFO",
    "PRACK",
    "UPDATE",
    "SUBSCRIBE",
    "NOTIFY",
    "REFER",
    "MESSAGE",
    "PUBLISH",
];

fn text_of(alphabet: &'static str, len: RangeInclusive<usize>) -> impl Strategy<Value = String> {
    vec(select(alphabet.chars().collect::<Vec<_>>()), len).prop_map(|v| v.into_iter().collect())
}

/// Characters of `alphabet` mixed with `%HH` escapes.
fn escaped(alphabet: &'static str, len: RangeInclusive<usize>) -> impl Strategy<Value = String> {
    vec(
        prop_oneof![
            8 => select(alphabet.chars().collect::<Vec<_>>()).prop_map(String::from),
            1 => (any::<u8>(), any::<bool>()).prop_map(|(b, upper)| if upper {
                format!("%{b:02X}")
            } else {
                format!("%{b:02x}")
            }),
        ],
        len,
    )
    .prop_map(|v| v.concat())
}

fn token() -> impl Strategy<Value = String> {
    text_of(TOKEN, 1..=10)
}

fn method_token() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => select(KNOWN_METHODS).prop_map(str::to_owned),
        1 => token(),
    ]
}

/// Printable text, ASCII or any Unicode, trimmed as the parser stores header values.
fn free_text() -> BoxedStrategy<String> {
    prop_oneof!["[ -~\t]{0,30}", "\\PC{0,12}",]
        .prop_map(|s| s.trim_matches([' ', '\t']).to_owned())
        .boxed()
}

fn display_text() -> impl Strategy<Value = String> {
    prop_oneof!["[ -~]{0,12}", "\\PC{0,8}"]
}

fn list_sep() -> impl Strategy<Value = &'static str> {
    select(vec![",", ", ", ", ", " , ", " ,", ",\t"])
}

/// A quoted-string holding `text`: `"` and `\` escaped, other ASCII escaped where `mask` says.
fn quote(text: &str, mask: u64) -> String {
    let mut out = String::from("\"");
    for (i, c) in text.chars().enumerate() {
        if c == '"' || c == '\\' || (c.is_ascii() && (mask >> (i % 64)) & 1 == 1) {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

// ------------------------------------------------------------------------------------------
// Hosts and URIs
// ------------------------------------------------------------------------------------------

fn hostname() -> BoxedStrategy<String> {
    (
        vec(
            (
                text_of(ALNUM, 1..=1),
                text_of(concat!(alnum!(), "-"), 0..=6),
                text_of(ALNUM, 0..=1),
            )
                .prop_map(|(a, b, c)| format!("{a}{b}{c}")),
            1..=3,
        ),
        prop::bool::weighted(0.1),
    )
        .prop_map(|(labels, dot)| {
            let mut h = labels.join(".");
            if dot {
                h.push('.');
            }
            h
        })
        .boxed()
}

fn ipv4() -> impl Strategy<Value = String> {
    any::<[u8; 4]>().prop_map(|a| Ipv4Addr::from(a).to_string())
}

/// An IPv6 address without brackets, often with runs of zeros (`::`).
fn ipv6() -> BoxedStrategy<String> {
    (
        prop::array::uniform8(prop_oneof![2 => Just(0u16), 1 => Just(1u16), 2 => any::<u16>()]),
        any::<bool>(),
    )
        .prop_map(|(s, upper)| {
            let t = Ipv6Addr::from(s).to_string();
            if upper { t.to_uppercase() } else { t }
        })
        .boxed()
}

/// `host`: hostname, IPv4address or IPv6reference.
fn host() -> BoxedStrategy<String> {
    prop_oneof![
        3 => hostname(),
        1 => ipv4(),
        1 => ipv6().prop_map(|a| format!("[{a}]")),
    ]
    .boxed()
}

#[derive(Debug, Clone)]
struct GenUri {
    text: String,
    scheme: Scheme,
    user: Option<String>,
    password: Option<String>,
    host: String,
    port: Option<u16>,
    /// The `?headers` part of a sip/sips URI (not allowed in a Request-URI).
    headers: Option<String>,
}

impl GenUri {
    fn without_headers(u: &GenUri) -> bool {
        u.headers.is_none()
    }
}

fn uri_param() -> BoxedStrategy<String> {
    prop_oneof![
        Just(";lr".to_owned()),
        select(vec!["udp", "tcp", "TLS", "sctp", "ws", "wss"])
            .prop_map(|t| format!(";transport={t}")),
        Just(";user=phone".to_owned()),
        host().prop_map(|h| format!(";maddr={h}")),
        any::<u8>().prop_map(|t| format!(";ttl={t}")),
        (
            escaped(PARAMCHAR, 1..=6),
            option::of(escaped(PARAMCHAR, 1..=6))
        )
            .prop_map(|(n, v)| {
                match v {
                    Some(v) => format!(";{n}={v}"),
                    None => format!(";{n}"),
                }
            }),
    ]
    .boxed()
}

fn uri_headers() -> BoxedStrategy<String> {
    vec((escaped(HNV, 1..=5), escaped(HNV, 0..=6)), 1..=3)
        .prop_map(|hs| {
            let v: Vec<_> = hs.iter().map(|(n, v)| format!("{n}={v}")).collect();
            format!("?{}", v.join("&"))
        })
        .boxed()
}

/// A sip or sips URI; `rich` allows what only fits inside `<>` (params, headers, `,;?` in user).
fn sip_uri(rich: bool) -> BoxedStrategy<GenUri> {
    let (ua, pa) = if rich {
        (USER, PASSWORD)
    } else {
        (USER_PLAIN, PASSWORD_PLAIN)
    };
    (
        select(vec!["sip", "SIP", "Sip", "sips", "SIPS"]),
        option::weighted(
            0.7,
            (
                escaped(ua, 1..=8),
                option::weighted(0.15, escaped(pa, 0..=5)),
            ),
        ),
        host(),
        option::of(any::<u16>()),
        vec(uri_param(), 0..=if rich { 3 } else { 0 }),
        if rich {
            option::weighted(0.15, uri_headers()).boxed()
        } else {
            Just(None).boxed()
        },
    )
        .prop_map(|(scheme, userinfo, host, port, params, headers)| {
            let mut text = format!("{scheme}:");
            let (user, password) = match userinfo {
                Some((u, p)) => {
                    text.push_str(&u);
                    if let Some(p) = &p {
                        text.push(':');
                        text.push_str(p);
                    }
                    text.push('@');
                    (Some(u), p)
                }
                None => (None, None),
            };
            text.push_str(&host);
            if let Some(p) = port {
                write!(text, ":{p}").unwrap();
            }
            text.push_str(&params.concat());
            if let Some(h) = &headers {
                text.push_str(h);
            }
            let scheme = if scheme.eq_ignore_ascii_case("sips") {
                Scheme::Sips
            } else {
                Scheme::Sip
            };
            GenUri {
                text,
                scheme,
                user,
                password,
                host,
                port,
                headers,
            }
        })
        .boxed()
}

/// A tel URI (RFC 3966): global or local number, parameters if `rich`.
fn tel_uri(rich: bool) -> BoxedStrategy<GenUri> {
    (
        select(vec!["tel", "TEL"]),
        prop_oneof![
            (text_of("0123456789-.()", 0..=10), text_of(DIGITS, 1..=1))
                .prop_map(|(a, b)| format!("+{a}{b}")),
            text_of("0123456789ABCDEFabcdef*#-.", 1..=8),
        ],
        vec(
            prop_oneof![
                hostname().prop_map(|h| format!(";phone-context={h}")),
                text_of(DIGITS, 1..=5).prop_map(|e| format!(";ext={e}")),
                escaped(PARAMCHAR, 1..=6).prop_map(|v| format!(";isub={v}")),
            ],
            0..=if rich { 2 } else { 0 },
        ),
    )
        .prop_map(|(scheme, number, params)| GenUri {
            text: format!("{scheme}:{number}{}", params.concat()),
            scheme: Scheme::Tel,
            user: Some(number),
            password: None,
            host: String::new(),
            port: None,
            headers: None,
        })
        .boxed()
}

/// Any other scheme (`urn:service:sos`, `mailto:`, ...), kept as an absolute URI.
fn other_uri(rich: bool) -> BoxedStrategy<GenUri> {
    let body = if rich { URIC } else { URIC_PLAIN };
    (
        (
            text_of(ALPHA, 1..=1),
            text_of(concat!(alnum!(), "+-."), 0..=5),
        )
            .prop_map(|(a, b)| a + &b)
            .prop_filter("sip, sips and tel are not other schemes", |s| {
                !["sip", "sips", "tel"]
                    .iter()
                    .any(|k| s.eq_ignore_ascii_case(k))
            }),
        prop_oneof![
            1 => Just("service:sos".to_owned()),
            3 => escaped(body, 1..=16),
        ],
    )
        .prop_map(|(scheme, opaque)| GenUri {
            text: format!("{scheme}:{opaque}"),
            scheme: Scheme::Other,
            user: None,
            password: None,
            host: String::new(),
            port: None,
            headers: None,
        })
        .boxed()
}

fn uri(rich: bool) -> BoxedStrategy<GenUri> {
    prop_oneof![
        6 => sip_uri(rich),
        1 => tel_uri(rich),
        1 => other_uri(rich),
    ]
    .boxed()
}

// ------------------------------------------------------------------------------------------
// Header values
// ------------------------------------------------------------------------------------------

/// A name-addr or addr-spec (no header parameters yet).
#[derive(Debug, Clone)]
struct GenAddr {
    text: String,
    /// The display name as `NameAddr::display_name` must return it.
    display: Option<String>,
    uri: GenUri,
}

fn addr(allow_spec: bool) -> BoxedStrategy<GenAddr> {
    let angle = prop_oneof![
        3 => uri(true).prop_map(|u| GenAddr {
            text: format!("<{}>", u.text),
            display: None,
            uri: u,
        }),
        2 => (vec(token(), 1..=3), select(vec![" ", "  ", "\t", ""]), uri(true)).prop_map(
            |(words, sp, u)| {
                let d = words.join(" ");
                GenAddr {
                    text: format!("{d}{sp}<{}>", u.text),
                    display: Some(d),
                    uri: u,
                }
            }
        ),
        2 => (display_text(), any::<u64>(), select(vec![" ", ""]), uri(true)).prop_map(
            |(d, mask, sp, u)| GenAddr {
                text: format!("{}{sp}<{}>", quote(&d, mask), u.text),
                display: Some(d),
                uri: u,
            }
        ),
    ];
    if allow_spec {
        prop_oneof![
            5 => angle,
            1 => uri(false).prop_map(|u| GenAddr {
                text: u.text.clone(),
                display: None,
                uri: u,
            }),
        ]
        .boxed()
    } else {
        angle.boxed()
    }
}

/// `gen-value = token / host / quoted-string`.
fn gen_value() -> BoxedStrategy<String> {
    prop_oneof![
        3 => token(),
        1 => host(),
        1 => (display_text(), any::<u64>()).prop_map(|(t, m)| quote(&t, m)),
    ]
    .boxed()
}

/// An extension generic-param (`;x-name[=value]`), never clashing with a meaningful one.
fn ext_param() -> BoxedStrategy<String> {
    (text_of(LOWER, 1..=6), option::of(gen_value()))
        .prop_map(|(n, v)| match v {
            Some(v) => format!(";x-{n}={v}"),
            None => format!(";x-{n}"),
        })
        .boxed()
}

fn tag() -> impl Strategy<Value = String> {
    text_of(TOKEN, 1..=12)
}

/// `callid = word [ "@" word ]`.
fn call_id() -> BoxedStrategy<String> {
    (text_of(WORD, 1..=16), option::of(text_of(WORD, 1..=12)))
        .prop_map(|(a, b)| match b {
            Some(b) => format!("{a}@{b}"),
            None => a,
        })
        .boxed()
}

/// One via-parm and its branch.
#[derive(Debug, Clone)]
struct GenVia {
    text: String,
    branch: String,
}

fn via_param() -> BoxedStrategy<String> {
    prop_oneof![
        prop_oneof![ipv4(), ipv6(), hostname()].prop_map(|h| format!(";received={h}")),
        Just(";rport".to_owned()),
        any::<u16>().prop_map(|p| format!(";rport={p}")),
        any::<u8>().prop_map(|t| format!(";ttl={t}")),
        prop_oneof![host(), ipv6()].prop_map(|h| format!(";maddr={h}")),
        ext_param(),
    ]
    .boxed()
}

fn via_value() -> BoxedStrategy<GenVia> {
    (
        select(vec!["SIP/2.0/", "SIP / 2.0 / ", "sip/2.0/"]),
        prop_oneof![
            select(vec!["UDP", "TCP", "TLS", "SCTP", "WS", "WSS", "udp"]).prop_map(str::to_owned),
            text_of(TOKEN, 1..=5),
        ],
        select(vec![" ", "  ", "\t"]),
        prop_oneof![
            3 => hostname(),
            1 => ipv4(),
            1 => ipv6().prop_map(|a| format!("[{a}]")),
        ],
        option::of(any::<u16>()),
        (select(vec!["z9hG4bK", "z9hG4bK", ""]), token()),
        vec(via_param(), 0..=3),
        any::<Index>(),
        select(vec![";", ";", " ;", "; ", " ; "]),
    )
        .prop_map(
            |(proto, transport, ws, host, port, (cookie, b), mut params, at, sep)| {
                let branch = format!("{cookie}{b}");
                params.insert(at.index(params.len() + 1), format!(";branch={branch}"));
                let mut text = format!("{proto}{transport}{ws}{host}");
                if let Some(p) = port {
                    write!(text, ":{p}").unwrap();
                }
                for p in &params {
                    text.push_str(sep);
                    text.push_str(&p[1..]);
                }
                GenVia { text, branch }
            },
        )
        .boxed()
}

/// From: an address with a tag among other parameters. Gives (value, tag, addr).
fn from_value() -> BoxedStrategy<(String, String, GenAddr)> {
    (addr(true), tag(), vec(ext_param(), 0..=2), any::<Index>())
        .prop_map(|(a, t, mut params, at)| {
            params.insert(at.index(params.len() + 1), format!(";tag={t}"));
            (format!("{}{}", a.text, params.concat()), t, a)
        })
        .boxed()
}

/// To: an address, maybe with a tag. Gives (value, tag).
fn to_value() -> BoxedStrategy<(String, Option<String>)> {
    (addr(true), option::of(tag()), vec(ext_param(), 0..=1))
        .prop_map(|(a, t, params)| {
            let mut v = a.text;
            v.push_str(&params.concat());
            if let Some(t) = &t {
                write!(v, ";tag={t}").unwrap();
            }
            (v, t)
        })
        .boxed()
}

fn contact_param() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u32>().prop_map(|e| format!(";expires={e}")),
        (0u16..=1000).prop_map(|q| format!(";q={}.{:03}", q / 1000, q % 1000)),
        ext_param(),
    ]
}

/// A Contact value: `*` or a list of addresses. Gives (value, number of contacts).
fn contact_value() -> BoxedStrategy<(String, usize)> {
    prop_oneof![
        1 => Just(("*".to_owned(), 1)),
        5 => (vec((addr(true), vec(contact_param(), 0..=2)), 1..=3), list_sep()).prop_map(
            |(cs, sep)| {
                let items: Vec<_> = cs
                    .iter()
                    .map(|(a, ps)| format!("{}{}", a.text, ps.concat()))
                    .collect();
                (items.join(sep), items.len())
            }
        ),
    ]
    .boxed()
}

/// Route-like lists: name-addrs in `<>` (with `;lr` often in the URI).
fn route_list() -> BoxedStrategy<String> {
    (
        vec(
            (addr(false), prop::bool::ANY, vec(ext_param(), 0..=1)),
            1..=3,
        ),
        list_sep(),
    )
        .prop_map(|(rs, sep)| {
            rs.iter()
                .map(|(a, lr, ps)| {
                    let mut t = a.text.clone();
                    // `;lr` goes last in the URI, so not after a `?headers` part.
                    if *lr && t.ends_with('>') && !a.uri.text.contains('?') {
                        t.insert_str(t.len() - 1, ";lr");
                    }
                    t + &ps.concat()
                })
                .collect::<Vec<_>>()
                .join(sep)
        })
        .boxed()
}

fn token_list() -> BoxedStrategy<String> {
    (vec(token(), 0..=4), list_sep())
        .prop_map(|(ts, sep)| ts.join(sep))
        .boxed()
}

fn media_type() -> BoxedStrategy<String> {
    (
        prop_oneof![Just("application".to_owned()), token()],
        prop_oneof![Just("sdp".to_owned()), token()],
        select(vec!["/", "/", " / "]),
        vec(ext_param(), 0..=2),
    )
        .prop_map(|(t, s, slash, ps)| format!("{t}{slash}{s}{}", ps.concat()))
        .boxed()
}

fn auth_value() -> BoxedStrategy<String> {
    (
        prop_oneof![Just("Digest".to_owned()), token()],
        vec(
            (
                prop_oneof![
                    select(vec![
                        "username",
                        "realm",
                        "nonce",
                        "uri",
                        "response",
                        "algorithm",
                        "qop",
                        "nc",
                        "cnonce",
                        "opaque"
                    ])
                    .prop_map(str::to_owned),
                    token(),
                ],
                prop_oneof![
                    token(),
                    (display_text(), any::<u64>()).prop_map(|(t, m)| quote(&t, m)),
                ],
            ),
            0..=5,
        ),
        select(vec![",", ", ", " , "]),
    )
        .prop_map(|(scheme, params, sep)| {
            if params.is_empty() {
                scheme
            } else {
                let ps: Vec<_> = params.iter().map(|(n, v)| format!("{n}={v}")).collect();
                format!("{scheme} {}", ps.join(sep))
            }
        })
        .boxed()
}

/// `rfc1123-date` (RFC 3261 §20.17).
fn rfc1123_date() -> BoxedStrategy<String> {
    (
        select(vec!["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]),
        1u8..=31,
        select(vec![
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ]),
        1970u16..=2100,
        (0u8..24, 0u8..60, 0u8..60),
    )
        .prop_map(|(day, d, mon, y, (h, m, s))| {
            format!("{day}, {d:02} {mon} {y} {h:02}:{m:02}:{s:02} GMT")
        })
        .boxed()
}

fn reason_value() -> BoxedStrategy<String> {
    (
        select(vec!["SIP", "Q.850"]),
        any::<u16>(),
        option::of((display_text(), any::<u64>())),
    )
        .prop_map(|(proto, cause, text)| {
            let mut v = format!("{proto};cause={cause}");
            if let Some((t, m)) = text {
                write!(v, ";text={}", quote(&t, m)).unwrap();
            }
            v
        })
        .boxed()
}

/// A header's name (known or extension), its value as the parser must return it, and what the
/// accessors must find in it.
#[derive(Debug, Clone)]
enum FName {
    Known(HeaderName),
    Other(String),
}

#[derive(Debug, Clone)]
struct Core {
    name: FName,
    value: String,
    /// Branches of the Via values of this field, in order.
    branches: Vec<String>,
    /// Number of Contact values of this field.
    contacts: usize,
}

impl Core {
    fn new(h: HeaderName, value: impl Into<String>) -> Self {
        Core {
            name: FName::Known(h),
            value: value.into(),
            branches: Vec::new(),
            contacts: 0,
        }
    }
}

/// A header other than the mandatory ones, with a well-formed value.
fn optional_core() -> BoxedStrategy<Core> {
    use HeaderName as H;
    prop_oneof![
        3 => contact_value().prop_map(|(v, n)| Core {
            contacts: n,
            ..Core::new(H::Contact, v)
        }),
        2 => (
            select(vec![H::Route, H::RecordRoute, H::Path, H::ServiceRoute]),
            route_list()
        )
            .prop_map(|(h, v)| Core::new(h, v)),
        3 => (
            select(vec![
                H::Supported,
                H::Require,
                H::ProxyRequire,
                H::Unsupported,
                H::AllowEvents,
                H::ContentEncoding,
                H::ContentLanguage,
                H::AcceptEncoding,
            ]),
            token_list()
        )
            .prop_map(|(h, v)| Core::new(h, v)),
        // In-Reply-To: callid *(COMMA callid) (RFC 3261 §20.21).
        1 => vec(call_id(), 1..=3).prop_map(|ids| Core::new(H::InReplyTo, ids.join(", "))),
        // Accept-Encoding: codings *(SEMI accept-param) (§20.2).
        1 => (token(), option::of(select(vec![";q=0.5", ";q=1"])))
            .prop_map(|(c, q)| Core::new(H::AcceptEncoding, format!("{c}{}, identity", q.unwrap_or("")))),
        1 => (vec(method_token(), 0..=5), list_sep())
            .prop_map(|(ms, sep)| Core::new(H::Allow, ms.join(sep))),
        1 => media_type().prop_map(|v| Core::new(H::ContentType, v)),
        1 => prop_oneof![
            Just(String::new()),
            (vec(media_type(), 1..=3), list_sep()).prop_map(|(v, sep)| v.join(sep)),
        ]
        .prop_map(|v| Core::new(H::Accept, v)),
        1 => (select(vec![H::Expires, H::MinExpires]), any::<u32>())
            .prop_map(|(h, n)| Core::new(h, n.to_string())),
        2 => (
            select(vec![
                H::Subject,
                H::UserAgent,
                H::Server,
                H::Organization,
                H::Timestamp,
                H::Warning,
                H::Priority,
                H::MimeVersion,
                H::CallInfo,
                H::AlertInfo,
                H::ErrorInfo,
                H::AuthenticationInfo,
            ]),
            free_text()
        )
            .prop_map(|(h, v)| Core::new(h, v)),
        1 => (
            // Accept-Language: language-range *(SEMI accept-param) (§20.3).
            select(vec![H::Event, H::SubscriptionState, H::ContentDisposition, H::AcceptLanguage]),
            token(),
            vec(ext_param(), 0..=2)
        )
            .prop_map(|(h, t, ps)| Core::new(h, t + &ps.concat())),
        1 => (
            select(vec![H::SessionExpires, H::MinSe, H::RetryAfter]),
            any::<u32>(),
            option::of(select(vec![";refresher=uac", ";refresher=uas", ";duration=60"])),
            option::of("[ -'*-~]{0,10}"),
        )
            .prop_map(|(h, n, p, comment)| {
                let mut v = format!("{n}{}", p.unwrap_or(""));
                if let (H::RetryAfter, Some(c)) = (h, comment) {
                    write!(v, " ({c})").unwrap();
                }
                Core::new(h, v)
            }),
        1 => rfc1123_date().prop_map(|d| Core::new(H::Date, d)),
        1 => (1u32..=u32::MAX).prop_map(|n| Core::new(H::RSeq, n.to_string())),
        1 => (any::<u32>(), 0u32..(1 << 31), method_token())
            .prop_map(|(r, c, m)| Core::new(H::RAck, format!("{r} {c} {m}"))),
        1 => (
            select(vec![H::ReferTo, H::ReferredBy, H::ReplyTo]),
            addr(true),
            vec(ext_param(), 0..=2)
        )
            .prop_map(|(h, a, ps)| Core::new(h, a.text + &ps.concat())),
        1 => (call_id(), tag(), tag(), any::<bool>()).prop_map(|(c, t, f, early)| {
            let e = if early { ";early-only" } else { "" };
            Core::new(H::Replaces, format!("{c};to-tag={t};from-tag={f}{e}"))
        }),
        1 => (vec(reason_value(), 1..=2), list_sep())
            .prop_map(|(rs, sep)| Core::new(H::Reason, rs.join(sep))),
        1 => (
            select(vec![
                H::Authorization,
                H::ProxyAuthorization,
                H::WwwAuthenticate,
                H::ProxyAuthenticate
            ]),
            auth_value()
        )
            .prop_map(|(h, v)| Core::new(h, v)),
        4 => (
            token().prop_filter("an extension name", |n| HeaderName::from_bytes(n.as_bytes())
                .is_none()),
            free_text()
        )
            .prop_map(|(n, v)| Core {
                name: FName::Other(n),
                ..Core::new(H::Subject, v)
            }),
    ]
    .boxed()
}

// ------------------------------------------------------------------------------------------
// Whole messages as text
// ------------------------------------------------------------------------------------------

/// How a header line is written: name spelling, whitespace, line folding (RFC 3261 §7.3.1).
#[derive(Debug, Clone)]
struct Layout {
    spelling: u8,
    before_colon: &'static str,
    after_colon: &'static str,
    trailing: &'static str,
    /// 0: none, 1: fold right after the colon, 2: fold at a space inside the value.
    fold: u8,
    fold_at: Index,
    fold_ws: &'static str,
}

fn layout() -> BoxedStrategy<Layout> {
    (
        any::<u8>(),
        select(vec!["", "", "", " ", "\t"]),
        select(vec![" ", " ", "", "  ", "\t"]),
        select(vec!["", "", "", " ", "\t "]),
        prop_oneof![8 => Just(0u8), 1 => Just(1u8), 2 => Just(2u8)],
        any::<Index>(),
        select(vec![" ", "\t", "   "]),
    )
        .prop_map(
            |(spelling, before_colon, after_colon, trailing, fold, fold_at, fold_ws)| Layout {
                spelling,
                before_colon,
                after_colon,
                trailing,
                fold,
                fold_at,
                fold_ws,
            },
        )
        .boxed()
}

#[derive(Debug, Clone)]
struct GenField {
    core: Core,
    layout: Layout,
}

impl GenField {
    fn wire_name(&self) -> String {
        match &self.core.name {
            FName::Other(n) => n.clone(),
            FName::Known(h) => {
                let c = h.as_str();
                match self.layout.spelling % 5 {
                    2 => c.to_ascii_lowercase(),
                    3 => c.to_ascii_uppercase(),
                    4 => match h.compact() {
                        Some(k) if self.layout.spelling & 0x80 != 0 => {
                            k.to_ascii_uppercase().into()
                        }
                        Some(k) => k.into(),
                        None => c.to_owned(),
                    },
                    _ => c.to_owned(),
                }
            }
        }
    }

    /// (known, name, value) as `Headers::iter` must give them.
    fn expected(&self) -> (Option<HeaderName>, String, String) {
        match &self.core.name {
            FName::Known(h) => (Some(*h), h.as_str().to_owned(), self.core.value.clone()),
            FName::Other(n) => (None, n.clone(), self.core.value.clone()),
        }
    }

    fn render(&self, out: &mut Vec<u8>) {
        let l = &self.layout;
        let v = self.core.value.as_str();
        out.extend_from_slice(self.wire_name().as_bytes());
        out.extend_from_slice(l.before_colon.as_bytes());
        out.push(b':');
        let b = v.as_bytes();
        let ws = |c: u8| c == b' ' || c == b'\t';
        let folds: Vec<usize> = (1..b.len().saturating_sub(1))
            .filter(|&i| b[i] == b' ' && !ws(b[i - 1]) && !ws(b[i + 1]))
            .collect();
        match l.fold {
            1 if !v.is_empty() => {
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(l.fold_ws.as_bytes());
                out.extend_from_slice(b);
            }
            2 if !folds.is_empty() => {
                let i = folds[l.fold_at.index(folds.len())];
                out.extend_from_slice(l.after_colon.as_bytes());
                out.extend_from_slice(&b[..i]);
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(l.fold_ws.as_bytes());
                out.extend_from_slice(&b[i + 1..]);
            }
            _ => {
                out.extend_from_slice(l.after_colon.as_bytes());
                out.extend_from_slice(b);
            }
        }
        out.extend_from_slice(l.trailing.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

#[derive(Debug, Clone)]
enum Start {
    Request {
        method: String,
        uri: GenUri,
    },
    Response {
        code: u16,
        reason: String,
        bare: bool,
    },
}

/// What the typed accessors must return.
#[derive(Debug, Clone)]
struct Expect {
    call_id: String,
    seq: u32,
    cseq_method: String,
    from_tag: String,
    from_display: Option<String>,
    from_uri: String,
    to_tag: Option<String>,
    max_forwards: Option<u8>,
}

#[derive(Debug, Clone)]
struct GenMsg {
    start: Start,
    version: &'static str,
    leading_crlf: usize,
    fields: Vec<GenField>,
    body: Vec<u8>,
    has_content_length: bool,
    /// Bytes after the body, which a datagram parser must discard.
    trailing: Vec<u8>,
    expect: Expect,
}

impl GenMsg {
    fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for _ in 0..self.leading_crlf {
            out.extend_from_slice(b"\r\n");
        }
        match &self.start {
            Start::Request { method, uri } => {
                out.extend_from_slice(
                    format!("{method} {} {}\r\n", uri.text, self.version).as_bytes(),
                );
            }
            Start::Response { code, reason, bare } => {
                let line = if *bare && reason.is_empty() {
                    format!("{} {code}\r\n", self.version)
                } else {
                    format!("{} {code} {reason}\r\n", self.version)
                };
                out.extend_from_slice(line.as_bytes());
            }
        }
        for f in &self.fields {
            f.render(&mut out);
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out.extend_from_slice(&self.trailing);
        out
    }

    /// Whether Content-Length is folded right after its colon.
    fn content_length_folded(&self) -> bool {
        self.fields.iter().any(|f| {
            matches!(f.core.name, FName::Known(HeaderName::ContentLength)) && f.layout.fold == 1
        })
    }

    fn branches(&self) -> Vec<String> {
        self.fields
            .iter()
            .flat_map(|f| f.core.branches.iter().cloned())
            .collect()
    }
}

fn shuffle<T>(v: &mut [T], mut seed: u64) {
    for i in (1..v.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        v.swap(i, (seed % (i as u64 + 1)) as usize);
    }
}

fn reason_text() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => "[ -~]{0,20}",
        2 => "\\PC{0,10}",
        1 => Just(String::new()),
    ]
}

/// A well-formed message as text. `stream`: always with Content-Length, nothing around it.
fn message(stream: bool) -> BoxedStrategy<GenMsg> {
    let start = prop_oneof![
        // RFC 3261 §19.1.1: no headers component in a Request-URI.
        3 => (method_token(), uri(true).prop_filter("Request-URI", GenUri::without_headers))
            .prop_map(|(method, uri)| Start::Request { method, uri }),
        2 => (100u16..=699, reason_text(), any::<bool>())
            .prop_map(|(code, reason, bare)| Start::Response { code, reason, bare }),
    ];
    let mandatory = (
        vec((vec(via_value(), 1..=3), list_sep(), layout()), 1..=3),
        (from_value(), layout()),
        (to_value(), layout()),
        (call_id(), layout()),
        (
            0u32..(1 << 31),
            select(vec![" ", "  ", "\t"]),
            method_token(),
            layout(),
        ),
        option::of((any::<u8>(), layout())),
    );
    let framing = (
        vec(any::<u8>(), 0..=96),
        if stream {
            Just(true).boxed()
        } else {
            prop::bool::weighted(0.85).boxed()
        },
        select(vec!["", "", "", "0", "00"]),
        layout(),
        vec(any::<u8>(), 0..=if stream { 0 } else { 6 }),
        0..=if stream { 0usize } else { 2 },
    );
    (
        start,
        select(vec!["SIP/2.0", "SIP/2.0", "SIP/2.0", "sip/2.0"]),
        mandatory,
        vec((optional_core(), layout()), 0..=8),
        framing,
        any::<u64>(),
    )
        .prop_map(
            move |(start, version, mandatory, optional, framing, seed)| {
                let (vias, (from, fl), (to, tl), (cid, cl), (seq, ws, cm, sl), mf) = mandatory;
                let (body, has_cl, zeros, cll, trailing, leading_crlf) = framing;
                let cseq_method = match &start {
                    Start::Request { method, .. } => method.clone(),
                    Start::Response { .. } => cm,
                };
                let mut fields = Vec::new();
                for (vs, sep, layout) in vias {
                    let text: Vec<_> = vs.iter().map(|v| v.text.as_str()).collect();
                    fields.push(GenField {
                        core: Core {
                            branches: vs.iter().map(|v| v.branch.clone()).collect(),
                            ..Core::new(HeaderName::Via, text.join(sep))
                        },
                        layout,
                    });
                }
                let (from_text, from_tag, from_addr) = from;
                let field = |h, v: String, layout| GenField {
                    core: Core::new(h, v),
                    layout,
                };
                fields.push(field(HeaderName::From, from_text, fl));
                fields.push(field(HeaderName::To, to.0, tl));
                fields.push(field(HeaderName::CallId, cid.clone(), cl));
                fields.push(field(
                    HeaderName::CSeq,
                    format!("{seq}{ws}{cseq_method}"),
                    sl,
                ));
                let max_forwards = mf.as_ref().map(|(n, _)| *n);
                if let Some((n, layout)) = mf {
                    fields.push(field(HeaderName::MaxForwards, n.to_string(), layout));
                }
                let mut seen: HashSet<HeaderName> = [
                    HeaderName::From,
                    HeaderName::To,
                    HeaderName::CallId,
                    HeaderName::CSeq,
                    HeaderName::MaxForwards,
                    HeaderName::ContentLength,
                ]
                .into();
                for (core, layout) in optional {
                    if let FName::Known(h) = core.name
                        && h.is_single_valued()
                        && !seen.insert(h)
                    {
                        continue;
                    }
                    fields.push(GenField { core, layout });
                }
                if has_cl {
                    fields.push(field(
                        HeaderName::ContentLength,
                        format!("{zeros}{}", body.len()),
                        cll,
                    ));
                }
                shuffle(&mut fields, seed);
                GenMsg {
                    start,
                    version,
                    leading_crlf,
                    fields,
                    body,
                    has_content_length: has_cl,
                    trailing: if has_cl { trailing } else { Vec::new() },
                    expect: Expect {
                        call_id: cid,
                        seq,
                        cseq_method,
                        from_tag,
                        from_display: from_addr.display,
                        from_uri: from_addr.uri.text,
                        to_tag: to.1,
                        max_forwards,
                    },
                }
            },
        )
        .boxed()
}

// ------------------------------------------------------------------------------------------
// Checks
// ------------------------------------------------------------------------------------------

fn fields_of(h: &Headers) -> Vec<(Option<HeaderName>, String, String)> {
    h.iter()
        .map(|f| (f.known, f.name.to_owned(), f.value.to_owned()))
        .collect()
}

/// Write → parse gives an equal message, and writing that again gives the same bytes.
fn check_rewrite(msg: &Message) -> TestResult {
    let wire = msg.to_bytes();
    let again = parse(wire.clone()).map_err(|e| {
        TestCaseError::fail(format!(
            "rewritten message fails: {e}\n{}",
            String::from_utf8_lossy(&wire)
        ))
    })?;
    prop_assert_eq!(&again, msg);
    prop_assert_eq!(again.to_bytes(), wire);
    Ok(())
}

/// The typed accessors give back the generated values.
fn check_accessors(msg: &Message, g: &GenMsg) -> TestResult {
    let h = msg.headers();
    let branches = g.branches();
    prop_assert_eq!(h.top_via()?.branch(), Some(branches[0].as_str()));
    let vias = h
        .vias()
        .map(|v| v.map(|v| v.branch().map(str::to_owned)))
        .collect::<Result<Vec<_>, _>>()?;
    prop_assert_eq!(vias, branches.into_iter().map(Some).collect::<Vec<_>>());
    let e = msg.essentials()?;
    let x = &g.expect;
    prop_assert_eq!(e.via.branch(), h.top_via()?.branch());
    prop_assert_eq!(e.cseq.seq, x.seq);
    prop_assert_eq!(&e.cseq.method, &Method::parse(&x.cseq_method).unwrap());
    prop_assert_eq!(e.call_id, x.call_id.as_str());
    prop_assert_eq!(h.call_id()?, x.call_id.as_str());
    prop_assert_eq!(e.from_tag, Some(x.from_tag.as_str()));
    prop_assert_eq!(e.to_tag, x.to_tag.as_deref());
    prop_assert_eq!(e.max_forwards, x.max_forwards);
    let from = h.from()?;
    prop_assert_eq!(
        from.display_name().map(|d| d.into_owned()),
        x.from_display.clone()
    );
    prop_assert_eq!(from.uri.as_str(), x.from_uri.as_str());
    let contacts: usize = g.fields.iter().map(|f| f.core.contacts).sum();
    let got = h.contacts().collect::<Result<Vec<_>, _>>()?;
    prop_assert_eq!(got.len(), contacts);
    for r in h.name_addrs(HeaderName::Route) {
        prop_assert!(r?.angle);
    }
    if g.has_content_length {
        prop_assert_eq!(h.content_length()?, Some(g.body.len() as u32));
    }
    match (msg, &g.start) {
        (Message::Request(r), Start::Request { method, uri }) => {
            prop_assert_eq!(&r.method, &Method::parse(method).unwrap());
            prop_assert_eq!(r.uri.as_str(), uri.text.as_str());
            prop_assert_eq!(r.uri.scheme(), uri.scheme);
            prop_assert_eq!(r.uri.host(), uri.host.as_str());
            prop_assert_eq!(r.uri.port(), uri.port);
            prop_assert_eq!(r.uri.user(), uri.user.as_deref());
            prop_assert_eq!(r.uri.as_ref().password(), uri.password.as_deref());
        }
        (Message::Response(r), Start::Response { code, reason, .. }) => {
            prop_assert_eq!(r.status.as_u16(), *code);
            prop_assert_eq!(&*r.reason, reason.as_str());
        }
        _ => prop_assert!(false, "request and response swapped"),
    }
    Ok(())
}

fn check_generated(g: &GenMsg) -> TestResult {
    let wire = g.render();
    let msg = parse(wire.clone()).map_err(|e| {
        TestCaseError::fail(format!(
            "does not parse: {e}\n{}",
            String::from_utf8_lossy(&wire)
        ))
    })?;
    let want: Vec<_> = g.fields.iter().map(GenField::expected).collect();
    prop_assert_eq!(fields_of(msg.headers()), want);
    prop_assert_eq!(&msg.body()[..], &g.body[..]);
    msg.validate()?;
    check_accessors(&msg, g)?;
    check_rewrite(&msg)
}

// ------------------------------------------------------------------------------------------
// Messages through the builders
// ------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct GenBuild {
    method: String,
    uri: GenUri,
    /// (transport, sent-by, branch, rport)
    vias: Vec<(String, String, String, bool)>,
    from: (GenAddr, String),
    to: (GenAddr, Option<String>),
    call_id: String,
    seq: u32,
    max_forwards: Option<u8>,
    contacts: Vec<String>,
    extra: Vec<(String, String)>,
    body: Option<(String, Vec<u8>)>,
    status: u16,
    to_tag: Option<String>,
    reason: Option<String>,
    resp_extra: Vec<(String, String)>,
    resp_body: Option<(String, Vec<u8>)>,
}

/// Extra headers for a builder: well-formed, single-valued ones at most once, spelled in any
/// accepted way.
fn extra_headers() -> BoxedStrategy<Vec<(String, String)>> {
    vec((optional_core(), layout()), 0..=6)
        .prop_map(|hs| {
            let mut seen = HashSet::new();
            hs.into_iter()
                .filter(|(c, _)| match c.name {
                    FName::Known(h) => !h.is_single_valued() || seen.insert(h),
                    FName::Other(_) => true,
                })
                .map(|(core, layout)| {
                    let f = GenField { core, layout };
                    (f.wire_name(), f.core.value)
                })
                .collect()
        })
        .boxed()
}

fn sent_by() -> BoxedStrategy<String> {
    (host(), option::of(any::<u16>()))
        .prop_map(|(h, p)| match p {
            Some(p) => format!("{h}:{p}"),
            None => h,
        })
        .boxed()
}

fn build_input() -> BoxedStrategy<GenBuild> {
    let req = (
        method_token(),
        // A Request-URI has no headers component (RFC 3261 §19.1.1): the builder refuses one,
        // see builder_refuses_request_uri_headers.
        uri(true).prop_filter("Request-URI", GenUri::without_headers),
        vec(
            (
                prop_oneof![
                    select(vec!["UDP", "TCP", "TLS", "WS"]).prop_map(str::to_owned),
                    token()
                ],
                sent_by(),
                token().prop_map(|b| format!("z9hG4bK{b}")),
                any::<bool>(),
            ),
            1..=3,
        ),
        (addr(true), tag()),
        (addr(true), option::weighted(0.3, tag())),
        call_id(),
        0u32..(1 << 31),
        option::of(any::<u8>()),
        vec(contact_value().prop_map(|c| c.0), 0..=2),
        extra_headers(),
        option::of((media_type(), vec(any::<u8>(), 0..=64))),
    );
    let resp = (
        100u16..=699,
        option::of(tag()),
        option::of(reason_text()),
        extra_headers(),
        option::of((media_type(), vec(any::<u8>(), 0..=64))),
    );
    (req, resp)
        .prop_map(|(req, resp)| {
            let (method, uri, vias, from, to, call_id, seq, max_forwards, contacts, extra, body) =
                req;
            let (status, to_tag, reason, resp_extra, resp_body) = resp;
            GenBuild {
                method,
                uri,
                vias,
                from,
                to,
                call_id,
                seq,
                max_forwards,
                contacts,
                extra,
                body,
                status,
                to_tag,
                reason,
                resp_extra,
                resp_body,
            }
        })
        .boxed()
}

fn build_request(g: &GenBuild) -> Request {
    let method = Method::parse(&g.method).unwrap();
    let mut b = Request::builder(method, Uri::parse(&g.uri.text).unwrap());
    for (t, s, br, rport) in &g.vias {
        b = if *rport {
            b.via_rport(t, s, br)
        } else {
            b.via(t, s, br)
        };
    }
    b = b
        .from(&g.from.0.text, &g.from.1)
        .to(&g.to.0.text, g.to.1.as_deref())
        .call_id(&g.call_id)
        .cseq(g.seq);
    if let Some(n) = g.max_forwards {
        b = b.max_forwards(n);
    }
    for c in &g.contacts {
        b = b.contact(c);
    }
    for (n, v) in &g.extra {
        b = b.header(n, v);
    }
    if let Some((ct, body)) = &g.body {
        b = b.body(ct, body.clone());
    }
    b.build().unwrap_or_else(|e| panic!("build failed: {e}"))
}

fn build_response(g: &GenBuild, req: &Request) -> Response {
    let mut r =
        Response::from_request(req, StatusCode::new(g.status).unwrap(), g.to_tag.as_deref());
    if let Some(reason) = &g.reason {
        r.reason = ByteString::from(reason.as_str());
    }
    for (n, v) in &g.resp_extra {
        r.headers.push(n, v.as_str()).unwrap();
    }
    if let Some((ct, body)) = &g.resp_body {
        r.set_body(ct, body.clone());
    }
    r
}

fn check_built(g: &GenBuild) -> TestResult {
    let req = build_request(g);
    req.validate()?;
    // The builder's values come back through the accessors.
    let h = &req.headers;
    prop_assert_eq!(req.top_via()?.branch(), Some(g.vias[0].2.as_str()));
    let vias = h.vias().collect::<Result<Vec<_>, _>>()?;
    prop_assert_eq!(vias.len(), g.vias.len());
    for (v, (t, _, br, rport)) in vias.iter().zip(&g.vias) {
        prop_assert_eq!(v.transport, t.as_str());
        prop_assert_eq!(v.branch(), Some(br.as_str()));
        prop_assert_eq!(v.rport(), if *rport { Some(None) } else { None });
    }
    let e = req.essentials()?;
    prop_assert_eq!(e.cseq.seq, g.seq);
    prop_assert_eq!(&e.cseq.method, &req.method);
    prop_assert_eq!(e.call_id, g.call_id.as_str());
    prop_assert_eq!(e.from_tag, Some(g.from.1.as_str()));
    prop_assert_eq!(e.to_tag, g.to.1.as_deref());
    prop_assert_eq!(e.max_forwards, Some(g.max_forwards.unwrap_or(70)));
    let body_len = g.body.as_ref().map_or(0, |b| b.1.len());
    prop_assert_eq!(h.content_length()?, Some(body_len as u32));
    prop_assert_eq!(req.uri.host(), g.uri.host.as_str());
    prop_assert_eq!(req.uri.port(), g.uri.port);
    prop_assert_eq!(req.uri.user(), g.uri.user.as_deref());

    // Round trip of the request.
    let parsed = parse(req.to_bytes())?;
    prop_assert_eq!(&parsed, &Message::Request(req.clone()));
    parsed.validate()?;
    check_rewrite(&parsed)?;
    let Message::Request(parsed_req) = parsed else {
        unreachable!()
    };

    // The response to it, built from the request as built and as parsed.
    let resp = build_response(g, &req);
    resp.validate()?;
    let rh = &resp.headers;
    prop_assert_eq!(
        rh.get_all(HeaderName::Via).collect::<Vec<_>>(),
        h.get_all(HeaderName::Via).collect::<Vec<_>>()
    );
    for n in [HeaderName::From, HeaderName::CallId, HeaderName::CSeq] {
        prop_assert_eq!(rh.get(n), h.get(n));
    }
    let to = h.get(HeaderName::To).unwrap();
    let want_to = match (&g.to_tag, &g.to.1) {
        (Some(t), None) if g.status != 100 => format!("{to};tag={t}"),
        _ => to.to_owned(),
    };
    prop_assert_eq!(rh.get(HeaderName::To), Some(want_to.as_str()));
    let want_reason = g
        .reason
        .clone()
        .unwrap_or_else(|| resp.status.canonical_reason().to_owned());
    prop_assert_eq!(&*resp.reason, want_reason.as_str());
    let resp_body_len = g.resp_body.as_ref().map_or(0, |b| b.1.len());
    prop_assert_eq!(rh.content_length()?, Some(resp_body_len as u32));
    let parsed_resp = parse(resp.to_bytes())?;
    prop_assert_eq!(&parsed_resp, &Message::Response(resp.clone()));
    parsed_resp.validate()?;
    check_rewrite(&parsed_resp)?;
    let resp2 = build_response(g, &parsed_req);
    prop_assert_eq!(&resp2, &resp);
    prop_assert_eq!(resp2.to_bytes(), resp.to_bytes());
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Arbitrary input: nothing may panic
// ------------------------------------------------------------------------------------------

const FRAGMENTS: &[&[u8]] = &[
    b"INVITE ",
    b"SIP/2.0",
    b"sip/2.0 ",
    b"SIP/2.0 200 OK",
    b"\r\n",
    b"\r\n",
    b"\r\n\r\n",
    b"\r",
    b"\n",
    b" ",
    b" ",
    b"\t",
    b":",
    b": ",
    b"sip:",
    b"sips:",
    b"tel:",
    b"urn:",
    b"@",
    b";",
    b",",
    b"<",
    b">",
    b"\"",
    b"\\",
    b"[",
    b"]",
    b"::1",
    b"%",
    b"%4",
    b"%41",
    b"?",
    b"=",
    b"/",
    b"Via",
    b"v",
    b"l",
    b"Content-Length",
    b"Call-ID",
    b"i",
    b"From",
    b"To",
    b"CSeq",
    b"Contact",
    b"m",
    b"*",
    b"Route",
    b"Max-Forwards",
    b"Content-Type",
    b"c",
    b"tag=",
    b"branch=",
    b"z9hG4bK",
    b"received=",
    b"rport",
    b"ttl=",
    b"maddr=",
    b"0",
    b"1",
    b"5",
    b"65536",
    b"99999999999",
    b"4294967296",
    b"2147483648",
    b"x",
    b"example.com",
    b"192.0.2.1",
    b"\xff",
    b"\xc3\xa9",
    b"\xe2\x82",
    b"\x00",
    b"\x7f",
    b"Digest ",
    b"RAck",
    b"RSeq",
    b"Expires",
    b"Event",
    b"Session-Expires",
    b"Reason",
    b"Replaces",
    b"Authorization",
    b"Accept",
    b"Supported",
    b"Retry-After",
    b"(",
    b")",
    b"Refer-To",
    b"Subscription-State",
    b"application/sdp",
    b"q=",
    b"expires=",
    b"lr",
    b"transport=",
];

const START_LINES: &[&[u8]] = &[
    b"INVITE sip:bob@example.com SIP/2.0\r\n",
    b"OPTIONS sips:[2001:db8::1]:5061;transport=tcp SIP/2.0\r\n",
    b"REGISTER tel:+1-555 SIP/2.0\r\n",
    b"FOO urn:service:sos SIP/2.0\r\n",
    b"SIP/2.0 200 OK\r\n",
    b"SIP/2.0 180\r\n",
    b"SIP/2.0 699 \xc3\xa9\r\n",
];

const NAMES: &[&[u8]] = &[
    b"Via",
    b"v",
    b"From",
    b"f",
    b"To",
    b"t",
    b"Call-ID",
    b"i",
    b"CSeq",
    b"Max-Forwards",
    b"Contact",
    b"m",
    b"Route",
    b"Record-Route",
    b"Content-Type",
    b"c",
    b"Content-Length",
    b"l",
    b"Expires",
    b"RSeq",
    b"RAck",
    b"Event",
    b"o",
    b"Subscription-State",
    b"Session-Expires",
    b"x",
    b"Min-SE",
    b"Retry-After",
    b"Replaces",
    b"Reason",
    b"Refer-To",
    b"r",
    b"Referred-By",
    b"b",
    b"Authorization",
    b"WWW-Authenticate",
    b"Accept",
    b"Supported",
    b"k",
    b"Require",
    b"Allow",
    b"X-Ext",
    b"Subject",
    b" ",
    b"",
];

/// Arbitrary bytes, SIP-flavoured token soup, or SIP-shaped messages with garbage values.
fn noise() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..=2048),
        vec(select(FRAGMENTS), 0..=300).prop_map(|v| v.concat()),
        (
            vec(any::<u8>(), 0..=4).prop_map(|v| v.len()),
            select(START_LINES),
            vec(
                (
                    select(NAMES),
                    select(vec![": ", ":", " : ", ":\r\n "]),
                    vec(select(FRAGMENTS), 0..=10)
                ),
                0..=12,
            ),
            select(vec![&b"\r\n"[..], b"\r\n", b""]),
            vec(any::<u8>(), 0..=32),
        )
            .prop_map(|(crlfs, start, headers, end, body)| {
                let mut out = b"\r\n".repeat(crlfs % 2);
                out.extend_from_slice(start);
                for (n, sep, v) in headers {
                    out.extend_from_slice(n);
                    out.extend_from_slice(sep.as_bytes());
                    out.extend_from_slice(&v.concat());
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(end);
                out.extend_from_slice(&body);
                out
            }),
    ]
    .prop_map(|mut v| {
        v.truncate(2048);
        v
    })
    .boxed()
}

/// Every typed view of a header value, on any text.
fn touch_value(v: &str) {
    let _ = Via::parse(v).map(|v| (v.branch(), v.received(), v.rport(), v.maddr(), v.ttl()));
    if let Ok(a) = NameAddr::parse(v) {
        touch_name_addr(&a);
    }
    let _ = CSeq::parse(v);
    let _ = RAck::parse(v);
    let _ = MediaType::parse(v).map(|m| m.is("application", "sdp"));
    for p in [
        Parameterized::parse_token(v),
        Parameterized::parse_delta(v),
        Parameterized::parse_callid(v),
    ]
    .into_iter()
    .flatten()
    {
        let _ = p.seconds();
        let _ = p.params.iter().count();
    }
    if let Ok(a) = Auth::parse(v) {
        let _ = a.params().count();
        let _ = a.param("realm");
    }
    if let Ok(u) = UriRef::parse(v) {
        touch_uri(&u);
    }
    let _ = unquote(v);
    let _ = unescape(v);
}

fn touch_uri(u: &UriRef<'_>) {
    let _ = (
        u.scheme(),
        u.scheme_str(),
        u.opaque(),
        u.user(),
        u.user_unescaped(),
    );
    let _ = (u.password(), u.host(), u.port(), u.transport(), u.headers());
    let _ = u.params().iter().count();
    let _ = u.params().value("lr");
    let _ = u.to_owned().to_string();
}

fn touch_name_addr(a: &NameAddr<'_>) {
    let _ = (a.display_name_raw(), a.display_name(), a.tag());
    let _ = a.params.iter().count();
    touch_uri(&a.uri);
}

/// Calls everything on whatever parses; checks the properties that must hold for any parsed
/// message.
fn exercise(input: &[u8]) -> TestResult {
    let parsed = parse(Bytes::copy_from_slice(input));
    if let Err(e) = &parsed {
        // Errors point into the input.
        prop_assert!(e.offset <= input.len(), "{e} past {} bytes", input.len());
    }
    if let Ok(m) = parsed {
        let valid = m.validate();
        if let Err(e) = &valid {
            prop_assert!(e.offset <= input.len(), "{e} past {} bytes", input.len());
        }
        let essentials = m.essentials().map(|e| {
            let _ = (
                e.via.branch(),
                e.from_tag,
                e.to_tag,
                e.max_forwards,
                e.call_id,
            );
        });
        let h = m.headers();
        let vias: Vec<_> = h.vias().collect();
        for v in vias.iter().flatten() {
            let _ = (v.branch(), v.received(), v.rport(), v.ttl(), v.maddr());
            let _ = (v.has_magic_cookie(), v.params.iter().count());
        }
        let contacts: Vec<_> = h.contacts().collect();
        for c in contacts.iter().flatten() {
            let _ = (c.expires(), c.q());
            if let ContactValue::Addr(a) = c {
                touch_name_addr(a);
            }
        }
        for &name in HeaderName::ALL {
            let _ = h.values(name).count();
            for a in h.name_addrs(name).flatten() {
                touch_name_addr(&a);
            }
            let _ = h.auths(name).count();
            let _ = h.has_option_tag(name, "100rel");
        }
        let _ = (h.from().map(|a| a.tag()), h.to().map(|a| a.tag()));
        let _ = (h.call_id(), h.cseq(), h.max_forwards(), h.content_length());
        let _ = (
            h.content_type(),
            h.expires(),
            h.rseq(),
            h.rack(),
            h.replaces(),
        );
        let _ = (
            h.refer_to().is_ok(),
            h.referred_by().is_ok(),
            h.event(),
            h.min_se(),
        );
        let _ = (
            h.subscription_state(),
            h.session_expires(),
            h.user_agent(),
            h.server(),
        );
        let _ = h.reasons().count();
        for f in h.iter() {
            touch_value(f.value);
            let _ = h.get_other(f.name);
        }
        if let Message::Request(r) = &m {
            touch_uri(&r.uri.as_ref());
            let _ = (r.uri.params().iter().count(), r.method.to_string());
        }
        let _ = m.to_string();
        // A message that validates has the essentials and every Via and Contact readable.
        if valid.is_ok() {
            prop_assert!(
                essentials.is_ok(),
                "validate() ok but essentials() {essentials:?} on {:?}",
                String::from_utf8_lossy(input)
            );
            prop_assert!(
                vias.iter().all(Result::is_ok),
                "validate() ok but vias() {vias:?}"
            );
            prop_assert!(
                contacts.iter().all(Result::is_ok),
                "validate() ok but contacts() {contacts:?}"
            );
        }
        check_rewrite(&m)?;
    }
    Ok(())
}

/// Feeds `input` to a framer in chunks cut at `cuts`; nothing may panic, and every framed
/// message must be exercisable.
fn frame_noise(input: &[u8], cuts: &[Index]) -> TestResult {
    let mut f = StreamFramer::new(Limits::default());
    let mut at: Vec<usize> = cuts.iter().map(|i| i.index(input.len() + 1)).collect();
    at.push(0);
    at.push(input.len());
    at.sort_unstable();
    for w in at.windows(2) {
        f.push(&input[w[0]..w[1]]);
        for _ in 0..=input.len() {
            match f.next_frame() {
                Ok(Some(Framed::Message(m))) => exercise(&m)?,
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        let _ = f.buffered();
    }
    Ok(())
}

const INTERESTING: &[u8] = b"\r\n \t:;,<>\"\\@%[]?=/*0123456789\x00\x7f\x80\xc3\xff";

#[derive(Debug, Clone)]
enum Mutation {
    Insert(Index, u8),
    Delete(Index),
    Replace(Index, u8),
}

fn mutation() -> BoxedStrategy<Mutation> {
    let byte = prop_oneof![2 => select(INTERESTING), 1 => any::<u8>()];
    prop_oneof![
        (any::<Index>(), byte.clone()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<Index>().prop_map(Mutation::Delete),
        (any::<Index>(), byte).prop_map(|(i, b)| Mutation::Replace(i, b)),
    ]
    .boxed()
}

fn mutate(mut v: Vec<u8>, ms: &[Mutation]) -> Vec<u8> {
    for m in ms {
        match *m {
            Mutation::Insert(i, b) => {
                let at = i.index(v.len() + 1);
                v.insert(at, b);
            }
            Mutation::Delete(i) if !v.is_empty() => {
                let at = i.index(v.len());
                v.remove(at);
            }
            Mutation::Replace(i, b) if !v.is_empty() => {
                let at = i.index(v.len());
                v[at] = b;
            }
            _ => {}
        }
    }
    v
}

// ------------------------------------------------------------------------------------------
// The properties
// ------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(384))]

    /// Property 1a: generated wire text parses to the generated values, validates, and
    /// survives write → parse.
    #[test]
    fn wire_text_roundtrips(g in message(false)) {
        check_generated(&g)?;
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// Property 1b: requests from `Request::builder` and responses from
    /// `Response::from_request` survive write → parse, and give their values back.
    #[test]
    fn built_messages_roundtrip(g in build_input()) {
        check_built(&g)?;
    }
}

proptest! {
    #![proptest_config(config(1024))]

    /// Property 2: arbitrary bytes (up to 2 KB) never make the parser, the typed views, the
    /// writer or the framer panic.
    #[test]
    fn random_bytes_never_panic(input in noise(), cuts in vec(any::<Index>(), 0..=6)) {
        exercise(&input)?;
        frame_noise(&input, &cuts)?;
    }
}

proptest! {
    #![proptest_config(config(512))]

    /// Property 3: a valid message with bytes inserted, deleted or replaced never makes
    /// anything panic.
    #[test]
    fn mutated_messages_never_panic(
        g in message(false),
        ms in vec(mutation(), 1..=8),
        cuts in vec(any::<Index>(), 0..=4),
    ) {
        let input = mutate(g.render(), &ms);
        exercise(&input)?;
        frame_noise(&input, &cuts)?;
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// Property 4: the framer yields the same messages, in order, whatever the read
    /// boundaries, with CRLF keep-alives between them.
    #[test]
    fn framer_ignores_read_boundaries(
        msgs in vec(message(true), 1..=5),
        keepalives in vec(select(vec!["", "", "\r\n", "\r\n\r\n", "\r\n\r\n\r\n"]), 6),
        cuts in vec(any::<Index>(), 0..=16),
    ) {
        let wires: Vec<Vec<u8>> = msgs.iter().map(GenMsg::render).collect();
        let mut stream = Vec::new();
        for (i, w) in wires.iter().enumerate() {
            stream.extend_from_slice(keepalives[i].as_bytes());
            stream.extend_from_slice(w);
        }
        stream.extend_from_slice(keepalives[wires.len()].as_bytes());
        let mut at: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
        at.push(0);
        at.push(stream.len());
        at.sort_unstable();
        let mut f = StreamFramer::new(Limits::default());
        let mut got = Vec::new();
        for w in at.windows(2) {
            f.push(&stream[w[0]..w[1]]);
            while let Some(item) = f.next_frame().map_err(|e| {
                TestCaseError::fail(format!("framer failed: {e}\n{}", String::from_utf8_lossy(&stream)))
            })? {
                if let Framed::Message(m) = item {
                    got.push(m);
                }
            }
        }
        prop_assert_eq!(f.buffered(), 0);
        prop_assert_eq!(got.len(), wires.len());
        for (m, w) in got.iter().zip(&wires) {
            prop_assert_eq!(&m[..], &w[..]);
            prop_assert_eq!(parse(m.clone())?, parse(w.clone())?);
        }
    }
}

proptest! {
    #![proptest_config(config(192))]

    /// Property 5: each bound of `Limits` holds exactly, with its error kind.
    #[test]
    fn limits_are_enforced(g in message(false), cut in any::<Index>()) {
        let wire = Bytes::from(g.render());
        let n = g.fields.len();
        let at = |l: Limits| parse_message(wire.clone(), &l).map(drop).map_err(|e| e.kind);

        // max_headers: as many fields as allowed parse, one more does not.
        prop_assert_eq!(at(Limits { max_headers: n, ..Limits::default() }), Ok(()));
        let fewer = Limits { max_headers: cut.index(n), ..Limits::default() };
        prop_assert_eq!(at(fewer), Err(ParseErrorKind::TooManyHeaders));

        // max_message_size: the exact size parses, anything smaller does not.
        prop_assert_eq!(at(Limits { max_message_size: wire.len(), ..Limits::default() }), Ok(()));
        let smaller = Limits { max_message_size: cut.index(wire.len()), ..Limits::default() };
        prop_assert_eq!(at(smaller), Err(ParseErrorKind::MessageTooLarge));

        // max_line_length: the longest line of the header section is the bound.
        let text = &wire[..];
        let mut head_start = 0;
        while text[head_start..].starts_with(b"\r\n") {
            head_start += 2;
        }
        let head_end = head_start
            + text[head_start..].windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 2;
        let longest = text[head_start..head_end]
            .split(|&b| b == b'\n')
            .map(|l| l.len().saturating_sub(1))
            .max()
            .unwrap();
        prop_assert_eq!(at(Limits { max_line_length: longest, ..Limits::default() }), Ok(()));
        let shorter = Limits { max_line_length: cut.index(longest), ..Limits::default() };
        prop_assert_eq!(at(shorter), Err(ParseErrorKind::LineTooLong));

        // max_vias: fewer than the Via values present fails.
        let vias = g.branches().len();
        let fewer_vias = Limits { max_vias: cut.index(vias), ..Limits::default() };
        prop_assert_eq!(at(fewer_vias), Err(ParseErrorKind::TooManyVias));

        // The framer enforces max_message_size too, on stream messages.
        if g.has_content_length
            && g.trailing.is_empty()
            && g.leading_crlf == 0
            && !g.content_length_folded()
        {
            let mut f = StreamFramer::new(Limits { max_message_size: wire.len(), ..Limits::default() });
            f.push(&wire);
            prop_assert_eq!(f.next_frame(), Ok(Some(Framed::Message(wire.clone()))));
            let small = Limits { max_message_size: cut.index(wire.len()), ..Limits::default() };
            let mut f = StreamFramer::new(small);
            f.push(&wire);
            prop_assert_eq!(f.next_frame().map_err(|e| e.kind), Err(ParseErrorKind::MessageTooLarge));
        }
    }
}

// ------------------------------------------------------------------------------------------
// Known bugs: minimal inputs, ignored so that the suite stays green
// ------------------------------------------------------------------------------------------

/// A minimal request around one extra header line.
fn with_header(line: &str) -> String {
    format!(
        "OPTIONS sip:bob@example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n\
         From: <sip:alice@example.com>;tag=1\r\n\
         To: <sip:bob@example.com>\r\n\
         Call-ID: a@b\r\n\
         CSeq: 1 OPTIONS\r\n\
         {line}\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// Regression (fixed): `StreamFramer` rejects a Content-Length folded right after its colon
/// (`invalid_content_length`), though RFC 3261 §7.3.1 allows folding there (HCOLON = *WSP ":"
/// SWS) and `parse_message` accepts the same message. Found by
/// `framer_ignores_read_boundaries`; the framer reads the value on the name's line only.
#[test]

fn regression_framer_rejects_folded_content_length() {
    let msg: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length:\r\n 0\r\n\r\n";
    assert!(parse(msg).is_ok());
    let mut f = StreamFramer::new(Limits::default());
    f.push(msg);
    assert_eq!(
        f.next_frame(),
        Ok(Some(Framed::Message(Bytes::from_static(msg))))
    );
}

/// Regression (fixed): `validate()` checks In-Reply-To as a token list, but its elements are Call-IDs
/// (`callid = word [ "@" word ]`, RFC 3261 §20.21, §25.1); the RFC's own example fails with
/// `InvalidHeader(InReplyTo)`.
#[test]

fn regression_in_reply_to_rejects_call_ids() {
    let m = parse(with_header(
        "In-Reply-To: 70710@saturn.bell-tel.com, 17320@saturn.bell-tel.com",
    ))
    .unwrap();
    assert_eq!(m.validate(), Ok(()));
}

/// Regression (fixed): `validate()` checks Accept-Encoding as a token list, but an element may carry accept
/// parameters (`encoding = codings *(SEMI accept-param)`, RFC 3261 §20.2, §25.1); fails with
/// `InvalidHeader(AcceptEncoding)`.
#[test]

fn regression_accept_encoding_rejects_q_params() {
    let m = parse(with_header("Accept-Encoding: gzip;q=0.5, identity")).unwrap();
    assert_eq!(m.validate(), Ok(()));
}

/// Regression (fixed): `RequestBuilder::build` takes a Request-URI with a headers component, which RFC 3261
/// §19.1.1 (Table 1) forbids and `parse_message` rejects (`invalid_uri`): the builder makes a
/// request that sipline itself cannot read back.
#[test]

fn regression_builder_accepts_request_uri_headers() {
    let built = Request::builder(Method::Options, Uri::parse("sip:bob@b?x=y").unwrap())
        .via("UDP", "192.0.2.1", "z9hG4bK1")
        .from("<sip:a@a>", "1")
        .to("<sip:bob@b>", None)
        .call_id("c")
        .cseq(1)
        .build();
    if let Ok(req) = built {
        assert_eq!(parse(req.to_bytes()), Ok(Message::Request(req)));
    }
}

/// Regression (fixed): `RequestBuilder::header` (and `Headers::push`) take values holding CR LF and names that
/// are not tokens, and `build()` does not check them: the written request carries an injected
/// header (here a second Via) and does not parse back to itself. The `Headers` docs promise
/// "a value never holds CR or LF".
#[test]

fn regression_builder_header_injection() {
    let built = Request::builder(Method::Options, Uri::parse("sip:bob@b").unwrap())
        .via("UDP", "192.0.2.1", "z9hG4bK1")
        .from("<sip:a@a>", "1")
        .to("<sip:bob@b>", None)
        .call_id("c")
        .cseq(1)
        .header(
            "X-A",
            "1\r\nVia: SIP/2.0/UDP evil.example;branch=z9hG4bKevil",
        )
        .build();
    if let Ok(req) = built {
        let back = parse(req.to_bytes()).unwrap();
        assert_eq!(back.headers().count(HeaderName::Via), 1);
        assert_eq!(back, Message::Request(req));
    }
}

/// Regression (fixed): the offset of an error in a folded header value is relative to the unfolded value,
/// not to the message (`ParseError::offset` is documented as "byte offset into the parsed
/// input"): here `validate()` blames byte 2, inside the Request-Line, for the bad Max-Forwards.
#[test]

fn regression_folded_value_error_offset() {
    let text = with_header("Max-Forwards: 1\r\n 2");
    let e = parse(text.clone()).unwrap().validate().unwrap_err();
    assert_eq!(
        e.kind,
        ParseErrorKind::InvalidHeader(HeaderName::MaxForwards)
    );
    let line = text.find("Max-Forwards").unwrap();
    assert!(
        e.offset >= line,
        "offset {} before the header at {line}",
        e.offset
    );
}
