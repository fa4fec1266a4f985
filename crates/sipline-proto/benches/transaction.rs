//! Transaction-layer benchmark, in process over a simulated transport: whole non-INVITE
//! transactions per second on one core (client sends, server parses, matches, creates the
//! transaction, answers 200, client parses and matches the response), and bytes of memory
//! per live transaction, counted by a tracking allocator.
//!
//! Groups:
//! - `non_invite_transaction/tcp_{full_validation,essentials}`: the pair, both endpoints in
//!   one thread (one whole transaction per iteration).
//! - `server_side/{udp,tcp}_{full_validation,essentials}`: only the server endpoint's work per
//!   transaction: a prebuilt OPTIONS datagram (one of a ring of distinct branches) in,
//!   `Event::Request` out, `respond` with a 200 built by `Response::from_request`, the
//!   `Transmit` out.
//! - `client_side/{udp,tcp}`: only the client endpoint's work: `send_request` of a prebuilt
//!   `Request` (its clone is made outside the timed routine), the `Transmit` out, then the
//!   matching 200's prebuilt bytes in, `Event::Response` out.
//!
//! Over UDP transactions stay in Completed (Timer J: 64*T1 on the server, Timer K: T4 on the
//! client). To keep the live set bounded and steady, simulated time advances by
//! `64*T1 / LIVE` per transaction and `Input::Timeout` is fed each time: about `LIVE`
//! transactions are live and one expires per transaction, so the expiry cost is counted too.
//!
//! Instruction counts (callgrind): `SIPLINE_PROFILE=<pair|server|client|branch|none>` runs a plain
//! loop of `SIPLINE_PROFILE_N` transactions (default 10,000) and exits;
//! `SIPLINE_TRANSPORT=udp|tcp` (default udp; the pair always uses TCP as in its criterion
//! benchmark) and `SIPLINE_VALIDATION=full|essentials` (default full) choose the variant.
//! `branch` is `Endpoint::new_branch` alone (a client TU makes one per transaction; the
//! `client` level sends prebuilt requests). Per transaction = (total of the level - total of
//! `none`) / N.
//!
//! Run: `cargo bench -p sipline-proto --bench transaction`.

#![allow(
    clippy::panic,
    reason = "a benchmark: an unknown profile level must abort loudly"
)]

use std::alloc::System;
use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cap::Cap;
use criterion::{BatchSize, Criterion, Throughput, criterion_main};
use sipline_proto::{
    Endpoint, EndpointConfig, Event, Flow, Input, Limits, Message, Method, Output, Receive,
    Request, Response, StatusCode, TransportKind, Uri, Validation, parse_message,
};

#[global_allocator]
static ALLOC: Cap<System> = Cap::new(System, usize::MAX);

struct Pair {
    client: Endpoint,
    server: Endpoint,
    to_server: Flow,
    to_client: Flow,
    now: Instant,
}

fn pair(transport: TransportKind, validation: sipline_proto::Validation) -> Pair {
    let c: SocketAddr = "192.0.2.1:5060".parse().unwrap_or_else(|_| unreachable!());
    let s: SocketAddr = "192.0.2.2:5060".parse().unwrap_or_else(|_| unreachable!());
    let cfg = EndpointConfig {
        validation,
        max_transactions: 10_000_000,
        ..EndpointConfig::default()
    };
    Pair {
        client: Endpoint::new(cfg.clone()),
        server: Endpoint::new(cfg),
        to_server: Flow {
            transport,
            remote: s,
            conn: None,
        },
        to_client: Flow {
            transport,
            remote: c,
            conn: None,
        },
        now: Instant::now(),
    }
}

fn options(branch: &str) -> Request {
    options_over(TransportKind::Tcp, branch)
}

fn options_over(transport: TransportKind, branch: &str) -> Request {
    Request::builder(
        Method::Options,
        Uri::parse("sip:bob@192.0.2.2").unwrap_or_else(|_| unreachable!()),
    )
    .via(transport.via_token(), "192.0.2.1:5060", branch)
    .from("\"Alice\" <sip:alice@example.com>", "1928301774")
    .to("<sip:bob@example.com>", None)
    .call_id("a84b4c76e66710@pc33.example.com")
    .cseq(63104)
    .header("Accept", "application/sdp")
    .build()
    .unwrap_or_else(|_| unreachable!())
}

/// One whole non-INVITE transaction; returns whether the client saw the 200.
fn transaction(p: &mut Pair, req: Request) -> bool {
    let Ok(_) = p.client.send_request(p.now, req, p.to_server) else {
        return false;
    };
    while let Output::Transmit(t) = p.client.poll_output() {
        p.server.handle_input(
            p.now,
            Input::Receive(Receive {
                flow: p.to_client,
                payload: t.payload,
            }),
        );
    }
    let mut ok = false;
    loop {
        match p.server.poll_output() {
            Output::Event(Event::Request { tx, request, .. }) => {
                let resp = Response::from_request(&request, StatusCode::OK, Some("a6c85cf"));
                let _ = p.server.respond(p.now, tx, resp);
            }
            Output::Transmit(t) => {
                p.client.handle_input(
                    p.now,
                    Input::Receive(Receive {
                        flow: p.to_server,
                        payload: t.payload,
                    }),
                );
            }
            Output::Event(_) => {}
            Output::Timeout(_) => break,
        }
    }
    while let Output::Event(e) = p.client.poll_output() {
        ok |= matches!(e, Event::Response { .. });
    }
    ok
}

