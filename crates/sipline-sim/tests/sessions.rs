//! INVITE sessions (RFC 3261 §13-§15) between two [`UaCore`]s in simulated time: the basic
//! call, lost ACKs and 2xx retransmission, the ACK timeout, CANCEL (also before any
//! provisional response and racing the 2xx), rejection, the no-answer timer, Timer B, and a
//! whole call under loss.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use sipline_proto::{
    Body, Cause, EndpointConfig, InviteParams, LocalTransport, Rel100, ReplyParams, SessionId,
    SessionState, StatusCode, TransportKind, UaConfig, UaCore, UaEvent, Uri,
};
use sipline_sim::{Link, Net, Packet};

const A: usize = 0;
const B: usize = 1;

const OFFER: &str = "v=0\r\no=a 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
const ANSWER: &str = "v=0\r\no=b 1 1 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n";

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Two user agents, alice at 10.0.0.1 and bob at 10.0.0.2, 10 ms apart.
fn pair(seed: u64, transport: TransportKind) -> Net<UaCore> {
    pair_rel100(seed, transport, [Rel100::None, Rel100::None])
}

/// [`pair`] with each side's 100rel policy.
fn pair_rel100(seed: u64, transport: TransportKind, rel100: [Rel100; 2]) -> Net<UaCore> {
    let mut net = Net::new(seed);
    for (i, user) in ["alice", "bob"].into_iter().enumerate() {
        let host = format!("10.0.0.{}:5060", i + 1);
        let param = if transport == TransportKind::Udp {
            String::new()
        } else {
            format!(";transport={}", transport.uri_param())
        };
        let mut cfg = UaConfig::new(
            format!("<sip:{user}@example.com>"),
            LocalTransport {
                kind: transport,
                sent_by: host.clone(),
                contact: format!("<sip:{user}@{host}{param}>"),
            },
        );
        cfg.endpoint = EndpointConfig {
            seed: seed * 2 + i as u64,
            ..EndpointConfig::default()
        };
        cfg.no_answer_timeout = Some(Duration::from_secs(60));
        cfg.rel100 = rel100[i];
        let n = net.add_node(UaCore::new(cfg));
        assert_eq!(net.addr(n).to_string(), host);
    }
    net.set_default_link(Link {
        latency: ms(10),
        ..Link::default()
    });
    net
}

fn call(net: &mut Net<UaCore>, transport: TransportKind) -> SessionId {
    let flow = net.flow(A, B, transport);
    let now = net.now();
    net.node_mut(A)
        .invite(
            now,
            InviteParams {
                target: Uri::parse("sip:bob@10.0.0.2").unwrap(),
                flow,
                offer: Some(Body::sdp(OFFER)),
                headers: vec![("X-Test".into(), "1".into())],
                rel100: None,
            },
        )
        .unwrap()
}

/// What each side saw, with the virtual instant.
#[derive(Debug, Default)]
struct Log {
    events: Vec<(Duration, usize, String)>,
    /// bob's session, from the Incoming event.
    incoming: Option<SessionId>,
}

impl Log {
    fn push(&mut self, t: Duration, node: usize, e: &UaEvent) {
        let name = match e {
            UaEvent::Incoming { session, .. } => {
                self.incoming = Some(*session);
                "incoming".to_owned()
            }
            UaEvent::Progress { response, .. } => format!("progress {}", response.status.as_u16()),
            UaEvent::Accepted { .. } => "accepted".to_owned(),
            UaEvent::Confirmed { .. } => "confirmed".to_owned(),
            UaEvent::Failed { cause, .. } => format!("failed {cause}"),
            UaEvent::Canceled { .. } => "canceled".to_owned(),
            UaEvent::Bye { .. } => "bye".to_owned(),
            UaEvent::Terminated { cause, .. } => format!("terminated {cause}"),
            other => format!("{other:?}"),
        };
        self.events.push((t, node, name));
    }

    fn of(&self, node: usize) -> Vec<&str> {
        self.events
            .iter()
            .filter(|(_, n, _)| *n == node)
            .map(|(_, _, e)| e.as_str())
            .collect()
    }

    fn at(&self, node: usize, name: &str) -> Duration {
        self.events
            .iter()
            .find(|(_, n, e)| *n == node && e == name)
            .map(|(t, _, _)| *t)
            .unwrap_or_else(|| panic!("node {node} never saw {name}: {:?}", self.events))
    }
}

fn count(net: &Net<UaCore>, from: usize, first_line: &str) -> usize {
    net.packets
        .iter()
        .filter(|p: &&Packet| p.from == from && p.first_line().starts_with(first_line))
        .count()
}

/// bob rings at once and answers after `answer_after`.
fn ring_then_answer(net: &mut Net<UaCore>, log: &mut Log, answer_after: Duration) {
    let mut pending: Option<(SessionId, Duration)> = None;
    loop {
        net.run_until(net.elapsed() + ms(50), |net, node, e| {
            log.push(net.elapsed(), node, &e);
            if let UaEvent::Incoming { session, request } = &e {
                assert_eq!(request.body.as_ref(), OFFER.as_bytes());
                assert_eq!(request.headers.get_other("X-Test"), Some("1"));
                let now = net.now();
                net.node_mut(B)
                    .progress(now, *session, ReplyParams::status(StatusCode::RINGING))
                    .unwrap();
                pending = Some((*session, net.elapsed() + answer_after));
            }
        })
        .unwrap();
        if let Some((sid, at)) = pending
            && net.elapsed() >= at
        {
            let now = net.now();
            net.node_mut(B)
                .accept(
                    now,
                    sid,
                    ReplyParams::status(StatusCode::OK).with_body(Body::sdp(ANSWER)),
                )
                .unwrap();
            pending = None;
        }
        let done = log.of(B).contains(&"confirmed")
            || log.events.iter().any(|e| e.2.starts_with("terminated"));
        if done && pending.is_none() {
            break;
        }
        assert!(
            net.elapsed() < Duration::from_secs(120),
            "call never settled: {log:?}"
        );
    }
}

