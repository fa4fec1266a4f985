//! The sans-IO core in simulated time: no sockets, no clock; the instants are made up and
//! the "network" is the list of transmits. Registrar rules (423, `Contact: *`, expiry),
//! forking with the CANCEL of a branch held until its provisional response (RFC 3261
//! §9.1), Timer C (§16.8), Timer B on a silent branch, best-response selection (§16.7),
//! Max-Forwards (483).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sipline_proto::{
    Flow, HeaderName, Input, Limits, Message, Receive, Request, Response, StatusCode,
    TransportKind, parse_message,
};
use sipline_server::{ServerConfig, ServerCore, ServerEvent};
use sipline_tokio::CoreOutput;

const SERVER: &str = "127.0.0.1:5060";

struct Sim {
    core: ServerCore,
    t0: Instant,
    now: Instant,
    events: Vec<ServerEvent>,
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

impl Sim {
    fn new(cfg: ServerConfig) -> Sim {
        let core = ServerCore::new(
            cfg,
            vec![
                (TransportKind::Udp, SERVER.parse().unwrap()),
                (TransportKind::Ws, "127.0.0.1:5066".parse().unwrap()),
            ],
        );
        let t0 = Instant::now();
        Sim {
            core,
            t0,
            now: t0,
            events: Vec::new(),
        }
    }

    fn open() -> Sim {
        let mut cfg = ServerConfig {
            domain: Some("sipline.test".into()),
            ..ServerConfig::default()
        };
        cfg.proxy.timer_c = Duration::from_secs(60);
        Sim::new(cfg)
    }

    /// Delivers `msg` from `from`; returns what the core sent: (to port, message).
    fn send(&mut self, from: u16, msg: &[u8]) -> Vec<(u16, Message)> {
        let flow = Flow {
            transport: TransportKind::Udp,
            remote: addr(from),
            conn: None,
        };
        self.send_on(flow, msg)
            .into_iter()
            .map(|(f, m)| (f.remote.port(), m))
            .collect()
    }

    /// Delivers `msg` on `flow`; returns what the core sent, with the flows.
    fn send_on(&mut self, flow: Flow, msg: &[u8]) -> Vec<(Flow, Message)> {
        let payload = Bytes::copy_from_slice(msg);
        self.core
            .handle_input(self.now, Input::Receive(Receive { flow, payload }));
        self.drain_flows()
    }

    fn drain(&mut self) -> Vec<(u16, Message)> {
        self.drain_flows()
            .into_iter()
            .map(|(f, m)| (f.remote.port(), m))
            .collect()
    }

    fn drain_flows(&mut self) -> Vec<(Flow, Message)> {
        let mut out = Vec::new();
        loop {
            match self.core.poll_output() {
                CoreOutput::Transmit(t) => out.push((
                    t.flow,
                    parse_message(t.payload, &Limits::default()).unwrap(),
                )),
                CoreOutput::Event(e) => self.events.push(e),
                CoreOutput::Timeout(_) => return out,
            }
        }
    }

