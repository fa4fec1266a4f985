//! End-to-end tests of `sipline call` and `sipline answer`, running the real binary on
//! 127.0.0.1: a call between the two with tones both ways, recordings and DTMF; one passing
//! video files through (WebRTC over TCP); a rejected call; a call through `--proxy`; a port
//! in use; sipp's built-in UAC (20 calls) against `sipline answer`, and `sipline call`
//! against sipp's built-in UAS.
//!
//! Every child process is killed by its pid when its guard drops (panics included), and
//! every wait is bounded.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../sipline-tokio/tests/common/sipp.rs"]
#[allow(dead_code, unreachable_pub)]
mod sipp;

#[allow(dead_code)] // each test file uses part of it
mod common;

use common::{Sipline, TempDir};
use std::path::Path;
use std::time::Duration;

/// The dominant frequency of a recording, after its first 250 ms (jitter buffer fill).
fn recorded_frequency(path: &Path) -> (f32, usize) {
    let mut r = hound::WavReader::open(path).unwrap();
    let spec = r.spec();
    assert_eq!((spec.channels, spec.sample_rate), (1, 8000), "{spec:?}");
    let samples: Vec<i16> = r.samples::<i16>().map(Result::unwrap).collect();
    assert!(samples.len() > 8000, "only {} samples", samples.len());
    let tail = &samples[2000..samples.len().min(2000 + 8000)];
    let f = sipline::tone_frequency(tail, 8000)
        .unwrap_or_else(|| panic!("no tone in {}", path.display()));
    (f, samples.len())
}

#[test]
fn call_and_answer_with_tones_recordings_and_dtmf() {
    let dir = TempDir::new("tones");
    let (a_wav, b_wav) = (dir.file("a.wav"), dir.file("b.wav"));
    let mut answer = Sipline::spawn(&[
        "answer",
        "--max-calls",
        "1",
        "--play",
        "tone:880",
        "--record",
        b_wav.to_str().unwrap(),
    ]);
    let port = answer.udp_port();
    let target = format!("sip:bob@127.0.0.1:{port}");
    let mut call = Sipline::spawn(&[
        "call",
        &target,
        "--play",
        "tone:440",
        "--record",
        a_wav.to_str().unwrap(),
        "--duration",
        "2s",
        "--dtmf",
        "12",
    ]);
    let (status, out) = call.finish(Duration::from_secs(30));
    assert!(status.success(), "{}", call.output());
    assert!(out.contains("answered: 200"), "{out}");
    assert!(out.contains("ended (Bye)"), "{out}");
    let (status, out) = answer.finish(Duration::from_secs(15));
    assert!(status.success(), "{}", answer.output());
    for line in [
        "call 1 from sip:sipline@127.0.0.1: incoming",
        "call 1: accepted",
        "call 1: dtmf 1",
        "call 1: dtmf 2",
        "call 1: the caller hung up",
        "call 1: ended (Bye)",
    ] {
        assert!(out.lines().any(|l| l == line), "no {line:?} in\n{out}");
    }
    let (heard_by_caller, n_a) = recorded_frequency(&a_wav);
    let (heard_by_callee, n_b) = recorded_frequency(&b_wav);
    eprintln!(
        "caller heard {heard_by_caller:.1} Hz ({n_a} samples), callee heard \
         {heard_by_callee:.1} Hz ({n_b} samples)"
    );
    assert!((heard_by_caller - 880.0).abs() <= 5.0, "{heard_by_caller}");
    assert!((heard_by_callee - 440.0).abs() <= 5.0, "{heard_by_callee}");
}

#[test]
fn a_rejected_call_fails_with_the_status() {
    let mut answer = Sipline::spawn(&["answer", "--max-calls", "1", "--reject", "486"]);
    let port = answer.udp_port();
    let mut call = Sipline::spawn(&["call", &format!("sip:bob@127.0.0.1:{port}")]);
    let (status, out) = call.finish(Duration::from_secs(20));
    assert_eq!(status.code(), Some(1), "{}", call.output());
    assert!(out.contains("call failed: 486 Busy Here"), "{out}");
    assert!(out.contains("Busy"), "{out}");
    let (status, out) = answer.finish(Duration::from_secs(15));
    assert!(status.success(), "{}", answer.output());
    assert!(out.contains("call 1: rejected with 486 Busy Here"), "{out}");
}

#[test]
fn a_call_through_the_outbound_proxy_skips_resolving_the_target() {
    // The target's host does not resolve: the INVITE goes to --proxy, here the callee.
    let mut answer = Sipline::spawn(&["answer", "--max-calls", "1", "--progress"]);
    let port = answer.udp_port();
    let mut call = Sipline::spawn(&[
        "call",
        "sip:bob@nowhere.invalid",
        "--proxy",
        &format!("udp:127.0.0.1:{port}"),
        "--duration",
        "500ms",
    ]);
    let (status, out) = call.finish(Duration::from_secs(20));
    assert!(status.success(), "{}", call.output());
    assert!(out.contains("progress: 180 Ringing"), "{out}");
    let (status, out) = answer.finish(Duration::from_secs(15));
    assert!(status.success(), "{}", answer.output());
    assert!(out.contains("call 1: ringing (180)"), "{out}");
}

