//! RFC 4475 (SIP torture tests) and RFC 5118 (IPv6 torture tests): every message of both RFCs
//! as a byte-exact fixture (`tests/fixtures/`), checked against the outcome in `manifest.tsv`,
//! and the tricky values the RFCs point out asserted one by one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::Bytes;
use sipline_proto::message::{ContactValue, Scheme};
use sipline_proto::{HeaderName, Limits, Message, Method, ParseError, StatusCode, parse_message};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn load(path: &str) -> Bytes {
    Bytes::from(std::fs::read(format!("{FIXTURES}/{path}")).unwrap())
}

/// Parse then fully validate, the way a UAS checks a request before acting on it.
fn check(path: &str) -> Result<Message, ParseError> {
    let m = parse_message(load(path), &Limits::default())?;
    m.validate()?;
    Ok(m)
}

fn parsed(path: &str) -> Message {
    parse_message(load(path), &Limits::default()).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn request(path: &str) -> sipline_proto::Request {
    match parsed(path) {
        Message::Request(r) => r,
        Message::Response(_) => panic!("{path}: not a request"),
    }
}

#[test]
fn every_fixture_meets_its_manifest_outcome() {
    let manifest = std::fs::read_to_string(format!("{FIXTURES}/manifest.tsv")).unwrap();
    let mut failures = Vec::new();
    let mut n = 0;
    for line in manifest.lines().filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        // The status column may list alternatives the RFC allows, as `501/400`.
        let statuses: Vec<u16> = cols[2].split('/').map(|s| s.parse().unwrap()).collect();
        let (path, outcome, status) = (cols[0], cols[1], statuses[0]);
        n += 1;
        let r = check(path);
        let ok = match (outcome, &r) {
            ("valid", Ok(_)) => true,
            // Parseable, but the UA must refuse it: either the message layer already
            // refuses with the right status, or it parses and the UA layer answers.
            ("valid-but-reject", Ok(_)) => true,
            ("valid-but-reject", Err(e)) => statuses.contains(&e.status().as_u16()),
            ("invalid", Err(e)) => status == 0 || e.status().as_u16() == status,
            _ => false,
        };
        if !ok {
            failures.push(format!(
                "{path} ({outcome} {status}): {r:?}",
                r = r.as_ref().map(|_| "parsed")
            ));
        }
    }
    assert_eq!(n, 61, "49 RFC 4475 + 12 RFC 5118 messages");
    assert!(
        failures.is_empty(),
        "{} fixtures off:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Invalid or refused messages fail with the kind that names the actual fault.
#[test]
fn rejections_name_the_fault() {
    use sipline_proto::ParseErrorKind as K;
    let cases: &[(&str, K)] = &[
        ("rfc4475/badinv01.sip", K::InvalidHeader(HeaderName::Via)),
        ("rfc4475/clerr.sip", K::BodyTooShort),
        ("rfc4475/ncl.sip", K::InvalidContentLength),
        ("rfc4475/scalar02.sip", K::InvalidHeader(HeaderName::CSeq)),
        ("rfc4475/scalarlg.sip", K::InvalidHeader(HeaderName::CSeq)),
        ("rfc4475/quotbal.sip", K::InvalidHeader(HeaderName::To)),
        ("rfc4475/ltgtruri.sip", K::InvalidUri),
        ("rfc4475/lwsruri.sip", K::InvalidUri),
        ("rfc4475/lwsstart.sip", K::InvalidStartLine),
        ("rfc4475/trws.sip", K::InvalidStartLine),
        ("rfc4475/escruri.sip", K::InvalidUri),
        ("rfc4475/baddate.sip", K::InvalidHeader(HeaderName::Date)),
        (
            "rfc4475/regbadct.sip",
            K::InvalidHeader(HeaderName::Contact),
        ),
        ("rfc4475/badaspec.sip", K::InvalidHeader(HeaderName::To)),
        ("rfc4475/baddn.sip", K::InvalidHeader(HeaderName::From)),
        ("rfc4475/badvers.sip", K::UnsupportedVersion),
        ("rfc4475/mismatch01.sip", K::CSeqMethodMismatch),
        ("rfc4475/mismatch02.sip", K::CSeqMethodMismatch),
        ("rfc4475/bigcode.sip", K::InvalidStatusCode),
        ("rfc4475/insuf.sip", K::MissingHeader(HeaderName::To)),
        ("rfc4475/multi01.sip", K::DuplicateHeader(HeaderName::CSeq)),
        (
            "rfc4475/mcl01.sip",
            K::DuplicateHeader(HeaderName::ContentLength),
        ),
        ("rfc5118/ipv6-bad.sip", K::InvalidUri),
    ];
    for (path, kind) in cases {
        let e = check(path)
            .err()
            .unwrap_or_else(|| panic!("{path} accepted"));
        assert_eq!(e.kind, *kind, "{path}: {e}");
    }
    assert_eq!(
        check("rfc4475/badvers.sip").unwrap_err().status(),
        StatusCode::VERSION_NOT_SUPPORTED
    );
}

#[test]
fn wsinv_short_tortuous_invite() {
    let r = request("rfc4475/wsinv.sip");
    assert_eq!(r.method, Method::Invite);
    assert_eq!(
        r.uri.as_str(),
        "sip:vivekg@chair-dnrc.example.com;unknownparam"
    );
    assert_eq!(r.uri.params().get("unknownparam"), Some(None));
    let to = r.headers.to().unwrap();
    assert_eq!(to.display_name(), None);
    assert_eq!(to.uri.as_str(), "sip:vivekg@chair-dnrc.example.com");
    assert_eq!(to.tag(), Some("1918181833n"));
    let from = r.headers.from().unwrap();
    assert_eq!(from.display_name_raw(), Some(r#""J Rosenberg \\\"""#));
    assert_eq!(from.display_name().unwrap(), r#"J Rosenberg \""#);
    assert_eq!(from.uri.as_str(), "sip:jdrosen@example.com");
    assert_eq!(from.tag(), Some("98asjd8"));
    assert_eq!(r.headers.max_forwards().unwrap(), Some(68));
    let cseq = r.headers.cseq().unwrap();
    assert_eq!((cseq.seq, cseq.method), (9, Method::Invite));
    assert_eq!(r.headers.call_id().unwrap(), "wsinv.ndaksdj@192.0.2.1");
    assert_eq!(r.headers.get(HeaderName::Subject), Some(""));
    assert_eq!(
        r.headers.get_other("NewFangledHeader"),
        Some("newfangled value continued newfangled value")
    );
    assert_eq!(
        r.headers.get_other("UnknownHeaderWithUnusualValue"),
        Some(";;,,;;,;")
    );
    let route = r
        .headers
        .name_addrs(HeaderName::Route)
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(
        route.uri.as_str(),
        "sip:services.example.com;lr;unknownwith=value;unknown-no-value"
    );
    let vias: Vec<_> = r.headers.vias().map(|v| v.unwrap()).collect();
    let got: Vec<_> = vias
        .iter()
        .map(|v| (v.transport, v.host, v.branch()))
        .collect();
    assert_eq!(
        got,
        [
            ("UDP", "192.0.2.2", Some("390skdjuw")),
            ("TCP", "spindle.example.com", Some("z9hG4bK9ikj8")),
            ("UDP", "192.168.255.111", Some("z9hG4bK30239")),
        ]
    );
    let ContactValue::Addr(c) = r.headers.contacts().next().unwrap().unwrap() else {
        panic!()
    };
    assert_eq!(c.display_name().unwrap(), r#"Quoted string """#);
    assert_eq!(c.uri.as_str(), "sip:jdrosen@example.com");
    assert_eq!(c.params.value("newparam"), Some("newvalue"));
    assert_eq!(c.params.get("secondparam"), Some(None));
    assert_eq!(ContactValue::Addr(c).q(), Some(0.33));
    assert_eq!(r.headers.len(), 14);
    assert_eq!(r.body.len(), 150);
}

#[test]
fn intmeth_wide_range_of_valid_characters() {
    let r = request("rfc4475/intmeth.sip");
    assert_eq!(
        r.method.as_str(),
        "!interesting-Method0123456789_*+`.%indeed'~"
    );
    assert!(matches!(r.method, Method::Extension(_)));
    assert_eq!(
        r.uri.user(),
        Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
    );
    assert_eq!(
        r.uri.as_ref().password(),
        Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
    );
    assert_eq!(r.uri.host(), "example.com");
    assert_eq!(r.top_via().unwrap().branch(), Some("z9hG4bK-.!%66*_+`'~"));
    let to = r.headers.to().unwrap();
    assert_eq!(to.display_name().unwrap(), "BEL:\x07 NUL:\0 DEL:\x7f");
    let from = r.headers.from().unwrap();
    assert_eq!(
        from.display_name().unwrap(),
        "token1~` token2'+_ token3*%!.-"
    );
    assert_eq!(from.params.value("fromParam''~+*_!.-%"), Some("работающий"));
    assert_eq!(from.tag(), Some("_token~1'+`*%!-."));
    assert_eq!(
        r.headers.call_id().unwrap(),
        r#"intmeth.word%ZK-!.*_+'@word`~)(><:\/"][?}{"#
    );
    let cseq = r.headers.cseq().unwrap();
    assert_eq!((cseq.seq, cseq.method), (139122385, r.method.clone()));
    assert_eq!(r.headers.max_forwards().unwrap(), Some(255));
    assert_eq!(
        r.headers.get_other("extensionHeader-!.%*+_`'~"),
        Some("\u{feff}大停電")
    );
    r.validate().unwrap();
}

#[test]
fn esc01_and_escnull_escaping() {
    let r = request("rfc4475/esc01.sip");
    assert_eq!(r.uri.user(), Some("sips%3Auser%40example.com"));
    assert_eq!(
        r.uri.as_ref().user_unescaped().unwrap(),
        "sips:user@example.com"
    );
    assert_eq!(r.uri.host(), "example.net");
    assert_eq!(
        r.headers.to().unwrap().uri.user_unescaped().unwrap(),
        "user"
    );
    let from = r.headers.from().unwrap();
    assert_eq!(from.uri.user_unescaped().unwrap(), "I have spaces");
    assert_eq!(from.tag(), Some("938"));
    assert_eq!(
        r.headers.call_id().unwrap(),
        "esc01.239409asdfakjkn23onasd0-3234"
    );
    assert!(
        r.headers
            .content_type()
            .unwrap()
            .unwrap()
            .is("application", "sdp")
    );
    let ContactValue::Addr(c) = r.headers.contacts().next().unwrap().unwrap() else {
        panic!()
    };
    assert_eq!(c.uri.user_unescaped().unwrap(), "caller");
    let params: Vec<_> = c.uri.params().iter().collect();
    assert_eq!(
        params,
        [("%6C%72", None), ("n%61me", Some("v%61lue%25%34%31"))]
    );
    // Unescaped once only: %25%34%31 is "%41", not "A".
    assert_eq!(
        sipline_proto::message::uri::unescape("v%61lue%25%34%31"),
        "value%41"
    );

    let n = request("rfc4475/escnull.sip");
    let user = n
        .headers
        .to()
        .unwrap()
        .uri
        .user_unescaped()
        .unwrap()
        .into_owned();
    assert_eq!(user.as_bytes(), b"null-\0-null");
    assert_eq!(n.headers.from().unwrap().tag(), Some("839923423"));
    let users: Vec<String> = n
        .headers
        .contacts()
        .map(|c| match c.unwrap() {
            ContactValue::Addr(a) => a.uri.user_unescaped().unwrap().into_owned(),
            ContactValue::Star => panic!(),
        })
        .collect();
    assert_eq!(users, ["\0", "\0\0"]);
    assert_eq!(n.headers.content_length().unwrap(), Some(0));
}

#[test]
fn lwsdisp_longreq_semiuri_transports() {
    let r = request("rfc4475/lwsdisp.sip");
    let from = r.headers.from().unwrap();
    assert_eq!(from.display_name().unwrap(), "caller");
    assert_eq!(
        (from.uri.as_str(), from.tag()),
        ("sip:caller@example.com", Some("323"))
    );

    let r = request("rfc4475/longreq.sip");
    let to = r.headers.to().unwrap();
    let want = format!("I have a user name of {} proportion", "extreme".repeat(10));
    assert_eq!(to.display_name().unwrap(), want);
    assert_eq!(to.uri.port(), Some(6000));
    let long = format!("very{}value", "long".repeat(20));
    assert_eq!(to.uri.params().value("unknownparam1"), Some(long.as_str()));
    let from = r.headers.from().unwrap();
    assert_eq!(
        from.uri.user(),
        Some("amazinglylongcallername".repeat(5).as_str())
    );
    assert_eq!(
        from.tag(),
        Some(format!("12{}424", "982".repeat(50)).as_str())
    );
    assert_eq!(
        r.headers.call_id().unwrap(),
        format!("longreq.one{}longcallid", "really".repeat(20))
    );
    assert_eq!(r.headers.vias().count(), 34);
    let last = r.headers.vias().last().unwrap().unwrap();
    assert_eq!(last.received(), Some("192.0.2.5"));
    assert_eq!(
        last.branch(),
        Some(format!("very{}branchvalue", "long".repeat(50)).as_str())
    );
    assert_eq!(r.body.len(), 150);

    let r = request("rfc4475/semiuri.sip");
    assert_eq!(
        r.uri.as_ref().user_unescaped().unwrap(),
        "user;par=u@example.net"
    );
    assert_eq!(r.uri.host(), "example.com");
    assert!(r.uri.params().is_empty());
    let accept: Vec<_> = r.headers.values(HeaderName::Accept).collect();
    assert_eq!(
        accept,
        [
            "application/sdp",
            "application/pkcs7-mime",
            "multipart/mixed",
            "multipart/signed",
            "message/sip",
            "message/sipfrag"
        ]
    );

    let r = request("rfc4475/transports.sip");
    let t: Vec<_> = r.headers.vias().map(|v| v.unwrap().transport).collect();
    assert_eq!(t, ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]);
    assert_eq!(
        r.headers.call_id().unwrap(),
        "transports.kijh4akdnaqjkwendsasfdj"
    );
}

#[test]
fn dblreq_mpart01_reasons() {
    // One datagram: the REGISTER; the bytes after its Content-Length are ignored.
    let r = request("rfc4475/dblreq.sip");
    assert_eq!(r.method, Method::Register);
    assert!(r.body.is_empty());
    assert_eq!(
        r.headers.call_id().unwrap(),
        "dblreq.0ha0isndaksdj99sdfafnl3lk233412"
    );

    let r = request("rfc4475/mpart01.sip");
    assert_eq!(r.body.len(), 553);
    assert_eq!(
        r.body.iter().filter(|&&b| b == 0).count(),
        2,
        "two NULs in the binary part"
    );
    let ct = r.headers.content_type().unwrap().unwrap();
    assert!(ct.is("multipart", "mixed"));
    assert_eq!(ct.params.value("boundary"), Some("7a9cbec02ceef655"));
    assert_eq!(r.top_via().unwrap().rport(), Some(None));

    let Message::Response(u) = parsed("rfc4475/unreason.sip") else {
        panic!()
    };
    assert_eq!(u.status, StatusCode::OK);
    assert!(
        u.reason
            .starts_with("= 2**3 * 5**2 но сто девяносто девять")
    );
    let Message::Response(n) = parsed("rfc4475/noreason.sip") else {
        panic!()
    };
    assert_eq!((n.status, &*n.reason), (StatusCode::TRYING, ""));
}

#[test]
fn contact_params_badbranch_zeromf_inv2543() {
    let contact = |p: &str| {
        let r = request(p);
        let ContactValue::Addr(c) = r.headers.contacts().next().unwrap().unwrap() else {
            panic!()
        };
        (
            c.uri.params().contains("unknownparam"),
            c.params.contains("unknownparam"),
            c.uri.headers().map(str::to_owned),
        )
    };
    // Without <>, ;unknownparam belongs to the header; with <>, to the URI.
    assert_eq!(contact("rfc4475/cparam01.sip"), (false, true, None));
    assert_eq!(contact("rfc4475/cparam02.sip"), (true, false, None));
    assert_eq!(
        contact("rfc4475/regescrt.sip").2.as_deref(),
        Some("Route=%3Csip:sip.example.com%3E")
    );

    let v = request("rfc4475/badbranch.sip");
    assert_eq!(v.top_via().unwrap().branch(), Some("z9hG4bK"));
    assert_eq!(
        request("rfc4475/zeromf.sip")
            .headers
            .max_forwards()
            .unwrap(),
        Some(0)
    );

    let r = request("rfc4475/inv2543.sip");
    let via = r.top_via().unwrap();
    assert_eq!((via.branch(), via.has_magic_cookie()), (None, false));
    assert_eq!(r.headers.from().unwrap().tag(), None);
    assert_eq!(r.headers.max_forwards().unwrap(), None);
    assert_eq!(r.headers.content_length().unwrap(), None);
    assert_eq!(
        r.body.len(),
        105,
        "no Content-Length over UDP: the body is the rest"
    );
    let to = r.headers.to().unwrap();
    assert_eq!(to.params.value("user"), Some("phone"));
    assert!(!to.uri.params().contains("user"));
}

#[test]
fn rfc5118_ipv6() {
    let r = request("rfc5118/ipv6-good.sip");
    assert_eq!(r.uri.host(), "[2001:db8::10]");
    assert_eq!(r.top_via().unwrap().host, "[2001:db8::9:1]");

    let amb = request("rfc5118/port-ambiguous.sip");
    assert_eq!(
        (amb.uri.host(), amb.uri.port()),
        ("[2001:db8::10:5070]", None)
    );
    let unamb = request("rfc5118/port-unambiguous.sip");
    assert_eq!(
        (unamb.uri.host(), unamb.uri.port()),
        ("[2001:db8::10]", Some(5070))
    );

    let d = request("rfc5118/via-received-param-with-delim.sip");
    assert_eq!(d.top_via().unwrap().received(), Some("[2001:db8::9:255]"));
    let n = request("rfc5118/via-received-param-no-delim.sip");
    let via = n.top_via().unwrap();
    assert_eq!(
        (via.received(), via.branch()),
        (Some("2001:db8::9:255"), Some("z9hG4bKas3"))
    );

    let m = parsed("rfc5118/mult-ip-in-header.sip");
    let vias: Vec<_> = m.headers().vias().map(|v| v.unwrap()).collect();
    assert_eq!(
        (vias[0].host, vias[0].port),
        ("[2001:db8::9:1]", Some(6050))
    );
    assert_eq!(vias[1].host, "192.0.2.1");
    assert_eq!(
        (vias[2].transport, vias[2].received()),
        ("TCP", Some("192.0.2.200"))
    );

    let m = request("rfc5118/ipv4-mapped-ipv6.sip");
    assert_eq!(m.top_via().unwrap().host, "[::ffff:192.0.2.10]");

    let three = request("rfc5118/ipv6-bug-abnf-3-colons.sip");
    assert_eq!(three.uri.host(), "[2001:db8:::192.0.2.1]");
    assert_eq!(three.uri.scheme(), Scheme::Sip);
    let two = request("rfc5118/ipv6-correct-abnf-2-colons.sip");
    assert_eq!(two.uri.host(), "[2001:db8::192.0.2.1]");
}
