//! Running sipp (Debian `sip-tester`) from tests: finding it, free ports, a guard that kills
//! it by pid on every path, and reading its screen and statistics files.

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

/// A scenario file of `interop/sipp/`.
pub fn scenario(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../interop/sipp")
        .join(name)
}

/// The sipp binary; a test fails with how to install it when it is missing.
pub fn sipp_path() -> PathBuf {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("sipp"))
        .find(|p| p.is_file());
    found.unwrap_or_else(|| {
        panic!("sipp is not installed: `apt-get install sip-tester` (scripts/test does it for you)")
    })
}

/// A local port free for both UDP and TCP (sipp binds both kinds).
pub fn free_port() -> u16 {
    loop {
        let t = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = t.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A fresh scratch directory.
pub fn tempdir() -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "sipline-sipp-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// sipp's final screen: (retransmissions, timeouts, unexpected messages) summed over the
/// message lines of the last screen dump.
///
/// Message lines look like (UAC side, the label before the arrow)
///   "      INVITE ---------->         5         0         0"        count, retrans, timeout
///   "         200 <----------  E-RTD1 5         0         0         0" + unexpected
/// or (UAS side, the arrow first)
///   "  ----------> INVITE             5         0         0         0"
///   "  <---------- 180                5         0"
/// The columns after the label are always: count, retransmissions, timeouts, unexpected.
pub fn screen_counts(screen: &str) -> (u64, u64, u64) {
    let last = screen.rsplit("Messages  Retrans").next().unwrap_or(screen);
    let (mut retrans, mut timeouts, mut unexpected) = (0, 0, 0);
    for line in last.lines() {
        // "       Pause [   1200ms]         5                             1": count, unexpected.
        if line.contains("Pause")
            && let Some((_, after)) = line.split_once(']')
        {
            let nums: Vec<u64> = after
                .split_whitespace()
                .filter_map(|w| w.parse().ok())
                .collect();
            unexpected += nums.get(1).copied().unwrap_or(0);
            continue;
        }
        let Some((before, after)) = line
            .split_once("---------->")
            .or_else(|| line.split_once("<----------"))
        else {
            continue;
        };
        let mut words: Vec<&str> = after.split_whitespace().collect();
        if before.trim().is_empty() && !words.is_empty() {
            words.remove(0); // the label follows the arrow
        }
        let nums: Vec<u64> = words.iter().filter_map(|w| w.parse().ok()).collect();
        retrans += nums.get(1).copied().unwrap_or(0);
        timeouts += nums.get(2).copied().unwrap_or(0);
        unexpected += nums.get(3).copied().unwrap_or(0);
    }
    (retrans, timeouts, unexpected)
}

/// The number of message lines of the last screen dump.
pub fn message_lines(screen: &str) -> usize {
    let last = screen.rsplit("Messages  Retrans").next().unwrap_or(screen);
    last.lines()
        .filter(|l| l.contains("---------->") || l.contains("<----------"))
        .count()
}

/// The cumulative counter `name` (e.g. `SuccessfulCall(C)`) of the last row of a sipp
/// statistics file (`-trace_stat -stf FILE`, `;`-separated with a header row).
pub fn stat(csv: &str, name: &str) -> Option<u64> {
    let mut lines = csv.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next()?.split(';').collect();
    let last: Vec<&str> = lines.next_back()?.split(';').collect();
    let i = header.iter().position(|h| *h == name)?;
    last.get(i)?.trim().parse().ok()
}

/// What a finished sipp run left.
#[derive(Debug)]
pub struct SippRun {
    pub status: ExitStatus,
    pub screen: String,
    pub errors: String,
    pub stats: String,
    pub stderr: String,
}

impl SippRun {
    /// Everything sipp said, for a failure message.
    pub fn report(&self) -> String {
        format!(
            "sipp exit: {}\n--- screen ---\n{}\n--- errors ---\n{}\n--- stderr ---\n{}",
            self.status, self.screen, self.errors, self.stderr
        )
    }

    /// The message table of sipp's last screen.
    pub fn message_table(&self) -> String {
        let last = self.screen.rsplit("Messages  Retrans").next().unwrap_or("");
        let table = last
            .lines()
            .take_while(|l| !l.starts_with("----"))
            .filter(|l| !l.trim().is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        format!("                                 Messages  Retrans{table}")
    }

    /// Asserts that sipp ran `calls` calls, all successful, with no retransmission, no
    /// timeout, no unexpected message and no message outside a call.
    pub fn assert_clean(&self, calls: u64, what: &str) {
        self.assert_calls(calls, 0, what);
    }

    /// Like [`SippRun::assert_clean`], with exactly `expected_retrans` retransmissions.
    pub fn assert_calls(&self, calls: u64, expected_retrans: u64, what: &str) {
        let report = self.report();
        let counter = |name: &str| {
            stat(&self.stats, name)
                .unwrap_or_else(|| panic!("{what}: no {name} in sipp's statistics\n{report}"))
        };
        let ok = counter("SuccessfulCall(C)");
        let failed = counter("FailedCall(C)");
        let out_of_call = counter("OutOfCallMsgs(C)");
        let dead = counter("DeadCallMsgs(C)");
        let (retrans, timeouts, unexpected) = screen_counts(&self.screen);
        eprintln!(
            "{what}: sipp: {ok} successful, {failed} failed, {retrans} retransmissions, \
             {timeouts} timeouts, {unexpected} unexpected, {out_of_call} out-of-call\n{}",
            self.message_table()
        );
        assert!(
            message_lines(&self.screen) >= 2,
            "{what}: sipp's screen shows no message lines\n{report}"
        );
        assert!(
            self.status.success()
                && ok == calls
                && failed == 0
                && retrans == expected_retrans
                && timeouts == 0
                && unexpected == 0
                && out_of_call == 0
                && dead == 0,
            "{what}: {ok}/{calls} calls successful, {failed} failed, {retrans} retransmissions \
             ({expected_retrans} expected), \
             {timeouts} timeouts, {unexpected} unexpected, {out_of_call} out-of-call, \
             {dead} dead-call messages\n{report}"
        );
    }
}

/// A running sipp, killed by its pid when dropped (on every path, panics included).
pub struct Sipp {
    child: Option<tokio::process::Child>,
    dir: PathBuf,
    pub port: u16,
}

impl Sipp {
    /// Starts sipp in the foreground on 127.0.0.1:`port` with `args` (scenario, target,
    /// transport, rate, ...), tracing its screen, errors and statistics into a scratch
    /// directory.
    pub fn spawn(port: u16, args: &[&str]) -> Sipp {
        let dir = tempdir();
        let child = tokio::process::Command::new(sipp_path())
            .args(args)
            .args(["-i", "127.0.0.1", "-p", &port.to_string()])
            .args(["-nostdin", "-buff_size", "4194304"])
            .args(["-trace_screen", "-trace_err", "-trace_stat", "-fd", "1"])
            .arg("-screen_file")
            .arg(dir.join("screen.log"))
            .arg("-error_file")
            .arg(dir.join("errors.log"))
            .arg("-stf")
            .arg(dir.join("stats.csv"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start sipp");
        Sipp {
            child: Some(child),
            dir,
            port,
        }
    }

    /// Waits until sipp listens on its port (its socket of `transport`, `u1` or `t1`).
    pub async fn ready(&self, transport: &str) {
        let port = self.port;
        for _ in 0..250 {
            let bound = if transport.starts_with('t') {
                TcpListener::bind(("127.0.0.1", port)).is_err()
            } else {
                UdpSocket::bind(("127.0.0.1", port)).is_err()
            };
            if bound {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("sipp did not bind 127.0.0.1:{port} within 5 s");
    }

    /// Waits at most `limit` for sipp to exit by itself and returns what it left; kills it
    /// (by pid) and fails with its output otherwise.
    pub async fn finish(mut self, limit: Duration) -> SippRun {
        let mut child = self.child.take().expect("sipp already finished");
        let waited = tokio::time::timeout(limit, child.wait()).await;
        let status = match waited {
            Ok(status) => status.unwrap(),
            Err(_) => {
                child.kill().await.unwrap();
                let status = child.wait().await.unwrap();
                let run = self.collect(status, &mut child).await;
                panic!("sipp did not finish within {limit:?}\n{}", run.report());
            }
        };
        self.collect(status, &mut child).await
    }

    async fn collect(&self, status: ExitStatus, child: &mut tokio::process::Child) -> SippRun {
        use tokio::io::AsyncReadExt;
        let mut stderr = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut stderr).await;
        }
        let read = |f: &str| std::fs::read_to_string(self.dir.join(f)).unwrap_or_default();
        SippRun {
            status,
            screen: read("screen.log"),
            errors: read("errors.log"),
            stats: read("stats.csv"),
            stderr,
        }
    }

    /// The scratch directory (removed on drop).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Sipp {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            // By pid (tokio's Child), never by name.
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
