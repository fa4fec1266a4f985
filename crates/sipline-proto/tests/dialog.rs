//! The dialog layer (RFC 3261 §12, §13.2.2.4, §14) over parsed messages: dialogs created as
//! UAC and UAS, in-dialog requests with exact header values, loose and strict routing,
//! forking, CSeq ordering, target refresh, SIPS, and malformed input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::Bytes;
use sipline_proto::dialog::{Dialog, DialogSet, ResponseOutcome, Role, is_target_refresh};
use sipline_proto::{
    DialogError, DialogId, DialogReject, DialogState, HeaderName, Limits, Message, Method,
    ParseErrorKind, Request, Response, StatusCode, parse_message,
};

const CALL_ID: &str = "a84b4c76e66710@pc33.atlanta.example.com";

fn parse(text: &str) -> Message {
    let raw = text.replace('\n', "\r\n");
    parse_message(Bytes::from(raw), &Limits::default()).unwrap()
}

fn req(text: &str) -> Request {
    match parse(text) {
        Message::Request(r) => r,
        Message::Response(_) => panic!("not a request"),
    }
}

fn resp(text: &str) -> Response {
    match parse(text) {
        Message::Response(r) => r,
        Message::Request(_) => panic!("not a response"),
    }
}

/// The INVITE Alice sent (we are the UAC).
fn invite() -> Request {
    invite_to("sip:bob@biloxi.example.com")
}

fn invite_to(uri: &str) -> Request {
    req(&format!(
        "INVITE {uri} SIP/2.0
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKnashds8
Max-Forwards: 70
To: \"Bob B.\" <{uri}>
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774
Call-ID: {CALL_ID}
CSeq: 314159 INVITE
Contact: <sip:alice@pc33.atlanta.example.com;transport=tcp>
Content-Length: 0

"
    ))
}

/// A response to [`invite`]: status line, To tag, extra header lines.
fn answer(status: &str, to_tag: Option<&str>, extra: &str) -> Response {
    let tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    resp(&format!(
        "SIP/2.0 {status}
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKnashds8
To: \"Bob B.\" <sip:bob@biloxi.example.com>{tag}
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774
Call-ID: {CALL_ID}
CSeq: 314159 INVITE
{extra}Content-Length: 0

"
    ))
}

fn ok_loose() -> Response {
    answer(
        "200 OK",
        Some("a6c85cf"),
        "Record-Route: <sip:p2.biloxi.example.com;lr>, <sip:p1.atlanta.example.com;lr;ftag=x>;hp=1\n\
Contact: \"Bob\" <sip:bob@192.0.2.4;transport=tcp>;expires=60\n",
    )
}

/// Writes `r`, parses the bytes back and validates them: proof the request is valid SIP.
fn roundtrip(r: &Request) -> Request {
    let mut out = Vec::new();
    r.write_to(&mut out);
    let Message::Request(back) = parse_message(Bytes::from(out), &Limits::default()).unwrap()
    else {
        panic!("not a request");
    };
    back.validate().unwrap();
    assert_eq!(&back, r);
    back
}

fn build(b: sipline_proto::RequestBuilder, branch: &str) -> Request {
    let r = b
        .via("TCP", "pc33.atlanta.example.com", branch)
        .build()
        .unwrap();
    roundtrip(&r)
}

fn get(r: &Request, h: HeaderName) -> &str {
    r.headers.get(h).unwrap()
}

fn routes(r: &Request) -> Vec<&str> {
    r.headers.values(HeaderName::Route).collect()
}

// ---- UAC ---------------------------------------------------------------------------------

#[test]
fn uac_dialog_from_2xx_has_the_state_of_12_1_2() {
    let d = Dialog::new_uac(&invite(), &ok_loose()).unwrap();
    assert_eq!(d.state(), DialogState::Confirmed);
    assert_eq!(d.role(), Role::Uac);
    assert_eq!(d.id(), &DialogId::new(CALL_ID, "1928301774", "a6c85cf"));
    assert_eq!(d.local_seq(), Some(314159));
    assert_eq!(d.remote_seq(), None);
    assert_eq!(d.local_uri().as_str(), "sip:alice@atlanta.example.com");
    assert_eq!(d.local_addr(), "Alice <sip:alice@atlanta.example.com>");
    assert_eq!(d.remote_uri().as_str(), "sip:bob@biloxi.example.com");
    assert_eq!(d.remote_addr(), "\"Bob B.\" <sip:bob@biloxi.example.com>");
    assert_eq!(
        d.remote_target().as_str(),
        "sip:bob@192.0.2.4;transport=tcp"
    );
    let rs: Vec<_> = d.route_set().iter().map(|u| u.as_str()).collect();
    assert_eq!(
        rs,
        [
            "sip:p1.atlanta.example.com;lr;ftag=x",
            "sip:p2.biloxi.example.com;lr"
        ]
    );
    assert!(!d.secure());
    assert_eq!(
        d.local_contact(),
        "<sip:alice@pc33.atlanta.example.com;transport=tcp>"
    );
    assert_eq!(
        d.next_hop().as_str(),
        "sip:p1.atlanta.example.com;lr;ftag=x"
    );
    assert!(!d.is_strict_routing());
}

