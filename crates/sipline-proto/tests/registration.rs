//! The REGISTER client (RFC 3261 §10.2) against literal registrar responses parsed with
//! `parse_message`: success, refresh timing, digest challenges verified by `DigestServer`,
//! 423 Min-Expires, failures, unregistration, the granted expiry, malformed 2xx.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use sipline_proto::auth::{AuthError, AuthKind, Credentials, DigestResponse, DigestServer};
use sipline_proto::registration::{
    DEFAULT_REFRESH_MARGIN, FailureReason, MAX_AUTH_RETRIES, RegisterParams, Registration,
    RegistrationError, RegistrationState, RegistrationStep,
};
use sipline_proto::{
    HeaderName, Limits, Message, Method, Request, Response, StatusCode, Uri, parse_message,
};

const CALL_ID: &str = "843817637684230@998sdasdh09";
const TAG: &str = "456248";
const SERVER_NOW: u64 = 1_700_000_000;

fn params() -> RegisterParams {
    // RFC 3261 §10.2's example: Bob registers at biloxi.com.
    RegisterParams::new(
        Uri::parse("sip:registrar.biloxi.com").unwrap(),
        "Bob <sip:bob@biloxi.com>",
        "<sip:bob@192.0.2.4>",
    )
}

fn registration(p: RegisterParams) -> Registration {
    Registration::new(p, CALL_ID.into(), TAG.into()).unwrap()
}

fn parse_response(raw: String) -> Response {
    match parse_message(Bytes::from(raw), &Limits::default()).unwrap() {
        Message::Response(r) => r,
        Message::Request(_) => panic!("not a response"),
    }
}

/// A registrar's response to `req`: status line, the copied headers, then `extra` lines.
fn reply(req: &Request, status: &str, extra: &[&str]) -> Response {
    let h = &req.headers;
    let mut raw = format!(
        "SIP/2.0 {status}\r\n\
         Via: SIP/2.0/UDP bobspc.biloxi.com:5060;branch=z9hG4bKnashds7;received=192.0.2.4\r\n\
         To: {};tag=2493k59kd\r\n\
         From: {}\r\n\
         Call-ID: {}\r\n\
         CSeq: {}\r\n",
        h.get(HeaderName::To).unwrap(),
        h.get(HeaderName::From).unwrap(),
        h.get(HeaderName::CallId).unwrap(),
        h.get(HeaderName::CSeq).unwrap(),
    );
    for l in extra {
        raw.push_str(l);
        raw.push_str("\r\n");
    }
    raw.push_str("Content-Length: 0\r\n\r\n");
    parse_response(raw)
}

fn retry(step: RegistrationStep) -> Request {
    match step {
        RegistrationStep::Retry(r) => r,
        other => panic!("expected a retry, got {other:?}"),
    }
}

fn cseq(req: &Request) -> u32 {
    req.headers.cseq().unwrap().seq
}

#[test]
fn register_builds_the_request_of_rfc3261_10_2() {
    let mut reg = registration(params());
    let t0 = Instant::now();
    let req = reg.register(t0).unwrap();
    assert_eq!(req.method, Method::Register);
    assert_eq!(req.uri.as_str(), "sip:registrar.biloxi.com");
    assert_eq!(
        req.headers.get(HeaderName::From),
        Some("Bob <sip:bob@biloxi.com>;tag=456248")
    );
    assert_eq!(
        req.headers.get(HeaderName::To),
        Some("Bob <sip:bob@biloxi.com>")
    );
    assert_eq!(req.headers.get(HeaderName::CallId), Some(CALL_ID));
    assert_eq!(req.headers.get(HeaderName::CSeq), Some("1 REGISTER"));
    assert_eq!(
        req.headers.get(HeaderName::Contact),
        Some("<sip:bob@192.0.2.4>;expires=600")
    );
    assert_eq!(req.headers.get(HeaderName::Expires), Some("600"));
    assert_eq!(req.headers.max_forwards().unwrap(), Some(70));
    assert_eq!(req.headers.content_length().unwrap(), Some(0));
    // No Via: the core adds it (with a new branch for each request).
    assert!(!req.headers.contains(HeaderName::Via));
    assert_eq!(reg.state(), &RegistrationState::Registering);
    assert!(reg.is_pending());
}

