//! Browsers against the `sipline` binary: headless Chromium (Debian `chromium`) running SIP.js
//! 0.21 or JsSIP 3 (the pages in `interop/browser/`) over WebSocket on 127.0.0.1.
//!
//! - `sipjs_calls_sipline_answer`, `jssip_calls_sipline_answer`: the page calls
//!   `sipline answer --listen ws:...` directly.
//! - `sipline_call_calls_sipjs`, `sipline_call_calls_jssip`: the page registers as bob with
//!   Kamailio (`interop/kamailio/kamailio.cfg`, WebSocket listener, digest) and auto-answers;
//!   `sipline call` calls bob through Kamailio.
//! - `sipjs_calls_jssip_through_kamailio`: two browsers, no sipline: proves the pages' media
//!   reports (statistics, heard tone, DTMF, who hung up) against a WebRTC peer that exists.
//!
//! Each test runs in a loopback-only network namespace: Chromium otherwise offers the
//! machine's other addresses as ICE candidates (and it needs
//! `--allow-loopback-in-peer-connection` to offer 127.0.0.1 at all). Unless `SIPLINE_NETNS=1`
//! says it already is inside one, the test runs its own binary again for just itself under
//! `unshare --net` (root needed) and asserts that run's success. Inside, the test serves `interop/browser/` over HTTP (ES
//! modules need http://, not file://), starts the peers, reads Chromium's console (stderr) for
//! the page's `SIPLINE-RESULT {json}` line, and kills every process it started by its pid (the
//! guards do it on failures too).
//!
//! Chromium captures a generated WAV (a [`BROWSER_HZ`] tone) as its microphone; sipline plays
//! a [`SIPLINE_HZ`] tone. What the tests check depends on [`WEBRTC_WIRED`].
//!
//! Needs: `chromium`, `unshare` and `ip`, Kamailio with its websocket module, and
//! `npm ci && npm run build` in `interop/browser` (`scripts/test` installs all of them).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code)] // each test file uses part of it
mod common;

use common::chromium::{Chromium, in_loopback_netns, tone_wav};
use common::{Sipline, TempDir};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Whether sipline answers and offers WebRTC media (str0m: ICE, DTLS-SRTP, Opus). While false,
/// `sipline answer` refuses the browser's `UDP/TLS/RTP/SAVPF` offer with 488 and the browser
/// refuses `sipline call`'s RTP/AVP offer, so the tests check the signalling path only: the
/// INVITE crosses the WebSocket (and Kamailio) and the final response comes back.
///
/// Set it to true when WebRtcMedia is wired: then each call must be established, with audio
/// both ways (sipline's recording holds the browser's tone, the browser hears sipline's tone
/// and counts packets and audio energy), DTMF both ways (RFC 4733 and INFO from the browser,
/// INFO from `sipline call`), and a BYE from the side that hangs up.
const WEBRTC_WIRED: bool = true;

/// Extra arguments of `sipline call` that make it offer WebRTC media to a browser (which
/// accepts nothing else), once `WEBRTC_WIRED`: the integrator fills them in (e.g. a
/// `--media webrtc`), if `sipline call` does not pick WebRTC for a `ws:` target by itself.
const WEBRTC_CALL_ARGS: &[&str] = &["--media", "webrtc"];

/// The tone Chromium captures (its fake microphone plays a WAV of it).
const BROWSER_HZ: f32 = 660.0;
/// The tone sipline plays.
const SIPLINE_HZ: f32 = 880.0;

/// The domain of Kamailio's users (see kamailio.cfg).
const DOMAIN: &str = "sipline.test";

// ---------------------------------------------------------------------------------------------
// The pages, over HTTP

/// `interop/browser/`, with its npm packages and the JsSIP bundle.
fn pages_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/browser");
    for needed in ["node_modules/sip.js/lib/index.js", "dist/jssip.bundle.js"] {
        assert!(
            dir.join(needed).is_file(),
            "{} is missing: run `npm ci && npm run build` in {} (scripts/test does)",
            needed,
            dir.display()
        );
    }
    dir
}