#[test]
fn bye_with_loose_routing_keeps_target_and_routes_in_order() {
    let mut d = Dialog::new_uac(&invite(), &ok_loose()).unwrap();
    let bye = build(d.request(Method::Bye).unwrap(), "z9hG4bKbye1");
    assert_eq!(bye.method, Method::Bye);
    assert_eq!(bye.uri.as_str(), "sip:bob@192.0.2.4;transport=tcp");
    assert_eq!(
        routes(&bye),
        [
            "<sip:p1.atlanta.example.com;lr;ftag=x>",
            "<sip:p2.biloxi.example.com;lr>"
        ]
    );
    assert_eq!(
        get(&bye, HeaderName::To),
        "\"Bob B.\" <sip:bob@biloxi.example.com>;tag=a6c85cf"
    );
    assert_eq!(
        get(&bye, HeaderName::From),
        "Alice <sip:alice@atlanta.example.com>;tag=1928301774"
    );
    assert_eq!(get(&bye, HeaderName::CallId), CALL_ID);
    assert_eq!(get(&bye, HeaderName::CSeq), "314160 BYE");
    assert_eq!(get(&bye, HeaderName::MaxForwards), "70");
    assert!(!bye.headers.contains(HeaderName::Contact));
    assert_eq!(
        bye.top_via().unwrap().branch(),
        Some("z9hG4bKbye1"),
        "the caller's Via is kept"
    );
    assert_eq!(d.local_seq(), Some(314160));
}

#[test]
fn cseq_increments_per_request_and_ack_reuses_the_invite_number() {
    let ok = ok_loose();
    let mut d = Dialog::new_uac(&invite(), &ok).unwrap();
    let ack = build(d.ack(&ok).unwrap(), "z9hG4bKack1");
    assert_eq!(ack.method, Method::Ack);
    assert_eq!(get(&ack, HeaderName::CSeq), "314159 ACK");
    assert_eq!(ack.uri.as_str(), "sip:bob@192.0.2.4;transport=tcp");
    assert_eq!(routes(&ack).len(), 2);
    assert!(!ack.headers.contains(HeaderName::Contact));
    assert_eq!(d.local_seq(), Some(314159), "ACK does not take a CSeq");

    let info = build(d.request(Method::Info).unwrap(), "z9hG4bK2");
    let options = build(d.request(Method::Options).unwrap(), "z9hG4bK3");
    let reinvite = build(d.request(Method::Invite).unwrap(), "z9hG4bK4");
    assert_eq!(get(&info, HeaderName::CSeq), "314160 INFO");
    assert_eq!(get(&options, HeaderName::CSeq), "314161 OPTIONS");
    assert_eq!(get(&reinvite, HeaderName::CSeq), "314162 INVITE");

    // The ACK of the re-INVITE's 2xx carries the re-INVITE's number.
    let ok2 = resp(&format!(
        "SIP/2.0 200 OK
Via: SIP/2.0/TCP pc33.atlanta.example.com;branch=z9hG4bK4
To: \"Bob B.\" <sip:bob@biloxi.example.com>;tag=a6c85cf
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774
Call-ID: {CALL_ID}
CSeq: 314162 INVITE
Content-Length: 0

"
    ));
    let ack2 = build(d.ack(&ok2).unwrap(), "z9hG4bKack2");
    assert_eq!(get(&ack2, HeaderName::CSeq), "314162 ACK");
}

#[test]
fn ack_and_cancel_are_not_built_as_in_dialog_requests() {
    let mut d = Dialog::new_uac(&invite(), &ok_loose()).unwrap();
    assert_eq!(
        d.request(Method::Ack).unwrap_err(),
        DialogError::MethodNotAllowed(Method::Ack)
    );
    assert_eq!(
        d.request(Method::Cancel).unwrap_err(),
        DialogError::MethodNotAllowed(Method::Cancel)
    );
    assert_eq!(
        d.local_seq(),
        Some(314159),
        "a refused request takes no CSeq"
    );
    // ACK needs a 2xx to an INVITE of this dialog.
    let busy = answer("486 Busy Here", Some("a6c85cf"), "");
    assert!(matches!(
        d.ack(&busy),
        Err(DialogError::NotDialogCreating { .. })
    ));
    let other = answer("200 OK", Some("other"), "Contact: <sip:bob@192.0.2.4>\n");
    assert_eq!(
        d.ack(&other).unwrap_err(),
        DialogError::Mismatch {
            field: "remote tag"
        }
    );
}

#[test]
fn target_refresh_requests_carry_the_local_contact() {
    let mut d = Dialog::new_uac(&invite(), &ok_loose()).unwrap();
    let contact = "<sip:alice@pc33.atlanta.example.com;transport=tcp>";
    for m in [Method::Invite, Method::Update, Method::Refer] {
        assert!(is_target_refresh(&m));
        let r = build(d.request(m).unwrap(), "z9hG4bKtr");
        assert_eq!(get(&r, HeaderName::Contact), contact);
    }
    for m in [Method::Bye, Method::Info, Method::Message, Method::Prack] {
        assert!(!is_target_refresh(&m));
        let r = build(d.request(m).unwrap(), "z9hG4bKnr");
        assert!(!r.headers.contains(HeaderName::Contact));
    }
    // Another method gets it when the caller asks.
    let info = build(
        d.request(Method::Info).unwrap().contact(d.local_contact()),
        "z9hG4bKi",
    );
    assert_eq!(get(&info, HeaderName::Contact), contact);
    // A new local contact goes into the next target refresh.
    d.set_local_contact("<sip:alice@198.51.100.7:5061;transport=tls>")
        .unwrap();
    let update = build(d.request(Method::Update).unwrap(), "z9hG4bKu");
    assert_eq!(
        get(&update, HeaderName::Contact),
        "<sip:alice@198.51.100.7:5061;transport=tls>"
    );
    assert!(matches!(
        d.set_local_contact("<tel:+15551234>"),
        Err(DialogError::InvalidContact { .. })
    ));
    assert!(matches!(
        d.set_local_contact("<<nonsense"),
        Err(DialogError::InvalidContact { .. })
    ));
}