#[test]
fn successful_register_reads_a_literal_200() {
    let mut reg = registration(params());
    let t0 = Instant::now();
    let req = reg.register(t0).unwrap();
    // RFC 3261 §24.1-style 200 OK, written out in full.
    let raw = "SIP/2.0 200 OK\r\n\
        Via: SIP/2.0/UDP bobspc.biloxi.com:5060;branch=z9hG4bKnashds7;received=192.0.2.4\r\n\
        To: Bob <sip:bob@biloxi.com>;tag=2493k59kd\r\n\
        From: Bob <sip:bob@biloxi.com>;tag=456248\r\n\
        Call-ID: 843817637684230@998sdasdh09\r\n\
        CSeq: 1 REGISTER\r\n\
        Contact: <sip:bob@192.0.2.4>;expires=7200\r\n\
        Expires: 7200\r\n\
        Content-Length: 0\r\n\r\n";
    let ok = parse_response(raw.to_owned());
    assert_eq!(cseq(&req), 1);
    let step = reg.on_response(t0 + Duration::from_millis(80), &ok);
    assert_eq!(
        step,
        RegistrationStep::Registered {
            expires: 7200,
            contacts: vec!["<sip:bob@192.0.2.4>;expires=7200".into()],
        }
    );
    assert_eq!(
        reg.state(),
        &RegistrationState::Registered {
            expires: 7200,
            contacts: vec!["<sip:bob@192.0.2.4>;expires=7200".into()],
        }
    );
    assert!(!reg.is_pending());
    // Counted from when the REGISTER was built, not from when the 200 arrived.
    assert_eq!(reg.expires_at(), Some(t0 + Duration::from_secs(7200)));
    assert_eq!(reg.refresh_at(), Some(t0 + Duration::from_secs(7200 - 32)));
    // A retransmitted 200 changes nothing.
    assert_eq!(reg.on_response(t0, &ok), RegistrationStep::Ignore);
}

#[test]
fn refresh_timing_is_timer_f_before_expiry_or_half_way() {
    for (granted, refresh_after) in [(600, 568), (3600, 3568), (64, 32), (60, 30), (10, 5)] {
        let mut reg = registration(params());
        let t0 = Instant::now();
        let req = reg.register(t0).unwrap();
        let contact = format!("Contact: <sip:bob@192.0.2.4>;expires={granted}");
        let step = reg.on_response(t0, &reply(&req, "200 OK", &[&contact]));
        assert!(matches!(step, RegistrationStep::Registered { expires, .. } if expires == granted));
        assert_eq!(
            reg.refresh_at(),
            Some(t0 + Duration::from_secs(refresh_after)),
            "granted {granted}"
        );
    }
    // The margin is a parameter.
    let mut p = params();
    p.refresh_margin = Duration::from_secs(3);
    let mut reg = registration(p);
    let t0 = Instant::now();
    let req = reg.register(t0).unwrap();
    reg.on_response(
        t0,
        &reply(
            &req,
            "200 OK",
            &["Contact: <sip:bob@192.0.2.4>;expires=600"],
        ),
    );
    assert_eq!(reg.refresh_at(), Some(t0 + Duration::from_secs(597)));
    assert_eq!(DEFAULT_REFRESH_MARGIN, Duration::from_secs(32));
}

#[test]
fn refreshes_reuse_call_id_and_increment_cseq() {
    let mut reg = registration(params());
    let mut now = Instant::now();
    for n in 1..=4u32 {
        let req = reg.register(now).unwrap();
        assert_eq!(req.headers.get(HeaderName::CallId), Some(CALL_ID));
        assert_eq!(cseq(&req), n);
        assert_eq!(
            req.headers.from().unwrap().tag(),
            Some(TAG),
            "the From tag stays too"
        );
        if n > 1 {
            // During a refresh the binding still holds.
            assert!(matches!(reg.state(), RegistrationState::Registered { .. }));
        }
        let step = reg.on_response(
            now,
            &reply(
                &req,
                "200 OK",
                &["Contact: <sip:bob@192.0.2.4>;expires=600"],
            ),
        );
        assert!(matches!(step, RegistrationStep::Registered { .. }));
        now = reg.refresh_at().unwrap();
    }
    assert_eq!(reg.cseq(), 4);
}

