//! The browser phone page of `sipline serve --web` (`crates/sipline-cli/web/`, served by
//! `src/web.rs`) in headless Chromium, over real sockets on 127.0.0.1:
//!
//! - `phone_page_calls_a_sipline_bot`: `sipline serve --web` runs sipline's registrar and
//!   proxy and serves the page and its `/config.json` (the server's WebSocket URL and
//!   domain: the page is given no server in its URL); the page registers as alice over
//!   WebSocket (digest, users file), calls `bob` through the proxy, a `sipline answer
//!   --register` bot playing an [`BOT_HZ`] tone, hears that tone, sends DTMF by INFO (the bot
//!   prints it), mutes for a while (the bot's recording of the page's [`PAGE_HZ`] tone has a
//!   silent stretch between two tone stretches), and hangs up. Mid-call (muted), a screenshot
//!   of the page is taken over the DevTools protocol (`Page.captureScreenshot`) and saved as
//!   `TARGET/artifacts/browser-phone.png` (CI keeps it).
//! - `phone_pages_call_each_other_and_transfer`: two pages (alice, bob; each registered
//!   through Kamailio) call each other: bob's page rings (banner, title) until a click on
//!   Answer (DevTools), each hears the other's tone, bob's page receives alice's INFO DTMF;
//!   then alice transfers bob (REFER, blind: alice hangs up on 202) to alice herself, so
//!   bob's page follows the REFER with a new call that alice's page answers by itself
//!   (`autoanswer=1`); alice hangs that one up.
//! - `phone_page_buttons_drive_a_call`: the same call driven by clicks on the page's buttons
//!   (DevTools `Runtime.evaluate`), no automation parameters: Register, Call, keypad, Mute,
//!   Unmute, Hang up.
//! - `phone_page_shows_a_refused_registration`: with a wrong password, Kamailio's 403 reaches
//!   the page, which says so (its registration badge) and reports at once.
//! - `sipline_web_serves_config_and_refuses_bad_arguments` (no browser): `sipline web` answers
//!   `/config.json` from its arguments over a real socket, refuses a --ws-url that is not
//!   ws:// or wss:// (exit 2), and stays out of `sipline --help`.
//!
//! The other page tests register with Kamailio (a production registrar users meet), so the
//! page is tested against both. Runs in a loopback-only network namespace like `browser.rs`
//! (root, `unshare --net`).
//!
//! Needs: `chromium`, `unshare`, `ip`, Kamailio with its websocket module (`scripts/test`
//! installs them). The page's bundle is committed: no npm needed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code)] // each test file uses part of it
mod common;

#[path = "../../sipline/tests/common/kamailio.rs"]
mod kamailio;

use common::chromium::{Chromium, in_loopback_netns, tone_wav};
use common::{Sipline, TempDir};
use futures_util::{SinkExt, StreamExt};
use kamailio::Kamailio;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The tone the bot plays.
const BOT_HZ: f32 = 880.0;
/// The tone Chromium's fake microphone plays.
const PAGE_HZ: f32 = 660.0;
/// Kamailio's domain (its users: alice and bob, see interop/kamailio/kamailio.cfg).
const DOMAIN: &str = "sipline.test";
/// How long the page stays muted (ms).
const MUTE_MS: u64 = 1500;

#[test]
fn phone_page_calls_a_sipline_bot() {
    if in_loopback_netns("phone_page_calls_a_sipline_bot") {
        page_calls_bot();
    }
}