#[test]
fn strict_routing_puts_the_first_route_in_the_request_uri() {
    let ok = answer(
        "200 OK",
        Some("a6c85cf"),
        "Record-Route: <sip:p2.biloxi.example.com;lr>\n\
Record-Route: <sip:strict.atlanta.example.com;maddr=192.0.2.9;method=INVITE>\n\
Contact: <sip:bob@192.0.2.4;transport=tcp>\n",
    );
    let mut d = Dialog::new_uac(&invite(), &ok).unwrap();
    assert!(d.is_strict_routing());
    assert_eq!(
        d.next_hop().as_str(),
        "sip:strict.atlanta.example.com;maddr=192.0.2.9;method=INVITE"
    );
    let bye = build(d.request(Method::Bye).unwrap(), "z9hG4bKs");
    // §12.2.1.1: the first route, stripped of parameters a Request-URI may not carry.
    assert_eq!(
        bye.uri.as_str(),
        "sip:strict.atlanta.example.com;maddr=192.0.2.9"
    );
    // The rest of the route set, then the remote target.
    assert_eq!(
        routes(&bye),
        [
            "<sip:p2.biloxi.example.com;lr>",
            "<sip:bob@192.0.2.4;transport=tcp>"
        ]
    );
}

#[test]
fn empty_route_set_sends_straight_to_the_remote_target() {
    let ok = answer(
        "200 OK",
        Some("a6c85cf"),
        "Contact: <sip:bob@192.0.2.4?Subject=hi>\n",
    );
    let mut d = Dialog::new_uac(&invite(), &ok).unwrap();
    assert!(d.route_set().is_empty());
    assert_eq!(d.next_hop().as_str(), "sip:bob@192.0.2.4?Subject=hi");
    let bye = build(d.request(Method::Bye).unwrap(), "z9hG4bKe");
    assert_eq!(bye.uri.as_str(), "sip:bob@192.0.2.4", "headers stripped");
    assert!(!bye.headers.contains(HeaderName::Route));
}

#[test]
fn early_dialog_is_confirmed_by_the_2xx_which_recomputes_the_route_set() {
    let ringing = answer(
        "180 Ringing",
        Some("a6c85cf"),
        "Record-Route: <sip:early.example.com;lr>\nContact: <sip:bob@10.0.0.1>\n",
    );
    let mut d = Dialog::new_uac(&invite(), &ringing).unwrap();
    assert_eq!(d.state(), DialogState::Early);
    assert!(d.is_early());
    assert_eq!(d.route_set()[0].as_str(), "sip:early.example.com;lr");

    // A later 1xx refreshes the target, never the route set.
    let progress = answer(
        "183 Session Progress",
        Some("a6c85cf"),
        "Record-Route: <sip:ignored.example.com;lr>\nContact: <sip:bob@10.0.0.2>\n",
    );
    d.update_from_response(&progress).unwrap();
    assert_eq!(d.remote_target().as_str(), "sip:bob@10.0.0.2");
    assert_eq!(d.route_set()[0].as_str(), "sip:early.example.com;lr");
    assert!(d.is_early());

    d.update_from_response(&ok_loose()).unwrap();
    assert!(d.is_confirmed());
    assert_eq!(
        d.remote_target().as_str(),
        "sip:bob@192.0.2.4;transport=tcp"
    );
    let rs: Vec<_> = d.route_set().iter().map(|u| u.as_str()).collect();
    assert_eq!(
        rs,
        [
            "sip:p1.atlanta.example.com;lr;ftag=x",
            "sip:p2.biloxi.example.com;lr"
        ]
    );

    // Confirmed: a 2xx retransmission or a late 1xx changes nothing.
    let before = d.clone();
    d.update_from_response(&progress).unwrap();
    d.update_from_response(&ok_loose()).unwrap();
    assert_eq!(d, before);

    // Responses of another fork, or that create no dialog, are errors.
    let other = answer("200 OK", Some("zzz"), "Contact: <sip:c@x>\n");
    assert_eq!(
        d.update_from_response(&other).unwrap_err(),
        DialogError::Mismatch {
            field: "remote tag"
        }
    );
    let busy = answer("486 Busy Here", Some("a6c85cf"), "");
    assert!(matches!(
        d.update_from_response(&busy),
        Err(DialogError::NotDialogCreating { .. })
    ));
}

#[test]
fn an_early_dialog_update_without_contact_fails_and_changes_nothing() {
    let ringing = answer(
        "180 Ringing",
        Some("a6c85cf"),
        "Contact: <sip:bob@10.0.0.1>\n",
    );
    let mut d = Dialog::new_uac(&invite(), &ringing).unwrap();
    let before = d.clone();
    let ok = answer(
        "200 OK",
        Some("a6c85cf"),
        "Record-Route: <sip:p.example.com;lr>\n",
    );
    assert_eq!(
        d.update_from_response(&ok).unwrap_err(),
        DialogError::MissingContact {
            message: "response"
        }
    );
    assert_eq!(d, before);
    // A 1xx without Contact keeps the old target.
    let ringing2 = answer("180 Ringing", Some("a6c85cf"), "");
    d.update_from_response(&ringing2).unwrap();
    assert_eq!(d.remote_target().as_str(), "sip:bob@10.0.0.1");
}

#[test]
fn sips_request_uri_makes_a_secure_dialog() {
    let inv = invite_to("sips:bob@biloxi.example.com");
    let ok = answer("200 OK", Some("t"), "Contact: <sips:bob@192.0.2.4>\n");
    // The To of `answer` says sip:, which does not matter: the Request-URI decides.
    let d = Dialog::new_uac(&inv, &ok).unwrap();
    assert!(d.secure());
    let uas = Dialog::new_uas(&inv, "b0b", "<sips:bob@192.0.2.4>").unwrap();
    assert!(uas.secure());
    assert!(
        !Dialog::new_uas(&invite(), "b0b", "<sip:bob@192.0.2.4>")
            .unwrap()
            .secure()
    );
}

