//! Kamailio (Debian `kamailio`, `kamailio-websocket-modules`) as registrar and record-routing
//! proxy for interop tests, with `interop/kamailio/kamailio.cfg`: started on free ports,
//! checked with `kamailio -c` first, and stopped by its pid on every path (SIGTERM, which also
//! stops its children; SIGKILL to its process group if it lingers), its log printed when a
//! test fails. Shared by `crates/sipline/tests/kamailio.rs` and
//! `crates/sipline-cli/tests/browser.rs` (`#[path]`). Kamailio is required: if it is missing
//! the tests fail and say how to install it.
#![allow(dead_code)]

#[path = "stop.rs"]
#[allow(
    clippy::duplicate_mod,
    reason = "each peer harness brings it; a test may use several"
)]
mod stop;

use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) const INSTALL: &str = "apt-get install kamailio kamailio-websocket-modules";

fn kamailio_path() -> PathBuf {
    let dirs = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&dirs)
        .chain(["/usr/sbin".into(), "/usr/local/sbin".into()])
        .map(|d| d.join("kamailio"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("kamailio is not installed: `{INSTALL}`"))
}

/// A port free for UDP and TCP.
pub(crate) fn free_port() -> u16 {
    loop {
        let t = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = t.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A running Kamailio with its own directory (config, pid file, log), stopped by its pid and
/// its directory removed when dropped.
pub(crate) struct Kamailio {
    child: Option<Child>,
    pub(crate) dir: PathBuf,
    /// UDP and TCP.
    pub(crate) sip_port: u16,
    /// WebSocket (RFC 7118).
    pub(crate) ws_port: u16,
}

impl Kamailio {
    /// Starts Kamailio serving `domain`, with `dir` (created afresh) for its files.
    pub(crate) fn start(dir: &Path, domain: &str) -> Kamailio {
        let binary = kamailio_path();
        let sip_port = free_port();
        let ws_port = std::iter::repeat_with(free_port)
            .find(|p| *p != sip_port)
            .unwrap();
        let dir = dir.to_owned();
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let template =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/kamailio/kamailio.cfg");
        let cfg = std::fs::read_to_string(&template)
            .unwrap()
            .replace("@SIP_PORT@", &sip_port.to_string())
            .replace("@WS_PORT@", &ws_port.to_string())
            .replace("@DOMAIN@", domain)
            .replace("@RUNDIR@", &dir.display().to_string());
        let cfg_path = dir.join("kamailio.cfg");
        std::fs::write(&cfg_path, cfg).unwrap();

        let check = Command::new(&binary)
            .arg("-c")
            .arg("-f")
            .arg(&cfg_path)
            .output()
            .expect("run kamailio -c");
        assert!(
            check.status.success(),
            "kamailio -c rejects the config (missing modules? `{INSTALL}`)\n{}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );

        let log = std::fs::File::create(dir.join("kamailio.log")).unwrap();
        let child = Command::new(&binary)
            .arg("-f")
            .arg(&cfg_path)
            .args(["-DD", "-E", "-m", "64", "-M", "16", "-P"])
            .arg(dir.join("kamailio.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            // Its own process group (id = its pid), so the guard can reach its children.
            .process_group(0)
            .spawn()
            .expect("start kamailio");
        let mut k = Kamailio {
            child: Some(child),
            dir,
            sip_port,
            ws_port,
        };
        k.wait_listening(Duration::from_secs(10));
        k
    }

    /// Waits until both TCP listeners accept (the UDP socket is bound before them).
    fn wait_listening(&mut self, limit: Duration) {
        let start = Instant::now();
        loop {
            let up = [self.sip_port, self.ws_port].iter().all(|p| {
                TcpStream::connect_timeout(
                    &SocketAddr::from(([127, 0, 0, 1], *p)),
                    Duration::from_millis(200),
                )
                .is_ok()
            });
            if up {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("kamailio exited at start: {status}\n{}", self.log());
            }
            assert!(
                start.elapsed() < limit,
                "kamailio did not listen within {limit:?}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What Kamailio logged so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("kamailio.log")).unwrap_or_default()
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGTERM to the main process stops its children too.
            stop::stop(&mut child, stop::Term::Process, Duration::from_secs(5));
        }
        if std::thread::panicking() {
            eprintln!("--- kamailio log ---\n{}", self.log());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
