//! Call set-up times over real sockets on 127.0.0.1, WebRTC media against plain RTP measured
//! in the same run (calls of the two kinds alternate, so both see the same machine load):
//!
//! 1. `invite()` to the INVITE on the wire: from just before [`Ua::invite`] to the moment a
//!    raw TCP listener (no SIP stack: it frames on Content-Length) has the whole INVITE. The
//!    listener answers 486 so each call ends at once. TCP for both kinds: a WebRTC INVITE is
//!    over 1300 bytes, so sipline would send it over TCP anyway (RFC 3261 §18.1.1).
//! 2. The 200 to the first audio: two sipline user agents in this process call each other over
//!    TCP; from the 200 (sent: the callee's `Session::accept` returned; received: the
//!    caller's `Accepted` event) to the first decoded frame each side's [`ChannelSink`] hands
//!    over (a thread blocked on the channel timestamps it). For WebRTC that is ICE,
//!    DTLS-SRTP and the first SRTP packet; for RTP the first RTP packet. The callee's media
//!    starts with its answer, before the 200 leaves, so part of it runs before either origin.
//!
//! Item 1 is also taken over WebSocket (`;transport=ws`, as browsers connect), to a sipline
//! callee: until its `UaEvent::Invite` comes out; it answers 480.
//!
//! `cargo bench -p sipline --bench webrtc_setup` (`-- N` sets the calls per kind, 50 by
//! default).

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, missing_docs)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sipline::{
    AcceptOptions, ByeOptions, ChannelSink, InviteOptions, MediaChoice, RejectOptions, Session,
    SessionEvent, ToneSource, TransportKind, Ua, UaEvent,
};
use tokio::time::timeout;

const KINDS: [(MediaChoice, &str); 2] =
    [(MediaChoice::WebRtc, "webrtc"), (MediaChoice::Rtp, "rtp")];

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// (median, p95, min, max) in milliseconds.
fn summary(v: &[Duration]) -> (f64, f64, f64, f64) {
    let mut ms: Vec<f64> = v.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.95), ms[0], ms[ms.len() - 1])
}

fn report(what: &str, webrtc: &[Duration], rtp: &[Duration]) {
    let (wm, wp, wmin, wmax) = summary(webrtc);
    let (rm, rp, rmin, rmax) = summary(rtp);
    println!("{what}");
    println!(
        "  webrtc: median {wm:.2} ms  p95 {wp:.2} ms  min {wmin:.2}  max {wmax:.2}  (n={})",
        webrtc.len()
    );
    println!(
        "  rtp:    median {rm:.2} ms  p95 {rp:.2} ms  min {rmin:.2}  max {rmax:.2}  (n={})",
        rtp.len()
    );
    println!(
        "  ratio webrtc/rtp: median {:.1}x  p95 {:.1}x",
        wm / rm,
        wp / rp
    );
}

/// A raw SIP-over-TCP listener: reports when each INVITE has fully arrived and answers it 486.
fn raw_callee() -> (SocketAddr, mpsc::Receiver<Instant>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the raw callee");
    let addr = listener.local_addr().expect("raw callee address");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let tx = tx.clone();
            std::thread::spawn(move || serve(conn, &tx));
        }
    });
    (addr, rx)
}

fn serve(mut conn: TcpStream, arrivals: &mpsc::Sender<Instant>) {
    conn.set_nodelay(true).ok();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        let n = match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        // Every complete message in the buffer (CRLF keep-alives skipped, RFC 5626 §4.4.1).
        loop {
            while buf.starts_with(b"\r\n") {
                buf.drain(..2);
            }
            let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                break;
            };
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let body_len = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    let name = name.trim().to_ascii_lowercase();
                    (name == "content-length" || name == "l").then(|| value.trim().parse().ok())?
                })
                .unwrap_or(0usize);
            if buf.len() < end + 4 + body_len {
                break;
            }
            let arrived = Instant::now();
            buf.drain(..end + 4 + body_len);
            if head.starts_with("INVITE ") {
                let _ = arrivals.send(arrived);
                let _ = conn.write_all(busy(&head).as_bytes());
            }
        }
    }
}

