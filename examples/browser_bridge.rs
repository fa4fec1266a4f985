//! A browser-to-phone bridge (a small back-to-back user agent): browsers running SIP.js or
//! JsSIP call it over WebSocket with WebRTC media (ICE, DTLS-SRTP, Opus), and it calls a
//! classic SIP phone or server over UDP with plain RTP (G.711) and passes the audio and the
//! DTMF between the two calls, with no media gateway in between. Either side hanging up ends
//! both calls.
//!
//! ```sh
//! # browsers connect to ws://127.0.0.1:8088 and call anyone; the bridge calls the phone
//! cargo run -p sipline-examples --example browser_bridge -- 127.0.0.1:8088 sip:phone@127.0.0.1:5070
//! ```

use std::sync::mpsc::Sender;
use std::time::Duration;

use sipline::{
    AcceptOptions, AudioSink, ByeOptions, ChannelSource, DtmfOptions, DtmfTransport, InviteOptions,
    MediaChoice, RejectOptions, Session, SessionEvent, StatusCode, Ua, UaEvent,
};

/// The sample rate PCM crosses the bridge at (both legs resample to and from it).
const RATE: u32 = 8000;

/// A sink that plays what one leg hears into the other leg's source.
struct Forward(Sender<Vec<i16>>);

impl AudioSink for Forward {
    fn sample_rate(&self) -> u32 {
        RATE
    }

    fn write(&mut self, frame: &[i16]) {
        // The other leg may be gone already; its audio then goes nowhere.
        let _ = self.0.send(frame.to_vec());
    }
}

/// Bridges each call `ua` receives to `phone`, until `max_calls` calls (all, if `None`)
/// have ended. Returns how many calls were bridged (answered at both ends).
pub async fn serve(
    ua: Ua,
    phone: String,
    max_calls: Option<usize>,
) -> Result<usize, sipline::Error> {
    let mut calls = tokio::task::JoinSet::new();
    let (mut taken, mut bridged) = (0, 0);
    while max_calls.is_none_or(|m| taken < m) {
        tokio::select! {
            event = ua.next_event() => match event {
                Some(UaEvent::Invite(browser)) => {
                    taken += 1;
                    calls.spawn(bridge(ua.clone(), browser, phone.clone()));
                }
                Some(_) => {}
                None => break,
            },
            Some(done) = calls.join_next() => bridged += usize::from(matches!(done, Ok(Ok(true)))),
        }
    }
    while let Some(done) = calls.join_next().await {
        bridged += usize::from(matches!(done, Ok(Ok(true))));
    }
    Ok(bridged)
}

/// One bridged call; `Ok(true)` when both legs were answered.
async fn bridge(ua: Ua, mut browser: Session, phone: String) -> Result<bool, sipline::Error> {
    let who = browser.remote_identity().unwrap_or_default();
    println!("{who} calls; calling {phone}");
    // Each leg's sink feeds the other leg's source.
    let (to_phone, into_phone) = ChannelSource::new(RATE);
    let (to_browser, into_browser) = ChannelSource::new(RATE);
    let mut phone_leg = ua
        .invite(
            &phone,
            InviteOptions {
                media: MediaChoice::Rtp,
                audio_source: Box::new(to_phone),
                audio_sink: Box::new(Forward(into_browser)),
                ..InviteOptions::default()
            },
        )
        .await?;
    // Wait for the phone to answer before answering the browser.
    loop {
        match phone_leg.next_event().await {
            Some(SessionEvent::Accepted { .. }) => break,
            Some(SessionEvent::Failed { code, .. }) => {
                let status = code
                    .filter(|c| c.as_u16() >= 400)
                    .unwrap_or(StatusCode::TEMPORARILY_UNAVAILABLE);
                println!("{phone} did not answer ({status}); rejecting {who}");
                browser
                    .reject(RejectOptions {
                        status_code: status,
                        ..RejectOptions::default()
                    })
                    .await?;
                return Ok(false);
            }
            Some(_) => {}
            None => return Ok(false),
        }
    }
    browser
        .accept(AcceptOptions {
            audio_source: Box::new(to_browser),
            audio_sink: Box::new(Forward(into_phone)),
            ..AcceptOptions::default()
        })
        .await?;
    println!("{who} <-> {phone} bridged");
    // Relay DTMF and hang-ups until both legs have ended.
    let (mut browser_done, mut phone_done) = (false, false);
    while !(browser_done && phone_done) {
        tokio::select! {
            e = browser.next_event(), if !browser_done => match e {
                Some(SessionEvent::Dtmf { tone, .. }) => {
                    let opts = DtmfOptions { transport: DtmfTransport::Rtp, ..DtmfOptions::default() };
                    let _ = phone_leg.dtmf(&tone.to_string(), opts).await;
                }
                Some(SessionEvent::Terminated { .. }) | None => {
                    browser_done = true;
                    let _ = phone_leg.bye(ByeOptions::default()).await;
                }
                Some(_) => {}
            },
            e = phone_leg.next_event(), if !phone_done => match e {
                Some(SessionEvent::Dtmf { tone, .. }) => {
                    let _ = browser.dtmf(&tone.to_string(), DtmfOptions::default()).await;
                }
                Some(SessionEvent::Terminated { .. }) | None => {
                    phone_done = true;
                    let _ = browser.bye(ByeOptions::default()).await;
                }
                Some(_) => {}
            },
            () = tokio::time::sleep(Duration::from_secs(3600)) => break,
        }
    }
    println!("{who} <-> {phone} ended");
    Ok(true)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(ws), Some(phone)) = (args.next(), args.next()) else {
        eprintln!("usage: browser_bridge WS-HOST:PORT PHONE-SIP-URI");
        std::process::exit(2);
    };
    let ua = Ua::builder()
        .uri(format!("sip:bridge@{ws}"))
        .ws(ws.parse()?)
        .udp("127.0.0.1:0".parse()?)
        .build()
        .await?;
    println!("browsers: connect to ws://{ws}; calls go to {phone}; Ctrl-C stops");
    tokio::select! {
        r = serve(ua.clone(), phone, None) => { r?; }
        _ = tokio::signal::ctrl_c() => {}
    }
    ua.stop().await;
    Ok(())
}
