//! `sipline answer`: serves incoming calls until stopped (Ctrl-C) or `--max-calls` calls
//! ended, answering each (after an optional 180, reliable with `--rel100`, and a ring time)
//! or rejecting it with `--reject CODE`, and prints one line per call event:
//!
//! ```text
//! call 1 from sip:alice@127.0.0.1: incoming
//! call 1: accepted
//! call 1: dtmf 5
//! call 1: transfer to <sip:carol@127.0.0.1:5072> asked: following
//! call 1: transfer call answered (200)
//! call 1: the caller hung up
//! call 1: ended (Bye)
//! ```
//!
//! With `--follow-refer`, a REFER in a call is followed (RFC 3515): the Refer-To target is
//! called and the referrer gets NOTIFYs of that call's progress; the call ends when both
//! calls ended.
//!
//! Exit status: 0 when every call ended normally (answered and ended with a BYE, or rejected
//! as `--reject` asked; a followed transfer answered and ended with a BYE); 1 otherwise (a call canceled by the caller, not acknowledged,
//! failed, or cut by Ctrl-C); 2 when the command line or the setup is wrong.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use sipline::{
    AcceptOptions, ByeOptions, Cause, HeaderName, InviteOptions, NullSink, ProgressOptions,
    RejectOptions, Rel100, Request, Session, SessionEvent, SilenceSource, StatusCode, UaEvent,
};
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, Sleep};

use crate::common::{self, CliError, Recorder, UaArgs, UaNeeds};

/// What `--media` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum MediaMode {
    /// Play `--play` and record `--record`, over WebRTC or plain RTP as the offer asks.
    Normal,
    /// For signalling load tests: the SDP answer declines the offered streams (port 0, RFC
    /// 3264 §6) and no RTP is sent or received (`--play` and `--record` are ignored).
    None,
}

/// Arguments of `sipline answer`.
#[derive(Debug, Args)]
pub(crate) struct AnswerArgs {
    /// The user agent's options.
    #[command(flatten)]
    pub(crate) ua: UaArgs,

    /// Exit after this many calls ended [default: serve until Ctrl-C]. Calls beyond it get
    /// 486 Busy Here.
    #[arg(long, value_name = "N")]
    pub(crate) max_calls: Option<u64>,

    /// Reject every call with this status (300-699), e.g. 486 or 603.
    #[arg(long, value_name = "CODE", value_parser = parse_reject)]
    pub(crate) reject: Option<StatusCode>,

    /// Send 180 Ringing before answering.
    #[arg(long)]
    pub(crate) progress: bool,

    /// Send the 180 reliably (RFC 3262, 100rel; implies --progress).
    #[arg(long)]
    pub(crate) rel100: bool,

    /// Ring this long before answering (500ms, 1s).
    #[arg(long, value_name = "DURATION", value_parser = common::parse_duration)]
    pub(crate) ring_for: Option<Duration>,

    /// Hang up each call this long after it was answered [default: wait for the caller's
    /// BYE].
    #[arg(long, value_parser = common::parse_duration)]
    pub(crate) duration: Option<Duration>,

    /// `none`: play silence and drop what arrives, for signalling load tests.
    #[arg(long, value_enum, default_value = "normal")]
    pub(crate) media: MediaMode,

    /// Follow a transfer (REFER) in a call: call its Refer-To target and report that call's
    /// progress to the caller in NOTIFYs [default: only print the REFER].
    #[arg(long)]
    pub(crate) follow_refer: bool,
}

fn parse_reject(s: &str) -> Result<StatusCode, String> {
    s.trim()
        .parse::<u16>()
        .ok()
        .filter(|c| (300..700).contains(c))
        .and_then(StatusCode::new)
        .ok_or_else(|| format!("{s:?}: a status code from 300 to 699, e.g. 486"))
}

/// What every call handler needs.
struct CallConfig {
    reject: Option<StatusCode>,
    progress: bool,
    rel100: bool,
    ring_for: Option<Duration>,
    duration: Option<Duration>,
    media: MediaMode,
    play: Option<String>,
    record: Option<PathBuf>,
    video_play: Option<PathBuf>,
    video_record: Option<PathBuf>,
    video_fps: f64,
    follow_refer: bool,
}