#[test]
fn a_second_register_waits_for_the_first() {
    let mut reg = registration(params());
    let t0 = Instant::now();
    let req = reg.register(t0).unwrap();
    assert_eq!(
        reg.register(t0).unwrap_err(),
        RegistrationError::Pending { cseq: 1 }
    );
    assert!(matches!(
        reg.unregister(t0),
        Err(RegistrationError::Pending { .. })
    ));
    // A provisional response keeps it outstanding.
    assert_eq!(
        reg.on_response(t0, &reply(&req, "100 Trying", &[])),
        RegistrationStep::Ignore
    );
    assert!(reg.is_pending());
}

#[test]
fn unrelated_responses_are_ignored() {
    let mut reg = registration(params());
    let t0 = Instant::now();
    let first = reg.register(t0).unwrap();
    let ok = reply(
        &first,
        "200 OK",
        &["Contact: <sip:bob@192.0.2.4>;expires=600"],
    );
    // Another Call-ID.
    let mut other = first.clone();
    other.headers.set(HeaderName::CallId, "someone-else");
    assert_eq!(
        reg.on_response(
            t0,
            &reply(&other, "200 OK", &["Contact: <sip:bob@192.0.2.4>"])
        ),
        RegistrationStep::Ignore
    );
    assert!(matches!(
        reg.on_response(t0, &ok),
        RegistrationStep::Registered { .. }
    ));
    // A late response to an older CSeq after the refresh went out.
    let refresh = reg.register(t0).unwrap();
    assert_eq!(reg.on_response(t0, &ok), RegistrationStep::Ignore);
    assert!(reg.is_pending());
    let ok2 = reply(
        &refresh,
        "200 OK",
        &["Contact: <sip:bob@192.0.2.4>;expires=600"],
    );
    assert!(matches!(
        reg.on_response(t0, &ok2),
        RegistrationStep::Registered { .. }
    ));
}

#[test]
fn challenge_401_then_200_with_verified_authorization() {
    let server = DigestServer::new("biloxi.com", b"registrar secret".to_vec());
    let lookup =
        |user: &str, _hashed: bool| (user == "bob").then(|| Credentials::new("bob", "zanzibar"));
    let mut p = params();
    p.credentials = Some(Credentials::new("bob", "zanzibar"));
    let mut reg = registration(p);
    let t0 = Instant::now();
    let first = reg.register(t0).unwrap();
    assert!(!first.headers.contains(HeaderName::Authorization));

    let challenge = format!(
        "WWW-Authenticate: {}",
        server.challenges(SERVER_NOW, false)[0]
    );
    let unauthorized = reply(&first, "401 Unauthorized", &[&challenge]);
    let second = retry(reg.on_response(t0, &unauthorized));
    // Same request, credentials added, CSeq + 1 (RFC 3261 §22.2, §8.1.3.5).
    assert_eq!(cseq(&second), 2);
    assert_eq!(second.headers.get(HeaderName::CallId), Some(CALL_ID));
    assert_eq!(
        second.headers.get(HeaderName::Contact),
        first.headers.get(HeaderName::Contact)
    );
    assert!(!second.headers.contains(HeaderName::Via));
    let verified = server
        .verify_request(SERVER_NOW + 1, &second, AuthKind::Www, lookup)
        .unwrap();
    assert_eq!(verified.username, "bob");
    assert_eq!(reg.state(), &RegistrationState::Registering);

    let step = reg.on_response(
        t0,
        &reply(
            &second,
            "200 OK",
            &["Contact: <sip:bob@192.0.2.4>;expires=600"],
        ),
    );
    assert!(matches!(
        step,
        RegistrationStep::Registered { expires: 600, .. }
    ));

    // The refresh carries credentials for the cached challenge up front, nonce count 2
    // (RFC 3261 §22.3), and the registrar accepts them.
    let refresh = reg.register(reg.refresh_at().unwrap()).unwrap();
    assert_eq!(cseq(&refresh), 3);
    let auth =
        DigestResponse::parse(refresh.headers.get(HeaderName::Authorization).unwrap()).unwrap();
    assert_eq!(auth.nc, Some(2));
    server
        .verify_request(SERVER_NOW + 300, &refresh, AuthKind::Www, lookup)
        .unwrap();
}

