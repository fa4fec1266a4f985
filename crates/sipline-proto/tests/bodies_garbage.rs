//! The body and header parsers added for sessions never panic on garbage: DTMF bodies
//! (application/dtmf-relay, application/dtmf), DTMF tone strings, sipfrag, Refer-To,
//! Replaces and the REFER subscription state; and a REGISTER client fed arbitrary bytes as
//! responses neither panics nor stops working.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Instant;

use bytes::Bytes;
use proptest::prelude::*;
use sipline_proto::registration::RegisterParams;
use sipline_proto::session::dtmf::parse_tones;
use sipline_proto::session::refer::ReferSubscriptionState;
use sipline_proto::{
    DtmfInfo, Limits, Message, ReferTo, Registration, Replaces, SipFrag, Uri, parse_message,
};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn body_parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let text = String::from_utf8_lossy(&bytes);
        for ct in ["application/dtmf-relay", "application/dtmf", "text/plain", ""] {
            let _ = DtmfInfo::parse(ct, &bytes);
        }
        let _ = SipFrag::parse(&bytes);
        let _ = ReferTo::parse(&text);
        let _ = Replaces::parse(&text);
        let _ = ReferSubscriptionState::parse(&text);
        let _ = parse_tones(&text);
    }

    #[test]
    fn dtmf_relay_shaped_text_never_panics(
        signal in "[0-9A-Da-d*#x ]{0,4}",
        duration in "[0-9a-z -]{0,8}",
        sep in prop_oneof![Just("\r\n"), Just("\n"), Just(" "), Just("")],
    ) {
        let body = format!("Signal={signal}{sep}Duration={duration}{sep}");
        let _ = DtmfInfo::parse("application/dtmf-relay", body.as_bytes());
    }

    #[test]
    fn a_registration_survives_garbage_responses(
        junk in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 1..8)
    ) {
        let params = RegisterParams::new(
            Uri::parse("sip:registrar.example.com").unwrap(),
            "<sip:alice@example.com>",
            "<sip:alice@192.0.2.1:5060>",
        );
        let mut reg = Registration::new(params, "call-1".into(), "tag-1".into()).unwrap();
        let now = Instant::now();
        reg.register(now).unwrap();
        for j in &junk {
            // Garbage bytes, and garbage after a valid status line.
            let mut framed = b"SIP/2.0 200 OK\r\nCall-ID: call-1\r\nCSeq: 1 REGISTER\r\n".to_vec();
            framed.extend_from_slice(j);
            for raw in [j.clone(), framed] {
                if let Ok(Message::Response(r)) = parse_message(Bytes::from(raw), &Limits::default()) {
                    let _ = reg.on_response(now, &r);
                }
            }
        }
        // Whatever happened, a new REGISTER can still be made once nothing is pending.
        let _ = reg.on_timeout(now);
        prop_assert!(reg.register(now).is_ok());
    }
}
