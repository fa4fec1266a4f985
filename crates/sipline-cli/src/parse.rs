//! `sipline parse`: parse and validate one SIP message, print a summary of it.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bytes::Bytes;
use serde::Serialize;
use sipline_proto::message::{NameAddr, Via};
use sipline_proto::{HeaderName, Limits, Message, ParseError, parse_message};

/// The largest input `sipline parse` reads: 1 MiB.
const MAX_INPUT: u64 = 1 << 20;

/// Exit status for a message that does not parse or does not validate.
const EXIT_INVALID: u8 = 1;
/// Exit status for input that cannot be read (or is too large) and for output errors.
const EXIT_IO: u8 = 2;

/// Arguments of `sipline parse`.
#[derive(Debug, clap::Args)]
pub(crate) struct ParseArgs {
    /// Print one JSON object on stdout instead of `key: value` lines (on failure too).
    #[arg(long)]
    json: bool,
    /// The file holding the message, or `-` for standard input.
    #[arg(value_name = "FILE|-")]
    file: PathBuf,
}

/// Runs `sipline parse`, returning the process exit status.
pub(crate) fn run(args: &ParseArgs) -> ExitCode {
    let data = match read_input(&args.file) {
        Ok(d) => d,
        Err(msg) => {
            report(&msg);
            return ExitCode::from(EXIT_IO);
        }
    };
    let msg = match parse_message(Bytes::from(data), &Limits::default())
        .and_then(|m| m.validate().map(|()| m))
    {
        Ok(m) => m,
        Err(e) => return invalid(e, args.json),
    };
    let summary = match Summary::of(&msg) {
        Ok(s) => s,
        Err(e) => return invalid(e, args.json),
    };
    let out = if args.json {
        match serde_json::to_string(&summary) {
            Ok(mut s) => {
                s.push('\n');
                s
            }
            Err(e) => {
                report(&format!("cannot encode JSON: {e}"));
                return ExitCode::from(EXIT_IO);
            }
        }
    } else {
        summary.human()
    };
    write_stdout(&out)
}

/// Reads all of `path` (`-`: standard input), at most [`MAX_INPUT`] bytes. The error is the
/// message to print after `error: `.
fn read_input(path: &Path) -> Result<Vec<u8>, String> {
    let stdin = path.as_os_str() == "-";
    let name = if stdin {
        Cow::Borrowed("standard input")
    } else {
        path.to_string_lossy()
    };
    let reader: Box<dyn Read> = if stdin {
        Box::new(io::stdin().lock())
    } else {
        match File::open(path) {
            Ok(f) => Box::new(f),
            Err(e) => return Err(format!("cannot read {name}: {e}")),
        }
    };
    let mut data = Vec::new();
    if let Err(e) = reader.take(MAX_INPUT + 1).read_to_end(&mut data) {
        return Err(format!("cannot read {name}: {e}"));
    }
    if data.len() as u64 > MAX_INPUT {
        return Err(format!(
            "cannot read {name}: input larger than {MAX_INPUT} bytes (1 MiB)"
        ));
    }
    Ok(data)
}

/// The JSON object printed on stdout for an invalid message with `--json`.
#[derive(Debug, Serialize)]
struct ErrorReport {
    /// The error kind's stable name (`invalid_header_name`, ...).
    error: &'static str,
    /// Byte offset into the input.
    offset: usize,
    /// The status a UAS would answer with.
    status: u16,
    /// The error kind's description.
    message: String,
}

/// Reports an invalid message: the error on stderr, and with `--json` a JSON object on stdout.
fn invalid(e: ParseError, json: bool) -> ExitCode {
    if json {
        let r = ErrorReport {
            error: e.kind.name(),
            offset: e.offset,
            status: e.status().as_u16(),
            message: e.kind.to_string(),
        };
        match serde_json::to_string(&r) {
            Ok(mut s) => {
                s.push('\n');
                // A write failure is reported by write_stdout; the message is invalid anyway.
                let _ = write_stdout(&s);
            }
            Err(err) => report(&format!("cannot encode JSON: {err}")),
        }
    }
    report(&e.to_string());
    ExitCode::from(EXIT_INVALID)
}

/// Prints `error: {msg}` on stderr (never panics, unlike `eprintln!`).
fn report(msg: &str) {
    let _ = writeln!(io::stderr().lock(), "error: {msg}");
}

/// Writes `s` to stdout; success, or exit status 2 after reporting the error.
fn write_stdout(s: &str) -> ExitCode {
    let mut out = io::stdout().lock();
    match out.write_all(s.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report(&format!("cannot write output: {e}"));
            ExitCode::from(EXIT_IO)
        }
    }
}

/// What `sipline parse` prints about a valid message. Field names are the JSON keys.
#[derive(Debug, Serialize)]
struct Summary<'a> {
    /// `request` or `response`.
    kind: &'static str,
    /// The method (requests only).
    #[serde(skip_serializing_if = "Option::is_none")]
    method: Option<&'a str>,
    /// The status code (responses only).
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    /// The reason phrase (responses only).
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    /// The Request-URI (null for responses).
    request_uri: Option<&'a str>,
    /// Call-ID.
    call_id: &'a str,
    /// CSeq.
    cseq: CSeqSummary,
    /// From.
    from: AddrSummary<'a>,
    /// To.
    to: AddrSummary<'a>,
    /// Every Via value, top first.
    via: Vec<ViaSummary<'a>>,
    /// Max-Forwards, if present.
    max_forwards: Option<u8>,
    /// The raw Content-Type value, if present.
    content_type: Option<&'a str>,
    /// Content-Length, if present.
    content_length: Option<u32>,
    /// Number of header fields (lines after unfolding).
    header_count: usize,
    /// Length of the body in bytes.
    body_length: usize,
}

