//! The server core among three user-agent cores on `sipline-sim`'s simulated network
//! (virtual clock, seeded loss): alice calls bob, registered from two devices; both ring,
//! the first to answer wins, the other is cancelled (RFC 3261 §16.7 step 10), the BYE
//! goes through the Record-Route path. With 10% loss on every link (20 seeds) the transactions'
//! retransmissions carry the same call through.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use sipline_proto::{
    Body, EndpointConfig, Input, InviteParams, LocalTransport, Receive, RegisterParams,
    ReplyParams, SessionId, StatusCode, TransportKind, UaConfig, UaCore, UaEvent, Uri,
};
use sipline_server::{ServerConfig, ServerCore, ServerEvent};
use sipline_sim::{Link, Net, Node, Poll};
use sipline_tokio::CoreOutput;

const SERVER: usize = 0;
const ALICE: usize = 1;
const BOB1: usize = 2;
const BOB2: usize = 3;
const OFFER: &str = "v=0\r\no=a 1 1 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
const ANSWER: &str = "v=0\r\no=b 1 1 IN IP4 10.0.0.3\r\ns=-\r\nc=IN IP4 10.0.0.3\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n";

enum SimNode {
    Server(Box<ServerCore>),
    Ua(Box<UaCore>),
}

#[derive(Debug)]
enum Ev {
    Server(ServerEvent),
    Ua(UaEvent),
}

impl Node for SimNode {
    type Event = Ev;

    fn receive(&mut self, now: Instant, r: Receive) {
        match self {
            SimNode::Server(s) => s.handle_input(now, Input::Receive(r)),
            SimNode::Ua(u) => u.handle_input(now, Input::Receive(r)),
        }
    }

    fn timeout(&mut self, now: Instant) {
        match self {
            SimNode::Server(s) => s.handle_input(now, Input::Timeout),
            SimNode::Ua(u) => u.handle_input(now, Input::Timeout),
        }
    }

    fn poll(&mut self) -> Poll<Ev> {
        match self {
            SimNode::Server(s) => match s.poll_output() {
                CoreOutput::Transmit(t) => Poll::Transmit(t),
                CoreOutput::Event(e) => Poll::Event(Ev::Server(e)),
                CoreOutput::Timeout(t) => Poll::Timeout(t),
            },
            SimNode::Ua(u) => match u.poll() {
                Poll::Transmit(t) => Poll::Transmit(t),
                Poll::Event(e) => Poll::Event(Ev::Ua(e)),
                Poll::Timeout(t) => Poll::Timeout(t),
            },
        }
    }
}

fn ua(net: &mut Net<SimNode>, i: usize, user: &str, seed: u64) -> usize {
    let host = format!("10.0.0.{}:5060", i + 1);
    let mut cfg = UaConfig::new(
        format!("<sip:{user}@sipline.test>"),
        LocalTransport {
            kind: TransportKind::Udp,
            sent_by: host.clone(),
            contact: format!("<sip:{user}@{host}>"),
        },
    );
    cfg.endpoint = EndpointConfig {
        seed,
        ..EndpointConfig::default()
    };
    net.add_node(SimNode::Ua(Box::new(UaCore::new(cfg))))
}

fn ua_mut(net: &mut Net<SimNode>, i: usize) -> &mut UaCore {
    match net.node_mut(i) {
        SimNode::Ua(u) => u,
        SimNode::Server(_) => panic!("node {i} is the server"),
    }
}

