//! Message-layer benchmarks for `sipline-proto`, with `rsip` 0.4 as the comparison peer.
//!
//! Every corpus message (`corpus/*.sip`) is measured at these levels, each a criterion group
//! with `Throughput::Bytes` set to the message length:
//!
//! - `frame/sipline/<msg>`: [`StreamFramer`] push + one [`Framed::Message`] out. One framer is
//!   reused across iterations (the realistic case: one framer per connection); the buffer is
//!   empty again after each message. `frame/sipline_fresh/invite_g711` creates the framer
//!   inside the iteration, for comparison. rsip has no stream framer.
//! - `txn_ready/sipline/<msg>`: [`parse_message`] + [`Message::essentials`] (top Via, CSeq,
//!   Call-ID, From/To tags, Max-Forwards) + Content-Length, on a refcounted
//!   `Bytes::from_static` clone (the zero-copy path a transport uses).
//! - `full/sipline/<msg>`: [`parse_message`] + [`Message::validated`] (every known header
//!   checked against its grammar, returning the [`Message::essentials`] fields on the way).
//! - `steps/{parse_message,essentials,top_via,validate}/<msg>`: the sub-steps of the two
//!   levels above, for `invite_g711`, `response_100` and `invite_webrtc` (`essentials`,
//!   `top_via` and `validate` run on a message parsed once, outside the loop).
//! - `rsip/parse/<msg>`: `rsip::SipMessage::try_from(&[u8])`, rsip's complete parse (headers
//!   become untyped `String` newtypes).
//! - `rsip/typed/<msg>`: the same, then the typed access of the fields `essentials()` yields
//!   (Via branch, CSeq, Call-ID, From/To tags, Max-Forwards) and Content-Length.
//! - `build_200/sipline` and `build_200/rsip`: a 200 OK built from the parsed
//!   `invite_g711` (Via, From, To + tag, Call-ID, CSeq, `Content-Length: 0`) and written into
//!   a reused buffer.
//!
//! Run: `cargo bench -p sipline-proto --bench parse -- --warm-up-time 1 --measurement-time 3`.
//! Results and targets: `BENCHMARKS.md` at the repository root.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a benchmark over a fixed corpus: a failure must abort loudly"
)]

use std::fmt::Write as _;
use std::hint::black_box;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_main};
use rsip::prelude::*;
use sipline_proto::parse::Framed;
use sipline_proto::{
    Limits, Message, Method, Request, Response, StatusCode, StreamFramer, Uri, parse_message,
};

/// The corpus, in the order of `corpus/README.md`.
const CORPUS: &[(&str, &[u8])] = &[
    (
        "invite_g711",
        include_bytes!("../../../corpus/invite_g711.sip"),
    ),
    (
        "response_100",
        include_bytes!("../../../corpus/response_100.sip"),
    ),
    (
        "response_180",
        include_bytes!("../../../corpus/response_180.sip"),
    ),
    (
        "response_200_invite",
        include_bytes!("../../../corpus/response_200_invite.sip"),
    ),
    ("ack", include_bytes!("../../../corpus/ack.sip")),
    ("info_dtmf", include_bytes!("../../../corpus/info_dtmf.sip")),
    ("bye", include_bytes!("../../../corpus/bye.sip")),
    ("refer", include_bytes!("../../../corpus/refer.sip")),
    ("prack", include_bytes!("../../../corpus/prack.sip")),
    (
        "register_auth",
        include_bytes!("../../../corpus/register_auth.sip"),
    ),
    (
        "invite_webrtc",
        include_bytes!("../../../corpus/invite_webrtc.sip"),
    ),
];

const INVITE: &[u8] = include_bytes!("../../../corpus/invite_g711.sip");
const TO_TAG: &str = "a6c85cf";

