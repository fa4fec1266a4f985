//! The Endpoint's own answers, sans-IO: what it sends back for every RFC 4475 / RFC 5118
//! torture message (stateless 400 saying why, 505 for another version, silence for bad
//! responses), CANCEL matching, RFC 2543 matching, and the UDP -> TCP switch of §18.1.1.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use sipline_proto::{
    DropReason, Endpoint, EndpointConfig, Event, Flow, HeaderName, Input, Limits, Message, Method,
    Output, Receive, Request, Response, StatusCode, TransportKind, Uri, parse_message,
};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn peer() -> Flow {
    Flow {
        transport: TransportKind::Udp,
        remote: "192.0.2.9:5060".parse::<SocketAddr>().unwrap(),
        conn: None,
    }
}

/// Feeds `bytes`; returns what the endpoint sent and the events it raised.
fn feed(ep: &mut Endpoint, now: Instant, bytes: Bytes) -> (Vec<Response>, Vec<Event>) {
    ep.handle_input(
        now,
        Input::Receive(Receive {
            flow: peer(),
            payload: bytes,
        }),
    );
    let (mut sent, mut events) = (Vec::new(), Vec::new());
    loop {
        match ep.poll_output() {
            Output::Transmit(t) => match parse_message(t.payload, &Limits::default()).unwrap() {
                Message::Response(r) => sent.push(r),
                Message::Request(r) => panic!("unexpected request {}", r.method),
            },
            Output::Event(e) => events.push(e),
            Output::Timeout(_) => break,
        }
    }
    (sent, events)
}

#[test]
fn torture_messages_get_the_transaction_level_answer() {
    let manifest = std::fs::read_to_string(format!("{FIXTURES}/manifest.tsv")).unwrap();
    let now = Instant::now();
    let mut report = Vec::new();
    for line in manifest.lines() {
        let cols: Vec<&str> = line.split('\t').collect();
        let (path, outcome) = (cols[0], cols[1]);
        let bytes = Bytes::from(std::fs::read(format!("{FIXTURES}/{path}")).unwrap());
        let is_response = bytes.starts_with(b"SIP/");
        let mut ep = Endpoint::new(EndpointConfig::default());
        let (sent, events) = feed(&mut ep, now, bytes);
        let dropped = events.iter().any(|e| matches!(e, Event::Dropped { .. }));
        let delivered = events.iter().any(|e| {
            matches!(
                e,
                Event::Request { .. } | Event::Ack { .. } | Event::StrayResponse { .. }
            )
        });
        let statuses: Vec<u16> = sent.iter().map(|r| r.status.as_u16()).collect();
        match outcome {
            // Valid: reaches the TU (an INVITE also gets its 100 Trying).
            "valid" => assert!(delivered && !dropped, "{path}: {statuses:?} {events:?}"),
            // Malformed responses are dropped silently (§18.1.2); every malformed request gets
            // a stateless 400 with a Warning saying why.
            "invalid" if is_response => assert!(dropped && sent.is_empty(), "{path}: {statuses:?}"),
            "invalid" => {
                assert!(dropped && !delivered, "{path}");
                assert_eq!(statuses, [400], "{path}");
                let warning = sent[0].headers.get(HeaderName::Warning).unwrap();
                assert!(warning.starts_with("399 sipline \""), "{path}: {warning}");
                report.push(format!("{path}: {statuses:?}"));
            }
            // Parseable but refused: the transaction layer answers those it owns (400 for
            // duplicate/missing/mismatched headers, 505 for the version); others (415, 416,
            // 420, 501, ...) are the UA core's and reach the TU.
            "valid-but-reject" => {
                let want: Vec<u16> = cols[2].split('/').map(|s| s.parse().unwrap()).collect();
                assert!(
                    delivered
                        || statuses.iter().any(|s| want.contains(s))
                        || (is_response && dropped),
                    "{path}: sent {statuses:?}, wanted one of {want:?} or delivery"
                );
                report.push(format!("{path}: {statuses:?} delivered={delivered}"));
            }
            _ => unreachable!(),
        }
    }
    println!("{}", report.join("\n"));
}

