//! `sipline`: the command-line front end of the sipline SIP user agent.
//!
//! Subcommands:
//!
//! - `sipline parse [--json] FILE|-`: parses one SIP message (from `FILE`, or standard input
//!   for `-`), runs the full check (`Message::validate`) and prints a summary of it, as aligned
//!   `key: value` lines or, with `--json`, as one JSON object.
//!
//!   Exit status: 0 on success, 1 when the message is invalid, 2 when the input cannot be
//!   read (or exceeds the input size limit) or the command line is wrong.
//! - `sipline call TARGET [OPTIONS]`: places one call (see [`call`]); exit status 0 when it
//!   was answered and ended normally, 1 when it failed.
//! - `sipline answer [OPTIONS]`: answers (or rejects) incoming calls until Ctrl-C or
//!   `--max-calls` (see [`answer`]); exit status 0 when every call ended normally.
//! - `sipline serve [--listen ..] [--users FILE] [--domain D] [--tls-cert/--tls-key]
//!   [--trace]`: a registrar and proxy (see [`serve`]) until Ctrl-C (exit 0); exit 2 when
//!   a port is in use or a file is unreadable.
//! - `sipline demo [--webrtc] [--json] [--keep] [--trace]`: three user agents in one process
//!   play a scripted call through the whole session API and check it (see [`demo`]); exit
//!   status 0 when every check passed, 1 when one failed.
//!
//! `call` and `answer` share the user-agent options: `--listen udp:|tcp:|tls:|ws:|wss:HOST:PORT`
//! (repeatable), `--uri`, `--tls-cert/--tls-key/--tls-ca`, `--proxy`, `--register` with
//! `--registrar/--user/--password`, `--play tone:HZ|FILE.wav`, `--record FILE.wav`,
//! `--video-play FILE.ivf|FILE.h264` and `--video-record FILE.ivf|FILE.h264` (encoded video
//! passed through over WebRTC, VP8 or H.264, no re-encoding; `--video-fps` for Annex B input)
//! and `--trace` (each SIP message on standard error). Both exit with status 2 when the command
//! line or the setup (a port in use, an unreadable file) is wrong.

mod answer;
mod call;
mod common;
mod demo;
mod parse;
mod serve;
mod web;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The sipline command line.
#[derive(Debug, Parser)]
#[command(name = "sipline", version, about = "sipline: a SIP user agent toolkit")]
struct Cli {
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Parse and validate one SIP message and print a summary of it.
    Parse(parse::ParseArgs),
    /// Call someone: play, record, send DTMF, transfer, hang up after a duration.
    Call(call::CallArgs),
    /// Answer (or reject) incoming calls and print one line per call event.
    Answer(answer::AnswerArgs),
    /// Serve the browser phone page alone (used by tests until `sipline serve --web`).
    #[command(hide = true)]
    Web(web::WebArgs),
    /// Run a registrar and proxy (RFC 3261 §10, §16) on UDP/TCP/WS (TLS/WSS with a
    /// certificate): default udp:127.0.0.1:5060, tcp:127.0.0.1:5060, ws:127.0.0.1:5066.
    Serve(serve::ServeArgs),
    // The help text (short and long) is DemoArgs's own: a doc comment here would replace it.
    Demo(demo::DemoArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Parse(args) => parse::run(&args),
        Command::Call(args) => with_runtime(|| call::run(args)),
        Command::Answer(args) => with_runtime(|| answer::run(args)),
        Command::Web(args) => with_runtime(|| web::run(args)),
        Command::Serve(args) => with_runtime(|| serve::run(args)),
        Command::Demo(args) => with_runtime(|| demo::run(args)),
    }
}

/// Runs a command on a single-threaded tokio runtime: the SIP driver, the transports, the
/// dispatcher and the call tasks hand messages to each other without waking other threads
/// (on two worker threads, 7.7 futex wake-ups per call cost ~45% more CPU per call in the
/// sipp load benchmark).
fn with_runtime<F, Fut>(f: F) -> ExitCode
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ExitCode>,
{
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => {
            let code = rt.block_on(f());
            // Tasks still running (media, timers) must not hold the exit up.
            rt.shutdown_timeout(std::time::Duration::from_millis(500));
            code
        }
        Err(e) => {
            eprintln!("sipline: cannot start the async runtime: {e}");
            ExitCode::from(2)
        }
    }
}
