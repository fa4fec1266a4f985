//! Unit tests of the dialog layer's helpers and edges; whole flows are in `tests/dialog.rs`.
#![allow(clippy::unwrap_used, clippy::panic)]

use bytes::Bytes;

use super::state::FIRST_UAS_SEQ;
use super::*;
use crate::message::{Message, NameAddr};
use crate::parse::{Limits, parse_message};

fn strip(v: &str) -> String {
    addr_without_tag(&NameAddr::parse(v).unwrap())
}

#[test]
fn addr_without_tag_keeps_display_name_and_other_params() {
    assert_eq!(
        strip("\"A \\\"B\\\" C\" <sip:a@x;transport=tcp>;tag=1;foo=bar;flag"),
        "\"A \\\"B\\\" C\" <sip:a@x;transport=tcp>;foo=bar;flag"
    );
    assert_eq!(
        strip("Alice Smith <sip:a@x>;TAG=9"),
        "Alice Smith <sip:a@x>"
    );
    // An addr-spec's parameters after the URI are header parameters (§20.10).
    assert_eq!(strip("sip:a@x;tag=1;p=2"), "<sip:a@x>;p=2");
    assert_eq!(strip("<sips:a@x>"), "<sips:a@x>");
}

#[test]
fn request_uri_drops_method_and_headers() {
    let u = |s: &str| request_uri(&Uri::parse(s).unwrap()).unwrap();
    assert_eq!(u("sip:a@x;lr").as_str(), "sip:a@x;lr");
    assert_eq!(
        u("sip:p.example.com:5070;method=INVITE;lr;maddr=10.0.0.1").as_str(),
        "sip:p.example.com:5070;lr;maddr=10.0.0.1"
    );
    assert_eq!(u("sip:a@x?Subject=hi&Priority=urgent").as_str(), "sip:a@x");
    assert_eq!(
        u("sips:a@x;transport=tls?h=v").as_str(),
        "sips:a@x;transport=tls"
    );
    // A '?' in the user part is not the headers separator.
    assert_eq!(u("sip:a?b@x;method=BYE").as_str(), "sip:a?b@x");
}

#[test]
fn target_refresh_and_dialog_creating_methods() {
    for m in [
        Method::Invite,
        Method::Update,
        Method::Subscribe,
        Method::Notify,
        Method::Refer,
    ] {
        assert!(is_target_refresh(&m), "{m}");
    }
    for m in [
        Method::Bye,
        Method::Ack,
        Method::Info,
        Method::Prack,
        Method::Message,
    ] {
        assert!(!is_target_refresh(&m), "{m}");
    }
    assert!(creates_dialog(&Method::Subscribe));
    assert!(!creates_dialog(&Method::Bye));
    assert!(!creates_dialog(&Method::Register));
}

fn uas() -> Dialog {
    let raw = "SUBSCRIBE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/TCP h.example.com;branch=z9hG4bKs\r\n\
To: <sip:bob@example.com>\r\n\
From: <sip:alice@example.com>;tag=a\r\n\
Call-ID: c1\r\n\
CSeq: 10 SUBSCRIBE\r\n\
Event: presence\r\n\
Contact: <sip:alice@192.0.2.1;transport=tcp>\r\n\
Content-Length: 0\r\n\r\n";
    let Ok(Message::Request(r)) =
        parse_message(Bytes::from_static(raw.as_bytes()), &Limits::default())
    else {
        panic!()
    };
    Dialog::new_uas(&r, "b", " <sip:bob@192.0.2.2> ").unwrap()
}

#[test]
fn uas_first_request_uses_the_first_seq_and_notify_gets_contact() {
    let mut d = uas();
    assert_eq!(d.local_contact(), "<sip:bob@192.0.2.2>", "trimmed");
    let n = d
        .request(Method::Notify)
        .unwrap()
        .via("TCP", "192.0.2.2", "z9hG4bKn")
        .build()
        .unwrap();
    assert_eq!(n.headers.cseq().unwrap().seq, FIRST_UAS_SEQ);
    assert_eq!(
        n.headers.get(HeaderName::Contact),
        Some("<sip:bob@192.0.2.2>")
    );
    n.validate().unwrap();
}

#[test]
fn local_cseq_stops_below_2_pow_31() {
    let mut d = uas();
    d.local_seq = Some((1 << 31) - 2);
    assert!(d.request(Method::Info).is_ok());
    assert_eq!(d.local_seq(), Some((1 << 31) - 1));
    assert_eq!(
        d.request(Method::Info).unwrap_err(),
        DialogError::CSeqExhausted
    );
    assert_eq!(d.local_seq(), Some((1 << 31) - 1));
}

#[test]
fn reject_statuses_and_reasons() {
    let out = DialogReject::OutOfOrder {
        method: Method::Bye,
        cseq: 1,
        remote_seq: 2,
    };
    assert_eq!(out.status().as_u16(), 500);
    assert_eq!(out.reason(), "Server Internal Error");
    assert!(!out.wants_retry_after());
    assert_eq!(DialogReject::WrongDialog.status().as_u16(), 481);
    assert_eq!(
        DialogReject::WrongDialog.reason(),
        "Call/Transaction Does Not Exist"
    );
    let e = crate::ParseError::new(crate::ParseErrorKind::InvalidHeader(HeaderName::CSeq), 3);
    assert_eq!(DialogReject::Malformed(e).status().as_u16(), 400);
}

#[test]
fn errors_display_with_context() {
    let cases = [
        (
            DialogError::MissingTag {
                message: "response",
                header: HeaderName::To,
            },
            "the response has no To tag",
        ),
        (
            DialogError::MissingContact { message: "request" },
            "the request has no Contact to take the dialog's target from",
        ),
        (
            DialogError::NotDialogCreating {
                status: crate::StatusCode::BUSY_HERE,
            },
            "a 486 response creates no dialog",
        ),
        (
            DialogError::MethodNotAllowed(Method::Cancel),
            "CANCEL is not built as an in-dialog request",
        ),
        (
            DialogError::Mismatch { field: "Call-ID" },
            "the message belongs to another dialog: its Call-ID differs",
        ),
    ];
    for (e, want) in cases {
        assert_eq!(e.to_string(), want);
    }
}