fn page_calls_bot() {
    let dir = TempDir::new("phone");
    let mic = dir.file("page-tone.wav");
    tone_wav(&mic, PAGE_HZ);
    let recording = dir.file("bot-heard.wav");
    // sipline's own registrar and proxy, with the phone page (`sipline serve --web`).
    let users = dir.file("users");
    std::fs::write(&users, "alice:alice-secret\nbob:bob-secret\n").unwrap();
    let server = Sipline::spawn(&[
        "serve",
        "--listen",
        "udp:127.0.0.1:0",
        "--listen",
        "ws:127.0.0.1:0",
        "--domain",
        DOMAIN,
        "--users",
        users.to_str().unwrap(),
        "--web",
        "127.0.0.1:0",
    ]);
    let proxy = format!("udp:127.0.0.1:{}", server.udp_port());
    let ws_line = server.wait_line(Duration::from_secs(10), |l| {
        l.starts_with("listening on ws:")
    });
    let ws_url = format!("ws://{}", ws_line.trim_start_matches("listening on ws:"));
    let line = server.wait_line(Duration::from_secs(10), |l| {
        l.starts_with("browser phone: ")
    });
    let page = line.trim_start_matches("browser phone: ").to_owned();

    let play = format!("tone:{BOT_HZ}");
    let bot_args = [
        "answer",
        "--listen",
        "udp:127.0.0.1:0",
        "--uri",
        "sip:bob@sipline.test",
        "--proxy",
        &proxy,
        "--register",
        "--password",
        "bob-secret",
        "--play",
        &play,
        "--record",
        recording.to_str().unwrap(),
        "--max-calls",
        "1",
    ];
    let mut bot = Sipline::spawn(&bot_args);
    bot.wait_line(Duration::from_secs(15), |l| l.starts_with("registered as"));

    // No server in the URL: the page takes it from /config.json.
    let url = format!(
        "{page}?user=alice&password=alice-secret&call=bob&talk=2000&dtmf=12&mute={MUTE_MS}\
         &hangupAfter=8000&timeout=40"
    );
    let browser = Chromium::open_with(
        &url,
        &dir.file("profile"),
        &mic,
        &["--remote-debugging-port=0", "--window-size=820,1180"],
    );
    let devtools = browser.wait_for("DevTools listening on ws://", Duration::from_secs(15));
    browser.wait_for("SIPLINE-EVENT registered", Duration::from_secs(20));
    browser.wait_for("SIPLINE-EVENT state Established", Duration::from_secs(20));
    // Mid-call, while muted: the page shows the call, the tones sent, the pressed mute
    // button, the level it hears (and its silent microphone).
    browser.wait_for("SIPLINE-EVENT muted", Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(500));
    let png = DevTools::attach(&devtools, &page).screenshot();
    let artifact = artifacts_dir().join("browser-phone.png");
    std::fs::create_dir_all(artifact.parent().unwrap()).unwrap();
    std::fs::write(&artifact, &png).unwrap();
    eprintln!("screenshot: {} ({} bytes)", artifact.display(), png.len());
    assert_png(&png);

    let result = browser.result(Duration::from_secs(40));
    eprintln!("phone page: {result}");
    let (status, out) = bot.finish(Duration::from_secs(15));

    // The page found its server in /config.json, registered (challenged first), called.
    assert_eq!(result["config"]["wsUrl"], ws_url.as_str(), "{result}");
    assert_eq!(result["config"]["domain"], DOMAIN, "{result}");
    assert_eq!(result["registered"], true, "{result}");
    let got = codes(&result, "statusesReceived");
    assert!(got.contains(&401), "{result}");
    assert!(got.contains(&200), "{result}");
    assert_eq!(result["callsEstablished"], 1, "{result}");
    // Media both ways: the page heard the bot's tone (and its meter moved), counted packets.
    let heard = result["heardHz"].as_f64().unwrap_or(0.0);
    assert!(
        (heard - f64::from(BOT_HZ)).abs() <= 15.0,
        "the page heard {heard} Hz, not {BOT_HZ}: {result}"
    );
    assert!(
        result["heardPeakDb"].as_f64().unwrap_or(-100.0) > -40.0,
        "{result}"
    );
    let stats = &result["stats"];
    assert!(
        stats["packetsReceived"].as_u64().unwrap_or(0) > 100,
        "{result}"
    );
    assert!(stats["packetsSent"].as_u64().unwrap_or(0) > 100, "{result}");
    // DTMF by INFO, mute then unmute, and the page hung up.
    assert_eq!(result["dtmfSent"], "12", "{result}");
    let mutes: Vec<bool> = result["mute"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["muted"].as_bool())
        .collect();
    assert_eq!(mutes, [true, false], "{result}");
    assert_eq!(result["hungUpBy"], "browser", "{result}");
    assert!(
        strings(&result, "states").iter().any(|s| s == "Terminated"),
        "{result}"
    );
    assert!(result["errors"].as_array().unwrap().is_empty(), "{result}");

    // The bot's side.
    assert!(status.success(), "{}", bot.output());
    for expected in [
        "call 1 from sip:alice@sipline.test: incoming",
        "call 1: accepted",
        "call 1: dtmf 1",
        "call 1: dtmf 2",
        "call 1: the caller hung up",
        "call 1: ended (Bye)",
    ] {
        assert!(
            out.lines().any(|l| l == expected),
            "no {expected:?} in\n{}",
            bot.output()
        );
    }
    assert_tone_silence_tone(&recording);
}

