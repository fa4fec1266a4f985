//! INVITE sessions with sipp (Debian `sip-tester`) over real sockets, the [`UaCore`] driven by
//! the runtime ([`RuntimeBuilder::start_with`](sipline_tokio::RuntimeBuilder::start_with)):
//! - sipp's built-in UAC calls sipline, which rings and answers with an SDP answer; sipp
//!   ends each call with a BYE;
//! - sipline calls sipp's built-in UAS and ends each call with a BYE;
//! - sipline answers sipp and hangs up (`uac_callee_hangs_up.xml`);
//! - sipline cancels a sipp UAS that rings for ever (`cancel_uas.xml`), and sipp cancels a
//!   ringing sipline (`cancel_uac.xml`);
//! - sipp holds its ACK back and sipline retransmits its 200 exactly once (`uac_late_ack.xml`,
//!   UDP).
//!
//! Over UDP and TCP. sipp must count every call successful, with no retransmission (but the
//! one expected), no timeout and no unexpected message; sipline must see every session
//! through. Scenarios live in `interop/sipp/`.
//!
//! sipp is required: if it is missing the tests fail and say how to install it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::bounded;
use common::sipp::{Sipp, free_port, scenario};
use sipline_proto::{
    Body, Cause, Flow, InviteParams, ReplyParams, SessionId, SessionRole, StatusCode,
    TransportKind, UaCore, UaEvent, Uri,
};
use sipline_tokio::{EventStream, Handle, Runtime};

/// Calls per run.
const CALLS: u64 = 50;
/// Calls per second sipp places.
const RATE: &str = "25";

const OFFER: &str = "v=0\r\no=sipline 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
const ANSWER: &str = "v=0\r\no=sipline 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6002 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

/// sipp's `-t` for a transport.
fn sipp_transport(kind: TransportKind) -> &'static str {
    match kind {
        TransportKind::Udp => "u1",
        TransportKind::Tcp => "t1",
        other => panic!("sipp does not speak {other}"),
    }
}

/// A UaCore runtime listening on 127.0.0.1, port 0, for `kind`.
async fn start_ua(kind: TransportKind) -> (Handle<UaCore>, EventStream<UaEvent>) {
    let any = "127.0.0.1:0".parse().unwrap();
    let builder = match kind {
        TransportKind::Udp => Runtime::builder().udp(any),
        _ => Runtime::builder().tcp(any),
    };
    builder
        .start_with(|bound| UaCore::new(bound.ua_config("<sip:sipline@127.0.0.1>", "sipline")))
        .await
        .unwrap()
}

/// What the test application saw.
#[derive(Debug, Default)]
struct Seen {
    incoming: u64,
    progress: u64,
    accepted: u64,
    confirmed: u64,
    failed: Vec<Cause>,
    canceled: u64,
    bye: u64,
    terminated: Vec<Cause>,
    dropped: u64,
    /// Commands the core refused.
    errors: Vec<String>,
}

impl Seen {
    fn terminated_by(&self, cause: Cause) -> u64 {
        self.terminated.iter().filter(|c| **c == cause).count() as u64
    }
}

/// What the application does with an event, beside counting it.
#[derive(Clone, Copy)]
enum App {
    /// Ring, then answer every incoming call.
    Answer,
    /// End every outgoing call once confirmed.
    HangUp,
    /// Cancel every outgoing call when it rings.
    CancelOnRinging,
    /// Ring on every incoming call, never answer.
    RingOnly,
    /// Answer every incoming call like `Answer`, and end it once confirmed.
    AnswerThenHangUp,
}

