//! End-to-end tests of `sipline parse`, running the real binary.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../corpus");

/// Runs `sipline` with `args`, feeding `stdin` (empty if `None`).
fn sipline(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sipline"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sipline");
    let mut pipe = child.stdin.take().expect("stdin pipe");
    let data = stdin.unwrap_or_default().to_vec();
    // Write from a thread: the child may stop reading (or exit) before taking everything.
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait for sipline");
    writer.join().expect("writer thread");
    out
}

fn corpus(name: &str) -> PathBuf {
    Path::new(CORPUS).join(name)
}

fn corpus_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(CORPUS)
        .expect("read corpus dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "sip"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus/*.sip files found");
    files
}

fn stdout_str(out: &Output) -> &str {
    std::str::from_utf8(&out.stdout).expect("stdout is UTF-8")
}

fn stderr_str(out: &Output) -> &str {
    std::str::from_utf8(&out.stderr).expect("stderr is UTF-8")
}

/// Parses stdout as exactly one JSON object on one line.
fn json_out(out: &Output) -> Value {
    let s = stdout_str(out);
    assert!(s.ends_with('\n'), "stdout should end with a newline: {s:?}");
    assert_eq!(s.lines().count(), 1, "one JSON line expected: {s:?}");
    let v: Value = serde_json::from_str(s).expect("stdout is JSON");
    assert!(v.is_object(), "stdout is not a JSON object: {v}");
    v
}

fn invite_g711_expected() -> Value {
    json!({
        "kind": "request",
        "method": "INVITE",
        "request_uri": "sip:bob@example.net",
        "call_id": "a84b4c76e66710",
        "cseq": {"seq": 314159, "method": "INVITE"},
        "from": {"uri": "sip:alice@example.com", "tag": "1928301774", "display_name": null},
        "to": {"uri": "sip:bob@example.net", "tag": null, "display_name": null},
        "via": [{
            "transport": "UDP",
            "host": "192.0.2.10",
            "port": 5060,
            "branch": "z9hG4bK776asdhds"
        }],
        "max_forwards": 70,
        "content_type": "application/sdp",
        "content_length": 238,
        "header_count": 9,
        "body_length": 238
    })
}