#[test]
fn basic_call_then_bye_from_caller() {
    for transport in [TransportKind::Udp, TransportKind::Tcp] {
        let mut net = pair(1, transport);
        let mut log = Log::default();
        let a = call(&mut net, transport);
        ring_then_answer(&mut net, &mut log, ms(200));
        assert_eq!(
            log.of(A),
            ["progress 100", "progress 180", "accepted", "confirmed"]
        );
        assert_eq!(log.of(B), ["incoming", "accepted", "confirmed"]);
        // INVITE 10 ms, 180 back at 20 ms; bob answers 200 ms after the INVITE arrived
        // (checked at 50 ms steps), the ACK lands 10 ms after the 200.
        assert_eq!(log.at(A, "progress 180"), ms(20));
        let accepted = log.at(A, "accepted");
        assert_eq!(log.at(B, "confirmed"), accepted + ms(10));
        assert_eq!(net.node(A).state(a), Some(SessionState::Confirmed));
        let dialog = net.node(A).dialog(a).unwrap();
        assert_eq!(
            dialog.remote_target().as_str(),
            format!(
                "sip:bob@10.0.0.2:5060{}",
                if transport == TransportKind::Udp {
                    String::new()
                } else {
                    format!(";transport={}", transport.uri_param())
                }
            )
        );

        let now = net.now();
        net.node_mut(A).bye(now, a, &[]).unwrap();
        net.run(|net, node, e| log.push(net.elapsed(), node, &e))
            .unwrap();
        assert_eq!(log.of(A).last(), Some(&"terminated Terminated"));
        assert_eq!(&log.of(B)[3..], ["bye", "terminated Terminated"]);
        assert_eq!(count(&net, A, "BYE "), 1);
        assert_eq!(
            count(&net, B, "SIP/2.0 200 OK"),
            2,
            "the 2xx to the INVITE and to the BYE"
        );
        // Both sides forget the session 64*T1 after it ended.
        assert_eq!(net.node(A).sessions(), 0);
        assert_eq!(net.node(B).sessions(), 0);
    }
}

#[test]
fn bye_from_callee_and_commands_in_the_wrong_state() {
    let mut net = pair(2, TransportKind::Udp);
    let mut log = Log::default();
    let a = call(&mut net, TransportKind::Udp);
    // Before any answer: no BYE, no accept on the caller's side.
    let now = net.now();
    assert!(net.node_mut(A).bye(now, a, &[]).is_err());
    assert!(
        net.node_mut(A)
            .accept(now, a, ReplyParams::status(StatusCode::OK))
            .is_err()
    );
    ring_then_answer(&mut net, &mut log, ms(0));
    let b = log.incoming.unwrap();
    let now = net.now();
    // Already answered: a second accept or a reject is an InvalidState error.
    assert!(
        net.node_mut(B)
            .accept(now, b, ReplyParams::status(StatusCode::OK))
            .is_err()
    );
    assert!(
        net.node_mut(B)
            .reject(now, b, ReplyParams::status(StatusCode::BUSY_HERE))
            .is_err()
    );
    assert!(net.node_mut(A).cancel(now, a).is_err());
    net.node_mut(B)
        .bye(
            now,
            b,
            &[("Reason".into(), "SIP;cause=200;text=\"done\"".into())],
        )
        .unwrap();
    net.run(|net, node, e| log.push(net.elapsed(), node, &e))
        .unwrap();
    assert_eq!(&log.of(A)[4..], ["bye", "terminated Terminated"]);
    let bye = net
        .packets
        .iter()
        .find(|p| p.from == B && p.first_line().starts_with("BYE "))
        .unwrap();
    let text = String::from_utf8_lossy(&bye.payload);
    assert!(
        text.contains("Reason: SIP;cause=200;text=\"done\""),
        "{text}"
    );
    assert!(
        text.contains("CSeq: 1 BYE"),
        "the UAS's first request uses CSeq 1: {text}"
    );
}

#[test]
fn lost_ack_is_recovered_by_2xx_retransmission() {
    let mut net = pair(3, TransportKind::Udp);
    let mut log = Log::default();
    // The first ACK is lost.
    let mut dropped = false;
    net.drop_if(move |p| {
        if !dropped && p.first_line().starts_with("ACK ") {
            dropped = true;
            return true;
        }
        false
    });
    call(&mut net, TransportKind::Udp);
    ring_then_answer(&mut net, &mut log, ms(0));
    // bob retransmits the 200 at T1 (500 ms) after sending it; alice ACKs it again.
    let accepted_b = log.at(B, "accepted");
    assert_eq!(log.at(B, "confirmed"), accepted_b + ms(500) + ms(20));
    assert_eq!(count(&net, A, "ACK "), 2);
    assert_eq!(count(&net, B, "SIP/2.0 200 OK"), 2);
}

#[test]
fn no_ack_ends_the_session_with_bye_after_64_t1() {
    let mut net = pair(4, TransportKind::Udp);
    let mut log = Log::default();
    net.drop_if(|p| p.first_line().starts_with("ACK "));
    call(&mut net, TransportKind::Udp);
    net.run(|net, node, e| {
        log.push(net.elapsed(), node, &e);
        if let UaEvent::Incoming { session, .. } = &e {
            let now = net.now();
            net.node_mut(B)
                .accept(
                    now,
                    *session,
                    ReplyParams::status(StatusCode::OK).with_body(Body::sdp(ANSWER)),
                )
                .unwrap();
        }
    })
    .unwrap();
    let accepted = log.at(B, "accepted");
    assert_eq!(
        log.at(B, "terminated No ACK"),
        accepted + Duration::from_secs(32)
    );
    // Retransmissions at 0.5, 1.5, 3.5, 7.5, 11.5, ... (T1 doubling, capped at T2 = 4 s).
    let sent: Vec<Duration> = net
        .packets
        .iter()
        .filter(|p| p.from == B && p.first_line().starts_with("SIP/2.0 200"))
        .map(|p| p.sent - accepted)
        .collect();
    assert_eq!(
        &sent[..6],
        [ms(0), ms(500), ms(1500), ms(3500), ms(7500), ms(11500)]
    );
    assert!(sent.iter().all(|t| *t <= Duration::from_secs(32)));
    assert_eq!(count(&net, B, "BYE "), 1);
    // alice answered the BYE and ended too.
    assert_eq!(log.of(A).last(), Some(&"terminated Terminated"));
}

#[test]
fn cancel_after_ringing() {
    let mut net = pair(5, TransportKind::Udp);
    let mut log = Log::default();
    let a = call(&mut net, TransportKind::Udp);
    net.run_until(ms(100), |net, node, e| {
        log.push(net.elapsed(), node, &e);
        if let UaEvent::Incoming { session, .. } = &e {
            let now = net.now();
            net.node_mut(B)
                .progress(now, *session, ReplyParams::status(StatusCode::RINGING))
                .unwrap();
        }
    })
    .unwrap();
    let now = net.now();
    let reason = (
        "Reason".to_owned(),
        "SIP;cause=200;text=\"elsewhere\"".to_owned(),
    );
    net.node_mut(A).cancel_with(now, a, &[reason]).unwrap();
    net.run(|net, node, e| log.push(net.elapsed(), node, &e))
        .unwrap();
    let cancel = net
        .packets
        .iter()
        .find(|p| p.first_line().starts_with("CANCEL "))
        .unwrap();
    let text = String::from_utf8_lossy(&cancel.payload);
    assert!(
        text.contains("Reason: SIP;cause=200;text=\"elsewhere\""),
        "{text}"
    );
    assert_eq!(&log.of(B)[1..], ["canceled", "terminated Canceled"]);
    assert_eq!(&log.of(A)[2..], ["failed Canceled", "terminated Canceled"]);
    assert_eq!(count(&net, B, "SIP/2.0 487"), 1);
    assert_eq!(
        count(&net, A, "ACK "),
        1,
        "the 487 is ACKed by the transaction"
    );
}

