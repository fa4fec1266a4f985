//! Digest authentication: the RFC 2617 / RFC 7616 test vectors, then SIP flows through
//! parsed messages (challenge, answer, verify), stale nonces, rejections, several
//! challenges in one response, malformed input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::Bytes;
use proptest::prelude::*;
use sipline_proto::auth::{
    Algorithm, AlgorithmPreference, AuthError, AuthHeader, AuthKind, Challenge, Credentials,
    DigestClient, DigestResponse, DigestServer, MAX_STALE_RETRIES, Qop, apply_auth_headers,
};
use sipline_proto::{HeaderName, Limits, Message, Method, Request, Response, parse_message};

/// A client whose cnonces are the given strings, in turn (RFC vectors fix the cnonce).
fn client_with_cnonce(creds: Credentials, cnonce: &'static str) -> DigestClient {
    DigestClient::new(creds, b"").with_cnonce_generator(move || cnonce.to_owned())
}

fn get() -> Method {
    Method::parse("GET").unwrap()
}

// ---------------------------------------------------------------------------------------
// RFC test vectors

/// RFC 2617 §3.5.
#[test]
fn rfc2617_mufasa() {
    let ch = Challenge::parse(
        r#"Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41""#,
    )
    .unwrap();
    let mut c = client_with_cnonce(Credentials::new("Mufasa", "Circle Of Life"), "0a4f113b");
    let r = c
        .respond(AuthKind::Www, &ch, &get(), "/dir/index.html", b"")
        .unwrap();
    assert_eq!(r.response, "6629fae49393a05397450978507c4ef1");
    assert_eq!(r.qop, Some(Qop::Auth));
    assert_eq!(r.nc, Some(1));
    assert_eq!(r.cnonce.as_deref(), Some("0a4f113b"));
    assert_eq!(
        r.opaque.as_deref(),
        Some("5ccc069c403ebaf9f0171e9517f40e41")
    );
    let v = r.to_string();
    assert!(
        v.contains(r#"response="6629fae49393a05397450978507c4ef1""#),
        "{v}"
    );
    assert!(v.contains("qop=auth, nc=00000001"), "{v}");
    assert!(
        v.contains(r#"opaque="5ccc069c403ebaf9f0171e9517f40e41""#),
        "{v}"
    );
}

const RFC7616_NONCE: &str = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
const RFC7616_OPAQUE: &str = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS";
const RFC7616_CNONCE: &str = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";

fn rfc7616_challenge(algorithm: &str) -> String {
    format!(
        r#"Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={algorithm}, nonce="{RFC7616_NONCE}", opaque="{RFC7616_OPAQUE}""#
    )
}

/// RFC 7616 §3.9.1, MD5 and SHA-256.
#[test]
fn rfc7616_mufasa_md5_and_sha256() {
    for (alg, expected) in [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        (
            "SHA-256",
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
        ),
    ] {
        let ch = Challenge::parse(&rfc7616_challenge(alg)).unwrap();
        let mut c =
            client_with_cnonce(Credentials::new("Mufasa", "Circle of Life"), RFC7616_CNONCE);
        let r = c
            .respond(AuthKind::Www, &ch, &get(), "/dir/index.html", b"")
            .unwrap();
        assert_eq!(r.response, expected, "{alg}");
        assert_eq!(r.algorithm.as_str(), alg);
        assert_eq!(r.qop, Some(Qop::Auth), "auth wins over auth-int");
        assert_eq!(r.opaque.as_deref(), Some(RFC7616_OPAQUE));
        assert_eq!(DigestResponse::parse(&r.to_string()).unwrap(), r);
    }
}

/// RFC 7616 §3.9.2, SHA-512-256 with userhash.
///
/// The values printed in the RFC are wrong (RFC 7616 errata): its username hash is the
/// first half of SHA-512 (not SHA-512/256) of "Jäsøn Doe:api@example.org", and its
/// `response` (ae66e67d...) follows from neither. These are the corrected values, which
/// other implementations check too.
#[test]
fn rfc7616_sha512_256_userhash() {
    let ch = Challenge::parse(
        r#"Digest realm="api@example.org", qop="auth", algorithm=SHA-512-256, nonce="5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK", opaque="HRPCssKJSGjCrkzDg8OhwpzCiGPChXYjwrI2QmXDnsOS", charset=UTF-8, userhash=true"#,
    )
    .unwrap();
    assert!(ch.userhash);
    let mut c = client_with_cnonce(
        Credentials::new("J\u{e4}s\u{f8}n Doe", "Secret, or not?"),
        "NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v",
    );
    let r = c
        .respond(AuthKind::Www, &ch, &get(), "/doe.json", b"")
        .unwrap();
    assert_eq!(
        r.username,
        "793263caabb707a56211940d90411ea4a575adeccb7e360aeb624ed06ece9b0b"
    );
    assert_eq!(
        r.username,
        Algorithm::Sha512_256.userhash("J\u{e4}s\u{f8}n Doe", "api@example.org")
    );
    assert_eq!(
        r.response,
        "3798d4131c277846293534c3edc11bd8a5e4cdcbff78b05db9d95eeb1cec68a5"
    );
    assert!(r.userhash);
    assert!(r.to_string().ends_with(", userhash=true"));
}

// ---------------------------------------------------------------------------------------
// SIP flows

const NOW: u64 = 1_700_000_000;

fn register() -> Request {
    let raw = "REGISTER sip:biloxi.com SIP/2.0\r\n\
Via: SIP/2.0/UDP bobspc.biloxi.com:5060;branch=z9hG4bKnashds7\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.com>\r\n\
From: Bob <sip:bob@biloxi.com>;tag=456248\r\n\
Call-ID: 843817637684230@998sdasdh09\r\n\
CSeq: 1826 REGISTER\r\n\
Contact: <sip:bob@192.0.2.4>\r\n\
Expires: 7200\r\n\
Content-Length: 0\r\n\r\n";
    match parse_message(Bytes::from(raw), &Limits::default()).unwrap() {
        Message::Request(r) => r,
        Message::Response(_) => panic!("not a request"),
    }
}

/// A 401/407 to `register()` with the given challenge lines, parsed from bytes.
fn challenge_response(status: &str, header: &str, challenges: &[String]) -> Response {
    let mut raw = format!(
        "SIP/2.0 {status}\r\n\
Via: SIP/2.0/UDP bobspc.biloxi.com:5060;branch=z9hG4bKnashds7;received=192.0.2.4\r\n\
To: Bob <sip:bob@biloxi.com>;tag=2493k59kd\r\n\
From: Bob <sip:bob@biloxi.com>;tag=456248\r\n\
Call-ID: 843817637684230@998sdasdh09\r\n\
CSeq: 1826 REGISTER\r\n"
    );
    for c in challenges {
        raw.push_str(&format!("{header}: {c}\r\n"));
    }
    raw.push_str("Content-Length: 0\r\n\r\n");
    match parse_message(Bytes::from(raw), &Limits::default()).unwrap() {
        Message::Response(r) => r,
        Message::Request(_) => panic!("not a response"),
    }
}

fn unauthorized(server: &DigestServer, now: u64, stale: bool) -> Response {
    let ch: Vec<String> = server
        .challenges(now, stale)
        .iter()
        .map(ToString::to_string)
        .collect();
    challenge_response("401 Unauthorized", "WWW-Authenticate", &ch)
}

fn bob(user: &str, _hashed: bool) -> Option<Credentials> {
    (user == "bob").then(|| Credentials::new("bob", "zanzibar"))
}

/// The request resubmitted with `headers`, sent on the wire and parsed back.
fn resubmit(req: &Request, headers: &[AuthHeader]) -> Request {
    let mut next = req.clone();
    apply_auth_headers(&mut next, headers);
    match parse_message(next.to_bytes(), &Limits::default()).unwrap() {
        Message::Request(r) => r,
        Message::Response(_) => panic!(),
    }
}

#[test]
fn register_challenge_answer_verify() {
    let server = DigestServer::new("biloxi.com", b"s3cret".to_vec());
    let req = register();
    assert!(matches!(
        server.verify_request(NOW, &req, AuthKind::Www, bob),
        Err(AuthError::MissingCredentials)
    ));
    let resp = unauthorized(&server, NOW, false);
    let mut client = DigestClient::new(Credentials::new("bob", "zanzibar"), b"test seed");
    let headers = client.handle_challenge(&req, &resp).unwrap();
    assert_eq!(headers.len(), 1);
    assert_eq!(headers[0].kind, AuthKind::Www);
    assert_eq!(headers[0].realm, "biloxi.com");
    // SHA-256 is offered first and is the strongest (RFC 8760 §2.3).
    assert!(
        headers[0].value.contains("algorithm=SHA-256"),
        "{headers:?}"
    );
    assert!(headers[0].value.contains(r#"uri="sip:biloxi.com""#));

    let req2 = resubmit(&req, &headers);
    assert_eq!(req2.headers.count(HeaderName::Authorization), 1);
    let v = server
        .verify_request(NOW + 1, &req2, AuthKind::Www, bob)
        .unwrap();
    assert_eq!(v.username, "bob");
    assert_eq!(v.algorithm, Algorithm::Sha256);
    assert_eq!(v.qop, Some(Qop::Auth));
    assert_eq!(v.nc, Some(1));

    // Wrong password, tampered method or URI: rejected by the server.
    assert_eq!(
        server.verify_request(NOW + 1, &req2, AuthKind::Www, |_, _| Some(
            Credentials::new("bob", "wrong")
        )),
        Err(AuthError::WrongResponse)
    );
    let value = req2.headers.get(HeaderName::Authorization).unwrap();
    assert_eq!(
        server.verify(NOW, &Method::Invite, "sip:biloxi.com", b"", value, bob),
        Err(AuthError::WrongResponse)
    );
    assert!(matches!(
        server.verify(NOW, &Method::Register, "sip:evil.com", b"", value, bob),
        Err(AuthError::UriMismatch { .. })
    ));
    assert_eq!(
        server.verify(
            NOW,
            &Method::Register,
            "sip:biloxi.com",
            b"",
            value,
            |_, _| None
        ),
        Err(AuthError::UnknownUser("bob".into()))
    );
    // Proxy-Authorization does not count for a 401's realm.
    assert_eq!(
        server.verify_request(NOW, &req2, AuthKind::Proxy, bob),
        Err(AuthError::MissingCredentials)
    );
}

#[test]
fn nonce_count_grows_and_preemptive_authorize() {
    let server = DigestServer::new("biloxi.com", b"k".to_vec());
    let mut client = DigestClient::new(Credentials::new("bob", "zanzibar"), b"seed");
    let req = register();
    let headers = client
        .handle_challenge(&req, &unauthorized(&server, NOW, false))
        .unwrap();
    assert!(headers[0].value.contains("nc=00000001"));

    // The refresh carries credentials up front, with the next nonce count (RFC 3261 §22.3).
    let mut refresh = register();
    assert_eq!(client.authorize(&mut refresh).unwrap(), 1);
    let value = refresh.headers.get(HeaderName::Authorization).unwrap();
    assert!(value.contains("nc=00000002"), "{value}");
    assert_eq!(
        server
            .verify_request(NOW + 10, &refresh, AuthKind::Www, bob)
            .unwrap()
            .nc,
        Some(2)
    );
    // Authorizing again replaces the header for the realm rather than adding one.
    assert_eq!(client.authorize(&mut refresh).unwrap(), 1);
    assert_eq!(refresh.headers.count(HeaderName::Authorization), 1);
    assert!(
        refresh
            .headers
            .get(HeaderName::Authorization)
            .unwrap()
            .contains("nc=00000003")
    );

    // A new nonce starts again at 1.
    let ch = server.challenges(NOW + 5, false).remove(0);
    let r = client
        .respond(AuthKind::Www, &ch, &Method::Register, "sip:biloxi.com", b"")
        .unwrap();
    assert_eq!(r.nc, Some(1));
    client.clear_cache();
    assert_eq!(client.authorize(&mut register()).unwrap(), 0);
}

#[test]
fn stale_nonce_is_retried_with_the_new_nonce() {
    let server = DigestServer::new("biloxi.com", b"k".to_vec()).with_nonce_lifetime(60);
    let mut client = DigestClient::new(Credentials::new("bob", "zanzibar"), b"seed");
    let headers = client
        .handle_challenge(&register(), &unauthorized(&server, NOW, false))
        .unwrap();
    let first = resubmit(&register(), &headers);
    server
        .verify_request(NOW + 30, &first, AuthKind::Www, bob)
        .unwrap();

    // An hour later the refresh reuses the nonce: right digest, expired nonce.
    let mut refresh = register();
    client.authorize(&mut refresh).unwrap();
    let later = NOW + 3600;
    let err = server
        .verify_request(later, &refresh, AuthKind::Www, bob)
        .unwrap_err();
    assert_eq!(err, AuthError::StaleNonce);
    assert!(err.is_stale());
    // A wrong password with an expired nonce is not stale: only a right digest is.
    assert_eq!(
        server.verify_request(later, &refresh, AuthKind::Www, |_, _| Some(
            Credentials::new("bob", "nope")
        )),
        Err(AuthError::WrongResponse)
    );

    let resp = unauthorized(&server, later, err.is_stale());
    assert!(
        resp.headers
            .get(HeaderName::WwwAuthenticate)
            .unwrap()
            .contains("stale=true")
    );
    let headers = client.handle_challenge(&refresh, &resp).unwrap();
    let retry = resubmit(&refresh, &headers);
    let v = server
        .verify_request(later + 1, &retry, AuthKind::Www, bob)
        .unwrap();
    assert_eq!(v.nc, Some(1));
}

#[test]
fn a_server_that_calls_every_nonce_stale_does_not_loop_the_client() {
    let server = DigestServer::new("biloxi.com", b"k".to_vec());
    let mut client = DigestClient::new(Credentials::new("bob", "zanzibar"), b"seed");
    let mut req = register();
    let mut t = NOW;
    let headers = client
        .handle_challenge(&req, &unauthorized(&server, t, false))
        .unwrap();
    req = resubmit(&req, &headers);
    let mut retries = 0;
    loop {
        t += 1;
        match client.handle_challenge(&req, &unauthorized(&server, t, true)) {
            Ok(h) => {
                retries += 1;
                req = resubmit(&req, &h);
            }
            Err(e) => {
                assert!(matches!(e, AuthError::Rejected { .. }), "{e}");
                break;
            }
        }
        assert!(retries <= 10, "looping");
    }
    assert_eq!(retries, usize::from(MAX_STALE_RETRIES));
}

#[test]
fn wrong_password_is_rejected_not_retried_forever() {
    let server = DigestServer::new("biloxi.com", b"k".to_vec());
    let mut client = DigestClient::new(Credentials::new("bob", "wrong password"), b"seed");
    let req = register();
    let headers = client
        .handle_challenge(&req, &unauthorized(&server, NOW, false))
        .unwrap();
    let req2 = resubmit(&req, &headers);
    let err = server
        .verify_request(NOW + 1, &req2, AuthKind::Www, bob)
        .unwrap_err();
    assert_eq!(err, AuthError::WrongResponse);
    assert!(!err.is_stale());

    // The server answers with a fresh nonce, not stale: the credentials are wrong.
    let again = unauthorized(&server, NOW + 1, false);
    let e = client.handle_challenge(&req2, &again).unwrap_err();
    assert_eq!(
        e,
        AuthError::Rejected {
            kind: AuthKind::Www,
            realm: "biloxi.com".into()
        }
    );
    assert!(e.to_string().contains("biloxi.com"));

    // The same nonce again (a server with one nonce per second, or a stateless client that
    // forgot everything): rejected too.
    let same = unauthorized(&server, NOW, false);
    let mut forgetful = DigestClient::new(Credentials::new("bob", "wrong password"), b"seed");
    assert!(matches!(
        forgetful.handle_challenge(&req2, &same),
        Err(AuthError::Rejected { .. })
    ));
    // A request without credentials is always answered: it is a first challenge.
    assert!(forgetful.handle_challenge(&req, &same).is_ok());
}

#[test]
fn several_challenges_strongest_per_realm() {
    let md5 = Challenge {
        algorithm: Algorithm::Md5,
        qop: vec![Qop::Auth],
        ..Challenge::new("a.example", "na")
    };
    let sha256 = Challenge {
        algorithm: Algorithm::Sha256,
        ..md5.clone()
    };
    let b_md5 = Challenge {
        algorithm: Algorithm::Md5,
        qop: vec![Qop::Auth],
        ..Challenge::new("b.example", "nb")
    };
    let b_sha512 = Challenge {
        algorithm: Algorithm::Sha512_256Sess,
        ..b_md5.clone()
    };
    let lines = vec![
        md5.to_string(),
        r#"Basic realm="a.example""#.to_owned(),
        sha256.to_string(),
        r#"Digest realm="a.example", nonce="x", algorithm=SHA3-256"#.to_owned(),
        b_md5.to_string(),
        b_sha512.to_string(),
    ];
    let resp = challenge_response("401 Unauthorized", "WWW-Authenticate", &lines);
    let req = register();

    let mut client = DigestClient::new(Credentials::new("bob", "pw"), b"s");
    let headers = client.handle_challenge(&req, &resp).unwrap();
    let got: Vec<_> = headers
        .iter()
        .map(|h| {
            let r = DigestResponse::parse(&h.value).unwrap();
            (h.realm.clone(), r.algorithm)
        })
        .collect();
    assert_eq!(
        got,
        [
            ("a.example".to_owned(), Algorithm::Sha256),
            ("b.example".to_owned(), Algorithm::Sha512_256Sess)
        ]
    );
    // A -sess answer carries a cnonce.
    assert!(headers[1].value.contains("cnonce="));

    // In the server's order (RFC 8760 §2.4), the topmost supported one wins.
    let mut client = DigestClient::new(Credentials::new("bob", "pw"), b"s")
        .with_preference(AlgorithmPreference::ServerOrder);
    let headers = client.handle_challenge(&req, &resp).unwrap();
    assert!(headers.iter().all(|h| h.value.contains("algorithm=MD5,")));

    // Both realms applied: two Authorization headers, one per realm.
    let req2 = resubmit(&req, &headers);
    assert_eq!(req2.headers.count(HeaderName::Authorization), 2);
}

#[test]
fn proxy_challenge_uses_proxy_authorization_and_realm_credentials() {
    let proxy =
        DigestServer::new("proxy.example", b"p".to_vec()).with_algorithms(&[Algorithm::Md5]);
    let ch: Vec<String> = proxy
        .challenges(NOW, false)
        .iter()
        .map(ToString::to_string)
        .collect();
    let resp = challenge_response(
        "407 Proxy Authentication Required",
        "Proxy-Authenticate",
        &ch,
    );
    let mut client = DigestClient::new(Credentials::new("bob", "zanzibar"), b"s")
        .with_credentials(Credentials::new("bob-at-proxy", "proxy pw").for_realm("proxy.example"));
    let req = register();
    let headers = client.handle_challenge(&req, &resp).unwrap();
    assert_eq!(headers[0].kind, AuthKind::Proxy);
    assert_eq!(
        headers[0].kind.credentials_header(),
        HeaderName::ProxyAuthorization
    );
    let req2 = resubmit(&req, &headers);
    assert!(!req2.headers.contains(HeaderName::Authorization));
    let v = proxy
        .verify_request(NOW, &req2, AuthKind::Proxy, |u, _| {
            (u == "bob-at-proxy").then(|| Credentials::new("bob-at-proxy", "proxy pw"))
        })
        .unwrap();
    assert_eq!(v.username, "bob-at-proxy");

    // Only realm-restricted credentials for another realm: nothing to answer with.
    let mut other = DigestClient::new(Credentials::new("x", "y").for_realm("elsewhere"), b"s");
    assert_eq!(
        other.handle_challenge(&req, &resp),
        Err(AuthError::NoCredentials {
            realm: "proxy.example".into()
        })
    );
}

#[test]
fn apply_replaces_only_the_same_realm() {
    let mut req = register();
    req.headers.push_known(
        HeaderName::Authorization,
        r#"Digest username="a", realm="one", nonce="1", uri="sip:x", response="00""#,
    );
    req.headers.push_known(
        HeaderName::Authorization,
        r#"Digest username="a", realm="two", nonce="1", uri="sip:x", response="00""#,
    );
    let h = AuthHeader {
        kind: AuthKind::Www,
        realm: "one".into(),
        value: r#"Digest username="b", realm="one", nonce="2", uri="sip:x", response="11""#.into(),
    };
    apply_auth_headers(&mut req, std::slice::from_ref(&h));
    let values: Vec<_> = req.headers.get_all(HeaderName::Authorization).collect();
    assert_eq!(values.len(), 2);
    assert!(values[0].contains(r#"realm="two""#));
    assert_eq!(values[1], h.value);
}

#[test]
fn auth_int_when_it_is_the_only_qop() {
    let server = DigestServer::new("biloxi.com", b"k".to_vec()).with_qop(&[Qop::AuthInt]);
    let body = Bytes::from_static(b"v=0\r\no=- 1 1 IN IP4 192.0.2.4\r\n");
    let mut req = register();
    req.set_body_for_test(body.clone());
    let mut client = DigestClient::new(Credentials::new("bob", "zanzibar"), b"s");
    let headers = client
        .handle_challenge(&req, &unauthorized(&server, NOW, false))
        .unwrap();
    assert!(headers[0].value.contains("qop=auth-int"));
    let mut req2 = req.clone();
    apply_auth_headers(&mut req2, &headers);
    server
        .verify_request(NOW, &req2, AuthKind::Www, bob)
        .unwrap();
    // The body is integrity-protected.
    req2.body = Bytes::from_static(b"v=0\r\no=- 6 6 IN IP4 203.0.113.66\r\n");
    assert_eq!(
        server.verify_request(NOW, &req2, AuthKind::Www, bob),
        Err(AuthError::WrongResponse)
    );
}

#[test]
fn rfc2069_challenge_without_qop() {
    let server = DigestServer::new("biloxi.com", b"k".to_vec())
        .with_qop(&[])
        .with_algorithms(&[Algorithm::Md5]);
    let mut client = DigestClient::new(Credentials::new("bob", "zanzibar"), b"s");
    let req = register();
    let headers = client
        .handle_challenge(&req, &unauthorized(&server, NOW, false))
        .unwrap();
    let v = &headers[0].value;
    assert!(
        !v.contains("qop=") && !v.contains("nc=") && !v.contains("cnonce="),
        "{v}"
    );
    let req2 = resubmit(&req, &headers);
    let ok = server
        .verify_request(NOW, &req2, AuthKind::Www, bob)
        .unwrap();
    assert_eq!((ok.qop, ok.nc), (None, None));

    // Rejection works without nonce counts too: the same client remembers its answer.
    let e = client
        .handle_challenge(&req2, &unauthorized(&server, NOW + 1, false))
        .unwrap_err();
    assert!(matches!(e, AuthError::Rejected { .. }));
}

#[test]
fn server_options_userhash_opaque_sess() {
    for alg in Algorithm::ALL {
        let server = DigestServer::new("biloxi.com", b"k".to_vec())
            .with_algorithms(&[alg])
            .with_userhash(true)
            .with_opaque("op aque");
        let mut client = DigestClient::new(Credentials::new("bob", "zanzibar"), b"s");
        let req = register();
        let headers = client
            .handle_challenge(&req, &unauthorized(&server, NOW, false))
            .unwrap();
        let r = DigestResponse::parse(&headers[0].value).unwrap();
        assert!(r.userhash);
        assert_eq!(r.username, alg.userhash("bob", "biloxi.com"));
        assert_eq!(r.opaque.as_deref(), Some("op aque"));
        assert_eq!(r.algorithm, alg);
        let req2 = resubmit(&req, &headers);
        // A registrar finds users by their hash (RFC 7616 §3.4.4).
        let v = server
            .verify_request(NOW, &req2, AuthKind::Www, |u, hashed| {
                (hashed && u == alg.userhash("bob", "biloxi.com"))
                    .then(|| Credentials::new("bob", "zanzibar"))
            })
            .unwrap();
        assert_eq!(v.username, "bob", "{alg}");

        // Opaque not echoed, another algorithm, another realm, a forged nonce.
        let mut forged = r.clone();
        forged.opaque = None;
        let value = |r: &DigestResponse| r.to_string();
        let check = |r: &DigestResponse| {
            server.verify(
                NOW,
                &Method::Register,
                "sip:biloxi.com",
                b"",
                &value(r),
                |_, _| Some(Credentials::new("bob", "zanzibar")),
            )
        };
        assert!(matches!(
            check(&forged),
            Err(AuthError::NotOffered {
                param: "opaque",
                ..
            })
        ));
        let mut forged = r.clone();
        forged.algorithm = if alg == Algorithm::Md5 {
            Algorithm::Sha256
        } else {
            Algorithm::Md5
        };
        assert!(matches!(
            check(&forged),
            Err(AuthError::NotOffered {
                param: "algorithm",
                ..
            })
        ));
        let mut forged = r.clone();
        forged.realm = "atlanta.com".into();
        assert!(matches!(
            check(&forged),
            Err(AuthError::RealmMismatch { .. })
        ));
        for nonce in ["", "short", "ä", &format!("{:016x}{}", NOW, "0".repeat(64))] {
            let mut forged = r.clone();
            forged.nonce = nonce.to_owned();
            assert_eq!(check(&forged), Err(AuthError::InvalidNonce), "{nonce:?}");
        }
    }
}

#[test]
fn seeded_cnonces_are_deterministic_and_distinct() {
    let ch = Challenge {
        qop: vec![Qop::Auth],
        ..Challenge::new("r", "n")
    };
    let run = |seed: &[u8]| {
        let mut c = DigestClient::new(Credentials::new("u", "p"), seed);
        let a = c
            .respond(AuthKind::Www, &ch, &Method::Invite, "sip:x", b"")
            .unwrap();
        let b = c
            .respond(AuthKind::Www, &ch, &Method::Invite, "sip:x", b"")
            .unwrap();
        (a.cnonce.unwrap(), b.cnonce.unwrap())
    };
    let (a1, b1) = run(b"seed one");
    let (a2, b2) = run(b"seed one");
    let (a3, _) = run(b"seed two");
    assert_eq!((a1.clone(), b1.clone()), (a2, b2));
    assert_ne!(a1, b1);
    assert_ne!(a1, a3);
    assert_eq!(a1.len(), 32);
}

#[test]
fn not_a_challenge_and_unusable_challenges() {
    let req = register();
    let mut client = DigestClient::new(Credentials::new("bob", "pw"), b"s");
    let ok = challenge_response("200 OK", "X-Nothing", &[]);
    assert!(matches!(
        client.handle_challenge(&req, &ok),
        Err(AuthError::NotAChallenge(s)) if s.as_u16() == 200
    ));
    let none = challenge_response("401 Unauthorized", "X-Nothing", &[]);
    assert_eq!(
        client.handle_challenge(&req, &none),
        Err(AuthError::NoUsableChallenge {
            kind: AuthKind::Www,
            reason: None
        })
    );
    let bad = challenge_response(
        "401 Unauthorized",
        "WWW-Authenticate",
        &[
            r#"Digest realm="r", nonce="n", algorithm=SHA-1"#.to_owned(),
            r#"Basic realm="r""#.to_owned(),
        ],
    );
    let e = client.handle_challenge(&req, &bad).unwrap_err();
    assert!(matches!(
        &e,
        AuthError::NoUsableChallenge { reason: Some(r), .. }
            if matches!(**r, AuthError::UnsupportedAlgorithm(_))
    ));
    assert!(std::error::Error::source(&e).is_some());
    assert!(e.to_string().contains("SHA-1"), "{e}");
}

#[test]
fn malformed_challenges_are_errors() {
    for s in [
        "",
        "Digest",
        "Digest ,",
        "Digest realm=",
        "Digest realm=\"unterminated",
        "Digest realm=\"r\" nonce=\"n\"",
        "Digest realm=\"r\",, nonce=\"n\"",
        "Digest =\"r\"",
        "Digest realm=\"r\", nonce=\"n\", qop=\"\"",
        "Digest realm=\"r\", nonce=\"n\", stale=true, stale=false",
        "Digest realm=\"\\\u{e4}\", nonce=n",
        "NTLM realm=\"r\", nonce=\"n\"",
        "Digest realm=r, nonce=n, algorithm=\"\"",
    ] {
        assert!(Challenge::parse(s).is_err(), "{s:?} parsed");
    }
    for s in [
        r#"Digest username="u", realm="r", nonce="n", uri="sip:x", response="0", qop=auth, nc=00000001"#,
        r#"Digest username="u", realm="r", nonce="n", uri="sip:x", response="0", qop=auth-conf, nc=00000001, cnonce="c""#,
        r#"Digest username="u", realm="r", nonce="n", uri="sip:x", response="0", qop=auth, nc=0000000g, cnonce="c""#,
        r#"Digest username="u", realm="r", nonce="n", uri="sip:x""#,
    ] {
        assert!(DigestResponse::parse(s).is_err(), "{s:?} parsed");
    }
}

#[test]
fn usernames_that_cannot_be_quoted_are_refused() {
    let ch = Challenge::new("r", "n");
    let mut c = DigestClient::new(Credentials::new("bob\r\nX-Evil: 1", "pw"), b"s");
    assert!(matches!(
        c.respond(AuthKind::Www, &ch, &Method::Invite, "sip:x", b""),
        Err(AuthError::InvalidParam {
            name: "username",
            ..
        })
    ));
    // Quotes and backslashes are escaped and survive a round trip.
    let mut c = DigestClient::new(Credentials::new(r#"b"o\b"#, "pw"), b"s");
    let r = c
        .respond(AuthKind::Www, &ch, &Method::Invite, "sip:x", b"")
        .unwrap();
    assert_eq!(
        DigestResponse::parse(&r.to_string()).unwrap().username,
        r#"b"o\b"#
    );
    // And the password never shows in Debug output.
    assert!(!format!("{c:?}").contains("pw\""));
}

trait SetBody {
    fn set_body_for_test(&mut self, body: Bytes);
}

impl SetBody for Request {
    fn set_body_for_test(&mut self, body: Bytes) {
        self.headers.set(HeaderName::ContentType, "application/sdp");
        self.headers
            .set(HeaderName::ContentLength, body.len().to_string());
        self.body = body;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Any text: an error or a challenge, never a panic; what parses writes back the same.
    #[test]
    fn random_challenges_never_panic(s in "\\PC{0,120}") {
        if let Ok(c) = Challenge::parse(&s) {
            prop_assert_eq!(Challenge::parse(&c.to_string()).unwrap(), c);
        }
        let _ = DigestResponse::parse(&s);
    }

    /// Digest-shaped soup of known and unknown parameters, quoted or not.
    #[test]
    fn digest_shaped_challenges_never_panic(
        params in proptest::collection::vec(
            (
                prop_oneof![
                    Just("realm"), Just("nonce"), Just("qop"), Just("algorithm"), Just("stale"),
                    Just("opaque"), Just("domain"), Just("userhash"), Just("nc"), Just("x"),
                ],
                "[ -~\u{e4}]{0,12}",
                any::<bool>(),
            ),
            0..8,
        )
    ) {
        let mut s = String::from("Digest ");
        for (i, (n, v, quoted)) in params.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            if *quoted {
                s.push_str(&format!("{n}=\"{v}\""));
            } else {
                s.push_str(&format!("{n}={v}"));
            }
        }
        if let Ok(c) = Challenge::parse(&s) {
            prop_assert_eq!(Challenge::parse(&c.to_string()).unwrap(), c.clone());
            let mut client = DigestClient::new(Credentials::new("u", "p"), b"s");
            let r = client.respond(AuthKind::Www, &c, &Method::Invite, "sip:x", b"").unwrap();
            prop_assert_eq!(DigestResponse::parse(&r.to_string()).unwrap(), r);
        }
    }
}
