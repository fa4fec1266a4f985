//! `sipline demo`: three user agents (alice, bob, carol) in one process on 127.0.0.1 play
//! one scripted call that goes through the whole [`sipline::Session`] API with real media,
//! check every step, and print what happened, a call ladder and a summary table.
//!
//! Exit status: 0 when every check passed, 1 when one failed (each failure says what was
//! expected and what was seen), 2 when the demo cannot start (the cause and what to do).

mod directory;
mod ear;
mod ladder;
mod out;
mod report;
mod script;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::json;
use sipline::MediaChoice;

use crate::common::CliError;

/// Arguments of `sipline demo`.
#[derive(Debug, Args)]
#[command(
    about = "Watch a complete call: alice, bob and carol on this machine, checked step by step",
    long_about = "Starts an embedded registrar and proxy and three user agents in this process, on 127.0.0.1 at ports the OS picks \
                  (nothing to configure, nothing reachable from outside), and plays one \
                  scripted call with real audio:\n\n\
                  \x20 1. alice, bob and carol register with the embedded registrar (digest auth); every \
                  request then goes through its proxy\n\
                  \x20 2. alice calls bob; bob answers 183 reliably (100rel, PRACK) with early \
                  media\n\
                  \x20 3. bob accepts\n\
                  \x20 4. DTMF: alice -> bob by RFC 4733, bob -> alice by SIP INFO\n\
                  \x20 5. bob mutes, then unmutes\n\
                  \x20 6. bob transfers alice to carol (REFER; alice follows it; NOTIFYs tell \
                  bob how it went; bob hangs up)\n\
                  \x20 7. alice and carol talk, DTMF\n\
                  \x20 8. alice hangs up (BYE)\n\
                  \x20 9. the recordings are checked: alice plays 440 Hz, bob 660 Hz, carol \
                  880 Hz, and each must hear the right tone at the right time\n\n\
                  Then it prints the call ladder (every SIP message exchanged) and a table of \
                  events, DTMF, tones heard, RTP packets and loss. It takes about 10 seconds.\n\n\
                  Exit status: 0 when every check passed, 1 when one failed, 2 when the demo \
                  cannot start."
)]
pub(crate) struct DemoArgs {
    /// Use WebRTC media between the parties (ICE, DTLS-SRTP, Opus) instead of plain RTP
    /// (G.711).
    #[arg(long)]
    pub(crate) webrtc: bool,

    /// Also print every SIP message sent and received (on standard error).
    #[arg(long)]
    pub(crate) trace: bool,

    /// Keep the recordings (alice.wav, bob.wav, carol.wav) and print where they are
    /// [default: they go to a temporary directory removed at the end].
    #[arg(long)]
    pub(crate) keep: bool,

    /// Print one JSON object per line (steps, checks, then a summary) and nothing else on
    /// standard output.
    #[arg(long)]
    pub(crate) json: bool,

    /// Make bob play a wrong tone, so the audio checks fail (to test the failure path).
    #[arg(long, hide = true)]
    pub(crate) sabotage: bool,
}

/// The tones alice, bob and carol play.
const TONES: [f32; 3] = [440.0, 660.0, 880.0];

/// Runs `sipline demo`.
pub(crate) async fn run(args: DemoArgs) -> ExitCode {
    match demo(&args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => e.exit(),
    }
}

/// A fresh directory for the recordings.
fn wav_dir() -> Result<PathBuf, CliError> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir = std::env::temp_dir().join(format!("sipline-demo-{}-{stamp}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| {
        CliError(format!(
            "cannot create {} for the recordings: {e} (point TMPDIR at a writable directory)",
            dir.display()
        ))
    })?;
    Ok(dir)
}