#[test]
fn cancel_before_any_response_waits_for_the_100() {
    let mut net = pair(6, TransportKind::Udp);
    let mut log = Log::default();
    let a = call(&mut net, TransportKind::Udp);
    let now = net.now();
    net.node_mut(A).cancel(now, a).unwrap();
    // Nothing went yet: the CANCEL leaves when the 100 Trying arrives (§9.1), at 20 ms.
    net.run(|net, node, e| log.push(net.elapsed(), node, &e))
        .unwrap();
    let cancel = net
        .packets
        .iter()
        .find(|p| p.first_line().starts_with("CANCEL "))
        .unwrap();
    assert_eq!(cancel.sent, ms(20));
    assert!(log.of(A).contains(&"failed Canceled"));
    assert!(log.of(B).contains(&"canceled"));
}

#[test]
fn cancel_crossing_the_200_is_acked_then_byed() {
    let mut net = pair(7, TransportKind::Udp);
    let mut log = Log::default();
    let a = call(&mut net, TransportKind::Udp);
    // bob rings at 10 ms; the 180 reaches alice at 20 ms and she cancels at once.
    net.run_until(ms(20), |net, node, e| {
        log.push(net.elapsed(), node, &e);
        if let UaEvent::Incoming { session, .. } = &e {
            let now = net.now();
            net.node_mut(B)
                .progress(now, *session, ReplyParams::status(StatusCode::RINGING))
                .unwrap();
        }
    })
    .unwrap();
    assert_eq!(log.of(A), ["progress 100", "progress 180"]);
    let now = net.now();
    net.node_mut(A).cancel(now, a).unwrap();
    // bob answers at 25 ms, before the CANCEL reaches him at 30 ms.
    net.run_until(ms(25), |net, node, e| log.push(net.elapsed(), node, &e))
        .unwrap();
    let b = log.incoming.unwrap();
    let now = net.now();
    net.node_mut(B)
        .accept(
            now,
            b,
            ReplyParams::status(StatusCode::OK).with_body(Body::sdp(ANSWER)),
        )
        .unwrap();
    net.run(|net, node, e| log.push(net.elapsed(), node, &e))
        .unwrap();
    // The CANCEL found the INVITE answered: 200 to it, no 487 (§9.2).
    assert_eq!(count(&net, B, "SIP/2.0 487"), 0);
    // alice ACKs the 200 that crossed her CANCEL, then ends the call with a BYE (§9.1).
    assert_eq!(net.sent_by(A, "ACK "), [ms(35)]);
    assert_eq!(net.sent_by(A, "BYE "), [ms(35)]);
    assert_eq!(log.of(A).last(), Some(&"terminated Canceled"));
    assert_eq!(
        &log.of(B)[1..],
        ["accepted", "confirmed", "bye", "terminated Terminated"]
    );
}

#[test]
fn reject_busy() {
    let mut net = pair(8, TransportKind::Udp);
    let mut log = Log::default();
    call(&mut net, TransportKind::Udp);
    net.run(|net, node, e| {
        log.push(net.elapsed(), node, &e);
        if let UaEvent::Incoming { session, .. } = &e {
            let now = net.now();
            net.node_mut(B)
                .reject(now, *session, ReplyParams::status(StatusCode::BUSY_HERE))
                .unwrap();
        }
    })
    .unwrap();
    assert_eq!(&log.of(A)[1..], ["failed Busy", "terminated Busy"]);
    assert_eq!(log.of(B), ["incoming", "terminated Rejected"]);
}

#[test]
fn unanswered_invite_gets_480_after_the_no_answer_timeout() {
    let mut net = pair(9, TransportKind::Udp);
    let mut log = Log::default();
    call(&mut net, TransportKind::Udp);
    net.run(|net, node, e| log.push(net.elapsed(), node, &e))
        .unwrap();
    assert_eq!(
        log.at(B, "terminated No Answer"),
        Duration::from_secs(60) + ms(10)
    );
    assert_eq!(
        log.at(A, "failed Unavailable"),
        Duration::from_secs(60) + ms(20)
    );
}

#[test]
fn no_response_at_all_fails_with_timer_b() {
    let mut net = pair(10, TransportKind::Udp);
    let mut log = Log::default();
    net.drop_if(|p| p.from == A);
    call(&mut net, TransportKind::Udp);
    net.run(|net, node, e| log.push(net.elapsed(), node, &e))
        .unwrap();
    assert_eq!(log.at(A, "failed Request Timeout"), Duration::from_secs(32));
}

#[test]
fn requests_outside_any_session() {
    let mut net = pair(11, TransportKind::Udp);
    let now = net.now();
    let flow = net.flow(A, B, TransportKind::Udp);
    // An OPTIONS is answered by the core; a BYE for no dialog gets 481.
    let tx_opt = net
        .node_mut(A)
        .send_request(
            now,
            sipline_proto::Method::Options,
            Uri::parse("sip:bob@10.0.0.2").unwrap(),
            flow,
            &[],
            None,
        )
        .unwrap();
    let tx_bye = net
        .node_mut(A)
        .send_request(
            now,
            sipline_proto::Method::Bye,
            Uri::parse("sip:bob@10.0.0.2").unwrap(),
            flow,
            &[],
            None,
        )
        .unwrap();
    let mut got = Vec::new();
    net.run(|_net, _node, e| {
        if let UaEvent::Response { tx, response } = e {
            got.push((tx, response.map(|r| r.status.as_u16())));
        }
    })
    .unwrap();
    assert!(got.contains(&(tx_opt, Ok(200))), "{got:?}");
    assert!(got.contains(&(tx_bye, Ok(481))), "{got:?}");
    let ok = net
        .packets
        .iter()
        .find(|p| p.from == B && p.first_line().starts_with("SIP/2.0 200"))
        .unwrap();
    assert!(String::from_utf8_lossy(&ok.payload).contains("Allow: INVITE, ACK, CANCEL, BYE"));
}

#[test]
fn calls_complete_under_loss() {
    // 200 seeds at 10% and 30% loss on both directions: the share of calls confirmed on both
    // sides (the rest fail cleanly on Timer B or the ACK wait).
    for (loss, min_rate) in [(0.1, 0.99), (0.3, 0.90)] {
        let mut confirmed = 0;
        let runs = 200;
        for seed in 0..runs {
            let mut net = pair(1000 + seed, TransportKind::Udp);
            net.set_default_link(Link {
                latency: ms(10),
                loss,
                ..Link::default()
            });
            let mut log = Log::default();
            let a = call(&mut net, TransportKind::Udp);
            net.run(|net, node, e| {
                log.push(net.elapsed(), node, &e);
                if let UaEvent::Incoming { session, .. } = &e {
                    let now = net.now();
                    net.node_mut(B)
                        .accept(
                            now,
                            *session,
                            ReplyParams::status(StatusCode::OK).with_body(Body::sdp(ANSWER)),
                        )
                        .unwrap();
                }
            })
            .unwrap();
            let a_ok = log.of(A).contains(&"confirmed");
            let b_ok = log.of(B).contains(&"confirmed");
            if a_ok && b_ok {
                confirmed += 1;
            }
            let _ = a;
        }
        let rate = confirmed as f64 / runs as f64;
        eprintln!("loss {loss}: {confirmed}/{runs} calls confirmed on both sides");
        assert!(
            rate >= min_rate,
            "loss {loss}: {confirmed}/{runs} calls confirmed"
        );
    }
}

