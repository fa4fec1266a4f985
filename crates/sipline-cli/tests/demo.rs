//! End-to-end tests of `sipline demo`, running the real binary: the scripted call over plain
//! RTP and over WebRTC passes every check (each named check is looked for), `--json` prints
//! only JSON lines with a passing summary and `--keep` leaves readable recordings, and a
//! sabotaged tone makes the audio checks fail with exit status 1.
//!
//! Every child process is killed by its pid when its guard drops (panics included), and
//! every wait is bounded.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code)] // each test file uses part of it
mod common;

use std::time::Duration;

use common::Sipline;

/// The demo takes ~10 s; a loaded machine (debug build, others compiling) gets slack.
const LIMIT: Duration = Duration::from_secs(90);

/// The checks every passing run reports (`ok      NAME: ...`).
const CHECKS: [&str; 23] = [
    "alice registers",
    "bob registers",
    "carol registers",
    "reliable 183 with SDP",
    "answer",
    "media negotiated",
    "DTMF alice -> bob (RFC 4733)",
    "DTMF bob -> alice (INFO)",
    "mute/unmute events",
    "transfer NOTIFYs (sipfrag)",
    "bob leaves after the transfer",
    "DTMF alice -> carol (RFC 4733)",
    "hang-up",
    "early media: alice hears bob before the answer",
    "talk: alice hears bob",
    "talk: bob hears alice",
    "mute: alice hears silence",
    "unmute: alice hears bob again",
    "talk: alice hears carol",
    "talk: carol hears alice",
    "PRACK",
    "RTP alice (with bob)",
    "RTP carol (with alice)",
];

/// Runs `sipline demo ARGS` to the end: exit status, standard output, the whole output.
fn demo(args: &[&str]) -> (std::process::ExitStatus, Vec<String>, String) {
    let mut all = vec!["demo"];
    all.extend_from_slice(args);
    let mut p = Sipline::spawn(&all);
    let (status, _) = p.finish(LIMIT);
    let lines = p.stdout.lock().unwrap().clone();
    (status, lines, p.output())
}

/// Asserts a passing plain-text run: every check, the ladder, the table, the verdict.
fn assert_passed(lines: &[String], all: &str) {
    for name in CHECKS {
        let want = format!("  ok      {name}: ");
        assert!(
            lines.iter().any(|l| l.starts_with(&want)),
            "no passing check {name:?}\n{all}"
        );
    }
    assert!(!lines.iter().any(|l| l.contains("FAILED")), "{all}");
    let last = lines.last().unwrap();
    assert!(
        last.starts_with("all ") && last.ends_with(" checks passed"),
        "{all}"
    );
    // The steps, with their times.
    assert!(
        lines.iter().any(
            |l| l.starts_with("[") && l.contains("] alice -> bob: INVITE sip:bob@sipline.demo")
        ),
        "{all}"
    );
    // The ladder, from the messages on the wire: 100rel, the transfer, the hang-ups.
    let header = lines
        .iter()
        .position(|l| {
            l.trim_start().starts_with("alice")
                && l.contains("server")
                && l.contains("bob")
                && l.contains("carol")
        })
        .unwrap_or_else(|| panic!("no ladder header\n{all}"));
    let ladder: Vec<&String> = lines[header..]
        .iter()
        .take_while(|l| !l.is_empty())
        .collect();
    for label in [
        "INVITE +sdp",
        "183 INVITE 100rel +sdp",
        "PRACK",
        "200 PRACK",
        "INFO #",
        "REFER",
        "202 REFER",
        "NOTIFY 100",
        "NOTIFY 200",
        "BYE",
        "200 BYE",
    ] {
        assert!(
            ladder.iter().any(|l| l.contains(&format!(" {label} "))),
            "no {label:?} in the ladder\n{all}"
        );
    }
    // The server's INVITE to carol crosses bob's column; bob's REFER points left.
    assert!(
        ladder.iter().any(|l| l.contains("|-")
            && l.ends_with("->|")
            && l.contains(" INVITE +sdp ")
            && l.matches('|').count() == 3),
        "no alice -> carol INVITE\n{all}"
    );
    assert!(
        ladder
            .iter()
            .any(|l| l.contains("|<") && l.contains(" REFER ")),
        "{all}"
    );
    // The table: one row per party and call.
    for party in [
        "alice (with bob)",
        "bob (with alice)",
        "alice (with carol)",
        "carol (with alice)",
    ] {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(party) && l.contains(" Hz ")),
            "no table row for {party}\n{all}"
        );
    }
}