fn forked_call(seed: u64, loss: f64) {
    let mut net: Net<SimNode> = Net::new(seed);
    let cfg = ServerConfig {
        domain: Some("sipline.test".into()),
        ..ServerConfig::default()
    };
    let server = net.add_node(SimNode::Server(Box::new(ServerCore::new(
        cfg,
        vec![(TransportKind::Udp, "10.0.0.1:5060".parse().unwrap())],
    ))));
    assert_eq!(server, SERVER);
    for (i, user, seed) in [(ALICE, "alice", 11), (BOB1, "bob", 12), (BOB2, "bob", 13)] {
        assert_eq!(ua(&mut net, i, user, seed), i);
    }
    net.set_default_link(Link {
        latency: Duration::from_millis(10),
        loss,
        ..Link::default()
    });
    for n in [ALICE, BOB1, BOB2] {
        let flow = net.flow(n, SERVER, TransportKind::Udp);
        let now = net.now();
        let host = net.addr(n);
        let user = if n == ALICE { "alice" } else { "bob" };
        let params = RegisterParams::new(
            Uri::parse("sip:sipline.test").unwrap(),
            format!("<sip:{user}@sipline.test>"),
            format!("<sip:{user}@{host}>"),
        );
        ua_mut(&mut net, n).register(now, params, flow).unwrap();
    }
    let mut registered = 0;
    net.run_until(net.elapsed() + Duration::from_secs(40), |_, _, e| {
        if matches!(e, Ev::Ua(UaEvent::Registered { .. })) {
            registered += 1;
        }
    })
    .unwrap();
    assert_eq!(registered, 3, "seed {seed}");

    let flow = net.flow(ALICE, SERVER, TransportKind::Udp);
    let now = net.now();
    let call = ua_mut(&mut net, ALICE)
        .invite(
            now,
            InviteParams {
                target: Uri::parse("sip:bob@sipline.test").unwrap(),
                flow,
                offer: Some(Body::sdp(OFFER)),
                headers: Vec::new(),
                rel100: None,
            },
        )
        .unwrap();
    let mut routed = Vec::new();
    let mut incoming: Vec<(usize, SessionId)> = Vec::new();
    let mut log: Vec<(usize, String)> = Vec::new();
    let mut answered = false;
    let start = net.elapsed();
    loop {
        net.run_until(net.elapsed() + Duration::from_millis(50), |net, node, e| {
            let e = match e {
                Ev::Ua(e) => e,
                Ev::Server(e) => {
                    routed.push(e);
                    return;
                }
            };
            if let UaEvent::Incoming { session, .. } = &e {
                let now = net.now();
                let u = ua_mut(net, node);
                u.progress(now, *session, ReplyParams::status(StatusCode::RINGING))
                    .unwrap();
                incoming.push((node, *session));
            }
            log.push((
                node,
                format!("{e:?}")
                    .split([' ', '{', '('])
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
            ));
        })
        .unwrap();
        // bob1 answers once both devices ring.
        if !answered && incoming.len() == 2 && net.elapsed() > start + Duration::from_millis(300) {
            let (_, sid) = *incoming.iter().find(|(n, _)| *n == BOB1).unwrap();
            let now = net.now();
            ua_mut(&mut net, BOB1)
                .accept(
                    now,
                    sid,
                    ReplyParams::status(StatusCode::OK).with_body(Body::sdp(ANSWER)),
                )
                .unwrap();
            answered = true;
        }
        let done = log.iter().any(|(n, e)| *n == BOB1 && e == "Confirmed")
            && log.iter().any(|(n, e)| *n == BOB2 && e == "Terminated");
        if done {
            break;
        }
        assert!(
            net.elapsed() < start + Duration::from_secs(60),
            "seed {seed}: {log:?}"
        );
    }
    assert!(
        log.iter().any(|(n, e)| *n == BOB2 && e == "Canceled"),
        "{log:?}"
    );
    assert!(
        log.iter().any(|(n, e)| *n == ALICE && e == "Confirmed"),
        "{log:?}"
    );
    // alice hangs up: the BYE reaches bob1 through the server.
    let now = net.now();
    ua_mut(&mut net, ALICE).bye(now, call, &[]).unwrap();
    let mut bye = false;
    net.run_until(net.elapsed() + Duration::from_secs(40), |_, node, e| {
        if node == BOB1 && matches!(e, Ev::Ua(UaEvent::Bye { .. })) {
            bye = true;
        }
    })
    .unwrap();
    assert!(bye, "seed {seed}");
    match net.node(SERVER) {
        SimNode::Server(s) => assert_eq!(s.proxied(), 0, "no response context left"),
        SimNode::Ua(_) => unreachable!(),
    }
}

#[test]
fn forking_through_the_server_in_simulated_time() {
    forked_call(1, 0.0);
}

#[test]
fn forking_through_the_server_with_ten_percent_loss() {
    for seed in 1..=20 {
        forked_call(seed, 0.1);
    }
}
