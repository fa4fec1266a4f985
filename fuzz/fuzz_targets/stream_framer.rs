//! Any bytes, cut at fuzzer-chosen points: the framer never panics, never yields more bytes
//! than it was given, and every message it yields is exactly what a single push would yield.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sipline_proto::{Limits, StreamFramer, parse::Framed};

fn run(chunks: &[&[u8]], limits: Limits) -> (Vec<Framed>, bool) {
    let mut f = StreamFramer::new(limits);
    let mut out = Vec::new();
    for c in chunks {
        f.push(c);
        loop {
            match f.next_frame() {
                Ok(Some(x)) => out.push(x),
                Ok(None) => break,
                Err(_) => return (out, true),
            }
        }
    }
    (out, false)
}

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let limits = Limits { max_message_size: 4096, ..Limits::default() };
    // First byte picks the chunk size.
    let step = usize::from(data[0] % 16) + 1;
    let body = &data[1..];
    let chunks: Vec<&[u8]> = body.chunks(step).collect();
    let (split, split_err) = run(&chunks, limits);
    let (whole, whole_err) = run(&[body], limits);
    let framed: usize = split
        .iter()
        .map(|x| match x {
            Framed::Message(m) => m.len(),
            // A ping split across reads shows as Pong + Ping: 2 bytes each at least.
            Framed::Ping | Framed::Pong => 2,
        })
        .sum();
    assert!(framed <= body.len());
    let msgs = |v: &[Framed]| v.iter().filter_map(|x| match x { Framed::Message(m) => Some(m.clone()), _ => None }).collect::<Vec<_>>();
    if !split_err && !whole_err {
        assert_eq!(msgs(&split), msgs(&whole));
    }
    for m in msgs(&split) {
        let _ = sipline_proto::parse_message(m, &limits);
    }
});
