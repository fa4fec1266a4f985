//! sipp scenarios (`interop/sipp/*.xml`) against the real `sipline` binary on 127.0.0.1:
//! sipp as the caller of `sipline answer` and as the callee of `sipline call`, for 100rel and
//! PRACK, a hold re-INVITE, DTMF in INFO, a followed REFER and a digest-challenged INVITE.
//! Each run must be clean: every call successful, no retransmission, no timeout, no
//! unexpected message; and sipline must exit with 0.
//!
//! The tests run one at a time (the machine may be busy: a late answer would be
//! retransmitted); every child process is killed by its pid when its guard drops (panics
//! included), and every wait is bounded.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../sipline-tokio/tests/common/sipp.rs"]
#[allow(dead_code, unreachable_pub)]
mod sipp;

#[allow(dead_code)] // each test file uses part of it
mod common;

use common::Sipline;
use std::process::Command;
use std::time::{Duration, Instant};

/// One scenario at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Starts sipp with `scenario` of `interop/sipp/` for one call on a free port.
fn sipp_scenario(scenario: &str, args: &[&str]) -> sipp::Sipp {
    let path = sipp::scenario(scenario);
    let mut all = vec!["-sf", path.to_str().unwrap(), "-m", "1", "-timeout", "30s"];
    all.extend_from_slice(args);
    sipp::Sipp::spawn(sipp::free_port(), &all)
}

