//! Interop of the public API with sipp (Debian `sip-tester`) on 127.0.0.1, over UDP:
//! - sipp's built-in UAC places 20 calls to a sipline [`Ua`] whose application rings (180)
//!   and answers each incoming [`Session`]; sipp ends each call with a BYE and echoes our RTP
//!   (`-rtp_echo`), so every call also carries audio there and back;
//! - sipline calls sipp's built-in UAS 10 times, one after another, and ends each call with
//!   its BYE.
//!
//! sipp must count every call successful, with no retransmission, no timeout and no
//! unexpected message; sipline must see every session through (Accepted, Bye, Terminated).
//! sipp runs under a guard that kills it by pid on every path. sipp is required: if it is
//! missing the tests fail and say how to install it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// The sipp runner and its screen/statistics parsing, shared with sipline-tokio's tests.
#[allow(dead_code, unreachable_pub)]
#[path = "../../sipline-tokio/tests/common/sipp.rs"]
mod sipp;

use std::net::SocketAddr;
use std::time::Duration;

use sipline::{
    AcceptOptions, BufferSink, ByeOptions, Cause, InviteOptions, MediaStats, ProgressOptions,
    Session, SessionEvent, StatusCode, ToneSource, TransportKind, Ua, UaEvent,
};
use sipp::{Sipp, free_port};
use tokio::task::JoinSet;
use tokio::time::timeout;

async fn ua() -> Ua {
    Ua::builder()
        .uri("sip:sipline@127.0.0.1")
        .udp("127.0.0.1:0".parse::<SocketAddr>().unwrap())
        .build()
        .await
        .unwrap()
}

/// The next event, skipping `Connecting` (media set-up begins; `call.rs` checks it).
async fn next(s: &mut Session) -> SessionEvent {
    loop {
        let e = timeout(Duration::from_secs(15), s.next_event())
            .await
            .expect("no session event within 15 s")
            .expect("the session ended without Terminated");
        if !matches!(e, SessionEvent::Connecting) {
            return e;
        }
    }
}

/// What sipline's application saw of one call.
#[derive(Debug, Default)]
struct Seen {
    accepted: bool,
    bye: bool,
    terminated: Option<Cause>,
    /// RTP statistics a moment after the answer.
    stats: Option<MediaStats>,
    unexpected: Vec<String>,
}

/// The answering application: rings, answers playing a tone, waits for the caller's BYE.
async fn answer(mut call: Session) -> Seen {
    let mut seen = Seen::default();
    call.progress(ProgressOptions::default()).await.unwrap();
    call.accept(AcceptOptions {
        audio_source: Box::new(ToneSource::new(8000, 440.0, -10.0)),
        audio_sink: Box::new(BufferSink::new(8000)),
        ..AcceptOptions::default()
    })
    .await
    .unwrap();
    loop {
        match next(&mut call).await {
            SessionEvent::Accepted { code, .. } => {
                assert_eq!(code, StatusCode::OK);
                seen.accepted = true;
                // sipp hangs up after its pause (-d): look at the media meanwhile.
                tokio::time::sleep(Duration::from_millis(300)).await;
                seen.stats = call.stats().await;
            }
            SessionEvent::Bye { .. } => seen.bye = true,
            SessionEvent::Terminated { cause } => {
                seen.terminated = Some(cause);
                return seen;
            }
            e => seen.unexpected.push(format!("{e:?}")),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_uac_calls_sipline_20_times() {
    const CALLS: usize = 20;
    let ua = ua().await;
    let target = ua.local_addr(TransportKind::Udp).unwrap();
    let media_port = free_port().to_string();
    let sipp = Sipp::spawn(
        free_port(),
        &[
            "-sn",
            "uac",
            &target.to_string(),
            "-t",
            "u1",
            "-m",
            &CALLS.to_string(),
            "-r",
            "10",
            "-d",
            "1000",
            "-timeout",
            "30s",
            "-rtp_echo",
            "-mp",
            &media_port,
        ],
    );
    // The application: every incoming call is answered in a task of its own.
    let app = {
        let ua = ua.clone();
        tokio::spawn(async move {
            let mut calls = JoinSet::new();
            for _ in 0..CALLS {
                match ua.next_event().await {
                    Some(UaEvent::Invite(s)) => {
                        calls.spawn(answer(s));
                    }
                    other => panic!("expected an incoming call, got {other:?}"),
                }
            }
            calls.join_all().await
        })
    };
    let run = sipp.finish(Duration::from_secs(40)).await;
    run.assert_clean(CALLS as u64, "sipp uac -> sipline");
    let seen = timeout(Duration::from_secs(10), app)
        .await
        .expect("sipline's application did not see every call end")
        .unwrap();
    let accepted = seen.iter().filter(|s| s.accepted).count();
    let byes = seen.iter().filter(|s| s.bye).count();
    let ended = seen
        .iter()
        .filter(|s| s.terminated == Some(Cause::Bye))
        .count();
    let with_rtp = seen
        .iter()
        .filter(|s| s.stats.as_ref().is_some_and(|st| st.packets_received > 0))
        .count();
    eprintln!(
        "sipline: {accepted} accepted, {byes} BYE, {ended} terminated by BYE, \
         {with_rtp} with RTP echoed back"
    );
    for s in &seen {
        assert!(s.unexpected.is_empty(), "unexpected events: {s:?}");
    }
    assert_eq!((accepted, byes, ended), (CALLS, CALLS, CALLS), "{seen:#?}");
    assert_eq!(
        with_rtp, CALLS,
        "sipp echoes our RTP in every call: {seen:#?}"
    );
    ua.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipline_calls_sipp_uas_10_times() {
    const CALLS: usize = 10;
    let ua = ua().await;
    let port = free_port();
    let media_port = free_port().to_string();
    let sipp = Sipp::spawn(
        port,
        &[
            "-sn",
            "uas",
            "-t",
            "u1",
            "-m",
            &CALLS.to_string(),
            "-rtp_echo",
            "-mp",
            &media_port,
        ],
    );
    sipp.ready("u1").await;
    for i in 0..CALLS {
        let mut call = ua
            .invite(
                &format!("sip:service@127.0.0.1:{port}"),
                InviteOptions {
                    audio_source: Box::new(ToneSource::new(8000, 440.0, -10.0)),
                    ..InviteOptions::default()
                },
            )
            .await
            .unwrap();
        let mut ringing = false;
        loop {
            match next(&mut call).await {
                SessionEvent::Progress { response } => {
                    ringing |= response.status == StatusCode::RINGING;
                }
                SessionEvent::Accepted { code, response } => {
                    assert_eq!(code, StatusCode::OK);
                    let sdp = response.unwrap().body;
                    assert!(!sdp.is_empty(), "sipp's 200 has an SDP answer");
                    break;
                }
                e => panic!("call {i}: {e:?}"),
            }
        }
        assert!(ringing, "call {i}: sipp's uas rings first");
        // sipp echoes our RTP back.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let stats = call.stats().await.unwrap();
        assert!(
            stats.packets_sent > 0 && stats.packets_received > 0,
            "call {i}: {stats:?}"
        );
        call.bye(ByeOptions::default()).await.unwrap();
        match next(&mut call).await {
            SessionEvent::Terminated { cause } => assert_eq!(cause, Cause::Bye, "call {i}"),
            e => panic!("call {i}: {e:?}"),
        }
        assert!(call.next_event().await.is_none());
    }
    let run = sipp.finish(Duration::from_secs(15)).await;
    run.assert_clean(CALLS as u64, "sipline -> sipp uas");
    ua.stop().await;
}
