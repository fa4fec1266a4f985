//! coturn (Debian `coturn`) as the TURN server (RFC 8656) of interop tests: started on a free
//! port on 127.0.0.1 with long-term credentials (`--lt-cred-mech`, user `u`, password `p`,
//! realm `sipline.test`), relaying on 127.0.0.1 to loopback peers, no daemon, its own
//! directory for pid file, user database and log; stopped by its pid on every path
//! (SIGTERM, then SIGKILL), its log printed when a test fails. coturn is required: if
//! `turnserver` is missing the tests fail and say how to install it.
#![allow(dead_code)]

#[path = "stop.rs"]
#[allow(
    clippy::duplicate_mod,
    reason = "each peer harness brings it; a test may use several"
)]
mod stop;

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) const INSTALL: &str = "apt-get install coturn";
pub(crate) const USER: &str = "u";
pub(crate) const PASSWORD: &str = "p";

fn turnserver_path() -> PathBuf {
    let dirs = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&dirs)
        .chain(["/usr/bin".into(), "/usr/local/bin".into()])
        .map(|d| d.join("turnserver"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("coturn's turnserver is not installed: `{INSTALL}`"))
}

/// A running coturn, stopped by its pid and its directory removed when dropped.
pub(crate) struct Coturn {
    child: Option<Child>,
    pub(crate) dir: PathBuf,
    pub(crate) port: u16,
}

impl Coturn {
    /// Starts coturn with `dir` (created afresh) for its files.
    pub(crate) fn start(dir: &Path) -> Coturn {
        let binary = turnserver_path();
        let port = {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            s.local_addr().unwrap().port()
        };
        let dir = dir.to_owned();
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let log = std::fs::File::create(dir.join("turnserver.log")).unwrap();
        let child = Command::new(&binary)
            .args([
                "-n",
                "--listening-ip=127.0.0.1",
                "--relay-ip=127.0.0.1",
                "--allow-loopback-peers",
                "--lt-cred-mech",
                "--realm=sipline.test",
                "--no-tcp",
                "--no-tls",
                "--no-dtls",
                "--no-cli",
                "--log-file=stdout",
                "--simple-log",
                "--verbose",
            ])
            .arg(format!("--user={USER}:{PASSWORD}"))
            .arg(format!("--listening-port={port}"))
            .arg(format!(
                "--pidfile={}",
                dir.join("turnserver.pid").display()
            ))
            .arg(format!("--userdb={}", dir.join("turndb").display()))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start turnserver");
        let mut c = Coturn {
            child: Some(child),
            dir,
            port,
        };
        c.wait_listening(Duration::from_secs(10));
        c
    }

    /// The TURN URI of the server (RFC 7065).
    pub(crate) fn url(&self) -> String {
        format!("turn:127.0.0.1:{}?transport=udp", self.port)
    }

    fn wait_listening(&mut self, limit: Duration) {
        let start = Instant::now();
        let opened = format!("UDP listener opened on: 127.0.0.1:{}", self.port);
        loop {
            if self.log().contains(&opened) {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("turnserver exited at start: {status}\n{}", self.log());
            }
            assert!(
                start.elapsed() < limit,
                "turnserver did not listen within {limit:?}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What coturn logged so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("turnserver.log")).unwrap_or_default()
    }
}

impl Drop for Coturn {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop::stop(&mut child, stop::Term::Process, Duration::from_secs(5));
        }
        if std::thread::panicking() {
            eprintln!("--- turnserver log ---\n{}", self.log());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