#[test]
fn phone_pages_call_each_other_and_transfer() {
    if in_loopback_netns("phone_pages_call_each_other_and_transfer") {
        pages_call_and_transfer();
    }
}

fn pages_call_and_transfer() {
    let dir = TempDir::new("phones");
    let (alice_mic, bob_mic) = (dir.file("alice.wav"), dir.file("bob.wav"));
    tone_wav(&alice_mic, BOT_HZ);
    tone_wav(&bob_mic, PAGE_HZ);
    let kamailio = Kamailio::start(&dir.0.join("kamailio"), DOMAIN);
    let ws_url = format!("ws://127.0.0.1:{}", kamailio.ws_port);
    let web = Sipline::spawn(&[
        "web",
        "--listen",
        "127.0.0.1:0",
        "--ws-url",
        &ws_url,
        "--domain",
        DOMAIN,
    ]);
    let line = web.wait_line(Duration::from_secs(10), |l| l.starts_with("web page on "));
    let page = line.trim_start_matches("web page on ").to_owned();
    let bob = Chromium::open_with(
        &format!("{page}?user=bob&password=bob-secret&calls=2&timeout=40"),
        &dir.file("bob-profile"),
        &bob_mic,
        &["--remote-debugging-port=0"],
    );
    let endpoint = bob.wait_for("DevTools listening on ws://", Duration::from_secs(15));
    bob.wait_for("SIPLINE-EVENT registered", Duration::from_secs(20));
    let mut bob_page = DevTools::attach(&endpoint, &page);
    let alice = Chromium::open(
        &format!(
            "{page}?user=alice&password=alice-secret&call=bob&talk=2000&dtmf=12&transfer=alice\
             &autoanswer=1&hangupAfter=6000&calls=2&timeout=40"
        ),
        &dir.file("alice-profile"),
        &alice_mic,
    );
    // Bob's page rings (banner, title) until a click on Answer.
    bob.wait_for(
        "SIPLINE-EVENT incoming sip:alice@sipline.test",
        Duration::from_secs(20),
    );
    assert_eq!(
        bob_page.eval("document.getElementById('incoming').hidden"),
        false
    );
    assert_eq!(
        bob_page.eval("document.title"),
        "Ringing: sip:alice@sipline.test"
    );
    std::thread::sleep(Duration::from_millis(500));
    bob_page.click("#answer");
    let a = alice.result(Duration::from_secs(45));
    let b = bob.result(Duration::from_secs(10));
    eprintln!("alice: {a}\nbob: {b}");
    for r in [&a, &b] {
        assert_eq!(r["registered"], true, "{r}");
        assert_eq!(r["callsEstablished"], 2, "{r}");
        assert_eq!(r["callsEnded"], 2, "{r}");
        assert_eq!(r["stats"]["codec"], "audio/opus", "{r}");
        assert!(r["errors"].as_array().unwrap().is_empty(), "{r}");
    }
    // Each heard the other's tone (the last call's).
    for (r, hz) in [(&a, PAGE_HZ), (&b, BOT_HZ)] {
        let heard = r["heardHz"].as_f64().unwrap_or(0.0);
        assert!(
            (heard - f64::from(hz)).abs() <= 15.0,
            "heard {heard} Hz, not {hz}: {r}"
        );
    }
    // Alice called, sent DTMF in both calls, transferred bob (202) and hung up, then was
    // called by bob (the transfer) and hung up again.
    assert_eq!(a["transfer"]["status"], 202, "{a}");
    assert_eq!(a["transfer"]["target"], "sip:alice@sipline.test", "{a}");
    assert_eq!(a["dtmfSent"], "1212", "{a}");
    assert_eq!(a["hungUpBy"], "browser", "{a}");
    let alice_sent = strings(&a, "requestsSent");
    assert_eq!(alice_sent.iter().filter(|m| *m == "BYE").count(), 2, "{a}");
    assert!(alice_sent.iter().any(|m| m == "REFER"), "{a}");
    assert!(
        strings(&a, "requestsReceived")
            .iter()
            .any(|m| m == "INVITE"),
        "{a}"
    );
    // Bob answered, received the DTMF and the REFER, and followed it with an INVITE.
    assert_eq!(b["dtmfReceived"], "1212", "{b}");
    assert!(codes(&b, "statusesSent").contains(&202), "{b}");
    let bob_got = strings(&b, "requestsReceived");
    assert_eq!(bob_got.first().map(String::as_str), Some("INVITE"), "{b}");
    assert!(bob_got.iter().any(|m| m == "REFER"), "{b}");
    assert!(
        strings(&b, "requestsSent").iter().any(|m| m == "INVITE"),
        "{b}"
    );
    assert_eq!(b["hungUpBy"], "remote", "{b}");
}