/// Runs `sipline answer`.
pub(crate) async fn run(args: AnswerArgs) -> ExitCode {
    common::init_tracing(args.ua.trace);
    match serve(&args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => e.exit(),
    }
}

async fn serve(args: &AnswerArgs) -> Result<bool, CliError> {
    if args.max_calls == Some(0) {
        return common::err("--max-calls must be at least 1");
    }
    // Fail on a bad --play before listening.
    if args.media == MediaMode::Normal {
        common::audio_source(args.ua.play.as_deref())?;
        common::video_source(args.ua.video_play.as_deref(), args.ua.video_fps)?;
    }
    let needs = UaNeeds {
        rel100: if args.rel100 {
            Rel100::Supported
        } else {
            Rel100::None
        },
        ..UaNeeds::default()
    };
    let ua = common::build_ua(&args.ua, needs).await?;
    let cfg = Arc::new(CallConfig {
        reject: args.reject,
        progress: args.progress || args.rel100,
        rel100: args.rel100,
        ring_for: args.ring_for,
        duration: args.duration,
        media: args.media,
        play: args.ua.play.clone(),
        record: args.ua.record.clone(),
        video_play: args.ua.video_play.clone(),
        video_record: args.ua.video_record.clone(),
        video_fps: args.ua.video_fps,
        follow_refer: args.follow_refer,
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut ctrl_c = common::interrupts();
    // Each call's task reports its end here (a JoinSet would keep an entry per call).
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<bool>();
    let (mut started, mut ended, mut all_ok) = (0u64, 0u64, true);
    loop {
        if args.max_calls.is_some_and(|m| ended >= m) {
            break;
        }
        tokio::select! {
            ev = ua.next_event() => match ev {
                None => {
                    println!("the user agent stopped");
                    all_ok = false;
                    break;
                }
                Some(UaEvent::Invite(session)) => {
                    if args.max_calls.is_some_and(|m| started >= m) {
                        let from = session.remote_identity().unwrap_or_default();
                        println!("call from {from}: busy (--max-calls reached)");
                        let opts = RejectOptions {
                            status_code: StatusCode::BUSY_HERE,
                            ..RejectOptions::default()
                        };
                        let _ = session.reject(opts).await;
                        continue;
                    }
                    started += 1;
                    let done = Done {
                        tx: done_tx.clone(),
                        ok: false,
                    };
                    tokio::spawn(handle(done, started, session, Arc::clone(&cfg), stop_rx.clone()));
                }
                Some(UaEvent::Registered { expires }) => {
                    println!("registered (expires in {expires} s)");
                }
                Some(UaEvent::RegistrationFailed { status, reason }) => {
                    match status {
                        Some(s) => println!("registration failed: {s} {reason}"),
                        None => println!("registration failed: {reason}"),
                    }
                }
                Some(_) => {}
            },
            Some(ok) = done_rx.recv() => {
                ended += 1;
                all_ok &= ok;
            }
            _ = ctrl_c.recv() => {
                println!("stopping: hanging up {} call(s)", started - ended);
                let _ = stop_tx.send(true);
                break;
            }
        }
    }
    // The calls still going end now (Ctrl-C), or have ended (--max-calls).
    let _ = stop_tx.send(true);
    let wait = tokio::time::timeout(Duration::from_secs(10), async {
        while ended < started {
            match done_rx.recv().await {
                Some(ok) => {
                    ended += 1;
                    all_ok &= ok;
                }
                None => break,
            }
        }
    })
    .await;
    if wait.is_err() {
        println!("some calls did not end within 10 s");
        all_ok = false;
    }
    common::stop(&ua, args.ua.register).await;
    Ok(all_ok)
}

/// The recording file of call `n`: `--record` (`--video-record`) itself for the first,
/// `NAME-n.EXT` after.
fn record_path(path: &Path, n: u64) -> PathBuf {
    if n == 1 {
        return path.to_owned();
    }
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = path
        .extension()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "wav".to_owned());
    path.with_file_name(format!("{stem}-{n}.{ext}"))
}

/// Reports the end of a call's task to `serve`: its result, or `false` if the task
/// panicked (the report goes when the task's state is dropped, in any case).
struct Done {
    tx: mpsc::UnboundedSender<bool>,
    ok: bool,
}

impl Done {
    fn set(&mut self, ok: bool) {
        self.ok = ok;
    }
}

impl Drop for Done {
    fn drop(&mut self) {
        let _ = self.tx.send(self.ok);
    }
}

/// Serves one call; reports to `done` whether it ended normally.
///
/// Its future lives as long as the call, one per call: what it awaits only once or rarely
/// (reject, progress, accept, bye, a transfer) is boxed, so the task keeps the size of the
/// wait for events (~1 KB) rather than of the largest of those steps (~3 KB before).
// An async fn would copy its arguments into the future's state twice (the call's task
// would grow by a size class).
#[allow(clippy::manual_async_fn)]
fn handle(
    mut done: Done,
    n: u64,
    mut session: Session,
    cfg: Arc<CallConfig>,
    mut stop: watch::Receiver<bool>,
) -> impl Future<Output = ()> {
    async move {
        let ok = async {
            {
                let from = session.remote_identity().unwrap_or_else(|| "?".into());
                println!("call {n} from {from}: incoming");
            }
            if let Some(code) = cfg.reject {
                return Box::pin(reject(n, &mut session, code)).await;
            }
            if cfg.progress {
                let opts = ProgressOptions {
                    rel100: cfg.rel100,
                    ..ProgressOptions::default()
                };
                match Box::pin(session.progress(opts)).await {
                    Ok(()) if cfg.rel100 && offers_100rel(&session) => {
                        println!("call {n}: ringing (180, reliable)");
                    }
                    Ok(()) => println!("call {n}: ringing (180)"),
                    Err(e) => println!("call {n}: 180 failed: {e}"),
                }
            }
            if let Some(ring) = cfg.ring_for {
                let until = Instant::now() + ring;
                loop {
                    tokio::select! {
                        () = tokio::time::sleep_until(until) => break,
                        ev = next_event(&mut session) => match ev.as_deref() {
                            Some(SessionEvent::Terminated { cause }) => {
                                println!("call {n}: ended ({cause:?})");
                                return false;
                            }
                            None => return false,
                            Some(ev) => report(n, ev),
                        },
                        _ = stop.changed() => {
                            println!("call {n}: declined (stopping)");
                            let _ = Box::pin(session.reject(RejectOptions::default())).await;
                            return false;
                        }
                    }
                }
            }
            let recorder = match (&cfg.record, cfg.media) {
                (Some(path), MediaMode::Normal) => match Recorder::create(&record_path(path, n)) {
                    Ok(r) => Some(r),
                    Err(e) => {
                        println!("call {n}: {e}");
                        None
                    }
                },
                _ => None,
            };
            let opts = match cfg.media {
                MediaMode::None => AcceptOptions {
                    media: sipline::MediaConstraints {
                        audio: false,
                        video: false,
                    },
                    ..AcceptOptions::default()
                },
                MediaMode::Normal => AcceptOptions {
                    audio_source: match common::audio_source(cfg.play.as_deref()) {
                        Ok(s) => s,
                        Err(e) => {
                            println!("call {n}: {e}");
                            Box::new(SilenceSource::new(common::RATE))
                        }
                    },
                    audio_sink: match &recorder {
                        Some(r) => r.sink(),
                        None => Box::new(NullSink::new(common::RATE)),
                    },
                    media: sipline::MediaConstraints {
                        audio: true,
                        video: cfg.video_play.is_some() || cfg.video_record.is_some(),
                    },
                    video_source: common::video_source(cfg.video_play.as_deref(), cfg.video_fps)
                        .unwrap_or_else(|e| {
                            println!("call {n}: {e}");
                            None
                        }),
                    video_sink: common::video_recorder(
                        cfg.video_record
                            .as_deref()
                            .map(|p| record_path(p, n))
                            .as_deref(),
                    )
                    .unwrap_or_else(|e| {
                        println!("call {n}: {e}");
                        None
                    }),
                    ..AcceptOptions::default()
                },
            };
            // The error is not kept across the reject below: the task's size is per call.
            let refused = match Box::pin(session.accept(opts)).await {
                Ok(()) => None,
                Err(e) => {
                    println!("call {n}: accept failed: {e}");
                    Some(matches!(e, sipline::Error::Media(_)))
                }
            };
            if let Some(media) = refused {
                // An offer we cannot answer (no common codec, a profile we lack): 488 Not
                // Acceptable Here (RFC 3261 §21.4.26) rather than the 480 of a dropped call.
                if media {
                    Box::pin(reject(n, &mut session, StatusCode::NOT_ACCEPTABLE_HERE)).await;
                }
                return false;
            }
            let ok = converse(n, &mut session, &cfg, &mut stop).await;
            if let Some(r) = &recorder {
                r.finish();
            }
            ok
        }
        .await;
        done.set(ok);
    }
}

/// Rejects the call with `code` and waits (at most 5 s) for the ACK; true when the response
/// went out.
async fn reject(n: u64, session: &mut Session, code: StatusCode) -> bool {
    let opts = RejectOptions {
        status_code: code,
        ..RejectOptions::default()
    };
    if let Err(e) = session.reject(opts).await {
        println!("call {n}: reject failed: {e}");
        return false;
    }
    println!("call {n}: rejected with {code} {}", code.canonical_reason());
    // Absorb the ACK before the process may exit.
    let end = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(ev) = session.next_event().await {
            if let SessionEvent::Terminated { cause } = ev {
                println!("call {n}: ended ({cause:?})");
                break;
            }
        }
    });
    let _ = end.await;
    true
}