/// Serves `root` on 127.0.0.1 (GET only, one request per connection) from a thread that
/// lives as long as the test process; the port.
fn serve_http(root: PathBuf) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let root = root.clone();
            std::thread::spawn(move || {
                let _ = serve_one(&root, stream);
            });
        }
    });
    port
}

fn serve_one(root: &Path, mut stream: TcpStream) -> std::io::Result<()> {
    let mut request_line = String::new();
    let mut reader = BufReader::new(stream.try_clone()?);
    reader.read_line(&mut request_line)?;
    // The rest of the request head.
    let mut line = String::new();
    while reader.read_line(&mut line)? > 2 {
        line.clear();
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    let path = path.split(['?', '#']).next().unwrap_or("/");
    let file = root.join(path.trim_start_matches('/'));
    let body = if path.split('/').any(|seg| seg == "..") {
        None
    } else {
        std::fs::read(&file).ok()
    };
    let head = match &body {
        Some(b) => {
            let kind = match file.extension().and_then(|e| e.to_str()) {
                Some("html") => "text/html; charset=utf-8",
                // ES modules load only with a JavaScript MIME type.
                Some("js" | "mjs") => "text/javascript; charset=utf-8",
                Some("json" | "map") => "application/json",
                Some("wav") => "audio/wav",
                _ => "application/octet-stream",
            };
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\
                 Cache-Control: no-store\r\nConnection: close\r\n\r\n",
                b.len()
            )
        }
        None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into(),
    };
    stream.write_all(head.as_bytes())?;
    if let Some(b) = body {
        stream.write_all(&b)?;
    }
    stream.flush()
}

// ---------------------------------------------------------------------------------------------
// Kamailio (as in crates/sipline/tests/kamailio.rs)

#[path = "../../sipline/tests/common/kamailio.rs"]
mod kamailio;
use kamailio::Kamailio;

// ---------------------------------------------------------------------------------------------
// Checks

/// The dominant frequency of a recording (8 kHz mono), after its first 250 ms.
fn recorded_frequency(path: &Path) -> f32 {
    let mut r = hound::WavReader::open(path).unwrap();
    let spec = r.spec();
    assert_eq!((spec.channels, spec.sample_rate), (1, 8000), "{spec:?}");
    let samples: Vec<i16> = r.samples::<i16>().map(Result::unwrap).collect();
    assert!(samples.len() > 8000, "only {} samples", samples.len());
    let tail = &samples[2000..samples.len().min(2000 + 8000)];
    sipline::tone_frequency(tail, 8000).unwrap_or_else(|| panic!("no tone in {}", path.display()))
}

/// The numbers in the result's array `key`.
fn codes(result: &Value, key: &str) -> Vec<u64> {
    result[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} in {result}"))
        .iter()
        .filter_map(Value::as_u64)
        .collect()
}