#[test]
fn proxy_407_is_answered_with_proxy_authorization() {
    let server = DigestServer::new("proxy.biloxi.com", b"proxy secret".to_vec());
    let mut p = params();
    p.credentials = Some(Credentials::new("bob", "zanzibar"));
    let mut reg = registration(p);
    let t0 = Instant::now();
    let first = reg.register(t0).unwrap();
    let challenge = format!(
        "Proxy-Authenticate: {}",
        server.challenges(SERVER_NOW, false)[0]
    );
    let second = retry(reg.on_response(
        t0,
        &reply(&first, "407 Proxy Authentication Required", &[&challenge]),
    ));
    assert!(second.headers.contains(HeaderName::ProxyAuthorization));
    assert!(!second.headers.contains(HeaderName::Authorization));
    server
        .verify_request(SERVER_NOW, &second, AuthKind::Proxy, |_, _| {
            Some(Credentials::new("bob", "zanzibar"))
        })
        .unwrap();
}

#[test]
fn wrong_password_fails_on_the_second_challenge() {
    let server = DigestServer::new("biloxi.com", b"registrar secret".to_vec());
    let mut p = params();
    p.credentials = Some(Credentials::new("bob", "wrong"));
    let mut reg = registration(p);
    let t0 = Instant::now();
    let first = reg.register(t0).unwrap();
    let challenge = format!(
        "WWW-Authenticate: {}",
        server.challenges(SERVER_NOW, false)[0]
    );
    let second = retry(reg.on_response(t0, &reply(&first, "401 Unauthorized", &[&challenge])));
    assert!(
        server
            .verify_request(SERVER_NOW, &second, AuthKind::Www, |_, _| {
                Some(Credentials::new("bob", "zanzibar"))
            })
            .is_err()
    );
    // The registrar challenges again with a fresh nonce (not stale): give up.
    let challenge = format!(
        "WWW-Authenticate: {}",
        server.challenges(SERVER_NOW + 1, false)[0]
    );
    let step = reg.on_response(t0, &reply(&second, "401 Unauthorized", &[&challenge]));
    match step {
        RegistrationStep::Failed {
            status,
            reason: FailureReason::Auth(AuthError::Rejected { realm, .. }),
            ..
        } => {
            assert_eq!(status, Some(StatusCode::UNAUTHORIZED));
            assert_eq!(realm, "biloxi.com");
        }
        other => panic!("expected an auth failure, got {other:?}"),
    }
    assert!(matches!(
        reg.state(),
        RegistrationState::Failed {
            reason: FailureReason::Auth(_),
            ..
        }
    ));
    assert!(!reg.is_pending());
    assert_eq!(reg.refresh_at(), None);
}

#[test]
fn stale_nonce_is_retried() {
    let server = DigestServer::new("biloxi.com", b"registrar secret".to_vec());
    let mut p = params();
    p.credentials = Some(Credentials::new("bob", "zanzibar"));
    let mut reg = registration(p);
    let t0 = Instant::now();
    let first = reg.register(t0).unwrap();
    let ch = format!(
        "WWW-Authenticate: {}",
        server.challenges(SERVER_NOW, false)[0]
    );
    let second = retry(reg.on_response(t0, &reply(&first, "401 Unauthorized", &[&ch])));
    let stale = format!(
        "WWW-Authenticate: {}",
        server.challenges(SERVER_NOW + 400, true)[0]
    );
    let third = retry(reg.on_response(t0, &reply(&second, "401 Unauthorized", &[&stale])));
    assert_eq!(cseq(&third), 3);
    server
        .verify_request(SERVER_NOW + 401, &third, AuthKind::Www, |_, _| {
            Some(Credentials::new("bob", "zanzibar"))
        })
        .unwrap();
}

#[test]
fn challenges_are_capped() {
    let server = DigestServer::new("biloxi.com", b"registrar secret".to_vec());
    let mut p = params();
    p.credentials = Some(Credentials::new("bob", "zanzibar"));
    let mut reg = registration(p);
    let t0 = Instant::now();
    let mut req = reg.register(t0).unwrap();
    let mut steps = 0;
    // A registrar that calls every nonce stale.
    loop {
        let stale = format!(
            "WWW-Authenticate: {}",
            server.challenges(SERVER_NOW + steps, steps > 0)[0]
        );
        match reg.on_response(t0, &reply(&req, "401 Unauthorized", &[&stale])) {
            RegistrationStep::Retry(r) => req = r,
            RegistrationStep::Failed { .. } => break,
            other => panic!("{other:?}"),
        }
        steps += 1;
        assert!(
            steps <= u64::from(MAX_AUTH_RETRIES),
            "no end to the retries"
        );
    }
}