/// Prints the call's media statistics (when it has media) before it ends.
async fn print_media(n: u64, session: &Session) {
    if let Some(s) = session.stats().await {
        println!("call {n}: {}", common::media_summary(&s));
    }
}

/// Whether the INVITE supports or requires reliable provisional responses (RFC 3262).
fn offers_100rel(session: &Session) -> bool {
    session.request().is_some_and(|r| {
        r.headers
            .values(HeaderName::Supported)
            .chain(r.headers.values(HeaderName::Require))
            .any(|v| v.trim().eq_ignore_ascii_case("100rel"))
    })
}

/// The call's next event, boxed: a `select!` keeps its output for as long as an arm runs,
/// and a per-call task holds every slot its awaits need, so an inline `SessionEvent`
/// (~230 B) would enlarge every call's task.
async fn next_event(session: &mut Session) -> Option<Box<SessionEvent>> {
    session.next_event().await.map(Box::new)
}

/// Prints a call event that needs no action.
fn report(n: u64, ev: &SessionEvent) {
    match ev {
        SessionEvent::Accepted { .. } => println!("call {n}: accepted"),
        SessionEvent::Dtmf { tone, .. } => println!("call {n}: dtmf {tone}"),
        SessionEvent::Cancel => println!("call {n}: canceled by the caller"),
        SessionEvent::Bye { .. } => println!("call {n}: the caller hung up"),
        SessionEvent::Refer { request } => println!(
            "call {n}: transfer to {} asked (not followed)",
            request.headers.get(HeaderName::ReferTo).unwrap_or("?")
        ),
        SessionEvent::Failed { code, cause, .. } => match code {
            Some(c) => println!("call {n}: failed: {c} ({cause:?})"),
            None => println!("call {n}: failed ({cause:?})"),
        },
        _ => {}
    }
}