impl Log {
    #[allow(dead_code)]
    fn dump(&self) -> String {
        format!("{:?}", self.events)
    }
}

#[test]
fn failed_cause_texts() {
    assert_eq!(Cause::Canceled.to_string(), "Canceled");
}

#[test]
fn replies_with_a_status_of_the_wrong_class_are_refused() {
    let mut net = pair(12, TransportKind::Udp);
    let mut log = Log::default();
    call(&mut net, TransportKind::Udp);
    let mut errors = Vec::new();
    net.run(|net, node, e| {
        log.push(net.elapsed(), node, &e);
        if let UaEvent::Incoming { session, .. } = &e {
            let now = net.now();
            let b = net.node_mut(B);
            for r in [
                b.progress(now, *session, ReplyParams::status(StatusCode::OK)),
                b.progress(now, *session, ReplyParams::status(StatusCode::TRYING)),
                b.accept(now, *session, ReplyParams::status(StatusCode::BUSY_HERE)),
                b.reject(now, *session, ReplyParams::status(StatusCode::RINGING)),
            ] {
                errors.push(r.unwrap_err().to_string());
            }
            b.reject(now, *session, ReplyParams::status(StatusCode::DECLINE))
                .unwrap();
        }
    })
    .unwrap();
    assert_eq!(
        errors,
        [
            "invalid argument: progress needs a status in 101..=199, not 200",
            "invalid argument: progress needs a status in 101..=199, not 100",
            "invalid argument: accept needs a status in 200..=299, not 486",
            "invalid argument: reject needs a status in 300..=699, not 180",
        ]
    );
    assert_eq!(&log.of(A)[1..], ["failed Rejected", "terminated Rejected"]);
}

const EARLY: &str = "v=0\r\no=b 1 1 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n";

/// bob sends a reliable 183 with SDP and accepts at once; returns the log.
fn early_media_call(net: &mut Net<UaCore>) -> Log {
    let mut log = Log::default();
    call(net, TransportKind::Udp);
    net.run(|net, node, e| {
        log.push(net.elapsed(), node, &e);
        if let UaEvent::Incoming { session, .. } = &e {
            let now = net.now();
            let b = net.node_mut(B);
            b.progress(
                now,
                *session,
                ReplyParams::status(StatusCode::SESSION_PROGRESS)
                    .with_body(Body::sdp(EARLY))
                    .reliable(),
            )
            .unwrap();
            // Held until the PRACK: the 183 carried SDP (RFC 3262 §3).
            b.accept(
                now,
                *session,
                ReplyParams::status(StatusCode::OK).with_body(Body::sdp(ANSWER)),
            )
            .unwrap();
        }
        if let UaEvent::Confirmed { session, .. } = &e
            && node == A
        {
            let now = net.now();
            net.node_mut(A).bye(now, *session, &[]).unwrap();
        }
    })
    .unwrap();
    log
}

#[test]
fn reliable_183_is_pracked_before_the_200() {
    let mut net = pair_rel100(
        13,
        TransportKind::Udp,
        [Rel100::Supported, Rel100::Supported],
    );
    let log = early_media_call(&mut net);
    assert_eq!(
        log.of(A),
        [
            "progress 100",
            "progress 183",
            "accepted",
            "confirmed",
            "terminated Terminated"
        ]
    );
    let invite = net.packets.iter().find(|p| p.from == A).unwrap();
    assert!(String::from_utf8_lossy(&invite.payload).contains("Supported: 100rel, replaces"));
    let p183 = net
        .packets
        .iter()
        .find(|p| p.first_line().starts_with("SIP/2.0 183"))
        .unwrap();
    let text = String::from_utf8_lossy(&p183.payload);
    assert!(
        text.contains("Require: 100rel") && text.contains("RSeq: "),
        "{text}"
    );
    let rseq = text
        .lines()
        .find_map(|l| l.strip_prefix("RSeq: "))
        .unwrap()
        .to_owned();
    // The 183 leaves at 10 ms, the PRACK at 20 ms, its 200 and the held 200 for the
    // INVITE at 30 ms.
    assert_eq!(net.sent_by(A, "PRACK "), [ms(20)]);
    let prack = net
        .packets
        .iter()
        .find(|p| p.first_line().starts_with("PRACK "))
        .unwrap();
    assert!(String::from_utf8_lossy(&prack.payload).contains(&format!("RAck: {rseq} 1 INVITE")));
    let oks: Vec<Duration> = net.sent_by(B, "SIP/2.0 200");
    assert_eq!(
        &oks[..2],
        [ms(30), ms(30)],
        "200 to the PRACK, then to the INVITE"
    );
}

#[test]
fn lost_reliable_183_is_retransmitted_and_pracked_once() {
    let mut net = pair_rel100(
        14,
        TransportKind::Udp,
        [Rel100::Supported, Rel100::Supported],
    );
    let mut dropped = false;
    net.drop_if(move |p| {
        if !dropped && p.first_line().starts_with("SIP/2.0 183") {
            dropped = true;
            return true;
        }
        false
    });
    let log = early_media_call(&mut net);
    assert!(log.of(A).contains(&"confirmed"));
    // Sent at 10 ms (lost) and again at T1 = 510 ms; one PRACK.
    assert_eq!(&net.sent_by(B, "SIP/2.0 183")[..2], [ms(10), ms(510)]);
    assert_eq!(net.sent_by(A, "PRACK "), [ms(520)]);
}

#[test]
fn no_prack_rejects_the_invite_after_64_t1() {
    let mut net = pair_rel100(
        15,
        TransportKind::Udp,
        [Rel100::Supported, Rel100::Supported],
    );
    net.drop_if(|p| p.first_line().starts_with("PRACK "));
    let log = early_media_call(&mut net);
    assert_eq!(
        log.at(B, "terminated No PRACK"),
        ms(10) + Duration::from_secs(32)
    );
    assert!(
        log.of(A).contains(&"failed SIP Failure Code"),
        "{:?}",
        log.of(A)
    );
    // 183 retransmissions at T1 doubling, no T2 cap: 10, 510, 1510, 3510, 7510, 15510 ms.
    assert_eq!(
        &net.sent_by(B, "SIP/2.0 183")[..6],
        [ms(10), ms(510), ms(1510), ms(3510), ms(7510), ms(15510)]
    );
    assert_eq!(count(&net, B, "SIP/2.0 200"), 0, "the held 200 never went");
}