#[test]
fn challenge_without_credentials_fails() {
    let server = DigestServer::new("biloxi.com", b"registrar secret".to_vec());
    let mut reg = registration(params());
    let t0 = Instant::now();
    let first = reg.register(t0).unwrap();
    let ch = format!(
        "WWW-Authenticate: {}",
        server.challenges(SERVER_NOW, false)[0]
    );
    let step = reg.on_response(t0, &reply(&first, "401 Unauthorized", &[&ch]));
    match step {
        RegistrationStep::Failed {
            reason: FailureReason::Auth(AuthError::NoCredentials { realm }),
            ..
        } => assert_eq!(realm, "biloxi.com"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn interval_too_brief_retries_with_min_expires() {
    let mut p = params();
    p.expires = 60;
    let mut reg = registration(p);
    let t0 = Instant::now();
    let first = reg.register(t0).unwrap();
    let step = reg.on_response(
        t0,
        &reply(&first, "423 Interval Too Brief", &["Min-Expires: 1800"]),
    );
    let second = retry(step);
    assert_eq!(cseq(&second), 2);
    assert_eq!(second.headers.get(HeaderName::Expires), Some("1800"));
    assert_eq!(
        second.headers.get(HeaderName::Contact),
        Some("<sip:bob@192.0.2.4>;expires=1800")
    );
    assert_eq!(reg.requested_expires(), 1800);
    // A registrar that insists without raising the minimum: fail rather than loop.
    let step = reg.on_response(
        t0,
        &reply(&second, "423 Interval Too Brief", &["Min-Expires: 1800"]),
    );
    assert!(matches!(
        step,
        RegistrationStep::Failed {
            reason: FailureReason::IntervalTooBrief {
                min_expires: Some(1800)
            },
            ..
        }
    ));
    // Later registrations keep asking for the minimum (RFC 3261 §10.2.8).
    let third = reg.register(t0).unwrap();
    assert_eq!(third.headers.get(HeaderName::Expires), Some("1800"));
}

#[test]
fn interval_too_brief_without_min_expires_fails() {
    let mut reg = registration(params());
    let t0 = Instant::now();
    let first = reg.register(t0).unwrap();
    let step = reg.on_response(t0, &reply(&first, "423 Interval Too Brief", &[]));
    assert!(matches!(
        step,
        RegistrationStep::Failed {
            status: Some(StatusCode::INTERVAL_TOO_BRIEF),
            reason: FailureReason::IntervalTooBrief { min_expires: None },
            ..
        }
    ));
}

#[test]
fn forbidden_fails() {
    let mut reg = registration(params());
    let t0 = Instant::now();
    let first = reg.register(t0).unwrap();
    let step = reg.on_response(t0, &reply(&first, "403 Forbidden", &[]));
    assert_eq!(
        step,
        RegistrationStep::Failed {
            status: Some(StatusCode::FORBIDDEN),
            reason: FailureReason::Rejected {
                phrase: "Forbidden".into()
            },
            retry_after: None,
        }
    );
    assert_eq!(
        reg.state(),
        &RegistrationState::Failed {
            status: Some(StatusCode::FORBIDDEN),
            reason: FailureReason::Rejected {
                phrase: "Forbidden".into()
            },
        }
    );
    // The caller may try again later: the next REGISTER continues the CSeq.
    assert_eq!(cseq(&reg.register(t0).unwrap()), 2);
}

#[test]
fn service_unavailable_reports_retry_after() {
    let mut reg = registration(params());
    let t0 = Instant::now();
    let first = reg.register(t0).unwrap();
    let step = reg.on_response(
        t0,
        &reply(
            &first,
            "503 Service Unavailable",
            &["Retry-After: 120;duration=10"],
        ),
    );
    assert!(matches!(
        step,
        RegistrationStep::Failed {
            status: Some(StatusCode::SERVICE_UNAVAILABLE),
            retry_after: Some(120),
            ..
        }
    ));
}

#[test]
fn failed_refresh_drops_the_registered_state() {
    let mut reg = registration(params());
    let t0 = Instant::now();
    let first = reg.register(t0).unwrap();
    reg.on_response(
        t0,
        &reply(&first, "200 OK", &["Contact: <sip:bob@192.0.2.4>"]),
    );
    reg.register(reg.refresh_at().unwrap()).unwrap();
    let step = reg.on_timeout(t0);
    assert!(matches!(
        step,
        RegistrationStep::Failed {
            status: None,
            reason: FailureReason::Timeout,
            ..
        }
    ));
    assert_eq!(reg.refresh_at(), None);
    assert_eq!(reg.on_timeout(t0), RegistrationStep::Ignore);
    reg.register(t0).unwrap();
    let step = reg.on_failure(t0, "connection refused");
    assert!(matches!(
        step,
        RegistrationStep::Failed {
            reason: FailureReason::Transport(ref e),
            ..
        } if e == "connection refused"
    ));
}

#[test]
fn unregister_sends_expires_zero() {
    let mut reg = registration(params());
    let t0 = Instant::now();
    let first = reg.register(t0).unwrap();
    reg.on_response(
        t0,
        &reply(
            &first,
            "200 OK",
            &["Contact: <sip:bob@192.0.2.4>;expires=600"],
        ),
    );
    let bye = reg.unregister(t0).unwrap();
    assert_eq!(cseq(&bye), 2);
    assert_eq!(bye.headers.get(HeaderName::CallId), Some(CALL_ID));
    assert_eq!(
        bye.headers.get(HeaderName::Contact),
        Some("<sip:bob@192.0.2.4>;expires=0")
    );
    assert_eq!(bye.headers.get(HeaderName::Expires), Some("0"));
    assert_eq!(reg.state(), &RegistrationState::Unregistering);
    assert_eq!(reg.refresh_at(), None);
    // The registrar lists no binding left (RFC 3261 §10.3 step 8).
    let step = reg.on_response(t0, &reply(&bye, "200 OK", &[]));
    assert_eq!(step, RegistrationStep::Unregistered);
    assert_eq!(reg.state(), &RegistrationState::Unregistered);
    assert_eq!(reg.expires_at(), None);
}

#[test]
fn unregister_all_uses_the_star_contact() {
    let mut reg = registration(params());
    let t0 = Instant::now();
    let req = reg.unregister_all(t0).unwrap();
    assert_eq!(req.headers.get(HeaderName::Contact), Some("*"));
    assert_eq!(req.headers.get(HeaderName::Expires), Some("0"));
    assert_eq!(req.headers.count(HeaderName::Contact), 1);
    // 401 on an unregistration is answered too (the retry keeps `Contact: *`).
    let server = DigestServer::new("biloxi.com", b"s".to_vec());
    let mut p = params();
    p.credentials = Some(Credentials::new("bob", "zanzibar"));
    let mut reg = registration(p);
    let req = reg.unregister_all(t0).unwrap();
    let ch = format!(
        "WWW-Authenticate: {}",
        server.challenges(SERVER_NOW, false)[0]
    );
    let again = retry(reg.on_response(t0, &reply(&req, "401 Unauthorized", &[&ch])));
    assert_eq!(again.headers.get(HeaderName::Contact), Some("*"));
    assert!(again.headers.contains(HeaderName::Authorization));
    assert_eq!(
        reg.on_response(t0, &reply(&again, "200 OK", &[])),
        RegistrationStep::Unregistered
    );
}

#[test]
fn expiry_comes_from_our_contact_then_the_expires_header() {
    let cases: &[(&[&str], u32)] = &[
        // Contact parameter wins over the header (RFC 3261 §10.2.4).
        (
            &["Contact: <sip:bob@192.0.2.4>;expires=1200", "Expires: 3600"],
            1200,
        ),
        // No parameter: the Expires header.
        (&["Contact: <sip:bob@192.0.2.4>", "Expires: 900"], 900),
        // Neither: the interval we asked for.
        (&["Contact: <sip:bob@192.0.2.4>"], 600),
        // Several bindings: ours, not another UA's.
        (
            &[
                "Contact: <sip:bob@198.51.100.7>;expires=30, <sip:bob@192.0.2.4>;expires=450",
                "Contact: <sip:bob@203.0.113.9>;expires=3000",
            ],
            450,
        ),
        // Our host with the default port written out, and a parameter added.
        (&["Contact: <sip:bob@192.0.2.4:5060;ob>;expires=700"], 700),
        // A registrar that rewrote our host (NAT): matched by user, as SIP.js does.
        (
            &[
                "Contact: <sip:carol@198.51.100.7>;expires=10, <sip:bob@203.0.113.50:40312>;expires=300",
            ],
            300,
        ),
    ];
    for (lines, want) in cases {
        let mut reg = registration(params());
        let t0 = Instant::now();
        let req = reg.register(t0).unwrap();
        let step = reg.on_response(t0, &reply(&req, "200 OK", lines));
        match step {
            RegistrationStep::Registered { expires, contacts } => {
                assert_eq!(expires, *want, "{lines:?}");
                assert!(!contacts.is_empty());
            }
            other => panic!("{lines:?}: {other:?}"),
        }
    }
}

#[test]
fn instance_id_matches_the_binding() {
    let mut p = params();
    p.instance_id = Some("urn:uuid:00000000-0000-1000-8000-000A95A0E128".into());
    p.reg_id = Some(1);
    let mut reg = registration(p);
    let t0 = Instant::now();
    let req = reg.register(t0).unwrap();
    assert_eq!(
        req.headers.get(HeaderName::Contact),
        Some(
            "<sip:bob@192.0.2.4>;reg-id=1;\
             +sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\";expires=600"
        )
    );
    assert!(
        req.headers
            .has_option_tag(HeaderName::Supported, "outbound")
    );
    let step = reg.on_response(
        t0,
        &reply(
            &req,
            "200 OK",
            &[
                "Contact: <sip:alice@198.51.100.1>;expires=50",
                "Contact: <sip:x@203.0.113.50:40312>;reg-id=1;\
                 +sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\";expires=800",
            ],
        ),
    );
    assert!(matches!(
        step,
        RegistrationStep::Registered { expires: 800, .. }
    ));
}

#[test]
fn malformed_200_is_a_failure_not_a_panic() {
    let no_binding = [
        // No Contact at all.
        vec![],
        // Only other UAs' bindings.
        vec!["Contact: <sip:carol@198.51.100.7>;expires=30, <sip:dave@198.51.100.8>"],
        // Ours, with 0 s.
        vec!["Contact: <sip:bob@192.0.2.4>;expires=0"],
        // A star in a response.
        vec!["Contact: *"],
    ];
    for lines in no_binding {
        let mut reg = registration(params());
        let t0 = Instant::now();
        let req = reg.register(t0).unwrap();
        let step = reg.on_response(t0, &reply(&req, "200 OK", &lines));
        assert!(
            matches!(
                step,
                RegistrationStep::Failed {
                    status: Some(StatusCode::OK),
                    reason: FailureReason::NoBinding,
                    ..
                }
            ),
            "{lines:?}: {step:?}"
        );
        assert_eq!(reg.refresh_at(), None);
    }
    // Unparsable Contact and Expires values (added after parsing, as a lenient parser
    // might let them through).
    let mut reg = registration(params());
    let t0 = Instant::now();
    let req = reg.register(t0).unwrap();
    let mut ok = Response::from_request(&req, StatusCode::OK, Some("x"));
    ok.headers.push("Contact", "<sip:bob@192.0.2.4").unwrap();
    ok.headers.push("Expires", "soon").unwrap();
    let step = reg.on_response(t0, &ok);
    assert!(matches!(step, RegistrationStep::Failed { .. }), "{step:?}");
    // A response without CSeq or Call-ID cannot be matched: ignored.
    let mut reg = registration(params());
    reg.register(t0).unwrap();
    let mut bare = Response::from_request(&req, StatusCode::OK, Some("x"));
    bare.headers.remove(HeaderName::CSeq);
    assert_eq!(reg.on_response(t0, &bare), RegistrationStep::Ignore);
}

#[test]
fn responses_without_a_pending_register_are_ignored() {
    let mut reg = registration(params());
    let t0 = Instant::now();
    let req = reg.register(t0).unwrap();
    let ok = reply(&req, "200 OK", &["Contact: <sip:bob@192.0.2.4>"]);
    reg.on_response(t0, &ok);
    assert_eq!(reg.on_response(t0, &ok), RegistrationStep::Ignore);
    assert_eq!(reg.on_failure(t0, "x"), RegistrationStep::Ignore);
    assert!(matches!(reg.state(), RegistrationState::Registered { .. }));
}