fn throughput(c: &mut Criterion) {
    let mut g = c.benchmark_group("non_invite_transaction");
    g.throughput(Throughput::Elements(1));
    for (name, validation) in [
        ("full_validation", sipline_proto::Validation::Full),
        ("essentials", sipline_proto::Validation::Essentials),
    ] {
        // TCP: transactions end with their final response, so each iteration starts clean
        // and the same branch can be reused.
        let mut p = pair(TransportKind::Tcp, validation);
        let req = options("z9hG4bK776asdhds");
        assert!(transaction(&mut p, req.clone()));
        g.bench_function(format!("tcp_{name}"), |b| {
            b.iter(|| black_box(transaction(&mut p, req.clone())))
        });
    }
    g.finish();
}

/// Bytes held per live transaction: N UDP transactions left in Completed (waiting for Timers
/// J and K), measured on each side.
fn memory(_c: &mut Criterion) {
    const N: usize = 20_000;
    let mut p = pair(TransportKind::Udp, sipline_proto::Validation::Full);
    let reqs: Vec<Request> = (0..N)
        .map(|i| options(&format!("z9hG4bK{i:016x}")))
        .collect();
    let before = ALLOC.allocated();
    for r in reqs.iter().cloned() {
        assert!(transaction(&mut p, r));
    }
    let after = ALLOC.allocated();
    let live = p.client.transactions() + p.server.transactions();
    let per = (after - before) as f64 / live as f64;
    println!(
        "memory: {live} live transactions ({} client + {} server, UDP, Completed) hold {} bytes: {per:.0} bytes per transaction",
        p.client.transactions(),
        p.server.transactions(),
        after - before
    );
    // Let the timers run out: everything is released.
    p.now += Duration::from_secs(64);
    p.client.handle_input(p.now, Input::Timeout);
    p.server.handle_input(p.now, Input::Timeout);
    println!(
        "memory: after Timers J/K: {} live transactions",
        p.client.transactions() + p.server.transactions()
    );
}

/// Live transactions kept on each side over UDP (see the module doc).
const LIVE: u32 = 1024;
/// Distinct requests in a ring: more than `LIVE`, so a branch comes back only once its
/// transaction has expired.
const RING: usize = 4096;

/// One side alone: its endpoint, the flow to the peer, the simulated clock and the prebuilt
/// inputs (a ring of distinct requests, with the datagram of each and of its 200).
struct Side {
    ep: Endpoint,
    /// Where the peer is (the flow messages arrive on, and requests go to).
    peer: Flow,
    now: Instant,
    /// Simulated time per transaction: 64*T1 / LIVE over UDP, none over TCP.
    step: Duration,
    requests: Vec<Request>,
    request_bytes: Vec<Bytes>,
    response_bytes: Vec<Bytes>,
}

fn side(transport: TransportKind, validation: Validation, peer: SocketAddr) -> Side {
    let cfg = EndpointConfig {
        validation,
        max_transactions: 10_000_000,
        ..EndpointConfig::default()
    };
    let step = if transport.is_reliable() {
        Duration::ZERO
    } else {
        cfg.timers.t64() / LIVE
    };
    let requests: Vec<Request> = (0..RING)
        .map(|i| options_over(transport, &format!("z9hG4bK{i:016x}")))
        .collect();
    let request_bytes: Vec<Bytes> = requests.iter().map(|r| r.to_bytes()).collect();
    let response_bytes = request_bytes
        .iter()
        .map(|b| {
            let Ok(Message::Request(r)) = parse_message(b.clone(), &Limits::default()) else {
                unreachable!()
            };
            Response::from_request(&r, StatusCode::OK, Some("a6c85cf")).to_bytes()
        })
        .collect();
    Side {
        ep: Endpoint::new(cfg),
        peer: Flow {
            transport,
            remote: peer,
            conn: None,
        },
        now: Instant::now(),
        step,
        requests,
        request_bytes,
        response_bytes,
    }
}

impl Side {
    fn server(transport: TransportKind, validation: Validation) -> Side {
        side(
            transport,
            validation,
            "192.0.2.1:5060".parse().unwrap_or_else(|_| unreachable!()),
        )
    }

    fn client(transport: TransportKind) -> Side {
        side(
            transport,
            Validation::Full,
            "192.0.2.2:5060".parse().unwrap_or_else(|_| unreachable!()),
        )
    }

    /// Simulated time moves on; expired transactions go.
    fn tick(&mut self) {
        if !self.step.is_zero() {
            self.now += self.step;
            self.ep.handle_input(self.now, Input::Timeout);
        }
    }