#[test]
fn rel100_policies_mismatch_give_420_and_421() {
    // alice requires 100rel, bob does not do it: 420 with Unsupported.
    let mut net = pair_rel100(16, TransportKind::Udp, [Rel100::Required, Rel100::None]);
    let mut log = Log::default();
    call(&mut net, TransportKind::Udp);
    net.run(|net, node, e| log.push(net.elapsed(), node, &e))
        .unwrap();
    assert_eq!(
        &log.of(A)[1..],
        ["failed SIP Failure Code", "terminated SIP Failure Code"]
    );
    let r = net
        .packets
        .iter()
        .find(|p| p.from == B && p.first_line().contains("420"))
        .unwrap();
    assert!(String::from_utf8_lossy(&r.payload).contains("Unsupported: 100rel"));
    assert!(log.of(B).is_empty());

    // bob requires it, alice does not offer it: 421 with Require.
    let mut net = pair_rel100(17, TransportKind::Udp, [Rel100::None, Rel100::Required]);
    let mut log = Log::default();
    call(&mut net, TransportKind::Udp);
    net.run(|net, node, e| log.push(net.elapsed(), node, &e))
        .unwrap();
    let r = net
        .packets
        .iter()
        .find(|p| p.from == B && p.first_line().contains("421"))
        .unwrap();
    assert!(String::from_utf8_lossy(&r.payload).contains("Require: 100rel"));

    // Both require it: every provisional response is reliable, the call completes.
    let mut net = pair_rel100(18, TransportKind::Udp, [Rel100::Required, Rel100::Required]);
    let mut log = Log::default();
    call(&mut net, TransportKind::Udp);
    net.run(|net, node, e| {
        log.push(net.elapsed(), node, &e);
        if let UaEvent::Incoming { session, .. } = &e {
            let now = net.now();
            net.node_mut(B)
                .progress(now, *session, ReplyParams::status(StatusCode::RINGING))
                .unwrap();
            // A second reliable 1xx must wait for the first one's PRACK.
            assert!(
                net.node_mut(B)
                    .progress(now, *session, ReplyParams::status(StatusCode::RINGING))
                    .is_err()
            );
            net.node_mut(B)
                .accept(
                    now,
                    *session,
                    ReplyParams::status(StatusCode::OK).with_body(Body::sdp(ANSWER)),
                )
                .unwrap();
        }
    })
    .unwrap();
    assert!(log.of(A).contains(&"confirmed"));
    assert_eq!(count(&net, A, "PRACK "), 1);
}

const HOLD: &str = "v=0\r\no=a 1 2 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=sendonly\r\n";

/// An established call; returns (alice's session, bob's session, the log).
fn established(net: &mut Net<UaCore>) -> (SessionId, SessionId, Log) {
    let mut log = Log::default();
    let a = call(net, TransportKind::Udp);
    ring_then_answer(net, &mut log, ms(0));
    (a, log.incoming.unwrap(), log)
}

/// Runs to quiescence; each side accepts every re-INVITE with `answer`.
fn run_accepting_reinvites(net: &mut Net<UaCore>, log: &mut Log) -> Vec<(Duration, usize, u16)> {
    let mut results = Vec::new();
    net.run(|net, node, e| {
        log.push(net.elapsed(), node, &e);
        match &e {
            UaEvent::Reinvite { session, request } => {
                assert!(!request.body.is_empty());
                let now = net.now();
                net.node_mut(node)
                    .accept_reinvite(now, *session, Some(Body::sdp(ANSWER)))
                    .unwrap();
            }
            UaEvent::ReinviteAccepted { response, .. } => {
                results.push((net.elapsed(), node, response.status.as_u16()));
            }
            UaEvent::ReinviteFailed { status, .. } => {
                results.push((net.elapsed(), node, status.as_u16()));
            }
            _ => {}
        }
    })
    .unwrap();
    results
}

#[test]
fn reinvite_puts_the_call_on_hold() {
    let mut net = pair(20, TransportKind::Udp);
    let (a, _b, mut log) = established(&mut net);
    let start = net.elapsed();
    let now = net.now();
    net.node_mut(A)
        .reinvite(now, a, Some(Body::sdp(HOLD)), &[])
        .unwrap();
    // One INVITE transaction at a time.
    assert!(net.node_mut(A).reinvite(now, a, None, &[]).is_err());
    let results = run_accepting_reinvites(&mut net, &mut log);
    assert_eq!(results, [(start + ms(20), A, 200)]);
    let reinvite = net
        .packets
        .iter()
        .filter(|p| p.from == A && p.first_line().starts_with("INVITE "))
        .nth(1)
        .unwrap();
    let text = String::from_utf8_lossy(&reinvite.payload);
    assert!(
        text.contains("CSeq: 2 INVITE") && text.contains("a=sendonly"),
        "{text}"
    );
    assert!(text.contains(";tag="), "in-dialog: To has a tag");
    assert_eq!(
        count(&net, A, "ACK "),
        2,
        "the first 2xx and the re-INVITE's"
    );
    assert_eq!(count(&net, B, "SIP/2.0 200 OK"), 2, "no 2xx retransmission");
    assert_eq!(net.node(A).state(a), Some(SessionState::Confirmed));
}

#[test]
fn rejected_reinvite_leaves_the_session_up() {
    let mut net = pair(21, TransportKind::Udp);
    let (a, _b, mut log) = established(&mut net);
    let now = net.now();
    net.node_mut(A)
        .reinvite(now, a, Some(Body::sdp(HOLD)), &[])
        .unwrap();
    let mut failed = Vec::new();
    net.run(|net, node, e| {
        log.push(net.elapsed(), node, &e);
        match &e {
            UaEvent::Reinvite { session, .. } => {
                let now = net.now();
                net.node_mut(B)
                    .reject_reinvite(
                        now,
                        *session,
                        ReplyParams::status(StatusCode::NOT_ACCEPTABLE_HERE),
                    )
                    .unwrap();
            }
            UaEvent::ReinviteFailed { status, .. } => failed.push(status.as_u16()),
            _ => {}
        }
    })
    .unwrap();
    assert_eq!(failed, [488]);
    assert_eq!(net.node(A).state(a), Some(SessionState::Confirmed));
    // And the session still works: a BYE ends it.
    let now = net.now();
    net.node_mut(A).bye(now, a, &[]).unwrap();
    net.run(|net, node, e| log.push(net.elapsed(), node, &e))
        .unwrap();
    assert_eq!(log.of(B).last(), Some(&"terminated Terminated"));
}