#[test]
fn stateless_answers_name_the_fault_and_route_back() {
    let mut ep = Endpoint::new(EndpointConfig::default());
    let bad = "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h:5070;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\n\
To: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
    let (sent, _) = feed(&mut ep, Instant::now(), Bytes::from(bad));
    assert_eq!(sent.len(), 1);
    let r = &sent[0];
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.headers
            .get(HeaderName::Warning)
            .unwrap()
            .contains("cseq_method_mismatch")
    );
    assert!(r.headers.to().unwrap().tag().is_some());
    // 505 for SIP/3.0, built from a lenient re-read.
    let v3 = bad
        .replace("SIP/2.0\r\nVia", "SIP/3.0\r\nVia")
        .replace("1 INVITE", "1 OPTIONS");
    let (sent, _) = feed(&mut ep, Instant::now(), Bytes::from(v3));
    assert_eq!(sent[0].status, StatusCode::VERSION_NOT_SUPPORTED);
    assert_eq!(ep.transactions(), 0, "stateless: no transaction kept");
}

fn invite(branch: &str) -> String {
    format!(
        "INVITE sip:bob@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.9:5060;branch={branch}\r\nMax-Forwards: 70\r\n\
From: <sip:alice@a>;tag=af\r\nTo: <sip:bob@b>\r\nCall-ID: call-1\r\nCSeq: 7 INVITE\r\nContent-Length: 0\r\n\r\n"
    )
}

#[test]
fn cancel_finds_its_invite() {
    let mut ep = Endpoint::new(EndpointConfig::default());
    let now = Instant::now();
    let (sent, events) = feed(&mut ep, now, Bytes::from(invite("z9hG4bKcancelme")));
    assert_eq!(sent[0].status, StatusCode::TRYING);
    let Some(Event::Request { tx: invite_tx, .. }) = events.into_iter().next() else {
        panic!()
    };
    let cancel = invite("z9hG4bKcancelme")
        .replace("INVITE sip:", "CANCEL sip:")
        .replace("7 INVITE", "7 CANCEL");
    let (_, events) = feed(&mut ep, now, Bytes::from(cancel));
    let Some(Event::Request {
        request, cancels, ..
    }) = events.into_iter().next()
    else {
        panic!()
    };
    assert_eq!(request.method, Method::Cancel);
    assert_eq!(cancels, Some(invite_tx));
    // A CANCEL for an unknown INVITE finds nothing.
    let stray = invite("z9hG4bKother")
        .replace("INVITE sip:", "CANCEL sip:")
        .replace("7 INVITE", "7 CANCEL");
    let (_, events) = feed(&mut ep, now, Bytes::from(stray));
    assert!(matches!(
        events.first(),
        Some(Event::Request { cancels: None, .. })
    ));
}

#[test]
fn rfc2543_requests_match_by_their_fields() {
    // No magic cookie: matched by Request-URI, From tag, Call-ID, CSeq, top Via (§17.2.3).
    let mut ep = Endpoint::new(EndpointConfig::default());
    let now = Instant::now();
    let old = invite("oldstyle1");
    let (_, events) = feed(&mut ep, now, Bytes::from(old.clone()));
    let Some(Event::Request { tx, request, .. }) = events.into_iter().next() else {
        panic!()
    };
    ep.respond(
        now,
        tx,
        Response::from_request(&request, StatusCode::BUSY_HERE, Some("bt")),
    )
    .unwrap();
    while !matches!(ep.poll_output(), Output::Timeout(_)) {}
    // The retransmitted INVITE is answered from the transaction: no new event.
    let (sent, events) = feed(&mut ep, now, Bytes::from(old.clone()));
    assert_eq!(
        sent.iter().map(|r| r.status.as_u16()).collect::<Vec<_>>(),
        [486]
    );
    assert!(events.is_empty());
    // Its ACK (same fields, CSeq ACK) is absorbed by the INVITE transaction (Confirmed).
    let ack = old
        .replace("INVITE sip:", "ACK sip:")
        .replace("7 INVITE", "7 ACK")
        .replace("To: <sip:bob@b>", "To: <sip:bob@b>;tag=bt");
    let (sent, events) = feed(&mut ep, now, Bytes::from(ack));
    assert!(sent.is_empty() && events.is_empty(), "{events:?}");
}

