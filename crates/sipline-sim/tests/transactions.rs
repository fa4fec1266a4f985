//! RFC 3261 §17 transactions (with RFC 6026) in simulated time: every timer checked at its
//! exact virtual instant, retransmissions absorbed where the RFC says, and completion rates
//! under 10%, 30% and 50% loss over a fixed list of 1000 seeds.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use sipline_proto::{
    ClientTxId, Endpoint, EndpointConfig, Event, Method, Request, Response, ServerTxId, StatusCode,
    TransportKind, Uri,
};
use sipline_sim::{Link, Net};

const A: usize = 0;
const B: usize = 1;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// Two endpoints, 10 ms apart, lossless unless told otherwise.
fn pair(seed: u64) -> Net<Endpoint> {
    let mut net = Net::new(seed);
    for i in 0..2 {
        net.add_node(Endpoint::new(EndpointConfig {
            seed: seed * 2 + i,
            ..EndpointConfig::default()
        }));
    }
    net
}

fn request(net: &mut Net<Endpoint>, method: Method, transport: TransportKind) -> Request {
    let from = net.addr(A);
    let branch = net.node_mut(A).new_branch();
    let tag = net.node_mut(A).new_tag();
    Request::builder(
        method,
        Uri::parse(&format!("sip:b@{}", net.addr(B))).unwrap(),
    )
    .via(transport.via_token(), &from.to_string(), &branch)
    .from("<sip:a@example.com>", &tag)
    .to("<sip:b@example.com>", None)
    .call_id(&format!("{branch}@sim"))
    .cseq(1)
    .build()
    .unwrap()
}

fn send(net: &mut Net<Endpoint>, method: Method, transport: TransportKind) -> ClientTxId {
    let req = request(net, method, transport);
    let flow = net.flow(A, B, transport);
    let now = net.now();
    net.node_mut(A).send_request(now, req, flow).unwrap()
}

/// What a test TU saw.
#[derive(Default, Debug)]
struct Seen {
    requests: Vec<(Duration, Method)>,
    responses: Vec<(Duration, u16)>,
    timeouts: Vec<Duration>,
    ack_timeouts: Vec<Duration>,
    acks: Vec<Duration>,
}

/// Runs the net with a TU on B answering every request with `status` (after a 100 for
/// INVITE, sent by the transaction), recording what both TUs see.
fn run_answering(net: &mut Net<Endpoint>, status: u16, seen: &mut Seen) {
    net.run(|net, node, ev| {
        let t = net.elapsed();
        match ev {
            Event::Request { tx, request, .. } => {
                seen.requests.push((t, request.method.clone()));
                let code = StatusCode::new(status).unwrap();
                let resp = Response::from_request(&request, code, Some("totag"));
                let now = net.now();
                net.node_mut(node).respond(now, tx, resp).unwrap();
            }
            Event::Response { response, .. } => seen.responses.push((t, response.status.as_u16())),
            Event::Timeout { .. } => seen.timeouts.push(t),
            Event::AckTimeout { .. } => seen.ack_timeouts.push(t),
            Event::Ack { .. } => seen.acks.push(t),
            _ => {}
        }
    })
    .unwrap();
}