/// The answered call, until it ends; true when it was confirmed and ended with a BYE.
async fn converse(
    n: u64,
    session: &mut Session,
    cfg: &CallConfig,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let mut confirmed = false;
    let mut hung_up = false;
    // Boxed, and only with --duration: a timer is ~110 B that every call's task would carry.
    let mut deadline: Option<Pin<Box<Sleep>>> = None;
    let mut transfers = Vec::new();
    let ok = loop {
        let ev = tokio::select! {
            ev = next_event(session) => ev,
            () = async {
                match deadline.as_mut() {
                    Some(sleep) => sleep.await,
                    None => std::future::pending().await,
                }
            } => {
                deadline = None;
                println!("call {n}: hanging up (duration reached)");
                Box::pin(print_media(n, session)).await;
                hung_up = true;
                if let Err(e) = Box::pin(session.bye(ByeOptions::default())).await {
                    println!("call {n}: hang-up failed: {e}");
                }
                continue;
            }
            r = stop.changed(), if !hung_up => {
                hung_up = true;
                if r.is_ok() {
                    println!("call {n}: hanging up (stopping)");
                    let _ = Box::pin(session.terminate()).await;
                }
                continue;
            }
        };
        match ev.as_deref() {
            None => break false,
            Some(SessionEvent::Terminated { cause }) => {
                println!("call {n}: ended ({cause:?})");
                break confirmed && *cause == Cause::Bye && !*stop.borrow();
            }
            Some(SessionEvent::Refer { request }) if cfg.follow_refer => {
                if let Some(t) = Box::pin(follow(n, session, request, stop.clone())).await {
                    transfers.push(t);
                }
            }
            Some(ev) => {
                if matches!(ev, SessionEvent::Accepted { .. }) {
                    confirmed = true;
                    deadline = cfg.duration.map(|d| Box::pin(tokio::time::sleep(d)));
                }
                report(n, ev);
                if matches!(ev, SessionEvent::Bye { .. }) {
                    Box::pin(print_media(n, session)).await;
                }
            }
        }
    };
    // The transferred calls end by themselves (or on Ctrl-C).
    let mut all_ok = ok;
    for t in transfers {
        all_ok &= t.await.unwrap_or(false);
    }
    all_ok
}