/// Level 1: framing only.
fn frame(c: &mut Criterion) {
    let mut g = c.benchmark_group("frame");
    for &(name, raw) in CORPUS {
        g.throughput(Throughput::Bytes(raw.len() as u64));
        g.bench_with_input(BenchmarkId::new("sipline", name), raw, |b, raw| {
            let mut framer = StreamFramer::new(Limits::default());
            b.iter(|| {
                framer.push(black_box(raw));
                match framer.next_frame() {
                    Ok(Some(Framed::Message(m))) => black_box(m),
                    other => panic!("{name}: framer gave {other:?}"),
                }
            });
        });
    }
    g.throughput(Throughput::Bytes(INVITE.len() as u64));
    g.bench_with_input(
        BenchmarkId::new("sipline_fresh", "invite_g711"),
        INVITE,
        |b, raw| {
            b.iter(|| {
                let mut framer = StreamFramer::new(Limits::default());
                framer.push(black_box(raw));
                match framer.next_frame() {
                    Ok(Some(Framed::Message(m))) => black_box(m),
                    other => panic!("invite_g711: framer gave {other:?}"),
                }
            });
        },
    );
    g.finish();
}

/// Level 2: transaction-ready parse.
fn txn_ready(c: &mut Criterion) {
    let limits = Limits::default();
    let mut g = c.benchmark_group("txn_ready");
    for &(name, raw) in CORPUS {
        let input = Bytes::from_static(raw);
        g.throughput(Throughput::Bytes(raw.len() as u64));
        g.bench_with_input(BenchmarkId::new("sipline", name), &input, |b, input| {
            b.iter(|| {
                let msg = parse_message(black_box(input.clone()), &limits).unwrap();
                let e = msg.essentials().unwrap();
                black_box(&e);
                black_box(msg.headers().content_length().unwrap());
            });
        });
    }
    g.finish();
}

/// Level 3: full typed parse.
fn full(c: &mut Criterion) {
    let limits = Limits::default();
    let mut g = c.benchmark_group("full");
    for &(name, raw) in CORPUS {
        let input = Bytes::from_static(raw);
        g.throughput(Throughput::Bytes(raw.len() as u64));
        g.bench_with_input(BenchmarkId::new("sipline", name), &input, |b, input| {
            b.iter(|| {
                let msg = parse_message(black_box(input.clone()), &limits).unwrap();
                black_box(&msg.validated().unwrap());
            });
        });
    }
    g.finish();
}

/// Sub-steps of levels 2 and 3 on three representative messages: the structural parse alone
/// (`parse_message`), and `essentials()` / `validate()` on an already parsed message.
fn steps(c: &mut Criterion) {
    let limits = Limits::default();
    let mut g = c.benchmark_group("steps");
    for &(name, raw) in CORPUS {
        if !matches!(name, "invite_g711" | "response_100" | "invite_webrtc") {
            continue;
        }
        let input = Bytes::from_static(raw);
        g.throughput(Throughput::Bytes(raw.len() as u64));
        g.bench_with_input(
            BenchmarkId::new("parse_message", name),
            &input,
            |b, input| {
                b.iter(|| black_box(parse_message(black_box(input.clone()), &limits).unwrap()));
            },
        );
        let msg = parse_message(input.clone(), &limits).unwrap();
        g.bench_with_input(BenchmarkId::new("essentials", name), &msg, |b, msg| {
            b.iter(|| black_box(black_box(msg).essentials().unwrap()));
        });
        g.bench_with_input(BenchmarkId::new("top_via", name), &msg, |b, msg| {
            b.iter(|| black_box(black_box(msg).headers().top_via().unwrap()));
        });
        g.bench_with_input(BenchmarkId::new("validate", name), &msg, |b, msg| {
            b.iter(|| black_box(msg).validate().unwrap());
        });
    }
    g.finish();
}

/// The fields of `essentials()` + Content-Length, through rsip's typed headers.
fn rsip_typed_fields(m: &rsip::SipMessage) -> Result<usize, rsip::Error> {
    let via = m.via_header()?.typed()?;
    let branch = via.branch();
    let cseq = m.cseq_header()?.typed()?;
    let call_id = m.call_id_header()?.value();
    let from_tag = m.from_header()?.tag()?;
    let to_tag = m.to_header()?.tag()?;
    let max_forwards = match m.max_forwards_header() {
        Ok(h) => Some(h.num()?),
        Err(_) => None, // responses carry none
    };
    let content_length = m
        .headers()
        .iter()
        .find_map(|h| match h {
            rsip::Header::ContentLength(l) => Some(l.length()),
            _ => None,
        })
        .transpose()?;
    black_box((&branch, &cseq, call_id, &from_tag, &to_tag));
    black_box((max_forwards, content_length));
    Ok(call_id.len())
}