fn strings(result: &Value, key: &str) -> Vec<String> {
    result[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} in {result}"))
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// The browser's side of an established call with media: it heard a `heard_hz` tone, counted
/// packets and audio energy, and ended with a BYE from `hung_up_by`.
fn assert_browser_media(result: &Value, heard_hz: f32, hung_up_by: &str) {
    assert_eq!(result["established"], true, "{result}");
    assert!(
        strings(result, "states").iter().any(|s| s == "Terminated"),
        "{result}"
    );
    let stats = &result["stats"];
    assert!(
        stats["packetsReceived"].as_u64().unwrap_or(0) > 50,
        "{result}"
    );
    assert!(stats["packetsSent"].as_u64().unwrap_or(0) > 50, "{result}");
    assert!(
        stats["totalAudioEnergy"].as_f64().unwrap_or(0.0) > 0.0,
        "{result}"
    );
    assert!(
        stats["audioLevel"].as_f64().unwrap_or(0.0) > 0.0,
        "{result}"
    );
    let heard = result["heardHz"].as_f64().unwrap_or(0.0);
    // The analyser's bins are 48000 / 8192 ≈ 6 Hz wide.
    assert!(
        (heard - f64::from(heard_hz)).abs() <= 15.0,
        "the browser heard {heard} Hz, not {heard_hz}: {result}"
    );
    assert_eq!(result["hungUpBy"], hung_up_by, "{result}");
}

fn assert_lines(out: &str, lines: &[&str]) {
    for line in lines {
        assert!(out.lines().any(|l| l == *line), "no {line:?} in\n{out}");
    }
}

// ---------------------------------------------------------------------------------------------
// The tests

/// The dominant frequency of the last second of a recording (8 kHz mono).
fn recorded_frequency_last_second(path: &Path) -> f32 {
    let mut r = hound::WavReader::open(path).unwrap();
    let samples: Vec<i16> = r.samples::<i16>().map(Result::unwrap).collect();
    assert!(samples.len() > 8000, "only {} samples", samples.len());
    let tail = &samples[samples.len() - 8000..];
    sipline::tone_frequency(tail, 8000)
        .unwrap_or_else(|| panic!("no tone in the last second of {}", path.display()))
}

/// The page `page` calls `sipline answer` over WebSocket. SIP.js hangs up itself; with JsSIP,
/// sipline hangs up (`--duration`).
fn browser_calls_sipline_answer(page: &str, sipline_hangs_up: bool) {
    browser_calls_sipline_answer_with(page, sipline_hangs_up, false);
}

/// As [`browser_calls_sipline_answer`]; with `ice_restart` the page re-INVITEs with an ICE
/// restart (SIP.js `iceRestart: true`, RFC 8445 §9) after 2 s, and the call must go on: new
/// ICE credentials on both sides, packets still arriving at the browser, sipline still
/// hearing the browser's tone in the last second of its recording.
fn browser_calls_sipline_answer_with(page: &str, sipline_hangs_up: bool, ice_restart: bool) {
    let pages = pages_dir();
    let dir = TempDir::new("browser");
    let mic = dir.file("browser-tone.wav");
    tone_wav(&mic, BROWSER_HZ);
    let recording = dir.file("sipline-heard.wav");
    let play = format!("tone:{SIPLINE_HZ}");
    let http = serve_http(pages);
    let mut args = vec![
        "answer",
        "--listen",
        "ws:127.0.0.1:0",
        "--max-calls",
        "1",
        "--play",
        &play,
        "--record",
        recording.to_str().unwrap(),
    ];
    if sipline_hangs_up {
        args.extend(["--duration", "6s"]);
    }
    let mut answer = Sipline::spawn(&args);
    let line = answer.wait_line(Duration::from_secs(10), |l| {
        l.starts_with("listening on ws:")
    });
    let ws_port: u16 = line.rsplit(':').next().unwrap().parse().unwrap();
    let hangup = if sipline_hangs_up {
        "remote"
    } else {
        "browser"
    };
    let url = format!(
        "http://127.0.0.1:{http}/{page}?mode=call&target=sip:bot@127.0.0.1:{ws_port}\
         &ws=ws://127.0.0.1:{ws_port}&dtmf=12&info=34&talk=2&hangup={hangup}&timeout=25\
         &icerestart={}",
        u8::from(ice_restart)
    );
    let browser = Chromium::open(&url, &dir.file("profile"), &mic);
    let result = browser.result(Duration::from_secs(40));
    eprintln!("{page}: {result}");
    let (status, out) = answer.finish(Duration::from_secs(15));
    let sent = strings(&result, "requestsSent");
    assert_eq!(sent.first().map(String::as_str), Some("INVITE"), "{result}");
    assert_lines(&out, &["call 1 from sip:browser@127.0.0.1: incoming"]);

    if !WEBRTC_WIRED {
        // The INVITE crossed the WebSocket and the final response came back.
        assert_eq!(result["established"], false, "{result}");
        assert_eq!(
            codes(&result, "statusesReceived").last(),
            Some(&488),
            "{result}"
        );
        assert!(sent.iter().any(|m| m == "ACK"), "{result}");
        assert_lines(&out, &["call 1: rejected with 488 Not Acceptable Here"]);
        assert_eq!(status.code(), Some(1), "{}", answer.output());
        return;
    }

    assert!(
        codes(&result, "statusesReceived").contains(&200),
        "{result}"
    );
    assert_eq!(result["dtmfSent"], "1234", "{result}");
    assert_browser_media(&result, SIPLINE_HZ, hangup);
    assert!(status.success(), "{}", answer.output());
    let mut expected = vec![
        "call 1: accepted",
        "call 1: dtmf 1", // RFC 4733
        "call 1: dtmf 2",
        "call 1: dtmf 3", // INFO
        "call 1: dtmf 4",
        "call 1: ended (Bye)",
    ];
    if !sipline_hangs_up {
        expected.push("call 1: the caller hung up");
    }
    assert_lines(&out, &expected);
    let heard = recorded_frequency(&recording);
    assert!(
        (heard - BROWSER_HZ).abs() <= 5.0,
        "sipline heard {heard} Hz, not {BROWSER_HZ}"
    );
    if ice_restart {
        let r = &result["iceRestart"];
        assert_eq!(r["accepted"], true, "{result}");
        for side in ["local", "remote"] {
            let (before, after) = (
                &r[format!("{side}UfragBefore")],
                &r[format!("{side}UfragAfter")],
            );
            assert!(before.is_string() && after.is_string(), "{result}");
            assert_ne!(before, after, "the {side} ICE credentials stayed: {result}");
        }
        let at = r["packetsAtAccept"].as_u64().unwrap_or(0);
        let after = r["packetsAfter"].as_u64().unwrap_or(0);
        // 2 s of 20 ms packets is 100.
        assert!(
            after >= at + 50,
            "packets after the restart: {at} -> {after}: {result}"
        );
        assert_eq!(
            sent.iter().filter(|m| *m == "INVITE").count(),
            2,
            "the INVITE and the re-INVITE: {result}"
        );
        let heard = recorded_frequency_last_second(&recording);
        assert!(
            (heard - BROWSER_HZ).abs() <= 5.0,
            "sipline heard {heard} Hz in the last second, not {BROWSER_HZ}"
        );
    }
}

/// `sipline call` calls the page `page`, registered as bob with Kamailio over WebSocket;
/// sipline hangs up (`--duration`).
fn sipline_call_calls_browser(page: &str) {
    let pages = pages_dir();
    let dir = TempDir::new("browser");
    let mic = dir.file("browser-tone.wav");
    tone_wav(&mic, BROWSER_HZ);
    let recording = dir.file("sipline-heard.wav");
    let play = format!("tone:{SIPLINE_HZ}");
    let http = serve_http(pages);
    let kamailio = Kamailio::start(&dir.0.join("kamailio"), DOMAIN);
    let url = format!(
        "http://127.0.0.1:{http}/{page}?mode=answer&uri=sip:bob@{DOMAIN}&user=bob\
         &password=bob-secret&ws=ws://127.0.0.1:{}&dtmf=12&talk=1&timeout=25",
        kamailio.ws_port
    );
    let browser = Chromium::open(&url, &dir.file("profile"), &mic);
    browser.wait_for("SIPLINE-EVENT registered", Duration::from_secs(20));
    let proxy = format!("udp:127.0.0.1:{}", kamailio.sip_port);
    let mut args = vec![
        "call",
        "sip:bob@sipline.test",
        "--uri",
        "sip:alice@sipline.test",
        "--user",
        "alice",
        "--password",
        "alice-secret",
        "--proxy",
        &proxy,
        "--play",
        &play,
        "--record",
        recording.to_str().unwrap(),
        "--duration",
        "6s",
        "--dtmf",
        "56",
        "--dtmf-mode",
        "info",
    ];
    if WEBRTC_WIRED {
        args.extend(WEBRTC_CALL_ARGS);
    }
    args.push("--trace");
    let mut call = Sipline::spawn(&args);
    let (status, out) = call.finish(Duration::from_secs(30));
    let result = browser.result(Duration::from_secs(30));
    eprintln!("{page}: {result}");
    // Registered through Kamailio over WebSocket (challenged first), and the INVITE arrived.
    assert_eq!(result["registered"], true, "{result}");
    assert!(
        codes(&result, "statusesReceived").contains(&200),
        "{result}"
    );
    assert_eq!(
        strings(&result, "requestsReceived")
            .first()
            .map(String::as_str),
        Some("INVITE"),
        "{result}"
    );

    if !WEBRTC_WIRED {
        // The browser refuses the RTP/AVP offer (SIP.js: 480, JsSIP: 488) and sipline call
        // gets that response back through Kamailio.
        let final_code = *codes(&result, "statusesSent")
            .last()
            .unwrap_or_else(|| panic!("the browser did not answer: {result}"));
        assert!((400..700).contains(&final_code), "{result}");
        assert_eq!(result["established"], false, "{result}");
        assert!(
            out.contains(&format!("call failed: {final_code} ")),
            "{}",
            call.output()
        );
        assert_eq!(status.code(), Some(1), "{}", call.output());
        return;
    }

    assert!(status.success(), "{}", call.output());
    assert!(codes(&result, "statusesSent").contains(&200), "{result}");
    assert_eq!(result["dtmfReceived"], "56", "{result}");
    assert_eq!(result["dtmfSent"], "12", "{result}");
    assert_browser_media(&result, SIPLINE_HZ, "remote");
    assert!(out.contains("answered: 200"), "{out}");
    assert_lines(
        &out,
        &["dtmf received: 1", "dtmf received: 2", "ended (Bye)"],
    );
    let heard = recorded_frequency(&recording);
    assert!(
        (heard - BROWSER_HZ).abs() <= 5.0,
        "sipline heard {heard} Hz, not {BROWSER_HZ}"
    );
}

/// Two browsers through Kamailio: SIP.js (alice, a [`SIPLINE_HZ`] tone) calls JsSIP (bob, a
/// [`BROWSER_HZ`] tone). No sipline in the media path: this proves today, against a WebRTC
/// peer that exists, the checks the sipline tests make once [`WEBRTC_WIRED`] (the pages'
/// statistics, heard tone, INFO DTMF and who hung up).
fn browser_calls_browser_through_kamailio() {
    let pages = pages_dir();
    let dir = TempDir::new("browsers");
    let (alice_mic, bob_mic) = (dir.file("alice-tone.wav"), dir.file("bob-tone.wav"));
    tone_wav(&alice_mic, SIPLINE_HZ);
    tone_wav(&bob_mic, BROWSER_HZ);
    let http = serve_http(pages);
    let kamailio = Kamailio::start(&dir.0.join("kamailio"), DOMAIN);
    let ws = format!("ws://127.0.0.1:{}", kamailio.ws_port);
    let bob = Chromium::open(
        &format!(
            "http://127.0.0.1:{http}/jssip.html?mode=answer&uri=sip:bob@{DOMAIN}&user=bob\
             &password=bob-secret&ws={ws}&info=3&talk=1&timeout=25"
        ),
        &dir.file("bob-profile"),
        &bob_mic,
    );
    bob.wait_for("SIPLINE-EVENT registered", Duration::from_secs(20));
    let alice = Chromium::open(
        &format!(
            "http://127.0.0.1:{http}/sipjs.html?mode=call&uri=sip:alice@{DOMAIN}&user=alice\
             &password=alice-secret&target=sip:bob@{DOMAIN}&ws={ws}&dtmf=7&info=56&talk=2\
             &hangup=browser&timeout=25"
        ),
        &dir.file("alice-profile"),
        &alice_mic,
    );
    let alice_saw = alice.result(Duration::from_secs(40));
    let bob_saw = bob.result(Duration::from_secs(10));
    eprintln!("alice (sip.js): {alice_saw}\nbob (jssip): {bob_saw}");
    // Alice's INVITE was challenged (407) by Kamailio, then answered.
    let got = codes(&alice_saw, "statusesReceived");
    assert_eq!(got.first(), Some(&407), "{alice_saw}");
    assert!(got.contains(&200), "{alice_saw}");
    assert_eq!(alice_saw["stats"]["codec"], "audio/opus", "{alice_saw}");
    assert_browser_media(&alice_saw, BROWSER_HZ, "browser");
    assert_browser_media(&bob_saw, SIPLINE_HZ, "remote");
    assert_eq!(alice_saw["dtmfSent"], "756", "{alice_saw}");
    // A browser sees only INFO DTMF (RFC 4733 events do not reach the page).
    assert_eq!(bob_saw["dtmfReceived"], "56", "{bob_saw}");
    assert_eq!(alice_saw["dtmfReceived"], "3", "{alice_saw}");
}

#[test]
fn sipjs_calls_jssip_through_kamailio() {
    if in_loopback_netns("sipjs_calls_jssip_through_kamailio") {
        browser_calls_browser_through_kamailio();
    }
}

#[test]
fn sipjs_calls_sipline_answer() {
    if in_loopback_netns("sipjs_calls_sipline_answer") {
        browser_calls_sipline_answer("sipjs.html", false);
    }
}

#[path = "../../sipline/tests/common/coturn.rs"]
mod coturn;

/// SIP.js with `iceServers` (coturn) and `iceTransportPolicy: "relay"` calls `sipline answer
/// --turn ... --relay-only`: both sides offer relayed candidates only (RFC 8656), so the call
/// connects and the tones cross only through coturn, which allocated for both.
#[test]
fn sipjs_calls_sipline_answer_through_coturn_relay_only() {
    if !in_loopback_netns("sipjs_calls_sipline_answer_through_coturn_relay_only") {
        return;
    }
    let pages = pages_dir();
    let dir = TempDir::new("browser-turn");
    let server = coturn::Coturn::start(&dir.file("coturn"));
    let turn = format!("turn:127.0.0.1:{}", server.port);
    let mic = dir.file("browser-tone.wav");
    tone_wav(&mic, BROWSER_HZ);
    let recording = dir.file("sipline-heard.wav");
    let play = format!("tone:{SIPLINE_HZ}");
    let http = serve_http(pages);
    let mut answer = Sipline::spawn(&[
        "answer",
        "--listen",
        "ws:127.0.0.1:0",
        "--max-calls",
        "1",
        "--play",
        &play,
        "--record",
        recording.to_str().unwrap(),
        "--duration",
        "6s",
        "--turn",
        &turn,
        "--turn-user",
        coturn::USER,
        "--turn-password",
        coturn::PASSWORD,
        "--relay-only",
    ]);
    let line = answer.wait_line(Duration::from_secs(10), |l| {
        l.starts_with("listening on ws:")
    });
    let ws_port: u16 = line.rsplit(':').next().unwrap().parse().unwrap();
    let url = format!(
        "http://127.0.0.1:{http}/sipjs.html?mode=call&target=sip:bot@127.0.0.1:{ws_port}\
         &ws=ws://127.0.0.1:{ws_port}&talk=2&hangup=remote&timeout=25\
         &turn={turn}&turnuser={}&turnpass={}&relay=1",
        coturn::USER,
        coturn::PASSWORD
    );
    let browser = Chromium::open(&url, &dir.file("profile"), &mic);
    let result = browser.result(Duration::from_secs(40));
    eprintln!("sipjs relay-only: {result}");
    let (status, out) = answer.finish(Duration::from_secs(15));
    assert!(
        codes(&result, "statusesReceived").contains(&200),
        "{result}\n{out}"
    );
    assert_browser_media(&result, SIPLINE_HZ, "remote");
    assert!(status.success(), "{}", answer.output());
    let heard = recorded_frequency(&recording);
    assert!(
        (heard - BROWSER_HZ).abs() <= 5.0,
        "sipline heard {heard} Hz, not {BROWSER_HZ}"
    );
    let log = server.log();
    assert!(
        log.matches("ALLOCATE processed, success").count() >= 2,
        "coturn allocated for the browser and for sipline\n{log}"
    );
    assert!(log.contains("CHANNEL_BIND processed, success"), "{log}");
}

#[test]
fn sipjs_restarts_ice_with_sipline_answer() {
    if in_loopback_netns("sipjs_restarts_ice_with_sipline_answer") {
        browser_calls_sipline_answer_with("sipjs.html", false, true);
    }
}

#[test]
fn jssip_calls_sipline_answer() {
    if in_loopback_netns("jssip_calls_sipline_answer") {
        browser_calls_sipline_answer("jssip.html", true);
    }
}

/// SIP.js with Chromium's fake camera (`video=1`) calls `sipline answer --video-play
/// vp8.ivf --video-record out.ivf`: sipline records the browser's video as it arrived (over
/// 20 frames, a keyframe first) and the browser decodes sipline's VP8 (`framesDecoded`).
fn sipjs_video_call_to_sipline_answer() {
    let pages = pages_dir();
    let dir = TempDir::new("browser-video");
    let mic = dir.file("browser-tone.wav");
    tone_wav(&mic, BROWSER_HZ);
    let recording = dir.file("sipline-saw.ivf");
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../sipline-media/tests/fixtures/vp8.ivf");
    let http = serve_http(pages);
    let args = [
        "answer",
        "--listen",
        "ws:127.0.0.1:0",
        "--max-calls",
        "1",
        "--play",
        "tone:880",
        "--video-play",
        fixture.to_str().unwrap(),
        "--video-record",
        recording.to_str().unwrap(),
    ];
    let mut answer = Sipline::spawn(&args);
    let line = answer.wait_line(Duration::from_secs(10), |l| {
        l.starts_with("listening on ws:")
    });
    let ws_port: u16 = line.rsplit(':').next().unwrap().parse().unwrap();
    let url = format!(
        "http://127.0.0.1:{http}/sipjs.html?mode=call&target=sip:bot@127.0.0.1:{ws_port}\
         &ws=ws://127.0.0.1:{ws_port}&video=1&talk=3&hangup=browser&timeout=25"
    );
    let browser = Chromium::open(&url, &dir.file("profile"), &mic);
    let result = browser.result(Duration::from_secs(40));
    eprintln!("sipjs video: {result}");
    let (status, out) = answer.finish(Duration::from_secs(15));
    assert_eq!(result["established"], true, "{result}");
    assert!(status.success(), "{}", answer.output());
    assert_lines(&out, &["call 1: accepted", "call 1: ended (Bye)"]);
    let video = &result["stats"]["video"];
    assert!(
        video["framesDecoded"].as_u64().unwrap_or(0) > 0,
        "the browser decoded none of sipline's video: {result}"
    );
    let mut rec = sipline::IvfSource::open(&recording).unwrap();
    let codec = rec.codec();
    let mut frames = Vec::new();
    while let Some(f) = rec.next_frame().unwrap() {
        frames.push(f);
    }
    assert!(
        frames.len() > 20,
        "sipline recorded {} {codec} frames",
        frames.len()
    );
    assert!(
        frames[0].keyframe,
        "the recording does not start with a keyframe"
    );
    assert!(
        matches!(codec, sipline::VideoCodec::Vp8 | sipline::VideoCodec::H264),
        "{codec}"
    );
}

#[test]
fn sipjs_video_calls_sipline_answer() {
    if in_loopback_netns("sipjs_video_calls_sipline_answer") {
        sipjs_video_call_to_sipline_answer();
    }
}

#[test]
fn sipline_call_calls_sipjs() {
    if in_loopback_netns("sipline_call_calls_sipjs") {
        sipline_call_calls_browser("sipjs.html");
    }
}

#[test]
fn sipline_call_calls_jssip() {
    if in_loopback_netns("sipline_call_calls_jssip") {
        sipline_call_calls_browser("jssip.html");
    }
}
