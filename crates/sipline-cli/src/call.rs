//! `sipline call TARGET`: places one call, plays and records, sends DTMF or transfers after
//! the answer, hangs up after `--duration` (or on Ctrl-C, or when the peer does).
//!
//! Exit status: 0 when the call was answered and ended normally (a BYE, ours or the
//! peer's); 1 when it failed (the status and cause are printed); 2 when the command line or
//! the setup is wrong.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, ValueEnum};
use sipline::{
    ByeOptions, Cause, DtmfOptions, DtmfTransport, HeaderName, InviteOptions, ReferOptions, Rel100,
    Response, Session, SessionEvent,
};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::common::{self, CliError, Recorder, UaArgs, UaNeeds};

/// How `--dtmf` tones travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum DtmfMode {
    /// SIP INFO with application/dtmf-relay.
    Info,
    /// RFC 4733 telephone-event packets in the RTP stream.
    Rfc4733,
}

/// What `sipline call --media` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OfferMedia {
    /// WebRTC over WebSocket, plain RTP otherwise.
    Auto,
    /// Plain RTP/AVP (G.711, RFC 4733 events).
    Rtp,
    /// WebRTC (ICE, DTLS-SRTP, Opus, G.711, RFC 4733 events).
    Webrtc,
}

impl From<OfferMedia> for sipline::MediaChoice {
    fn from(m: OfferMedia) -> Self {
        match m {
            OfferMedia::Auto => sipline::MediaChoice::Auto,
            OfferMedia::Rtp => sipline::MediaChoice::Rtp,
            OfferMedia::Webrtc => sipline::MediaChoice::WebRtc,
        }
    }
}

/// Arguments of `sipline call`.
#[derive(Debug, Args)]
pub(crate) struct CallArgs {
    /// Who to call: a sip: URI (`sip:bob@127.0.0.1:5070`, `;transport=tcp|tls|ws|wss`).
    pub(crate) target: String,

    /// The user agent's options.
    #[command(flatten)]
    pub(crate) ua: UaArgs,

    /// Hang up this long after the answer (500ms, 5s, 1m) [default: wait for the peer's
    /// BYE; Ctrl-C hangs up].
    #[arg(long, value_parser = common::parse_duration)]
    pub(crate) duration: Option<Duration>,

    /// Send these DTMF tones after the answer (0-9 * # A-D; `,` pauses 2 s).
    #[arg(long, value_name = "TONES")]
    pub(crate) dtmf: Option<String>,

    /// How to send --dtmf.
    #[arg(long, value_enum, default_value = "info")]
    pub(crate) dtmf_mode: DtmfMode,

    /// The media the offer carries: `webrtc` (ICE, DTLS-SRTP, Opus: what browsers speak),
    /// `rtp` (plain RTP/AVP, G.711: classic SIP phones and servers), or `auto` (WebRTC when
    /// the target is reached over WebSocket, plain RTP otherwise).
    #[arg(long, value_enum, default_value = "auto")]
    pub(crate) media: OfferMedia,

    /// Transfer the call after the answer (blind, REFER): the peer is asked to call this
    /// URI; we hang up when the transfer succeeded.
    #[arg(long, value_name = "URI")]
    pub(crate) refer: Option<String>,
}

/// What woke the call loop.
enum Step {
    Event(Option<Box<SessionEvent>>),
    Interrupt,
    Deadline,
}

/// What cut the actions after the answer short.
enum Cut {
    Interrupt,
    Deadline,
}

/// Runs `sipline call`.
pub(crate) async fn run(args: CallArgs) -> ExitCode {
    common::init_tracing(args.ua.trace);
    match call(&args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => e.exit(),
    }
}

fn status_line(r: &Response) -> String {
    let reason = if r.reason.is_empty() {
        r.status.canonical_reason()
    } else {
        &r.reason
    };
    format!("{} {reason}", r.status)
}

async fn call(args: &CallArgs) -> Result<bool, CliError> {
    let target = common::target_uri(&args.target);
    let needs = UaNeeds {
        transports: vec![common::uri_transport(&target)],
        default_registrar: Some(format!("sip:{}", common::uri_hostport(&target))),
        // Offer 100rel (RFC 3262): reliable provisional responses are PRACKed.
        rel100: Rel100::Supported,
    };
    if let Some(tones) = &args.dtmf
        && let Some(bad) = tones
            .chars()
            .find(|c| !matches!(c, '0'..='9' | '*' | '#' | 'A'..='D' | 'a'..='d' | ','))
    {
        return common::err(format!(
            "--dtmf {tones}: {bad:?} is not a DTMF tone (0-9 * # A-D, `,` to pause)"
        ));
    }
    let source = common::audio_source(args.ua.play.as_deref())?;
    let recorder = args
        .ua
        .record
        .as_deref()
        .map(Recorder::create)
        .transpose()?;
    let video_source = common::video_source(args.ua.video_play.as_deref(), args.ua.video_fps)?;
    let video_sink = common::video_recorder(args.ua.video_record.as_deref())?;
    let ua = common::build_ua(&args.ua, needs).await?;
    let sink = match &recorder {
        Some(r) => r.sink(),
        None => Box::new(sipline::NullSink::new(common::RATE)),
    };
    let opts = InviteOptions {
        audio_source: source,
        audio_sink: sink,
        media: args.media.into(),
        video_source,
        video_sink,
        ..InviteOptions::default()
    };
    let session = match ua.invite(&target, opts).await {
        Ok(s) => s,
        Err(sipline::Error::InvalidArgument(e)) => return common::err(e),
        Err(e) => {
            println!("call failed: {e}");
            return Ok(false);
        }
    };
    println!("calling {target}");
    let ok = follow(session, args).await;
    if let Some(r) = &recorder {
        r.finish();
    }
    common::stop(&ua, args.ua.register).await;
    Ok(ok)
}