/// Level 4: the rsip peer, parse only and parse + typed access.
fn rsip_peer(c: &mut Criterion) {
    let mut g = c.benchmark_group("rsip");
    for &(name, raw) in CORPUS {
        // A message rsip cannot handle is reported and skipped, not benchmarked.
        match rsip::SipMessage::try_from(raw) {
            Err(e) => {
                eprintln!("rsip: {name}: parse fails ({e}); skipped");
                continue;
            }
            Ok(m) => {
                if let Err(e) = rsip_typed_fields(&m) {
                    eprintln!("rsip: {name}: typed access fails ({e}); rsip/typed skipped");
                    g.throughput(Throughput::Bytes(raw.len() as u64));
                    g.bench_with_input(BenchmarkId::new("parse", name), raw, |b, raw| {
                        b.iter(|| black_box(rsip::SipMessage::try_from(black_box(raw)).unwrap()));
                    });
                    continue;
                }
            }
        }
        g.throughput(Throughput::Bytes(raw.len() as u64));
        g.bench_with_input(BenchmarkId::new("parse", name), raw, |b, raw| {
            b.iter(|| black_box(rsip::SipMessage::try_from(black_box(raw)).unwrap()));
        });
        g.bench_with_input(BenchmarkId::new("typed", name), raw, |b, raw| {
            b.iter(|| {
                let m = rsip::SipMessage::try_from(black_box(raw)).unwrap();
                black_box(rsip_typed_fields(&m).unwrap())
            });
        });
    }
    g.finish();
}

/// Builds rsip's equivalent of `Response::from_request`: Vias, From, To + tag, Call-ID, CSeq
/// in request order, `Content-Length: 0`.
fn rsip_response(req: &rsip::Request) -> Result<rsip::Response, rsip::Error> {
    let mut headers = rsip::Headers::default();
    for h in req.headers.iter() {
        match h {
            rsip::Header::Via(_)
            | rsip::Header::From(_)
            | rsip::Header::CallId(_)
            | rsip::Header::CSeq(_) => headers.push(h.clone()),
            rsip::Header::To(to) => {
                let to = if to.tag()?.is_some() {
                    to.clone()
                } else {
                    to.clone().with_tag(rsip::param::Tag::new(TO_TAG))?
                };
                headers.push(rsip::Header::To(to));
            }
            _ => {}
        }
    }
    headers.push(rsip::Header::ContentLength(Default::default()));
    Ok(rsip::Response {
        status_code: 200.into(),
        version: rsip::Version::V2,
        headers,
        body: Vec::new(),
    })
}

/// Level 5: build a 200 from a parsed INVITE and write it.
fn build_200(c: &mut Criterion) {
    let mut g = c.benchmark_group("build_200");
    let Message::Request(req) =
        parse_message(Bytes::from_static(INVITE), &Limits::default()).unwrap()
    else {
        panic!("invite_g711 is not a request");
    };
    let mut buf = Vec::with_capacity(1024);
    // Throughput is the bytes written.
    Response::from_request(&req, StatusCode::OK, Some(TO_TAG)).write_to(&mut buf);
    g.throughput(Throughput::Bytes(buf.len() as u64));
    g.bench_function("sipline", |b| {
        b.iter(|| {
            buf.clear();
            let resp = Response::from_request(black_box(&req), StatusCode::OK, Some(TO_TAG));
            resp.write_to(&mut buf);
            black_box(buf.len())
        });
    });

    let rsip::SipMessage::Request(rreq) = rsip::SipMessage::try_from(INVITE).unwrap() else {
        panic!("rsip: invite_g711 is not a request");
    };
    let mut out = String::with_capacity(1024);
    // `write!` into a reused String rather than `to_string()`: one allocation fewer for
    // rsip, the same reuse sipline gets.
    write!(out, "{}", rsip_response(&rreq).unwrap()).unwrap();
    g.throughput(Throughput::Bytes(out.len() as u64));
    g.bench_function("rsip", |b| {
        b.iter(|| {
            out.clear();
            let resp = rsip_response(black_box(&rreq)).unwrap();
            write!(out, "{resp}").unwrap();
            black_box(out.len())
        });
    });
    g.finish();
}