#[test]
fn timer_e_doubles_to_t2_and_timer_f_fires_at_64_t1() {
    let mut net = pair(1);
    net.set_link(
        A,
        B,
        Link {
            loss: 1.0,
            ..Link::default()
        },
    );
    send(&mut net, Method::Options, TransportKind::Udp);
    let mut seen = Seen::default();
    run_answering(&mut net, 200, &mut seen);
    // E: 500 ms, 1 s, 2 s, then T2 = 4 s (§17.1.2.2).
    let want: Vec<Duration> = [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
        .map(secs)
        .to_vec();
    assert_eq!(net.sent_by(A, "OPTIONS"), want);
    assert_eq!(seen.timeouts, [secs(32.0)], "Timer F = 64*T1");
    assert_eq!(net.node(A).transactions(), 0);
}

#[test]
fn timer_a_doubles_without_cap_and_timer_b_fires_at_64_t1() {
    let mut net = pair(2);
    net.set_link(
        A,
        B,
        Link {
            loss: 1.0,
            ..Link::default()
        },
    );
    send(&mut net, Method::Invite, TransportKind::Udp);
    let mut seen = Seen::default();
    run_answering(&mut net, 200, &mut seen);
    // A: T1, 2T1, 4T1, ... (§17.1.1.2: INVITE retransmits are not capped by T2).
    let want: Vec<Duration> = [0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5].map(secs).to_vec();
    assert_eq!(net.sent_by(A, "INVITE"), want);
    assert_eq!(seen.timeouts, [secs(32.0)], "Timer B = 64*T1");
}

#[test]
fn reliable_transports_do_not_retransmit() {
    let mut net = pair(3);
    net.set_link(
        A,
        B,
        Link {
            loss: 1.0,
            ..Link::default()
        },
    );
    send(&mut net, Method::Options, TransportKind::Tcp);
    send(&mut net, Method::Invite, TransportKind::Tcp);
    let mut seen = Seen::default();
    run_answering(&mut net, 200, &mut seen);
    assert_eq!(net.sent_by(A, "OPTIONS").len(), 1);
    assert_eq!(net.sent_by(A, "INVITE").len(), 1);
    assert_eq!(seen.timeouts, [secs(32.0), secs(32.0)]);
}

#[test]
fn provisional_stops_timer_a_and_final_completes() {
    let mut net = pair(4);
    send(&mut net, Method::Invite, TransportKind::Udp);
    let mut seen = Seen::default();
    run_answering(&mut net, 486, &mut seen);
    // 100 Trying at 20 ms, 486 at 20 ms; the client ACKs the 486 (§17.1.1.3).
    assert_eq!(net.sent_by(A, "INVITE"), [secs(0.0)]);
    assert_eq!(seen.responses, [(ms(20), 100), (ms(20), 486)]);
    assert_eq!(net.sent_by(A, "ACK"), [ms(20)]);
    let ack = net
        .packets
        .iter()
        .find(|p| p.first_line().starts_with("ACK"))
        .unwrap();
    let text = String::from_utf8_lossy(&ack.payload);
    assert!(
        text.contains("CSeq: 1 ACK\r\n") && text.contains(";tag=totag"),
        "{text}"
    );
    // Timer D (32 s) keeps the client transaction; Timer I (T4) the server's.
    assert_eq!(seen.requests.len(), 1);
    assert_eq!(net.node(A).transactions(), 0);
    assert_eq!(net.node(B).transactions(), 0);
}

#[test]
fn timer_g_retransmits_final_until_timer_h_when_acks_are_lost() {
    let mut net = pair(5);
    net.drop_if(|p| p.first_line().starts_with("ACK"));
    send(&mut net, Method::Invite, TransportKind::Udp);
    let mut seen = Seen::default();
    run_answering(&mut net, 486, &mut seen);
    // The 486 leaves B at 10 ms; G: +T1, +2T1, +4T1, then every T2 (§17.2.1).
    let g: Vec<Duration> = [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
        .map(|s| ms(10) + secs(s))
        .to_vec();
    assert_eq!(net.sent_by(B, "SIP/2.0 486"), g);
    // H fires 64*T1 after the 486: the TU learns the ACK never came.
    assert_eq!(seen.ack_timeouts, [ms(10) + secs(32.0)]);
    // Timer D absorbed every retransmitted 486: one response to the TU, one ACK per 486.
    assert_eq!(seen.responses.iter().filter(|r| r.1 == 486).count(), 1);
    assert_eq!(net.sent_by(A, "ACK").len(), 11);
}

#[test]
fn duplicated_requests_are_answered_from_the_transaction() {
    let mut net = pair(6);
    net.set_link(
        A,
        B,
        Link {
            duplicate: 1.0,
            ..Link::default()
        },
    );
    send(&mut net, Method::Options, TransportKind::Udp);
    let mut seen = Seen::default();
    run_answering(&mut net, 200, &mut seen);
    assert_eq!(seen.requests.len(), 1, "the TU sees the request once");
    assert_eq!(
        net.sent_by(B, "SIP/2.0 200").len(),
        2,
        "the copy is answered from the transaction"
    );
    assert_eq!(
        seen.responses,
        [(ms(20), 200)],
        "the client absorbs the second 200 (Timer K)"
    );
}

#[test]
fn invite_copies_are_absorbed_in_accepted() {
    // RFC 6026 §8.5: in Accepted the transaction neither passes an INVITE retransmission to
    // the TU nor answers it (the 2xx is the TU's to retransmit, and is not kept).
    let mut net = pair(11);
    net.set_link(
        A,
        B,
        Link {
            duplicate: 1.0,
            ..Link::default()
        },
    );
    send(&mut net, Method::Invite, TransportKind::Udp);
    let mut seen = Seen::default();
    run_answering(&mut net, 200, &mut seen);
    assert_eq!(seen.requests.len(), 1, "the TU sees the INVITE once");
    assert_eq!(
        net.sent_by(B, "SIP/2.0 200").len(),
        1,
        "the copy is absorbed"
    );
}

#[test]
fn timers_j_and_k_absorb_crossing_retransmissions() {
    // 400 ms each way: the first retransmission (500 ms) crosses the 200.
    let mut net = pair(7);
    net.set_default_link(Link {
        latency: ms(400),
        ..Link::default()
    });
    send(&mut net, Method::Options, TransportKind::Udp);
    let mut seen = Seen::default();
    run_answering(&mut net, 200, &mut seen);
    assert_eq!(net.sent_by(A, "OPTIONS"), [secs(0.0), secs(0.5)]);
    // The retransmission reaches B at 900 ms, in Completed: the 200 goes out again.
    assert_eq!(net.sent_by(B, "SIP/2.0 200"), [ms(400), ms(900)]);
    assert_eq!(seen.requests.len(), 1);
    assert_eq!(seen.responses, [(ms(800), 200)]);
}

#[test]
fn ack_retransmissions_absorbed_in_confirmed() {
    let mut net = pair(8);
    net.set_link(
        A,
        B,
        Link {
            duplicate: 1.0,
            ..Link::default()
        },
    );
    send(&mut net, Method::Invite, TransportKind::Udp);
    let mut seen = Seen::default();
    run_answering(&mut net, 603, &mut seen);
    // Both ACK copies reach B; the second is absorbed in Confirmed (Timer I): no Ack event.
    assert!(seen.acks.is_empty());
    assert_eq!(seen.requests.len(), 1);
}

#[test]
fn invite_2xx_goes_to_accepted_and_2xx_ack_reaches_the_tu() {
    let mut net = pair(9);
    send(&mut net, Method::Invite, TransportKind::Udp);
    let mut ok_seen = 0;
    let mut acks = 0;
    net.run(|net, node, ev| match ev {
        Event::Request { tx, request, .. } => {
            let resp = Response::from_request(&request, StatusCode::OK, Some("t2"));
            let now = net.now();
            net.node_mut(node).respond(now, tx, resp).unwrap();
        }
        Event::Response { response, .. } if response.status == StatusCode::OK => {
            ok_seen += 1;
            // The TU acknowledges a 2xx itself, with a new branch (§13.2.2.4).
            let branch = net.node_mut(node).new_branch();
            let ack = Request::builder(
                Method::Ack,
                Uri::parse(&format!("sip:b@{}", net.addr(B))).unwrap(),
            )
            .via("UDP", &net.addr(A).to_string(), &branch)
            .from("<sip:a@example.com>", "x")
            .to("<sip:b@example.com>", Some("t2"))
            .call_id("c")
            .cseq(1)
            .build()
            .unwrap();
            let flow = net.flow(A, B, TransportKind::Udp);
            net.node_mut(node).send_stateless(flow, &ack.into());
        }
        Event::Ack { .. } => acks += 1,
        _ => {}
    })
    .unwrap();
    assert_eq!((ok_seen, acks), (1, 1));
    // Accepted state lasts 64*T1 (Timers L and M, RFC 6026) and then both ends are clean.
    // The client's Timer M starts when the 200 arrives (20 ms), the server's L when it left.
    assert_eq!(net.elapsed(), secs(32.0) + ms(20));
    assert_eq!(net.node(A).transactions() + net.node(B).transactions(), 0);
}

#[test]
fn responses_to_a_server_transaction_after_its_final_are_refused() {
    let mut net = pair(10);
    send(&mut net, Method::Options, TransportKind::Udp);
    let mut second: Option<sipline_proto::Error> = None;
    let mut server_tx: Option<ServerTxId> = None;
    net.run(|net, node, ev| {
        if let Event::Request { tx, request, .. } = ev {
            let now = net.now();
            let ok = Response::from_request(&request, StatusCode::OK, Some("t"));
            net.node_mut(node).respond(now, tx, ok.clone()).unwrap();
            second = net.node_mut(node).respond(now, tx, ok).err();
            server_tx = Some(tx);
        }
    })
    .unwrap();
    assert!(matches!(
        second,
        Some(sipline_proto::Error::InvalidState(_))
    ));
    // After Timer J the transaction is gone.
    let now = net.now();
    let resp = Response::from_request(
        &request(&mut net, Method::Options, TransportKind::Udp),
        StatusCode::OK,
        None,
    );
    assert_eq!(
        net.node_mut(B).respond(now, server_tx.unwrap(), resp),
        Err(sipline_proto::Error::UnknownTransaction)
    );
}

/// Runs one transaction at `loss` (both directions) and tells whether the client got a final
/// response before its timeout.
fn completes(seed: u64, method: Method, loss: f64) -> bool {
    let mut net = pair(seed);
    net.set_default_link(Link {
        latency: ms(30),
        jitter: ms(20),
        loss,
        duplicate: 0.0,
    });
    send(&mut net, method, TransportKind::Udp);
    let mut done = false;
    net.run(|net, node, ev| match ev {
        Event::Request { tx, request, .. } if node == B => {
            // A non-2xx final for INVITE: its retransmission is the transaction's job (G);
            // a 2xx's is the TU's (§13.3.1.4), tested with sessions.
            let status = if request.method == Method::Invite {
                486
            } else {
                200
            };
            let resp =
                Response::from_request(&request, StatusCode::new(status).unwrap(), Some("t"));
            let now = net.now();
            net.node_mut(B).respond(now, tx, resp).unwrap();
        }
        Event::Response { response, .. } if response.status.is_final() => done = true,
        _ => {}
    })
    .unwrap();
    done
}

#[test]
fn completion_rates_under_loss() {
    // A fixed seed list: seeds 0..1000. The RFC timers give a non-INVITE 11 tries in 32 s,
    // an INVITE 7 tries (Timer A) and, once a 100 arrived, 11 tries of its non-2xx final
    // (Timer G until H).
    let mut report = String::new();
    for (loss, min_non_invite, min_invite) in
        [(0.10, 1.0, 1.0), (0.30, 0.995, 0.98), (0.50, 0.90, 0.80)]
    {
        let n = 1000;
        let ok_ni = (0..n)
            .filter(|&s| completes(s, Method::Options, loss))
            .count() as f64
            / n as f64;
        let ok_inv = (0..n)
            .filter(|&s| completes(s + 10_000, Method::Invite, loss))
            .count() as f64
            / n as f64;
        report.push_str(&format!(
            "loss {:>3.0}%: non-INVITE {:.1}%  INVITE {:.1}%\n",
            loss * 100.0,
            ok_ni * 100.0,
            ok_inv * 100.0
        ));
        assert!(ok_ni >= min_non_invite, "non-INVITE at {loss}: {ok_ni}");
        assert!(ok_inv >= min_invite, "INVITE at {loss}: {ok_inv}");
    }
    println!("{report}");
}

/// A request whose Via names a port it does not listen on: with `rport` the response goes
/// back to the source port (RFC 3581 §4); the request the TU sees carries `received` and the
/// filled `rport` (§18.2.1).
#[test]
fn responses_follow_rport_and_received() {
    let mut net = pair(11);
    let branch = net.node_mut(A).new_branch();
    let req = Request::builder(Method::Options, Uri::parse("sip:b@10.0.0.2").unwrap())
        .via_rport("UDP", "client.invalid:5999", &branch)
        .from("<sip:a@example.com>", "f")
        .to("<sip:b@example.com>", None)
        .call_id("rport@sim")
        .cseq(1)
        .build()
        .unwrap();
    let flow = net.flow(A, B, TransportKind::Udp);
    let now = net.now();
    net.node_mut(A).send_request(now, req, flow).unwrap();
    let mut via_seen = String::new();
    let mut got = 0;
    net.run(|net, node, ev| match ev {
        Event::Request { tx, request, .. } => {
            via_seen = request
                .headers
                .get(sipline_proto::HeaderName::Via)
                .unwrap()
                .to_owned();
            let resp = Response::from_request(&request, StatusCode::OK, Some("t"));
            let now = net.now();
            net.node_mut(node).respond(now, tx, resp).unwrap();
        }
        Event::Response { .. } => got += 1,
        _ => {}
    })
    .unwrap();
    assert_eq!(
        via_seen,
        format!("SIP/2.0/UDP client.invalid:5999;branch={branch};rport=5060;received=10.0.0.1")
    );
    assert_eq!(
        got, 1,
        "the 200 reached 10.0.0.1:5060, not the Via's port 5999"
    );
}
