//! Any sequence of datagrams into an Endpoint, with timer firings in between: it never
//! panics, every output it produces is a message that parses, and its transactions stay
//! within the configured limit.
#![no_main]

use std::time::{Duration, Instant};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sipline_proto::{Endpoint, EndpointConfig, Flow, Input, Limits, Output, Receive, TransportKind, parse_message};

fuzz_target!(|data: &[u8]| {
    let cfg = EndpointConfig { max_transactions: 8, ..EndpointConfig::default() };
    let mut ep = Endpoint::new(cfg);
    let mut now = Instant::now();
    // Datagrams are separated by 0xFF 0xFE; the byte after a separator picks the transport
    // and how far the clock moves.
    for chunk in data.split(|&b| b == 0xFF).filter(|c| !c.is_empty()) {
        let (ctl, payload) = (chunk[0], &chunk[1..]);
        let transport = if ctl & 1 == 0 { TransportKind::Udp } else { TransportKind::Tcp };
        let flow = Flow { transport, remote: "192.0.2.7:5060".parse().unwrap_or_else(|_| unreachable!()), conn: None };
        ep.handle_input(now, Input::Receive(Receive { flow, payload: Bytes::copy_from_slice(payload) }));
        now += Duration::from_millis(u64::from(ctl >> 1) * 300);
        ep.handle_input(now, Input::Timeout);
        loop {
            match ep.poll_output() {
                Output::Transmit(t) => {
                    let limits = Limits { max_message_size: usize::MAX, ..Limits::default() };
                    assert!(parse_message(t.payload, &limits).is_ok(), "the endpoint sent an unparseable message");
                }
                Output::Event(_) => {}
                Output::Timeout(_) => break,
            }
        }
        assert!(ep.transactions() <= 8);
    }
});
