//! Headless Chromium for the browser tests (`browser.rs`, `browser_phone.rs`): the
//! loopback-only network namespace each test runs in, a Chromium on one page (its console read
//! from stderr, killed with its process group by pid when dropped) and the WAV its fake
//! microphone plays.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../../sipline/tests/common/stop.rs"]
#[allow(
    clippy::duplicate_mod,
    reason = "each peer harness brings it; a test may use several"
)]
mod stop;

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Set (to 1) in the environment of a test running inside its loopback-only namespace.
const NETNS_VAR: &str = "SIPLINE_NETNS";

const CHROMIUM: &str = "/usr/bin/chromium";

// ---------------------------------------------------------------------------------------------
// The loopback-only network namespace

/// One test at a time runs its namespaced copy: each is a Chromium, and the machine may have
/// two cores.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// True when the caller is inside a loopback-only network namespace and should run the test.
/// Otherwise runs the test `name` again in a new one (`unshare --net`, then `ip link set lo
/// up`), asserts it passed (its output printed), and returns false.
pub(crate) fn in_loopback_netns(name: &str) -> bool {
    if std::env::var_os(NETNS_VAR).is_some_and(|v| v == "1") {
        return true;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut child = Command::new("unshare")
        .args([
            "--net",
            "sh",
            "-c",
            "ip link set lo up && exec \"$0\" \"$@\"",
        ])
        .arg(&exe)
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(NETNS_VAR, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group: on a timeout the guard kills everything it started.
        .process_group(0)
        .spawn()
        .expect("run unshare (util-linux)");
    let out = collect(child.stdout.take().unwrap());
    let err = collect(child.stderr.take().unwrap());
    let limit = Duration::from_secs(150);
    let end = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > end {
            kill_group(&mut child);
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    // The pipes close with the child (only it holds them).
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    print!("{out}");
    eprint!("{err}");
    let Some(status) = status else {
        panic!("{name} in its network namespace did not end within {limit:?}");
    };
    if !status.success() && err.contains("unshare failed") {
        panic!(
            "{name} needs its own network namespace (`unshare --net`): run the tests as root \
             (CI does), or run them inside a loopback-only namespace with {NETNS_VAR}=1\n{err}"
        );
    }
    assert!(
        status.success(),
        "{name} failed in its loopback-only network namespace ({status}); its output is above"
    );
    false
}

/// Reads a pipe to its end (in a thread); the text.
pub(crate) fn collect(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// SIGKILL to the process group a child leads (spawned with `process_group(0)`, so the group
/// id is its pid; not yet reaped, so not reused), then reaps it.
pub(crate) fn kill_group(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
    let _ = child.wait();
}

// ---------------------------------------------------------------------------------------------
// Chromium

/// A headless Chromium on one page, killed (its whole process group) when dropped; its
/// console read from stderr line by line.
pub(crate) struct Chromium {
    child: Child,
    lines: mpsc::Receiver<String>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Chromium {
    /// Opens `url` with a fresh profile (the directory `profile`) and `wav` as the microphone.
    pub(crate) fn open(url: &str, profile: &Path, wav: &Path) -> Chromium {
        Chromium::open_with(url, profile, wav, &[])
    }

    /// As [`Chromium::open`], with `extra` arguments (e.g. `--remote-debugging-port=0`).
    pub(crate) fn open_with(url: &str, profile: &Path, wav: &Path, extra: &[&str]) -> Chromium {
        assert!(
            Path::new(CHROMIUM).is_file(),
            "{CHROMIUM} is missing: `apt-get install chromium` (scripts/test does); \
             never a downloaded browser"
        );
        let mut child = Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-quic",
                "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream",
                "--allow-loopback-in-peer-connection",
                // The page plays what it receives (so that it is decoded and measured).
                "--autoplay-policy=no-user-gesture-required",
                "--enable-logging=stderr",
                "--v=0",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!(
                "--use-file-for-fake-audio-capture={}",
                wav.display()
            ))
            .args(extra)
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("start chromium");
        let (tx, lines) = mpsc::channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let keep = Arc::clone(&log);
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                keep.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
        Chromium { child, lines, log }
    }

    /// The page's console lines (the rest of Chromium's log left out).
    pub(crate) fn console(&self) -> String {
        let log = self.log.lock().unwrap();
        let console: Vec<&str> = log
            .iter()
            .filter(|l| l.contains(":CONSOLE") || l.contains("SIPLINE-"))
            .map(String::as_str)
            .collect();
        format!("--- chromium console ---\n{}", console.join("\n"))
    }

    /// Waits (at most `limit`) for a console line holding `needle`; the line.
    pub(crate) fn wait_for(&self, needle: &str, limit: Duration) -> String {
        let end = Instant::now() + limit;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.contains(needle) => return l,
                Ok(_) => {}
                Err(_) => panic!(
                    "no {needle:?} from the page within {limit:?}\n{}",
                    self.console()
                ),
            }
        }
    }

    /// The page's `SIPLINE-RESULT` (at most `limit` away).
    pub(crate) fn result(&self, limit: Duration) -> Value {
        let line = self.wait_for("SIPLINE-RESULT ", limit);
        // `[...:INFO:CONSOLE:151] "SIPLINE-RESULT {json}", source: URL (151)`
        let start = line.find("SIPLINE-RESULT ").unwrap() + "SIPLINE-RESULT ".len();
        let end = line.rfind('}').map_or(line.len(), |i| i + 1);
        serde_json::from_str(&line[start..end])
            .unwrap_or_else(|e| panic!("bad result ({e}): {line}"))
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        // Its renderer, GPU and utility processes are in its group: SIGTERM lets the
        // browser reap them.
        stop::stop(&mut self.child, stop::Term::Group, Duration::from_secs(2));
        if std::thread::panicking() {
            eprintln!("{}", self.console());
        }
    }
}

/// A 16-bit mono 48 kHz WAV of a `hz` sine at -12 dBFS, for Chromium's fake microphone
/// (which loops it).
pub(crate) fn tone_wav(path: &Path, hz: f32) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..48_000 * 2 {
        let t = i as f32 / 48_000.0;
        let s = (2.0 * std::f32::consts::PI * hz * t).sin() * 8192.0;
        w.write_sample(s as i16).unwrap();
    }
    w.finalize().unwrap();
}
