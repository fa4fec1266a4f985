//! Transaction-layer benchmark, in process over a simulated transport: whole non-INVITE
//! transactions per second on one core (client sends, server parses, matches, creates the
//! transaction, answers 200, client parses and matches the response), and bytes of memory
//! per live transaction, counted by a tracking allocator.
//!
//! Run: `cargo bench -p sipline-proto --bench transaction`.
#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn

use std::alloc::System;
use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use cap::Cap;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sipline_proto::{
    Endpoint, EndpointConfig, Event, Flow, Input, Method, Output, Receive, Request, Response,
    StatusCode, TransportKind, Uri,
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
    Request::builder(
        Method::Options,
        Uri::parse("sip:bob@192.0.2.2").unwrap_or_else(|_| unreachable!()),
    )
    .via("TCP", "192.0.2.1:5060", branch)
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

criterion_group!(benches, throughput, memory);
criterion_main!(benches);
