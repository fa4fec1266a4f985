//! What the CLI tests share: a running `sipline` binary (killed by its pid when dropped,
//! its output kept for failure messages) and a scratch directory.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running `sipline`, killed by pid on drop; its standard output read line by line.
pub(crate) struct Sipline {
    pub(crate) child: Child,
    what: String,
    pub(crate) lines: mpsc::Receiver<String>,
    pub(crate) stdout: Arc<Mutex<Vec<String>>>,
    pub(crate) stderr: Arc<Mutex<String>>,
}

impl Sipline {
    pub(crate) fn spawn(args: &[&str]) -> Sipline {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sipline"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sipline");
        let (tx, lines) = mpsc::channel();
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().unwrap();
        let keep = Arc::clone(&stdout);
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                keep.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().unwrap();
        let keep = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                keep.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Sipline {
            child,
            what: format!("sipline {}", args.join(" ")),
            lines,
            stdout,
            stderr,
        }
    }

    pub(crate) fn output(&self) -> String {
        format!(
            "{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.what,
            self.stdout.lock().unwrap().join("\n"),
            self.stderr.lock().unwrap()
        )
    }

    /// Waits (at most `limit`) for a line that `pred` accepts.
    pub(crate) fn wait_line(&self, limit: Duration, pred: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + limit;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if pred(&l) => return l,
                Ok(_) => {}
                Err(_) => panic!("no expected line within {limit:?}\n{}", self.output()),
            }
        }
    }

    /// The UDP port from `listening on udp:127.0.0.1:PORT`.
    pub(crate) fn udp_port(&self) -> u16 {
        let l = self.wait_line(Duration::from_secs(10), |l| {
            l.starts_with("listening on udp:")
        });
        l.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// Waits (at most `limit`) for the exit; the status and standard output.
    pub(crate) fn finish(&mut self, limit: Duration) -> (ExitStatus, String) {
        let end = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the reader threads take the last lines.
                std::thread::sleep(Duration::from_millis(100));
                return (status, self.stdout.lock().unwrap().join("\n"));
            }
            if Instant::now() > end {
                let _ = self.child.kill();
                panic!("did not exit within {limit:?}\n{}", self.output());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for a successful exit; the standard output.
    pub(crate) fn succeeds(&mut self, limit: Duration) -> String {
        let (status, out) = tokio::task::block_in_place(|| self.finish(limit));
        assert!(status.success(), "exit {status}\n{}", self.output());
        out
    }
}

impl Drop for Sipline {
    fn drop(&mut self) {
        // By pid (std's Child), never by name.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh scratch directory, removed on drop.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new(name: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let d = std::env::temp_dir().join(format!(
            "sipline-cli-{}-{name}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }

    pub(crate) fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // SIPLINE_KEEP_TEST_FILES=1 keeps recordings and logs for a look after a failure.
        if std::env::var_os("SIPLINE_KEEP_TEST_FILES").is_some() {
            eprintln!("kept {}", self.0.display());
            return;
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) mod chromium;