    /// The server's work for one transaction: the request datagram in, the 200 out. Returns
    /// whether a response was transmitted.
    fn serve(&mut self, datagram: Bytes) -> bool {
        self.ep.handle_input(
            self.now,
            Input::Receive(Receive {
                flow: self.peer,
                payload: datagram,
            }),
        );
        let mut sent = false;
        loop {
            match self.ep.poll_output() {
                Output::Event(Event::Request { tx, request, .. }) => {
                    let resp = Response::from_request(&request, StatusCode::OK, Some("a6c85cf"));
                    let _ = self.ep.respond(self.now, tx, resp);
                }
                Output::Transmit(t) => {
                    sent = true;
                    black_box(t);
                }
                Output::Event(_) => {}
                Output::Timeout(_) => break,
            }
        }
        self.tick();
        sent
    }

    /// The client's work for one transaction: send the request, its datagram out, the 200's
    /// bytes in, `Event::Response` out. Returns whether the response reached the TU.
    fn ask(&mut self, request: Request, response: Bytes) -> bool {
        if self.ep.send_request(self.now, request, self.peer).is_err() {
            return false;
        }
        while let Output::Transmit(t) = self.ep.poll_output() {
            black_box(t);
        }
        self.ep.handle_input(
            self.now,
            Input::Receive(Receive {
                flow: self.peer,
                payload: response,
            }),
        );
        let mut ok = false;
        while let Output::Event(e) = self.ep.poll_output() {
            ok |= matches!(e, Event::Response { .. });
        }
        self.tick();
        ok
    }
}

fn server_side(c: &mut Criterion) {
    let mut g = c.benchmark_group("server_side");
    g.throughput(Throughput::Elements(1));
    for transport in [TransportKind::Udp, TransportKind::Tcp] {
        for (name, validation) in [
            ("full_validation", Validation::Full),
            ("essentials", Validation::Essentials),
        ] {
            let mut s = Side::server(transport, validation);
            let ring = std::mem::take(&mut s.request_bytes);
            let mut next = 0;
            let t = transport.uri_param();
            g.bench_function(format!("{t}_{name}"), |b| {
                b.iter_batched(
                    || {
                        next = (next + 1) % RING;
                        ring[next].clone()
                    },
                    |d| black_box(s.serve(d)),
                    BatchSize::SmallInput,
                )
            });
            assert!(s.ep.transactions() <= LIVE as usize + 1);
        }
    }
    g.finish();
}

fn client_side(c: &mut Criterion) {
    let mut g = c.benchmark_group("client_side");
    g.throughput(Throughput::Elements(1));
    for transport in [TransportKind::Udp, TransportKind::Tcp] {
        let mut s = Side::client(transport);
        let requests = std::mem::take(&mut s.requests);
        let responses = std::mem::take(&mut s.response_bytes);
        let mut next = 0;
        g.bench_function(transport.uri_param(), |b| {
            b.iter_batched(
                || {
                    next = (next + 1) % RING;
                    (requests[next].clone(), responses[next].clone())
                },
                |(r, d)| black_box(s.ask(r, d)),
                BatchSize::SmallInput,
            )
        });
        assert!(s.ep.transactions() <= LIVE as usize + 1);
    }
    g.finish();
}

/// Instruction-count mode for callgrind (see the module doc): a plain loop of N transactions
/// at one level, inputs prepared before the loop.
fn profile(level: &str) {
    let n: usize = std::env::var("SIPLINE_PROFILE_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let transport = match std::env::var("SIPLINE_TRANSPORT").as_deref() {
        Ok("tcp") => TransportKind::Tcp,
        _ => TransportKind::Udp,
    };
    let validation = match std::env::var("SIPLINE_VALIDATION").as_deref() {
        Ok("essentials") => Validation::Essentials,
        _ => Validation::Full,
    };
    let mut server = Side::server(transport, validation);
    let mut client = Side::client(transport);
    let mut p = pair(TransportKind::Tcp, validation);
    let pair_req = options("z9hG4bK776asdhds");
    // Inputs for every iteration, made before the loop (a clone each, as criterion's setup).
    let inputs: Vec<(Request, Bytes, Bytes)> = (0..n)
        .map(|i| {
            let i = i % RING;
            (
                client.requests[i].clone(),
                server.request_bytes[i].clone(),
                client.response_bytes[i].clone(),
            )
        })
        .collect();
    let mut ok = 0usize;
    for (req, datagram, response) in inputs {
        let done = match level {
            "pair" => {
                drop(req);
                transaction(&mut p, pair_req.clone())
            }
            "server" => server.serve(datagram),
            "client" => client.ask(req, response),
            "branch" => {
                // What a client TU adds per transaction: a fresh branch.
                black_box(client.ep.new_branch());
                true
            }
            "none" => {
                black_box((req, datagram, response));
                true
            }
            other => panic!("unknown SIPLINE_PROFILE level {other}"),
        };
        ok += usize::from(done);
    }
    assert_eq!(ok, n, "every transaction completes");
}

/// Every group, in order (what `criterion_group!` would generate), or the profile loop.
fn benches() {
    if let Ok(level) = std::env::var("SIPLINE_PROFILE") {
        profile(&level);
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    throughput(&mut c);
    server_side(&mut c);
    client_side(&mut c);
    memory(&mut c);
}

criterion_main!(benches);