#[test]
fn a_reliable_180_is_pracked_and_traced() {
    let mut answer = Sipline::spawn(&[
        "answer",
        "--max-calls",
        "1",
        "--rel100",
        "--ring-for",
        "200ms",
    ]);
    let port = answer.udp_port();
    let mut call = Sipline::spawn(&[
        "call",
        &format!("sip:bob@127.0.0.1:{port}"),
        "--duration",
        "300ms",
        "--trace",
    ]);
    let (status, out) = call.finish(Duration::from_secs(20));
    assert!(status.success(), "{}", call.output());
    assert!(out.contains("progress: 180 Ringing"), "{out}");
    let trace = call.stderr.lock().unwrap().clone();
    for needle in [
        &format!("----- sent to 127.0.0.1:{port} over UDP"),
        &format!("----- received from 127.0.0.1:{port} over UDP"),
        "INVITE sip:bob@",
        "Require: 100rel",
        "PRACK sip:",
        "BYE sip:",
    ] {
        assert!(
            trace.contains(needle),
            "no {needle:?} in the trace\n{trace}"
        );
    }
    assert!(
        !out.contains("INVITE sip:"),
        "the trace went to stdout\n{out}"
    );
    let (status, out) = answer.finish(Duration::from_secs(15));
    assert!(status.success(), "{}", answer.output());
    assert!(out.contains("call 1: ringing (180, reliable)"), "{out}");
}

