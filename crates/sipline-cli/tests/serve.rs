//! `sipline serve` as a process: `sipline answer --register` registers through it with
//! digest (users file), `sipline call` reaches the answerer through it with tones both
//! ways; a wrong password is refused; a port in use exits 2 with a clear message; SIGINT
//! exits 0; `--trace` prints the messages. Every child is killed by its pid when its guard drops.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code)] // each test file uses part of it
mod common;

use common::{Sipline, TempDir};
use std::time::Duration;

fn users_file(dir: &TempDir) -> String {
    let path = dir.file("users");
    std::fs::write(
        &path,
        "# who may register\nbob:bob-secret\nalice:alice-secret\n",
    )
    .unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn serve_registers_answer_and_routes_call() {
    let dir = TempDir::new("serve");
    let users = users_file(&dir);
    let server = Sipline::spawn(&[
        "serve",
        "--listen",
        "udp:127.0.0.1:0",
        "--listen",
        "tcp:127.0.0.1:0",
        "--domain",
        "sipline.test",
        "--users",
        &users,
        "--trace",
    ]);
    let port = server.udp_port();
    let proxy = format!("sip:127.0.0.1:{port}");
    let b_wav = dir.file("b.wav");
    let mut answer = Sipline::spawn(&[
        "answer",
        "--uri",
        "sip:bob@sipline.test",
        "--proxy",
        &proxy,
        "--register",
        "--registrar",
        "sip:sipline.test",
        "--password",
        "bob-secret",
        "--max-calls",
        "1",
        "--play",
        "tone:880",
        "--record",
        b_wav.to_str().unwrap(),
    ]);
    answer.wait_line(Duration::from_secs(10), |l| l.starts_with("registered"));
    server.wait_line(Duration::from_secs(10), |l| {
        l.starts_with("registered bob at sip:bob@127.0.0.1:")
    });
    let a_wav = dir.file("a.wav");
    let mut call = Sipline::spawn(&[
        "call",
        "sip:bob@sipline.test",
        "--uri",
        "sip:alice@sipline.test",
        "--proxy",
        &proxy,
        "--play",
        "tone:440",
        "--record",
        a_wav.to_str().unwrap(),
        "--duration",
        "2s",
    ]);
    let (status, out) = call.finish(Duration::from_secs(30));
    assert!(status.success(), "{}", call.output());
    assert!(out.contains("answered: 200"), "{out}");
    assert!(out.contains("ended (Bye)"), "{out}");
    let routed = server.wait_line(Duration::from_secs(5), |l| l.starts_with("routed INVITE"));
    assert!(
        routed
            .contains("from sip:alice@sipline.test to sip:bob@sipline.test -> sip:bob@127.0.0.1:"),
        "{routed}"
    );
    let (status, _) = answer.finish(Duration::from_secs(15));
    assert!(status.success(), "{}", answer.output());
    // --trace: every SIP message on standard error.
    let trace = server.output();
    for line in [
        "REGISTER sip:sipline.test SIP/2.0",
        "SIP/2.0 401 Unauthorized",
        "INVITE sip:bob@127.0.0.1:",
    ] {
        assert!(trace.contains(line), "no {line:?} in the trace\n{trace}");
    }
    for (wav, want) in [(&a_wav, 880.0), (&b_wav, 440.0)] {
        let mut r = hound::WavReader::open(wav).unwrap();
        let samples: Vec<i16> = r.samples::<i16>().map(Result::unwrap).collect();
        assert!(
            samples.len() > 8000,
            "{}: {} samples",
            wav.display(),
            samples.len()
        );
        let f = sipline::tone_frequency(&samples[2000..10000], 8000).unwrap();
        assert!((f - want).abs() < 5.0, "{}: heard {f} Hz", wav.display());
    }

    // A wrong password: refused, the answerer says so.
    let mut wrong = Sipline::spawn(&[
        "answer",
        "--uri",
        "sip:alice@sipline.test",
        "--proxy",
        &proxy,
        "--register",
        "--registrar",
        "sip:sipline.test",
        "--password",
        "nope",
    ]);
    let (status, _) = wrong.finish(Duration::from_secs(15));
    assert!(!status.success(), "{}", wrong.output());
    assert!(wrong.output().contains("403"), "{}", wrong.output());

    // The same UDP port again: exit 2 with what to do.
    let mut again = Sipline::spawn(&["serve", "--listen", &format!("udp:127.0.0.1:{port}")]);
    let (status, _) = again.finish(Duration::from_secs(10));
    assert_eq!(status.code(), Some(2), "{}", again.output());
    let want = format!("error: 127.0.0.1:{port} (udp) is in use; choose another with --listen");
    assert!(again.output().contains(&want), "{}", again.output());

    // Ctrl-C: exit 0.
    let mut server = server;
    let pid = server.child.id().to_string();
    let kill = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(kill.success());
    let (status, _) = server.finish(Duration::from_secs(10));
    assert!(status.success(), "{}", server.output());
}
