//! Places one call, like SIP.js's `ua.invite(target)`: plays a 440 Hz tone, listens to what
//! the other side sends, optionally sends DTMF, and hangs up after a while (or when the
//! other side does).
//!
//! ```sh
//! # in one terminal: a bot that answers (see answer_bot.rs)
//! cargo run -p sipline-examples --example answer_bot -- 127.0.0.1:5070
//! # in another: call it, send 42# and hang up after 5 s at most
//! cargo run -p sipline-examples --example call -- sip:bot@127.0.0.1:5070 42# 5
//! ```

use std::time::Duration;

use sipline::{
    BufferSink, ByeOptions, DtmfOptions, InviteOptions, SessionEvent, ToneSource, Ua,
    tone_frequency,
};

/// What happened during the call.
#[derive(Debug)]
pub struct CallReport {
    /// The call was answered.
    pub answered: bool,
    /// The other side hung up first.
    pub hung_up_by_peer: bool,
    /// The tone heard, if any (Hz).
    pub heard_hz: Option<f32>,
}

/// Calls `target` from `ua`, sends `dtmf` once answered, and stays at most `hold` after the
/// answer. Prints each event.
pub async fn call(
    ua: &Ua,
    target: &str,
    dtmf: &str,
    hold: Duration,
) -> Result<CallReport, sipline::Error> {
    let heard = BufferSink::new(8000);
    let recording = heard.handle();
    let mut session = ua
        .invite(
            target,
            InviteOptions {
                audio_source: Box::new(ToneSource::new(8000, 440.0, -12.0)),
                audio_sink: Box::new(heard),
                ..InviteOptions::default()
            },
        )
        .await?;
    let mut report = CallReport {
        answered: false,
        hung_up_by_peer: false,
        heard_hz: None,
    };
    let mut deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let event = tokio::select! {
            e = session.next_event() => e,
            () = tokio::time::sleep_until(deadline) => {
                println!("hanging up");
                // Before the answer this is a CANCEL, after it a BYE (SIP.js `terminate`).
                session.terminate().await?;
                deadline = tokio::time::Instant::now() + Duration::from_secs(40);
                continue;
            }
        };
        let Some(event) = event else { break };
        match event {
            SessionEvent::Progress { response } => println!("progress: {}", response.status),
            SessionEvent::Accepted { code, .. } => {
                println!("answered: {code}");
                report.answered = true;
                deadline = tokio::time::Instant::now() + hold;
                if !dtmf.is_empty() {
                    // Let the media settle before the first tone.
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    session.dtmf(dtmf, DtmfOptions::default()).await?;
                    println!("sent DTMF {dtmf}");
                }
            }
            SessionEvent::Bye { .. } => {
                println!("the other side hung up");
                report.hung_up_by_peer = true;
            }
            SessionEvent::Failed { cause, code, .. } => {
                println!("failed: {cause:?} ({code:?})");
            }
            SessionEvent::Terminated { cause } => {
                println!("ended: {cause:?}");
                break;
            }
            other => println!("{other:?}"),
        }
    }
    if let Some(stats) = session.stats().await {
        println!("media: {stats:?}");
    }
    let samples = recording.take();
    report.heard_hz = tone_frequency(&samples, 8000);
    if let Some(hz) = report.heard_hz {
        println!("heard a {hz:.0} Hz tone");
    }
    // Polite even if the call already ended: a BYE on an ended call is refused, not sent.
    let _ = session.bye(ByeOptions::default()).await;
    Ok(report)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let Some(target) = args.next() else {
        eprintln!("usage: call SIP-URI [DTMF] [SECONDS]");
        std::process::exit(2);
    };
    let dtmf = args.next().unwrap_or_default();
    let secs: u64 = match args.next().map(|s| s.parse()) {
        None => 5,
        Some(Ok(s)) => s,
        Some(Err(e)) => {
            eprintln!("SECONDS: {e}");
            std::process::exit(2);
        }
    };
    let ua = Ua::builder()
        .uri("sip:example@127.0.0.1")
        .udp("127.0.0.1:0".parse()?)
        .build()
        .await?;
    let report = call(&ua, &target, &dtmf, Duration::from_secs(secs)).await?;
    ua.stop().await;
    if !report.answered {
        std::process::exit(1);
    }
    Ok(())
}