/// Follows the call until it ends; true when it was answered and ended with a BYE.
async fn follow(mut session: Session, args: &CallArgs) -> bool {
    let mut ctrl_c = common::interrupts();
    let mut answered = false;
    let mut hung_up = false;
    let mut failure_printed = false;
    let mut deadline: Option<Instant> = None;
    loop {
        let step = tokio::select! {
            ev = session.next_event() => Step::Event(ev.map(Box::new)),
            _ = ctrl_c.recv() => Step::Interrupt,
            _ = common::sleep_until(deadline) => Step::Deadline,
        };
        match step {
            Step::Event(None) => {
                println!("ended (the user agent stopped)");
                return false;
            }
            Step::Event(Some(ev)) => match *ev {
                SessionEvent::Progress { response } => {
                    println!("progress: {}", status_line(&response));
                }
                SessionEvent::Accepted { code, response } => {
                    answered = true;
                    match response {
                        Some(r) => println!("answered: {}", status_line(&r)),
                        None => println!("answered: {code}"),
                    }
                    deadline = args.duration.map(|d| Instant::now() + d);
                    match after_answer(&session, args, &mut ctrl_c, deadline).await {
                        Ok(()) => {}
                        Err(Cut::Interrupt) => {
                            hang_up(&session, "interrupted", &mut hung_up).await;
                        }
                        Err(Cut::Deadline) => {
                            hang_up(&session, "duration reached", &mut hung_up).await;
                            deadline = None;
                        }
                    }
                }
                SessionEvent::Rejected { response, .. } => {
                    println!("call failed: {}", status_line(&response));
                    failure_printed = true;
                }
                SessionEvent::Failed { code, cause, .. } => {
                    if !failure_printed {
                        match code {
                            Some(c) => {
                                println!("call failed: {c} {} ({cause:?})", c.canonical_reason())
                            }
                            None => println!("call failed: {cause:?}"),
                        }
                    }
                    println!("cause: {cause:?}");
                }
                SessionEvent::Dtmf { tone, .. } => println!("dtmf received: {tone}"),
                SessionEvent::ReferProgress { status, .. } => {
                    println!("transfer: {status} {}", status.canonical_reason());
                    if status.is_success() {
                        hang_up(&session, "transferred", &mut hung_up).await;
                    } else if status.is_final() {
                        println!("transfer failed; the call goes on");
                    }
                }
                SessionEvent::Refer { request } => {
                    let to = request.headers.get(HeaderName::ReferTo).unwrap_or("?");
                    println!("the peer asks for a transfer to {to} (not followed)");
                }
                SessionEvent::Bye { .. } => {
                    println!("the peer hung up");
                    if let Some(s) = session.stats().await {
                        println!("{}", common::media_summary(&s));
                    }
                }
                SessionEvent::Terminated { cause } => {
                    println!("ended ({cause:?})");
                    return answered && cause == Cause::Bye;
                }
                _ => {}
            },
            Step::Interrupt => {
                if hung_up {
                    println!("interrupted again: giving up");
                    return false;
                }
                if answered {
                    hang_up(&session, "interrupted", &mut hung_up).await;
                } else {
                    println!("interrupted: canceling");
                    hung_up = true;
                    if let Err(e) = session.cancel(sipline::CancelOptions::default()).await {
                        println!("cancel failed: {e}");
                        return false;
                    }
                }
            }
            Step::Deadline => {
                deadline = None;
                hang_up(&session, "duration reached", &mut hung_up).await;
            }
        }
    }
}

/// Sends BYE once.
async fn hang_up(session: &Session, why: &str, hung_up: &mut bool) {
    if *hung_up {
        return;
    }
    *hung_up = true;
    if let Some(s) = session.stats().await {
        println!("{}", common::media_summary(&s));
    }
    println!("hanging up ({why})");
    if let Err(e) = session.bye(ByeOptions::default()).await {
        println!("hang-up failed: {e}");
    }
}

/// The DTMF and transfer asked for, after the answer; `Err` with what interrupted them
/// (Ctrl-C or the duration's end).
async fn after_answer(
    session: &Session,
    args: &CallArgs,
    ctrl_c: &mut mpsc::UnboundedReceiver<()>,
    deadline: Option<Instant>,
) -> Result<(), Cut> {
    let actions = async {
        if let Some(tones) = &args.dtmf {
            let transport = match args.dtmf_mode {
                DtmfMode::Info => DtmfTransport::Info,
                DtmfMode::Rfc4733 => DtmfTransport::Rtp,
            };
            println!("sending dtmf {tones}");
            let opts = DtmfOptions {
                transport,
                ..DtmfOptions::default()
            };
            match session.dtmf(tones, opts).await {
                Ok(()) => println!("dtmf sent"),
                Err(e) => println!("dtmf failed: {e}"),
            }
        }
        if let Some(to) = &args.refer {
            let to = common::target_uri(to);
            println!("transferring to {to}");
            match session.refer(&to, ReferOptions::default()).await {
                Ok(()) => println!("transfer: REFER accepted"),
                Err(e) => println!("transfer failed: {e}"),
            }
        }
    };
    tokio::select! {
        () = actions => Ok(()),
        _ = ctrl_c.recv() => Err(Cut::Interrupt),
        () = common::sleep_until(deadline) => Err(Cut::Deadline),
    }
}