#[test]
fn reinvite_glare_is_resolved_by_491_and_retry() {
    let mut net = pair(22, TransportKind::Udp);
    let (a, b, mut log) = established(&mut net);
    let start = net.elapsed();
    let now = net.now();
    net.node_mut(A)
        .reinvite(now, a, Some(Body::sdp(HOLD)), &[])
        .unwrap();
    net.node_mut(B)
        .reinvite(now, b, Some(Body::sdp(HOLD)), &[])
        .unwrap();
    let results = run_accepting_reinvites(&mut net, &mut log);
    // Both got 491 at +20 ms; both retried and succeeded, bob (not the Call-ID owner) within
    // 0-2 s, alice (the owner) after 2.1-4 s (§14.1).
    assert_eq!(count(&net, A, "SIP/2.0 491"), 1);
    assert_eq!(count(&net, B, "SIP/2.0 491"), 1);
    assert_eq!(results.len(), 2, "{results:?}");
    let (t_b, _, s_b) = results.iter().find(|r| r.1 == B).copied().unwrap();
    let (t_a, _, s_a) = results.iter().find(|r| r.1 == A).copied().unwrap();
    assert_eq!((s_a, s_b), (200, 200));
    let retry_b = t_b - start - ms(40);
    let retry_a = t_a - start - ms(40);
    assert!(
        retry_b <= Duration::from_secs(2),
        "bob retried after {retry_b:?}"
    );
    assert!(
        retry_a >= ms(2100) && retry_a <= Duration::from_secs(4),
        "alice retried after {retry_a:?}"
    );
}

#[test]
fn reinvite_once_reports_glare_instead_of_retrying() {
    let mut net = pair(24, TransportKind::Udp);
    let (a, b, mut log) = established(&mut net);
    let start = net.elapsed();
    let now = net.now();
    net.node_mut(A)
        .reinvite_once(now, a, Some(Body::sdp(HOLD)), &[])
        .unwrap();
    net.node_mut(B)
        .reinvite_once(now, b, Some(Body::sdp(HOLD)), &[])
        .unwrap();
    let results = run_accepting_reinvites(&mut net, &mut log);
    // Both get the 491 reported at once; nothing is sent again (§14.1 leaves it to them).
    let mut results = results;
    results.sort();
    assert_eq!(
        results,
        [(start + ms(20), A, 491), (start + ms(20), B, 491)]
    );
    let invites = |from| {
        net.packets
            .iter()
            .filter(|p| p.from == from && p.first_line().starts_with("INVITE "))
            .count()
    };
    assert_eq!((invites(A), invites(B)), (2, 1), "no retry");
    // The sessions are up and a new re-INVITE goes through.
    let now = net.now();
    net.node_mut(B)
        .reinvite_once(now, b, Some(Body::sdp(HOLD)), &[])
        .unwrap();
    let results = run_accepting_reinvites(&mut net, &mut log);
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].2, 200);
}

#[test]
fn info_and_refer_inside_the_dialog() {
    let mut net = pair(23, TransportKind::Udp);
    let (a, _b, mut log) = established(&mut net);
    let now = net.now();
    let relay = Body {
        content_type: "application/dtmf-relay".into(),
        bytes: "Signal=5\r\nDuration=160\r\n".into(),
    };
    let info = net
        .node_mut(A)
        .request_in_dialog(now, a, sipline_proto::Method::Info, &[], Some(relay))
        .unwrap();
    let refer = net
        .node_mut(A)
        .request_in_dialog(
            now,
            a,
            sipline_proto::Method::Refer,
            &[("Refer-To".into(), "<sip:carol@10.0.0.3>".into())],
            None,
        )
        .unwrap();
    assert!(
        net.node_mut(A)
            .request_in_dialog(now, a, sipline_proto::Method::Bye, &[], None)
            .is_err()
    );
    let mut seen = Vec::new();
    let mut answers = Vec::new();
    net.run(|net, node, e| {
        log.push(net.elapsed(), node, &e);
        match e {
            UaEvent::InDialogRequest { tx, request, .. } => {
                seen.push((
                    request.method.to_string(),
                    String::from_utf8_lossy(&request.body).into_owned(),
                ));
                let status = if request.method == sipline_proto::Method::Refer {
                    StatusCode::ACCEPTED
                } else {
                    StatusCode::OK
                };
                let r = sipline_proto::Response::from_request(&request, status, None);
                let now = net.now();
                net.node_mut(node).respond(now, tx, r).unwrap();
            }
            UaEvent::Response { tx, response } => {
                answers.push((tx, response.map(|r| r.status.as_u16())));
            }
            _ => {}
        }
    })
    .unwrap();
    assert_eq!(
        seen,
        [
            ("INFO".to_owned(), "Signal=5\r\nDuration=160\r\n".to_owned()),
            ("REFER".to_owned(), String::new())
        ]
    );
    assert!(
        answers.contains(&(info, Ok(200))) && answers.contains(&(refer, Ok(202))),
        "{answers:?}"
    );
    let sent = net
        .packets
        .iter()
        .find(|p| p.first_line().starts_with("INFO "))
        .unwrap();
    assert!(String::from_utf8_lossy(&sent.payload).contains("CSeq: 2 INFO"));
}

/// bob as a registrar with digest auth (user alice, password `secret`), granting 60 s.
fn registrar_app(
    net: &mut Net<UaCore>,
    node: usize,
    e: &UaEvent,
    server: &sipline_proto::DigestServer,
) {
    let UaEvent::Request { tx, request, .. } = e else {
        return;
    };
    assert_eq!(request.method, sipline_proto::Method::Register);
    let now_s = net.elapsed().as_secs();
    let lookup = |user: &str, _hashed: bool| {
        (user == "alice").then(|| sipline_proto::Credentials::new("alice", "secret"))
    };
    let resp = match server.verify_request(now_s, request, sipline_proto::AuthKind::Www, lookup) {
        Ok(_) => {
            let mut r = sipline_proto::Response::from_request(request, StatusCode::OK, Some("reg"));
            let contact = request
                .headers
                .get(sipline_proto::HeaderName::Contact)
                .unwrap();
            let expires = if request.headers.get(sipline_proto::HeaderName::Expires) == Some("0") {
                0
            } else {
                60
            };
            if expires > 0 {
                let bare = contact.split(';').next().unwrap().to_owned();
                r.headers
                    .push("Contact", &format!("{bare};expires={expires}"))
                    .unwrap();
            }
            r
        }
        Err(e) => {
            let mut r = sipline_proto::Response::from_request(
                request,
                StatusCode::UNAUTHORIZED,
                Some("reg"),
            );
            server.add_challenges(&mut r, sipline_proto::AuthKind::Www, now_s, e.is_stale());
            r
        }
    };
    let now = net.now();
    net.node_mut(node).respond(now, *tx, resp).unwrap();
}

fn register(net: &mut Net<UaCore>, password: &str) -> sipline_proto::RegistrationId {
    let mut params = sipline_proto::RegisterParams::new(
        Uri::parse("sip:10.0.0.2").unwrap(),
        "<sip:alice@example.com>",
        "<sip:alice@10.0.0.1:5060>",
    );
    params.expires = 60;
    params.credentials = Some(sipline_proto::Credentials::new("alice", password));
    let flow = net.flow(A, B, TransportKind::Udp);
    let now = net.now();
    net.node_mut(A).register(now, params, flow).unwrap()
}

