//! Typed header views over parsed messages: one assertion per header the message layer types,
//! including compact forms and the extension headers sipline's sessions rely on.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::Bytes;
use sipline_proto::message::ContactValue;
use sipline_proto::{HeaderName, Limits, Message, Method, ParseErrorKind, Request, parse_message};

fn req(headers: &str) -> Request {
    let raw = format!("INVITE sip:bob@example.com SIP/2.0\r\n{headers}Content-Length: 0\r\n\r\n");
    match parse_message(Bytes::from(raw), &Limits::default()).unwrap() {
        Message::Request(r) => r,
        Message::Response(_) => panic!(),
    }
}

#[test]
fn compact_forms_normalise() {
    let r = req(
        "v: SIP/2.0/UDP h;branch=z9hG4bK1\r\nf: <sip:a@x>;tag=1\r\nt: <sip:b@y>\r\ni: cid\r\n\
m: <sip:a@h>\r\ne: gzip\r\nc: text/plain\r\nk: 100rel, timer\r\ns: hi\r\no: refer;id=3\r\n\
u: refer, presence\r\nr: <sip:c@z>\r\nb: <sip:b@y>\r\nx: 1800;refresher=uac\r\n",
    );
    let names: Vec<_> = r.headers.iter().map(|f| f.name).collect();
    assert_eq!(
        names,
        [
            "Via",
            "From",
            "To",
            "Call-ID",
            "Contact",
            "Content-Encoding",
            "Content-Type",
            "Supported",
            "Subject",
            "Event",
            "Allow-Events",
            "Refer-To",
            "Referred-By",
            "Session-Expires",
            "Content-Length"
        ]
    );
    assert!(r.headers.has_option_tag(HeaderName::Supported, "TIMER"));
    assert_eq!(r.headers.get(HeaderName::Subject), Some("hi"));
}

#[test]
fn via_fields() {
    let r = req(
        "Via: SIP / 2.0 / TLS [2001:db8::1]:5061;branch=z9hG4bKabc;received=192.0.2.1;rport=5062;maddr=239.0.0.1;ttl=16\r\n",
    );
    let v = r.top_via().unwrap();
    assert_eq!((v.protocol, v.version, v.transport), ("SIP", "2.0", "TLS"));
    assert_eq!((v.host, v.port), ("[2001:db8::1]", Some(5061)));
    assert_eq!(v.branch(), Some("z9hG4bKabc"));
    assert!(v.has_magic_cookie());
    assert_eq!(v.received(), Some("192.0.2.1"));
    assert_eq!(v.rport(), Some(Some(5062)));
    assert_eq!(v.maddr(), Some("239.0.0.1"));
    assert_eq!(v.ttl(), Some(16));
    for bad in [
        "SIP/2.0/UDP",
        "SIP/2.0/UDP h;ttl=300",
        "SIP/2.0/UDP h;rport=x",
        "SIP/2.0 UDP h",
        "SIP/2.0/UDP h:99999",
    ] {
        let r = req(&format!("Via: {bad}\r\n"));
        assert_eq!(
            r.top_via().unwrap_err().kind,
            ParseErrorKind::InvalidHeader(HeaderName::Via),
            "{bad}"
        );
    }
}

#[test]
fn contacts_star_expires_q() {
    let r = req(
        "Contact: \"A\" <sip:a@h>;expires=60;q=0.7, sip:b@h;expires=0\r\nContact: <sips:c@h>\r\n",
    );
    let c: Vec<_> = r.headers.contacts().map(Result::unwrap).collect();
    assert_eq!(c.len(), 3);
    assert_eq!((c[0].expires(), c[0].q()), (Some(60), Some(0.7)));
    assert_eq!(c[1].expires(), Some(0));
    let star = req("Contact: *\r\n");
    assert!(matches!(
        star.headers.contacts().next().unwrap().unwrap(),
        ContactValue::Star
    ));
    star.headers.validate().unwrap();
}

#[test]
fn routes_and_record_routes() {
    let r = req(
        "Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\nRoute: <sip:p3;lr>\r\n",
    );
    let rr: Vec<_> = r
        .headers
        .name_addrs(HeaderName::RecordRoute)
        .map(|n| n.unwrap().uri.host().to_owned())
        .collect();
    assert_eq!(rr, ["p1.example.com", "p2.example.com"]);
    assert!(
        r.headers
            .name_addrs(HeaderName::Route)
            .next()
            .unwrap()
            .unwrap()
            .uri
            .params()
            .contains("lr")
    );
    // A Route value must be a name-addr (RFC 3261 §20.34).
    assert!(req("Route: sip:p3;lr\r\n").headers.validate().is_err());
}