#[test]
fn the_demo_over_plain_rtp_passes_every_check_and_traces_sip() {
    let (status, lines, all) = demo(&["--trace"]);
    assert!(status.success(), "exit {status}\n{all}");
    assert_passed(&lines, &all);
    assert!(
        lines.iter().any(|l| l.contains("RTP/AVP, PCMU/8000")),
        "{all}"
    );
    // --trace: every SIP message on standard error, standard output keeps the story.
    let stderr = all.split("--- stderr ---").nth(1).unwrap_or("");
    assert!(stderr.contains("REFER sip:alice@127.0.0.1"), "{all}");
    assert!(stderr.contains("Event: refer"), "{all}");
    assert!(!lines.iter().any(|l| l.starts_with("REFER ")), "{all}");
}

#[test]
fn the_demo_over_webrtc_passes_every_check() {
    let (status, lines, all) = demo(&["--webrtc"]);
    assert!(status.success(), "exit {status}\n{all}");
    assert_passed(&lines, &all);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("UDP/TLS/RTP/SAVPF, opus/48000/2")),
        "{all}"
    );
    // The ~2 KB WebRTC offers stay on UDP over loopback (no TCP fallback, no warning).
    assert!(!all.contains("WARN"), "{all}");
}

#[test]
fn json_output_is_only_json_and_keep_leaves_the_recordings() {
    let (status, lines, all) = demo(&["--json", "--keep"]);
    assert!(status.success(), "exit {status}\n{all}");
    let values: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}\n{all}")))
        .collect();
    assert!(values.iter().any(|v| v["event"] == "step"), "{all}");
    let checks: Vec<&serde_json::Value> = values.iter().filter(|v| v["event"] == "check").collect();
    assert!(checks.len() > CHECKS.len(), "{all}");
    assert!(checks.iter().all(|c| c["outcome"] == "passed"), "{all}");
    let summary = values.last().unwrap();
    assert_eq!(summary["event"], "summary", "{all}");
    assert_eq!(summary["passed"], true, "{all}");
    assert_eq!(summary["media"], "rtp", "{all}");
    assert_eq!(summary["table"].as_array().unwrap().len(), 4, "{all}");
    assert_eq!(summary["table"][1]["dtmf_received"], "123", "{all}");
    assert_eq!(summary["table"][0]["dtmf_received"], "#9", "{all}");
    let ladder = summary["ladder"].as_array().unwrap();
    assert!(
        ladder
            .iter()
            .any(|m| m["from"] == "server" && m["to"] == "bob" && m["message"] == "PRACK"),
        "{all}"
    );
    // --keep: the three recordings stay, readable, as long as the call.
    let dir = std::path::PathBuf::from(summary["recordings"].as_str().unwrap());
    for (name, at_least_s) in [("alice", 6), ("bob", 4), ("carol", 1)] {
        let wav = hound::WavReader::open(dir.join(format!("{name}.wav")))
            .unwrap_or_else(|e| panic!("{name}.wav: {e}\n{all}"));
        assert_eq!(wav.spec().sample_rate, 8000);
        assert!(
            wav.duration() >= at_least_s * 8000,
            "{name}: {}",
            wav.duration()
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_failed_check_exits_1_and_says_what_was_expected() {
    // The hidden --sabotage makes bob play 600 Hz instead of 660 Hz.
    let (status, lines, all) = demo(&["--sabotage"]);
    assert_eq!(status.code(), Some(1), "{all}");
    assert!(
        lines
            .iter()
            .any(|l| l == "  FAILED  talk: alice hears bob: expected 660 Hz ± 5 Hz; seen 600 Hz"),
        "{all}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("  ok      talk: bob hears alice: 440 Hz")),
        "the other checks still pass\n{all}"
    );
    let last = lines.last().unwrap();
    assert!(
        last.starts_with("3 of ") && last.contains("checks FAILED"),
        "{all}"
    );
}

#[test]
fn help_says_what_the_demo_does() {
    let (status, lines, all) = demo(&["--help"]);
    assert!(status.success(), "{all}");
    let text = lines.join("\n");
    for want in [
        "--webrtc",
        "--json",
        "--keep",
        "--trace",
        "127.0.0.1",
        "Exit status",
    ] {
        assert!(text.contains(want), "no {want:?} in the help\n{text}");
    }
    assert!(!text.contains("sabotage"), "a test option shows\n{text}");
}