#[test]
fn register_with_digest_refresh_and_unregister() {
    let mut net = pair(30, TransportKind::Udp);
    let server = sipline_proto::DigestServer::new("sipline.test", b"registrar secret".to_vec());
    let id = register(&mut net, "secret");
    let mut seen = Vec::new();
    net.run_until(Duration::from_secs(40), |net, node, e| {
        if node == B {
            registrar_app(net, B, &e, &server);
        } else if let UaEvent::Registered {
            registration,
            expires,
        } = e
        {
            assert_eq!(registration, id);
            seen.push((net.elapsed(), expires));
        }
    })
    .unwrap();
    // 401 at 20 ms, 200 at 40 ms; a binding shorter than 64 s is refreshed half-way, 30 s
    // after the REGISTER that won it was sent (20 ms), with cached credentials (no 401).
    assert_eq!(seen, [(ms(40), 60), (Duration::from_secs(30) + ms(40), 60)]);
    assert_eq!(count(&net, B, "SIP/2.0 401"), 1);
    let registers: Vec<String> = net
        .packets
        .iter()
        .filter(|p| p.first_line().starts_with("REGISTER"))
        .map(|p| String::from_utf8_lossy(&p.payload).into_owned())
        .collect();
    assert_eq!(registers.len(), 3);
    assert!(
        registers[2].contains("CSeq: 3 REGISTER") && registers[2].contains("Authorization: Digest")
    );
    let call_ids: Vec<&str> = registers
        .iter()
        .map(|r| r.lines().find(|l| l.starts_with("Call-ID:")).unwrap())
        .collect();
    assert!(
        call_ids.iter().all(|c| *c == call_ids[0]),
        "one Call-ID (§10.2.4)"
    );

    let now = net.now();
    net.node_mut(A).unregister(now, id).unwrap();
    let mut gone = false;
    net.run_until(Duration::from_secs(200), |net, node, e| {
        if node == B {
            registrar_app(net, B, &e, &server);
        } else if let UaEvent::Unregistered { .. } = e {
            gone = true;
        }
    })
    .unwrap();
    assert!(gone);
    assert_eq!(
        count(&net, A, "REGISTER"),
        4,
        "no refresh after unregistering"
    );
}

#[test]
fn register_with_a_wrong_password_or_no_registrar_fails() {
    let mut net = pair(31, TransportKind::Udp);
    let server = sipline_proto::DigestServer::new("sipline.test", b"registrar secret".to_vec());
    register(&mut net, "wrong");
    let mut failed = Vec::new();
    net.run(|net, node, e| {
        if node == B {
            registrar_app(net, B, &e, &server);
        } else if let UaEvent::RegistrationFailed { status, .. } = e {
            failed.push((net.elapsed(), status.map(|s| s.as_u16())));
        }
    })
    .unwrap();
    assert_eq!(failed, [(ms(40), Some(401))], "the second 401 is final");

    let mut net = pair(32, TransportKind::Udp);
    net.drop_if(|p| p.from == A);
    register(&mut net, "secret");
    let mut failed = Vec::new();
    net.run(|net, _node, e| {
        if let UaEvent::RegistrationFailed { status, .. } = e {
            failed.push((net.elapsed(), status));
        }
    })
    .unwrap();
    assert_eq!(failed, [(Duration::from_secs(32), None)], "Timer F");
}

#[test]
fn invite_challenged_with_401_is_sent_again_with_credentials() {
    for (password, want_confirmed) in [("secret", true), ("wrong", false)] {
        let mut net = Net::new(33);
        for (i, user) in ["alice", "bob"].into_iter().enumerate() {
            let host = format!("10.0.0.{}:5060", i + 1);
            let mut cfg = UaConfig::new(
                format!("<sip:{user}@example.com>"),
                LocalTransport {
                    kind: TransportKind::Udp,
                    sent_by: host.clone(),
                    contact: format!("<sip:{user}@{host}>"),
                },
            );
            cfg.endpoint.seed = 66 + i as u64;
            if i == A {
                cfg.credentials = Some(sipline_proto::Credentials::new("alice", password));
            }
            net.add_node(UaCore::new(cfg));
        }
        net.set_default_link(Link {
            latency: ms(10),
            ..Link::default()
        });
        let server = sipline_proto::DigestServer::new("sipline.test", b"s".to_vec());
        let mut log = Log::default();
        call(&mut net, TransportKind::Udp);
        net.run(|net, node, e| {
            log.push(net.elapsed(), node, &e);
            if let UaEvent::Incoming { session, request } = &e {
                let now = net.now();
                let lookup = |u: &str, _| {
                    (u == "alice").then(|| sipline_proto::Credentials::new("alice", "secret"))
                };
                match server.verify_request(0, request, sipline_proto::AuthKind::Www, lookup) {
                    Ok(_) => net
                        .node_mut(B)
                        .accept(
                            now,
                            *session,
                            ReplyParams::status(StatusCode::OK).with_body(Body::sdp(ANSWER)),
                        )
                        .unwrap(),
                    Err(_) => {
                        let mut r = ReplyParams::status(StatusCode::UNAUTHORIZED);
                        for c in server.challenges(0, false) {
                            r.headers.push(("WWW-Authenticate".into(), c.to_string()));
                        }
                        net.node_mut(B).reject(now, *session, r).unwrap();
                    }
                }
            }
        })
        .unwrap();
        let invites: Vec<String> = net
            .packets
            .iter()
            .filter(|p| p.from == A && p.first_line().starts_with("INVITE"))
            .map(|p| String::from_utf8_lossy(&p.payload).into_owned())
            .collect();
        assert_eq!(invites.len(), 2, "one retry, with or without success");
        assert!(
            invites[1].contains("Authorization: Digest") && invites[1].contains("CSeq: 2 INVITE")
        );
        let call_id = |m: &str| {
            m.lines()
                .find(|l| l.starts_with("Call-ID"))
                .unwrap()
                .to_owned()
        };
        assert_eq!(call_id(&invites[0]), call_id(&invites[1]));
        if want_confirmed {
            assert!(log.of(A).contains(&"confirmed"), "{:?}", log.of(A));
            assert!(!log.of(A).iter().any(|e| e.starts_with("failed")));
        } else {
            assert!(
                log.of(A).contains(&"failed Authentication Error"),
                "{:?}",
                log.of(A)
            );
        }
    }
}

