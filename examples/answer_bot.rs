//! An answering bot, like a SIP.js page handling `ua.on('invite')`: it rings, answers, plays
//! a prompt (a WAV file, or an 880 Hz tone), collects DTMF digits (by INFO or RFC 4733)
//! until `#` or 10 s without a digit, says what it got, and hangs up. Calls are handled
//! concurrently.
//!
//! ```sh
//! cargo run -p sipline-examples --example answer_bot -- 127.0.0.1:5070 [PROMPT.wav]
//! ```

use std::time::Duration;

use sipline::{
    AcceptOptions, AudioSource, ByeOptions, ProgressOptions, Session, SessionEvent, ToneSource, Ua,
    UaEvent, WavSource,
};

/// How long the bot waits for the next digit.
const DIGIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Answers calls on `ua` until `max_calls` calls (all, if `None`) have ended; returns the
/// digits collected in each call, in the order the calls ended.
pub async fn serve(
    ua: Ua,
    prompt: Option<std::path::PathBuf>,
    max_calls: Option<usize>,
) -> Result<Vec<String>, sipline::Error> {
    let mut calls = tokio::task::JoinSet::new();
    let mut taken = 0;
    let mut results = Vec::new();
    while max_calls.is_none_or(|m| taken < m) {
        tokio::select! {
            event = ua.next_event() => match event {
                Some(UaEvent::Invite(session)) => {
                    taken += 1;
                    let source: Box<dyn AudioSource> = match &prompt {
                        Some(path) => match WavSource::open(path) {
                            Ok(wav) => Box::new(wav.looping(true)),
                            Err(e) => {
                                eprintln!("prompt {}: {e}", path.display());
                                Box::new(ToneSource::new(8000, 880.0, -12.0))
                            }
                        },
                        None => Box::new(ToneSource::new(8000, 880.0, -12.0)),
                    };
                    calls.spawn(handle(session, source));
                }
                Some(other) => println!("{other:?}"),
                None => break,
            },
            Some(done) = calls.join_next() => {
                if let Ok(Ok(digits)) = done { results.push(digits) }
            }
        }
    }
    while let Some(done) = calls.join_next().await {
        if let Ok(Ok(digits)) = done {
            results.push(digits);
        }
    }
    Ok(results)
}

/// One call: ring, answer with the prompt, collect digits, hang up.
async fn handle(
    mut session: Session,
    prompt: Box<dyn AudioSource>,
) -> Result<String, sipline::Error> {
    let caller = session.remote_identity().unwrap_or_default();
    println!("call from {caller}");
    session.progress(ProgressOptions::default()).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    session
        .accept(AcceptOptions {
            audio_source: prompt,
            ..AcceptOptions::default()
        })
        .await?;
    let mut digits = String::new();
    loop {
        let event = match tokio::time::timeout(DIGIT_TIMEOUT, session.next_event()).await {
            Ok(Some(e)) => e,
            Ok(None) => break,
            Err(_) => {
                println!("{caller}: no digit for {DIGIT_TIMEOUT:?}");
                session.bye(ByeOptions::default()).await?;
                continue;
            }
        };
        match event {
            SessionEvent::Dtmf { tone: '#', .. } => {
                println!("{caller} entered {digits}");
                session.bye(ByeOptions::default()).await?;
            }
            SessionEvent::Dtmf { tone, .. } => digits.push(tone),
            SessionEvent::Bye { .. } => println!("{caller} hung up"),
            SessionEvent::Terminated { cause } => {
                println!("{caller}: ended ({cause:?})");
                break;
            }
            _ => {}
        }
    }
    Ok(digits)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:5070".into());
    let prompt = args.next().map(std::path::PathBuf::from);
    let ua = Ua::builder()
        .uri(format!("sip:bot@{listen}"))
        .udp(listen.parse()?)
        .tcp(listen.parse()?)
        .build()
        .await?;
    println!("answering on udp and tcp {listen}; Ctrl-C stops");
    tokio::select! {
        r = serve(ua.clone(), prompt, None) => { r?; }
        _ = tokio::signal::ctrl_c() => {}
    }
    ua.stop().await;
    Ok(())
}