    /// Advances simulated time to `t0 + at`, firing every deadline on the way.
    fn advance_to(&mut self, at: Duration) -> Vec<(u16, Message)> {
        let end = self.t0 + at;
        let mut out = Vec::new();
        loop {
            let next = match self.core.poll_output() {
                CoreOutput::Timeout(Some(t)) if t <= end => t,
                CoreOutput::Timeout(_) => break,
                CoreOutput::Transmit(_) | CoreOutput::Event(_) => unreachable!("drained"),
            };
            self.now = next.max(self.now);
            self.core.handle_input(self.now, Input::Timeout);
            out.extend(self.drain());
        }
        self.now = end;
        out
    }
}

fn register(user: &str, port: u16, expires: u32, cseq: u32) -> Vec<u8> {
    format!(
        "REGISTER sip:sipline.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKr{port}x{cseq}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:{user}@sipline.test>;tag=r{port}\r\nTo: <sip:{user}@sipline.test>\r\n\
         Call-ID: reg-{port}\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:{user}@127.0.0.1:{port}>;expires={expires}\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

fn invite(to: &str, mf: u8) -> Vec<u8> {
    format!(
        "INVITE sip:{to}@sipline.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bKinv{to}\r\n\
         Max-Forwards: {mf}\r\nFrom: <sip:alice@sipline.test>;tag=a1\r\nTo: <sip:{to}@sipline.test>\r\n\
         Call-ID: call-{to}\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@127.0.0.1:6001>\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

fn req(m: &Message) -> &Request {
    match m {
        Message::Request(r) => r,
        Message::Response(r) => panic!("expected a request, got {}", r.status),
    }
}

fn status(m: &Message) -> u16 {
    match m {
        Message::Response(r) => r.status.as_u16(),
        Message::Request(r) => panic!("expected a response, got {}", r.method.as_str()),
    }
}

/// A UAS answer to a forwarded request.
fn answer(r: &Request, code: u16, tag: &str) -> Vec<u8> {
    let resp = Response::from_request(r, StatusCode::new(code).unwrap(), Some(tag));
    resp.to_bytes().to_vec()
}

fn only(out: &[(u16, Message)], port: u16) -> Vec<&Message> {
    out.iter()
        .filter(|(p, _)| *p == port)
        .map(|(_, m)| m)
        .collect()
}

#[test]
fn registrar_min_expires_star_and_expiry() {
    let mut s = Sim::open();
    let out = s.send(6002, &register("bob", 6002, 10, 1));
    assert_eq!(status(&out[0].1), 423);
    match &out[0].1 {
        Message::Response(r) => assert_eq!(r.headers.get(HeaderName::MinExpires), Some("60")),
        _ => unreachable!(),
    }
    let out = s.send(6002, &register("bob", 6002, 120, 2));
    assert_eq!(status(&out[0].1), 200);
    let out = s.send(6003, &register("bob", 6003, 7200, 1));
    match &out[0].1 {
        Message::Response(r) => {
            let contacts: Vec<&str> = r.headers.get_all(HeaderName::Contact).collect();
            assert_eq!(contacts.len(), 2, "{contacts:?}");
            assert!(
                contacts.contains(&"<sip:bob@127.0.0.1:6003>;expires=3600"),
                "{contacts:?}"
            );
        }
        _ => unreachable!(),
    }
    assert_eq!(s.core.registrations(s.now).len(), 2);
    // `Contact: *` without Expires: 0 is refused; with it, every binding goes.
    let star = String::from_utf8(register("bob", 6003, 0, 2))
        .unwrap()
        .replace("Contact: <sip:bob@127.0.0.1:6003>;expires=0", "Contact: *");
    assert_eq!(status(&s.send(6003, star.as_bytes())[0].1), 400);
    let star = star
        .replace("Content-Length: 0", "Expires: 0\r\nContent-Length: 0")
        .replace("z9hG4bKr6003x2", "z9hG4bKr6003x9")
        .replace("CSeq: 2 ", "CSeq: 9 ");
    assert_eq!(status(&s.send(6003, star.as_bytes())[0].1), 200);
    assert!(s.core.registrations(s.now).is_empty());
    // Expiry by time: bound at 0 s for 60 s, gone at 60 s; then bob is known but away (480).
    s.send(6002, &register("bob", 6002, 60, 3));
    s.advance_to(Duration::from_secs(59));
    assert_eq!(s.core.registrations(s.now).len(), 1);
    s.advance_to(Duration::from_secs(61));
    assert!(s.core.registrations(s.now).is_empty());
    let out = s.send(6001, &invite("bob", 70));
    assert_eq!(status(only(&out, 6001).last().unwrap()), 480);
    let out = s.send(6001, &invite("nobody", 70));
    assert_eq!(status(only(&out, 6001).last().unwrap()), 404);
    let out = s.send(6001, &invite("carol", 0));
    assert_eq!(status(only(&out, 6001).last().unwrap()), 483);
}

#[test]
fn forking_cancels_the_losing_branch_after_its_provisional() {
    let mut s = Sim::open();
    s.send(6002, &register("bob", 6002, 300, 1));
    s.send(6003, &register("bob", 6003, 300, 1));
    let out = s.send(6001, &invite("bob", 70));
    assert_eq!(status(only(&out, 6001)[0]), 100);
    let b1 = req(only(&out, 6002)[0]).clone();
    let b2 = req(only(&out, 6003)[0]).clone();
    for b in [&b1, &b2] {
        assert_eq!(b.headers.get(HeaderName::MaxForwards), Some("69"));
        assert!(
            b.headers
                .get(HeaderName::Via)
                .unwrap()
                .starts_with("SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK")
        );
        assert_eq!(
            b.headers.get(HeaderName::RecordRoute),
            Some("<sip:127.0.0.1:5060;lr>")
        );
    }
    assert_eq!(b1.uri.as_str(), "sip:bob@127.0.0.1:6002");
    // b1 rings: forwarded without our Via.
    let out = s.send(6002, &answer(&b1, 180, "b1"));
    let ring = only(&out, 6001);
    assert_eq!(status(ring[0]), 180);
    match ring[0] {
        Message::Response(r) => assert_eq!(r.headers.values(HeaderName::Via).count(), 1),
        _ => unreachable!(),
    }
    // b1 answers: the 200 goes to alice; b2 has sent nothing, so its CANCEL waits (§9.1).
    let out = s.send(6002, &answer(&b1, 200, "b1"));
    assert_eq!(status(only(&out, 6001)[0]), 200);
    assert!(
        only(&out, 6003).is_empty(),
        "no CANCEL before a provisional"
    );
    // b2's 180 is not forwarded; its CANCEL goes now.
    let out = s.send(6003, &answer(&b2, 180, "b2"));
    assert!(only(&out, 6001).is_empty());
    let cancel = req(only(&out, 6003)[0]).clone();
    assert_eq!(cancel.method.as_str(), "CANCEL");
    assert_eq!(
        cancel.headers.get(HeaderName::Via),
        b2.headers.values(HeaderName::Via).next()
    );
    s.send(6003, &answer(&cancel, 200, "b2"));
    let out = s.send(6003, &answer(&b2, 487, "b2"));
    // The 487 is absorbed (ACKed hop by hop), alice hears nothing more.
    assert!(only(&out, 6001).is_empty());
    assert_eq!(req(only(&out, 6003)[0]).method.as_str(), "ACK");
    assert_eq!(s.core.proxied(), 0);
    assert!(
        s.events
            .iter()
            .any(|e| matches!(e, ServerEvent::Routed { branches, .. } if branches.len() == 2))
    );
}

#[test]
fn timer_c_cancels_a_ringing_branch_and_timer_b_ends_a_silent_one() {
    let mut s = Sim::open();
    s.send(6002, &register("bob", 6002, 3600, 1));
    let out = s.send(6001, &invite("bob", 70));
    let b = req(only(&out, 6002)[0]).clone();
    s.send(6002, &answer(&b, 180, "b"));
    // Timer C (60 s here) restarted by the 180 at 0 s: nothing at 59 s, a CANCEL at 60 s.
    let out = s.advance_to(Duration::from_secs(59));
    assert!(
        out.iter()
            .all(|(_, m)| !matches!(m, Message::Request(r) if r.method.as_str() == "CANCEL"))
    );
    let out = s.advance_to(Duration::from_secs(61));
    let cancel = out
        .iter()
        .find_map(|(p, m)| match m {
            Message::Request(r) if r.method.as_str() == "CANCEL" && *p == 6002 => Some(r.clone()),
            _ => None,
        })
        .expect("CANCEL at Timer C");
    s.send(6002, &answer(&cancel, 200, "b"));
    let out = s.send(6002, &answer(&b, 487, "b"));
    assert_eq!(status(only(&out, 6001)[0]), 487);

    // A callee that rings, then ignores the CANCEL: 408 to the caller 64*T1 after it, and
    // the response context is gone.
    let mut s = Sim::open();
    s.send(6002, &register("bob", 6002, 3600, 1));
    let out = s.send(6001, &invite("bob", 70));
    let b = req(only(&out, 6002)[0]).clone();
    s.send(6002, &answer(&b, 180, "b"));
    s.advance_to(Duration::from_secs(61));
    assert_eq!(s.core.proxied(), 1);
    let out = s.advance_to(Duration::from_secs(60 + 33));
    assert_eq!(status(only(&out, 6001)[0]), 408);
    assert_eq!(s.core.proxied(), 0);

    // carol never answers at all: Timer B (64*T1 = 32 s) ends the branch, alice gets 408.
    let mut s = Sim::open();
    s.send(6004, &register("carol", 6004, 3600, 1));
    let out = s.send(6001, &invite("carol", 70));
    assert_eq!(only(&out, 6004).len(), 1);
    let out = s.advance_to(Duration::from_millis(31_900));
    assert!(only(&out, 6001).is_empty());
    assert!(
        only(&out, 6004).len() >= 5,
        "INVITE retransmitted (Timer A)"
    );
    let out = s.advance_to(Duration::from_secs(33));
    assert_eq!(status(only(&out, 6001)[0]), 408);
    assert_eq!(s.core.proxied(), 0);
}

#[test]
fn best_response_is_the_lowest_class_and_503_becomes_500() {
    let mut s = Sim::open();
    s.send(6002, &register("bob", 6002, 300, 1));
    s.send(6003, &register("bob", 6003, 300, 1));
    let out = s.send(6001, &invite("bob", 70));
    let (b1, b2) = (
        req(only(&out, 6002)[0]).clone(),
        req(only(&out, 6003)[0]).clone(),
    );
    let out = s.send(6002, &answer(&b1, 503, "b1"));
    assert!(only(&out, 6001).is_empty(), "one branch still pending");
    let out = s.send(6003, &answer(&b2, 486, "b2"));
    assert_eq!(status(only(&out, 6001)[0]), 486);

    let out = s.send(
        6001,
        &String::from_utf8(invite("bob", 70))
            .unwrap()
            .replace("z9hG4bKinvbob", "z9hG4bKinv2")
            .replace("call-bob", "call-2")
            .into_bytes(),
    );
    let (b1, b2) = (
        req(only(&out, 6002)[0]).clone(),
        req(only(&out, 6003)[0]).clone(),
    );
    s.send(6002, &answer(&b1, 503, "b1"));
    let out = s.send(6003, &answer(&b2, 503, "b2"));
    assert_eq!(status(only(&out, 6001)[0]), 500);
}

#[test]
fn overload_loops_and_keepalive_options() {
    let mut cfg = ServerConfig {
        domain: Some("sipline.test".into()),
        ..ServerConfig::default()
    };
    cfg.proxy.max_proxied = 1;
    let mut s = Sim::new(cfg);
    s.send(6002, &register("bob", 6002, 300, 1));
    // A binding pointing back at the server itself: forwarding there would loop (482).
    s.send(5060, &register("loop", 5060, 300, 1));
    let out = s.send(6001, &invite("loop", 70));
    assert_eq!(status(only(&out, 6001).last().unwrap()), 482);
    // One proxied request at most: the second INVITE gets 503 with Retry-After.
    let out = s.send(6001, &invite("bob", 70));
    assert_eq!(only(&out, 6002).len(), 1);
    let second = String::from_utf8(invite("bob", 70))
        .unwrap()
        .replace("z9hG4bKinvbob", "z9hG4bKinvbob2")
        .replace("call-bob", "call-bob2");
    let out = s.send(6001, second.as_bytes());
    match only(&out, 6001).last().unwrap() {
        Message::Response(r) => {
            assert_eq!(r.status.as_u16(), 503);
            assert!(r.headers.get(HeaderName::RetryAfter).is_some());
        }
        m => panic!("{m:?}"),
    }
    // OPTIONS to the server itself, even with Max-Forwards 0: 200 (keep-alive ping).
    let ping = "OPTIONS sip:127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6009;branch=z9hG4bKping\r\n\
                Max-Forwards: 0\r\nFrom: <sip:p@x>;tag=p\r\nTo: <sip:127.0.0.1:5060>\r\nCall-ID: ping\r\n\
                CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    let out = s.send(6009, ping.as_bytes());
    assert_eq!(status(&out[0].1), 200);
    // The same with a Route beyond us is to be forwarded: Max-Forwards 0 makes it 483.
    let routed = ping.replace("z9hG4bKping", "z9hG4bKping2").replace(
        "Max-Forwards: 0\r\n",
        "Max-Forwards: 0\r\nRoute: <sip:127.0.0.1:5070;lr>\r\n",
    );
    let out = s.send(6009, routed.as_bytes());
    assert_eq!(status(&out[0].1), 483);
}

#[test]
fn websocket_client_reached_on_its_connection_with_double_record_route() {
    let mut s = Sim::open();
    let ws = Flow {
        transport: TransportKind::Ws,
        remote: addr(40000),
        conn: Some(sipline_proto::ConnId(7)),
    };
    // A browser: its Contact host is `*.invalid` (RFC 7118 §5), unroutable but by its flow.
    let reg = "REGISTER sip:sipline.test SIP/2.0\r\nVia: SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bKws1\r\n\
               Max-Forwards: 70\r\nFrom: <sip:bob@sipline.test>;tag=w\r\nTo: <sip:bob@sipline.test>\r\n\
               Call-ID: ws-reg\r\nCSeq: 1 REGISTER\r\nContact: <sip:k3l2@df7jal23ls0d.invalid;transport=ws>\r\n\
               Expires: 600\r\nContent-Length: 0\r\n\r\n";
    let out = s.send_on(ws, reg.as_bytes());
    assert_eq!(out[0].0, ws, "the 200 goes back on the connection");
    assert_eq!(status(&out[0].1), 200);
    // alice (UDP) calls bob: the INVITE goes on the WebSocket connection, record-routed
    // twice (RFC 5658), the WS-facing entry naming the connection.
    let out = s.send(6001, &invite("bob", 70));
    let inv = out
        .iter()
        .find(|(p, m)| *p == 40000 && matches!(m, Message::Request(_)))
        .map(|(_, m)| req(m).clone())
        .expect("INVITE on the WebSocket connection");
    let rr: Vec<&str> = inv.headers.values(HeaderName::RecordRoute).collect();
    assert_eq!(rr.len(), 2, "{rr:?}");
    assert_eq!(
        rr[0],
        "<sip:c7-40000-127.0.0.1@127.0.0.1:5066;transport=ws;lr>"
    );
    assert_eq!(rr[1], "<sip:127.0.0.1:5060;lr>");
    assert!(
        inv.headers
            .get(HeaderName::Via)
            .unwrap()
            .starts_with("SIP/2.0/WS 127.0.0.1:5066;")
    );
    // bob answers; alice sends BYE along the route set (reversed Record-Route): it goes on
    // bob's connection although the Request-URI is `*.invalid`.
    let ok = answer(&inv, 200, "bob");
    let out = s.send_on(ws, &ok);
    assert_eq!(
        status(&out.iter().find(|(f, _)| f.remote.port() == 6001).unwrap().1),
        200
    );
    let bye = format!(
        "BYE sip:k3l2@df7jal23ls0d.invalid;transport=ws SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bKbye1\r\n\
         Max-Forwards: 70\r\nRoute: {}, {}\r\nFrom: <sip:alice@sipline.test>;tag=a1\r\n\
         To: <sip:bob@sipline.test>;tag=bob\r\nCall-ID: call-bob\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
        rr[1], rr[0]
    );
    let udp = Flow {
        transport: TransportKind::Udp,
        remote: addr(6001),
        conn: None,
    };
    let out = s.send_on(udp, bye.as_bytes());
    let (to, fwd) = out
        .iter()
        .find(|(_, m)| matches!(m, Message::Request(_)))
        .expect("BYE forwarded");
    assert_eq!(*to, ws, "on bob's connection");
    assert_eq!(req(fwd).method.as_str(), "BYE");
    assert!(
        !req(fwd).headers.contains(HeaderName::Route),
        "our entries popped"
    );
    // The connection closes: bob's binding goes (RFC 5626 §5.4).
    s.core.handle_input(
        s.now,
        Input::TransportFailed(ws, sipline_proto::TransportFailure::Closed),
    );
    s.drain();
    assert!(s.core.registrations(s.now).is_empty());
    assert!(s.events.iter().any(|e| matches!(
        e,
        ServerEvent::Unregistered {
            reason: sipline_server::UnregisterReason::ConnectionClosed,
            ..
        }
    )));
}