#[test]
fn content_type_accept_and_lists() {
    let r = req(
        "Content-Type: application/sdp; charset=utf-8\r\nAccept: application/sdp, multipart/*;q=0.5\r\n\
Allow: INVITE, ACK, BYE\r\nRequire: 100rel\r\nUnsupported: foo\r\nExpires: 3600\r\nMax-Forwards: 70\r\n",
    );
    let ct = r.headers.content_type().unwrap().unwrap();
    assert!(ct.is("Application", "SDP"));
    assert_eq!(ct.params.value("charset"), Some("utf-8"));
    let accept: Vec<_> = r.headers.accept().map(|m| m.unwrap().sub).collect();
    assert_eq!(accept, ["sdp", "*"]);
    assert_eq!(
        r.headers.tokens(HeaderName::Allow).collect::<Vec<_>>(),
        ["INVITE", "ACK", "BYE"]
    );
    assert!(r.headers.has_option_tag(HeaderName::Require, "100rel"));
    assert_eq!(
        r.headers
            .tokens(HeaderName::Unsupported)
            .collect::<Vec<_>>(),
        ["foo"]
    );
    assert_eq!(r.headers.expires().unwrap(), Some(3600));
    assert_eq!(r.headers.max_forwards().unwrap(), Some(70));
    assert_eq!(r.headers.content_length().unwrap(), Some(0));
    r.headers.validate().unwrap();
}

#[test]
fn reliable_provisionals_refer_replaces() {
    let r = req(
        "RSeq: 988789\r\nRAck: 776656 1 INVITE\r\nRefer-To: <sip:carol@c.example.com?Replaces=12345%40h%3Bto-tag%3D1>\r\n\
Referred-By: <sip:alice@a.example.com>\r\nReplaces: 425928@bobster.example.org;to-tag=7743;from-tag=6472;early-only\r\n",
    );
    assert_eq!(r.headers.rseq().unwrap(), Some(988789));
    let rack = r.headers.rack().unwrap().unwrap();
    assert_eq!(
        (rack.rseq, rack.cseq, rack.method),
        (776656, 1, Method::Invite)
    );
    let refer_to = r.headers.refer_to().unwrap().unwrap();
    assert_eq!(
        refer_to.uri.headers(),
        Some("Replaces=12345%40h%3Bto-tag%3D1")
    );
    assert_eq!(
        r.headers.referred_by().unwrap().unwrap().uri.user(),
        Some("alice")
    );
    let rep = r.headers.replaces().unwrap().unwrap();
    assert_eq!(rep.value, "425928@bobster.example.org");
    assert_eq!(
        (rep.params.value("to-tag"), rep.params.value("from-tag")),
        (Some("7743"), Some("6472"))
    );
    assert!(rep.params.contains("early-only"));
    assert!(req("RAck: 1 INVITE\r\n").headers.rack().is_err());
    assert!(req("RSeq: 0\r\n").headers.rseq().is_err());
}

#[test]
fn events_timers_reason_agents() {
    let r = req(
        "Event: refer;id=93809824\r\nSubscription-State: active;expires=60\r\nSession-Expires: 1800;refresher=uas\r\n\
Min-SE: 90\r\nReason: SIP;cause=200;text=\"Call completed elsewhere\", Q.850;cause=16\r\nUser-Agent: sipline/0.1 (test)\r\nServer: Kamailio\r\n",
    );
    let ev = r.headers.event().unwrap().unwrap();
    assert_eq!(
        (ev.value, ev.params.value("id")),
        ("refer", Some("93809824"))
    );
    let ss = r.headers.subscription_state().unwrap().unwrap();
    assert_eq!(
        (ss.value, ss.params.value("expires")),
        ("active", Some("60"))
    );
    let se = r.headers.session_expires().unwrap().unwrap();
    assert_eq!(
        (se.seconds(), se.params.value("refresher")),
        (Some(1800), Some("uas"))
    );
    assert_eq!(r.headers.min_se().unwrap().unwrap().seconds(), Some(90));
    let reasons: Vec<_> = r.headers.reasons().map(Result::unwrap).collect();
    assert_eq!(
        reasons[0].params.value("text"),
        Some("Call completed elsewhere")
    );
    assert_eq!(
        (reasons[1].value, reasons[1].params.value("cause")),
        ("Q.850", Some("16"))
    );
    assert_eq!(r.headers.user_agent(), Some("sipline/0.1 (test)"));
    assert_eq!(r.headers.server(), Some("Kamailio"));
    r.headers.validate().unwrap();
}