/// The OPTIONS the transaction benchmark (`benches/transaction.rs`) sends per transaction.
fn options(uri: &Uri, branch: &str) -> Request {
    Request::builder(Method::Options, uri.clone())
        .via("TCP", "192.0.2.1:5060", branch)
        .from("\"Alice\" <sip:alice@example.com>", "1928301774")
        .to("<sip:bob@example.com>", None)
        .call_id("a84b4c76e66710@pc33.example.com")
        .cseq(63104)
        .header("Accept", "application/sdp")
        .build()
        .unwrap()
}

/// Instruction-count mode for callgrind: `SIPLINE_PROFILE=<level>` runs one level in a plain
/// loop of `SIPLINE_PROFILE_N` iterations (default 10,000) on `invite_g711` and exits, so that
/// `valgrind --tool=callgrind` counts instructions per message without criterion's machinery.
/// Levels: `parse` (`parse_message`), `ready` (+ `essentials()` + Content-Length), `full`
/// (+ `validated()`), `build` (build + write a 200), `request` (build the transaction
/// benchmark's OPTIONS with [`RequestBuilder`](sipline_proto::RequestBuilder) and
/// `to_bytes()` it), `frame` (framer push + next), `rsip`
/// (rsip parse + the same typed fields), `rsip_build` (rsip's build + write of the 200),
/// `none` (the loop alone, to subtract the fixed cost). `SIPLINE_PROFILE_MSG=<corpus name>`
/// (default `invite_g711`) chooses the message of the `parse`, `ready`, `full` and `frame`
/// levels and of `rsip`; `build` always answers `invite_g711`.
fn profile(level: &str) {
    let n: usize = std::env::var("SIPLINE_PROFILE_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let limits = Limits::default();
    let name = std::env::var("SIPLINE_PROFILE_MSG").unwrap_or_else(|_| "invite_g711".into());
    let Some(&(_, raw)) = CORPUS.iter().find(|(n, _)| *n == name) else {
        panic!("SIPLINE_PROFILE_MSG: no corpus message named {name}");
    };
    let input = Bytes::from_static(raw);
    let Message::Request(req) = parse_message(Bytes::from_static(INVITE), &limits).unwrap() else {
        panic!("invite_g711 is not a request");
    };
    let mut buf = Vec::with_capacity(1024);
    let mut framer = StreamFramer::new(limits);
    let rsip::SipMessage::Request(rreq) = rsip::SipMessage::try_from(INVITE).unwrap() else {
        panic!("rsip: invite_g711 is not a request");
    };
    let mut rsip_out = String::with_capacity(1024);
    let uri = Uri::parse("sip:bob@192.0.2.2").unwrap();
    for _ in 0..n {
        match level {
            "parse" => {
                black_box(parse_message(black_box(input.clone()), &limits).unwrap());
            }
            "ready" => {
                let msg = parse_message(black_box(input.clone()), &limits).unwrap();
                black_box(&msg.essentials().unwrap());
                black_box(msg.headers().content_length().unwrap());
            }
            "full" => {
                let msg = parse_message(black_box(input.clone()), &limits).unwrap();
                black_box(&msg.validated().unwrap());
            }
            "build" => {
                buf.clear();
                Response::from_request(black_box(&req), StatusCode::OK, Some(TO_TAG))
                    .write_to(&mut buf);
                black_box(buf.len());
            }
            "request" => {
                black_box(options(black_box(&uri), black_box("z9hG4bK776asdhds")).to_bytes());
            }
            "frame" => {
                framer.push(black_box(raw));
                black_box(framer.next_frame().unwrap());
            }
            "rsip" => {
                let m = rsip::SipMessage::try_from(black_box(raw)).unwrap();
                black_box(rsip_typed_fields(&m).unwrap());
            }
            "rsip_build" => {
                rsip_out.clear();
                let resp = rsip_response(black_box(&rreq)).unwrap();
                write!(rsip_out, "{resp}").unwrap();
                black_box(rsip_out.len());
            }
            "none" => {
                black_box(input.clone());
            }
            other => panic!("unknown SIPLINE_PROFILE level {other}"),
        }
    }
}

/// Every group, in order; what `criterion_group!` would generate, written out so that it
/// carries a doc comment (`missing_docs` is on workspace-wide).
fn benches() {
    if let Ok(level) = std::env::var("SIPLINE_PROFILE") {
        profile(&level);
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    frame(&mut c);
    txn_ready(&mut c);
    full(&mut c);
    steps(&mut c);
    rsip_peer(&mut c);
    build_200(&mut c);
}

criterion_main!(benches);