/// Runs the test application until the runtime stops; `seen` is updated as events come.
fn spawn_app(
    app: App,
    ua: Handle<UaCore>,
    mut events: EventStream<UaEvent>,
    seen: Arc<Mutex<Seen>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(ev) = events.next_event().await {
            let mut command: Option<(SessionId, App)> = None;
            {
                let mut s = seen.lock().unwrap();
                match ev {
                    UaEvent::Incoming { session, .. } => {
                        s.incoming += 1;
                        command = Some((session, App::Answer));
                    }
                    UaEvent::Progress { session, response } => {
                        s.progress += 1;
                        if response.status == StatusCode::RINGING {
                            command = Some((session, App::CancelOnRinging));
                        }
                    }
                    UaEvent::Accepted { .. } => s.accepted += 1,
                    UaEvent::Confirmed { session, .. } => {
                        s.confirmed += 1;
                        command = Some((session, App::HangUp));
                    }
                    UaEvent::Failed { cause, .. } => s.failed.push(cause),
                    UaEvent::Canceled { .. } => s.canceled += 1,
                    UaEvent::Bye { .. } => s.bye += 1,
                    UaEvent::Terminated { cause, .. } => s.terminated.push(cause),
                    UaEvent::Dropped { .. } => s.dropped += 1,
                    other => s.errors.push(format!("unexpected event {other:?}")),
                }
            }
            let Some((session, what)) = command else {
                continue;
            };
            let result = match (app, what) {
                (App::RingOnly, App::Answer) => {
                    ua.with(move |core: &mut UaCore, now| {
                        core.progress(now, session, ReplyParams::status(StatusCode::RINGING))
                    })
                    .await
                }
                (App::Answer | App::AnswerThenHangUp, App::Answer) => {
                    ua.with(move |core: &mut UaCore, now| {
                        core.progress(now, session, ReplyParams::status(StatusCode::RINGING))?;
                        core.accept(
                            now,
                            session,
                            ReplyParams::status(StatusCode::OK).with_body(Body::sdp(ANSWER)),
                        )
                    })
                    .await
                }
                (App::HangUp | App::AnswerThenHangUp, App::HangUp) => {
                    ua.with(move |core: &mut UaCore, now| {
                        let mine = if matches!(app, App::HangUp) {
                            SessionRole::Uac
                        } else {
                            SessionRole::Uas
                        };
                        if core.role(session) == Some(mine) {
                            core.bye(now, session, &[])
                        } else {
                            Ok(())
                        }
                    })
                    .await
                }
                (App::CancelOnRinging, App::CancelOnRinging) => {
                    ua.with(move |core: &mut UaCore, now| core.cancel(now, session))
                        .await
                }
                _ => continue,
            };
            match result {
                Ok(Ok(())) => {}
                Ok(Err(e)) => seen.lock().unwrap().errors.push(format!("{session}: {e}")),
                Err(_) => break, // the runtime stopped
            }
        }
    })
}

