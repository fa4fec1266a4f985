//! Any sequence of datagrams into a UaCore whose application accepts, rings, rejects, hangs
//! up and re-INVITEs as the input says: it never panics, and every message it sends parses.
//! Datagrams are either raw bytes or SIP templates (INVITE, ACK, BYE, CANCEL, PRACK,
//! re-INVITE, response) with fuzzed tags, branches and CSeq, so the session code is reached.
#![no_main]

use std::time::{Duration, Instant};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sipline_proto::{
    Body, Flow, Input, Limits, LocalTransport, Rel100, ReplyParams, StatusCode, TransportKind,
    UaConfig, UaCore, UaEvent, UaOutput, parse_message,
};

const TEMPLATES: [&str; 7] = [
    "INVITE sip:bob@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.7;branch=z9hG4bK{B}\r\nFrom: <sip:a@x>;tag=a1\r\nTo: <sip:bob@x>{T}\r\nCall-ID: c1\r\nCSeq: {C} INVITE\r\nContact: <sip:a@192.0.2.7>\r\nSupported: 100rel\r\nContent-Type: application/sdp\r\nContent-Length: 4\r\n\r\nv=0\n",
    "ACK sip:bob@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.7;branch=z9hG4bK{B}\r\nFrom: <sip:a@x>;tag=a1\r\nTo: <sip:bob@x>{T}\r\nCall-ID: c1\r\nCSeq: {C} ACK\r\nContent-Length: 0\r\n\r\n",
    "BYE sip:bob@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.7;branch=z9hG4bK{B}\r\nFrom: <sip:a@x>;tag=a1\r\nTo: <sip:bob@x>{T}\r\nCall-ID: c1\r\nCSeq: {C} BYE\r\nContent-Length: 0\r\n\r\n",
    "CANCEL sip:bob@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.7;branch=z9hG4bK{B}\r\nFrom: <sip:a@x>;tag=a1\r\nTo: <sip:bob@x>\r\nCall-ID: c1\r\nCSeq: {C} CANCEL\r\nContent-Length: 0\r\n\r\n",
    "PRACK sip:bob@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.7;branch=z9hG4bK{B}\r\nFrom: <sip:a@x>;tag=a1\r\nTo: <sip:bob@x>{T}\r\nCall-ID: c1\r\nCSeq: {C} PRACK\r\nRAck: {C} 1 INVITE\r\nContent-Length: 0\r\n\r\n",
    "INFO sip:bob@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.7;branch=z9hG4bK{B}\r\nFrom: <sip:a@x>;tag=a1\r\nTo: <sip:bob@x>{T}\r\nCall-ID: c1\r\nCSeq: {C} INFO\r\nContent-Length: 0\r\n\r\n",
    "SIP/2.0 {C} OK\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK{B}\r\nFrom: <sip:bob@x>;tag={T}\r\nTo: <sip:a@x>;tag=a1\r\nCall-ID: {B}\r\nCSeq: 1 INVITE\r\nContact: <sip:a@192.0.2.7>\r\nRequire: 100rel\r\nRSeq: {C}\r\nContent-Length: 0\r\n\r\n",
];

fuzz_target!(|data: &[u8]| {
    let mut cfg = UaConfig::new(
        "<sip:bob@x>",
        LocalTransport {
            kind: TransportKind::Udp,
            sent_by: "192.0.2.1:5060".into(),
            contact: "<sip:bob@192.0.2.1:5060>".into(),
        },
    );
    cfg.rel100 = Rel100::Supported;
    cfg.endpoint.max_transactions = 16;
    let mut ua = UaCore::new(cfg);
    let mut now = Instant::now();
    let flow = Flow {
        transport: TransportKind::Udp,
        remote: "192.0.2.7:5060".parse().unwrap_or_else(|_| unreachable!()),
        conn: None,
    };
    let limits = Limits { max_message_size: usize::MAX, ..Limits::default() };
    for chunk in data.split(|&b| b == 0xFF).filter(|c| c.len() >= 2) {
        let (ctl, act, rest) = (chunk[0], chunk[1], &chunk[2..]);
        let payload = if ctl & 0x80 != 0 {
            Bytes::copy_from_slice(rest)
        } else {
            let field = String::from_utf8_lossy(rest);
            let (tag, num) = field.split_once(',').unwrap_or((&field, "1"));
            let t = TEMPLATES[usize::from(ctl & 7) % TEMPLATES.len()];
            let to_tag = if tag.is_empty() { String::new() } else { format!(";tag={tag}") };
            Bytes::from(t.replace("{B}", tag).replace("{T}", &to_tag).replace("{C}", num))
        };
        ua.handle_input(now, Input::Receive(sipline_proto::Receive { flow, payload }));
        now += Duration::from_millis(u64::from(ctl >> 3 & 0x0F) * 250);
        ua.handle_input(now, Input::Timeout);
        loop {
            match ua.poll_output() {
                UaOutput::Transmit(t) => {
                    assert!(parse_message(t.payload, &limits).is_ok(), "sent an unparseable message");
                }
                UaOutput::Event(UaEvent::Incoming { session, .. }) => {
                    let sdp = Body::sdp("v=0\r\n");
                    let _ = match act % 4 {
                        0 => ua.accept(now, session, ReplyParams::status(StatusCode::OK).with_body(sdp)),
                        1 => ua.progress(now, session, ReplyParams::status(StatusCode::SESSION_PROGRESS).with_body(sdp).reliable()),
                        2 => ua.reject(now, session, ReplyParams::status(StatusCode::BUSY_HERE)),
                        _ => Ok(()),
                    };
                }
                UaOutput::Event(UaEvent::Confirmed { session, .. }) => {
                    let _ = match act % 3 {
                        0 => ua.bye(now, session, &[]),
                        1 => ua.reinvite(now, session, None, &[]),
                        _ => Ok(()),
                    };
                }
                UaOutput::Event(UaEvent::Reinvite { session, .. }) => {
                    let _ = ua.accept_reinvite(now, session, None);
                }
                UaOutput::Event(_) => {}
                UaOutput::Timeout(_) => break,
            }
        }
    }
});