#[test]
fn phone_page_buttons_drive_a_call() {
    if in_loopback_netns("phone_page_buttons_drive_a_call") {
        buttons_drive_a_call();
    }
}

/// What a person does, by clicks (DevTools `Runtime.evaluate`, with a user gesture), no
/// automation parameters: Register, type `bob`, Call, press 3 on the keypad, Mute, Unmute,
/// Hang up; the bot hears the DTMF and the page hears the bot.
fn buttons_drive_a_call() {
    let dir = TempDir::new("phone-buttons");
    let mic = dir.file("page-tone.wav");
    tone_wav(&mic, PAGE_HZ);
    let kamailio = Kamailio::start(&dir.0.join("kamailio"), DOMAIN);
    let proxy = format!("udp:127.0.0.1:{}", kamailio.sip_port);
    let play = format!("tone:{BOT_HZ}");
    let mut bot = Sipline::spawn(&[
        "answer",
        "--listen",
        "udp:127.0.0.1:0",
        "--uri",
        "sip:bob@sipline.test",
        "--proxy",
        &proxy,
        "--register",
        "--password",
        "bob-secret",
        "--play",
        &play,
        "--max-calls",
        "1",
    ]);
    bot.wait_line(Duration::from_secs(15), |l| l.starts_with("registered as"));
    let ws_url = format!("ws://127.0.0.1:{}", kamailio.ws_port);
    let web = Sipline::spawn(&[
        "web",
        "--listen",
        "127.0.0.1:0",
        "--ws-url",
        &ws_url,
        "--domain",
        DOMAIN,
    ]);
    let line = web.wait_line(Duration::from_secs(10), |l| l.starts_with("web page on "));
    let page = line.trim_start_matches("web page on ").to_owned();
    // The account's fields filled in, nothing else: no user= (so no automatic registration).
    let url = format!("{page}?uri=sip:alice@{DOMAIN}&password=alice-secret&timeout=60");
    let browser = Chromium::open_with(
        &url,
        &dir.file("profile"),
        &mic,
        &["--remote-debugging-port=0"],
    );
    let endpoint = browser.wait_for("DevTools listening on ws://", Duration::from_secs(15));
    browser.wait_for("SIPLINE-EVENT ready", Duration::from_secs(15));
    let mut dt = DevTools::attach(&endpoint, &page);
    assert_eq!(dt.eval("document.getElementById('hangup').disabled"), true);
    dt.click("#register");
    browser.wait_for("SIPLINE-EVENT registered", Duration::from_secs(15));
    assert_eq!(
        dt.eval("document.getElementById('reg-state').textContent"),
        "registered as alice"
    );
    dt.eval("document.getElementById('target').value = 'bob'");
    dt.click("#call");
    browser.wait_for("SIPLINE-EVENT state Established", Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        dt.eval("document.getElementById('call-state').textContent"),
        "in call"
    );
    dt.click("#keypad button:nth-child(3)");
    browser.wait_for("SIPLINE-EVENT dtmf sent 3", Duration::from_secs(5));
    dt.click("#mute");
    browser.wait_for("SIPLINE-EVENT muted", Duration::from_secs(5));
    assert_eq!(
        dt.eval("document.getElementById('mute').getAttribute('aria-pressed')"),
        "true"
    );
    std::thread::sleep(Duration::from_millis(500));
    dt.click("#mute");
    browser.wait_for("SIPLINE-EVENT unmuted", Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(1000));
    dt.click("#hangup");
    let result = browser.result(Duration::from_secs(15));
    eprintln!("phone page: {result}");
    let (status, out) = bot.finish(Duration::from_secs(15));

    assert_eq!(result["registered"], true, "{result}");
    assert_eq!(result["established"], true, "{result}");
    assert_eq!(result["dtmfSent"], "3", "{result}");
    assert_eq!(result["hungUpBy"], "browser", "{result}");
    assert_eq!(result["ui"]["call"], "ended", "{result}");
    let heard = result["heardHz"].as_f64().unwrap_or(0.0);
    assert!(
        (heard - f64::from(BOT_HZ)).abs() <= 15.0,
        "the page heard {heard} Hz, not {BOT_HZ}: {result}"
    );
    assert!(result["errors"].as_array().unwrap().is_empty(), "{result}");
    assert!(status.success(), "{}", bot.output());
    for expected in ["call 1: dtmf 3", "call 1: the caller hung up"] {
        assert!(
            out.lines().any(|l| l == expected),
            "no {expected:?} in\n{}",
            bot.output()
        );
    }
}