// ---- forking -----------------------------------------------------------------------------

#[test]
fn forked_invite_gets_one_early_dialog_per_remote_tag() {
    let inv = invite();
    let mut set = DialogSet::new();
    let trying = answer("100 Trying", None, "");
    assert_eq!(
        set.handle_response(&inv, &trying).unwrap(),
        ResponseOutcome::NoDialog
    );
    let no_tag = answer("180 Ringing", None, "");
    assert_eq!(
        set.handle_response(&inv, &no_tag).unwrap(),
        ResponseOutcome::NoDialog
    );
    let a = answer(
        "180 Ringing",
        Some("fork-a"),
        "Contact: <sip:bob@10.0.0.1>\n",
    );
    let b = answer(
        "183 Session Progress",
        Some("fork-b"),
        "Contact: <sip:bob@10.0.0.2>\n",
    );
    let id_a = DialogId::new(CALL_ID, "1928301774", "fork-a");
    let id_b = DialogId::new(CALL_ID, "1928301774", "fork-b");
    assert_eq!(
        set.handle_response(&inv, &a).unwrap(),
        ResponseOutcome::Early {
            id: id_a.clone(),
            created: true
        }
    );
    assert_eq!(
        set.handle_response(&inv, &b).unwrap(),
        ResponseOutcome::Early {
            id: id_b.clone(),
            created: true
        }
    );
    assert_eq!(
        set.handle_response(&inv, &a).unwrap(),
        ResponseOutcome::Early {
            id: id_a.clone(),
            created: false
        }
    );
    assert_eq!(set.len(), 2);
    assert_eq!(set.forks(CALL_ID, "1928301774").count(), 2);
    assert_eq!(
        set.get(&id_b).unwrap().remote_target().as_str(),
        "sip:bob@10.0.0.2"
    );
    assert!(set.for_response_mut(&b).unwrap().is_early());

    // Fork A answers: its early dialog is confirmed.
    let ok_a = answer("200 OK", Some("fork-a"), "Contact: <sip:bob@10.0.0.1>\n");
    assert_eq!(
        set.handle_response(&inv, &ok_a).unwrap(),
        ResponseOutcome::Confirmed {
            id: id_a.clone(),
            created: false
        }
    );
    assert!(set.get(&id_a).unwrap().is_confirmed());
    // Retransmitted: re-send the ACK. A late 1xx is stale.
    assert_eq!(
        set.handle_response(&inv, &ok_a).unwrap(),
        ResponseOutcome::Retransmission { id: id_a.clone() }
    );
    assert_eq!(
        set.handle_response(&inv, &a).unwrap(),
        ResponseOutcome::Stale { id: id_a.clone() }
    );

    // Fork B answers too: a throwaway confirmed dialog to ACK and BYE (§13.2.2.4).
    let ok_b = answer("200 OK", Some("fork-b"), "Contact: <sip:bob@10.0.0.2>\n");
    let ResponseOutcome::ExtraFork(mut extra) = set.handle_response(&inv, &ok_b).unwrap() else {
        panic!("expected ExtraFork");
    };
    assert_eq!(extra.id(), &id_b);
    assert!(extra.is_confirmed());
    assert!(set.get(&id_b).is_none(), "taken out of the set");
    let ack = build(extra.ack(&ok_b).unwrap(), "z9hG4bKackb");
    assert_eq!(get(&ack, HeaderName::CSeq), "314159 ACK");
    assert_eq!(ack.uri.as_str(), "sip:bob@10.0.0.2");
    let bye = build(extra.request(Method::Bye).unwrap(), "z9hG4bKbyeb");
    assert_eq!(get(&bye, HeaderName::CSeq), "314160 BYE");
    assert_eq!(
        get(&bye, HeaderName::To),
        "\"Bob B.\" <sip:bob@biloxi.example.com>;tag=fork-b"
    );

    // A 2xx from a fork never seen before: also a throwaway.
    let ok_c = answer("200 OK", Some("fork-c"), "Contact: <sip:bob@10.0.0.3>\n");
    assert!(matches!(
        set.handle_response(&inv, &ok_c).unwrap(),
        ResponseOutcome::ExtraFork(d) if d.remote_tag() == "fork-c" && d.is_confirmed()
    ));
    assert_eq!(set.len(), 1);
}

#[test]
fn a_final_failure_ends_the_early_dialogs_of_the_request() {
    let inv = invite();
    let mut set = DialogSet::new();
    for tag in ["x", "y"] {
        let r = answer("180 Ringing", Some(tag), "Contact: <sip:bob@10.0.0.1>\n");
        set.handle_response(&inv, &r).unwrap();
    }
    // A UAS dialog with the same Call-ID is not one of the forks.
    let incoming = req(&format!(
        "INVITE sip:alice@pc33.atlanta.example.com SIP/2.0
Via: SIP/2.0/UDP h.example.com;branch=z9hG4bKin
To: <sip:alice@atlanta.example.com>
From: <sip:carol@chicago.example.com>;tag=carol
Call-ID: {CALL_ID}
CSeq: 1 INVITE
Contact: <sip:carol@192.0.2.77>
Content-Length: 0

"
    ));
    set.insert(Dialog::new_uas(&incoming, "1928301774", "<sip:alice@192.0.2.1>").unwrap());
    assert_eq!(set.len(), 3);
    let busy = answer("486 Busy Here", Some("z"), "");
    let ResponseOutcome::Terminated { mut ids } = set.handle_response(&inv, &busy).unwrap() else {
        panic!("expected Terminated");
    };
    ids.sort();
    assert_eq!(
        ids,
        [
            DialogId::new(CALL_ID, "1928301774", "x"),
            DialogId::new(CALL_ID, "1928301774", "y")
        ]
    );
    assert_eq!(set.len(), 1);
    assert_eq!(set.iter().next().unwrap().role(), Role::Uas);
}