/// A 486 for the INVITE whose header is `head` (RFC 3261 §8.2.6).
fn busy(head: &str) -> String {
    let mut r = String::from("SIP/2.0 486 Busy Here\r\n");
    for line in head.lines().skip(1) {
        let Some((name, _)) = line.split_once(':') else {
            continue;
        };
        match name.trim().to_ascii_lowercase().as_str() {
            "via" | "v" | "from" | "f" | "call-id" | "i" | "cseq" => {
                r.push_str(line);
                r.push_str("\r\n");
            }
            "to" | "t" => {
                r.push_str(line);
                r.push_str(";tag=raw\r\n");
            }
            _ => {}
        }
    }
    r.push_str("Content-Length: 0\r\n\r\n");
    r
}

async fn ua(user: &str) -> Ua {
    let any = "127.0.0.1:0".parse().expect("address");
    Ua::builder()
        .uri(format!("sip:{user}@127.0.0.1"))
        .udp(any)
        .tcp(any)
        .ws(any)
        .build()
        .await
        .expect("user agent")
}

async fn until_terminated(s: &mut Session) {
    while let Ok(Some(e)) = timeout(Duration::from_secs(10), s.next_event()).await {
        if matches!(e, SessionEvent::Terminated { .. }) {
            return;
        }
    }
}

/// Item 1: one call to the raw callee; the time from `invite()` to the INVITE's arrival.
async fn invite_on_wire(
    alice: &Ua,
    target: &str,
    arrivals: &mpsc::Receiver<Instant>,
    media: MediaChoice,
) -> Duration {
    let t0 = Instant::now();
    let mut call = alice
        .invite(
            target,
            InviteOptions {
                media,
                ..InviteOptions::default()
            },
        )
        .await
        .expect("invite");
    let arrived = arrivals
        .recv_timeout(Duration::from_secs(10))
        .expect("the INVITE did not arrive within 10 s");
    until_terminated(&mut call).await;
    arrived - t0
}

/// Item 1 over WebSocket, as browsers connect (RFC 7118): the callee is a sipline `Ua`, so
/// the instant is when its `UaEvent::Invite` comes out (parsing and dispatch included); it
/// rejects the call.
async fn invite_over_ws(alice: &Ua, bob: &Ua, target: &str, media: MediaChoice) -> Duration {
    let callee = bob.clone();
    let incoming = tokio::spawn(async move {
        match timeout(Duration::from_secs(10), callee.next_event()).await {
            Ok(Some(UaEvent::Invite(s))) => (Instant::now(), s),
            other => panic!("no incoming call: {other:?}"),
        }
    });
    let t0 = Instant::now();
    let mut call = alice
        .invite(
            target,
            InviteOptions {
                media,
                ..InviteOptions::default()
            },
        )
        .await
        .expect("invite");
    let (arrived, mut answer) = incoming.await.expect("the callee task");
    answer
        .reject(RejectOptions::default())
        .await
        .expect("reject");
    until_terminated(&mut call).await;
    until_terminated(&mut answer).await;
    arrived - t0
}

/// Blocks a thread on the sink's channel; resolves to the instant of the first frame.
fn first_frame(rx: mpsc::Receiver<Vec<i16>>) -> tokio::sync::oneshot::Receiver<Instant> {
    let (tx, first) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        if rx.recv().is_ok() {
            let _ = tx.send(Instant::now());
        }
    });
    first
}

/// The instants of one call of item 2.
struct FirstAudio {
    /// The callee's `accept()` returned: the 200 is sent.
    sent_200: Instant,
    /// The caller's `Accepted` event: the 200 arrived.
    received_200: Instant,
    caller_heard: Instant,
    callee_heard: Instant,
}