#[test]
fn digest_challenges_and_credentials() {
    let r = req(
        "WWW-Authenticate: Digest realm=\"atlanta.com\", domain=\"sip:ss1.carrier.com\", qop=\"auth\", nonce=\"f84f1cec41e6cbe5aea9c8e88d359\", opaque=\"\", stale=FALSE, algorithm=MD5\r\n\
Proxy-Authenticate: Digest realm=\"b\", nonce=\"n2\", algorithm=SHA-256\r\n\
Authorization: Digest username=\"bob\", realm=\"biloxi.com\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"sip:bob@biloxi.com\", qop=auth, nc=00000001, cnonce=\"0a4f113b\", response=\"6629fae49393a05397450978507c4ef1\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"\r\n",
    );
    let www = r
        .headers
        .auths(HeaderName::WwwAuthenticate)
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(www.scheme, "Digest");
    assert_eq!(www.param("realm").as_deref(), Some("atlanta.com"));
    assert_eq!(www.param("opaque").as_deref(), Some(""));
    assert_eq!(www.param("STALE").as_deref(), Some("FALSE"));
    let pa = r
        .headers
        .auths(HeaderName::ProxyAuthenticate)
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(pa.param("algorithm").as_deref(), Some("SHA-256"));
    let auth = r
        .headers
        .auths(HeaderName::Authorization)
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(auth.param("uri").as_deref(), Some("sip:bob@biloxi.com"));
    assert_eq!(auth.param("nc").as_deref(), Some("00000001"));
    assert_eq!(auth.params().count(), 9);
    r.headers.validate().unwrap();
    assert!(
        req("Authorization: Digest username=\r\n")
            .headers
            .validate()
            .is_err()
    );
}

#[test]
fn unknown_headers_verbatim_in_order() {
    let r = req("X-B: 2\r\nx-a:1\r\nX-B: 3, 4\r\nP-Asserted-Identity: <sip:a@x>\r\n");
    let f: Vec<_> = r
        .headers
        .iter()
        .filter(|f| f.known.is_none())
        .map(|f| (f.name, f.value))
        .collect();
    assert_eq!(
        f,
        [
            ("X-B", "2"),
            ("x-a", "1"),
            ("X-B", "3, 4"),
            ("P-Asserted-Identity", "<sip:a@x>")
        ]
    );
    let wire = String::from_utf8(r.to_bytes().to_vec()).unwrap();
    assert!(wire.contains("X-B: 2\r\nx-a: 1\r\nX-B: 3, 4\r\n"), "{wire}");
}

#[test]
fn builder_checks_mandatory_headers_and_grammar() {
    use sipline_proto::{Uri, message::BuildError};
    let uri = Uri::parse("sip:bob@example.com").unwrap();
    let err = Request::builder(Method::Invite, uri.clone())
        .via("UDP", "h", "z9hG4bK1")
        .build()
        .unwrap_err();
    assert_eq!(err, BuildError::Missing(HeaderName::From));
    let bad = Request::builder(Method::Invite, uri.clone())
        .via("UDP", "h", "z9hG4bK1")
        .from("not a uri", "1")
        .to("<sip:bob@example.com>", None)
        .call_id("c")
        .cseq(1)
        .build();
    assert!(matches!(bad, Err(BuildError::Invalid(_))));
    let ok = Request::builder(Method::Invite, uri)
        .via_rport("UDP", "192.0.2.1:5060", "z9hG4bK1")
        .from("\"Alice\" <sip:alice@example.com>", "t1")
        .to("<sip:bob@example.com>", None)
        .call_id("c@h")
        .cseq(7)
        .contact("<sip:alice@192.0.2.1>")
        .body("application/sdp", &b"v=0\r\n"[..])
        .build()
        .unwrap();
    assert_eq!(ok.headers.content_length().unwrap(), Some(5));
    assert_eq!(ok.headers.cseq().unwrap().method, Method::Invite);
    assert_eq!(ok.top_via().unwrap().rport(), Some(None));
    let again = parse_message(ok.to_bytes(), &Limits::default()).unwrap();
    assert_eq!(again, Message::Request(ok));
}

#[test]
fn errors_point_into_the_message() {
    let r = req("Via: SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b:x\r\n");
    let e = r.headers.vias().nth(1).unwrap().unwrap_err();
    let wire =
        "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b:x";
    assert_eq!(e.offset, wire.find("b:x").unwrap() + 2, "{e}");
    // A non-ASCII Date of the right length is an error, not a panic.
    let d = req(&format!("Date: Mo€{}\r\n", "x".repeat(24)));
    assert_eq!(
        d.headers.validate().unwrap_err().kind,
        ParseErrorKind::InvalidHeader(HeaderName::Date)
    );
}