#[test]
fn phone_page_shows_a_refused_registration() {
    if in_loopback_netns("phone_page_shows_a_refused_registration") {
        refused_registration();
    }
}

fn refused_registration() {
    let dir = TempDir::new("phone-refused");
    let mic = dir.file("tone.wav");
    tone_wav(&mic, PAGE_HZ);
    let kamailio = Kamailio::start(&dir.0.join("kamailio"), DOMAIN);
    let ws_url = format!("ws://127.0.0.1:{}", kamailio.ws_port);
    let web = Sipline::spawn(&[
        "web",
        "--listen",
        "127.0.0.1:0",
        "--ws-url",
        &ws_url,
        "--domain",
        DOMAIN,
    ]);
    let line = web.wait_line(Duration::from_secs(10), |l| l.starts_with("web page on "));
    let page = line.trim_start_matches("web page on ").to_owned();
    let browser = Chromium::open(
        &format!("{page}?user=alice&password=not-her-password&call=bob&timeout=30"),
        &dir.file("profile"),
        &mic,
    );
    // At once, not at the timeout.
    let result = browser.result(Duration::from_secs(15));
    eprintln!("phone page: {result}");
    assert_eq!(result["registered"], false, "{result}");
    assert_eq!(codes(&result, "statusesReceived"), [401, 403], "{result}");
    assert_eq!(
        result["ui"]["registration"], "registration refused (403)",
        "{result}"
    );
    assert!(
        strings(&result, "errors")
            .iter()
            .any(|e| e == "registration refused: 403"),
        "{result}"
    );
    // It did not go on to call.
    assert!(
        !strings(&result, "requestsSent")
            .iter()
            .any(|m| m == "INVITE"),
        "{result}"
    );
}