/// A valid OPTIONS with one header line replaced by `bad` (or inserted, if `bad` is new).
fn options_with(extra: &str) -> String {
    format!(
        "OPTIONS sip:bob@example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP pc33.example.com;branch=z9hG4bK776asdhds\r\n\
         Max-Forwards: 70\r\n\
         To: <sip:bob@example.com>\r\n\
         From: Alice <sip:alice@example.com>;tag=1928301774\r\n\
         {extra}\
         CSeq: 63104 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

#[test]
fn every_corpus_file_parses() {
    for f in corpus_files() {
        let path = f.to_str().expect("UTF-8 path");
        let human = sipline(&["parse", path], None);
        assert_eq!(
            human.status.code(),
            Some(0),
            "{path}: {}",
            stderr_str(&human)
        );
        assert!(human.stderr.is_empty(), "{path}: {}", stderr_str(&human));
        let text = stdout_str(&human);
        assert!(text.starts_with("kind:"), "{path}: {text}");
        assert!(text.contains("\ncall_id:"), "{path}: {text}");

        let js = sipline(&["parse", "--json", path], None);
        assert_eq!(js.status.code(), Some(0), "{path}: {}", stderr_str(&js));
        let v = json_out(&js);
        let kind = v["kind"].as_str().expect("kind");
        assert!(kind == "request" || kind == "response", "{path}: {v}");
        assert!(v["call_id"].is_string(), "{path}: {v}");
        assert!(v["cseq"]["seq"].is_u64(), "{path}: {v}");
        assert!(!v["via"].as_array().expect("via array").is_empty());
        // Every corpus file's Content-Length equals its body length (corpus/README.md).
        assert_eq!(v["content_length"], v["body_length"], "{path}: {v}");
        let raw = std::fs::read(&f).expect("read corpus file");
        let body_start = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("blank line")
            + 4;
        assert_eq!(v["body_length"], json!(raw.len() - body_start), "{path}");
    }
}

#[test]
fn invite_g711_json() {
    let path = corpus("invite_g711.sip");
    let out = sipline(&["parse", "--json", path.to_str().expect("path")], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_str(&out));
    assert!(out.stderr.is_empty());
    assert_eq!(json_out(&out), invite_g711_expected());
}

#[test]
fn response_200_invite_json() {
    let path = corpus("response_200_invite.sip");
    let out = sipline(&["parse", "--json", path.to_str().expect("path")], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_str(&out));
    let v = json_out(&out);
    assert_eq!(
        v,
        json!({
            "kind": "response",
            "status": 200,
            "reason": "OK",
            "request_uri": null,
            "call_id": "a84b4c76e66710",
            "cseq": {"seq": 314159, "method": "INVITE"},
            "from": {"uri": "sip:alice@example.com", "tag": "1928301774", "display_name": null},
            "to": {"uri": "sip:bob@example.net", "tag": "a6c85cf", "display_name": null},
            "via": [{
                "transport": "UDP",
                "host": "192.0.2.10",
                "port": 5060,
                "branch": "z9hG4bK776asdhds"
            }],
            "max_forwards": null,
            "content_type": "application/sdp",
            "content_length": 217,
            "header_count": 10,
            "body_length": 217
        })
    );
    assert!(v.get("method").is_none());
}

#[test]
fn display_names_and_several_vias() {
    let msg = "MESSAGE sip:bob@example.com SIP/2.0\r\n\
        Via: SIP/2.0/TCP proxy.example.net:5061;branch=z9hG4bKp1, SIP/2.0/UDP [2001:db8::1];branch=z9hG4bKu1\r\n\
        v: SIP/2.0/WSS client.invalid\r\n\
        To: \"Bob \\\"B\\\"\" <sip:bob@example.com>\r\n\
        f: Alice Smith <sip:alice@example.com>;tag=abc\r\n\
        i: 1234@example.com\r\n\
        CSeq: 7 MESSAGE\r\n\
        c: text/plain;charset=utf-8\r\n\
        \r\nhello";
    let out = sipline(&["parse", "--json", "-"], Some(msg.as_bytes()));
    assert_eq!(out.status.code(), Some(0), "{}", stderr_str(&out));
    let v = json_out(&out);
    assert_eq!(v["method"], "MESSAGE");
    assert_eq!(v["from"]["display_name"], "Alice Smith");
    assert_eq!(v["from"]["tag"], "abc");
    assert_eq!(v["to"]["display_name"], "Bob \"B\"");
    assert_eq!(
        v["via"],
        json!([
            {"transport": "TCP", "host": "proxy.example.net", "port": 5061, "branch": "z9hG4bKp1"},
            {"transport": "UDP", "host": "[2001:db8::1]", "port": null, "branch": "z9hG4bKu1"},
            {"transport": "WSS", "host": "client.invalid", "port": null, "branch": null}
        ])
    );
    assert_eq!(v["max_forwards"], Value::Null);
    assert_eq!(v["content_type"], "text/plain;charset=utf-8");
    assert_eq!(v["content_length"], Value::Null);
    assert_eq!(v["body_length"], 5);
    assert_eq!(v["header_count"], 7);
}

#[test]
fn human_format() {
    let path = corpus("invite_g711.sip");
    let out = sipline(&["parse", path.to_str().expect("path")], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_str(&out));
    let text = stdout_str(&out);
    let lines: Vec<&str> = text.lines().collect();
    // Values are aligned: each starts in the same column.
    let col = |l: &str| {
        let colon = l.find(": ").expect("key: value");
        colon + 2 + l[colon + 2..].len() - l[colon + 2..].trim_start().len()
    };
    let first = col(lines[0]);
    for l in &lines {
        assert_eq!(col(l), first, "misaligned line {l:?} in\n{text}");
    }
    let value = |key: &str| {
        lines
            .iter()
            .find_map(|l| l.strip_prefix(&format!("{key}:")))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no {key} line in\n{text}"))
    };
    assert_eq!(value("kind"), "request");
    assert_eq!(value("method"), "INVITE");
    assert_eq!(value("request_uri"), "sip:bob@example.net");
    assert_eq!(value("call_id"), "a84b4c76e66710");
    assert_eq!(value("cseq"), "314159 INVITE");
    assert_eq!(value("from.uri"), "sip:alice@example.com");
    assert_eq!(value("from.tag"), "1928301774");
    assert_eq!(value("to.uri"), "sip:bob@example.net");
    assert_eq!(value("to.tag"), "(none)");
    assert_eq!(
        value("via[0]"),
        "transport=UDP host=192.0.2.10 port=5060 branch=z9hG4bK776asdhds"
    );
    assert_eq!(value("max_forwards"), "70");
    assert_eq!(value("content_type"), "application/sdp");
    assert_eq!(value("content_length"), "238");
    assert_eq!(value("header_count"), "9");
    assert_eq!(value("body_length"), "238");

    let resp = corpus("response_200_invite.sip");
    let out = sipline(&["parse", resp.to_str().expect("path")], None);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout_str(&out);
    assert!(text.contains("\nstatus:"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("status:") && l.ends_with(" 200"))
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("reason:") && l.ends_with(" OK"))
    );
    assert!(!text.contains("method:"));
}

#[test]
fn stdin_input() {
    let raw = std::fs::read(corpus("invite_g711.sip")).expect("read corpus");
    let out = sipline(&["parse", "--json", "-"], Some(&raw));
    assert_eq!(out.status.code(), Some(0), "{}", stderr_str(&out));
    assert_eq!(json_out(&out), invite_g711_expected());

    let human = sipline(&["parse", "-"], Some(&raw));
    assert_eq!(human.status.code(), Some(0));
    assert!(stdout_str(&human).contains("z9hG4bK776asdhds"));
}

#[test]
fn bad_header_name() {
    let msg = options_with("Call-ID: a84b4c76e66710\r\nBad Header: x\r\n");
    let offset = msg.find("Bad Header").expect("offset");

    let out = sipline(&["parse", "-"], Some(msg.as_bytes()));
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = stderr_str(&out);
    assert!(
        err.starts_with("error: invalid_header_name at byte "),
        "{err}"
    );
    assert_eq!(
        err,
        format!("error: invalid_header_name at byte {offset}: malformed header name\n")
    );

    let out = sipline(&["parse", "--json", "-"], Some(msg.as_bytes()));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_str(&out).starts_with("error: invalid_header_name at byte "));
    assert_eq!(
        json_out(&out),
        json!({
            "error": "invalid_header_name",
            "offset": offset,
            "status": 400,
            "message": "malformed header name"
        })
    );
}

