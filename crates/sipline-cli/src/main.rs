//! `sipline`: the command-line front end of the sipline SIP user agent.
//!
//! Subcommands:
//!
//! - `sipline parse [--json] FILE|-`: parses one SIP message (from `FILE`, or standard input
//!   for `-`), runs the full check (`Message::validate`) and prints a summary of it, as aligned
//!   `key: value` lines or, with `--json`, as one JSON object.
//!
//! Exit status: 0 on success, 1 when the message is invalid, 2 when the input cannot be read
//! (or exceeds the input size limit) or the command line is wrong.

mod parse;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Parse(args) => parse::run(&args),
    }
}