#[test]
fn sipline_web_serves_config_and_refuses_bad_arguments() {
    let web = Sipline::spawn(&[
        "web",
        "--listen",
        "127.0.0.1:0",
        "--ws-url",
        "wss://sip.example.test:8443",
        "--domain",
        "example.test",
    ]);
    let line = web.wait_line(Duration::from_secs(10), |l| l.starts_with("web page on "));
    let addr = line
        .trim_start_matches("web page on http://")
        .trim_end_matches('/')
        .to_owned();
    let mut http = std::net::TcpStream::connect(&addr).unwrap();
    http.write_all(b"GET /config.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut raw = String::new();
    http.read_to_string(&mut raw).unwrap();
    assert!(raw.starts_with("HTTP/1.1 200 OK\r\n"), "{raw}");
    let body = raw.split_once("\r\n\r\n").unwrap().1;
    let config: Value = serde_json::from_str(body).unwrap();
    assert_eq!(config["wsUrl"], "wss://sip.example.test:8443", "{raw}");
    assert_eq!(config["domain"], "example.test", "{raw}");

    let mut bad = Sipline::spawn(&["web", "--ws-url", "http://x:1", "--domain", "d"]);
    let (status, _) = bad.finish(Duration::from_secs(10));
    assert_eq!(status.code(), Some(2), "{}", bad.output());
    assert!(bad.output().contains("expected ws://"), "{}", bad.output());

    let mut help = Sipline::spawn(&["--help"]);
    let (status, out) = help.finish(Duration::from_secs(10));
    assert!(status.success(), "{}", help.output());
    // No `web` subcommand in the list (`serve --web` may well mention the word).
    let listed = |name: &str| {
        out.lines()
            .any(|l| l.split_whitespace().next() == Some(name))
    };
    assert!(listed("answer") && !listed("web"), "{out}");
}

// ---------------------------------------------------------------------------------------------
// The screenshot (DevTools protocol)

/// `TARGET/artifacts` (`CARGO_TARGET_DIR`, else the target directory of this test binary).
fn artifacts_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir).join("artifacts");
    }
    // TARGET/debug/deps/browser_phone-HASH
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().join("artifacts")
}

/// The page `page_url` of a Chromium, over the DevTools protocol on the browser endpoint
/// announced in `line` (`DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID`):
/// `Target.getTargets`, then `Target.attachToTarget` (a flat session) for the page.
struct DevTools {
    rt: tokio::runtime::Runtime,
    cdp: Cdp,
    session: String,
}

impl DevTools {
    fn attach(line: &str, page_url: &str) -> DevTools {
        let endpoint = line[line.find("ws://").unwrap()..]
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned();
        let host_port = endpoint["ws://".len()..]
            .split('/')
            .next()
            .unwrap()
            .to_owned();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (cdp, session) = rt.block_on(async {
            let stream = tokio::net::TcpStream::connect(&host_port).await.unwrap();
            let (socket, _) = tokio_tungstenite::client_async(endpoint.as_str(), stream)
                .await
                .unwrap();
            let mut cdp = Cdp { socket, next: 0 };
            let targets = cdp.call(None, "Target.getTargets", json!({})).await;
            let page = targets["targetInfos"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| {
                    t["type"] == "page"
                        && t["url"].as_str().is_some_and(|u| u.starts_with(page_url))
                })
                .unwrap_or_else(|| panic!("no page target for {page_url} in {targets}"))
                .clone();
            let attached = cdp
                .call(
                    None,
                    "Target.attachToTarget",
                    json!({ "targetId": page["targetId"], "flatten": true }),
                )
                .await;
            let session = attached["sessionId"].as_str().unwrap().to_owned();
            (cdp, session)
        });
        DevTools { rt, cdp, session }
    }

    /// `Page.captureScreenshot`: a PNG.
    fn screenshot(&mut self) -> Vec<u8> {
        let shot = self.rt.block_on(self.cdp.call(
            Some(&self.session),
            "Page.captureScreenshot",
            json!({ "format": "png" }),
        ));
        let data = shot["data"]
            .as_str()
            .unwrap_or_else(|| panic!("no screenshot: {shot}"));
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap()
    }