#[test]
fn unsupported_version_is_505() {
    let msg = options_with("Call-ID: a84b4c76e66710\r\n").replacen("SIP/2.0\r\n", "SIP/7.0\r\n", 1);
    let out = sipline(&["parse", "--json", "-"], Some(msg.as_bytes()));
    assert_eq!(out.status.code(), Some(1));
    let v = json_out(&out);
    assert_eq!(v["error"], "unsupported_version");
    assert_eq!(v["status"], 505);
    assert_eq!(v["offset"], json!("OPTIONS sip:bob@example.com ".len()));
    assert_eq!(v["message"], "SIP version not supported");
    assert!(stderr_str(&out).starts_with("error: unsupported_version at byte "));
}

#[test]
fn validate_failures_are_reported_like_parse_errors() {
    // Parses, but Call-ID is missing (RFC 3261 §8.1.1).
    let msg = options_with("");
    let out = sipline(&["parse", "--json", "-"], Some(msg.as_bytes()));
    assert_eq!(out.status.code(), Some(1));
    let v = json_out(&out);
    assert_eq!(v["error"], "missing_header");
    assert_eq!(v["status"], 400);
    assert_eq!(v["message"], "missing Call-ID header");
    assert_eq!(
        stderr_str(&out),
        format!(
            "error: missing_header at byte {}: missing Call-ID header\n",
            v["offset"]
        )
    );

    // Parses, but a known header breaks its grammar.
    let msg = options_with("Call-ID: a84b4c76e66710\r\nMax-Forwards: lots\r\n");
    let out = sipline(&["parse", "-"], Some(msg.as_bytes()));
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let offset = msg.find("lots").expect("offset");
    assert_eq!(
        stderr_str(&out),
        format!("error: invalid_header at byte {offset}: malformed Max-Forwards header\n")
    );

    // CSeq method differs from the request method (§8.1.1.5).
    let msg = options_with("Call-ID: a84b4c76e66710\r\n").replace("63104 OPTIONS", "63104 INVITE");
    let out = sipline(&["parse", "--json", "-"], Some(msg.as_bytes()));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json_out(&out)["error"], "cseq_method_mismatch");
}

#[test]
fn empty_input() {
    let out = sipline(&["parse", "--json", "-"], Some(b""));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json_out(&out)["error"], "empty");
    assert!(stderr_str(&out).starts_with("error: empty at byte 0: "));
}

#[test]
fn nonexistent_file() {
    let path = Path::new(CORPUS).join("no_such_file.sip");
    let p = path.to_str().expect("path");
    for args in [vec!["parse", p], vec!["parse", "--json", p]] {
        let out = sipline(&args, None);
        assert_eq!(out.status.code(), Some(2));
        assert!(out.stdout.is_empty());
        let err = stderr_str(&out);
        assert!(
            err.starts_with(&format!("error: cannot read {p}: ")),
            "{err}"
        );
    }
}