/// Installs the tracing output: warnings on standard error, the ladder's capture of
/// `sipline::wire`, and with `--trace` each SIP message on standard error.
fn init_tracing(trace: bool, capture: &ladder::Capture) {
    use tracing_subscriber::Layer;
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let wire = || Targets::new().with_target("sipline::wire", LevelFilter::DEBUG);
    let warnings = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_filter(LevelFilter::WARN);
    let printed = trace.then(|| crate::common::WireTrace.with_filter(wire()));
    let _ = tracing_subscriber::registry()
        .with(warnings)
        .with(ladder::CaptureLayer(capture.clone()).with_filter(wire()))
        .with(printed)
        .try_init();
}

async fn demo(args: &DemoArgs) -> Result<bool, CliError> {
    let capture = ladder::Capture::default();
    init_tracing(args.trace, &capture);
    let out = out::Out::new(out::Mode::pick(args.json));
    let media = if args.webrtc {
        MediaChoice::WebRtc
    } else {
        MediaChoice::Rtp
    };
    let wav_dir = wav_dir()?;
    out.step(&format!(
        "starting alice ({} Hz), bob ({} Hz) and carol ({} Hz) on 127.0.0.1, {} media",
        TONES[0],
        TONES[1],
        TONES[2],
        if args.webrtc { "WebRTC" } else { "plain RTP" }
    ));
    let started = match directory::start_server().await {
        Ok(server) => match server.local_addr(sipline::TransportKind::Udp) {
            Some(addr) => {
                out.step(&format!(
                    "embedded registrar and proxy for {} on udp:{addr}",
                    directory::DOMAIN
                ));
                match script::start_uas(addr).await {
                    Ok(uas) => Ok((server, addr, uas)),
                    Err(e) => Err(e),
                }
            }
            None => Err("the embedded server has no UDP address".to_owned()),
        },
        Err(e) => Err(e),
    };
    let (server, server_addr, uas) = match started {
        Ok(started) => started,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&wav_dir);
            return Err(CliError(e));
        }
    };
    let cfg = script::Config {
        media,
        tones: TONES,
        bob_plays: if args.sabotage { 600.0 } else { TONES[1] },
        wav_dir: wav_dir.clone(),
    };
    let outcome = script::play(&cfg, &out, server_addr, &uas, &capture).await;
    for ua in &uas {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), ua.stop()).await;
    }
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), server.shutdown()).await;
    let names = directory::COLUMNS;
    let messages = capture.messages();
    let (closing, ok) = report::verdict(&outcome.checks);
    if out.json() {
        out.json_line(&json!({
            "event": "summary",
            "passed": ok,
            "verdict": closing,
            "media": if args.webrtc { "webrtc" } else { "rtp" },
            "checks": outcome.checks.iter().map(report::Check::to_json).collect::<Vec<_>>(),
            "table": outcome.rows.iter().map(report::Row::to_json).collect::<Vec<_>>(),
            "ladder": messages.iter().map(|m| json!({
                "t": out::round_ms(m.at.saturating_duration_since(out.start()).as_secs_f64()),
                "from": names.get(m.from),
                "to": names.get(m.to),
                "message": m.label,
            })).collect::<Vec<_>>(),
            "recordings": args.keep.then(|| wav_dir.display().to_string()),
        }));
    } else {
        out.print("");
        out.print("call ladder (every SIP message, as received):");
        out.print(&ladder::render(&names, &messages, out.start()));
        out.print("");
        out.print(&report::table(&outcome.rows));
        out.print(
            "(heard: the tone in the talk phase; rtp: packets, lost per RFC 3550; setup: from \
             the INVITE to the first answer with media, bob's 183 and carol's 200)",
        );
        out.print("");
        out.print("checks:");
        for c in &outcome.checks {
            out.print(&c.line());
        }
        out.print("");
        if args.keep {
            out.print(&format!(
                "recordings kept: {}",
                outcome
                    .wavs
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
        }
        out.print(&closing);
    }
    if !args.keep {
        let _ = std::fs::remove_dir_all(&wav_dir);
    }
    Ok(ok)
}