#[test]
fn large_udp_requests_go_over_tcp() {
    let mut ep = Endpoint::new(EndpointConfig::default());
    let branch = ep.new_branch();
    let req = Request::builder(Method::Message, Uri::parse("sip:bob@192.0.2.2").unwrap())
        .via("UDP", "192.0.2.1:5060", &branch)
        .from("<sip:alice@a>", "t")
        .to("<sip:bob@b>", None)
        .call_id("big")
        .cseq(1)
        .body("text/plain", vec![b'x'; 1400])
        .build()
        .unwrap();
    let flow = Flow {
        transport: TransportKind::Udp,
        remote: "192.0.2.2:5060".parse().unwrap(),
        conn: None,
    };
    ep.send_request(Instant::now(), req, flow).unwrap();
    let Output::Transmit(t) = ep.poll_output() else {
        panic!()
    };
    assert_eq!(
        t.flow.transport,
        TransportKind::Tcp,
        "§18.1.1: above 1300 bytes, TCP"
    );
    let Message::Request(sent) = parse_message(t.payload, &Limits::default()).unwrap() else {
        panic!()
    };
    assert_eq!(sent.top_via().unwrap().transport, "TCP");
    assert_eq!(sent.top_via().unwrap().branch(), Some(branch.as_str()));
}

/// §18.1.1: "if the attempt to establish the connection generates ... a TCP reset, the
/// element SHOULD retry the request, using UDP": the same transaction goes out again over UDP
/// with a UDP Via, and its response completes it; a connection that answered keeps no retry.
#[test]
fn a_large_request_whose_tcp_connection_fails_goes_over_udp() {
    for method in [Method::Message, Method::Invite] {
        let mut ep = Endpoint::new(EndpointConfig::default());
        let now = Instant::now();
        let branch = ep.new_branch();
        let req = Request::builder(method.clone(), Uri::parse("sip:bob@192.0.2.2").unwrap())
            .via("UDP", "192.0.2.1:5060", &branch)
            .from("<sip:alice@a>", "t")
            .to("<sip:bob@b>", None)
            .call_id("big")
            .cseq(1)
            .body("text/plain", vec![b'x'; 1400])
            .build()
            .unwrap();
        let udp = Flow {
            transport: TransportKind::Udp,
            remote: "192.0.2.2:5060".parse().unwrap(),
            conn: None,
        };
        let tx = ep.send_request(now, req, udp).unwrap();
        let Output::Transmit(t) = ep.poll_output() else {
            panic!()
        };
        assert_eq!(t.flow.transport, TransportKind::Tcp);
        assert!(matches!(ep.poll_output(), Output::Timeout(_)));
        ep.handle_input(
            now,
            Input::TransportFailed(t.flow, sipline_proto::TransportFailure::ConnectFailed),
        );
        let Output::Transmit(again) = ep.poll_output() else {
            panic!("{method}: no retry over UDP")
        };
        assert_eq!(again.flow, udp, "{method}");
        let Message::Request(sent) = parse_message(again.payload, &Limits::default()).unwrap()
        else {
            panic!()
        };
        assert_eq!(sent.top_via().unwrap().transport, "UDP");
        assert_eq!(sent.top_via().unwrap().branch(), Some(branch.as_str()));
        // No transport error reached the TU; the UDP response completes the transaction.
        assert!(matches!(ep.poll_output(), Output::Timeout(_)));
        let ok = Response::from_request(&sent, StatusCode::OK, Some("bt"));
        ep.handle_input(
            now,
            Input::Receive(Receive {
                flow: udp,
                payload: Bytes::from(ok.to_bytes().to_vec()),
            }),
        );
        match ep.poll_output() {
            Output::Event(Event::Response { tx: got, response }) => {
                assert_eq!(got, tx);
                assert_eq!(response.status, StatusCode::OK);
            }
            other => panic!("{method}: {other:?}"),
        }
    }
}

#[test]
fn overload_is_answered_503() {
    let mut ep = Endpoint::new(EndpointConfig {
        max_transactions: 1,
        ..EndpointConfig::default()
    });
    let now = Instant::now();
    let _ = feed(&mut ep, now, Bytes::from(invite("z9hG4bKfirst")));
    let (sent, events) = feed(&mut ep, now, Bytes::from(invite("z9hG4bKsecond")));
    assert_eq!(sent[0].status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(matches!(
        events[0],
        Event::Dropped {
            reason: DropReason::Overloaded,
            ..
        }
    ));
}