#[test]
fn remove_early_keeps_the_confirmed_fork() {
    let inv = invite();
    let mut set = DialogSet::new();
    for tag in ["x", "y"] {
        let r = answer("180 Ringing", Some(tag), "Contact: <sip:bob@10.0.0.1>\n");
        set.handle_response(&inv, &r).unwrap();
    }
    let ok = answer("200 OK", Some("y"), "Contact: <sip:bob@10.0.0.1>\n");
    set.handle_response(&inv, &ok).unwrap();
    assert_eq!(
        set.remove_early(CALL_ID, "1928301774"),
        [DialogId::new(CALL_ID, "1928301774", "x")]
    );
    assert_eq!(set.len(), 1);
    let id = DialogId::new(CALL_ID, "1928301774", "y");
    assert!(set.remove(&id).unwrap().is_confirmed());
    assert!(set.is_empty());
    assert!(set.remove(&id).is_none());
}

#[test]
fn dialog_set_rejects_responses_of_another_request() {
    let mut set = DialogSet::new();
    let mut other = answer("200 OK", Some("t"), "Contact: <sip:b@x>\n");
    other
        .headers
        .set(HeaderName::CallId, "another-call@example.com");
    assert_eq!(
        set.handle_response(&invite(), &other).unwrap_err(),
        DialogError::Mismatch { field: "Call-ID" }
    );
    let no_tag_2xx = answer("200 OK", None, "Contact: <sip:b@x>\n");
    assert!(matches!(
        set.handle_response(&invite(), &no_tag_2xx),
        Err(DialogError::MissingTag { .. })
    ));
    let no_contact = answer("180 Ringing", Some("t"), "");
    assert_eq!(
        set.handle_response(&invite(), &no_contact).unwrap_err(),
        DialogError::MissingContact {
            message: "response"
        }
    );
    assert!(set.is_empty());
}

// ---- UAS ---------------------------------------------------------------------------------

/// An INVITE Bob receives through two proxies.
fn incoming_invite() -> Request {
    req(&format!(
        "INVITE sip:bob@192.0.2.4 SIP/2.0
Via: SIP/2.0/UDP p2.biloxi.example.com;branch=z9hG4bK2
Via: SIP/2.0/UDP p1.atlanta.example.com;branch=z9hG4bK1
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKnashds8
Max-Forwards: 68
Record-Route: <sip:p2.biloxi.example.com;lr>
Record-Route: <sip:p1.atlanta.example.com;lr>
To: \"Bob B.\" <sip:bob@biloxi.example.com>
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774
Call-ID: {CALL_ID}
CSeq: 314159 INVITE
Contact: <sip:alice@pc33.atlanta.example.com>
Content-Length: 0

"
    ))
}

/// A request from Alice inside the dialog Bob answered.
fn from_alice(method: &str, cseq: u32, extra: &str) -> Request {
    req(&format!(
        "{method} sip:bob@192.0.2.4 SIP/2.0
Via: SIP/2.0/UDP p2.biloxi.example.com;branch=z9hG4bK{method}{cseq}
To: \"Bob B.\" <sip:bob@biloxi.example.com>;tag=b0b
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774
Call-ID: {CALL_ID}
CSeq: {cseq} {method}
{extra}Content-Length: 0

"
    ))
}

fn uas_dialog() -> Dialog {
    Dialog::new_uas(&incoming_invite(), "b0b", "<sip:bob@192.0.2.4>").unwrap()
}

#[test]
fn uas_dialog_has_the_state_of_12_1_1() {
    let mut d = uas_dialog();
    assert_eq!(d.role(), Role::Uas);
    assert_eq!(d.state(), DialogState::Early);
    d.confirm();
    assert_eq!(d.state(), DialogState::Confirmed);
    assert_eq!(d.id(), &DialogId::new(CALL_ID, "b0b", "1928301774"));
    assert_eq!(d.remote_seq(), Some(314159));
    assert_eq!(d.local_seq(), None);
    assert_eq!(d.local_addr(), "\"Bob B.\" <sip:bob@biloxi.example.com>");
    assert_eq!(d.remote_addr(), "Alice <sip:alice@atlanta.example.com>");
    assert_eq!(
        d.remote_target().as_str(),
        "sip:alice@pc33.atlanta.example.com"
    );
    let rs: Vec<_> = d.route_set().iter().map(|u| u.as_str()).collect();
    assert_eq!(
        rs,
        [
            "sip:p2.biloxi.example.com;lr",
            "sip:p1.atlanta.example.com;lr"
        ]
    );
    assert_eq!(d.local_contact(), "<sip:bob@192.0.2.4>");
}

#[test]
fn uas_bye_swaps_from_and_to_and_starts_its_own_cseq() {
    let mut d = uas_dialog();
    d.confirm();
    let bye = build(d.request(Method::Bye).unwrap(), "z9hG4bKbob1");
    assert_eq!(bye.uri.as_str(), "sip:alice@pc33.atlanta.example.com");
    assert_eq!(
        routes(&bye),
        [
            "<sip:p2.biloxi.example.com;lr>",
            "<sip:p1.atlanta.example.com;lr>"
        ]
    );
    assert_eq!(
        get(&bye, HeaderName::From),
        "\"Bob B.\" <sip:bob@biloxi.example.com>;tag=b0b"
    );
    assert_eq!(
        get(&bye, HeaderName::To),
        "Alice <sip:alice@atlanta.example.com>;tag=1928301774"
    );
    assert_eq!(get(&bye, HeaderName::CSeq), "1 BYE");
    let again = build(d.request(Method::Info).unwrap(), "z9hG4bKbob2");
    assert_eq!(get(&again, HeaderName::CSeq), "2 INFO");
    assert_eq!(
        d.remote_seq(),
        Some(314159),
        "independent of the remote CSeq"
    );
}

