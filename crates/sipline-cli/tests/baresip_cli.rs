//! Interop of the `sipline` binary with baresip (Debian `baresip-core`), a real SIP phone,
//! on 127.0.0.1 with G.711 audio:
//! - baresip calls `sipline answer`: each side's recording holds the other side's tone
//!   (sipline plays 440 Hz, baresip an 880 Hz sine), and a digit typed on baresip arrives
//!   (RFC 4733) as `call 1: dtmf 4`;
//! - `sipline call` calls baresip (auto-answer): the same audio checks, `--dtmf` reaches
//!   baresip by RFC 4733 and by SIP INFO, and a digit from baresip arrives.
//!
//! The baresip harness is the library's (`crates/sipline/tests/common/baresip.rs`); what
//! baresip heard is read from its `sndfile` dump of the decoded audio. Every child process
//! is killed by its pid when its guard drops (panics included), and every wait is bounded.
//! baresip is required: when it is missing the tests fail with how to install it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../sipline/tests/common/baresip.rs"]
#[allow(dead_code, unreachable_pub)]
mod baresip;

#[allow(dead_code)] // each test file uses part of it
mod common;

use common::{Sipline, TempDir};
use std::path::Path;
use std::time::Duration;

use baresip::{BARESIP_HZ, Baresip, SIPLINE_HZ, assert_tone, read_wav};

/// The recording sipline wrote (`--record`) holds baresip's 880 Hz sine.
fn assert_recording_hears_baresip(wav: &Path) {
    let (samples, rate) = read_wav(wav);
    assert_eq!(rate, 8000, "{}", wav.display());
    assert!(samples.len() > 8000, "only {} samples", samples.len());
    assert_tone("sipline recorded baresip", &samples, rate, BARESIP_HZ);
}

/// baresip quits cleanly and its decoded-audio dump holds sipline's 440 Hz tone.
async fn assert_baresip_heard_sipline(baresip: &mut Baresip) {
    let status = baresip.quit(Duration::from_secs(10)).await;
    assert!(status.success(), "baresip exited with {status}");
    let (samples, rate) = baresip.decoded_audio();
    assert_tone("baresip heard sipline", &samples, rate, SIPLINE_HZ);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baresip_calls_sipline_answer() {
    let dir = TempDir::new("answer");
    let wav = dir.file("answer.wav");
    let mut answer = Sipline::spawn(&[
        "answer",
        "--listen",
        "udp:127.0.0.1:0",
        "--max-calls",
        "1",
        "--play",
        &format!("tone:{}", SIPLINE_HZ as u32),
        "--record",
        wav.to_str().unwrap(),
        "--duration",
        "2s",
    ]);
    let port = tokio::task::block_in_place(|| answer.udp_port());
    let mut baresip = Baresip::start(Some(&format!("sip:alice@127.0.0.1:{port}")));
    baresip
        .wait_for("Call established", Duration::from_secs(15))
        .await;
    // A digit typed on baresip goes out as RFC 4733 events.
    baresip.type_keys("4").await;
    tokio::task::block_in_place(|| {
        answer.wait_line(Duration::from_secs(5), |l| l == "call 1: dtmf 4")
    });
    // sipline hangs up after --duration.
    let (status, out) = tokio::task::block_in_place(|| answer.finish(Duration::from_secs(15)));
    assert!(status.success(), "{}", answer.output());
    for line in ["call 1: accepted", "call 1: ended (Bye)"] {
        assert!(out.lines().any(|l| l == line), "no {line:?}\n{out}");
    }
    baresip.wait_for("terminated", Duration::from_secs(5)).await;
    assert_recording_hears_baresip(&wav);
    assert_baresip_heard_sipline(&mut baresip).await;
}

/// `sipline call` to baresip (auto-answer) sending `tones` by `mode`; `logged` are what
/// baresip prints when it receives them. A digit from baresip comes back by RFC 4733.
async fn sipline_calls_baresip(mode: &str, tones: &str, logged: &[String]) {
    let dir = TempDir::new(mode);
    let wav = dir.file("call.wav");
    let mut baresip = Baresip::start(None);
    baresip
        .wait_for("baresip is ready", Duration::from_secs(10))
        .await;
    let target = format!("sip:bob@127.0.0.1:{}", baresip.port);
    let mut call = Sipline::spawn(&[
        "call",
        &target,
        "--play",
        &format!("tone:{}", SIPLINE_HZ as u32),
        "--record",
        wav.to_str().unwrap(),
        "--duration",
        "2s",
        "--dtmf",
        tones,
        "--dtmf-mode",
        mode,
    ]);
    tokio::task::block_in_place(|| {
        call.wait_line(Duration::from_secs(15), |l| l.starts_with("answered: 200"))
    });
    for needle in logged {
        baresip.wait_for(needle, Duration::from_secs(5)).await;
    }
    baresip.type_keys("4").await;
    tokio::task::block_in_place(|| {
        call.wait_line(Duration::from_secs(5), |l| l == "dtmf received: 4")
    });
    let (status, out) = tokio::task::block_in_place(|| call.finish(Duration::from_secs(15)));
    assert!(status.success(), "{}", call.output());
    for line in ["dtmf sent", "ended (Bye)"] {
        assert!(out.lines().any(|l| l == line), "no {line:?}\n{out}");
    }
    baresip.wait_for("terminated", Duration::from_secs(5)).await;
    assert_recording_hears_baresip(&wav);
    assert_baresip_heard_sipline(&mut baresip).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipline_call_to_baresip_with_rfc4733_dtmf() {
    let logged: Vec<String> = ['1', '5', '#']
        .iter()
        .map(|t| format!("received event: '{t}'"))
        .collect();
    sipline_calls_baresip("rfc4733", "15#", &logged).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipline_call_to_baresip_with_info_dtmf() {
    sipline_calls_baresip("info", "7", &["received DTMF: '7'".to_owned()]).await;
}