    /// `Runtime.evaluate` of `js` in the page (as a person's click would: with a user
    /// gesture); its value.
    fn eval(&mut self, js: &str) -> Value {
        let r = self.rt.block_on(self.cdp.call(
            Some(&self.session),
            "Runtime.evaluate",
            json!({ "expression": js, "userGesture": true, "returnByValue": true }),
        ));
        assert!(r.get("exceptionDetails").is_none(), "{js}: {r}");
        r["result"]["value"].clone()
    }

    /// Clicks the element `selector` (it must exist and be enabled).
    fn click(&mut self, selector: &str) {
        let js = format!(
            "(() => {{ const e = document.querySelector({selector:?}); \
             if (!e || e.disabled) return false; e.click(); return true; }})()"
        );
        assert_eq!(self.eval(&js), true, "{selector} is missing or disabled");
    }
}

/// A DevTools protocol connection: one command at a time.
struct Cdp {
    socket: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    next: u64,
}

impl Cdp {
    /// Sends `method` (in `session`, if any) and waits (at most 15 s) for its result.
    async fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        let mut ask = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            ask["sessionId"] = json!(s);
        }
        self.socket
            .send(tokio_tungstenite::tungstenite::Message::text(
                ask.to_string(),
            ))
            .await
            .unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(15), async {
            while let Some(msg) = self.socket.next().await {
                let msg = msg.unwrap();
                let Ok(text) = msg.to_text() else { continue };
                let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
                if v["id"] == id {
                    return v;
                }
            }
            panic!("DevTools closed the WebSocket before answering {method}");
        })
        .await
        .unwrap_or_else(|_| panic!("no answer to {method} within 15 s"));
        assert!(answer.get("error").is_none(), "{method}: {answer}");
        answer["result"].clone()
    }
}

/// A real PNG of a real page: the signature, an IHDR of a plausible size, and enough bytes
/// for a page with text (a blank page compresses to far less).
fn assert_png(png: &[u8]) {
    assert!(png.len() > 20_000, "a {} byte screenshot", png.len());
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    assert_eq!(&png[12..16], b"IHDR");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert!(width >= 600 && height >= 600, "{width}x{height}");
}

// ---------------------------------------------------------------------------------------------
// Checks

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

/// The bot's recording (8 kHz mono) holds the page's tone, then a silent stretch of most of
/// the mute, then the tone again: the mute reached the wire, and the unmute too.
fn assert_tone_silence_tone(path: &Path) {
    let mut r = hound::WavReader::open(path).unwrap();
    let samples: Vec<i16> = r.samples::<i16>().map(Result::unwrap).collect();
    // 100 ms windows: loud (the tone at -12 dBFS is ~5800 RMS), quiet, or in between.
    let rms: Vec<f64> = samples
        .chunks_exact(800)
        .map(|w| (w.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / 800.0).sqrt())
        .collect();
    let pattern: String = rms
        .iter()
        .map(|&v| match v {
            v if v > 1500.0 => 'T',
            v if v < 150.0 => '.',
            _ => '~',
        })
        .collect();
    eprintln!("the bot's recording, 100 ms per sign (T tone, . silence): {pattern}");
    let first_tone = pattern.find("TTTTT");
    let quiet_run = ".".repeat((MUTE_MS as usize / 100) * 2 / 3);
    let silence = first_tone.and_then(|t| pattern[t..].find(&quiet_run).map(|q| t + q));
    let tone_after = silence.and_then(|q| pattern[q..].find("TTTTT"));
    assert!(
        tone_after.is_some(),
        "the bot's recording is not tone, silence (mute), tone: {pattern}"
    );
    let t = first_tone.unwrap() * 800;
    let heard = sipline::tone_frequency(&samples[t..t + 4000], 8000).unwrap_or(0.0);
    assert!(
        (heard - PAGE_HZ).abs() <= 5.0,
        "the bot heard {heard} Hz, not {PAGE_HZ} ({pattern})"
    );
}