#[test]
fn lower_remote_cseq_is_rejected_with_500() {
    let mut d = uas_dialog();
    d.confirm();
    // In order: higher numbers, even by more than one, update the remote CSeq.
    d.check_request(&from_alice("INFO", 314170, "")).unwrap();
    assert_eq!(d.remote_seq(), Some(314170));
    // Equal passes (§12.2.2 refuses only lower numbers).
    d.check_request(&from_alice("INFO", 314170, "")).unwrap();

    let late = from_alice("INVITE", 314160, "Contact: <sip:alice@10.9.9.9>\n");
    let e = d.check_request(&late).unwrap_err();
    assert_eq!(
        e,
        DialogReject::OutOfOrder {
            method: Method::Invite,
            cseq: 314160,
            remote_seq: 314170
        }
    );
    assert_eq!(e.status(), StatusCode::SERVER_INTERNAL_ERROR);
    assert_eq!(e.reason(), "Server Internal Error");
    assert!(e.wants_retry_after());
    assert_eq!(d.remote_seq(), Some(314170), "not moved back");
    let r = e.response(&late, 7);
    r.validate().unwrap();
    assert_eq!(r.status, StatusCode::SERVER_INTERNAL_ERROR);
    assert_eq!(r.headers.get(HeaderName::RetryAfter), Some("7"));
    assert_eq!(
        r.headers.get(HeaderName::To),
        Some("\"Bob B.\" <sip:bob@biloxi.example.com>;tag=b0b")
    );
    assert!(e.to_string().contains("314160"));

    let late_bye = from_alice("BYE", 5, "");
    let e = d.check_request(&late_bye).unwrap_err();
    assert!(!e.wants_retry_after());
    assert!(
        !e.response(&late_bye, 7)
            .headers
            .contains(HeaderName::RetryAfter)
    );

    // ACK and CANCEL reuse an older number and are not checked.
    d.check_request(&from_alice("ACK", 314159, "")).unwrap();
    d.check_request(&from_alice("CANCEL", 314159, "")).unwrap();
    assert_eq!(d.remote_seq(), Some(314170));
}

#[test]
fn uac_remote_cseq_starts_empty_and_takes_the_first_request() {
    let mut d = Dialog::new_uac(&invite(), &ok_loose()).unwrap();
    let bye = req(&format!(
        "BYE sip:alice@pc33.atlanta.example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKb
To: Alice <sip:alice@atlanta.example.com>;tag=1928301774
From: \"Bob B.\" <sip:bob@biloxi.example.com>;tag=a6c85cf
Call-ID: {CALL_ID}
CSeq: 7 BYE
Content-Length: 0

"
    ));
    assert_eq!(d.remote_seq(), None);
    d.check_request(&bye).unwrap();
    assert_eq!(d.remote_seq(), Some(7));
    assert_eq!(
        DialogId::from_request_as_uas(&bye).unwrap(),
        *d.id(),
        "the UAS view of the peer's request is our id"
    );
}

#[test]
fn requests_of_another_dialog_get_481_and_malformed_ones_400() {
    let mut d = uas_dialog();
    let mut wrong = from_alice("BYE", 314160, "");
    wrong
        .headers
        .set(HeaderName::To, "<sip:bob@biloxi.example.com>;tag=nope");
    let e = d.check_request(&wrong).unwrap_err();
    assert_eq!(e, DialogReject::WrongDialog);
    assert_eq!(e.status(), StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST);
    let no_tag = incoming_invite();
    assert_eq!(
        d.check_request(&no_tag).unwrap_err(),
        DialogReject::WrongDialog
    );
    let mut bad = from_alice("BYE", 314160, "");
    bad.headers.set(HeaderName::CSeq, "many BYE");
    let e = d.check_request(&bad).unwrap_err();
    assert!(matches!(e, DialogReject::Malformed(_)));
    assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    assert_eq!(d.remote_seq(), Some(314159));
}

#[test]
fn remote_target_changes_only_when_the_refresh_succeeds() {
    let mut d = uas_dialog();
    d.confirm();
    let reinvite = from_alice("INVITE", 314160, "Contact: <sip:alice@198.51.100.9:5070>\n");
    d.check_request(&reinvite).unwrap();
    assert_eq!(
        d.remote_target().as_str(),
        "sip:alice@pc33.atlanta.example.com",
        "not before the 2xx"
    );
    assert!(d.refresh_target_from_request(&reinvite).unwrap());
    assert_eq!(d.remote_target().as_str(), "sip:alice@198.51.100.9:5070");
    let bye = build(d.request(Method::Bye).unwrap(), "z9hG4bKx");
    assert_eq!(bye.uri.as_str(), "sip:alice@198.51.100.9:5070");

    // UPDATE without Contact: nothing to change. BYE is no target refresh.
    let update = from_alice("UPDATE", 314161, "");
    assert!(!d.refresh_target_from_request(&update).unwrap());
    let bye_in = from_alice("BYE", 314162, "Contact: <sip:alice@10.1.1.1>\n");
    assert_eq!(
        d.refresh_target_from_request(&bye_in).unwrap_err(),
        DialogError::MethodNotAllowed(Method::Bye)
    );
    let star = from_alice("UPDATE", 314163, "Contact: *\n");
    assert!(matches!(
        d.refresh_target_from_request(&star),
        Err(DialogError::InvalidContact { .. })
    ));
    assert_eq!(d.remote_target().as_str(), "sip:alice@198.51.100.9:5070");
}