#[test]
fn a_port_in_use_says_what_to_do() {
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let mut answer = Sipline::spawn(&["answer", "--listen", &format!("udp:{addr}")]);
    let (status, _) = answer.finish(Duration::from_secs(10));
    assert_eq!(status.code(), Some(2), "{}", answer.output());
    let err = answer.stderr.lock().unwrap().clone();
    assert!(
        err.contains(&format!(
            "address {addr} in use: pick another with --listen"
        )),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_uac_places_20_calls_to_sipline_answer() {
    let mut answer = Sipline::spawn(&["answer", "--max-calls", "20", "--media", "none"]);
    let port = answer.udp_port();
    let sipp_port = sipp::free_port();
    let target = format!("127.0.0.1:{port}");
    let sipp = sipp::Sipp::spawn(
        sipp_port,
        &[
            "-sn", "uac", &target, "-m", "20", "-r", "10", "-l", "20", "-timeout", "60s",
        ],
    );
    let run = sipp.finish(Duration::from_secs(90)).await;
    let ok = sipp::stat(&run.stats, "SuccessfulCall(C)");
    let failed = sipp::stat(&run.stats, "FailedCall(C)");
    let (retrans, timeouts, unexpected) = sipp::screen_counts(&run.screen);
    eprintln!(
        "sipp uac: {ok:?} successful, {failed:?} failed, {retrans} retransmissions, \
         {timeouts} timeouts, {unexpected} unexpected\n{}",
        run.message_table()
    );
    assert!(
        run.status.success()
            && ok == Some(20)
            && failed == Some(0)
            && timeouts == 0
            && unexpected == 0,
        "{}",
        run.report()
    );
    let (status, out) = tokio::task::block_in_place(|| answer.finish(Duration::from_secs(20)));
    assert!(status.success(), "{}", answer.output());
    let ended = out.lines().filter(|l| l.ends_with(": ended (Bye)")).count();
    assert_eq!(ended, 20, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipline_call_to_sipp_uas() {
    let port = sipp::free_port();
    let sipp = sipp::Sipp::spawn(port, &["-sn", "uas", "-m", "1", "-timeout", "30s"]);
    sipp.ready("u1").await;
    let mut call = Sipline::spawn(&[
        "call",
        &format!("sip:service@127.0.0.1:{port}"),
        "--duration",
        "1s",
    ]);
    let (status, out) = tokio::task::block_in_place(|| call.finish(Duration::from_secs(30)));
    assert!(status.success(), "{}", call.output());
    assert!(out.contains("progress: 180"), "{out}");
    let run = sipp.finish(Duration::from_secs(30)).await;
    let ok = sipp::stat(&run.stats, "SuccessfulCall(C)");
    let (retrans, timeouts, unexpected) = sipp::screen_counts(&run.screen);
    eprintln!(
        "sipp uas: {ok:?} successful, {retrans} retransmissions, {timeouts} timeouts, \
         {unexpected} unexpected\n{}",
        run.message_table()
    );
    assert!(
        run.status.success() && ok == Some(1) && unexpected == 0 && timeouts == 0,
        "{}",
        run.report()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_registers_with_digest_then_unregisters() {
    // sipp plays a registrar checking alice/secret (MD5 digest), then expects expires 0.
    let port = sipp::free_port();
    let scenario = sipp::scenario("registrar_digest.xml");
    let sipp = sipp::Sipp::spawn(
        port,
        &[
            "-sf",
            scenario.to_str().unwrap(),
            "-m",
            "1",
            "-timeout",
            "30s",
        ],
    );
    sipp.ready("u1").await;
    let mut answer = Sipline::spawn(&["answer", "--max-calls", "1"]);
    let callee = tokio::task::block_in_place(|| answer.udp_port());
    let mut call = Sipline::spawn(&[
        "call",
        &format!("sip:bob@127.0.0.1:{callee}"),
        "--uri",
        "sip:alice@sipline.test",
        "--register",
        "--registrar",
        &format!("sip:127.0.0.1:{port}"),
        "--password",
        "secret",
        "--duration",
        "300ms",
    ]);
    let (status, out) = tokio::task::block_in_place(|| call.finish(Duration::from_secs(30)));
    assert!(status.success(), "{}", call.output());
    assert!(
        out.contains("registered as <sip:alice@sipline.test>"),
        "{out}"
    );
    assert!(out.contains("unregistered"), "{out}");
    let run = sipp.finish(Duration::from_secs(30)).await;
    assert_eq!(
        sipp::stat(&run.stats, "SuccessfulCall(C)"),
        Some(1),
        "{}",
        run.report()
    );
    let (status, _) = tokio::task::block_in_place(|| answer.finish(Duration::from_secs(15)));
    assert!(status.success(), "{}", answer.output());
}

fn video_fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../sipline-media/tests/fixtures")
        .join(name)
}

fn frames(mut s: impl sipline::VideoSource) -> Vec<sipline::VideoFrame> {
    let mut v = Vec::new();
    while let sipline::VideoRead::Frame(f) = s.read_frame().unwrap() {
        v.push(f);
    }
    v
}

/// `sipline call --media webrtc --video-play vp8.ivf --video-record a.h264` against
/// `sipline answer --video-play h264.h264 --video-fps 15 --video-record b.ivf`: each
/// recording holds the other side's file, frame for frame.
#[test]
fn call_and_answer_pass_video_files_through() {
    let dir = TempDir::new("video");
    let (a_rec, b_rec) = (dir.file("a.h264"), dir.file("b.ivf"));
    let (vp8, h264) = (video_fixture("vp8.ivf"), video_fixture("h264.h264"));
    // Over TCP: an offer with ICE, DTLS and two m-lines is too big for UDP (RFC 3261
    // §18.1.1).
    let mut answer = Sipline::spawn(&[
        "answer",
        "--listen",
        "tcp:127.0.0.1:0",
        "--max-calls",
        "1",
        "--video-play",
        h264.to_str().unwrap(),
        "--video-fps",
        "15",
        "--video-record",
        b_rec.to_str().unwrap(),
    ]);
    let line = answer.wait_line(Duration::from_secs(10), |l| {
        l.starts_with("listening on tcp:")
    });
    let port = line.rsplit(':').next().unwrap();
    let target = format!("sip:bob@127.0.0.1:{port};transport=tcp");
    let mut call = Sipline::spawn(&[
        "call",
        &target,
        "--listen",
        "tcp:127.0.0.1:0",
        "--media",
        "webrtc",
        "--video-play",
        vp8.to_str().unwrap(),
        "--video-record",
        a_rec.to_str().unwrap(),
        "--duration",
        "4s",
    ]);
    let (status, out) = call.finish(Duration::from_secs(30));
    assert!(status.success(), "{}", call.output());
    assert!(out.contains("ended (Bye)"), "{out}");
    let (status, _) = answer.finish(Duration::from_secs(15));
    assert!(status.success(), "{}", answer.output());

    let sent_vp8 = frames(sipline::IvfSource::open(&vp8).unwrap());
    let sent_h264 = frames(sipline::AnnexBSource::open_with_rate(&h264, 15.0).unwrap());
    let at_b = frames(sipline::IvfSource::open(&b_rec).unwrap());
    let at_a = frames(sipline::AnnexBSource::open_with_rate(&a_rec, 15.0).unwrap());
    for (got, sent, who) in [(&at_b, &sent_vp8, "answer"), (&at_a, &sent_h264, "call")] {
        assert_eq!(got.len(), sent.len(), "frames recorded by {who}");
        for (i, (g, s)) in got.iter().zip(sent.iter()).enumerate() {
            assert_eq!(g.data, s.data, "{who}: frame {i}");
            assert_eq!(g.keyframe, s.keyframe, "{who}: frame {i}");
        }
    }
}