/// CSeq number and method.
#[derive(Debug, Serialize)]
struct CSeqSummary {
    seq: u32,
    method: String,
}

/// A From or To value.
#[derive(Debug, Serialize)]
struct AddrSummary<'a> {
    uri: &'a str,
    tag: Option<&'a str>,
    display_name: Option<Cow<'a, str>>,
}

impl<'a> From<NameAddr<'a>> for AddrSummary<'a> {
    fn from(na: NameAddr<'a>) -> Self {
        Self {
            uri: na.uri.as_str(),
            tag: na.tag(),
            display_name: na.display_name(),
        }
    }
}

/// One Via value.
#[derive(Debug, Serialize)]
struct ViaSummary<'a> {
    transport: &'a str,
    host: &'a str,
    port: Option<u16>,
    branch: Option<&'a str>,
}

impl<'a> From<Via<'a>> for ViaSummary<'a> {
    fn from(v: Via<'a>) -> Self {
        Self {
            transport: v.transport,
            host: v.host,
            port: v.port,
            branch: v.branch(),
        }
    }
}

impl<'a> Summary<'a> {
    /// Collects the summary of a message that passed `validate`.
    fn of(msg: &'a Message) -> Result<Self, ParseError> {
        let h = msg.headers();
        let (kind, method, status, reason, request_uri) = match msg {
            Message::Request(r) => (
                "request",
                Some(r.method.as_str()),
                None,
                None,
                Some(r.uri.as_str()),
            ),
            Message::Response(r) => (
                "response",
                None,
                Some(r.status.as_u16()),
                Some(&*r.reason),
                None,
            ),
        };
        let cseq = h.cseq()?;
        Ok(Self {
            kind,
            method,
            status,
            reason,
            request_uri,
            call_id: h.call_id()?,
            cseq: CSeqSummary {
                seq: cseq.seq,
                method: cseq.method.as_str().to_owned(),
            },
            from: h.from()?.into(),
            to: h.to()?.into(),
            via: h
                .vias()
                .map(|v| v.map(ViaSummary::from))
                .collect::<Result<_, _>>()?,
            max_forwards: h.max_forwards()?,
            content_type: h.get(HeaderName::ContentType),
            content_length: h.content_length()?,
            header_count: h.len(),
            body_length: msg.body().len(),
        })
    }

    /// The human format: one aligned `key: value` line per item.
    fn human(&self) -> String {
        const NONE: &str = "(none)";
        let opt = |v: Option<&str>| v.map_or_else(|| NONE.to_owned(), clean);
        let mut lines: Vec<(String, String)> = vec![("kind".into(), self.kind.into())];
        if let Some(m) = self.method {
            lines.push(("method".into(), clean(m)));
        }
        if let Some(s) = self.status {
            lines.push(("status".into(), s.to_string()));
        }
        if let Some(r) = self.reason {
            lines.push(("reason".into(), clean(r)));
        }
        if let Some(u) = self.request_uri {
            lines.push(("request_uri".into(), clean(u)));
        }
        lines.push(("call_id".into(), clean(self.call_id)));
        lines.push((
            "cseq".into(),
            format!("{} {}", self.cseq.seq, clean(&self.cseq.method)),
        ));
        for (name, a) in [("from", &self.from), ("to", &self.to)] {
            lines.push((format!("{name}.uri"), clean(a.uri)));
            lines.push((format!("{name}.tag"), opt(a.tag)));
            lines.push((
                format!("{name}.display_name"),
                opt(a.display_name.as_deref()),
            ));
        }
        if self.via.is_empty() {
            lines.push(("via".into(), NONE.into()));
        }
        for (i, v) in self.via.iter().enumerate() {
            let mut s = format!("transport={} host={}", clean(v.transport), clean(v.host));
            if let Some(p) = v.port {
                let _ = write!(s, " port={p}");
            }
            if let Some(b) = v.branch {
                let _ = write!(s, " branch={}", clean(b));
            }
            lines.push((format!("via[{i}]"), s));
        }
        let num = |n: Option<u32>| n.map_or_else(|| NONE.to_owned(), |n| n.to_string());
        lines.push(("max_forwards".into(), num(self.max_forwards.map(u32::from))));
        lines.push(("content_type".into(), opt(self.content_type)));
        lines.push(("content_length".into(), num(self.content_length)));
        lines.push(("header_count".into(), self.header_count.to_string()));
        lines.push(("body_length".into(), self.body_length.to_string()));

        let width = lines.iter().map(|(k, _)| k.len() + 1).max().unwrap_or(0);
        let mut out = String::new();
        for (k, v) in lines {
            let _ = writeln!(out, "{:<width$} {v}", format!("{k}:"));
        }
        out
    }
}

/// Escapes control characters, so that a message cannot drive the terminal.
fn clean(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_owned();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}