/// Follows a REFER (`--follow-refer`): calls its target; the task following that call, or
/// None when it could not be placed.
async fn follow(
    n: u64,
    session: &Session,
    refer: &Request,
    stop: watch::Receiver<bool>,
) -> Option<tokio::task::JoinHandle<bool>> {
    let to = refer.headers.get(HeaderName::ReferTo).unwrap_or("?");
    println!("call {n}: transfer to {to} asked: following");
    match session.follow_refer(refer, InviteOptions::default()).await {
        Ok(call) => Some(tokio::spawn(transferred(n, call, stop))),
        Err(e) => {
            println!("call {n}: transfer failed: {e}");
            None
        }
    }
}

/// The call placed to follow a REFER, until it ends; true when it was answered and ended
/// with a BYE.
async fn transferred(n: u64, mut call: Session, mut stop: watch::Receiver<bool>) -> bool {
    let mut answered = false;
    let mut stopping = false;
    loop {
        let ev = tokio::select! {
            ev = call.next_event() => ev,
            r = stop.changed(), if !stopping => {
                stopping = true;
                if r.is_ok() && *stop.borrow() {
                    println!("call {n}: hanging up the transfer call (stopping)");
                    let _ = call.terminate().await;
                }
                continue;
            }
        };
        match ev {
            None => return false,
            Some(SessionEvent::Progress { response }) => {
                println!("call {n}: transfer call progress ({})", response.status);
            }
            Some(SessionEvent::Accepted { code, .. }) => {
                answered = true;
                println!("call {n}: transfer call answered ({code})");
            }
            Some(SessionEvent::Rejected { response, .. }) => {
                println!("call {n}: transfer call rejected ({})", response.status);
            }
            Some(SessionEvent::Bye { .. }) => println!("call {n}: the transfer target hung up"),
            Some(SessionEvent::Terminated { cause }) => {
                println!("call {n}: transfer call ended ({cause:?})");
                return answered && cause == Cause::Bye && !stopping;
            }
            Some(_) => {}
        }
    }
}