#[test]
fn a_2xx_to_our_reinvite_refreshes_the_target() {
    let mut d = Dialog::new_uac(&invite(), &ok_loose()).unwrap();
    let reinvite = build(d.request(Method::Invite).unwrap(), "z9hG4bKre");
    let mut ok = Response::from_request(&reinvite, StatusCode::OK, None);
    ok.headers
        .push_known(HeaderName::Contact, "<sip:bob@203.0.113.5>");
    assert!(d.refresh_target_from_response(&ok).unwrap());
    assert_eq!(d.remote_target().as_str(), "sip:bob@203.0.113.5");
    // The ACK of that 2xx goes to the new target with the re-INVITE's number.
    let ack = build(d.ack(&ok).unwrap(), "z9hG4bKack");
    assert_eq!(ack.uri.as_str(), "sip:bob@203.0.113.5");
    assert_eq!(get(&ack, HeaderName::CSeq), "314160 ACK");

    let bye = build(d.request(Method::Bye).unwrap(), "z9hG4bKbye");
    let ok_bye = Response::from_request(&bye, StatusCode::OK, None);
    assert_eq!(
        d.refresh_target_from_response(&ok_bye).unwrap_err(),
        DialogError::MethodNotAllowed(Method::Bye)
    );
    let fail = Response::from_request(&reinvite, StatusCode::REQUEST_PENDING, None);
    assert!(matches!(
        d.refresh_target_from_response(&fail),
        Err(DialogError::NotDialogCreating { .. })
    ));
}

#[test]
fn rfc2543_peer_without_from_tag() {
    let inv = req(&format!(
        "INVITE sip:bob@192.0.2.4 SIP/2.0
Via: SIP/2.0/UDP old.example.com;branch=z9hG4bKold
To: <sip:bob@biloxi.example.com>
From: sip:old@example.com
Call-ID: {CALL_ID}
CSeq: 1 INVITE
Contact: sip:old@192.0.2.66
Content-Length: 0

"
    ));
    let mut d = Dialog::new_uas(&inv, "b0b", "<sip:bob@192.0.2.4>").unwrap();
    assert_eq!(d.remote_tag(), "");
    assert_eq!(d.remote_addr(), "<sip:old@example.com>");
    let bye = build(d.request(Method::Bye).unwrap(), "z9hG4bKo");
    assert_eq!(get(&bye, HeaderName::To), "<sip:old@example.com>");
    assert_eq!(bye.uri.as_str(), "sip:old@192.0.2.66");
    // Its in-dialog requests carry no From tag and still match.
    let mut set = DialogSet::new();
    set.insert(d);
    let mut info = req(&format!(
        "INFO sip:bob@192.0.2.4 SIP/2.0
Via: SIP/2.0/UDP old.example.com;branch=z9hG4bKold2
To: <sip:bob@biloxi.example.com>;tag=b0b
From: sip:old@example.com
Call-ID: {CALL_ID}
CSeq: 2 INFO
Content-Length: 0

"
    ));
    set.for_request_mut(&info)
        .unwrap()
        .check_request(&info)
        .unwrap();
    info.headers.set(HeaderName::CallId, "elsewhere");
    assert!(set.for_request_mut(&info).is_none());
}

#[test]
fn dialog_set_finds_in_dialog_requests_by_full_id() {
    let mut set = DialogSet::new();
    let mut d = uas_dialog();
    d.confirm();
    let id = d.id().clone();
    assert!(set.insert(d.clone()).is_none());
    assert!(set.insert(d).is_some(), "same id replaces");
    assert_eq!(set.len(), 1);
    let bye = from_alice("BYE", 314160, "");
    let found = set.for_request_mut(&bye).unwrap();
    assert_eq!(found.id(), &id);
    found.check_request(&bye).unwrap();
    assert_eq!(set.get(&id).unwrap().remote_seq(), Some(314160));
    assert!(set.find(CALL_ID, "b0b", "1928301774").is_some());
    assert!(set.find(CALL_ID, "b0b", "other").is_none());
    assert!(
        set.for_request_mut(&incoming_invite()).is_none(),
        "no To tag"
    );
    assert_eq!(
        id.to_string(),
        format!("{CALL_ID};local-tag=b0b;remote-tag=1928301774")
    );
}

// ---- malformed input ---------------------------------------------------------------------

#[test]
fn responses_that_cannot_create_a_dialog_are_errors() {
    let inv = invite();
    let cases: Vec<(Response, DialogError)> = vec![
        (
            answer("200 OK", None, "Contact: <sip:b@x>\n"),
            DialogError::MissingTag {
                message: "response",
                header: HeaderName::To,
            },
        ),
        (
            answer("200 OK", Some("t"), ""),
            DialogError::MissingContact {
                message: "response",
            },
        ),
        (
            answer("180 Ringing", Some("t"), "Contact: *\n"),
            DialogError::InvalidContact {
                message: "response",
                reason: "Contact is *",
            },
        ),
        (
            answer("200 OK", Some("t"), "Contact: <tel:+15551234>\n"),
            DialogError::InvalidContact {
                message: "response",
                reason: "not a SIP or SIPS URI",
            },
        ),
        (
            answer("100 Trying", Some("t"), "Contact: <sip:b@x>\n"),
            DialogError::NotDialogCreating {
                status: StatusCode::TRYING,
            },
        ),
        (
            answer("486 Busy Here", Some("t"), "Contact: <sip:b@x>\n"),
            DialogError::NotDialogCreating {
                status: StatusCode::BUSY_HERE,
            },
        ),
    ];
    for (r, want) in cases {
        let got = Dialog::new_uac(&inv, &r).unwrap_err();
        assert_eq!(got, want, "{}", r.status);
        assert!(!got.to_string().is_empty());
    }
}