#[test]
fn directory_is_unreadable() {
    let out = sipline(&["parse", CORPUS], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_str(&out).starts_with("error: cannot read "));
}

#[test]
fn input_over_one_mib_is_refused() {
    let big = vec![b'a'; (1 << 20) + 1];
    let out = sipline(&["parse", "--json", "-"], Some(&big));
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = stderr_str(&out);
    assert!(
        err.starts_with("error: cannot read standard input: "),
        "{err}"
    );
    assert!(err.contains("1 MiB"), "{err}");

    let file = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sipline_parse_big.sip");
    std::fs::write(&file, &big).expect("write big file");
    let out = sipline(&["parse", file.to_str().expect("path")], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_str(&out).contains("1 MiB"));
    let _ = std::fs::remove_file(&file);

    // Exactly 1 MiB is read, then rejected by the parser's own (smaller) message limit.
    let out = sipline(&["parse", "--json", "-"], Some(&big[1..]));
    assert_eq!(out.status.code(), Some(1));
    let v = json_out(&out);
    assert_eq!(v["error"], "message_too_large");
    assert_eq!(v["status"], 513);
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(sipline(&[], None).status.code(), Some(2));
    assert_eq!(sipline(&["parse"], None).status.code(), Some(2));
    assert_eq!(
        sipline(&["parse", "--bogus", "-"], None).status.code(),
        Some(2)
    );
}

/// xorshift64*: deterministic pseudo-random bytes without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Checks that `input` is either accepted or cleanly rejected (never a panic).
fn assert_no_panic(input: &[u8]) {
    let out = sipline(&["parse", "--json", "-"], Some(input));
    match out.status.code() {
        Some(0) => {
            json_out(&out);
        }
        Some(1) => {
            let v = json_out(&out);
            assert!(v["error"].is_string(), "{v}");
            assert!(stderr_str(&out).starts_with("error: "));
        }
        other => panic!(
            "exit {other:?} for input {:?}\nstderr: {}",
            String::from_utf8_lossy(input),
            stderr_str(&out)
        ),
    }
}

#[test]
fn garbage_is_rejected_without_panic() {
    let mut rng = Rng(0x5EED_5EED_1234_5678);
    for _ in 0..60 {
        let len = rng.below(600);
        let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let out = sipline(&["parse", "-"], Some(&data));
        assert_eq!(
            out.status.code(),
            Some(1),
            "input {data:?}\nstderr: {}",
            stderr_str(&out)
        );
        assert!(stderr_str(&out).starts_with("error: "));
        assert_no_panic(&data);
    }
    for fixed in [
        &b"\r\n\r\n\r\n"[..],
        b"\0\0\0\0",
        b"SIP/2.0\r\n\r\n",
        b"INVITE\r\n\r\n",
        b"\xff\xfe\r\n\r\n",
        b"SIP/2.0 999 Nope\r\n\r\n",
    ] {
        let out = sipline(&["parse", "-"], Some(fixed));
        assert_eq!(out.status.code(), Some(1), "{fixed:?}");
    }
}

#[test]
fn mutated_corpus_is_handled_without_panic() {
    let mut rng = Rng(0xC0FF_EE00_DEAD_BEEF);
    let files: Vec<Vec<u8>> = corpus_files()
        .iter()
        .map(|f| std::fs::read(f).expect("read corpus"))
        .collect();
    const NOISE: &[u8] = b" \t\r\n:;,<>\"@=/\\\x00\x7f\xc3\xa9\xe2\x82\xac0123456789aZ";
    for _ in 0..80 {
        let mut data = files[rng.below(files.len())].clone();
        for _ in 0..=rng.below(4) {
            let at = rng.below(data.len());
            match rng.below(3) {
                0 => data[at] = NOISE[rng.below(NOISE.len())],
                1 => {
                    data.remove(at);
                }
                _ => data.insert(at, NOISE[rng.below(NOISE.len())]),
            }
        }
        assert_no_panic(&data);
    }
}

/// A 29-byte Date value with a multi-byte character where the date grammar expects ASCII
/// once panicked in `Message::validate`; it must be a plain invalid-header error.
#[test]
fn non_ascii_date_does_not_panic() {
    let date = format!("Mo\u{20ac}{}", "x".repeat(24));
    assert_eq!(date.len(), 29);
    let msg = options_with(&format!("Call-ID: a84b4c76e66710\r\nDate: {date}\r\n"));
    let out = sipline(&["parse", "--json", "-"], Some(msg.as_bytes()));
    assert_eq!(out.status.code(), Some(1), "{}", stderr_str(&out));
    assert_eq!(json_out(&out)["error"], "invalid_header");
}