#[test]
fn late_offer_the_2xx_carries_the_offer_and_the_ack_the_answer() {
    let mut net = pair(40, TransportKind::Udp);
    let mut log = Log::default();
    let flow = net.flow(A, B, TransportKind::Udp);
    let now = net.now();
    let a = net
        .node_mut(A)
        .invite(
            now,
            InviteParams {
                target: Uri::parse("sip:bob@10.0.0.2").unwrap(),
                flow,
                offer: None,
                headers: Vec::new(),
                rel100: None,
            },
        )
        .unwrap();
    let mut ack_body = None;
    net.run(|net, node, e| {
        log.push(net.elapsed(), node, &e);
        match &e {
            UaEvent::Incoming { session, request } => {
                assert!(request.body.is_empty(), "no offer in the INVITE");
                let now = net.now();
                net.node_mut(B)
                    .accept(
                        now,
                        *session,
                        ReplyParams::status(StatusCode::OK).with_body(Body::sdp(OFFER)),
                    )
                    .unwrap();
            }
            UaEvent::Accepted {
                response: Some(r), ..
            } if node == A => {
                assert_eq!(
                    r.body.as_ref(),
                    OFFER.as_bytes(),
                    "the offer came in the 2xx"
                );
                // Until the answer is given, the 2xx waits for its ACK (RFC 3264 §4).
                assert_eq!(net.node(A).state(a), Some(SessionState::Connecting));
                let now = net.now();
                net.node_mut(A).ack(now, a, Body::sdp(ANSWER)).unwrap();
            }
            UaEvent::Confirmed { ack: Some(ack), .. } => {
                ack_body = Some(String::from_utf8_lossy(&ack.body).into_owned());
            }
            _ => {}
        }
    })
    .unwrap();
    assert_eq!(
        ack_body.as_deref(),
        Some(ANSWER),
        "the answer came in the ACK"
    );
    assert_eq!(net.node(A).state(a), Some(SessionState::Confirmed));
}

#[test]
fn an_invite_with_a_body_we_cannot_read_gets_415() {
    let mut net = pair(41, TransportKind::Udp);
    let flow = net.flow(A, B, TransportKind::Udp);
    let now = net.now();
    net.node_mut(A)
        .invite(
            now,
            InviteParams {
                target: Uri::parse("sip:bob@10.0.0.2").unwrap(),
                flow,
                offer: Some(Body {
                    content_type: "application/vnd.example".into(),
                    bytes: "hello".into(),
                }),
                headers: Vec::new(),
                rel100: None,
            },
        )
        .unwrap();
    let mut log = Log::default();
    net.run(|net, node, e| log.push(net.elapsed(), node, &e))
        .unwrap();
    let r = net
        .packets
        .iter()
        .find(|p| p.from == B && p.first_line().starts_with("SIP/2.0 415"))
        .expect("a 415");
    assert!(String::from_utf8_lossy(&r.payload).contains("Accept: application/sdp"));
    assert!(log.of(B).is_empty(), "no session for it");
    assert!(log.of(A).contains(&"failed SIP Failure Code"));
}

#[test]
fn a_lost_prack_is_retransmitted_and_the_call_completes() {
    let mut net = pair_rel100(
        42,
        TransportKind::Udp,
        [Rel100::Supported, Rel100::Supported],
    );
    let mut dropped = false;
    net.drop_if(move |p| {
        if !dropped && p.first_line().starts_with("PRACK ") {
            dropped = true;
            return true;
        }
        false
    });
    let log = early_media_call(&mut net);
    assert!(log.of(A).contains(&"confirmed"), "{:?}", log.of(A));
    // The PRACK went at 20 ms (lost) and again at Timer E = T1 later; the held 200 follows it.
    assert_eq!(net.sent_by(A, "PRACK "), [ms(20), ms(520)]);
    assert_eq!(count(&net, B, "SIP/2.0 200"), 3, "PRACK, INVITE, BYE");
}

#[test]
fn in_dialog_and_standalone_requests_answer_challenges() {
    // alice has credentials; bob challenges her INFO inside the call and her MESSAGE
    // outside it once each (401), then accepts the ones that carry them.
    let mut net = Net::new(43);
    for (i, user) in ["alice", "bob"].into_iter().enumerate() {
        let host = format!("10.0.0.{}:5060", i + 1);
        let mut cfg = UaConfig::new(
            format!("<sip:{user}@example.com>"),
            LocalTransport {
                kind: TransportKind::Udp,
                sent_by: host.clone(),
                contact: format!("<sip:{user}@{host}>"),
            },
        );
        cfg.endpoint.seed = 90 + i as u64;
        if i == A {
            cfg.credentials = Some(sipline_proto::Credentials::new("alice", "secret"));
        }
        net.add_node(UaCore::new(cfg));
    }
    net.set_default_link(Link {
        latency: ms(10),
        ..Link::default()
    });
    let (a, _b, mut log) = established(&mut net);
    let server = sipline_proto::DigestServer::new("sipline.test", b"s".to_vec());
    let now = net.now();
    let info = net
        .node_mut(A)
        .request_in_dialog(now, a, sipline_proto::Method::Info, &[], None)
        .unwrap();
    let flow = net.flow(A, B, TransportKind::Udp);
    let message = net
        .node_mut(A)
        .send_request(
            now,
            sipline_proto::Method::Message,
            Uri::parse("sip:bob@10.0.0.2").unwrap(),
            flow,
            &[],
            Some(Body {
                content_type: "text/plain".into(),
                bytes: "hi".into(),
            }),
        )
        .unwrap();
    let mut answers = Vec::new();
    net.run(|net, node, e| {
        log.push(net.elapsed(), node, &e);
        let (tx, request) = match e {
            UaEvent::InDialogRequest { tx, request, .. } => (tx, request),
            UaEvent::Request { tx, request, .. } => (tx, request),
            UaEvent::Response { tx, response } => {
                answers.push((tx, response.map(|r| r.status.as_u16())));
                return;
            }
            _ => return,
        };
        let lookup =
            |u: &str, _| (u == "alice").then(|| sipline_proto::Credentials::new("alice", "secret"));
        let resp = match server.verify_request(0, &request, sipline_proto::AuthKind::Www, lookup) {
            Ok(_) => sipline_proto::Response::from_request(&request, StatusCode::OK, Some("b")),
            Err(_) => {
                let mut r = sipline_proto::Response::from_request(
                    &request,
                    StatusCode::UNAUTHORIZED,
                    Some("b"),
                );
                server.add_challenges(&mut r, sipline_proto::AuthKind::Www, 0, false);
                r
            }
        };
        let now = net.now();
        net.node_mut(node).respond(now, tx, resp).unwrap();
    })
    .unwrap();
    // The application hears one final answer per request, under the id it was given.
    assert_eq!(answers.len(), 2, "{answers:?}");
    assert!(
        answers.contains(&(info, Ok(200))) && answers.contains(&(message, Ok(200))),
        "{answers:?}"
    );
    let infos: Vec<String> = net
        .packets
        .iter()
        .filter(|p| p.from == A && p.first_line().starts_with("INFO "))
        .map(|p| String::from_utf8_lossy(&p.payload).into_owned())
        .collect();
    assert_eq!(infos.len(), 2);
    assert!(infos[0].contains("CSeq: 2 INFO") && infos[1].contains("CSeq: 3 INFO"));
    assert!(infos[1].contains("Authorization: Digest"));
    let messages: Vec<String> = net
        .packets
        .iter()
        .filter(|p| p.from == A && p.first_line().starts_with("MESSAGE "))
        .map(|p| String::from_utf8_lossy(&p.payload).into_owned())
        .collect();
    assert_eq!(messages.len(), 2);
    assert!(
        messages[1].contains("CSeq: 2 MESSAGE") && messages[1].contains("Authorization: Digest")
    );
}