#[test]
fn malformed_headers_give_errors_not_panics() {
    let inv = invite();
    let mut bad_cseq = ok_loose();
    bad_cseq.headers.set(HeaderName::CSeq, "abc INVITE");
    let e = Dialog::new_uac(&inv, &bad_cseq).unwrap_err();
    assert!(matches!(
        e,
        DialogError::Header { message: "response", error } if error.kind == ParseErrorKind::InvalidHeader(HeaderName::CSeq)
    ));
    assert!(std::error::Error::source(&e).is_some());

    let mut other_cseq = ok_loose();
    other_cseq.headers.set(HeaderName::CSeq, "1 INVITE");
    assert_eq!(
        Dialog::new_uac(&inv, &other_cseq).unwrap_err(),
        DialogError::Mismatch { field: "CSeq" }
    );

    let mut bad_rr = ok_loose();
    bad_rr.headers.set(HeaderName::RecordRoute, "<sip:@@>");
    assert!(matches!(
        Dialog::new_uac(&inv, &bad_rr),
        Err(DialogError::Header { .. })
    ));

    let mut bad_contact = ok_loose();
    bad_contact.headers.set(HeaderName::Contact, "<<<");
    assert!(matches!(
        Dialog::new_uac(&inv, &bad_contact),
        Err(DialogError::Header { .. })
    ));

    let mut no_from_tag = inv.clone();
    no_from_tag
        .headers
        .set(HeaderName::From, "<sip:alice@atlanta.example.com>");
    assert_eq!(
        Dialog::new_uac(&no_from_tag, &ok_loose()).unwrap_err(),
        DialogError::MissingTag {
            message: "request",
            header: HeaderName::From
        }
    );

    let mut no_contact = inv.clone();
    no_contact.headers.remove(HeaderName::Contact);
    assert_eq!(
        Dialog::new_uac(&no_contact, &ok_loose()).unwrap_err(),
        DialogError::MissingContact { message: "request" }
    );

    let mut no_call_id = inv.clone();
    no_call_id.headers.remove(HeaderName::CallId);
    assert!(matches!(
        Dialog::new_uac(&no_call_id, &ok_loose()),
        Err(DialogError::Header { message: "request", error }) if error.kind == ParseErrorKind::MissingHeader(HeaderName::CallId)
    ));

    let options = req(&format!(
        "OPTIONS sip:bob@biloxi.example.com SIP/2.0
Via: SIP/2.0/UDP h;branch=z9hG4bKo
To: <sip:bob@biloxi.example.com>
From: <sip:alice@atlanta.example.com>;tag=1928301774
Call-ID: {CALL_ID}
CSeq: 314159 OPTIONS
Contact: <sip:alice@h>
Content-Length: 0

"
    ));
    assert_eq!(
        Dialog::new_uac(&options, &ok_loose()).unwrap_err(),
        DialogError::MethodCannotCreate(Method::Options)
    );
    assert_eq!(
        Dialog::new_uas(&options, "t", "<sip:b@x>").unwrap_err(),
        DialogError::MethodCannotCreate(Method::Options)
    );
}

#[test]
fn uas_creation_errors() {
    let inv = incoming_invite();
    assert_eq!(
        Dialog::new_uas(
            &from_alice("INVITE", 2, "Contact: <sip:a@x>\n"),
            "t",
            "<sip:b@x>"
        )
        .unwrap_err(),
        DialogError::InDialog
    );
    assert!(matches!(
        Dialog::new_uas(&inv, "", "<sip:b@x>"),
        Err(DialogError::MissingTag { .. })
    ));
    assert!(matches!(
        Dialog::new_uas(&inv, "t", "not a contact <"),
        Err(DialogError::InvalidContact { .. })
    ));
    let mut no_contact = inv.clone();
    no_contact.headers.remove(HeaderName::Contact);
    assert_eq!(
        Dialog::new_uas(&no_contact, "t", "<sip:b@x>").unwrap_err(),
        DialogError::MissingContact { message: "request" }
    );
    let mut bad_cseq = inv.clone();
    bad_cseq.headers.set(HeaderName::CSeq, "99999999999 INVITE");
    assert!(matches!(
        Dialog::new_uas(&bad_cseq, "t", "<sip:b@x>"),
        Err(DialogError::Header { .. })
    ));
    // A UAS dialog is not updated by responses.
    let mut d = uas_dialog();
    assert!(matches!(
        d.update_from_response(&ok_loose()),
        Err(DialogError::InvalidState(_))
    ));
}

#[test]
fn dialog_ids_from_messages() {
    let ok = ok_loose();
    assert_eq!(
        DialogId::from_response_as_uac(&ok).unwrap(),
        DialogId::new(CALL_ID, "1928301774", "a6c85cf")
    );
    assert_eq!(
        DialogId::from_request_as_uas(&from_alice("BYE", 1, "")).unwrap(),
        DialogId::new(CALL_ID, "b0b", "1928301774")
    );
    assert_eq!(
        DialogId::from_request_as_uas(&incoming_invite()).unwrap_err(),
        DialogError::MissingTag {
            message: "request",
            header: HeaderName::To
        }
    );
    assert!(matches!(
        DialogId::from_response_as_uac(&answer("180 Ringing", None, "")),
        Err(DialogError::MissingTag { .. })
    ));
}