/// Asserts that `out` has each of `lines`.
fn assert_lines(out: &str, lines: &[&str]) {
    for line in lines {
        assert!(out.lines().any(|l| l == *line), "no {line:?} in\n{out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_uac_pracks_the_reliable_180_of_sipline_answer() {
    let _one = SERIAL.lock().await;
    let mut answer = Sipline::spawn(&[
        "answer",
        "--max-calls",
        "2",
        "--rel100",
        "--ring-for",
        "300ms",
    ]);
    let port = tokio::task::block_in_place(|| answer.udp_port());
    let target = format!("127.0.0.1:{port}");
    // The INVITE offers 100rel, then requires it.
    for header in ["Supported", "Require"] {
        let sipp = sipp_scenario("prack_uac.xml", &["-key", "rel100", header, &target]);
        let run = sipp.finish(Duration::from_secs(40)).await;
        run.assert_clean(
            1,
            &format!("prack_uac.xml ({header}: 100rel) vs sipline answer --rel100"),
        );
    }
    let out = answer.succeeds(Duration::from_secs(15));
    for n in 1..=2 {
        assert_lines(
            &out,
            &[
                &format!("call {n}: ringing (180, reliable)"),
                &format!("call {n}: accepted"),
                &format!("call {n}: the caller hung up"),
                &format!("call {n}: ended (Bye)"),
            ],
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipline_call_pracks_the_reliable_180_of_sipp_uas() {
    let _one = SERIAL.lock().await;
    let sipp = sipp_scenario("prack_uas.xml", &[]);
    sipp.ready("u1").await;
    let mut call = Sipline::spawn(&[
        "call",
        &format!("sip:service@127.0.0.1:{}", sipp.port),
        "--duration",
        "1s",
    ]);
    let out = call.succeeds(Duration::from_secs(30));
    assert_lines(&out, &["progress: 180 Ringing", "ended (Bye)"]);
    let run = sipp.finish(Duration::from_secs(30)).await;
    run.assert_clean(1, "sipline call vs prack_uas.xml");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_uac_holds_the_call_with_a_reinvite() {
    let _one = SERIAL.lock().await;
    let mut answer = Sipline::spawn(&["answer", "--max-calls", "1"]);
    let port = tokio::task::block_in_place(|| answer.udp_port());
    let target = format!("127.0.0.1:{port}");
    let sipp = sipp_scenario("reinvite_uac.xml", &[&target]);
    let run = sipp.finish(Duration::from_secs(40)).await;
    run.assert_clean(1, "reinvite_uac.xml vs sipline answer");
    let out = answer.succeeds(Duration::from_secs(15));
    assert_lines(&out, &["call 1: accepted", "call 1: ended (Bye)"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_uac_sends_dtmf_in_info_to_sipline_answer() {
    let _one = SERIAL.lock().await;
    let mut answer = Sipline::spawn(&["answer", "--max-calls", "1"]);
    let port = tokio::task::block_in_place(|| answer.udp_port());
    let target = format!("127.0.0.1:{port}");
    let sipp = sipp_scenario("info_dtmf_uac.xml", &[&target]);
    let run = sipp.finish(Duration::from_secs(40)).await;
    run.assert_clean(1, "info_dtmf_uac.xml vs sipline answer");
    let out = answer.succeeds(Duration::from_secs(15));
    assert_lines(
        &out,
        &["call 1: accepted", "call 1: dtmf 5", "call 1: ended (Bye)"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipline_call_sends_dtmf_in_info_to_sipp_uas() {
    let _one = SERIAL.lock().await;
    let sipp = sipp_scenario("info_dtmf_uas.xml", &[]);
    sipp.ready("u1").await;
    let mut call = Sipline::spawn(&[
        "call",
        &format!("sip:service@127.0.0.1:{}", sipp.port),
        "--dtmf",
        "12",
        "--duration",
        "2s",
    ]);
    let out = call.succeeds(Duration::from_secs(30));
    assert_lines(&out, &["sending dtmf 12", "dtmf sent", "ended (Bye)"]);
    let run = sipp.finish(Duration::from_secs(30)).await;
    run.assert_clean(1, "sipline call --dtmf 12 vs info_dtmf_uas.xml");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_uac_transfers_sipline_answer_with_refer() {
    let _one = SERIAL.lock().await;
    // Carol, the transfer target: answers and hangs up after 500 ms.
    let mut carol = Sipline::spawn(&["answer", "--max-calls", "1", "--duration", "500ms"]);
    let carol_port = tokio::task::block_in_place(|| carol.udp_port());
    let mut answer = Sipline::spawn(&["answer", "--max-calls", "1", "--follow-refer"]);
    let port = tokio::task::block_in_place(|| answer.udp_port());
    let target = format!("127.0.0.1:{port}");
    let refer_to = format!("sip:carol@127.0.0.1:{carol_port}");
    let sipp = sipp_scenario("refer_uac.xml", &["-key", "refer_to", &refer_to, &target]);
    let run = sipp.finish(Duration::from_secs(40)).await;
    run.assert_clean(1, "refer_uac.xml vs sipline answer --follow-refer");
    let out = answer.succeeds(Duration::from_secs(15));
    assert_lines(
        &out,
        &[
            &format!("call 1: transfer to <{refer_to}> asked: following"),
            "call 1: transfer call answered (200)",
            "call 1: the caller hung up",
            "call 1: ended (Bye)",
            "call 1: the transfer target hung up",
            "call 1: transfer call ended (Bye)",
        ],
    );
    let out = carol.succeeds(Duration::from_secs(15));
    assert_lines(
        &out,
        &[
            "call 1: accepted",
            "call 1: hanging up (duration reached)",
            "call 1: ended (Bye)",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipline_call_answers_the_digest_challenge_of_sipp_uas() {
    let _one = SERIAL.lock().await;
    let sipp = sipp_scenario("digest_invite_uas.xml", &[]);
    sipp.ready("u1").await;
    let mut call = Sipline::spawn(&[
        "call",
        &format!("sip:service@127.0.0.1:{}", sipp.port),
        "--user",
        "alice",
        "--password",
        "secret",
        "--duration",
        "1s",
    ]);
    let out = call.succeeds(Duration::from_secs(30));
    assert_lines(&out, &["answered: 200 OK", "ended (Bye)"]);
    let err = call.stderr.lock().unwrap().clone();
    assert!(!err.contains("note:"), "{err}");
    let run = sipp.finish(Duration::from_secs(30)).await;
    run.assert_clean(1, "sipline call --user --password vs digest_invite_uas.xml");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_uac_cancels_a_ringing_sipline_answer() {
    let _one = SERIAL.lock().await;
    let mut answer = Sipline::spawn(&[
        "answer",
        "--max-calls",
        "1",
        "--progress",
        "--ring-for",
        "10s",
    ]);
    let port = tokio::task::block_in_place(|| answer.udp_port());
    let sipp = sipp_scenario("cancel_uac.xml", &[&format!("127.0.0.1:{port}")]);
    let run = sipp.finish(Duration::from_secs(40)).await;
    run.assert_clean(1, "cancel_uac.xml vs sipline answer");
    let (status, out) = tokio::task::block_in_place(|| answer.finish(Duration::from_secs(15)));
    // A call canceled by the caller is not a call that succeeded: exit 1, as documented.
    assert_eq!(status.code(), Some(1), "{}", answer.output());
    assert_lines(&out, &["call 1: canceled by the caller"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipline_call_cancels_when_interrupted_while_sipp_rings() {
    let _one = SERIAL.lock().await;
    let sipp = sipp_scenario("cancel_uas.xml", &[]);
    sipp.ready("u1").await;
    let mut call = Sipline::spawn(&["call", &format!("sip:service@127.0.0.1:{}", sipp.port)]);
    // Wait for the ringing, then interrupt (SIGINT to sipline's pid, as Ctrl-C would).
    let end = Instant::now() + Duration::from_secs(10);
    tokio::task::block_in_place(|| {
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match call.lines.recv_timeout(left) {
                Ok(l) if l.starts_with("progress: 180") => break,
                Ok(_) => {}
                Err(_) => panic!("no 180 within 10 s\n{}", call.output()),
            }
        }
    });
    let pid = call.child.id().to_string();
    let killed = Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(killed.success());
    let (status, out) = tokio::task::block_in_place(|| call.finish(Duration::from_secs(15)));
    assert_eq!(
        status.code(),
        Some(1),
        "a canceled call did not succeed\n{}",
        call.output()
    );
    assert_lines(&out, &["interrupted: canceling"]);
    let run = sipp.finish(Duration::from_secs(30)).await;
    run.assert_clean(1, "sipline call (interrupted) vs cancel_uas.xml");
}