/// Item 2: one call between two sipline user agents.
async fn first_audio(alice: &Ua, bob: &Ua, target: &str, media: MediaChoice) -> FirstAudio {
    let (caller_sink, caller_rx) = ChannelSink::new(8000);
    let (callee_sink, callee_rx) = ChannelSink::new(8000);
    let caller_first = first_frame(caller_rx);
    let callee_first = first_frame(callee_rx);
    let mut call = alice
        .invite(
            target,
            InviteOptions {
                media,
                audio_source: Box::new(ToneSource::new(8000, 440.0, -10.0)),
                audio_sink: Box::new(caller_sink),
                ..InviteOptions::default()
            },
        )
        .await
        .expect("invite");
    let mut answer = match timeout(Duration::from_secs(10), bob.next_event()).await {
        Ok(Some(UaEvent::Invite(s))) => s,
        other => panic!("no incoming call: {other:?}"),
    };
    answer
        .accept(AcceptOptions {
            audio_source: Box::new(ToneSource::new(8000, 880.0, -10.0)),
            audio_sink: Box::new(callee_sink),
            ..AcceptOptions::default()
        })
        .await
        .expect("accept");
    let sent_200 = Instant::now();
    let received_200 = loop {
        match timeout(Duration::from_secs(10), call.next_event()).await {
            Ok(Some(SessionEvent::Accepted { .. })) => break Instant::now(),
            Ok(Some(_)) => {}
            other => panic!("the call was not answered: {other:?}"),
        }
    };
    let caller_heard = timeout(Duration::from_secs(10), caller_first)
        .await
        .expect("the caller heard nothing within 10 s")
        .expect("caller sink");
    let callee_heard = timeout(Duration::from_secs(10), callee_first)
        .await
        .expect("the callee heard nothing within 10 s")
        .expect("callee sink");
    call.bye(ByeOptions::default()).await.expect("bye");
    until_terminated(&mut call).await;
    until_terminated(&mut answer).await;
    FirstAudio {
        sent_200,
        received_200,
        caller_heard,
        callee_heard,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a bare number is the calls per kind.
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(50);
    let warm_up = 3;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        println!(
            "calls per kind: {n} (+{warm_up} warm-up); load before: {}",
            load()
        );

        // 1. invite() to the INVITE on the wire.
        let alice = ua("alice").await;
        let (raw, arrivals) = raw_callee();
        let target = format!("sip:bob@{raw};transport=tcp");
        let mut times = [Vec::new(), Vec::new()];
        for i in 0..warm_up + n {
            for (k, (media, _)) in KINDS.iter().enumerate() {
                let d = invite_on_wire(&alice, &target, &arrivals, *media).await;
                if i >= warm_up {
                    times[k].push(d);
                }
            }
        }
        report(
            &format!("1. invite() -> INVITE received over TCP (load {})", load()),
            &times[0],
            &times[1],
        );

        // 1 over WebSocket, to a sipline callee.
        let bob = ua("bob").await;
        let bob_ws = bob
            .local_addr(TransportKind::Ws)
            .expect("bob's WebSocket address");
        let target = format!("sip:bob@{bob_ws};transport=ws");
        let mut times = [Vec::new(), Vec::new()];
        for i in 0..warm_up + n {
            for (k, (media, _)) in KINDS.iter().enumerate() {
                let d = invite_over_ws(&alice, &bob, &target, *media).await;
                if i >= warm_up {
                    times[k].push(d);
                }
            }
        }
        report(
            &format!(
                "1ws. invite() -> UaEvent::Invite at a sipline callee, over WebSocket (load {})",
                load()
            ),
            &times[0],
            &times[1],
        );

        // 2. The 200 to the first audio.
        let bob_tcp = bob
            .local_addr(TransportKind::Tcp)
            .expect("bob's TCP address");
        let target = format!("sip:bob@{bob_tcp};transport=tcp");
        // [from the 200 sent: both ways, from the 200 received: both ways, caller, callee]
        let mut figs: [[Vec<Duration>; 2]; 4] = Default::default();
        for i in 0..warm_up + n {
            for (k, (media, _)) in KINDS.iter().enumerate() {
                let f = first_audio(&alice, &bob, &target, *media).await;
                if i >= warm_up {
                    let both = f.caller_heard.max(f.callee_heard);
                    figs[0][k].push(both.saturating_duration_since(f.sent_200));
                    figs[1][k].push(both.saturating_duration_since(f.received_200));
                    figs[2][k].push(f.caller_heard.saturating_duration_since(f.received_200));
                    figs[3][k].push(f.callee_heard.saturating_duration_since(f.received_200));
                }
            }
        }
        let l = load();
        let names = [
            format!("2a. 200 sent (accept() returned) -> audio heard both ways (load {l})"),
            "2b. 200 received (caller's Accepted) -> audio heard both ways".to_string(),
            "2c. 200 received -> first frame heard by the caller".to_string(),
            "2d. 200 received -> first frame heard by the callee".to_string(),
        ];
        for (name, [webrtc, rtp]) in names.iter().zip(&figs) {
            report(name, webrtc, rtp);
        }
        println!("load after: {}", load());
    });
}