/// Waits (at most 5 s) until `done` holds for what the application saw.
async fn until(seen: &Arc<Mutex<Seen>>, done: impl Fn(&Seen) -> bool) {
    for _ in 0..250 {
        if done(&seen.lock().unwrap()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A sipp UAC (`scenario_args`: its scenario) calls a sipline runtime running `app`
/// `calls` times; returns what sipline saw and what sipp left.
async fn sipp_calls_sipline_with(
    kind: TransportKind,
    app: App,
    scenario_args: &[&str],
    calls: u64,
) -> (Seen, common::sipp::SippRun) {
    let (ua, events) = start_ua(kind).await;
    let target = ua.local_addr(kind).unwrap().to_string();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let task = spawn_app(app, ua.clone(), events, seen.clone());
    let n = calls.to_string();
    let mut args = scenario_args.to_vec();
    args.extend([
        target.as_str(),
        "-t",
        sipp_transport(kind),
        "-r",
        RATE,
        "-m",
        &n,
        "-timeout",
        "25s",
    ]);
    let sipp = Sipp::spawn(free_port(), &args);
    let run = sipp.finish(Duration::from_secs(26)).await;
    until(&seen, |s| s.terminated.len() as u64 >= calls).await;
    ua.shutdown().await;
    task.await.unwrap();
    let seen = Arc::try_unwrap(seen).unwrap().into_inner().unwrap();
    (seen, run)
}

/// sipp's built-in UAC calls sipline CALLS times.
async fn sipp_calls_sipline(kind: TransportKind) {
    bounded(async {
        let (seen, run) = sipp_calls_sipline_with(kind, App::Answer, &["-sn", "uac"], CALLS).await;
        let what = format!("sipp uac -> sipline over {kind}");
        run.assert_clean(CALLS, &what);
        assert!(seen.errors.is_empty(), "{what}: {seen:?}");
        assert_eq!(
            (seen.incoming, seen.accepted, seen.confirmed, seen.bye),
            (CALLS, CALLS, CALLS, CALLS),
            "{what}: incoming, accepted, confirmed, bye: {seen:?}\n{}",
            run.report()
        );
        assert_eq!(
            seen.terminated_by(Cause::Bye),
            CALLS,
            "{what}: terminated by BYE: {seen:?}"
        );
        assert!(seen.failed.is_empty(), "{what}: {seen:?}");
    })
    .await;
}

/// sipline calls a sipp UAS (`args`: its scenario) `calls` times, one call every 20 ms;
/// returns what sipline saw and what sipp left.
async fn sipline_calls_sipp(
    kind: TransportKind,
    app: App,
    scenario_args: &[&str],
    calls: u64,
) -> (Seen, common::sipp::SippRun) {
    let port = free_port();
    let t = sipp_transport(kind);
    let n = calls.to_string();
    let mut args = scenario_args.to_vec();
    args.extend(["-t", t, "-m", &n, "-timeout", "25s"]);
    let sipp = Sipp::spawn(port, &args);
    sipp.ready(t).await;

    let (ua, events) = start_ua(kind).await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let task = spawn_app(app, ua.clone(), events, seen.clone());
    let remote = format!("127.0.0.1:{port}").parse().unwrap();
    let flow = Flow {
        transport: kind,
        remote,
        conn: None,
    };
    let uri = if kind == TransportKind::Udp {
        format!("sip:sipp@127.0.0.1:{port}")
    } else {
        format!("sip:sipp@127.0.0.1:{port};transport=tcp")
    };
    for _ in 0..calls {
        let params = InviteParams {
            target: Uri::parse(&uri).unwrap(),
            flow,
            offer: Some(Body::sdp(OFFER)),
            headers: Vec::new(),
            rel100: None,
        };
        ua.with(move |core: &mut UaCore, now| core.invite(now, params))
            .await
            .unwrap()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let run = sipp.finish(Duration::from_secs(26)).await;
    until(&seen, |s| s.terminated.len() as u64 >= calls).await;
    ua.shutdown().await;
    task.await.unwrap();
    let seen = Arc::try_unwrap(seen).unwrap().into_inner().unwrap();
    (seen, run)
}

async fn sipline_calls_sipp_uas(kind: TransportKind) {
    bounded(async {
        let (seen, run) = sipline_calls_sipp(kind, App::HangUp, &["-sn", "uas"], CALLS).await;
        let what = format!("sipline -> sipp uas over {kind}");
        run.assert_clean(CALLS, &what);
        assert!(seen.errors.is_empty(), "{what}: {seen:?}");
        assert_eq!(
            (seen.accepted, seen.confirmed),
            (CALLS, CALLS),
            "{what}: accepted, confirmed: {seen:?}\n{}",
            run.report()
        );
        assert_eq!(
            seen.terminated_by(Cause::Bye),
            CALLS,
            "{what}: terminated by our BYE: {seen:?}"
        );
        assert!(seen.failed.is_empty(), "{what}: {seen:?}");
    })
    .await;
}

/// A sipp UAC cancels each call once sipline rings.
async fn sipp_cancels_ringing_sipline(kind: TransportKind) {
    bounded(async {
        const N: u64 = 20;
        let xml = scenario("cancel_uac.xml");
        let xml = xml.to_str().unwrap();
        let (seen, run) = sipp_calls_sipline_with(kind, App::RingOnly, &["-sf", xml], N).await;
        let what = format!("sipp cancels sipline over {kind}");
        run.assert_clean(N, &what);
        assert!(seen.errors.is_empty(), "{what}: {seen:?}");
        assert_eq!(
            (seen.incoming, seen.canceled, seen.accepted),
            (N, N, 0),
            "{what}: incoming, canceled, accepted: {seen:?}\n{}",
            run.report()
        );
        assert_eq!(seen.terminated_by(Cause::Canceled), N, "{what}: {seen:?}");
    })
    .await;
}

/// sipline answers sipp's calls and hangs up (the BYE goes to sipp's Contact).
async fn sipline_hangs_up_on_sipp(kind: TransportKind) {
    bounded(async {
        let xml = scenario("uac_callee_hangs_up.xml");
        let xml = xml.to_str().unwrap();
        let (seen, run) =
            sipp_calls_sipline_with(kind, App::AnswerThenHangUp, &["-sf", xml], CALLS).await;
        let what = format!("sipline hangs up on sipp over {kind}");
        run.assert_clean(CALLS, &what);
        assert!(seen.errors.is_empty(), "{what}: {seen:?}");
        assert_eq!(
            (seen.incoming, seen.confirmed, seen.bye),
            (CALLS, CALLS, 0),
            "{what}: incoming, confirmed, bye received: {seen:?}\n{}",
            run.report()
        );
        assert_eq!(seen.terminated_by(Cause::Bye), CALLS, "{what}: {seen:?}");
    })
    .await;
}

/// sipp holds its ACK back for 1.2 s: sipline retransmits its 200 once (at T1) and stops
/// at the ACK (RFC 3261 §13.3.1.4).
///
/// UDP only: §13.3.1.4 has the UAS core retransmit its 2xx on reliable transports too (for
/// UDP hops further on), which sipline does, but sipp over TCP counts such a retransmission
/// as an unexpected message and fails the call.
async fn sipline_retransmits_its_200_until_the_ack(kind: TransportKind) {
    bounded(async {
        const N: u64 = 5;
        let xml = scenario("uac_late_ack.xml");
        let xml = xml.to_str().unwrap();
        let (seen, run) = sipp_calls_sipline_with(kind, App::Answer, &["-sf", xml], N).await;
        let what = format!("sipp acks late over {kind}");
        run.assert_calls(N, N, &what);
        assert!(seen.errors.is_empty(), "{what}: {seen:?}");
        assert_eq!(
            (seen.confirmed, seen.bye),
            (N, N),
            "{what}: confirmed, bye: {seen:?}\n{}",
            run.report()
        );
        assert_eq!(seen.terminated_by(Cause::Bye), N, "{what}: {seen:?}");
    })
    .await;
}

async fn sipline_cancels_ringing_sipp(kind: TransportKind) {
    bounded(async {
        const N: u64 = 10;
        let xml = scenario("cancel_uas.xml");
        let xml = xml.to_str().unwrap();
        let (seen, run) = sipline_calls_sipp(kind, App::CancelOnRinging, &["-sf", xml], N).await;
        let what = format!("sipline cancels sipp over {kind}");
        run.assert_clean(N, &what);
        assert!(seen.errors.is_empty(), "{what}: {seen:?}");
        assert_eq!(
            seen.failed,
            vec![Cause::Canceled; N as usize],
            "{what}: {seen:?}\n{}",
            run.report()
        );
        assert_eq!(seen.terminated_by(Cause::Canceled), N, "{what}: {seen:?}");
        assert_eq!(seen.confirmed, 0, "{what}: {seen:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_uac_calls_sipline_over_udp() {
    sipp_calls_sipline(TransportKind::Udp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_uac_calls_sipline_over_tcp() {
    sipp_calls_sipline(TransportKind::Tcp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipline_calls_sipp_uas_over_udp() {
    sipline_calls_sipp_uas(TransportKind::Udp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipline_calls_sipp_uas_over_tcp() {
    sipline_calls_sipp_uas(TransportKind::Tcp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipline_cancels_ringing_sipp_over_udp() {
    sipline_cancels_ringing_sipp(TransportKind::Udp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipline_cancels_ringing_sipp_over_tcp() {
    sipline_cancels_ringing_sipp(TransportKind::Tcp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_cancels_ringing_sipline_over_udp() {
    sipp_cancels_ringing_sipline(TransportKind::Udp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_cancels_ringing_sipline_over_tcp() {
    sipp_cancels_ringing_sipline(TransportKind::Tcp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipline_hangs_up_on_sipp_over_udp() {
    sipline_hangs_up_on_sipp(TransportKind::Udp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipline_hangs_up_on_sipp_over_tcp() {
    sipline_hangs_up_on_sipp(TransportKind::Tcp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipline_retransmits_its_200_until_the_ack_over_udp() {
    sipline_retransmits_its_200_until_the_ack(TransportKind::Udp).await;
}
