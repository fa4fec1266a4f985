//! Concurrent audio calls per core, sans-IO: K pairs of media sessions wired back to back in
//! memory (`common/mod.rs`), run in virtual time on one thread; the CPU time that thread
//! spends per second of call audio gives the calls one core can carry.
//!
//! A "call" here is one media session (one end: what sipline runs per call; a pair is two
//! calls). Each session sends a pre-rendered tone in a loop and decodes what it receives into
//! a `NullSink`, 20 ms frames; WebRTC pairs go through ICE and DTLS-SRTP first (not counted).
//!
//! `cargo bench -p sipline-media --bench webrtc_calls` (`-- K SECONDS` to change the 10
//! pairs and 20 s of audio per pair; the G.711 kinds run 10 and 40 times longer).

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, missing_docs)]

mod common;

use std::time::{Duration, Instant};

use common::{Kind, Pair};
use sipline_media::WebRtcCodec;

/// This thread's user + system CPU time (`/proc/thread-self/stat` fields 14 and 15, in
/// clock ticks of 10 ms: `getconf CLK_TCK` is 100 on Linux).
fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // The command name is in parentheses and may hold spaces: fields count from after it.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

struct Figure {
    name: &'static str,
    /// CPU per call per second of audio.
    cpu: Duration,
    wall: Duration,
}

fn measure(name: &'static str, kind: Kind, pairs: u16, secs: u64) -> Figure {
    let start = Instant::now();
    let mut all: Vec<Pair> = (0..pairs)
        .map(|i| Pair::connected(kind, i, start))
        .collect();
    // One more virtual second untimed: caches and allocations settle.
    for p in &mut all {
        p.run_for(Duration::from_secs(1));
    }
    let sent_before: u64 = all.iter().map(|p| p.sides[0].stats().packets_sent).sum();
    let cpu0 = thread_cpu().expect("/proc/thread-self/stat");
    let t0 = Instant::now();
    // Interleaved a second at a time, as a runtime would interleave its calls.
    for _ in 0..secs {
        for p in &mut all {
            p.run_for(Duration::from_secs(1));
        }
    }
    let wall = t0.elapsed();
    let cpu = thread_cpu().expect("/proc/thread-self/stat") - cpu0;
    let sent_after: u64 = all.iter().map(|p| p.sides[0].stats().packets_sent).sum();
    let per_side = (sent_after - sent_before) as f64 / f64::from(pairs) / secs as f64;
    assert!(
        per_side > 45.0,
        "{name}: {per_side} packets/s per call, audio does not flow"
    );
    let call_seconds = u32::from(pairs) * 2 * secs as u32;
    Figure {
        name,
        cpu: cpu / call_seconds,
        wall: wall / call_seconds,
    }
}

fn main() {
    let mut nums = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse::<u64>().ok());
    let pairs = nums.next().unwrap_or(10) as u16;
    let secs = nums.next().unwrap_or(20);
    println!(
        "{pairs} pairs ({} calls), {secs} s of audio each (x10 for webrtc pcmu, x40 for rtp); load before: {}",
        pairs * 2,
        load()
    );
    // The cheap kinds run longer, so that their CPU time is some hundred clock ticks too.
    let kinds = [
        (
            "webrtc opus, 8 kHz audio",
            Kind::WebRtc(WebRtcCodec::Opus, 8000),
            1,
        ),
        (
            "webrtc opus, 48 kHz audio",
            Kind::WebRtc(WebRtcCodec::Opus, 48000),
            1,
        ),
        (
            "webrtc pcmu, 8 kHz audio",
            Kind::WebRtc(WebRtcCodec::Pcmu, 8000),
            10,
        ),
        ("rtp pcmu (RtpMedia), 8 kHz", Kind::RtpPcmu, 40),
    ];
    let figures: Vec<Figure> = kinds
        .iter()
        .map(|(name, kind, more)| measure(name, *kind, pairs, secs * more))
        .collect();
    println!(
        "{:<28} {:>22} {:>22} {:>16} {:>16}",
        "", "CPU per call-second", "wall per call-second", "calls/core (CPU)", "calls/core (wall)"
    );
    for f in &figures {
        println!(
            "{:<28} {:>19.1} µs {:>19.1} µs {:>16.0} {:>16.0}",
            f.name,
            f.cpu.as_secs_f64() * 1e6,
            f.wall.as_secs_f64() * 1e6,
            1.0 / f.cpu.as_secs_f64(),
            1.0 / f.wall.as_secs_f64(),
        );
    }
    let by = |n: &str| {
        figures
            .iter()
            .find(|f| f.name.starts_with(n))
            .expect("figure")
    };
    let (opus, opus48, pcmu, rtp) = (
        by("webrtc opus, 8"),
        by("webrtc opus, 48"),
        by("webrtc pcmu"),
        by("rtp pcmu"),
    );
    let r = |a: &Figure, b: &Figure| a.cpu.as_secs_f64() / b.cpu.as_secs_f64();
    let rw = |a: &Figure, b: &Figure| a.wall.as_secs_f64() / b.wall.as_secs_f64();
    println!(
        "CPU ratio opus 8k / webrtc pcmu: {:.1}x (wall {:.1}x); opus 48k / webrtc pcmu: {:.1}x (wall {:.1}x)",
        r(opus, pcmu),
        rw(opus, pcmu),
        r(opus48, pcmu),
        rw(opus48, pcmu)
    );
    println!(
        "CPU ratio webrtc pcmu / rtp pcmu: {:.1}x (wall {:.1}x); opus 8k / rtp pcmu: {:.1}x (wall {:.1}x)",
        r(pcmu, rtp),
        rw(pcmu, rtp),
        r(opus, rtp),
        rw(opus, rtp)
    );
    println!("load after: {}", load());
}
